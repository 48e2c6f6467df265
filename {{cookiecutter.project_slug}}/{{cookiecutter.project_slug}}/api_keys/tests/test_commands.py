"""createapikey, listapikeys, revokeapikey and rotateapikey, as an operator runs them: on the
default key model or a custom one (--model), and with one sentence, never a traceback, when
the input or the database is wrong."""

import json
import re
import sqlite3
from contextlib import closing
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.example_organizations.models import Organization, OrganizationAPIKey

from ..models import APIKey
from .manage_py import assert_one_sentence, copy_database, manage_py, migrate_sqlite, sqlite_url

pytestmark = pytest.mark.django_db
CUSTOM_MODEL = OrganizationAPIKey._meta.label
# An escape sequence that clears a terminal, a carriage return, and a line that looks real.
TERMINAL_TRICK = 'billing\x1b[2J\rRevoked API key "billing" (abcd1234).'


def run(*args):
    stdout, stderr = StringIO(), StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_createapikey_prints_a_working_key_on_stdout_only():
    stdout, stderr = run("createapikey", "--name", "billing")
    key = stdout.strip()
    assert APIKey.objects.is_valid(key)
    assert "billing" in stderr
    assert key not in stderr
    assert APIKey.objects.get().name == "billing"


@pytest.mark.parametrize(
    ("expires", "expected"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30))],
)
def test_createapikey_expires_after_a_duration(expires, expected):
    run("createapikey", "--name", "temp", "--expires", expires)
    expiry = APIKey.objects.get().expiry_date
    assert abs(expiry - (timezone.now() + expected)) < timedelta(minutes=1)


def test_createapikey_expires_on_a_date():
    run("createapikey", "--name", "temp", "--expires", "2999-01-31")
    assert APIKey.objects.get().expiry_date.date().isoformat() == "2999-01-31"


@pytest.mark.parametrize("expires", ["soon", "12x", "2030-13-01", "1.5d"])
def test_createapikey_refuses_a_bad_expiry(expires):
    with pytest.raises(CommandError, match=r"--expires: .* is not a duration"):
        run("createapikey", "--name", "temp", "--expires", expires)
    assert not APIKey.objects.exists()


@pytest.mark.parametrize(
    "expires", ["0m", "0d", "-0h", "-5d", "-1m", "2001-01-01", "2001-01-01T12:00:00+00:00"]
)
def test_createapikey_refuses_every_expiry_that_is_not_in_the_future(expires):
    with pytest.raises(CommandError, match=re.escape(f"--expires: '{expires}' is not in")):
        run("createapikey", "--name", "temp", "--expires", expires)
    assert not APIKey.objects.exists()


def test_createapikey_refuses_a_moment_just_past():
    moment = (timezone.now() - timedelta(seconds=1)).isoformat()
    with pytest.raises(CommandError, match="is not in the future"):
        run("createapikey", "--name", "temp", "--expires", moment)
    assert not APIKey.objects.exists()


def test_a_negative_expiry_typed_in_a_shell_is_refused_with_its_reason():
    """argparse would take "-5d" for an unknown option and answer "expected one argument"."""
    result = manage_py("createapikey", "--name", "temp", "--expires", "-5d")
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "argument --expires: '-5d' is not in the future: a key must expire later than now "
            "(e.g. 90d, or a date to come)"
        )
    )
    assert "expected one argument" not in result.stderr


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_createapikey_refuses_a_bad_name(name):
    with pytest.raises(CommandError, match="--name"):
        run("createapikey", "--name", name)


def test_createapikey_refuses_a_name_with_control_characters():
    with pytest.raises(CommandError) as raised:
        run("createapikey", "--name", TERMINAL_TRICK)
    assert str(raised.value) == (
        "--name: Use printable text only: '\\x1b' is not a printable character."
    )
    assert not APIKey.objects.exists()


