"""API keys: the abstract model to build custom key models on, its manager, and `APIKey`."""

import copy
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connections, models, transaction
from django.db.models.manager import BaseManager
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .checks import RATE_PATTERN
from .keys import HASHED_KEY_MAX_LENGTH, LOOKUP_ID_MAX_LENGTH, KeyGenerator
from .scopes import normalize_scopes
from .settings import api_keys_settings
from .verification import find_key, verify_key

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


def validate_throttle_rate(value: str) -> None:
    """Refuse a per-key rate that APIKeyRateThrottle could not read."""
    if not RATE_PATTERN.fullmatch(value):
        raise ValidationError(
            "%(value)r is not a rate. Write requests/period, e.g. '100/min', '50/s' or "
            "'10000/day' (period: s, min, hour or day).",
            code="invalid",
            params={"value": value},
        )


@dataclass(frozen=True)
class _CompiledLookup:
    """`SELECT <every column> FROM <table> WHERE lookup_id = %s`, as the ORM writes it."""

    sql: str
    attnames: list[str]
    compiler: Any
    converters: dict[int, Any]


_compiled_lookups: dict[tuple[type, str], _CompiledLookup] = {}


def _row_by_lookup_id(model: type["AbstractAPIKey"], alias: str, lookup_id: str) -> Any:
    """The row with this lookup id as a model instance, or None: the query `filter(lookup_id=)`
    would run, compiled once per model and database instead of on every request."""
    compiled = _compiled_lookups.get((model, alias))
    if compiled is None:
        queryset: models.QuerySet[AbstractAPIKey] = (
            models.QuerySet(model, using=alias).filter(lookup_id="").order_by()
        )
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if list(params) != [""]:
            raise ImproperlyConfigured(f"Unexpected query for {model.__name__}: {sql}")
        columns = [column for column, _, _ in compiler.select]
        compiled = _CompiledLookup(
            sql=sql,
            attnames=[column.target.attname for column in columns],
            compiler=compiler,
            converters=compiler.get_converters(columns),
        )
        _compiled_lookups[(model, alias)] = compiled
    with connections[alias].cursor() as cursor:
        cursor.execute(compiled.sql, [lookup_id])
        row = cursor.fetchone()
    if row is None:
        return None
    if compiled.converters:
        row = next(compiled.compiler.apply_converters([row], compiled.converters))
    return model.from_db(alias, compiled.attnames, row)


_stock_rules: dict[type, bool] = {}  # by manager class


def _has_stock_rules(manager: "type[BaseAPIKeyManager[Any]]") -> bool:
    return (
        manager.get_usable_keys is BaseAPIKeyManager.get_usable_keys
        and manager.get_queryset is BaseManager.get_queryset
        and manager._queryset_class is models.QuerySet  # type: ignore[attr-defined]
    )


# The key model a manager serves, so that a custom model's manager returns that model.
_Key = TypeVar("_Key", bound="AbstractAPIKey")


