"""A project built on djangorestframework-api-key 3.1.0, as installed from PyPI, moved to the
vendored app by the generated guide, docs/moving-from-djangorestframework-api-key.md, its code
and commands taken from the baked page (tests/recipe.py). The bakes answer yes to
`from_djangorestframework_api_key`, which is what brings the guide and the moving tools.

Before the move, the project has the package's built-in keys, an `OrganizationAPIKey` built on
the package's `AbstractAPIKey` with a foreign key and a custom manager and key generator, views
guarded by the package's permissions, and a migration of its own that depends on the package.
Its files are the guide's, with the guide's import table read backwards. Every key gets the
answer it got before (a refusal is 401 here, where the package answers 403), through gunicorn,
and the moved project passes `makemigrations --check`, `check --deploy` and its own suite.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.baking import (
    MIGRATION_SETTINGS,
    MOVING_BAKES,
    REDIS_URL,
    BakedProject,
    assert_deploy_check_is_clean,
    assert_generated_suite_passes,
    assert_migrations_are_current,
    assert_succeeded,
    skip_without_services,
)
from tests.recipe import MOVING, apply_recipe, copy_for_recipe, read_page, recipe_steps
from tests.servers import Server, fresh_database, gunicorn_server

REDIS_DB = 14
# A row of the guide's import table, of a module or of a class, perhaps with words after a name:
# | `rest_framework_api_key.crypto` | `myapi.api_keys.keys` |
# | `rest_framework_api_key.crypto.KeyGenerator`, in ... | `myapi.api_keys.legacy.LegacyKe...` |
IMPORT_ROW = re.compile(
    r"^\| `(rest_framework_api_key(?:\.\w+)+)`[^|]*\| `(\w+\.api_keys(?:\.\w+)+)`[^|]*\|$", re.M
)
# The guide's row for the admin's URL names, from the package's to this project's.
ADMIN_ROW = re.compile(
    r"^\| `admin:rest_framework_api_key_apikey_changelist`.*\| `admin:(\w+)_changelist`", re.M
)
# The line the guide adds to a custom key model, which the package's model lacks.
KEPT_ID = "    id = models.CharField("
ORGANIZATION_ENDPOINT = "/api/v1/organization/"
STATUS_ENDPOINT = "/api/v1/status/"

# The project's own settings and URLs, before and after the move.
APP_SETTINGS = '\nINSTALLED_APPS += ["organizations"]\n'
URLS = """
from organizations.views import OrganizationView, StatusView  # noqa: E402

urlpatterns += [
    path("api/v1/organization/", OrganizationView.as_view()),
    path("api/v1/status/", StatusView.as_view()),
]
"""
# Only before the move: the package's app, and DRF's authentication as the package leaves it.
PACKAGE_SETTINGS = """
INSTALLED_APPS += ["rest_framework_api_key"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
}
"""
# A data migration of the project's own that depends on the package and reads its model.
DATA_MIGRATION = """from django.db import migrations


def revoke_bootstrap_keys(apps, schema_editor):
    APIKey = apps.get_model("rest_framework_api_key", "APIKey")
    APIKey.objects.filter(name="bootstrap").update(revoked=True)


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0001_initial"),
        ("rest_framework_api_key", "0005_auto_20220110_1102"),
    ]

    operations = [migrations.RunPython(revoke_bootstrap_keys, migrations.RunPython.noop)]
"""
# Keys made by the package's own code: label -> (endpoint, key).
MAKE_KEYS = """
import json
from datetime import timedelta

from django.utils import timezone
from rest_framework_api_key.models import APIKey

from organizations.models import Organization, OrganizationAPIKey

past = timezone.now() - timedelta(days=1)
acme = Organization.objects.create(name="Acme")
closed = Organization.objects.create(name="Closed", active=False)
made = {
    "service": APIKey.objects.create_key(name="service"),
    "expired service": APIKey.objects.create_key(name="old service", expiry_date=past),
    "revoked service": APIKey.objects.create_key(name="leaked service"),
    "organization": OrganizationAPIKey.objects.create_key(name="acme", organization=acme),
    "expired organization": OrganizationAPIKey.objects.create_key(
        name="acme old", organization=acme, expiry_date=past
    ),
    "revoked organization": OrganizationAPIKey.objects.create_key(
        name="acme leaked", organization=acme
    ),
    "closed organization": OrganizationAPIKey.objects.create_key(
        name="closed", organization=closed
    ),
}
for label, (api_key, _) in made.items():
    if label.startswith("revoked"):
        api_key.revoked = True
        api_key.save()
print(json.dumps({"keys": {label: key for label, (_, key) in made.items()}, "acme": acme.pk}))
"""
ACCEPTED = ("service", "organization")
# The admin's pages for the kept table, whose primary keys are strings ("<prefix>.sha512$$..."):
# the set of status codes of the list and of each key's change and rotate pages, and their number.
ADMIN_PAGES = """
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from organizations.models import OrganizationAPIKey