def test_names_and_scopes_stored_before_the_rule_are_printed_escaped():
    api_key, _ = APIKey.objects.create_key(name="billing")
    # Older rows, or rows written with update(), may hold anything.
    APIKey.objects.filter(pk=api_key.pk).update(name=TERMINAL_TRICK, scopes=["red\x1b[31m"])
    escaped = 'billing\\x1b[2J\\rRevoked API key "billing" (abcd1234).'
    table, _ = run("listapikeys")
    listed_json, _ = run("listapikeys", "--json")
    with pytest.raises(CommandError) as rotation:
        run("rotateapikey", api_key.lookup_id)
    revoked, _ = run("revokeapikey", api_key.lookup_id)
    again, _ = run("revokeapikey", api_key.lookup_id)
    outputs = [table, listed_json, str(rotation.value), revoked, again]
    for output in outputs:
        assert "\x1b" not in output
        assert "\r" not in output
    assert escaped in table
    assert "red\\x1b[31m" in table
    assert json.loads(listed_json)[0]["name"] == TERMINAL_TRICK  # JSON escapes it
    assert revoked == f'Revoked API key "{escaped}" ({api_key.lookup_id}).\n'
    assert "This API key cannot be rotated as it is stored" in str(rotation.value)


def test_createapikey_requires_a_name():
    with pytest.raises(CommandError, match="--name"):
        run("createapikey")


def test_listapikeys_shows_state_but_never_secrets():
    active, active_key = APIKey.objects.create_key(name="active")
    revoked, revoked_key = APIKey.objects.create_key(name="gone")
    revoked.revoke()
    APIKey.objects.create_key(name="old", expiry_date=timezone.now())
    table, _ = run("listapikeys")
    assert active.lookup_id in table
    assert "revoked" in table
    assert "expired" in table
    rows = {row["name"]: row for row in json.loads(run("listapikeys", "--json")[0])}
    assert rows["active"]["status"] == "active"
    assert rows["gone"]["status"] == "revoked"
    assert rows["old"]["status"] == "expired"
    for output in (table, json.dumps(rows)):
        assert active_key not in output
        assert revoked_key not in output
        assert "sha256$" not in output


def test_listapikeys_shows_each_key_s_status_in_words():
    now = timezone.now()
    APIKey.objects.create_key(name="active")
    APIKey.objects.create_key(name="soon", expiry_date=now + timedelta(days=3))
    rotated, _ = APIKey.objects.create_key(name="rotated")
    rotated.rotate(grace=timedelta(days=1))
    rows = {row["lookup_id"]: row["status"] for row in json.loads(run("listapikeys", "--json")[0])}
    expected = {api_key.lookup_id: api_key.status for api_key in APIKey.objects.all()}
    assert rows == expected
    assert sorted(rows.values()) == ["active", "active", "expiring soon", "in grace"]
    table, _ = run("listapikeys")
    assert re.search(rf"^{rotated.lookup_id}  rotated +in grace  ", table, re.MULTILINE), table


def test_listapikeys_with_no_keys_says_how_to_make_one():
    assert "createapikey" in run("listapikeys")[0]
    assert json.loads(run("listapikeys", "--json")[0]) == []


def test_revokeapikey_revokes_for_good():
    api_key, key = APIKey.objects.create_key(name="partner")
    stdout, _ = run("revokeapikey", api_key.lookup_id)
    assert "Revoked" in stdout
    assert not APIKey.objects.is_valid(key)
    assert "already revoked" in run("revokeapikey", api_key.lookup_id)[0]


def test_revokeapikey_with_an_unknown_lookup_id_fails():
    with pytest.raises(CommandError, match="No API key has the lookup id"):
        run("revokeapikey", "nope")


def test_createapikey_grants_repeated_scopes_sorted_and_once_each():
    _, stderr = run(
        "createapikey", "--name", "orders", "--scope", "orders:write", "--scope", "orders:read"
    )
    run("createapikey", "--name", "again", "--scope", "a", "--scope", "a")
    assert APIKey.objects.get(name="orders").scopes == ["orders:read", "orders:write"]
    assert APIKey.objects.get(name="again").scopes == ["a"]
    assert "orders:read orders:write" in stderr


def test_createapikey_without_scopes_grants_none():
    run("createapikey", "--name", "plain")
    assert APIKey.objects.get().scopes == []


@pytest.mark.parametrize("scope", ["Orders", "orders read", "", "orders/read"])
def test_createapikey_refuses_a_malformed_scope(scope):
    with pytest.raises(CommandError, match="--scope: Not a valid scope"):
        run("createapikey", "--name", "orders", "--scope", "fine", "--scope", scope)
    assert not APIKey.objects.exists()


