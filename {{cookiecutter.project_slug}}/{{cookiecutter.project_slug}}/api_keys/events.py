"""Key events: every change to a key leaves a `KeyEvent` row saying what changed, who made it,
when, and from which client address.

Who: the code that changes a key says who acts, with `acting_as(kind, name, address=...)`: the
admin ("staff", the username), the commands ("command", the command's name), the key API ("key",
the acting key's lookup id) and the leak endpoint ("leak_report", "github"). A change made
outside any `acting_as` (a shell, a script, a data migration) is recorded as made by "code". The
actor lives in a ContextVar: it belongs to one thread or async task, and ends with its block.

How: signals of every concrete key model (`connect`, called by apps.py). pre_save reads the
stored values a comparison needs (one query, and only when a key is saved: an ordinary request
saves none, as `record_use` and hash upgrades use a queryset update()); post_save and post_delete
write the event in the change's own database and transaction, so a change rolled back leaves
none. A queryset update(), raw SQL or a fixture (loaddata) sends no signal here and leaves no
event. An event never holds the key or its hash.
"""

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import signals

from .models import AbstractAPIKey, KeyEvent

# The fields whose change makes a "changed" event, with the values before and after: what a key
# may do, until when, and what it is called. Never `hashed_key`.
RECORDED_FIELDS = ("name", "scopes", "expiry_date", "throttle_rate", "quota", "allowed_ips")
# Where pre_save leaves the stored values for post_save, on the instance being saved.
_STORED = "_stored_for_events"


@dataclass(frozen=True)
class Actor:
    """Who changes keys: a kind (KeyEvent.ActorKind), a name, and a client address or ""."""

    kind: str
    name: str = ""
    address: str = ""


CODE = Actor(KeyEvent.ActorKind.CODE)
_actor: ContextVar[Actor] = ContextVar("api_keys_actor", default=CODE)


@contextmanager
def acting_as(kind: str, name: str, *, address: str = "") -> Iterator[Actor]:
    """Record the key changes made inside the block as made by this actor: "staff" (name: the
    username), "key" (the acting key's lookup id), "command" (the command's name) or
    "leak_report" ("github"), from `address` where there is one (an invalid one is left out)."""
    if kind not in KeyEvent.ActorKind.values:
        kinds = ", ".join(KeyEvent.ActorKind.values)
        raise ValueError(f"{kind!r} is not a kind of actor; use one of: {kinds}.")
    try:
        address = str(ipaddress.ip_address(address)) if address else ""
    except ValueError:
        address = ""  # e.g. an X-Forwarded-For entry that is no address
    token = _actor.set(Actor(kind, name, address))
    try:
        yield _actor.get()
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    """Who the changes made now are recorded as made by."""
    return _actor.get()


def record(
    api_key: AbstractAPIKey,
    action: str,
    using: str,
    *,
    reason: str = "",
    changes: dict[str, dict[str, Any]] | None = None,
) -> KeyEvent:
    """Write one event of `api_key`, made by the current actor, to the database `using`."""
    actor = _actor.get()
    return KeyEvent.objects.using(using).create(
        key_model=api_key._meta.label_lower,
        lookup_id=api_key.lookup_id,
        key_name=str(api_key.name)[: KeyEvent._meta.get_field("key_name").max_length],
        action=action,
        reason=reason,
        actor_kind=actor.kind,
        actor_name=actor.name,
        address=actor.address or None,
        changes=changes or {},
    )


def _as_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _lookup_id_of(api_key: AbstractAPIKey, relation: str) -> str | None:
    """The lookup id of the key `relation` ("parent", "rotated_from") points at, or None."""
    if getattr(api_key, f"{relation}_id") is None:
        return None
    related: AbstractAPIKey = getattr(api_key, relation)  # fetched once, on creation only
    return related.lookup_id


def _read_stored(
    sender: type[AbstractAPIKey],
    instance: AbstractAPIKey,
    raw: bool,
    using: str,
    update_fields: frozenset[str] | None,
    **kwargs: Any,
) -> None:
    """Before a saved key is saved again: its stored values, for post_save to compare."""
    if raw or instance._state.adding or instance.pk is None:
        return
    watched = [  # in this order: an event lists its changes as RECORDED_FIELDS does
        field
        for field in (*RECORDED_FIELDS, "revoked")
        if update_fields is None or field in update_fields
    ]
    if watched:
        keys: models.Manager[Any] = sender._base_manager
        stored = keys.using(using).filter(pk=instance.pk).values(*watched).first()
        instance.__dict__[_STORED] = stored