user = get_user_model().objects.create_superuser("moved-admin", "admin@example.com", None)
client = Client(SERVER_NAME="localhost")
client.force_login(user)
pages = [reverse("admin:organizations_organizationapikey_changelist")]
for pk in OrganizationAPIKey.objects.values_list("pk", flat=True):
    pages.append(reverse("admin:organizations_organizationapikey_change", args=[quote(pk)]))
    pages.append(reverse("admin:organizations_organizationapikey_rotate", args=[quote(pk)]))
print(sorted({client.get(page, secure=True).status_code for page in pages}), len(pages))
"""


@dataclass(frozen=True)
class Answer:
    status: int
    body: object

    @classmethod
    def of(cls, server: Server, label: str, key: str) -> "Answer":
        endpoint = ORGANIZATION_ENDPOINT if "organization" in label else STATUS_ENDPOINT
        status, _, body = server.get(endpoint, key=key)
        return cls(status, json.loads(body) if status == 200 else None)


@dataclass
class Move:
    project: BakedProject
    database_url: str
    services: dict[str, str]
    keys: dict[str, str]  # label -> key, made by the package
    organization_id: int
    before: dict[str, Answer]
    done: list[str]

    @property
    def variables(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, **self.services}


pytestmark = pytest.mark.parametrize("baked", MOVING_BAKES, indirect=True, ids=lambda b: b.id)


def import_table(guide: str) -> list[tuple[str, str]]:
    """The guide's import table: (the package's module or class, this project's)."""
    rows = IMPORT_ROW.findall(guide)
    assert len(rows) >= 4, "The guide's import table lists fewer modules than expected."
    return rows


def as_before_the_move(text: str, table: list[tuple[str, str]]) -> str:
    """One of the guide's files as the package's user had it: the imports read backwards (a
    class row first, with the class's name), and without the line the guide adds to a custom key
    model."""
    classes = [row for row in table if row[0].rpartition(".")[2][:1].isupper()]
    for package_class, own_class in classes:
        package_module, _, package_name = package_class.rpartition(".")
        module, _, name = own_class.rpartition(".")
        text = text.replace(f"from {module} import {name}", f"from {package_module} import {name}")
        text = re.sub(rf"\b{name}\b", package_name, text)
    for package_module, module in table:
        text = text.replace(f"from {module} import", f"from {package_module} import")
    return "".join(line for line in text.splitlines(True) if not line.startswith(KEPT_ID))


def run(project: BakedProject, variables: dict[str, str], *args: str) -> str:
    result = project.run_python(*args, timeout=600, **variables)
    assert_succeeded(result)
    return result.stdout


def build_project_on_the_package(project: BakedProject, variables: dict[str, str]) -> None:
    """The guide's app, written as it was before the move, migrated with the package."""
    guide = read_page(project, MOVING)
    table = import_table(guide)
    run(project, variables, "manage.py", "startapp", "organizations")
    for step in recipe_steps(guide, MOVING):
        if step.kind == "write":
            text = as_before_the_move(step.text, table)
            own_app = f"{project.slug}.api_keys"
            assert own_app not in text, f"{step.target} still uses {own_app}:\n{text}"
            (project.path / step.target).write_text(text, encoding="utf-8")
    with (project.path / "config" / "settings" / "base.py").open("a", encoding="utf-8") as file:
        file.write(APP_SETTINGS + PACKAGE_SETTINGS)
    with (project.path / "config" / "urls.py").open("a", encoding="utf-8") as file:
        file.write(URLS)
    run(project, variables, "manage.py", "makemigrations", "organizations")
    migrations = project.path / "organizations" / "migrations"
    (migrations / "0002_revoke_bootstrap_keys.py").write_text(DATA_MIGRATION, encoding="utf-8")
    run(project, variables, "manage.py", "migrate")


def leave_the_package(project: BakedProject) -> None:
    """The guide's last step: the package's app leaves INSTALLED_APPS (and DRF's defaults are
    the project's own again)."""
    path = project.path / "config" / "settings" / "base.py"
    text = path.read_text(encoding="utf-8")
    assert PACKAGE_SETTINGS in text
    path.write_text(text.replace(PACKAGE_SETTINGS, ""), encoding="utf-8")


def answers(server: Server, keys: dict[str, str]) -> dict[str, Answer]:
    return {label: Answer.of(server, label, key) for label, key in keys.items()}


