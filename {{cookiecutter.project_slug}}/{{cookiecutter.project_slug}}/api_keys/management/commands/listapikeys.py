import argparse
import json
from typing import Any

from django.db import models

from ...models import AbstractAPIKey, APIKey
from ..base import KeyCommand

COLUMNS = ("lookup_id", "name", "status", "scopes", "created", "expires", "last_used")


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
    if api_key.revoked:
        status = "revoked"
    elif api_key.has_expired:
        status = "expired"
    else:
        status = "active"
    row = {
        "lookup_id": api_key.lookup_id,
        "name": api_key.name,
        "status": status,
        "created": api_key.created.isoformat(),
        "expires": api_key.expiry_date.isoformat() if api_key.expiry_date else None,
        "scopes": list(api_key.scopes),
        "last_used": api_key.last_used_at.isoformat() if api_key.last_used_at else None,
    }
    # A custom model's own fields, by name; an owner shows as its id.
    for field in extra_fields(type(api_key)):
        value = field.value_from_object(api_key)
        row[field.name] = None if value is None else field.value_to_string(api_key)
    return row


class Command(KeyCommand):
    help = "List API keys (never their secrets), newest first."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print a JSON array")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = [describe(api_key) for api_key in self.model._base_manager.order_by("-created")]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            model = "" if self.model is APIKey else f" --model {self.model._meta.label}"
            self.stdout.write(f"No API keys yet; create one with createapikey{model} --name NAME.")
            return
        columns = COLUMNS + tuple(field.name for field in extra_fields(self.model))
        shown = [{**row, "scopes": ",".join(row["scopes"])} for row in rows]
        table = [columns] + [tuple(str(row[column] or "-") for column in columns) for row in shown]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
