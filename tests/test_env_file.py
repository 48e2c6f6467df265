"""The hook's .env: a strong secret per project, readable by its owner only, never committed."""

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.baking import BAKES, BakedProject, Bakery


def env_values(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_env_file_is_private_and_holds_a_strong_secret_key(baked: BakedProject) -> None:
    env_file = baked.path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert len(env_values(env_file)["DJANGO_SECRET_KEY"]) >= 50


def test_env_file_is_ignored_by_git(baked: BakedProject) -> None:
    ignored = (baked.path / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_every_bake_gets_its_own_secret_key(bakery: Bakery) -> None:
    projects = [bakery.get(bake) for bake in BAKES]
    assert all(project.exit_code == 0 for project in projects)
    keys = {env_values(project.path / ".env")["DJANGO_SECRET_KEY"] for project in projects}
    assert len(keys) == len(projects)


def test_baking_again_over_a_project_keeps_its_env_file(
    bake_into: Callable[..., Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = bake_into(tmp_path)
    env_file = project / ".env"
    before = env_file.read_bytes()

    assert bake_into(tmp_path, overwrite_if_exists=True) == project

    assert env_file.read_bytes() == before
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"Kept the existing {env_file}." in capfd.readouterr().out
