import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp import devices_for_user


class Command(BaseCommand):
    help = (
        "Remove a person's second-factor devices, for one who lost theirs: at their next "
        "sign-in to the admin, after the password, they set up a new one."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username", help="the person's username, as the admin shows it")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user is named {username!r}.")
        devices = list(devices_for_user(user, confirmed=None))
        if not devices:
            self.stdout.write(f"{username} has no second-factor device: nothing to remove.")
            return
        for device in devices:
            device.delete()
        self.stdout.write(
            f"Removed {len(devices)} second-factor device(s) of {username}. Make sure it is "
            "them who signs in next: whoever gives their password then sets up the new device."
        )