def _record_save(
    sender: type[AbstractAPIKey],
    instance: AbstractAPIKey,
    created: bool,
    raw: bool,
    using: str,
    **kwargs: Any,
) -> None:
    """After a key is saved: its events (created; changed or rotated; revoked)."""
    stored: dict[str, Any] | None = instance.__dict__.pop(_STORED, None)
    rotated_to: AbstractAPIKey | None = instance.__dict__.pop("_rotated_to", None)
    reason: str = instance.__dict__.pop("_revocation_reason", KeyEvent.Reason.BY_HAND)
    if raw:
        return
    if created:
        record(instance, KeyEvent.Action.CREATED, using, changes=_initial_values(instance))
        return
    if stored is None:
        return
    changes = {
        field: {"old": _as_json(old), "new": _as_json(getattr(instance, field))}
        for field, old in stored.items()
        if field != "revoked" and old != getattr(instance, field)
    }
    if rotated_to is not None:  # AbstractAPIKey.rotate: the expiry change is the rotation's
        changes["rotated_to"] = {"new": rotated_to.lookup_id}
        record(instance, KeyEvent.Action.ROTATED, using, changes=changes)
    elif changes:
        record(instance, KeyEvent.Action.CHANGED, using, changes=changes)
    if "revoked" in stored and not stored["revoked"] and instance.revoked:
        record(instance, KeyEvent.Action.REVOKED, using, reason=reason)


def _initial_values(api_key: AbstractAPIKey) -> dict[str, dict[str, Any]]:
    """A new key's recorded fields that hold something, and the keys it comes from."""
    changes = {
        field: {"new": _as_json(getattr(api_key, field))}
        for field in RECORDED_FIELDS
        if field != "name" and getattr(api_key, field) not in (None, "", [])
    }
    for relation in ("parent", "rotated_from"):
        if (lookup_id := _lookup_id_of(api_key, relation)) is not None:
            changes[relation] = {"new": lookup_id}
    if api_key.revoked:  # an imported key that was revoked already
        changes["revoked"] = {"new": True}
    return changes


def _record_delete(
    sender: type[AbstractAPIKey],
    instance: AbstractAPIKey,
    using: str,
    origin: Any = None,
    **kwargs: Any,
) -> None:
    changes = {}
    if isinstance(origin, models.Model) and origin is not instance:  # a cascade: say from what
        cause = origin.lookup_id if isinstance(origin, AbstractAPIKey) else origin.pk
        changes["deleted_with"] = {"new": f"{origin._meta.label_lower} {cause}"}
    record(instance, KeyEvent.Action.DELETED, using, changes=changes)


def connect() -> None:
    """Record the changes of every installed key model (apps.py calls it, once they are ready).
    Connected model by model: a receiver for every model would slow every other model's
    saves, and end the fast deletes of all of them."""
    for model in apps.get_models():
        if issubclass(model, AbstractAPIKey):
            uid = f"api_keys.events:{model._meta.label_lower}"
            signals.pre_save.connect(_read_stored, sender=model, dispatch_uid=uid)
            signals.post_save.connect(_record_save, sender=model, dispatch_uid=uid)
            signals.post_delete.connect(_record_delete, sender=model, dispatch_uid=uid)


def actor_text(event: KeyEvent) -> str:
    """Who made an event, in words, e.g. "staff alice" or "command createapikey"."""
    return f"{event.actor_kind} {event.actor_name}".strip()


def changes_text(changes: dict[str, dict[str, Any]]) -> str:
    """An event's changes in words, e.g. "scopes: orders:read -> orders:read orders:write"."""
    return "; ".join(
        f"{field}: {_shown(field, change['old'])} -> {_shown(field, change.get('new'))}"
        if "old" in change
        else f"{field}: {_shown(field, change.get('new'))}"
        for field, change in changes.items()
    )


def _shown(field: str, value: Any) -> str:
    if value in (None, "", []):
        return "never" if field == "expiry_date" else "-"
    if field == "expiry_date":
        return datetime.fromisoformat(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)
