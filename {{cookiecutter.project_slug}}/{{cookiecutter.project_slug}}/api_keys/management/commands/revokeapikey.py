import argparse
from typing import Any

from ..base import KeyCommand, printable


class Command(KeyCommand):
    help = "Revoke an API key by its lookup id: it stops working at once, for good."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("lookup_id", help="the key's lookup id, as listapikeys shows it")

    def handle(self, *args: Any, lookup_id: str, **options: Any) -> None:
        api_key = self.get_key(lookup_id)
        name = printable(api_key.name)
        if api_key.revoked:
            self.stdout.write(f'API key "{name}" ({api_key.lookup_id}) was already revoked.')
            return
        api_key.revoke()
        self.stdout.write(f'Revoked API key "{name}" ({api_key.lookup_id}).')
