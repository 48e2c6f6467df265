"""API keys: the abstract model to build custom key models on, its manager, and `APIKey`."""

import copy
from datetime import timedelta
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from .cache import verification_cache
from .checks import RATE_PATTERN
from .keys import (
    HASHED_KEY_MAX_LENGTH,
    LOOKUP_ID_MAX_LENGTH,
    UNUSABLE_HASH,
    KeyGenerator,
    ParsedKey,
)
from .scopes import normalize_scopes
from .settings import api_keys_settings


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

    async def acreate_key(self, **kwargs: Any) -> tuple["AbstractAPIKey", str]:
        """`create_key` for async code."""
        kwargs.pop("id", None)
        obj = self.model(**kwargs)
        key = self.assign_key(obj)
        await obj.asave()
        return obj, key

    def get_usable_keys(self) -> models.QuerySet:
        """The keys that may authenticate; override to narrow them (e.g. active owners only)."""
        return self.filter(revoked=False)

    def check_key(self, key: str) -> "tuple[bool, AbstractAPIKey | None]":
        """(well formed, the usable key it belongs to or None) for a key as presented; the key
        may have expired.

        A key checked lately, accepted or refused, is answered from the verification cache,
        without even being parsed again; any other well-formed key costs one query.
        """
        answer = self._answer_without_query(key)
        return answer if isinstance(answer, tuple) else (True, self._query_key(answer))

    async def acheck_key(self, key: str) -> "tuple[bool, AbstractAPIKey | None]":
        """`check_key` for async code: the database is queried without blocking the loop."""
        answer = self._answer_without_query(key)
        return answer if isinstance(answer, tuple) else (True, await self._aquery_key(answer))

    def _answer_without_query(self, key: str) -> "tuple[bool, AbstractAPIKey | None] | ParsedKey":
        """`check_key`'s answer where no query is needed (a verdict from the cache, or a
        malformed key); otherwise the parsed key, to query."""
        known, cached = verification_cache.lookup(self.model, key)
        if known:
            return True, cached
        return self.key_generator.parse(key) or (False, None)

    def find_key(self, parsed: ParsedKey) -> "AbstractAPIKey | None":
        """The usable key that `parsed` belongs to (expired or not), or None; see `check_key`."""
        known, cached = verification_cache.lookup(self.model, parsed.key)
        return cached if known else self._query_key(parsed)

    async def afind_key(self, parsed: ParsedKey) -> "AbstractAPIKey | None":
        """`find_key` for async code."""
        known, cached = verification_cache.lookup(self.model, parsed.key)
        return cached if known else await self._aquery_key(parsed)

    def _query_key(self, parsed: ParsedKey) -> "AbstractAPIKey | None":
        # Read before the query: see cache.py.
        stamp = verification_cache.stamp(self.model, parsed.lookup_id)
        try:
            api_key = self.get_usable_keys().get(lookup_id=parsed.lookup_id)
        except self.model.DoesNotExist:
            api_key = None
        return self._accept(parsed, api_key, stamp)

    async def _aquery_key(self, parsed: ParsedKey) -> "AbstractAPIKey | None":
        # Read before the query: see cache.py.
        stamp = verification_cache.stamp(self.model, parsed.lookup_id)
        try:
            api_key = await self.get_usable_keys().aget(lookup_id=parsed.lookup_id)
        except self.model.DoesNotExist:
            api_key = None
        return await sync_to_async(self._accept)(parsed, api_key, stamp)

    def _accept(
        self, parsed: ParsedKey, api_key: "AbstractAPIKey | None", stamp: str | None
    ) -> "AbstractAPIKey | None":
        """`api_key` if `parsed` matches it; rehashes an imported slow hash; remembers the
        verdict either way."""
        # An unknown lookup id is hashed and compared too, so it takes the path a wrong secret does.
        hashed_key = api_key.hashed_key if api_key else UNUSABLE_HASH
        if not self.key_generator.verify_secret(parsed.secret, hashed_key) or api_key is None:
            verification_cache.refuse(self.model, parsed.key, parsed.lookup_id, stamp)
            return None
        if self.key_generator.needs_rehash(hashed_key):
            api_key.hashed_key = self.key_generator.hash(parsed.secret)
            self.filter(pk=api_key.pk).update(hashed_key=api_key.hashed_key)
        verification_cache.put(self.model, parsed.key, api_key, stamp)
        return api_key

    def get_from_key(self, key: str) -> "AbstractAPIKey":
        """The usable key matching `key`; raises `DoesNotExist` if none does."""
        api_key = self.check_key(key)[1]
        if api_key is None:
            raise self.model.DoesNotExist("No usable API key matches the given key.")
        return api_key

    async def aget_from_key(self, key: str) -> "AbstractAPIKey":
        """`get_from_key` for async code."""
        api_key = (await self.acheck_key(key))[1]
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

    async def ais_valid(self, key: str) -> bool:
        """`is_valid` for async code."""
        try:
            api_key = await self.aget_from_key(key)
        except self.model.DoesNotExist:
            return False
        return not api_key.has_expired

    def record_use(self, api_key: "AbstractAPIKey") -> None:
        """Set `last_used_at`, at most once per API_KEYS["LAST_USED_INTERVAL"] per key.

        One conditional UPDATE, skipped while this process knows the value is fresh: no
        read-modify-write, and concurrent requests cannot both move it within an interval.
        """
        now = timezone.now()
        interval = timedelta(seconds=api_keys_settings().last_used_interval)
        if api_key.last_used_at is not None and now - api_key.last_used_at < interval:
            return
        stale = models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lte=now - interval)
        self.model._base_manager.filter(stale, pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


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
        self._validate_access()
        super().save(*args, **kwargs)
        self._forget_now_and_on_commit()

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        self._forget_now_and_on_commit()
        return super().delete(*args, **kwargs)

    def _forget_now_and_on_commit(self) -> None:
        verification_cache.forget(self)
        # Once more when the change commits: another process that queried the key meanwhile
        # read it as it was, under the stamp just written.
        transaction.on_commit(lambda: verification_cache.forget(self), using=self._state.db)

    def clean(self) -> None:
        self._validate_revoked()

    def _validate_access(self) -> None:
        """Scopes and throttle rate, however they were set (the admin and the commands check
        them too, with messages of their own): a typo would otherwise fail only at request time,
        as a 403 or an unlimited rate."""
        scopes = self.scopes
        is_a_list = isinstance(scopes, list | tuple | set)
        if not is_a_list or not all(isinstance(scope, str) for scope in scopes):
            raise ValidationError({"scopes": "Scopes are a list of strings, e.g. ['orders:read']."})
        try:
            self.scopes = normalize_scopes(scopes)
        except ValueError as error:
            raise ValidationError({"scopes": str(error)}) from None
        if self.throttle_rate:
            validate_throttle_rate(self.throttle_rate)

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

    # Not copied by `rotate`: the new key has its own secret, age, state and history.
    fields_not_copied_on_rotation = (
        "lookup_id",
        "hashed_key",
        "created",
        "revoked",
        "expiry_date",
        "last_used_at",
        "rotated_from",
    )

    def rotate(self, grace: timedelta) -> tuple["AbstractAPIKey", str]:
        """Issue a key that replaces this one, which stops working `grace` from now (or sooner,
        if it already expires sooner). Return (new object, key), and show the key once.

        The new key keeps every other field: name, scopes, throttle rate, and the fields a
        custom key model adds, such as an owner.
        """
        if grace < timedelta(0):
            raise ValueError("The grace period cannot be negative.")
        model = type(self)
        with transaction.atomic(using=self._state.db):
            # Read under a row lock, so that a revocation made meanwhile is seen.
            current = model._base_manager.select_for_update().get(pk=self.pk)
            if current.revoked or self.revoked:
                raise ValueError("A revoked API key cannot be rotated; create a new key instead.")
            fields = {
                field.attname: copy.deepcopy(getattr(current, field.attname))
                for field in model._meta.concrete_fields
                if not field.primary_key and field.name not in self.fields_not_copied_on_rotation
            }
            new_key, key = model.objects.create_key(**fields, rotated_from=self)
            ends = timezone.now() + grace
            if current.expiry_date is not None and current.expiry_date <= ends:
                self.expiry_date = current.expiry_date
            else:
                self.expiry_date = ends
                self.save(update_fields=["expiry_date"])
        return new_key, key


class APIKey(AbstractAPIKey):
    objects = APIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
