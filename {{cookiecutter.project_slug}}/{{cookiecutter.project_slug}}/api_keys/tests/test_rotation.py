"""Rotation: a new key replaces an old one, which keeps working for a grace period."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from ..models import APIKey

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"


def status_with(api_client, key):
    return api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {key}").status_code


def test_rotation_issues_a_key_with_the_same_name_scopes_and_rate(api_client):
    old, old_key = APIKey.objects.create_key(
        name="billing", scopes=["orders:read"], throttle_rate="10/min"
    )
    new, new_key = old.rotate(grace=timedelta(hours=1))
    stored = APIKey.objects.get(pk=new.pk)
    assert (stored.name, stored.scopes, stored.throttle_rate) == (
        "billing",
        ["orders:read"],
        "10/min",
    )
    assert stored.rotated_from == old
    assert list(old.rotated_to.all()) == [stored]
    assert new_key != old_key
    assert stored.lookup_id != old.lookup_id
    assert stored.expiry_date is None
    assert not stored.revoked
    assert api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {new_key}").json()["lookup_id"] == (
        stored.lookup_id
    )


def test_old_key_works_through_the_grace_period_then_gets_401(api_client):
    old, old_key = APIKey.objects.create_key(name="billing")
    _, new_key = old.rotate(grace=timedelta(hours=24))
    ends = APIKey.objects.get(pk=old.pk).expiry_date
    assert abs(ends - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
    assert status_with(api_client, old_key) == 200
    with mock.patch("django.utils.timezone.now", return_value=ends + timedelta(seconds=1)):
        response = api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {old_key}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "expired_api_key"
        assert status_with(api_client, new_key) == 200


def test_no_grace_stops_the_old_key_at_once(api_client):
    old, old_key = APIKey.objects.create_key(name="billing")
    _, new_key = old.rotate(grace=timedelta(0))
    assert status_with(api_client, old_key) == 401
    assert status_with(api_client, new_key) == 200


def test_an_earlier_expiry_of_the_old_key_is_kept():
    soon = timezone.now() + timedelta(hours=1)
    old, _ = APIKey.objects.create_key(name="billing", expiry_date=soon)
    old.rotate(grace=timedelta(days=7))
    assert APIKey.objects.get(pk=old.pk).expiry_date == soon
    assert old.expiry_date == soon


def test_a_later_expiry_of_the_old_key_is_brought_forward():
    old, _ = APIKey.objects.create_key(
        name="billing", expiry_date=timezone.now() + timedelta(days=90)
    )
    old.rotate(grace=timedelta(hours=1))
    ends = APIKey.objects.get(pk=old.pk).expiry_date
    assert ends < timezone.now() + timedelta(hours=2)
    assert old.expiry_date == ends


def test_a_revoked_key_cannot_be_rotated():
    old, _ = APIKey.objects.create_key(name="billing")
    old.revoke()
    with pytest.raises(ValueError, match="A revoked API key cannot be rotated"):
        old.rotate(grace=timedelta(hours=1))
    assert APIKey.objects.count() == 1


def test_a_key_revoked_after_it_was_loaded_cannot_be_rotated():
    old, _ = APIKey.objects.create_key(name="billing")
    stale = APIKey.objects.get(pk=old.pk)
    old.revoke()
    with pytest.raises(ValueError, match="revoked"):
        stale.rotate(grace=timedelta(hours=1))
    assert APIKey.objects.count() == 1


def test_a_negative_grace_is_refused():
    old, _ = APIKey.objects.create_key(name="billing")
    with pytest.raises(ValueError, match="grace"):
        old.rotate(grace=timedelta(hours=-1))
    assert APIKey.objects.count() == 1


def test_a_rotation_that_fails_half_way_leaves_no_new_key():
    old, old_key = APIKey.objects.create_key(name="billing")
    save = APIKey.save

    def fail_on_the_expiry_update(self, *args, **kwargs):
        if kwargs.get("update_fields") == ["expiry_date"]:
            raise RuntimeError("database went away")
        save(self, *args, **kwargs)

    with (
        mock.patch.object(APIKey, "save", fail_on_the_expiry_update),
        pytest.raises(RuntimeError),
    ):
        old.rotate(grace=timedelta(hours=1))
    assert list(APIKey.objects.all()) == [old]
    assert APIKey.objects.get(pk=old.pk).expiry_date is None
    assert APIKey.objects.is_valid(old_key)


def test_a_key_with_a_live_successor_cannot_be_rotated_again():
    old, _ = APIKey.objects.create_key(name="billing")
    first, _ = old.rotate(grace=timedelta(days=1))
    with pytest.raises(ValueError, match="rotated already"):
        old.rotate(grace=timedelta(days=1))
    assert list(old.rotated_to.all()) == [first]
    second, _ = first.rotate(grace=timedelta(days=1))  # the successor can be rotated
    assert second.rotated_from == first


def test_a_key_whose_successor_was_revoked_can_be_rotated_again():
    old, _ = APIKey.objects.create_key(name="billing")
    first, _ = old.rotate(grace=timedelta(days=1))
    first.revoke()
    second, _ = old.rotate(grace=timedelta(days=1))
    assert set(old.rotated_to.all()) == {first, second}


def test_an_expired_key_cannot_be_rotated():
    old, _ = APIKey.objects.create_key(name="billing")
    old.rotate(grace=timedelta(0))  # expired at once
    old.refresh_from_db()
    with pytest.raises(ValueError, match="expired API key cannot be rotated"):
        old.rotate(grace=timedelta(days=1))
    past, _ = APIKey.objects.create_key(
        name="past", expiry_date=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ValueError, match="expired API key cannot be rotated"):
        past.rotate(grace=timedelta(days=1))
    assert APIKey.objects.count() == 3


def test_the_successor_keeps_the_old_key_s_lifetime():
    old, _ = APIKey.objects.create_key(name="quarterly")
    APIKey.objects.filter(pk=old.pk).update(
        created=timezone.now() - timedelta(days=80), expiry_date=timezone.now() + timedelta(days=10)
    )
    old.refresh_from_db()
    before = timezone.now()
    new, _ = old.rotate(grace=timedelta(days=1))
    lifetime = timedelta(days=90)
    assert before + lifetime <= new.expiry_date <= timezone.now() + lifetime
    never, _ = APIKey.objects.create_key(name="forever")
    assert never.rotate(grace=timedelta(days=1))[0].expiry_date is None


def test_a_stale_change_cannot_undo_a_rotation_s_expiry():
    old, _ = APIKey.objects.create_key(name="billing")
    stale = APIKey.objects.get(pk=old.pk)  # e.g. a change form opened before the rotation
    old.rotate(grace=timedelta(hours=1))
    stale.name = "billing (renamed)"
    with pytest.raises(ValidationError, match="rotated"):
        stale.save()
    old.refresh_from_db()
    assert old.expiry_date is not None
    stale.expiry_date = old.expiry_date - timedelta(minutes=30)  # sooner is allowed
    stale.save()


def test_rotating_again_after_the_successor_was_revoked_keeps_the_original_lifetime():
    """createapikey --expires 90d; rotateapikey --grace 1h; revokeapikey <successor>;
    rotateapikey --grace 0m: the first rotation brought the old key's expiry forward to the end
    of its grace, which must not become the next key's lifetime."""
    old, _ = APIKey.objects.create_key(name="ci", expiry_date=timezone.now() + timedelta(days=90))
    first, _ = old.rotate(grace=timedelta(hours=1))
    first.revoke()
    old.refresh_from_db()
    second, _ = old.rotate(grace=timedelta(0))
    ends = APIKey.objects.get(pk=second.pk).expiry_date
    assert abs(ends - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)


