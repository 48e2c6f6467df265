"""The model and manager API that djangorestframework-api-key users rely on."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import APIKey
from ..verification import Verdict, verify_key

pytestmark = pytest.mark.django_db


def test_create_key_returns_object_and_key_and_stores_only_a_hash():
    api_key, key = APIKey.objects.create_key(name="billing")
    stored = APIKey.objects.get(pk=api_key.pk)
    assert stored.name == "billing"
    assert key.split("_")[1] == stored.lookup_id
    assert key not in stored.hashed_key
    assert stored.hashed_key.startswith("sha256$")


def test_create_key_ignores_a_given_id():
    api_key, _ = APIKey.objects.create_key(id=12345, name="billing")
    assert api_key.pk != 12345


NO_NAME = "An API key needs a name, saying who or what uses it."


@pytest.mark.parametrize("name", ["", "   ", None])
def test_the_database_refuses_a_key_without_a_name(name):
    with pytest.raises(IntegrityError), transaction.atomic():
        APIKey.objects.create_key(name=name)
    with pytest.raises(IntegrityError), transaction.atomic():
        APIKey.objects.create()  # as in djangorestframework-api-key
    assert not APIKey.objects.exists()


def test_validation_says_why_a_key_needs_a_name():
    with pytest.raises(ValidationError) as raised:
        APIKey(name="  ", lookup_id="Abcd1234", hashed_key="sha256$0").full_clean()
    assert NO_NAME in raised.value.messages


def test_a_key_cannot_be_renamed_to_nothing():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.name = " "
    for update_fields in (None, ["name"]):
        with pytest.raises(IntegrityError), transaction.atomic():
            api_key.save(update_fields=update_fields)
    assert APIKey.objects.get(pk=api_key.pk).name == "billing"


NOT_PRINTABLE = "Use printable text only: '\\x1b' is not a printable character."
# An escape sequence that clears a terminal, a carriage return, and a line that looks real.
TERMINAL_TRICK = 'billing\x1b[2J\rRevoked API key "billing" (abcd1234).'


def test_a_name_with_control_characters_is_refused_however_the_key_is_saved():
    with pytest.raises(ValidationError) as raised:
        APIKey.objects.create_key(name=TERMINAL_TRICK)
    assert raised.value.message_dict == {"name": [NOT_PRINTABLE]}
    with pytest.raises(ValidationError) as raised:
        APIKey(name=TERMINAL_TRICK, lookup_id="Abcd1234", hashed_key="sha256$0").full_clean()
    assert raised.value.message_dict == {"name": [NOT_PRINTABLE]}
    api_key, _ = APIKey.objects.create_key(name="billing")
    for name in ("line\nbreak", "tab\there", "right-to-left\u202eoverride", "no\xa0break"):
        api_key.name = name
        for update_fields in (None, ["name"]):
            with pytest.raises(ValidationError, match="Use printable text only"):
                api_key.save(update_fields=update_fields)
    assert APIKey.objects.get(pk=api_key.pk).name == "billing"
    assert APIKey.objects.count() == 1


def test_printable_names_in_any_script_are_kept():
    for name in ("Zürich façade ✓", "東京 billing", "a \\x1b b"):
        api_key, _ = APIKey.objects.create_key(name=name)
        api_key.full_clean()
        assert APIKey.objects.get(pk=api_key.pk).name == name


def test_a_key_saved_with_a_control_character_before_the_rule_can_still_be_revoked():
    api_key, key = APIKey.objects.create_key(name="billing")
    APIKey.objects.filter(pk=api_key.pk).update(name=TERMINAL_TRICK)  # an older row
    api_key.refresh_from_db()
    api_key.revoke()
    assert not APIKey.objects.is_valid(key)


def test_a_key_s_status_says_in_one_word_whether_and_how_it_works():
    now = timezone.now()
    APIKey.objects.create_key(name="active")
    APIKey.objects.create_key(name="later", expiry_date=now + timedelta(days=8))
    APIKey.objects.create_key(name="soon", expiry_date=now + timedelta(days=6))
    APIKey.objects.create_key(name="expired", expiry_date=now)
    revoked, _ = APIKey.objects.create_key(name="revoked", expiry_date=now)
    revoked.revoke()
    rotated, _ = APIKey.objects.create_key(name="rotated")
    successor, _ = rotated.rotate(grace=timedelta(hours=1))
    statuses = {api_key.name: api_key.status for api_key in APIKey.objects.all()}
    assert statuses == {
        "active": "active",
        "later": "active",
        "soon": "expiring soon",
        "expired": "expired",
        "revoked": "revoked",
        "rotated": "in grace",  # not "expiring soon": it is being replaced
    }
    assert successor.status == "active"


def test_is_valid_and_get_from_key():
    api_key, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)
    assert APIKey.objects.get_from_key(key) == api_key
    assert api_key.is_valid(key)


def test_unknown_and_wrong_keys_are_not_valid():
    api_key, _ = APIKey.objects.create_key(name="billing")
    other, other_key = APIKey.objects.create_key(name="other")
    other.delete()
    assert not APIKey.objects.is_valid(other_key)
    assert not APIKey.objects.is_valid("garbage")
    assert not api_key.is_valid(other_key)
    with pytest.raises(APIKey.DoesNotExist):
        APIKey.objects.get_from_key(other_key)


def test_revoked_key_is_not_valid():
    api_key, key = APIKey.objects.create_key(name="billing")
    api_key.revoke()
    assert not APIKey.objects.is_valid(key)
    with pytest.raises(APIKey.DoesNotExist):
        APIKey.objects.get_from_key(key)


def test_revocation_cannot_be_undone():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.revoke()
    reloaded = APIKey.objects.get(pk=api_key.pk)
    reloaded.revoked = False
    with pytest.raises(ValidationError):
        reloaded.save()
    with pytest.raises(ValidationError):
        reloaded.clean()
    assert APIKey.objects.get(pk=api_key.pk).revoked


def test_a_copy_loaded_before_the_revocation_cannot_undo_it():
    api_key, key = APIKey.objects.create_key(name="billing")
    stale = APIKey.objects.get(pk=api_key.pk)
    api_key.revoke()
    stale.name = "renamed"
    with pytest.raises(ValidationError):
        stale.save()
    assert not APIKey.objects.is_valid(key)


def test_expired_key_is_not_valid_but_still_found():
    api_key, key = APIKey.objects.create_key(
        name="billing", expiry_date=timezone.now() - timedelta(seconds=1)
    )
    assert api_key.has_expired
    assert not APIKey.objects.is_valid(key)
    assert APIKey.objects.get_from_key(key) == api_key


def test_key_with_future_expiry_is_valid():
    api_key, key = APIKey.objects.create_key(
        name="billing", expiry_date=timezone.now() + timedelta(days=1)
    )
    assert not api_key.has_expired
    assert APIKey.objects.is_valid(key)


def test_get_usable_keys_can_be_narrowed_by_a_subclass():
    class NamedOnlyManager(type(APIKey.objects)):  # type: ignore[misc]
        def get_usable_keys(self):
            return super().get_usable_keys().filter(name="allowed")

    manager = NamedOnlyManager()
    manager.model = APIKey
    _, allowed = APIKey.objects.create_key(name="allowed")
    _, refused = APIKey.objects.create_key(name="refused")
    assert manager.is_valid(allowed)
    assert not manager.is_valid(refused)


def test_one_query_to_verify_a_key(django_assert_num_queries):
    _, key = APIKey.objects.create_key(name="billing")
    with django_assert_num_queries(1):
        assert APIKey.objects.is_valid(key)


def test_the_verdict_says_why_a_key_is_refused():
    api_key, key = APIKey.objects.create_key(name="checked")
    assert verify_key(APIKey.objects, key) == Verdict("accepted", "", api_key)
    unknown = APIKey.objects.key_generator.generate()[0]
    assert verify_key(APIKey.objects, unknown) == Verdict("invalid_api_key", "Invalid API key.")
    assert verify_key(APIKey.objects, key[:-1]).code == "malformed_api_key"
    assert verify_key(APIKey.objects, "").code == "malformed_api_key"
    api_key.expiry_date = timezone.now()
    api_key.save()
    expired = Verdict("expired_api_key", "API key has expired.", api_key)
    assert verify_key(APIKey.objects, key) == expired


def test_a_parsed_key_shows_no_secret():
    key = APIKey.objects.key_generator.generate()[0]
    parsed = APIKey.objects.key_generator.parse(key)
    assert parsed.lookup_id in repr(parsed)
    assert parsed.secret not in repr(parsed)


def test_malformed_key_costs_no_query(django_assert_num_queries):
    _, key = APIKey.objects.create_key(name="billing")
    with django_assert_num_queries(0):
        assert not APIKey.objects.is_valid(key[:-1] + ("A" if key[-1] != "A" else "B"))
