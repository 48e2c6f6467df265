"""The generated docs/customising-the-key-model.md, followed word for word (its code and commands
taken from the baked page: tests/recipe.py): a field added to APIKey, then a key model of an
`organizations` app. The project still passes every check (migrations, its suite, the deploy
check, ruff, mypy), the added field is where the page says, and organisation keys work as the
page says, through a real server."""

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.baking import (
    MIGRATION_SETTINGS,
    REDIS_URL,
    TEMPLATE_DIR,
    BakedProject,
    assert_deploy_check_is_clean,
    assert_generated_suite_passes,
    assert_migrations_are_current,
    assert_succeeded,
    skip_without_services,
)
from tests.recipe import (
    ADDED_FIELD,
    APP,
    CUSTOMISING,
    ENDPOINT,
    KEY_MODEL,
    SCOPE,
    apply_recipe,
    copy_for_recipe,
)
from tests.servers import SERVED_BAKES, Server, fresh_database, gunicorn_server

# A Redis database of this test's own, so that other suites' counts and keys stay apart.
REDIS_DB = 12
THROTTLE_RATE = "3/min"
WORKERS = 2

pytestmark = pytest.mark.parametrize("baked", SERVED_BAKES, indirect=True, ids=lambda b: b.id)


@dataclass
class Recipe:
    """A copy of a bake with the page applied."""

    project: BakedProject
    database_url: str  # a database of its own, migrated by the page's commands
    services: dict[str, str]  # REDIS_URL, on Redis bakes
    done: list[str]  # what was done, one line per step

    @property
    def variables(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, **self.services}


@pytest.fixture(scope="module")
def recipe(baked: BakedProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recipe]:
    skip_without_services(baked)
    work_dir = tmp_path_factory.mktemp(f"recipe-{baked.bake.id}")
    services = {"REDIS_URL": f"{REDIS_URL}/{REDIS_DB}"} if baked.bake.cache == "redis" else {}
    with fresh_database(baked, work_dir / "database") as database_url:
        project = copy_for_recipe(baked, work_dir)
        done = apply_recipe(project, {"DATABASE_URL": database_url, **services}, CUSTOMISING)
        yield Recipe(project, database_url, services, done)


def test_the_page_is_followed_to_the_end(recipe, report_figures) -> None:
    project, done = recipe.project, recipe.done
    assert done[0] == f"added to class APIKey in {project.slug}/api_keys/models.py"
    assert f"ran python manage.py startapp {APP}" in done
    assert done[-1] == "ran python manage.py migrate"
    assert sorted(path.name for path in (project.path / APP / "migrations").glob("0*.py")) == [
        "0001_initial.py"
    ]
    report_figures([f"{project.bake.id}: {'; '.join(done)}"])


def test_the_added_field_is_migrated_listed_and_set_by_createapikey(recipe) -> None:
    migrations = recipe.project.path / recipe.project.slug / "api_keys" / "migrations"
    assert [path.name for path in migrations.glob(f"0*_apikey_{ADDED_FIELD}.py")], sorted(
        path.name for path in migrations.glob("0*.py")
    )
    result = recipe.project.run_python("manage.py", "listapikeys", "--json", **recipe.variables)
    assert_succeeded(result)
    rows = json.loads(result.stdout)
    # The page's createapikey line made this key.
    assert [row[ADDED_FIELD] for row in rows if row["name"] == "billing-service"] == [
        "billing@example.com"
    ], rows


@pytest.mark.parametrize("settings", MIGRATION_SETTINGS)
def test_migrations_stay_current(recipe, settings: str) -> None:
    assert_migrations_are_current(recipe.project, settings, **recipe.variables)


def test_the_generated_suite_still_passes(recipe) -> None:
    assert_generated_suite_passes(recipe.project, **recipe.variables)


def test_check_deploy_is_clean(recipe) -> None:
    assert_deploy_check_is_clean(recipe.project, **recipe.variables)


