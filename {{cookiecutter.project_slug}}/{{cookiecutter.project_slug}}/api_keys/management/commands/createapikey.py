import argparse
from datetime import datetime
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError

from ...models import APIKey
from ...scopes import SCOPE_RULE, normalize_scopes
from ..durations import parse_expiry


class Command(BaseCommand):
    help = "Create an API key and print it. It is shown this once and stored only as a hash."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--name", required=True, help="who or what uses the key")
        parser.add_argument(
            "--expires",
            type=parse_expiry,
            metavar="WHEN",
            help="a duration (90d, 12h, 30m), a date or an ISO 8601 date and time; default: never",
        )
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            default=[],
            metavar="SCOPE",
            help=f"a scope the key is granted; repeat for more ({SCOPE_RULE})",
        )

    def handle(
        self,
        *args: Any,
        name: str,
        expires: datetime | None,
        scopes: list[str],
        **options: Any,
    ) -> None:
        name = name.strip()
        max_length = cast(int, APIKey._meta.get_field("name").max_length)
        if not name or len(name) > max_length:
            raise CommandError(f"--name must be 1 to {max_length} characters long.")
        try:
            scopes = normalize_scopes(scopes)
        except ValueError as error:
            raise CommandError(f"--scope: {error}") from None
        api_key, key = APIKey.objects.create_key(name=name, expiry_date=expires, scopes=scopes)
        ends = api_key.expiry_date
        expiry = f"expires {ends.isoformat()}" if ends else "does not expire"
        self.stderr.write(
            f'Created API key "{api_key.name}" (lookup id {api_key.lookup_id}, '
            f"scopes: {' '.join(scopes) or 'none'}, {expiry}). "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(key)
