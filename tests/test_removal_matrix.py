"""Removing a key's access takes effect at once, in every process, on every database x cache bake.

Each bake gets docs/customising-the-key-model.md applied (tests/recipe.py) and is served by
gunicorn with 2 workers. Another long-lived Django process, beside the server, makes each key,
removes its access one way, and returns; from that moment, every request (10 in a row, each on
a new connection, so either worker may answer) must be refused. Before the removal the key must
have been accepted a few times, so that every worker had a chance to know it.

One server per bake, every path in it; the table of results is printed at the end of the run.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.baking import BAKES, REDIS_URL, BakedProject, record_figures, skip_without_services
from tests.recipe import APP, CUSTOMISING, ENDPOINT, SCOPE, apply_recipe, copy_for_recipe
from tests.servers import (
    PythonRunner,
    Server,
    api_keys_overrides,
    fresh_database,
    gunicorn_server,
)

WHOAMI = "/api/v1/whoami/"
ACCEPTED_FIRST = 5  # requests that must be accepted before the removal
CHECKED_AFTER = 10  # requests that must all be refused after it
TIMES = "seconds: recipe, server start, paths"
# A Redis database of this test's own: the FLUSHDB path empties it.
REDIS_DB = 13

# The other process's set-up: imports, a superuser whose session the admin client carries.
SETUP = """
import io
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from {slug}.api_keys.models import APIKey
from {app}.models import Organization, OrganizationAPIKey

# Staff signed in with both factors, as production's admin requires: the session names the
# TOTP device that verified them, as the code step leaves it.
staff = get_user_model().objects.create_superuser("matrix", "matrix@example.com", None)
admin = Client(HTTP_HOST="localhost")
admin.force_login(staff)
session = admin.session
session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=staff, name="matrix").persistent_id
session.save()


def admin_post(path, data):
    response = admin.post(path, data, secure=True)
    assert response.status_code == 302, (response.status_code, response.content[:2000])
    assert "/login/" not in response["Location"], "the admin asked to sign in again"


CHANGELIST = "/admin/api_keys/apikey/"
"""

# Snippets that make a key: they print it. `name` is the path's name.
NEW_KEY = """
api_key, key = APIKey.objects.create_key(name={name!r})
print(key)
"""
NEW_ORGANIZATION_KEY = """
organization = Organization.objects.create(name={name!r})
api_key, key = OrganizationAPIKey.objects.create_key(
    name={name!r}, organization=organization, scopes=[{scope!r}]
)
print(key)
"""
# A child key (the key checked) and its parent (the key removed), one level deep.
NEW_CHILD_KEY = """
parent, _ = APIKey.objects.create_key(name={name!r} + " (parent)")
api_key, key = APIKey.objects.create_key(name={name!r}, parent=parent)
print(key)
"""
# The parent's owner is deactivated, the child's is not: the manager's rule judges the parent.
NEW_ORGANIZATION_CHILD_KEY = """
organization = Organization.objects.create(name={name!r} + " (parent's)")
parent, _ = OrganizationAPIKey.objects.create_key(
    name={name!r} + " (parent)", organization=organization, scopes=[{scope!r}]
)
api_key, key = OrganizationAPIKey.objects.create_key(
    name={name!r},
    organization=Organization.objects.create(name={name!r} + " (child's)"),
    parent=parent,
    scopes=[{scope!r}],
)
print(key)
"""


@dataclass(frozen=True)
class Removal:
    """One way to remove a key's access: code run in the other process, where `api_key` is the
    key's object (and `organization` its owner, for organisation keys)."""

    name: str
    removal: str
    endpoint: str = WHOAMI
    organization_key: bool = False
    child: bool = False  # the key checked is a child; the removal acts on its `parent`
    # After the removal: "refused", or "accepted" for a change that gives access back.
    expect: str = "refused"
    redis_only: bool = False


