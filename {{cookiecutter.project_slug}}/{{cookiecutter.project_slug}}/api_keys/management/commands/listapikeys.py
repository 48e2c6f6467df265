import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models

from ...models import AbstractAPIKey, APIKey
from ...usage import requests_since
from ..base import KeyCommand, printable

COLUMNS = ("lookup_id", "name", "status", "scopes", "created", "expires", "last_used")
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
    help = "List API keys (never their secrets), newest first or most used first."

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

    def handle(self, *args: Any, **options: Any) -> None:
        extra = extra_fields(self.model)
        owners = {field.name: field.attname for field in extra if field.is_relation}
        # Through Manager[Any]: django-stubs' plugin fails on lookups of an abstract model.
        manager: models.Manager[Any] = self.model._base_manager
        # Owners and successors (for the status "in grace") in one query each.
        keys = manager.order_by("-created").prefetch_related("rotated_to")
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
        table = [columns] + [
            tuple(table_cell(row, column, owners) for column in columns) for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
