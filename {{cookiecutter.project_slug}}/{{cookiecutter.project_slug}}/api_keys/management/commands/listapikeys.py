import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand

from ...models import AbstractAPIKey, APIKey


def describe(api_key: AbstractAPIKey) -> dict[str, Any]:
    """What may be shown about a key: never its secret or hash."""
    if api_key.revoked:
        status = "revoked"
    elif api_key.has_expired:
        status = "expired"
    else:
        status = "active"
    return {
        "lookup_id": api_key.lookup_id,
        "name": api_key.name,
        "status": status,
        "created": api_key.created.isoformat(),
        "expires": api_key.expiry_date.isoformat() if api_key.expiry_date else None,
        "scopes": list(api_key.scopes),
        "last_used": api_key.last_used_at.isoformat() if api_key.last_used_at else None,
    }


class Command(BaseCommand):
    help = "List API keys (never their secrets), newest first."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON array")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = [describe(api_key) for api_key in APIKey.objects.all()]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No API keys yet; create one with createapikey --name NAME.")
            return
        columns = ("lookup_id", "name", "status", "scopes", "created", "expires", "last_used")
        shown = [{**row, "scopes": ",".join(row["scopes"])} for row in rows]
        table = [columns] + [tuple(str(row[column] or "-") for column in columns) for row in shown]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