PATHS = [
    Removal("revoke()", "api_key.revoke()"),
    Removal("save() with revoked=True", "api_key.revoked = True\napi_key.save()"),
    Removal("instance delete()", "api_key.delete()"),
    Removal("instance delete() in atomic()", "with transaction.atomic():\n    api_key.delete()"),
    Removal(
        "QuerySet.update(revoked=True)",
        "APIKey.objects.filter(pk=api_key.pk).update(revoked=True)",
    ),
    Removal(
        "QuerySet.update(expiry_date=past)",
        "APIKey.objects.filter(pk=api_key.pk).update(\n"
        "    expiry_date=timezone.now() - timedelta(seconds=1)\n)",
    ),
    Removal("QuerySet.delete()", "APIKey.objects.filter(pk=api_key.pk).delete()"),
    Removal(
        "admin: Revoke selected keys",
        'admin_post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [api_key.pk], '
        '"post": "yes"})',
    ),
    Removal(
        "admin: Delete selected",
        'admin_post(CHANGELIST, {"action": "delete_selected", "_selected_action": [api_key.pk], '
        '"post": "yes"})',
    ),
    Removal(
        "admin: delete view",
        'admin_post(f"{CHANGELIST}{api_key.pk}/delete/", {"post": "yes"})',
    ),
    Removal(
        "revokeapikey command",
        'call_command("revokeapikey", api_key.lookup_id, stdout=io.StringIO())',
    ),
    Removal(
        "rotateapikey --grace 0m",
        'call_command("rotateapikey", api_key.lookup_id, "--grace", "0m", '
        "stdout=io.StringIO(), stderr=io.StringIO())",
    ),
    Removal(
        "owner deleted (FK cascade)",
        "organization.delete()",
        endpoint=ENDPOINT,
        organization_key=True,
    ),
    Removal(
        "owner deactivated: save()",
        "organization.active = False\norganization.save()",
        endpoint=ENDPOINT,
        organization_key=True,
    ),
    Removal(
        "owner deactivated: update()",
        "Organization.objects.filter(pk=organization.pk).update(active=False)",
        endpoint=ENDPOINT,
        organization_key=True,
    ),
    Removal(
        "revoke(), then Redis FLUSHDB",
        "api_key.revoke()",
        redis_only=True,
    ),
    Removal("parent revoke()", "parent.revoke()", child=True),
    Removal(
        "parent QuerySet.update(revoked=True)",
        "APIKey.objects.filter(pk=parent.pk).update(revoked=True)",
        child=True,
    ),
    Removal(
        "parent QuerySet.update(expiry_date=past)",
        "APIKey.objects.filter(pk=parent.pk).update(\n"
        "    expiry_date=timezone.now() - timedelta(seconds=1)\n)",
        child=True,
    ),
    Removal("parent delete() (FK cascade)", "parent.delete()", child=True),
    Removal(
        "parent's owner deactivated: update() (manager's rule)",
        "Organization.objects.filter(pk=organization.pk).update(active=False)",
        endpoint=ENDPOINT,
        organization_key=True,
        child=True,
    ),
]
# Given back: the owner deactivated, then active again. Its keys must work again at once.
REACTIVATION = Removal(
    "owner reactivated",
    "organization.active = True\norganization.save()",
    endpoint=ENDPOINT,
    organization_key=True,
    expect="accepted",
)


