import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...models import APIKey


class Command(BaseCommand):
    help = "Revoke an API key by its lookup id: it stops working at once, for good."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("lookup_id", help="the key's lookup id, as listapikeys shows it")

    def handle(self, *args: Any, lookup_id: str, **options: Any) -> None:
        try:
            api_key = APIKey.objects.get(lookup_id=lookup_id)
        except APIKey.DoesNotExist:
            raise CommandError(
                f"No API key has the lookup id {lookup_id!r}; listapikeys shows them."
            ) from None
        if api_key.revoked:
            self.stdout.write(f'API key "{api_key.name}" ({lookup_id}) was already revoked.')
            return
        api_key.revoke()
        self.stdout.write(f'Revoked API key "{api_key.name}" ({lookup_id}).')