def test_listapikeys_shows_scopes_and_last_use():
    used, _ = APIKey.objects.create_key(name="used", scopes=["orders:read", "orders:write"])
    last_used = timezone.now() - timedelta(hours=3)
    APIKey.objects.filter(pk=used.pk).update(last_used_at=last_used)
    APIKey.objects.create_key(name="idle")
    rows = {row["name"]: row for row in json.loads(run("listapikeys", "--json")[0])}
    assert rows["used"]["scopes"] == ["orders:read", "orders:write"]
    assert rows["used"]["last_used"] == last_used.isoformat()
    assert rows["idle"]["scopes"] == []
    assert rows["idle"]["last_used"] is None
    child, _ = APIKey.objects.create_key(name="child", parent=used)
    rows = {row["name"]: row for row in json.loads(run("listapikeys", "--json")[0])}
    assert rows["child"]["parent"] == used.lookup_id
    assert rows["used"]["parent"] is None
    header, *lines = run("listapikeys")[0].splitlines()
    # Then the fields a project adds to its key model, if any.
    assert header.split()[:8] == [
        "lookup_id", "name", "status", "scopes", "created", "expires", "last_used", "parent"
    ]  # fmt: skip
    child_line = next(line for line in lines if line.startswith(child.lookup_id))
    assert child_line.split()[7] == used.lookup_id  # then a custom model's own fields, if any
    used_line = next(line for line in lines if line.startswith(used.lookup_id))
    assert "orders:read,orders:write" in used_line
    assert last_used.isoformat() in used_line


def test_rotateapikey_prints_the_new_key_alone_and_lets_the_old_one_expire():
    old, old_key = APIKey.objects.create_key(name="partner", scopes=["orders:read"])
    stdout, stderr = run("rotateapikey", old.lookup_id, "--grace", "12h")
    new_key = stdout.strip()
    new = APIKey.objects.get_from_key(new_key)
    assert new.rotated_from == old
    assert new.scopes == ["orders:read"]
    old.refresh_from_db()
    assert abs(old.expiry_date - (timezone.now() + timedelta(hours=12))) < timedelta(minutes=1)
    assert APIKey.objects.is_valid(old_key)
    assert new.lookup_id in stderr
    assert old.expiry_date.isoformat() in stderr
    assert new_key not in stderr


def test_rotateapikey_says_when_the_new_key_expires():
    stdout, _ = run("createapikey", "--name", "quarterly", "--expires", "90d")
    old = APIKey.objects.get_from_key(stdout.strip())
    stdout, stderr = run("rotateapikey", old.lookup_id)
    new = APIKey.objects.get_from_key(stdout.strip())
    expires = new.expiry_date.isoformat()
    assert f"the new key has lookup id {new.lookup_id} and expires {expires}" in stderr
    forever, _ = APIKey.objects.create_key(name="forever")
    stdout, stderr = run("rotateapikey", forever.lookup_id)
    new = APIKey.objects.get_from_key(stdout.strip())
    assert f"the new key has lookup id {new.lookup_id} and does not expire" in stderr


