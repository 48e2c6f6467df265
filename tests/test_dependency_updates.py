"""How a generated project takes new releases: Dependabot's configuration, the Dockerfile's base
image where Dependabot reads it, and docs/updating.md's lock commands.

.github/dependabot.yml is checked against Dependabot's JSON schema (the copy check-jsonschema
ships) and for what each ecosystem reads: `pip` reads requirements*.txt and never the .lock files
(docs/updating.md says how to recompile them on its branches), `docker` reads FROM lines and no
ARG (the pattern below is dependabot-core's, docker/lib/dependabot/docker/file_parser.rb), and
`github-actions` the workflows' `uses:`. The lock commands of docs/updating.md are the README's,
and the options are those `make locks` compiles the template's locks with.
"""

import re
import shlex
from pathlib import Path

import yaml

from tests.baking import TEMPLATE_DIR, BakedProject, assert_succeeded

CONFIG = Path(".github/dependabot.yml")
# Dependabot's Dockerfile parser: `FROM [--platform=...] [registry/]image[:tag][@sha256:digest]
# [AS name]`; a line with neither tag nor digest (a stage's name) names no dependency.
NAME_COMPONENT = r"[a-z\d]+(?:(?:[._]|__|-*)[a-z\d]+)*"
DOMAIN_COMPONENT = r"(?:[A-Za-z\d]|[A-Za-z\d][A-Za-z\d-]*[A-Za-z\d])"
DEPENDABOT_FROM_LINE = re.compile(
    rf"^(?i:FROM)\s+(?:--platform=\S+\s+)?"
    rf"(?:(?P<registry>{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})+(?::\d+)?)/)?"
    rf"(?P<image>{NAME_COMPONENT}(?:/{NAME_COMPONENT})*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?(?:@sha256:(?P<digest>[0-9a-f]{64}))?"
    r"(?:\s+AS\s+(?P<name>[\w-]+))?"
)
# Options that choose which pins move, not how the locks are compiled.
UPGRADE_OPTIONS = {"--upgrade": 0, "--upgrade-package": 1, "-P": 1, "--quiet": 0}


def updates(project: BakedProject) -> dict[str, dict]:
    """Dependabot's update entries by ecosystem."""
    config = yaml.safe_load((project.path / CONFIG).read_text())
    assert config["version"] == 2
    return {entry["package-ecosystem"]: entry for entry in config["updates"]}


def test_dependabot_config_follows_its_schema(baked: BakedProject, tmp_path: Path) -> None:
    def check(path: Path) -> object:
        return baked.run_python(
            "-m", "check_jsonschema", "--builtin-schema", "vendor.dependabot", str(path)
        )

    assert_succeeded(check(baked.path / CONFIG))
    # The schema reads what it is given: an unknown strategy is refused.
    broken = tmp_path / "dependabot.yml"
    broken.write_text((baked.path / CONFIG).read_text().replace("increase-if-necessary", "bump"))
    assert check(broken).returncode == 1


def test_dependabot_watches_the_packages_the_actions_and_the_base_image(
    baked: BakedProject,
) -> None:
    entries = updates(baked)
    assert set(entries) == {"pip", "github-actions", "docker"}
    assert all(entry["directory"] == "/" for entry in entries.values())
    # A release outside a range widens its upper bound and keeps the lower one, which holds
    # Django 5.2 for Python 3.11; releases within the ranges are the lock command's.
    assert entries["pip"]["versioning-strategy"] == "increase-if-necessary"
    # What each reads is there: requirements*.txt, the workflows' actions, the Dockerfile.
    assert (baked.path / "requirements.txt").is_file()
    assert (baked.path / "requirements-dev.txt").is_file()
    assert "uses: actions/" in (baked.path / ".github/workflows/ci.yml").read_text()
    assert (baked.path / "Dockerfile").is_file()


def test_dependabot_reads_the_dockerfile_s_base_image_on_one_line(baked: BakedProject) -> None:
    """One FROM line names the base, as Dependabot parses it; the others name earlier stages."""
    images, stages = [], set()
    for line in (baked.path / "Dockerfile").read_text().splitlines():
        if not line.upper().startswith("FROM"):
            continue
        parsed = DEPENDABOT_FROM_LINE.match(line)
        assert parsed, f"Dependabot cannot read {line!r}"
        if parsed["tag"] or parsed["digest"]:
            images.append(f"{parsed['image']}:{parsed['tag']}")
        else:
            assert parsed["image"] in stages, f"{line!r} names no image and no earlier stage"
        if parsed["name"]:
            stages.add(parsed["name"])
    assert images == ["python:3.13-slim"]
    assert f"`{images[0]}`" in (baked.path / "docs/deploying.md").read_text()


def lock_commands(text: str) -> list[list[str]]:
    """The `uv pip compile` commands of a text, without the options that pick what moves."""
    commands = []
    for line in text.splitlines():
        for part in line.split("&&"):
            if not part.strip().startswith("uv pip compile "):
                continue
            words = shlex.split(part)
            kept, skip = [], 0
            for word in words[3:]:
                if skip:
                    skip -= 1
                elif word in UPGRADE_OPTIONS:
                    skip = UPGRADE_OPTIONS[word]
                else:
                    kept.append(word)
            commands.append(kept)
    return commands


def test_updating_page_locks_as_the_readme_and_make_locks_do(baked: BakedProject) -> None:
    readme = (baked.path / "README.md").read_text()
    assert "(docs/updating.md)" in readme
    page = (baked.path / "docs/updating.md").read_text()
    upgrade_all, upgrade_one = lock_commands(page)[:2], lock_commands(page)[2:]
    compiled = [
        ["requirements.txt", "-o", "requirements.lock"],
        ["requirements-dev.txt", "-c", "requirements.lock", "-o", "requirements-dev.lock"],
    ]
    makefile = (TEMPLATE_DIR / "Makefile").read_text()
    options = shlex.split(re.search(r"^COMPILE = (.*?) \$\(if", makefile, re.M)[1])
    expected = [options + files for files in compiled]
    assert lock_commands(readme) == expected
    assert upgrade_all == expected
    assert upgrade_one == expected
    assert "--upgrade requirements.txt" in page and "--upgrade-package django" in page
