import argparse
from datetime import UTC, datetime
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ...models import APIKey
from ..base import DatabaseCommand, add_limit_arguments, first_line

DEFAULT_TABLE = "rest_framework_api_key_apikey"
# The columns read from djangorestframework-api-key's table (its `id` is not needed).
COLUMNS = ("prefix", "name", "created", "revoked", "expiry_date", "hashed_key")


def as_datetime(value: datetime | str | None) -> datetime | None:
    """A timestamp read by a raw query, made aware the way Django stored it (UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
        try:
            value = parse_datetime(text)
        except ValueError:  # shaped like a date and time, but none (2024-02-30)
            value = None
        if value is None:
            raise ValueError(f"{text!r} is not a date and time")
    if settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


class Command(DatabaseCommand):
    help = (
        "Copy the API keys of djangorestframework-api-key from its table in this database, so "
        "that their clients keep using them. Keys whose lookup id exists here are skipped, so "
        "running it again is safe."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--table",
            default=DEFAULT_TABLE,
            metavar="NAME",
            help=f"the table to read; default: {DEFAULT_TABLE}",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be imported; write nothing"
        )
        add_limit_arguments(parser, keys="each imported key")

    def handle(
        self,
        *args: Any,
        table: str,
        dry_run: bool,
        quota: str | None,
        allowed_ips: list[str],
        **options: Any,
    ) -> None:
        self.limits = {"quota": quota or "", "allowed_ips": allowed_ips}
        rows = self.read_rows(table)
        existing = set(APIKey.objects.values_list("lookup_id", flat=True))
        new_rows = [
            (number, row)
            for number, row in enumerate(rows, start=1)
            if row["prefix"] not in existing
        ]
        skipped = len(rows) - len(new_rows)
        # All or nothing: a row that cannot be imported undoes the others. A dry run does the
        # same work, then undoes it, so that it finds the same bad rows.
        with transaction.atomic():
            for number, row in new_rows:
                try:
                    self.import_row(row)
                except (ValidationError, ValueError, DatabaseError) as error:
                    reason = (
                        " ".join(error.messages)
                        if isinstance(error, ValidationError)
                        else first_line(error)
                    )
                    raise CommandError(
                        f"Row {number} of {table} (prefix {row['prefix']!r}) cannot be "
                        f"imported: {reason.rstrip('.')}. Nothing was imported."
                    ) from None
            transaction.set_rollback(dry_run)
        if dry_run:
            self.stdout.write(
                f"Dry run: would import {len(new_rows)} API key(s) from {table} and skip "
                f"{skipped} whose lookup id exists already. Nothing was written."
            )
            return
        self.stdout.write(
            f"Imported {len(new_rows)} API key(s) from {table}; skipped {skipped} whose lookup "
            "id exists already."
        )

    def read_rows(self, table: str) -> list[dict[str, Any]]:
        """Every key row of `table`, oldest first, as a dict of COLUMNS."""
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            if table not in connection.introspection.table_names(cursor):
                raise CommandError(
                    f"There is no table {table!r} in the database. Run this command with the "
                    "database that djangorestframework-api-key used, or name its table with "
                    "--table NAME."
                )
            description = connection.introspection.get_table_description(cursor, table)
            if missing := sorted(set(COLUMNS) - {column.name for column in description}):
                raise CommandError(
                    f"The table {table!r} lacks the column(s) {', '.join(missing)}: it does "
                    "not hold keys of djangorestframework-api-key 1.4 or later."
                )
            columns = ", ".join(quote(column) for column in COLUMNS)
            # Safe: the table name is one the database listed above, and every name is quoted.
            query = f"SELECT {columns} FROM {quote(table)} ORDER BY {quote('created')}"  # noqa: S608  # nosec B608
            cursor.execute(query)
            return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]

    def import_row(self, row: dict[str, Any]) -> None:
        """Save one row as an APIKey; extend it to fill the fields a custom key model adds.

        A value the key's columns cannot hold raises ValidationError (SQLite would store a
        name too long for its column, which PostgreSQL refuses), and a bad date ValueError.
        """
        # The hash is kept as it is: keys.py verifies it, and replaces a slow one on first use.
        api_key = APIKey(
            lookup_id=row["prefix"],
            name=row["name"],
            hashed_key=row["hashed_key"],
            revoked=bool(row["revoked"]),
            expiry_date=as_datetime(row["expiry_date"]),
            **self.limits,
        )
        for name in ("lookup_id", "name", "hashed_key"):
            try:
                field = cast("models.Field[Any, Any]", APIKey._meta.get_field(name))
                field.run_validators(getattr(api_key, name))
            except ValidationError as error:
                raise ValidationError(f"{name}: {' '.join(error.messages)}") from None
        api_key.validate_constraints()  # a name, as the database requires
        api_key.save()
        # `created` is set to now on the first save; put the original time back.
        APIKey.objects.filter(pk=api_key.pk).update(created=as_datetime(row["created"]))
