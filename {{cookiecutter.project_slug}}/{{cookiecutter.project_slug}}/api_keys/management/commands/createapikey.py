import argparse
from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import models

from ...models import validate_printable
from ...scopes import SCOPE_RULE, normalize_scopes
from ..base import KeyCommand, add_limit_arguments, expiry_text, printable
from ..durations import parse_expiry

# Fields that have options of their own, or that no new key may set.
NOT_SET_WITH_FIELD = ("name", "expiry_date", "scopes", "revoked", "quota", "allowed_ips")


def parse_field(value: str) -> tuple[str, str]:
    """NAME=VALUE, as --field takes it."""
    name, equals, field_value = value.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not NAME=VALUE, e.g. --field organization=3"
        )
    return name.strip(), field_value


class Command(KeyCommand):
    help = "Create an API key and print it. It is shown this once and stored only as a hash."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--name", required=True, help="who or what uses the key")
        parser.add_argument(
            "--expires",
            type=parse_expiry,
            metavar="WHEN",
            help="a duration (90d, 12h, 30m), a date or an ISO 8601 date and time, in the "
            "future; default: never",
        )
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            default=[],
            metavar="SCOPE",
            help=f"a scope the key is granted; repeat for more ({SCOPE_RULE})",
        )
        add_limit_arguments(parser)
        parser.add_argument(
            "--field",
            action="append",
            dest="fields",
            type=parse_field,
            default=[],
            metavar="NAME=VALUE",
            help="another field of the key model, e.g. a custom model's owner "
            "(--field organization=3, the owner's id) or throttle_rate=100/min; repeat for more",
        )

    def handle(
        self,
        *args: Any,
        name: str,
        expires: datetime | None,
        scopes: list[str],
        fields: list[tuple[str, str]],
        quota: str | None,
        allowed_ips: list[str],
        **options: Any,
    ) -> None:
        name = name.strip()
        max_length = cast(int, self.model._meta.get_field("name").max_length)
        if not name or len(name) > max_length:
            raise CommandError(f"--name must be 1 to {max_length} characters long.")
        try:
            validate_printable(name)
        except ValidationError as error:
            raise CommandError(f"--name: {' '.join(error.messages)}") from None
        try:
            scopes = normalize_scopes(scopes)
        except ValueError as error:
            raise CommandError(f"--scope: {error}") from None
        values = {"name": name, "expiry_date": expires, "scopes": scopes}
        values |= {"quota": quota or "", "allowed_ips": allowed_ips}
        values.update(self.clean_fields(dict(self.read_fields(fields)), values))
        try:
            api_key, key = self.model.objects.create_key(**values)
        except ValidationError as error:
            raise CommandError(f"The key was not created: {' '.join(error.messages)}") from None
        limits = "".join(
            [
                f", quota {api_key.quota}" if api_key.quota else "",
                f", from {' '.join(api_key.allowed_ips)} only" if api_key.allowed_ips else "",
            ]
        )
        expiry = expiry_text(api_key.expiry_date)
        self.stderr.write(
            f'Created API key "{printable(api_key.name)}" (lookup id {api_key.lookup_id}, '
            f"scopes: {printable(' '.join(scopes)) or 'none'}{limits}, {expiry}). "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(key)

    def settable_fields(self) -> dict[str, "models.Field[Any, Any]"]:
        """The fields --field may set: a custom model's own fields, and throttle_rate."""
        return {
            field.name: field
            for field in self.model._meta.concrete_fields
            if field.editable and not field.primary_key and field.name not in NOT_SET_WITH_FIELD
        }

    def read_fields(
        self, fields: list[tuple[str, str]]
    ) -> list[tuple["models.Field[Any, Any]", str]]:
        """(field, value as typed) for each --field; a name that is unknown or given twice
        is refused."""
        settable = self.settable_fields()
        seen: set[str] = set()
        read = []
        for field_name, value in fields:
            if field_name not in settable:
                choices = ", ".join(sorted(settable)) or "none"
                raise CommandError(
                    f"--field {field_name}: {self.model._meta.label} has no field of that name "
                    f"that can be set here (it has: {choices})."
                )
            if field_name in seen:
                raise CommandError(f"--field {field_name} is given twice.")
            seen.add(field_name)
            read.append((settable[field_name], value))
        return read

    def clean_fields(
        self, given: dict["models.Field[Any, Any]", str], values: dict[str, Any]
    ) -> dict[str, Any]:
        """The --field values converted and checked as the model's own validation does
        (types, lengths, rates, that an owner exists), with every required field present."""
        label = self.model._meta.label
        for field in self.settable_fields().values():
            if field not in given and not field.blank and not field.has_default():
                raise CommandError(
                    f"{label} keys need --field {field.name}=VALUE ({describe(field)})."
                )
        # An empty value means none, except where an empty string is a value (text).
        typed = {f.attname: v if v or f.empty_strings_allowed else None for f, v in given.items()}
        candidate = self.model(**values, **typed)
        try:
            candidate.full_clean(exclude=["lookup_id", "hashed_key"])
        except ValidationError as error:
            names = {field.name for field in given}
            field_name, messages = next(iter(error.message_dict.items()))
            if field_name in names:
                raise CommandError(f"--field {field_name}: {' '.join(messages)}") from None
            raise CommandError(f"The key was not created: {' '.join(messages)}") from None
        return {field.attname: getattr(candidate, field.attname) for field in given}


def describe(field: "models.Field[Any, Any]") -> str:
    """What an operator types for `field`: the id of the object it points to, or a value."""
    if field.is_relation and field.related_model is not None:
        target = field.target_field.name  # type: ignore[attr-defined]
        return f"the {target} of an existing {field.related_model._meta.object_name}"
    return str(field.verbose_name)
