"""findapikeys: this project's keys found in files or standard input, shown by lookup id only,
and revoked with --revoke."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ..keys import CHECKSUM_LENGTH, KeyGenerator
from ..models import APIKey, KeyEvent

pytestmark = pytest.mark.django_db


def run(*args, stdin=""):
    stdout = StringIO()
    call_command("findapikeys", *args, stdout=stdout, stdin=StringIO(stdin))
    return stdout.getvalue()


@pytest.fixture
def leaked(tmp_path):
    """A log holding a live key, a revoked one, an unknown one and a bad checksum."""
    live, live_key = APIKey.objects.create_key(name="billing")
    revoked, revoked_key = APIKey.objects.create_key(name="old")
    revoked.revoke()
    unknown_key = KeyGenerator().generate()[0]
    bad_checksum = live_key[:-CHECKSUM_LENGTH] + "zzzzzz"
    log = tmp_path / "app.log"
    log.write_text(
        f"started\nAuthorization: Api-Key {live_key}\nkey={revoked_key}, {unknown_key}\n"
        f"typo: {bad_checksum}\n"
    )
    keys = [live_key, revoked_key]
    return {
        "live": live,
        "revoked": revoked,
        "log": log,
        "keys": keys,
        "unknown": unknown_key,
        "bad": bad_checksum,
    }


def lines_of(output):
    return [line for line in output.splitlines() if line]


def test_keys_in_a_file_are_listed_with_their_state_never_whole(leaked):
    stdout = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("findapikeys", str(leaked["log"]), stdout=stdout)
    assert refused.value.returncode == 1
    assert "1 live key(s) found" in str(refused.value)
    brand, log = KeyGenerator().brand, leaked["log"]
    unknown_lookup_id = leaked["unknown"].split("_")[1]
    assert lines_of(stdout.getvalue()) == [
        f'{log}:2: {brand}_{leaked["live"].lookup_id}_… live (API key "billing")',
        f'{log}:3: {brand}_{leaked["revoked"].lookup_id}_… revoked (API key "old")',
        f"{log}:3: {brand}_{unknown_lookup_id}_… unknown",
        "3 key(s) found: 1 live, 1 revoked or expired, 1 unknown.",
    ]
    for key in [*leaked["keys"], leaked["unknown"], leaked["bad"]]:
        assert key not in stdout.getvalue()
        assert key not in str(refused.value)
    leaked["live"].refresh_from_db()
    assert not leaked["live"].revoked


def test_revoke_revokes_the_live_keys_as_a_leak_report(leaked):
    output = run("--revoke", str(leaked["log"]))
    live = leaked["live"]
    assert f'Revoked API key "billing" ({live.lookup_id}).' in output
    live.refresh_from_db()
    assert live.revoked
    [event] = KeyEvent.objects.filter(lookup_id=live.lookup_id, action="revoked")
    assert (event.reason, event.actor_kind, event.actor_name) == (
        "leak_report",
        "command",
        "findapikeys",
    )
    # Run again: nothing left to revoke, and no second event.
    assert "Revoked" not in run("--revoke", str(leaked["log"]))
    assert KeyEvent.objects.filter(lookup_id=live.lookup_id, action="revoked").count() == 1


def test_standard_input_is_read_for_a_dash(leaked):
    text = leaked["log"].read_text()
    with pytest.raises(CommandError):
        run("-", stdin=text)
    output = run("--revoke", "-", stdin=text)
    assert output.startswith(f"-:2: {KeyGenerator().brand}_{leaked['live'].lookup_id}_… live")
    leaked["live"].refresh_from_db()
    assert leaked["live"].revoked


def test_a_string_with_a_wrong_checksum_is_not_reported(leaked, tmp_path):
    typo = tmp_path / "typo.txt"
    typo.write_text(f"{leaked['bad']}\n{leaked['keys'][0]}x\nx{leaked['keys'][0]}\n")
    assert run(str(typo)) == "No API key of this project found.\n"


def test_an_unreadable_file_is_one_sentence_and_changes_nothing(leaked, tmp_path):
    missing = tmp_path / "missing.log"
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.log: No such file") as error:
        run("--revoke", str(leaked["log"]), str(missing))
    assert error.value.returncode == 2
    assert str(error.value).endswith("nothing was changed.")
    leaked["live"].refresh_from_db()
    assert not leaked["live"].revoked


def test_no_file_named_is_an_error():
    with pytest.raises(CommandError, match="Name a file"):
        run()


def test_pattern_prints_the_expression_keys_match(leaked):
    patterns = run("--pattern").split()  # one per key format: a project may have more
    pattern = KeyGenerator().key_pattern()
    assert pattern in patterns
    found = re.findall(pattern, leaked["log"].read_text())
    assert found[:2] == leaked["keys"]
