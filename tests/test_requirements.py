"""The template's requirements.txt installs what every generated project needs, in its ranges."""

from packaging.utils import canonicalize_name

from tests.baking import TEMPLATE_DIR, BakedProject, read_requirements


def test_template_requirements_cover_the_generated_ones(baked: BakedProject) -> None:
    template = {
        canonicalize_name(requirement.name): requirement
        for requirement in read_requirements(TEMPLATE_DIR / "requirements.txt")
    }
    generated = [
        requirement
        for name in ("requirements.txt", "requirements-dev.txt")
        for requirement in read_requirements(baked.path / name)
    ]
    assert generated
    for requirement in generated:
        ours = template.get(canonicalize_name(requirement.name))
        assert ours is not None, f"requirements.txt lacks {requirement}"
        assert (ours.specifier, ours.extras) == (requirement.specifier, requirement.extras), (
            f"requirements.txt has {ours}, the generated project {requirement}"
        )
