"""API keys: the abstract model to build custom key models on, its manager, and `APIKey`."""

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .checks import RATE_PATTERN
from .keys import (
    HASHED_KEY_MAX_LENGTH,
    LOOKUP_ID_MAX_LENGTH,
    UNUSABLE_HASH,
    KeyGenerator,
    ParsedKey,
)


def validate_throttle_rate(value: str) -> None:
    """Refuse a per-key rate that APIKeyRateThrottle could not read."""
    if not RATE_PATTERN.fullmatch(value):
        raise ValidationError(
            "%(value)r is not a rate. Write requests/period, e.g. '100/min', '50/s' or "
            "'10000/day' (period: s, min, hour or day).",
            code="invalid",
            params={"value": value},
        )


class BaseAPIKeyManager(models.Manager):
    """Creates keys and finds the key a client presents."""

    key_generator = KeyGenerator()

    def assign_key(self, obj: "AbstractAPIKey") -> str:
        """Give `obj` a new key and return it; the caller saves `obj`."""
        key, obj.lookup_id, obj.hashed_key = self.key_generator.generate()
        return key

    def create_key(self, **kwargs: Any) -> tuple["AbstractAPIKey", str]:
        """Create and save a key with the given fields; return (object, key). Show the key once."""
        kwargs.pop("id", None)
        obj = self.model(**kwargs)
        key = self.assign_key(obj)
        obj.save()
        return obj, key

    def get_usable_keys(self) -> models.QuerySet:
        """The keys that may authenticate; override to narrow them (e.g. active owners only)."""
        return self.filter(revoked=False)

    def find_key(self, parsed: ParsedKey) -> "AbstractAPIKey | None":
        """The usable key that `parsed` belongs to (expired or not), or None. One query."""
        try:
            api_key = self.get_usable_keys().get(lookup_id=parsed.lookup_id)
        except self.model.DoesNotExist:
            api_key = None
        # An unknown lookup id is hashed and compared too, so it takes the path a wrong secret does.
        hashed_key = api_key.hashed_key if api_key else UNUSABLE_HASH
        if not self.key_generator.verify_secret(parsed.secret, hashed_key) or api_key is None:
            return None
        if self.key_generator.needs_rehash(hashed_key):
            api_key.hashed_key = self.key_generator.hash(parsed.secret)
            self.filter(pk=api_key.pk).update(hashed_key=api_key.hashed_key)
        return api_key

    def get_from_key(self, key: str) -> "AbstractAPIKey":
        """The usable key matching `key`; raises `DoesNotExist` if none does."""
        parsed = self.key_generator.parse(key)
        api_key = self.find_key(parsed) if parsed else None
        if api_key is None:
            raise self.model.DoesNotExist("No usable API key matches the given key.")
        return api_key

    def is_valid(self, key: str) -> bool:
        """Whether `key` belongs to a usable key that has not expired."""
        try:
            api_key = self.get_from_key(key)
        except self.model.DoesNotExist:
            return False
        return not api_key.has_expired


class APIKeyManager(BaseAPIKeyManager):
    pass


class AbstractAPIKey(models.Model):
    """Fields and rules of an API key. Subclass it to add fields, such as an owner."""

    objects: ClassVar[BaseAPIKeyManager] = BaseAPIKeyManager()

    lookup_id = models.CharField(
        max_length=LOOKUP_ID_MAX_LENGTH,
        unique=True,
        editable=False,
        help_text="The public part of the key, used to find it. Safe to show and log.",
    )
    hashed_key = models.CharField(max_length=HASHED_KEY_MAX_LENGTH, editable=False)
    name = models.CharField(
        max_length=100,
        help_text="Who or what uses the key, e.g. 'billing-service production'.",
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    revoked = models.BooleanField(
        default=False,
        help_text="A revoked key stops working at once. This cannot be undone.",
    )
    expiry_date = models.DateTimeField(
        "expires",
        null=True,
        blank=True,
        help_text="The key stops working at this time. Empty: it does not expire.",
    )
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="What the key may do: views list the scopes they require.",
    )
    throttle_rate = models.CharField(
        max_length=20,
        blank=True,
        validators=[validate_throttle_rate],
        help_text="Requests allowed, e.g. '100/min'. Empty: API_KEYS['THROTTLE_RATE'].",
    )
    last_used_at = models.DateTimeField("last used", null=True, blank=True, editable=False)
    rotated_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="rotated_to",
        help_text="The key this one replaced.",
    )

    class Meta:
        abstract = True
        ordering = ("-created",)
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return str(self.name)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._validate_revoked()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self._validate_revoked()

    @property
    def has_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date <= timezone.now()

    def is_valid(self, key: str) -> bool:
        """Whether `key` is this key (revocation and expiry are not looked at)."""
        return type(self).objects.key_generator.verify(key, self.hashed_key)

    def revoke(self) -> None:
        """Revoke the key for good."""
        self.revoked = True
        self.save(update_fields=["revoked"])

    def _validate_revoked(self) -> None:
        # Asks the database, so that an object loaded before the revocation cannot undo it.
        if self.revoked or self._state.adding:
            return
        if type(self)._base_manager.filter(pk=self.pk, revoked=True).exists():
            raise ValidationError("This API key has been revoked, which cannot be undone.")


class APIKey(AbstractAPIKey):
    objects = APIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