class BaseAPIKeyManager(models.Manager[_Key]):
    """Creates keys and finds the key a client presents."""

    key_generator = KeyGenerator()

    def assign_key(self, obj: _Key) -> str:
        """Give `obj` a new key and return it; the caller saves `obj`."""
        key, obj.lookup_id, obj.hashed_key = self.key_generator.generate()
        if not obj.pk and not isinstance(obj._meta.pk, models.AutoField):
            # A table kept from djangorestframework-api-key, whose primary key is a string.
            obj.pk = obj.lookup_id
        return key

    def create_key(self, **kwargs: Any) -> tuple[_Key, str]:
        """Create and save a key with the given fields; return (object, key). Show the key once."""
        kwargs.pop("id", None)
        obj = self.model(**kwargs)
        key = self.assign_key(obj)
        obj.save(using=self.db)  # as Manager.create: db_manager("other") saves there
        return obj, key

    async def acreate_key(self, **kwargs: Any) -> tuple[_Key, str]:
        """`create_key` for async code."""
        return await sync_to_async(self.create_key)(**kwargs)

    def get_usable_keys(self) -> models.QuerySet[_Key]:
        """The keys that may authenticate; override to narrow them (e.g. active owners only)."""
        return self.filter(revoked=False)

    def find_usable_key(self, lookup_id: str) -> _Key | None:
        """The usable key with this lookup id, expired or not, or None: one query.

        With the stock rules (`get_usable_keys` and `get_queryset` not overridden) the row is
        read by a query compiled once, and judged here; otherwise through `get_usable_keys()`.
        """
        if not self.uses_stock_rules():
            return next(iter(self.get_usable_keys().filter(lookup_id=lookup_id)[:1]), None)
        api_key = _row_by_lookup_id(self.model, self.db, lookup_id)
        return api_key if api_key is not None and not api_key.revoked else None

    def uses_stock_rules(self) -> bool:
        """Whether `get_usable_keys` and `get_queryset` are not overridden (nor the QuerySet)."""
        stock = _stock_rules.get(type(self))
        if stock is None:
            stock = _stock_rules[type(self)] = _has_stock_rules(type(self))
        return stock

    # The checks that take a key hide their variables (the key) from error reports.
    @sensitive_variables()
    def check_key(self, key: str) -> tuple[bool, _Key | None]:
        """(well formed, the usable key it belongs to or None) for a key as presented; the key
        may have expired. A malformed key costs no query, any other one query."""
        return find_key(self, key)

    async def acheck_key(self, key: str) -> tuple[bool, _Key | None]:
        """`check_key` for async code: the database is queried without blocking the loop."""
        return await sync_to_async(self.check_key)(key)

    @sensitive_variables()
    def get_from_key(self, key: str) -> _Key:
        """The usable key matching `key` (expired or not); raises `DoesNotExist` if none does."""
        api_key = find_key(self, key)[1]
        if api_key is None:
            raise self.model.DoesNotExist("No usable API key matches the given key.")
        return api_key

    async def aget_from_key(self, key: str) -> _Key:
        """`get_from_key` for async code."""
        return await sync_to_async(self.get_from_key)(key)

    @sensitive_variables()
    def is_valid(self, key: str) -> bool:
        """Whether `key` belongs to a usable key that has not expired."""
        return verify_key(self, key).accepted

    async def ais_valid(self, key: str) -> bool:
        """`is_valid` for async code."""
        return await sync_to_async(self.is_valid)(key)

    def record_use(self, api_key: _Key) -> None:
        """Set `last_used_at`, at most once per API_KEYS["LAST_USED_INTERVAL"] per key.

        One conditional UPDATE, skipped while this process knows the value is fresh: no
        read-modify-write, and concurrent requests cannot both move it within an interval.
        """
        options = api_keys_settings()
        used = api_key.last_used_at
        if used is not None:
            # An aware time (USE_TZ, the usual case) is compared in seconds: no datetime is made.
            now_seconds = time.time() if used.tzinfo else timezone.now().timestamp()
            if now_seconds - used.timestamp() < options.last_used_interval:
                return
        now = timezone.now()
        interval = options.last_used_delta
        stale = models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lte=now - interval)
        self.model._base_manager.filter(stale, pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


class APIKeyManager(BaseAPIKeyManager["APIKey"]):
    pass


class AbstractAPIKey(models.Model):
    """Fields and rules of an API key. Subclass it to add fields, such as an owner."""

    objects: ClassVar["BaseAPIKeyManager[Any]"] = BaseAPIKeyManager()
    if TYPE_CHECKING:  # the keys that replaced this one (rotated_from's reverse relation)
        rotated_to: "RelatedManager[AbstractAPIKey]"

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

    def save(self, *args: Any, update_fields: Any = None, **kwargs: Any) -> None:
        saved = None if update_fields is None else set(update_fields)
        self._validate_irreversible(saved)
        if saved is None or "name" in saved:
            self._validate_name()
        if saved is None or saved & {"scopes", "throttle_rate"}:
            self._validate_access()
        super().save(*args, update_fields=update_fields, **kwargs)

    def clean(self) -> None:
        self._validate_irreversible(None)

    def _validate_name(self) -> None:
        """Refuse an empty name, however the key is saved (the field alone refuses it only in
        forms): a nameless key cannot be told apart in the admin, the lists or the logs."""
        if not self.name or not str(self.name).strip():
            raise ValidationError({"name": "An API key needs a name, saying who or what uses it."})

    def _validate_access(self) -> None:
        """Scopes and throttle rate, however they were set (the admin and the commands check
        them too, with messages of their own): a typo would otherwise fail only at request time,
        as a 403 or an unlimited rate. Not checked when neither is saved, so that revoking a key
        whose stored scopes break today's rules still works."""
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

    def _validate_irreversible(self, saved: set[str] | None) -> None:
        """Refuse to undo a revocation, or to move a rotated key's end later. Asks the database,
        so that an object loaded (or a form opened) before the change cannot undo it."""
        if self._state.adding or self.pk is None:
            return
        if self.revoked and saved is not None and "expiry_date" not in saved:
            return  # revoking: nothing to undo
        # Through Manager[Any]: django-stubs' plugin fails on lookups of an abstract model.
        keys: models.Manager[Any] = type(self)._base_manager
        successors = keys.filter(rotated_from=models.OuterRef("pk"))
        stored = (
            keys.filter(pk=self.pk)
            .values("revoked", "expiry_date")
            .annotate(rotated=models.Exists(successors))
            .first()
        )
        if stored is None:
            return
        if stored["revoked"] and not self.revoked:
            raise ValidationError("This API key has been revoked, which cannot be undone.")
        ends = stored["expiry_date"]
        moved_later = ends is not None and (self.expiry_date is None or self.expiry_date > ends)
        if stored["rotated"] and moved_later and (saved is None or "expiry_date" in saved):
            raise ValidationError(
                {
                    "expiry_date": f"This API key was rotated and stops working at "
                    f"{ends.isoformat(sep=' ', timespec='seconds')}; that time can be brought "
                    "forward, not moved later."
                }
            )

    @property
    def has_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date <= timezone.now()

    @sensitive_variables()
    def is_valid(self, key: str) -> bool:
        """Whether `key` is this key (revocation and expiry are not looked at)."""
        return type(self).objects.key_generator.verify(key, self.hashed_key)

    def revoke(self) -> None:
        """Revoke the key for good."""
        self.revoked = True
        self.save(update_fields=["revoked"])

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
        custom key model adds, such as an owner. A key that expires passes its lifetime on: the
        new key expires that long after the rotation. A revoked or expired key cannot be
        rotated, nor one that has a successor still in use (rotate the successor instead).
        """
        if grace < timedelta(0):
            raise ValueError("The grace period cannot be negative.")
        model = type(self)
        with transaction.atomic(using=self._state.db):
            # Under a row lock: a concurrent rotation or revocation waits, then sees this one.
            current = model._base_manager.select_for_update().get(pk=self.pk)
            now = timezone.now()
            if current.revoked:
                raise ValueError("A revoked API key cannot be rotated; create a new key instead.")
            if current.has_expired:
                raise ValueError("An expired API key cannot be rotated; create a new key instead.")
            live = models.Q(expiry_date__isnull=True) | models.Q(expiry_date__gt=now)
            # Through Manager[Any]: django-stubs' plugin fails on lookups of an abstract model.
            keys: models.Manager[Any] = model._base_manager
            if keys.filter(live, rotated_from=current, revoked=False).exists():
                raise ValueError(
                    "This API key has been rotated already; rotate the key that replaced it."
                )
            fields = {
                field.attname: copy.deepcopy(getattr(current, field.attname))
                for field in model._meta.concrete_fields
                if not field.primary_key and field.name not in self.fields_not_copied_on_rotation
            }
            if current.expiry_date is not None:
                fields["expiry_date"] = now + (current.expiry_date - current.created)
            new_key, key = model.objects.create_key(**fields, rotated_from=current)
            ends = now + grace
            if current.expiry_date is not None and current.expiry_date <= ends:
                self.expiry_date = current.expiry_date
            else:
                self.expiry_date = ends
                self.save(update_fields=["expiry_date"])
        return new_key, key


class APIKey(AbstractAPIKey):
    objects: ClassVar[APIKeyManager] = APIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
