import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import CommandError
from django.db import models

from ...events import actor_text, changes_text
from ...models import AbstractAPIKey, APIKey, KeyEvent
from ...usage import requests_since
from ..base import KeyCommand, printable

COLUMNS = ("lookup_id", "name", "status", "scopes", "created", "expires", "last_used", "parent")
EVENT_COLUMNS = ("at", "lookup_id", "name", "action", "reason", "by", "address", "changes")
USAGE_DAYS = 30


def extra_fields(model: type[AbstractAPIKey]) -> list["models.Field[Any, Any]"]:
    """The fields a custom key model adds to AbstractAPIKey's, such as an owner."""
    common = {field.name for field in AbstractAPIKey._meta.concrete_fields}
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.name not in common
    ]


def describe(api_key: AbstractAPIKey) -> dict[str, Any]:
    """What may be shown about a key: never its secret or hash."""
    row = {
        "lookup_id": api_key.lookup_id,
        "name": api_key.name,
        "status": api_key.status,
        "created": api_key.created.isoformat(),
        "expires": api_key.expiry_date.isoformat() if api_key.expiry_date else None,
        "scopes": list(api_key.scopes),
        "last_used": api_key.last_used_at.isoformat() if api_key.last_used_at else None,
        "parent": api_key.parent.lookup_id if api_key.parent else None,
    }
    # A custom model's own fields, by name; an owner as its str(), and its id by attname
    # (organization_id), as `createapikey --field organization=ID` takes it.
    for field in extra_fields(type(api_key)):
        value = field.value_from_object(api_key)
        text = None if value is None else field.value_to_string(api_key)
        if field.is_relation:
            row[field.attname] = text
            text = None if value is None else str(getattr(api_key, field.name))
        row[field.name] = text
    return row


def describe_event(event: KeyEvent) -> dict[str, Any]:
    """An event as --events --json shows it (an event holds no secret)."""
    return {
        "at": event.at.isoformat(),
        "lookup_id": event.lookup_id,
        "name": event.key_name,
        "action": event.action,
        "reason": event.reason,
        "actor_kind": event.actor_kind,
        "actor_name": event.actor_name,
        "address": event.address,
        "changes": event.changes,
    }


def table_cell(row: dict[str, Any], column: str, owners: dict[str, str]) -> str:
    """A row's value as the table shows it (an owner as "Acme (3)"), escaped for a terminal.
    `owners`: the name and attname of each relation, e.g. {"organization": "organization_id"}."""
    value = row[column]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        value = ",".join(value)
    elif column in owners and value is not None:
        value = f"{value} ({row[owners[column]]})"
    return printable(value or "-")


class Command(KeyCommand):
    help = (
        "List API keys (never their secrets), newest first or most used first; or, with "
        "--events, what was done to them, by whom."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print a JSON array")
        parser.add_argument(
            "--sort",
            choices=("created", "usage"),
            default="created",
            help=f"created: newest first (default); usage: most requests in the last "
            f"{USAGE_DAYS} days first, shown as requests_{USAGE_DAYS}d",
        )
        parser.add_argument(
            "--events",
            nargs="?",
            const="",
            metavar="LOOKUP_ID",
            help="list the keys' events instead (created, changed, rotated, revoked, deleted: "
            "when, by whom, from where), newest first; or one key's, deleted or not",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["events"] is not None:
            if options["sort"] != "created":
                raise CommandError("--sort orders keys; events are listed newest first.")
            self.list_events(options["events"], as_json=options["json"])
            return
        extra = extra_fields(self.model)
        owners = {field.name: field.attname for field in extra if field.is_relation}
        # Through Manager[Any]: django-stubs' plugin fails on lookups of an abstract model.
        manager: models.Manager[Any] = self.model._base_manager
        # Parents (in the keys' query), owners and successors (for the status "in grace") in
        # one query each.
        keys = manager.order_by("-created").prefetch_related("rotated_to")
        keys = keys.select_related("parent")
        if owners:  # select_related() with no field would fetch every relation
            keys = keys.select_related(*owners)
        rows = [describe(api_key) for api_key in keys]
        columns = COLUMNS + tuple(field.name for field in extra)
        if options["sort"] == "usage":
            since = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            used = requests_since(self.model, since - timedelta(days=USAGE_DAYS))
            for row in rows:
                row[f"requests_{USAGE_DAYS}d"] = used.get(row["lookup_id"], 0)
            rows.sort(key=lambda row: row[f"requests_{USAGE_DAYS}d"], reverse=True)  # stable
            columns += (f"requests_{USAGE_DAYS}d",)
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            model = "" if self.model is APIKey else f" --model {self.model._meta.label}"
            self.stdout.write(f"No API keys yet; create one with createapikey{model} --name NAME.")
            return
        self.write_table(
            columns, [tuple(table_cell(row, column, owners) for column in columns) for row in rows]
        )

    def list_events(self, lookup_id: str, as_json: bool) -> None:
        """The events of the model's keys, or of the one with `lookup_id`, newest first."""
        events = KeyEvent.objects.filter(key_model=self.model._meta.label_lower)
        if lookup_id:
            events = events.filter(lookup_id=lookup_id)
        rows = list(events)
        if not rows and lookup_id:
            self.get_key(lookup_id)  # no such key: says where to find it
        if as_json:
            self.stdout.write(json.dumps([describe_event(event) for event in rows], indent=2))
            return
        if not rows:
            self.stdout.write("No key events yet.")
            return
        cells = [
            tuple(
                printable(cell or "-")
                for cell in (
                    event.at.isoformat(timespec="seconds"),
                    event.lookup_id,
                    event.key_name,
                    event.action,
                    event.reason,
                    actor_text(event),
                    event.address,
                    changes_text(event.changes),
                )
            )
            for event in rows
        ]
        self.write_table(EVENT_COLUMNS, cells)

    def write_table(self, columns: tuple[str, ...], cells: list[tuple[str, ...]]) -> None:
        table = [columns, *cells]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            padded = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(padded).rstrip())