def test_rotating_again_after_revoking_the_successor_keeps_the_key_s_90_days():
    created, _ = run("createapikey", "--name", "ci", "--expires", "90d")
    old = APIKey.objects.get_from_key(created.strip())
    first, _ = run("rotateapikey", old.lookup_id, "--grace", "1h")
    run("revokeapikey", APIKey.objects.get_from_key(first.strip()).lookup_id)
    stdout, stderr = run("rotateapikey", old.lookup_id, "--grace", "0m")
    second = APIKey.objects.get_from_key(stdout.strip())
    assert abs(second.expiry_date - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    assert f"expires {second.expiry_date.isoformat()}" in stderr


def test_rotateapikey_gives_24_hours_of_grace_by_default():
    old, _ = APIKey.objects.create_key(name="partner")
    run("rotateapikey", old.lookup_id)
    old.refresh_from_db()
    assert abs(old.expiry_date - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)


def test_rotateapikey_with_no_grace_stops_the_old_key_now():
    old, old_key = APIKey.objects.create_key(name="partner")
    run("rotateapikey", old.lookup_id, "--grace", "0m")
    assert not APIKey.objects.is_valid(old_key)


def test_rotateapikey_refuses_a_revoked_key():
    old, _ = APIKey.objects.create_key(name="partner")
    old.revoke()
    with pytest.raises(CommandError, match="A revoked API key cannot be rotated"):
        run("rotateapikey", old.lookup_id)
    assert APIKey.objects.count() == 1


def test_rotateapikey_with_an_unknown_lookup_id_fails():
    with pytest.raises(CommandError, match="No API key has the lookup id"):
        run("rotateapikey", "nope")


@pytest.mark.parametrize("grace", ["soon", "-1h", "24", "-0.5h"])
def test_rotateapikey_refuses_a_bad_grace(grace):
    old, _ = APIKey.objects.create_key(name="partner")
    with pytest.raises(CommandError, match="--grace"):
        run("rotateapikey", old.lookup_id, "--grace", grace)
    assert APIKey.objects.count() == 1


# --model: every key command works on a custom key model too.


@pytest.fixture
def organization():
    return Organization.objects.create(name="Acme")


def test_createapikey_makes_a_key_of_a_custom_model_for_its_owner(organization):
    stdout, stderr = run(
        "createapikey",
        "--model",
        CUSTOM_MODEL,
        "--name",
        "acme-backend",
        "--field",
        f"organization={organization.pk}",
        "--scope",
        "orders:read",
    )
    api_key = OrganizationAPIKey.objects.get_from_key(stdout.strip())
    assert api_key.organization == organization
    assert api_key.scopes == ["orders:read"]
    assert api_key.lookup_id in stderr
    assert not APIKey.objects.exists()


def test_createapikey_sets_a_key_s_own_throttle_rate_with_field():
    run("createapikey", "--name", "slow", "--field", "throttle_rate=3/min")
    assert APIKey.objects.get().throttle_rate == "3/min"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("shop.Order", "--model shop.Order: no installed model has that name"),
        ("APIKey", "--model APIKey: no installed model has that name"),
        ("auth.User", "--model auth.User: auth.User is not an API key model"),
        ("organizations.Organization", "is not an API key model"),
    ],
)
@pytest.mark.parametrize("command", ["createapikey", "listapikeys", "revokeapikey", "rotateapikey"])
def test_every_command_refuses_a_model_that_is_not_a_key_model(command, model, message):
    if model == "organizations.Organization":
        model = Organization._meta.label
    arguments = {"createapikey": ["--name", "x"], "listapikeys": []}.get(command, ["someid"])
    with pytest.raises(CommandError, match=message):
        run(command, "--model", model, *arguments)
    assert not APIKey.objects.exists()
    assert not OrganizationAPIKey.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([], f"{CUSTOM_MODEL} keys need --field organization=VALUE (the id of an existing "),
        (["organization=999999"], "--field organization: organization instance with id 999999"),
        (["organization=acme"], "--field organization: “acme” value must be an integer."),
        (["organization="], "--field organization: This field cannot be null."),
        (["colour=blue"], "--field colour: " + CUSTOM_MODEL + " has no field of that name that"),
        (["revoked=true"], "--field revoked: "),
        (["organization={pk}", "organization={pk}"], "--field organization is given twice."),
        (["organization={pk}", "throttle_rate=fast"], "--field throttle_rate: 'fast' is not a"),
        (["organization"], "--field: 'organization' is not NAME=VALUE"),
        (["=3"], "--field: '=3' is not NAME=VALUE"),
    ],
)
def test_createapikey_refuses_bad_fields_with_one_sentence_and_saves_nothing(
    organization, fields, message
):
    options = [f"--field={field.format(pk=organization.pk)}" for field in fields]
    with pytest.raises(CommandError) as raised:
        run("createapikey", "--model", CUSTOM_MODEL, "--name", "acme", *options)
    assert message in str(raised.value)
    assert "\\n" not in str(raised.value)
    assert not OrganizationAPIKey.objects.exists()
    assert not APIKey.objects.exists()


def test_the_default_model_takes_no_owner_field():
    with pytest.raises(CommandError, match=r"--field organization: api_keys\.APIKey has no field"):
        run("createapikey", "--name", "x", "--field", "organization=1")
    assert not APIKey.objects.exists()


def test_listapikeys_shows_a_custom_model_s_keys_and_their_owner(organization):
    api_key, key = OrganizationAPIKey.objects.create_key(name="acme", organization=organization)
    APIKey.objects.create_key(name="plain")
    table, _ = run("listapikeys", "--model", CUSTOM_MODEL)
    header, line = table.splitlines()
    assert header.split()[-1] == "organization"
    assert line.startswith(api_key.lookup_id)
    assert line.endswith(f"  Acme ({organization.pk})")  # the owner's str() and id
    assert "plain" not in table
    (row,) = json.loads(run("listapikeys", "--model", CUSTOM_MODEL, "--json")[0])
    assert row["organization_id"] == str(organization.pk)  # as --field organization=ID takes it
    assert row["organization"] == "Acme"
    assert key not in table + json.dumps(row)


