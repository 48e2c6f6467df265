import argparse
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from django.core.management.base import CommandError
from django.views.decorators.debug import sensitive_variables

from ...keys import KeyGenerator
from ...models import AbstractAPIKey
from ...secret_scanning import find_key, key_models, revoke_leaked
from ..base import DatabaseCommand, printable

FOUND_LIVE = 1  # exit status: live keys found and left live
ERROR = 2  # exit status: a file could not be read, nothing was changed


class Match(NamedTuple):
    """A key-shaped string with a right checksum, and where it was found."""

    place: str  # file:line
    token: str
    shown: str  # the token as printed: brand and lookup id only


def key_patterns() -> dict[str, KeyGenerator]:
    """{regular expression: its key generator}, for every key model's generator."""
    generators = (model.objects.key_generator for model in key_models())
    return {generator.key_pattern(): generator for generator in generators}


@sensitive_variables()
def find_matches(name: str, text: str) -> list[Match]:
    """The keys in `text` (file `name`) whose checksum is right, in order."""
    matches = []
    patterns = key_patterns()
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, generator in patterns.items():
            for found in re.finditer(pattern, line, re.ASCII):
                parsed = generator.parse(found[0])
                if parsed is not None:
                    shown = f"{generator.brand}_{parsed.lookup_id}_…"
                    matches.append(Match(f"{name}:{number}", found[0], shown))
    return matches


def status_of(api_key: AbstractAPIKey | None) -> str:
    if api_key is None:
        return "unknown"
    if api_key.revoked:
        return "revoked"
    return "expired" if api_key.has_expired else "live"


class Command(DatabaseCommand):
    help = (
        "Find this project's API keys in files (code, logs, a paste) and say whether each is "
        "live, revoked, expired or unknown, by its lookup id (never the whole key). --revoke "
        "revokes those that are not revoked yet. Exit status: 0 when no live key is left, "
        f"{FOUND_LIVE} when live keys were found and not revoked, {ERROR} when a file cannot be "
        "read (then nothing is changed)."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("files", nargs="*", metavar="FILE", help="a file; - for standard input")
        parser.add_argument(
            "--revoke",
            action="store_true",
            help="revoke every key found that is not revoked yet (reason: leak_report)",
        )
        parser.add_argument(
            "--pattern",
            action="store_true",
            help="print the regular expression of this project's keys (to register with a "
            "secret scanner) and stop",
        )

    @sensitive_variables()
    def handle(self, *args: Any, files: list[str], **options: Any) -> None:
        if options["pattern"]:
            for pattern in key_patterns():
                self.stdout.write(pattern)
            return
        if not files:
            raise CommandError("Name a file to search, or - for standard input.", returncode=ERROR)
        # Every file is read before any key is looked at: an unreadable one changes nothing.
        stdin: TextIO = options.get("stdin") or sys.stdin
        matches = [match for name in files for match in find_matches(name, self.read(name, stdin))]
        if not matches:
            self.stdout.write("No API key of this project found.")
            return
        keys: dict[str, AbstractAPIKey | None] = {}
        for match in matches:
            if match.token not in keys:
                keys[match.token] = find_key(match.token)
            api_key = keys[match.token]
            status = status_of(api_key)
            named = "" if api_key is None else f' (API key "{printable(api_key.name)}")'
            self.stdout.write(f"{printable(match.place)}: {match.shown} {status}{named}")
        self.conclude(keys, revoke=options["revoke"])

    def conclude(self, keys: dict[str, AbstractAPIKey | None], *, revoke: bool) -> None:
        """Revoke what --revoke asks for, and sum up; exit FOUND_LIVE while live keys remain."""
        found = [api_key for api_key in keys.values() if api_key is not None]
        live = [api_key for api_key in found if status_of(api_key) == "live"]
        unknown = len(keys) - len(found)
        if revoke:
            for api_key in found:
                if revoke_leaked(api_key):
                    self.stdout.write(
                        f'Revoked API key "{printable(api_key.name)}" ({api_key.lookup_id}).'
                    )
        now_revoked = " (revoked now)" if revoke and live else ""
        self.stdout.write(
            f"{len(keys)} key(s) found: {len(live)} live{now_revoked}, {len(found) - len(live)} "
            f"revoked or expired, {unknown} unknown."
        )
        if live and not revoke:
            raise CommandError(
                f"{len(live)} live key(s) found: revoke them with --revoke, or one at a time "
                "with revokeapikey LOOKUP_ID.",
                returncode=FOUND_LIVE,
            )

    def read(self, name: str, stdin: TextIO) -> str:
        if name == "-":
            return stdin.read()
        try:
            with Path(name).open(encoding="utf-8", errors="replace") as file:
                return file.read()
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise CommandError(
                f"Cannot read {printable(name)}: {reason}; nothing was changed.", returncode=ERROR
            ) from None