def test_rotating_again_a_key_that_never_expired_gives_a_key_that_never_expires():
    old, _ = APIKey.objects.create_key(name="forever")
    first, _ = old.rotate(grace=timedelta(hours=1))
    first.revoke()
    second, _ = old.rotate(grace=timedelta(hours=1))
    assert APIKey.objects.get(pk=second.pk).expiry_date is None


def test_a_key_stored_before_today_s_name_rule_is_refused_with_a_sentence():
    old, key = APIKey.objects.create_key(name="billing")
    APIKey.objects.filter(pk=old.pk).update(name="billing\x1b[2J")
    old.refresh_from_db()
    with pytest.raises(ValueError, match="cannot be rotated as it is stored") as raised:
        old.rotate(grace=timedelta(hours=1))
    assert str(raised.value) == (
        "This API key cannot be rotated as it is stored: Use printable text only: '\\x1b' is "
        "not a printable character. Correct it on its admin page, then rotate it."
    )
    assert APIKey.objects.count() == 1
    assert APIKey.objects.get(pk=old.pk).expiry_date is None
    assert APIKey.objects.is_valid(key)


def rotated_at_once(*api_keys: APIKey) -> list[object]:
    """Each key rotated in a thread of its own, all at the same moment: new keys or errors."""
    start, outcomes = threading.Barrier(len(api_keys)), list[object]()

    def rotate(api_key: APIKey) -> None:
        try:
            start.wait()
            outcomes.append(api_key.rotate(grace=timedelta(seconds=5))[0])
        except Exception as error:  # noqa: BLE001  (the test reports it)
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate, args=(api_key,)) for api_key in api_keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_parent_and_its_child_rotated_at_once_do_not_deadlock():
    """The child's rotation locks its parent's row first, as the parent's own rotation does
    (it hands its children over): without that order, PostgreSQL found a deadlock in most
    tries and one rotation failed."""
    for trial in range(5):
        parent, _ = APIKey.objects.create_key(name=f"partner {trial}")
        child, _ = APIKey.objects.create_key(name=f"job {trial}", parent=parent)
        outcomes = rotated_at_once(parent, child)
        assert all(isinstance(outcome, APIKey) for outcome in outcomes), outcomes
        new_parent = next(key for key in outcomes if isinstance(key, APIKey) and not key.parent_id)
        new_child = next(key for key in outcomes if isinstance(key, APIKey) and key.parent_id)
        assert APIKey.objects.get(pk=new_child.pk).parent_id == new_parent.pk
