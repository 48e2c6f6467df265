"""Clients manage their own keys through the API: mint restricted children, list, revoke and
rotate them; and a child works only while, and as far as, its parent does."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from ...api_keys.models import APIKey, KeyEvent

pytestmark = pytest.mark.django_db
KEYS = "/api/v1/keys/"
WHOAMI = "/api/v1/whoami/"
MANAGER = ["keys:read", "keys:write", "orders:read", "orders:write"]


def as_key(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


@pytest.fixture
def parent(api_client):
    api_key, key = APIKey.objects.create_key(name="partner", scopes=MANAGER)
    return api_key, as_key(api_client, key)


def mint(client, REMOTE_ADDR="127.0.0.1", **fields):  # noqa: N803  (as Django names it)
    return client.post(KEYS, {"name": "ci job", **fields}, format="json", REMOTE_ADDR=REMOTE_ADDR)


def test_minting_a_child_answers_its_key_once_and_no_cache_may_keep_it(parent, client):
    api_key, as_parent = parent
    response = mint(as_parent, scopes=["orders:read"])
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    child = APIKey.objects.get(lookup_id=body["lookup_id"])
    assert child.parent == api_key
    assert body["parent"] == api_key.lookup_id
    assert body["scopes"] == ["orders:read"]
    assert child.is_valid(body["key"])
    assert body["key"] not in child.hashed_key
    # It works, and the listing never shows it again.
    assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {body['key']}").status_code == 200
    assert body["key"] not in as_parent.get(KEYS).content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"scopes": ["orders:read", "admin:all"]}, "scopes", "does not hold admin:all"),
        ({"throttle_rate": "2000/min"}, "throttle_rate", "Looser than this key's rate, 1000/min"),
        ({"throttle_rate": "fast"}, "throttle_rate", "Not a rate"),
        ({"scopes": ["Orders Read"]}, "scopes", "Not a valid scope"),
        ({"allowed_ips": ["10.1.2.3/8"]}, "allowed_ips", "did you mean 10.0.0.0/8"),
        ({"quota": "lots"}, "quota", "Not a quota"),
        ({"name": "  "}, "name", "may not be blank"),
        ({"expiry_date": "2001-01-01T00:00:00Z"}, "expiry_date", "This time has passed"),
    ],
)
def test_a_child_wider_or_malformed_gets_400_naming_what(parent, fields, field, says):
    _, as_parent = parent
    before = APIKey.objects.count()
    response = mint(as_parent, **fields)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    said = error["fields"][field]  # a list of sentences; a dict by position for a list's item
    sentences = said if isinstance(said, list) else [one for item in said.values() for one in item]
    assert says in " ".join(sentences)
    assert APIKey.objects.count() == before


def test_a_child_cannot_outlive_its_parent(api_client):
    ends = timezone.now() + timedelta(days=3)
    _, key = APIKey.objects.create_key(name="partner", scopes=MANAGER, expiry_date=ends)
    client = as_key(api_client, key)
    later = mint(client, expiry_date=(ends + timedelta(seconds=1)).isoformat())
    assert later.status_code == 400
    assert "a child cannot outlive it" in later.json()["error"]["fields"]["expiry_date"][0]
    child = mint(client).json()  # no expiry given: the parent's
    assert APIKey.objects.get(lookup_id=child["lookup_id"]).expiry_date == ends


def test_a_child_cannot_mint_and_a_key_without_keys_write_cannot(parent, api_client):
    _, as_parent = parent
    child_key = mint(as_parent, scopes=["keys:write"]).json()["key"]
    refused = mint(as_key(api_client, child_key))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "child_key"
    _, reader = APIKey.objects.create_key(name="reader", scopes=["keys:read"])
    response = mint(as_key(api_client, reader))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This API key lacks the scope(s): keys:write."


def test_the_list_holds_the_caller_and_its_children_never_another_client(parent):
    api_key, as_parent = parent
    mine = mint(as_parent, name="mine").json()
    _, other = APIKey.objects.create_key(name="other client", scopes=MANAGER)
    mint(as_key(APIClient(), other), name="theirs")
    names = sorted(row["name"] for row in as_parent.get(KEYS).json()["results"])
    assert names == ["mine", "partner"]
    child_view = as_key(APIClient(), mine["key"]).get(KEYS)
    assert child_view.status_code == 403  # minted without keys:read
    reader = mint(as_parent, name="reader", scopes=["keys:read"]).json()
    rows = as_key(APIClient(), reader["key"]).get(KEYS).json()["results"]
    assert [row["name"] for row in rows] == ["reader"]
    assert rows[0]["parent"] == api_key.lookup_id


def test_revoking_a_child_refuses_it_and_another_client_s_key_is_not_found(parent, client):
    _, as_parent = parent
    child = mint(as_parent).json()
    assert as_parent.delete(f"{KEYS}{child['lookup_id']}/").status_code == 204
    assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {child['key']}").status_code == 401
    assert as_parent.delete(f"{KEYS}{child['lookup_id']}/").status_code == 404
    other, _ = APIKey.objects.create_key(name="other client")
    response = as_parent.delete(f"{KEYS}{other.lookup_id}/")
    assert response.status_code == 404
    other.refresh_from_db()
    assert not other.revoked


def test_a_key_that_revokes_itself_takes_its_children_along(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent).json()
    assert as_parent.delete(f"{KEYS}{api_key.lookup_id}/").status_code == 204
    assert APIKey.objects.get(lookup_id=child["lookup_id"]).revoked
    assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {child['key']}").status_code == 401


def test_rotating_a_child_answers_the_new_key_once_and_the_old_works_for_the_grace(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent, scopes=["orders:read"]).json()
    response = as_parent.post(
        f"{KEYS}{child['lookup_id']}/rotate/", {"grace_seconds": 60}, format="json"
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    new = response.json()
    assert new["rotated_from"] == child["lookup_id"]
    assert new["parent"] == api_key.lookup_id
    assert new["scopes"] == ["orders:read"]
    for key in (new["key"], child["key"]):
        assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200
    old = APIKey.objects.get(lookup_id=child["lookup_id"])
    assert timedelta(seconds=55) < old.expiry_date - timezone.now() <= timedelta(seconds=60)
    again = as_parent.post(f"{KEYS}{child['lookup_id']}/rotate/", format="json")
    assert again.status_code == 409
    assert "rotate the key that replaced it" in again.json()["error"]["message"]


def test_the_grace_is_bounded_by_the_setting(parent, api_keys_options):
    api_keys_options(MAX_ROTATION_GRACE=600)
    api_key, as_parent = parent
    url = f"{KEYS}{api_key.lookup_id}/rotate/"
    for grace, says in ((601, "At most 600 seconds."), (-1, "greater than or equal to 0")):
        response = as_parent.post(url, {"grace_seconds": grace}, format="json")
        assert response.status_code == 400
        assert says in response.json()["error"]["fields"]["grace_seconds"][0]
    assert APIKey.objects.count() == 1


def test_a_parent_rotated_hands_its_children_to_the_new_key(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent).json()
    url = f"{KEYS}{api_key.lookup_id}/rotate/"
    response = as_parent.post(url, {"grace_seconds": 0}, format="json")
    assert response.status_code == 201
    successor = APIKey.objects.get(lookup_id=response.json()["lookup_id"])
    assert APIKey.objects.get(lookup_id=child["lookup_id"]).parent == successor
    # The old parent has stopped working; the child has not.
    assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {child['key']}").status_code == 200


# The child follows its parent: every way a parent stops working, in one query per check.


def remove_by_revoke(parent):
    parent.revoke()


def remove_by_update(parent):
    APIKey.objects.filter(pk=parent.pk).update(revoked=True)


def remove_by_expiry(parent):
    APIKey.objects.filter(pk=parent.pk).update(expiry_date=timezone.now())


def remove_by_delete(parent):
    parent.delete()


def remove_by_queryset_delete(parent):
    APIKey.objects.filter(pk=parent.pk).delete()


@pytest.mark.parametrize(
    "remove",
    [
        remove_by_revoke,
        remove_by_update,
        remove_by_expiry,
        remove_by_delete,
        remove_by_queryset_delete,
    ],
)
def test_a_child_is_refused_from_the_moment_its_parent_is(parent, client, remove):
    api_key, as_parent = parent
    child = mint(as_parent).json()
    header = {"HTTP_AUTHORIZATION": f"Api-Key {child['key']}"}
    assert client.get(WHOAMI, **header).status_code == 200
    remove(api_key)
    response = client.get(WHOAMI, **header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"


def test_the_parent_is_judged_in_the_same_query(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent).json()
    header = {"HTTP_AUTHORIZATION": f"Api-Key {child['key']}"}
    client.get(WHOAMI, **header)  # last_used_at written
    with CaptureQueriesContext(connection) as queries:
        assert client.get(WHOAMI, **header).status_code == 200
    assert len(queries) == 1
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(WHOAMI, **header).status_code == 401
    assert len(queries) == 1


def test_a_child_uses_only_the_scopes_its_parent_holds_now(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent, scopes=["keys:read"]).json()
    header = {"HTTP_AUTHORIZATION": f"Api-Key {child['key']}"}
    assert client.get(KEYS, **header).status_code == 200
    APIKey.objects.filter(pk=api_key.pk).update(scopes=["orders:read"])
    response = client.get(KEYS, **header)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This API key lacks the scope(s): keys:read."


def test_a_child_is_held_to_its_parent_s_networks(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent).json()
    APIKey.objects.filter(pk=api_key.pk).update(allowed_ips=["192.0.2.0/24"])
    header = {"HTTP_AUTHORIZATION": f"Api-Key {child['key']}"}
    refused = client.get(WHOAMI, REMOTE_ADDR="198.51.100.7", **header)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ip_not_allowed"
    assert client.get(WHOAMI, REMOTE_ADDR="192.0.2.9", **header).status_code == 200


def test_a_child_s_requests_count_against_its_parent_s_quota(parent, client):
    api_key, as_parent = parent
    child = mint(as_parent).json()
    APIKey.objects.filter(pk=api_key.pk).update(quota="3/day")
    header = {"HTTP_AUTHORIZATION": f"Api-Key {child['key']}"}
    assert client.get(WHOAMI, **header).status_code == 200
    assert client.get(WHOAMI, **header).status_code == 200
    assert as_parent.get(WHOAMI).status_code == 200
    refused = client.get(WHOAMI, **header)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith("This API key's parent has used its quota of 3 requests")


def test_a_child_s_own_usage_is_the_parent_s_to_read(parent):
    _, as_parent = parent
    child = mint(as_parent).json()
    assert as_parent.get(f"{KEYS}{child['lookup_id']}/usage/").status_code == 200
    assert as_parent.get(f"{KEYS}{child['lookup_id']}/").json()["name"] == "ci job"


def test_changes_through_the_api_leave_events_naming_the_calling_key(parent):
    api_key, as_parent = parent
    child = mint(as_parent, REMOTE_ADDR="203.0.113.9").json()
    as_parent.post(f"{KEYS}{child['lookup_id']}/rotate/", {"grace_seconds": 0}, format="json")
    as_parent.delete(f"{KEYS}{api_key.lookup_id}/")
    events = KeyEvent.objects.filter(actor_kind="key").order_by("at", "pk")
    assert {event.actor_name for event in events} == {api_key.lookup_id}
    assert [(event.lookup_id, event.action, event.reason) for event in events][:3] == [
        (child["lookup_id"], "created", ""),
        (events[1].lookup_id, "created", ""),  # the child's successor
        (child["lookup_id"], "rotated", ""),
    ]
    assert events[1].changes["rotated_from"] == {"new": child["lookup_id"]}
    assert events.first().address == "203.0.113.9"
    revoked = {(event.lookup_id, event.reason) for event in events if event.action == "revoked"}
    assert (api_key.lookup_id, "api") in revoked
    assert any(reason == "parent" for _, reason in revoked)  # its child, with it
    for event in KeyEvent.objects.all():
        assert child["key"] not in str(event.changes)


# What a review found: limits that a rotation or an odd input could get around.


def test_rotating_a_key_does_not_start_its_quota_again(api_client, client):
    api_key, key = APIKey.objects.create_key(name="plan", scopes=MANAGER, quota="3/day")
    as_old = as_key(api_client, key)
    assert [as_old.get(WHOAMI).status_code for _ in range(2)] == [200, 200]
    url = f"{KEYS}{api_key.lookup_id}/rotate/"
    rotated = as_old.post(url, {"grace_seconds": 600}, format="json")
    assert rotated.status_code == 201  # the third request of the day
    new = {"HTTP_AUTHORIZATION": f"Api-Key {rotated.json()['key']}"}
    assert client.get(WHOAMI, **new).status_code == 429
    assert as_old.get(WHOAMI).status_code == 429
    successor = APIKey.objects.get(lookup_id=rotated.json()["lookup_id"])
    assert successor.counted_as == api_key.lookup_id == api_key.counted_as


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"throttle_rate": "1" + "0" * 400 + "/s"}, "throttle_rate"),
        ({"throttle_rate": "1" + "0" * 5000 + "/s"}, "throttle_rate"),
        ({"throttle_rate": "000000000000000000001/day"}, "throttle_rate"),
        ({"quota": "9" * 5000 + "/month"}, "quota"),
        ({"quota": "111111111111111/month"}, "quota"),
    ],
)
def test_numbers_too_large_for_a_limit_get_400(parent, fields, field):
    _, as_parent = parent
    response = mint(as_parent, **fields)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize("depth", [5000, 100_000])
@pytest.mark.parametrize("operation", ["mint", "rotate"])
def test_json_nested_deep_gets_400_not_500(parent, depth, operation):
    """Deeper than Python's json reads (100,000 on every version), or readable and then refused
    by the serializer (5,000 on Python 3.13)."""
    api_key, as_parent = parent
    rotate = f"{KEYS}{api_key.lookup_id}/rotate/"
    url, field = (KEYS, "name") if operation == "mint" else (rotate, "grace_seconds")
    body = '{"' + field + '": ' + "[" * depth + "]" * depth + "}"
    response = as_parent.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("parse_error", "invalid")
    assert APIKey.objects.count() == 1


def test_a_forged_cursor_past_year_9999_gets_404(parent):
    _, as_parent = parent
    for position in ("9999-12-31T23:59:59-23:00", "2026-01-01T00:00:00"):
        cursor = base64.b64encode(f"p={position}".encode()).decode()
        assert as_parent.get(KEYS, {"cursor": cursor}).status_code == 404


def test_a_child_s_successor_does_not_outlive_its_parent(api_client):
    ends = timezone.now() + timedelta(days=1)
    parent, key = APIKey.objects.create_key(name="partner", scopes=MANAGER, expiry_date=ends)
    as_parent = as_key(api_client, key)
    child = mint(as_parent, expiry_date=(ends - timedelta(hours=12)).isoformat()).json()
    sooner = timezone.now() + timedelta(hours=2)
    parent.expiry_date = sooner
    parent.save()
    rotated = as_parent.post(f"{KEYS}{child['lookup_id']}/rotate/", format="json").json()
    assert APIKey.objects.get(lookup_id=rotated["lookup_id"]).expiry_date == sooner


def test_a_key_in_its_grace_mints_no_child_that_would_die_with_it(parent):
    api_key, as_parent = parent
    api_key.rotate(grace=timedelta(hours=1))
    response = mint(as_parent)
    assert response.status_code == 409
    assert "mint children with the key that replaced it" in response.json()["error"]["message"]


def test_a_key_mints_no_more_children_than_the_setting_allows(parent, api_keys_options):
    api_keys_options(MAX_CHILDREN=2)
    _, as_parent = parent
    first, _ = mint(as_parent).json(), mint(as_parent)
    refused = mint(as_parent)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "too_many_children"
    as_parent.delete(f"{KEYS}{first['lookup_id']}/")  # a revoked child leaves room
    assert mint(as_parent).status_code == 201