@pytest.mark.parametrize(
    "command", [("ruff", "check", "."), ("ruff", "format", "--check", ".")], ids=" ".join
)
def test_ruff_is_clean(recipe, command: tuple[str, ...]) -> None:
    """On the whole project, as its CI runs it: the files `startapp` wrote included."""
    assert_succeeded(recipe.project.run_python("-m", *command))


def test_mypy_is_clean(recipe) -> None:
    """The project's mypy (pyproject.toml), the page's files included."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    cache = TEMPLATE_DIR / "build" / "mypy-cache" / f"recipe-{recipe.project.bake.id}-{python}"
    result = recipe.project.run_python("-m", "mypy", "--cache-dir", str(cache), timeout=600)
    assert_succeeded(result)
    assert "Success: no issues found" in result.stdout


def error_code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


def wait_for_a_fresh_minute(margin: float = 8) -> None:
    """Throttle rates count in clock minutes: start a count well inside one."""
    into_minute = time.time() % 60
    if into_minute > 60 - margin:
        time.sleep(60 - into_minute + 0.5)


def create_organization_key(server: Server, organization_id: str, *options: str) -> str:
    """`createapikey --model ... --field organization=<id>`, as the docs say."""
    return server.manage(
        "createapikey",
        "--model",
        KEY_MODEL,
        "--name",
        "acme-backend",
        "--field",
        f"organization={organization_id}",
        *options,
    ).strip()


def test_organisation_keys_work_as_the_page_says(
    recipe, baked: BakedProject, tmp_path, report_figures: Callable[[list[str]], None]
) -> None:
    with (
        gunicorn_server(
            recipe.project,
            tmp_path,
            recipe.database_url,
            workers=WORKERS,
            migrate=False,
            **recipe.services,
        ) as server,
        server.python(f"from {APP}.models import Organization") as python,
    ):
        organization_id = python.run("print(Organization.objects.create(name='Acme').pk)").strip()
        key = create_organization_key(server, organization_id, "--scope", SCOPE)

        # Accepted: the default authentication reads the key with the view's permission's model.
        status, _, body = server.get(ENDPOINT, key=key)
        assert status == 200, body
        assert json.loads(body) == {"id": int(organization_id), "name": "Acme"}
        # A key of the default model is not an organisation's key.
        plain_key = server.create_key("plain", "--scope", SCOPE)
        assert server.get(ENDPOINT, key=plain_key)[0] == 401

        # A key without the view's scope: 403 missing_scope.
        unscoped = create_organization_key(server, organization_id)
        status, _, body = server.get(ENDPOINT, key=unscoped)
        assert (status, error_code(body)) == (403, "missing_scope"), body

        # The key's own throttle rate. Local memory counts per worker, Redis for all.
        limited = create_organization_key(
            server, organization_id, "--scope", SCOPE, "--field", f"throttle_rate={THROTTLE_RATE}"
        )
        allowed = int(THROTTLE_RATE.split("/")[0])
        most = allowed * (WORKERS if baked.bake.cache == "locmem" else 1)
        wait_for_a_fresh_minute()
        answers = []
        while len(answers) <= most and (not answers or answers[-1][0] == 200):
            answers.append(server.get(ENDPOINT, key=limited))
        codes = [status for status, _, _ in answers]
        assert codes[:allowed] == [200] * allowed, codes
        assert codes[-1] == 429, codes
        retry_after = answers[-1][1]["Retry-After"]
        assert retry_after is not None and 1 <= int(retry_after) <= 60, retry_after
        assert error_code(answers[-1][2]) == "throttled"

        # Deactivating the organisation, in another process: refused on the very next request.
        python.run(
            f"organization = Organization.objects.get(pk={organization_id})\n"
            "organization.active = False\n"
            "organization.save()"
        )
        status, _, body = server.get(ENDPOINT, key=key)
        assert (status, error_code(body)) == (401, "invalid_api_key"), body
    report_figures(
        [
            f"{baked.bake.id}: {THROTTLE_RATE} key: {codes.count(200)} accepted, then 429 "
            f"(Retry-After {retry_after} s) with {WORKERS} workers and {baked.bake.cache}"
        ]
    )
