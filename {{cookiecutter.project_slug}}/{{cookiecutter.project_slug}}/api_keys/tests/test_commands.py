"""createapikey, listapikeys and revokeapikey, as an operator runs them."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ..models import APIKey

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize("expires", ["soon", "2001-01-01", "-5d", "12x"])
def test_createapikey_refuses_a_bad_expiry(expires):
    with pytest.raises(CommandError, match="expires"):
        run("createapikey", "--name", "temp", "--expires", expires)
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_createapikey_refuses_a_bad_name(name):
    with pytest.raises(CommandError, match="--name"):
        run("createapikey", "--name", name)


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
    header, *lines = run("listapikeys")[0].splitlines()
    assert header.split() == [
        "lookup_id", "name", "status", "scopes", "created", "expires", "last_used"
    ]  # fmt: skip
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


@pytest.mark.parametrize("grace", ["soon", "-1h", "24"])
def test_rotateapikey_refuses_a_bad_grace(grace):
    old, _ = APIKey.objects.create_key(name="partner")
    with pytest.raises(CommandError, match="--grace"):
        run("rotateapikey", old.lookup_id, "--grace", grace)
    assert APIKey.objects.count() == 1