def test_listapikeys_of_a_custom_model_with_no_keys_says_how_to_make_one():
    stdout, _ = run("listapikeys", "--model", CUSTOM_MODEL)
    assert f"createapikey --model {CUSTOM_MODEL} --name NAME" in stdout


def test_revokeapikey_revokes_a_custom_model_s_key(organization):
    api_key, key = OrganizationAPIKey.objects.create_key(name="acme", organization=organization)
    assert "Revoked" in run("revokeapikey", "--model", CUSTOM_MODEL, api_key.lookup_id)[0]
    assert not OrganizationAPIKey.objects.is_valid(key)


def test_a_lookup_id_of_another_key_model_is_named_with_the_option_that_finds_it(organization):
    api_key, key = OrganizationAPIKey.objects.create_key(name="acme", organization=organization)
    for command in ("revokeapikey", "rotateapikey"):
        with pytest.raises(CommandError) as raised:
            run(command, api_key.lookup_id)
        assert str(raised.value) == (
            f"No key of api_keys.APIKey has the lookup id {api_key.lookup_id!r}; it is a key of "
            f"{CUSTOM_MODEL}: add --model {CUSTOM_MODEL}."
        )
    assert OrganizationAPIKey.objects.is_valid(key)
    assert OrganizationAPIKey.objects.count() == 1


def test_rotateapikey_gives_a_custom_model_s_new_key_the_same_owner(organization):
    old, old_key = OrganizationAPIKey.objects.create_key(name="acme", organization=organization)
    stdout, _ = run("rotateapikey", "--model", CUSTOM_MODEL, old.lookup_id, "--grace", "0m")
    new = OrganizationAPIKey.objects.get_from_key(stdout.strip())
    assert new.organization == organization
    assert new.rotated_from == old
    assert not OrganizationAPIKey.objects.is_valid(old_key)


# The database cannot do the job: one sentence, nothing changed, no traceback. These run
# manage.py as a shell does, on a SQLite file of their own.


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory):
    """A migrated SQLite file, made once; tests work on copies."""
    path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
    migrate_sqlite(path)
    return path


@pytest.mark.parametrize(
    "arguments",
    [
        ["createapikey", "--name", "billing"],
        ["revokeapikey", "abcdefghijkl"],
        ["listapikeys"],
    ],
)
def test_a_command_on_an_unmigrated_database_says_to_migrate(tmp_path, arguments):
    database = tmp_path / "db.sqlite3"
    result = manage_py(*arguments, DATABASE_URL=sqlite_url(database))
    assert_one_sentence(
        result,
        "CommandError: The database is not migrated (",
        "run `python manage.py migrate` first; nothing was changed.",
    )
    assert result.stdout == ""


REFUSAL_TRIGGER = (
    "CREATE TRIGGER refuse_{0} BEFORE {0} ON api_keys_apikey "
    "BEGIN SELECT RAISE(ABORT, 'changes to keys are suspended'); END"
)


def sqlite_rows(database, query):
    with closing(sqlite3.connect(database)) as connection, connection:
        return connection.execute(query).fetchall()


def test_createapikey_refused_by_the_database_prints_no_key_and_saves_nothing(
    tmp_path, migrated_database
):
    database = tmp_path / "db.sqlite3"
    url = copy_database(migrated_database, database)
    sqlite_rows(database, REFUSAL_TRIGGER.format("INSERT"))
    result = manage_py("createapikey", "--name", "billing", DATABASE_URL=url)
    assert_one_sentence(
        result,
        "CommandError: The database refused the command (changes to keys are suspended); "
        "nothing was changed.",
    )
    assert result.stdout == ""
    assert sqlite_rows(database, "SELECT * FROM api_keys_apikey") == []


def test_revokeapikey_refused_by_the_database_says_so_and_the_key_still_works(
    tmp_path, migrated_database
):
    database = tmp_path / "db.sqlite3"
    url = copy_database(migrated_database, database)
    created = manage_py("createapikey", "--name", "billing", DATABASE_URL=url)
    lookup_id = created.stdout.split("_")[1]
    sqlite_rows(database, REFUSAL_TRIGGER.format("UPDATE"))
    result = manage_py("revokeapikey", lookup_id, DATABASE_URL=url)
    assert_one_sentence(result, "The database refused the command (changes to keys are suspended)")
    assert sqlite_rows(database, "SELECT revoked FROM api_keys_apikey") == [(0,)]
