"""The admin's second factor (admin_site.py): with ADMIN_TWO_FACTOR on, as in production, a
password alone reaches no admin page; a code from the person's authenticator app does."""

import hashlib
import hmac
import re
import struct
import time
from base64 import b32decode, b32encode
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..admin_site import PENDING_SECONDS
from ..models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unusual passphrase"
KEYS_PAGE = "/admin/api_keys/apikey/"


def totp(secret: str, step: int) -> str:
    """The six-digit code of RFC 6238 (SHA-1, 30 s steps) for time step `step`: what an
    authenticator app computes, written out here rather than taken from the library tested."""
    digest = hmac.new(b32decode(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def now_step() -> int:
    return int(time.time()) // 30


@pytest.fixture(autouse=True)
def _two_factor_on(settings):
    settings.ADMIN_TWO_FACTOR = True


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser("ada", "ada@example.com", PASSWORD)


def give_password(client: Client, following: str = "/admin/") -> str:
    """Sign in's first step; the URL it sends the browser to."""
    answer = client.post(
        f"/admin/login/?next={following}", {"username": "ada", "password": PASSWORD}
    )
    assert answer.status_code == 302, answer.content
    return answer["Location"]


def set_up_device(client: Client) -> str:
    """Both steps for a person without a device: the secret the page shows, once confirmed."""
    page = client.get(give_password(client))
    assert page.status_code == 200
    shown = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.content.decode())
    assert shown, page.content.decode()
    secret = shown[1]
    assert 'src="data:image/svg+xml' in page.content.decode()  # the QR code
    answer = client.post("/admin/two-factor/?next=/admin/", {"code": totp(secret, now_step())})
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/"
    return secret


def test_a_password_alone_reaches_no_admin_page(client, staff):
    url = give_password(client, KEYS_PAGE)
    assert url.startswith("/admin/two-factor/")
    assert "_auth_user_id" not in client.session  # nobody is logged in yet
    for page in (KEYS_PAGE, "/admin/", f"{KEYS_PAGE}add/"):
        answer = client.get(page)
        assert answer.status_code == 302, page
        assert answer["Location"].startswith("/admin/login/"), page


def test_a_person_without_a_device_sets_one_up_then_reaches_the_key_pages(client, staff):
    set_up_device(client)
    assert TOTPDevice.objects.get(user=staff).confirmed
    assert client.get(KEYS_PAGE).status_code == 200
    assert client.get(f"{KEYS_PAGE}add/").status_code == 200


def test_the_next_sign_in_asks_for_a_code_and_accepts_only_a_right_one(client, staff):
    secret = set_up_device(client)
    client.logout()

    fresh = Client()
    page = fresh.get(give_password(fresh, KEYS_PAGE))
    assert "totp-secret" not in page.content.decode()  # no second setup, no secret shown
    wrong = fresh.post(f"/admin/two-factor/?next={KEYS_PAGE}", {"code": "000000"})
    assert wrong.status_code == 200
    assert "not right" in wrong.content.decode()
    assert fresh.get(KEYS_PAGE).status_code == 302

    # After a wrong code, the device waits a second before it checks another.
    time.sleep(1.1)
    # The code of the next step: the one used to set up the device is spent.
    code = totp(secret, now_step() + 1)
    right = fresh.post(f"/admin/two-factor/?next={KEYS_PAGE}", {"code": code})
    assert right.status_code == 302
    assert right["Location"] == KEYS_PAGE
    assert fresh.get(KEYS_PAGE).status_code == 200


def test_a_code_is_good_once(client, staff):
    secret = set_up_device(client)
    client.logout()
    code = totp(secret, now_step() + 1)
    first, second = Client(), Client()
    give_password(first)
    give_password(second)
    assert first.post("/admin/two-factor/", {"code": code}).status_code == 302
    replay = second.post("/admin/two-factor/", {"code": code})
    assert replay.status_code == 200
    assert second.get(KEYS_PAGE).status_code == 302


def test_the_code_step_needs_a_recent_password(client, staff, monkeypatch):
    secret = set_up_device(client)
    client.logout()
    give_password(client)
    later = time.time() + PENDING_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    answer = client.post("/admin/two-factor/", {"code": totp(secret, int(later) // 30)})
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/login/"
    assert "_auth_user_id" not in client.session


def test_the_code_step_without_a_password_goes_back_to_the_login(client, staff):
    answer = client.get("/admin/two-factor/")
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/login/"


def test_a_wrong_password_never_reaches_the_code_step(client, staff):
    answer = client.post("/admin/login/", {"username": "ada", "password": "not it"})
    assert answer.status_code == 200
    assert "two_factor_pending" not in client.session


def test_the_code_step_leads_only_to_this_site(client, staff):
    secret = set_up_device(client)
    client.logout()
    give_password(client, "https://elsewhere.example/")
    answer = client.post(
        "/admin/two-factor/?next=https://elsewhere.example/", {"code": totp(secret, now_step() + 1)}
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/"


def test_resettwofactor_lets_a_person_who_lost_their_device_set_up_another(client, staff):
    set_up_device(client)
    client.logout()
    output = StringIO()
    call_command("resettwofactor", "ada", stdout=output)
    assert "Removed 1 second-factor device(s) of ada" in output.getvalue()
    assert not TOTPDevice.objects.filter(user=staff).exists()
    page = client.get(give_password(client))
    assert "totp-secret" in page.content.decode()


def test_resettwofactor_says_when_there_is_nothing_to_remove(staff):
    output = StringIO()
    call_command("resettwofactor", "ada", stdout=output)
    assert output.getvalue() == "ada has no second-factor device: nothing to remove.\n"


def test_resettwofactor_names_an_unknown_user_in_a_sentence():
    with pytest.raises(CommandError, match="No user is named 'nobody'"):
        call_command("resettwofactor", "nobody")


def test_development_settings_leave_the_second_factor_off(client, staff, settings):
    settings.ADMIN_TWO_FACTOR = False
    assert client.login(username="ada", password=PASSWORD)
    assert client.get(KEYS_PAGE).status_code == 200


def test_passwords_are_stored_with_argon2(settings):
    from config.settings import base

    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS
    user = User.objects.create_user("grace", password=PASSWORD)
    assert user.password.startswith("argon2$")
    assert user.check_password(PASSWORD)


def test_a_secret_seen_before_the_owner_set_up_is_worth_nothing(staff):
    """Someone who once knew the password looked at the setup page; the owner's device has a
    secret of its own."""
    onlooker = Client()
    page = onlooker.get(give_password(onlooker))
    seen = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.content.decode())
    assert seen
    owner = Client()
    secret = set_up_device(owner)
    assert secret != seen[1]
    give_password(onlooker)
    answer = onlooker.post("/admin/two-factor/", {"code": totp(seen[1], now_step() + 1)})
    assert answer.status_code == 200
    assert onlooker.get(KEYS_PAGE).status_code == 302
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_a_password_change_ends_a_first_step_taken_with_the_old_one(client, staff):
    secret = set_up_device(client)
    client.logout()
    give_password(client)
    staff.set_password("another long passphrase")
    staff.save()
    answer = client.post("/admin/two-factor/", {"code": totp(secret, now_step() + 1)})
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/login/"
    assert client.get(KEYS_PAGE).status_code == 302


def test_cancel_forgets_the_first_step(client, staff):
    give_password(client)
    answer = client.post("/admin/two-factor/", {"cancel": "Cancel"})
    assert answer["Location"] == "/admin/login/"
    assert "two_factor_pending" not in client.session
    assert client.get("/admin/two-factor/")["Location"] == "/admin/login/"


@pytest.mark.parametrize(
    "note",
    [{"user": 1}, "x", [1, 2], 7, {"user": "x", "since": "now", "backend": 1, "password": 2}],
    ids=["partial", "text", "list", "number", "wrong-types"],
)
def test_a_note_of_another_shape_sends_back_to_the_login_not_to_an_error(client, staff, note):
    session = client.session
    session["two_factor_pending"] = note
    session.save()
    answer = client.post("/admin/two-factor/", {"code": "123456"})
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/login/"


def test_a_wrong_code_after_a_right_password_is_logged(client, staff, caplog):
    set_up_device(client)
    client.logout()
    give_password(client)
    client.post("/admin/two-factor/", {"code": "000000"})
    assert "A wrong second-factor code for ada, after a right password" in caplog.text
    assert "000000" not in caplog.text


def test_any_confirmed_device_of_the_person_is_taken(client, staff):
    set_up_device(client)
    client.logout()
    backup = TOTPDevice.objects.create(user=staff, name="Backup", confirmed=True)
    give_password(client)
    code = totp(b32encode(backup.bin_key).decode(), now_step())
    assert client.post("/admin/two-factor/", {"code": code})["Location"] == "/admin/"


def test_the_device_pages_of_the_admin_never_show_a_secret(client, staff):
    set_up_device(client)
    device = TOTPDevice.objects.get(user=staff)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
    assert client.get("/admin/otp_totp/totpdevice/999999/config/").status_code == 403