@dataclass
class Outcome:
    path: str
    statuses: list[int]
    expected: int

    @property
    def held(self) -> bool:
        return all(status == self.expected for status in self.statuses)

    def cell(self) -> str:
        wrong = sum(status != self.expected for status in self.statuses)
        return f"{'yes' if self.held else 'NO'} {wrong}/{len(self.statuses)}"


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> Iterator[dict[str, dict[str, str]]]:
    """Results by bake, then row; printed as one table when the module ends."""
    results: dict[str, dict[str, str]] = {}
    yield results
    if not results:
        return
    rows = [path.name for path in PATHS] + [REACTIVATION.name, TIMES]
    cells = [["", *results]] + [
        [row, *(results[bake].get(row, "-") for bake in results)] for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(cells[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    record_figures(
        request.config,
        "tests/test_removal_matrix.py: refused (reactivated: accepted) from the moment the call "
        "returned? wrong answers / requests checked",
        lines,
    )


def flush(redis_url: str) -> None:
    """Lose Redis's state: empty the bake's Redis database."""
    redis.Redis.from_url(redis_url).flushdb()


def statuses(server: Server, endpoint: str, key: str, count: int) -> list[int]:
    """The status of `count` requests in a row, each on a new connection."""
    return [server.get(endpoint, key=key)[0] for _ in range(count)]


def follow(
    server: Server, python: PythonRunner, path: Removal, flush: Callable[[], None]
) -> Outcome:
    """Make a key in the other process, see it accepted, remove its access there, and check
    every request from the moment that returned."""
    template = {
        (False, False): NEW_KEY,
        (True, False): NEW_ORGANIZATION_KEY,
        (False, True): NEW_CHILD_KEY,
        (True, True): NEW_ORGANIZATION_CHILD_KEY,
    }[(path.organization_key, path.child)]
    key = python.run(template.format(name=path.name, scope=SCOPE)).strip()
    before = statuses(server, path.endpoint, key, ACCEPTED_FIRST)
    assert before == [200] * ACCEPTED_FIRST, (path.name, before)
    python.run(path.removal)
    after = statuses(server, path.endpoint, key, CHECKED_AFTER)
    if path.redis_only:
        flush()
        after += statuses(server, path.endpoint, key, CHECKED_AFTER)
    return Outcome(path.name, after, 401)


def follow_reactivation(server: Server, python: PythonRunner) -> Outcome:
    """An owner's key accepted, refused once the owner is deactivated, and accepted again from
    the moment it is reactivated."""
    key = python.run(NEW_ORGANIZATION_KEY.format(name=REACTIVATION.name, scope=SCOPE)).strip()
    accepted = statuses(server, ENDPOINT, key, ACCEPTED_FIRST)
    assert accepted == [200] * ACCEPTED_FIRST, accepted
    python.run("organization.active = False\norganization.save()")
    refused = statuses(server, ENDPOINT, key, ACCEPTED_FIRST)
    assert refused == [401] * ACCEPTED_FIRST, refused
    python.run(REACTIVATION.removal)
    return Outcome(REACTIVATION.name, statuses(server, ENDPOINT, key, CHECKED_AFTER), 200)


@pytest.mark.parametrize("baked", BAKES, indirect=True, ids=lambda bake: bake.id)
def test_removal_takes_effect_at_once_in_every_process(
    baked: BakedProject, tmp_path, table: dict[str, dict[str, str]]
) -> None:
    skip_without_services(baked)
    redis_url = f"{REDIS_URL}/{REDIS_DB}"
    variables = {"REDIS_URL": redis_url} if baked.bake.cache == "redis" else {}
    started = time.monotonic()
    outcomes = []
    with fresh_database(baked, tmp_path / "database") as database_url:
        project = copy_for_recipe(baked, tmp_path / "recipe")
        apply_recipe(project, {"DATABASE_URL": database_url, **variables}, CUSTOMISING)
        recipe_applied = time.monotonic()
        with (
            # The recipe migrated the database. The admin's actions answer with redirects, which
            # need no static files. The limit on refused keys per address is lifted: this test
            # sends more refused keys from 127.0.0.1 than it allows.
            gunicorn_server(
                project,
                tmp_path / "served",
                database_url,
                migrate=False,
                settings=api_keys_overrides(REFUSAL_RATE=None),
                **variables,
            ) as server,
            server.python(SETUP.format(slug=baked.slug, app=APP)) as python,
        ):
            serving = time.monotonic()
            for path in PATHS:
                if path.redis_only and baked.bake.cache != "redis":
                    continue
                outcomes.append(follow(server, python, path, lambda: flush(redis_url)))
            outcomes.append(follow_reactivation(server, python))
            checked = time.monotonic()

    table[baked.bake.id] = {outcome.path: outcome.cell() for outcome in outcomes}
    table[baked.bake.id][TIMES] = (
        f"{recipe_applied - started:.1f}, {serving - recipe_applied:.1f}, {checked - serving:.1f}"
    )
    failed = [f"{outcome.path}: {outcome.statuses}" for outcome in outcomes if not outcome.held]
    assert not failed, "Access not removed at once:\n" + "\n".join(failed)