@pytest.fixture(scope="module")
def move(baked: BakedProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Move]:
    skip_without_services(baked)
    work_dir = tmp_path_factory.mktemp(f"move-{baked.bake.id}")
    services = {"REDIS_URL": f"{REDIS_URL}/{REDIS_DB}"} if baked.bake.cache == "redis" else {}
    with fresh_database(baked, work_dir / "database") as database_url:
        variables = {"DATABASE_URL": database_url, **services}
        project = copy_for_recipe(baked, work_dir)
        build_project_on_the_package(project, variables)
        output = run(project, variables, "manage.py", "shell", "-c", MAKE_KEYS)
        made = json.loads(output.splitlines()[-1])  # after the shell's own notice, if any
        with gunicorn_server(
            project, work_dir / "before", database_url, migrate=False, **services
        ) as server:
            before = answers(server, made["keys"])
        done = apply_recipe(project, variables, MOVING)
        leave_the_package(project)
        yield Move(project, database_url, services, made["keys"], made["acme"], before, done)


@pytest.fixture
def server(move: Move, tmp_path: Path) -> Iterator[Server]:
    """The moved project, served."""
    with gunicorn_server(
        move.project, tmp_path, move.database_url, migrate=False, **move.services
    ) as server:
        yield server


def test_the_package_answered_as_its_documentation_says(move) -> None:
    for label, answer in move.before.items():
        assert answer.status == (200 if label in ACCEPTED else 403), (label, answer)
    assert move.before["organization"].body == {"organization": "Acme"}


def test_the_guide_is_followed_to_the_end(move, report_figures) -> None:
    assert move.done[-1] == "ran python manage.py migrate"
    folder = move.project.path / "organizations" / "migrations"
    names = sorted(path.name for path in folder.glob("0*.py"))
    assert names[:3] == [
        "0001_initial.py",
        "0002_revoke_bootstrap_keys.py",
        "0003_adopt_api_keys.py",
    ]
    assert len(names) == 4, names  # and the one makemigrations wrote
    for name in names:
        assert "rest_framework_api_key" not in (folder / name).read_text(), name
    report_figures([f"{move.project.bake.id}: {'; '.join(move.done)}"])


@pytest.mark.parametrize("settings", MIGRATION_SETTINGS)
def test_migrations_are_current_without_the_package(move, settings: str) -> None:
    assert_migrations_are_current(move.project, settings, **move.variables)


def test_every_migration_is_applied(move) -> None:
    assert_succeeded(move.project.run_python("manage.py", "migrate", "--check", **move.variables))


def test_every_old_key_gets_the_answer_it_got_before(move, server, report_figures) -> None:
    first = answers(server, move.keys)
    # Asked again, once the old hashes have been replaced by SHA-256 ones on first use.
    second = answers(server, move.keys)
    for label, before in move.before.items():
        expected = before if before.status == 200 else Answer(401, None)
        assert first[label] == expected, label
        assert second[label] == expected, label
    changes = [f"{label} {move.before[label].status}->{first[label].status}" for label in move.keys]
    report_figures([f"{move.project.bake.id}: {', '.join(changes)}"])


def test_new_keys_and_rotation_work(move, server) -> None:
    model = ["--model", "organizations.OrganizationAPIKey"]
    organization = f"organization={move.organization_id}"
    new_key = server.manage("createapikey", *model, "--name", "acme new", "--field", organization)
    assert Answer.of(server, "organization", new_key.strip()) == Answer(
        200, {"organization": "Acme"}
    )
    assert Answer.of(server, "service", server.create_key("new service")).status == 200
    # An old organisation key, rotated: the new key works, and the old one until the grace ends.
    old_key = move.keys["organization"]
    replacement = server.manage("rotateapikey", old_key.partition(".")[0], *model, "--grace", "1h")
    assert Answer.of(server, "organization", replacement.strip()).status == 200
    assert Answer.of(server, "organization", old_key).status == 200


def test_the_moved_project_passes_its_checks(move) -> None:
    assert_deploy_check_is_clean(move.project, **move.variables)
    assert_generated_suite_passes(move.project, **move.variables)


def test_the_admin_url_names_in_the_guide_exist(move) -> None:
    match = ADMIN_ROW.search(read_page(move.project, MOVING))
    assert match, "The guide's import table has no row for the admin's URL names."
    prefix = f"admin:{match[1]}"
    code = (
        "from django.urls import reverse\n"
        f"print(reverse('{prefix}_changelist'), reverse('{prefix}_add'))\n"
        f"print(reverse('{prefix}_change', args=[1]), reverse('{prefix}_delete', args=[1]))\n"
    )
    output = run(move.project, move.variables, "manage.py", "shell", "-c", code)
    assert "/admin/api_keys/apikey/ /admin/api_keys/apikey/add/" in output
    assert "/admin/api_keys/apikey/1/change/ /admin/api_keys/apikey/1/delete/" in output


def test_the_admin_shows_the_kept_table(move) -> None:
    output = run(move.project, move.variables, "manage.py", "shell", "-c", ADMIN_PAGES)
    statuses, pages = output.splitlines()[-1].rsplit(" ", 1)
    assert statuses == "[200]", output
    assert int(pages) >= 1 + 2 * 4, output  # the list, and at least the four old keys
