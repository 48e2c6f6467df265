"""Key events: every change to a key leaves a trace saying what, who, when and from where; the
trace outlives the key, holds no secret, and costs an ordinary request nothing."""

import asyncio
import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.example_organizations.models import Organization, OrganizationAPIKey

from ..events import acting_as, current_actor
from ..models import APIKey, KeyEvent

pytestmark = pytest.mark.django_db
EVENTS_URL = reverse("admin:api_keys_keyevent_changelist")


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("alice", "alice@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def events_of(api_key, **filters):
    """The key's events, oldest first, as (action, reason, actor kind, actor name) tuples."""
    events = KeyEvent.objects.filter(
        key_model=api_key._meta.label_lower, lookup_id=api_key.lookup_id, **filters
    ).order_by("at", "pk")
    return [(e.action, e.reason, e.actor_kind, e.actor_name) for e in events]


def last_event(api_key):
    return KeyEvent.objects.filter(lookup_id=api_key.lookup_id).order_by("at", "pk").last()


def run(*args):
    stdout, stderr = StringIO(), StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue()


# In code: the actor is "code" unless acting_as says otherwise.


def test_a_key_made_in_code_is_recorded_as_made_by_code_with_what_it_may_do():
    expires = timezone.now() + timedelta(days=30)
    api_key, _ = APIKey.objects.create_key(
        name="billing", scopes=["orders:read"], expiry_date=expires
    )
    event = last_event(api_key)
    assert (event.action, event.actor_kind, event.actor_name, event.address) == (
        "created",
        "code",
        "",
        None,
    )
    assert event.key_name == "billing"
    assert event.key_model == "api_keys.apikey"
    assert event.changes == {
        "scopes": {"new": ["orders:read"]},
        "expiry_date": {"new": expires.isoformat()},
    }


def test_acting_as_names_the_actor_and_its_address():
    with acting_as("key", "parentkey1234", address="203.0.113.7"):
        api_key, _ = APIKey.objects.create_key(name="child")
    event = last_event(api_key)
    assert (event.actor_kind, event.actor_name, event.address) == (
        "key",
        "parentkey1234",
        "203.0.113.7",
    )


def test_acting_as_refuses_an_unknown_kind_and_leaves_out_an_address_that_is_none():
    with pytest.raises(ValueError, match="'robot' is not a kind of actor"), acting_as("robot", "x"):
        pass
    with acting_as("staff", "alice", address="unknown") as actor:
        assert actor.address == ""


def test_changed_scopes_and_expiry_are_recorded_old_and_new():
    api_key, _ = APIKey.objects.create_key(name="billing", scopes=["orders:read"])
    expires = timezone.now() + timedelta(days=7)
    api_key.scopes = ["orders:read", "orders:write"]
    api_key.expiry_date = expires
    api_key.save()
    event = last_event(api_key)
    assert event.action == "changed"
    assert event.changes == {
        "scopes": {"old": ["orders:read"], "new": ["orders:read", "orders:write"]},
        "expiry_date": {"old": None, "new": expires.isoformat()},
    }


def test_a_save_that_changes_nothing_recorded_leaves_no_event():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.save()
    # A save of fields no event records does not even read the recorded ones.
    with CaptureQueriesContext(connection) as queries:
        api_key.save(update_fields=["last_used_at"])
    assert not [query for query in queries.captured_queries if "scopes" in query["sql"]]
    assert events_of(api_key) == [("created", "", "code", "")]


def test_a_change_rolled_back_leaves_no_event():
    with transaction.atomic():
        api_key, _ = APIKey.objects.create_key(name="billing")
        transaction.set_rollback(True)
    assert not KeyEvent.objects.filter(lookup_id=api_key.lookup_id).exists()


# Revocation: with its reason.


def test_revoking_a_parent_revokes_its_children_with_the_reason_parent():
    parent, _ = APIKey.objects.create_key(name="parent")
    with acting_as("key", parent.lookup_id):
        child, _ = APIKey.objects.create_key(name="child", parent=parent)
    with acting_as("leak_report", "github"):
        parent.revoke(reason="leak_report")
    assert events_of(parent)[-1] == ("revoked", "leak_report", "leak_report", "github")
    assert events_of(child) == [
        ("created", "", "key", parent.lookup_id),
        ("revoked", "parent", "leak_report", "github"),
    ]
    assert last_event(child).changes == {}
    created = KeyEvent.objects.get(lookup_id=child.lookup_id, action="created")
    assert created.changes == {"parent": {"new": parent.lookup_id}}


def test_a_key_revoked_by_saving_it_is_recorded_as_revoked_by_hand():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.revoked = True
    api_key.save()
    assert events_of(api_key)[-1] == ("revoked", "by_hand", "code", "")


# Rotation: "created" on the new key, "rotated" on the old one, and no separate expiry change.


def test_rotation_records_the_new_key_and_the_old_one_s_new_end():
    old, _ = APIKey.objects.create_key(name="billing", scopes=["orders:read"])
    with acting_as("command", "rotateapikey"):
        new, _ = old.rotate(grace=timedelta(hours=1))
    old.refresh_from_db()
    assert events_of(old) == [
        ("created", "", "code", ""),
        ("rotated", "", "command", "rotateapikey"),
    ]
    assert last_event(old).changes == {
        "expiry_date": {"old": None, "new": old.expiry_date.isoformat()},
        "rotated_to": {"new": new.lookup_id},
    }
    assert events_of(new) == [("created", "", "command", "rotateapikey")]
    assert last_event(new).changes == {
        "scopes": {"new": ["orders:read"]},
        "rotated_from": {"new": old.lookup_id},
    }


def test_a_rotation_that_keeps_an_earlier_end_is_recorded_as_rotated_all_the_same():
    ends = timezone.now() + timedelta(minutes=5)
    old, _ = APIKey.objects.create_key(name="billing", expiry_date=ends)
    new, _ = old.rotate(grace=timedelta(days=1))
    assert [action for action, *_ in events_of(old)] == ["created", "rotated"]
    assert last_event(old).changes == {"rotated_to": {"new": new.lookup_id}}


# Deletion: the events stay, and a cascade says what it came from.


def test_a_deleted_key_keeps_its_events_and_gains_one_more():
    parent, _ = APIKey.objects.create_key(name="parent")
    child, _ = APIKey.objects.create_key(name="child", parent=parent)
    parent.revoke()
    parent.delete()
    assert [action for action, *_ in events_of(parent)] == ["created", "revoked", "deleted"]
    assert [action for action, *_ in events_of(child)] == ["created", "revoked", "deleted"]
    assert last_event(child).changes == {
        "deleted_with": {"new": f"api_keys.apikey {parent.lookup_id}"}
    }
    assert last_event(child).key_name == "child"


def test_a_custom_key_model_s_keys_have_events_too():
    acme = Organization.objects.create(name="Acme")
    api_key, _ = OrganizationAPIKey.objects.create_key(name="acme-backend", organization=acme)
    api_key.revoke()
    owner = f"example_organizations.organization {acme.pk}"
    acme.delete()
    assert [action for action, *_ in events_of(api_key)] == ["created", "revoked", "deleted"]
    deleted = last_event(api_key)
    assert deleted.key_model == "example_organizations.organizationapikey"
    assert deleted.changes == {"deleted_with": {"new": owner}}


# Who: the admin, the commands.


def test_the_admin_records_the_staff_user_and_address_of_each_change(admin_client):
    response = admin_client.post(
        reverse("admin:api_keys_apikey_add"),
        {"name": "partner", "scopes": "orders:read", "expiry_date_0": "", "expiry_date_1": ""},
        REMOTE_ADDR="198.51.100.4",
    )
    assert response.status_code == 200, response.content
    api_key = APIKey.objects.get(name="partner")
    change_url = reverse("admin:api_keys_apikey_change", args=[api_key.pk])
    admin_client.post(
        change_url,
        {"name": "partner", "scopes": "orders:read orders:write", "revoked": "on"}
        | {"expiry_date_0": "", "expiry_date_1": ""},
    )
    assert events_of(api_key) == [
        ("created", "", "staff", "alice"),
        ("changed", "", "staff", "alice"),
        ("revoked", "by_hand", "staff", "alice"),
    ]
    created, changed, _ = KeyEvent.objects.filter(lookup_id=api_key.lookup_id).order_by("pk")
    assert created.address == "198.51.100.4"
    assert changed.address == "127.0.0.1"
    assert changed.changes == {
        "scopes": {"old": ["orders:read"], "new": ["orders:read", "orders:write"]}
    }


def test_the_admin_s_revoke_rotate_and_delete_name_the_staff_user(admin_client):
    revoked, _ = APIKey.objects.create_key(name="revoked")
    rotated, _ = APIKey.objects.create_key(name="rotated")
    deleted, _ = APIKey.objects.create_key(name="deleted")
    changelist = reverse("admin:api_keys_apikey_changelist")
    admin_client.post(
        changelist, {"action": "revoke_selected", "_selected_action": [revoked.pk], "post": "yes"}
    )
    admin_client.post(reverse("admin:api_keys_apikey_rotate", args=[rotated.pk]), {"grace": "1h"})
    admin_client.post(reverse("admin:api_keys_apikey_delete", args=[deleted.pk]), {"post": "yes"})
    assert events_of(revoked)[-1] == ("revoked", "by_hand", "staff", "alice")
    assert events_of(rotated)[-1] == ("rotated", "", "staff", "alice")
    assert events_of(deleted)[-1] == ("deleted", "", "staff", "alice")


def test_the_admin_s_delete_selected_names_the_staff_user(admin_client):
    api_key, _ = APIKey.objects.create_key(name="gone")
    admin_client.post(
        reverse("admin:api_keys_apikey_changelist"),
        {"action": "delete_selected", "_selected_action": [api_key.pk], "post": "yes"},
    )
    assert events_of(api_key)[-1] == ("deleted", "", "staff", "alice")


def test_the_commands_record_their_names():
    key = run("createapikey", "--name", "billing", "--scope", "orders:read").strip()
    api_key = APIKey.objects.get_from_key(key)
    run("rotateapikey", api_key.lookup_id, "--grace", "0m")
    new = APIKey.objects.get(rotated_from=api_key)
    run("revokeapikey", new.lookup_id)
    assert events_of(api_key) == [
        ("created", "", "command", "createapikey"),
        ("rotated", "", "command", "rotateapikey"),
    ]
    assert events_of(new) == [
        ("created", "", "command", "rotateapikey"),
        ("revoked", "by_hand", "command", "revokeapikey"),
    ]
    assert current_actor().kind == "code"  # the command's actor ended with it


# What an event never holds, and what it never costs.


def test_no_event_holds_a_key_or_its_hash(admin_client):
    api_key, key = APIKey.objects.create_key(name="billing", scopes=["orders:read"])
    new, new_key = api_key.rotate(grace=timedelta(hours=1))
    child, child_key = APIKey.objects.create_key(name="child", parent=new)
    secrets = set()
    for obj, plaintext in ((api_key, key), (new, new_key), (child, child_key)):
        obj.refresh_from_db()
        secrets |= {plaintext, plaintext.rpartition("_")[2], obj.hashed_key}
        secrets.add(obj.hashed_key.partition("$")[2])
    new.revoke()
    new.delete()
    api_key.delete()
    admin_page = admin_client.get(EVENTS_URL).content.decode()
    events = KeyEvent.objects.all()
    assert len(events) >= 8
    for event in events:
        text = json.dumps(model_to_dict(event), default=str)
        assert not [secret for secret in secrets if secret in text]
    assert not [secret for secret in secrets if secret in admin_page]


def test_an_ordinary_authenticated_request_writes_no_event(api_client):
    _, key = APIKey.objects.create_key(name="billing")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    before = KeyEvent.objects.count()
    for _ in range(2):  # the first one also records the key's use (an UPDATE, no event)
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get("/api/v1/whoami/").status_code == 200
        statements = [query["sql"] for query in queries.captured_queries]
        assert not [sql for sql in statements if "keyevent" in sql.lower()]
        assert not [sql for sql in statements if sql.lstrip().upper().startswith("INSERT")]
    assert KeyEvent.objects.count() == before


# The actor belongs to its block, its thread and its task.


def test_the_actor_ends_with_its_block_even_on_an_error():
    with acting_as("staff", "alice"):
        with acting_as("command", "revokeapikey"):
            assert current_actor().name == "revokeapikey"
        assert current_actor().name == "alice"
    with pytest.raises(RuntimeError), acting_as("staff", "bob"):
        raise RuntimeError
    assert current_actor().kind == "code"


def test_the_actor_does_not_reach_another_thread():
    seen = []
    with acting_as("staff", "alice"):
        thread = threading.Thread(target=lambda: seen.append(current_actor().kind))
        thread.start()
        thread.join()
    assert seen == ["code"]


def test_each_async_task_has_its_own_actor():
    async def act(name, seen):
        with acting_as("key", name):
            await asyncio.sleep(0)  # the other task runs here, in its own block
            seen.append((name, current_actor().name))

    async def both():
        seen: list[tuple[str, str]] = []
        await asyncio.gather(act("first", seen), act("second", seen))
        return seen

    assert sorted(asyncio.run(both())) == [("first", "first"), ("second", "second")]


def test_the_actor_follows_async_code_into_django_s_thread_for_sync_code():
    async def create():
        with acting_as("key", "asyncparent1"):
            api_key, _ = await APIKey.objects.acreate_key(name="async child")
        return api_key

    api_key = async_to_sync(create)()
    assert events_of(api_key) == [("created", "", "key", "asyncparent1")]


# Where to read them: the admin, and listapikeys --events.


def test_the_key_s_page_shows_its_events_and_links_to_all_of_them(admin_client):
    api_key, _ = APIKey.objects.create_key(name="billing")
    with acting_as("staff", "carol", address="192.0.2.9"):
        api_key.revoke()
    page = admin_client.get(reverse("admin:api_keys_apikey_change", args=[api_key.pk]))
    text = page.content.decode()
    assert "staff carol" in text
    assert "192.0.2.9" in text
    link = f"{EVENTS_URL}?key_model=api_keys.apikey&amp;lookup_id={api_key.lookup_id}"
    assert link in text
    listed = admin_client.get(EVENTS_URL, {"key_model": "api_keys.apikey", "q": api_key.lookup_id})
    assert [event.action for event in listed.context["cl"].result_list] == ["revoked", "created"]


def test_events_are_read_only_in_the_admin(admin_client):
    api_key, _ = APIKey.objects.create_key(name="billing")
    event = KeyEvent.objects.get(lookup_id=api_key.lookup_id)
    change_url = reverse("admin:api_keys_keyevent_change", args=[event.pk])
    assert admin_client.get(reverse("admin:api_keys_keyevent_add")).status_code == 403
    page = admin_client.get(change_url).content.decode()
    assert 'name="_save"' not in page
    assert admin_client.post(change_url, {"action": "deleted"}).status_code == 403
    delete_url = reverse("admin:api_keys_keyevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert KeyEvent.objects.get(pk=event.pk).action == "created"


def test_listapikeys_lists_events_newest_first_as_a_table_or_json():
    api_key, _ = APIKey.objects.create_key(name="billing", scopes=["orders:read"])
    with acting_as("staff", "alice", address="192.0.2.1"):
        api_key.revoke()
    other, _ = APIKey.objects.create_key(name="other")
    lines = run("listapikeys", "--events", api_key.lookup_id).splitlines()
    assert lines[0].split() == [
        "at",
        "lookup_id",
        "name",
        "action",
        "reason",
        "by",
        "address",
        "changes",
    ]
    assert lines[1].split()[1:] == [
        api_key.lookup_id,
        "billing",
        "revoked",
        "by_hand",
        "staff",
        "alice",
        "192.0.2.1",
        "-",
    ]
    assert lines[2].split()[1:] == [
        api_key.lookup_id,
        "billing",
        "created",
        "-",
        "code",
        "-",
        "scopes:",
        "orders:read",
    ]
    everyone = json.loads(run("listapikeys", "--events", "--json"))
    assert [row["lookup_id"] for row in everyone] == [
        other.lookup_id,
        api_key.lookup_id,
        api_key.lookup_id,
    ]
    assert everyone[1] | {"at": None} == {
        "at": None,
        "lookup_id": api_key.lookup_id,
        "name": "billing",
        "action": "revoked",
        "reason": "by_hand",
        "actor_kind": "staff",
        "actor_name": "alice",
        "address": "192.0.2.1",
        "changes": {},
    }


def test_listapikeys_lists_the_events_of_a_deleted_key_and_refuses_an_unknown_one():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.delete()
    rows = json.loads(run("listapikeys", "--events", api_key.lookup_id, "--json"))
    assert [row["action"] for row in rows] == ["deleted", "created"]
    with pytest.raises(CommandError, match="No API key has the lookup id 'nosuchkey000'"):
        run("listapikeys", "--events", "nosuchkey000")
    with pytest.raises(CommandError, match="--sort orders keys"):
        run("listapikeys", "--events", "--sort", "usage")


def test_listapikeys_lists_the_events_of_a_custom_model_s_keys():
    acme = Organization.objects.create(name="Acme")
    api_key, _ = OrganizationAPIKey.objects.create_key(name="acme-backend", organization=acme)
    APIKey.objects.create_key(name="not this model's")
    model = OrganizationAPIKey._meta.label
    rows = json.loads(run("listapikeys", "--model", model, "--events", "--json"))
    assert [(row["lookup_id"], row["action"]) for row in rows] == [(api_key.lookup_id, "created")]
