"""What every key command shares: the key model it works on (--model), finding a key by its
lookup id, one sentence, instead of a traceback, when the database cannot do the job, text
from the database made safe to print (`printable`), and key events that name the command."""

import argparse
import re
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from ..addresses import parse_network
from ..events import acting_as
from ..models import AbstractAPIKey
from ..rates import QUOTA_EXAMPLES, is_quota

DEFAULT_MODEL = "api_keys.APIKey"


def key_models() -> list[type[AbstractAPIKey]]:
    """Every installed, concrete API key model."""
    return [model for model in apps.get_models() if issubclass(model, AbstractAPIKey)]


def get_key_model(label: str) -> type[AbstractAPIKey]:
    """The key model named `app_label.ModelName`, or a CommandError that says what is wrong."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(
            f"--model {label}: no installed model has that name; write app_label.ModelName, "
            f"e.g. {DEFAULT_MODEL}."
        ) from None
    if not issubclass(model, AbstractAPIKey):
        raise CommandError(
            f"--model {label}: {model._meta.label} is not an API key model (a subclass of "
            "AbstractAPIKey)."
        )
    return model


def add_limit_arguments(parser: argparse.ArgumentParser, keys: str = "the key") -> None:
    """--quota and --allowed-ip, as createapikey and importapikeys take them."""
    parser.add_argument(
        "--quota",
        type=quota_argument,
        metavar="QUOTA",
        help=f"requests {keys} may make per calendar period in UTC, e.g. 10000/month; default: "
        "API_KEYS['QUOTA']",
    )
    parser.add_argument(
        "--allowed-ip",
        action="append",
        dest="allowed_ips",
        type=network_argument,
        default=[],
        metavar="NETWORK",
        help=f"a network {keys} may be used from, in CIDR form (203.0.113.0/24, 2001:db8::/32); "
        "repeat for more; default: anywhere",
    )


def quota_argument(value: str) -> str:
    if not is_quota(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a quota: write e.g. {QUOTA_EXAMPLES}")
    return value


def network_argument(value: str) -> str:
    try:
        return str(parse_network(value))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def printable(text: object) -> str:
    """`text` safe for a terminal: each non-printable character (an ESC or CR an older row may
    hold in its name) escaped as repr() writes it, e.g. \\x1b; printable text is left as it is."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in str(text)
    )


def expiry_text(ends: datetime | None) -> str:
    """How the commands say when a key stops working."""
    return f"expires {ends.isoformat()}" if ends else "does not expire"


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")


def unapplied_migrations(database: str) -> list[str]:
    """Names of the migrations not applied to `database`; raises DatabaseError if it cannot
    be read."""
    executor = MigrationExecutor(connections[database])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def explain_database_error(error: DatabaseError, database: str) -> str:
    """One sentence for an operator: the database is unreachable, not migrated, or refused."""
    reason = first_line(error)
    try:
        unapplied = unapplied_migrations(database)
    except DatabaseError:
        return f"The database cannot be reached ({reason}); nothing was changed."
    if unapplied:
        return (
            f"The database is not migrated ({len(unapplied)} migration(s) to apply, such as "
            f"{unapplied[0]}): run `python manage.py migrate` first; nothing was changed."
        )
    return f"The database refused the command ({reason}); nothing was changed."


class DatabaseCommand(BaseCommand):
    """A command whose database failures end in one sentence, with nothing changed."""

    database = DEFAULT_DB_ALIAS

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Read "-5d" after an option as its value, so that the option can refuse it with a
        # reason, instead of argparse taking it for an unknown option ("expected one argument").
        parser._negative_number_matcher = re.compile(r"-\.?\d")
        return parser

    def execute(self, *args: Any, **options: Any) -> str | None:
        name = type(self).__module__.rpartition(".")[2]  # the command's name, e.g. revokeapikey
        try:
            with acting_as("command", name):  # the events of the keys it changes say so
                return super().execute(*args, **options)
        except DatabaseError as error:
            raise CommandError(explain_database_error(error, self.database)) from None


class KeyCommand(DatabaseCommand):
    """A command on the keys of one model: api_keys.APIKey, or the one --model names."""

    model: type[AbstractAPIKey]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--model",
            default=DEFAULT_MODEL,
            metavar="APP_LABEL.MODEL",
            help="the key model, such as a custom one (app_label.ModelName); "
            f"default: {DEFAULT_MODEL}",
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        self.model = get_key_model(options["model"])
        self.database = self.model.objects.db
        return super().execute(*args, **options)

    def get_key(self, lookup_id: str) -> AbstractAPIKey:
        """The key with this lookup id, or a CommandError that says where to find it."""
        try:
            return self.model._base_manager.get(lookup_id=lookup_id)
        except self.model.DoesNotExist:
            pass
        label = self.model._meta.label
        for other in key_models():
            if other is not self.model and other._base_manager.filter(lookup_id=lookup_id).exists():
                raise CommandError(
                    f"No key of {label} has the lookup id {lookup_id!r}; it is a key of "
                    f"{other._meta.label}: add --model {other._meta.label}."
                )
        listing = "listapikeys" if label == DEFAULT_MODEL else f"listapikeys --model {label}"
        raise CommandError(f"No API key has the lookup id {lookup_id!r}; {listing} shows them.")
