import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_otp import devices_for_user

from ...models import User


class Command(BaseCommand):
    help = (
        "Remove a person's second-factor devices, for one who lost theirs: at their next "
        "sign-in to the admin, after the password, they set up a new one."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username", help="the person's username, as the admin shows it")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is named {username!r}.")
        devices = list(devices_for_user(user, confirmed=None))
        for device in devices:
            device.delete()
        self.stdout.write(
            f"Removed {len(devices)} second-factor device(s) of {username}. Make sure it is "
            "them who signs in next: whoever gives their password then sets up the new device."
        )
