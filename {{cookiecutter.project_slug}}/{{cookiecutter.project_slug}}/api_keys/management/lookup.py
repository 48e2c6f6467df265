"""Finding the key an operator names on the command line."""

from django.core.management.base import CommandError

from ..models import APIKey


def get_key_or_fail(lookup_id: str) -> APIKey:
    """The key with this lookup id, or a CommandError that says where to find lookup ids."""
    try:
        return APIKey.objects.get(lookup_id=lookup_id)
    except APIKey.DoesNotExist:
        raise CommandError(
            f"No API key has the lookup id {lookup_id!r}; listapikeys shows them."
        ) from None
