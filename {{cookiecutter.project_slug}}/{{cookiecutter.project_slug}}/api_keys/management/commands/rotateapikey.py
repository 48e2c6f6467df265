import argparse
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.management.base import CommandError

from ..base import KeyCommand, expiry_text, printable
from ..durations import parse_grace


class Command(KeyCommand):
    help = (
        "Replace an API key with a new one (same name and scopes) and print the new key. "
        "The old key keeps working for the grace period, then expires."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("lookup_id", help="the old key's lookup id, as listapikeys shows it")
        parser.add_argument(
            "--grace",
            type=parse_grace,
            default=timedelta(hours=24),
            metavar="DURATION",
            help="how long the old key keeps working: 90d, 12h, 30m, 0m for not at all; "
            "default: 24h (an earlier expiry of the old key is kept)",
        )

    def handle(self, *args: Any, lookup_id: str, grace: timedelta, **options: Any) -> None:
        old = self.get_key(lookup_id)
        try:
            new, key = old.rotate(grace=grace)
        except ValueError as error:
            raise CommandError(str(error)) from None
        ends = cast(datetime, old.expiry_date)  # rotate() sets it
        expiry = expiry_text(new.expiry_date)
        self.stderr.write(
            f'Rotated API key "{printable(new.name)}": the new key has lookup id '
            f"{new.lookup_id} and {expiry}; the old one ({old.lookup_id}) stops working at "
            f"{ends.isoformat()}. Store the new key now: it cannot be shown again."
        )
        self.stdout.write(key)
