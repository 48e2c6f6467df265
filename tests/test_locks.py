"""The generated lock files agree with the requirement ranges they were compiled from.

requirements.lock (from requirements.txt) and requirements-dev.lock (from requirements-dev.txt)
are what the image, the CI workflow and the README's install step use. Each bake keeps the pair
compiled for its options (`make locks` writes them). A lock fails these tests when a declared
requirement is missing or pinned outside its range, when it pins something that no declared
requirement leads to, or when a pin carries no hash.
"""

from importlib.metadata import PackageNotFoundError, requires

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.baking import BakedProject, Pin, read_lock, read_requirements

# Which lock each requirements file is compiled into, and the files it reads.
LOCKS = {
    "requirements.lock": ["requirements.txt"],
    "requirements-dev.lock": ["requirements.txt", "requirements-dev.txt"],
}


def extra_requirements(requirement: Requirement) -> set[str]:
    """Names that the requirement's extras add, from the installed distribution's metadata."""
    if not requirement.extras:
        return set()
    try:
        declared = requires(requirement.name) or []
    except PackageNotFoundError:
        pytest.fail(f"{requirement.name} is not installed here: run make test's setup first.")
    names = set()
    for line in declared:
        dependency = Requirement(line)
        if dependency.marker and any(
            dependency.marker.evaluate({"extra": extra, "python_version": version})
            for extra in requirement.extras
            for version in ("3.11", "3.12", "3.13")
        ):
            names.add(canonicalize_name(dependency.name))
    return names


@pytest.mark.parametrize("lock_name", LOCKS)
def test_lock_pins_every_declared_requirement_within_its_range(
    baked: BakedProject, lock_name: str
) -> None:
    pins = read_lock(baked.path / lock_name)
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    problems = []
    for file in LOCKS[lock_name]:
        for requirement in read_requirements(baked.path / file):
            name = canonicalize_name(requirement.name)
            if name not in by_name:
                problems.append(f"{requirement} ({file}) is not in {lock_name}")
                continue
            for pin in by_name[name]:
                if pin.version not in requirement.specifier:
                    problems.append(f"{name}=={pin.version} is outside {requirement} ({file})")
            for extra_name in sorted(extra_requirements(requirement) - set(by_name)):
                problems.append(f"{extra_name}, needed by {requirement}, is not in {lock_name}")
    unhashed = [f"{pin.name}=={pin.version}" for pin in pins if not pin.hashes]
    assert not unhashed, f"{lock_name} pins without a hash: {unhashed}"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lock_name", LOCKS)
def test_lock_pins_nothing_the_requirements_do_not_lead_to(
    baked: BakedProject, lock_name: str
) -> None:
    """Every pin is a declared requirement, or a dependency (by its `# via`) of one that is."""
    declared = {
        canonicalize_name(requirement.name)
        for file in LOCKS[lock_name]
        for requirement in read_requirements(baked.path / file)
    }
    sources = {f"-r {file}" for file in LOCKS[lock_name]}
    pins = read_lock(baked.path / lock_name)
    reached = {pin.name for pin in pins if pin.name in declared and sources & set(pin.via)}
    while True:
        more = {pin.name for pin in pins if reached & set(pin.via)} - reached
        if not more:
            break
        reached |= more
    stray = sorted({pin.name for pin in pins} - reached)
    assert not stray, f"{lock_name} pins what no requirement of {LOCKS[lock_name]} needs: {stray}"


def test_dev_lock_pins_the_runtime_packages_at_the_same_versions(baked: BakedProject) -> None:
    """The suite and the checks run on the versions that ship."""

    def versions(lock: str) -> dict[str, set[Version]]:
        found: dict[str, set[Version]] = {}
        for pin in read_lock(baked.path / lock):
            found.setdefault(pin.name, set()).add(pin.version)
        return found

    runtime, dev = versions("requirements.lock"), versions("requirements-dev.lock")
    differ = {
        name: (pinned, dev.get(name)) for name, pinned in runtime.items() if dev.get(name) != pinned
    }
    assert not differ, f"requirements.lock vs requirements-dev.lock: {differ}"


def test_lock_forks_django_for_the_tested_pairs(baked: BakedProject) -> None:
    """One universal lock: Django 5.2 where Python 3.11 runs, the newest Django 6 on 3.12+."""
    django = [pin for pin in read_lock(baked.path / "requirements.lock") if pin.name == "django"]
    majors = sorted((pin.version.major, pin.version.minor, pin.marker) for pin in django)
    assert [(major, minor) for major, minor, _ in majors][0] == (5, 2), majors
    assert all(marker for _, _, marker in majors), majors
