"""API keys: the abstract model to build custom key models on, its manager, and `APIKey`."""

import copy
import json
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import JSONObject, Length, Trim
from django.db.models.lookups import GreaterThan
from django.db.models.manager import BaseManager
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .addresses import normalize_networks, validate_networks
from .keys import HASHED_KEY_MAX_LENGTH, LOOKUP_ID_MAX_LENGTH, KeyGenerator
{%- if cookiecutter.from_djangorestframework_api_key == "yes" %}
from .legacy import LegacyKeyGenerator
{%- endif %}
from .rates import validate_quota, validate_rate
from .scopes import normalize_scopes
from .settings import api_keys_settings
from .verification import verify_key

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager

_Key = TypeVar("_Key", bound="AbstractAPIKey")  # the model a manager serves

# A key that stops working within this time is "expiring soon" (AbstractAPIKey.status).
EXPIRING_SOON = timedelta(days=7)


def validate_printable(value: str) -> None:
    """Refuse text with a non-printable character (`str.isprintable()`, as the template's prompts
    do): a control character in a key's name would reach operators' terminals and logs."""
    if unprintable := next((char for char in value if not char.isprintable()), None):
        raise ValidationError(
            f"Use printable text only: {unprintable!r} is not a printable character.",
            code="not_printable",
        )


class BaseAPIKeyManager(models.Manager[_Key]):
    """Creates keys and finds the key a client presents (see verification.py)."""

    # Makes, parses and hashes keys (keys.py); a manager of your own may set another.
{%- if cookiecutter.from_djangorestframework_api_key == "yes" %}
    key_generator: KeyGenerator = LegacyKeyGenerator()  # djangorestframework-api-key's keys too
{%- else %}
    key_generator = KeyGenerator()
{%- endif %}

    def assign_key(self, obj: _Key) -> str:
        """Give `obj` a new key and return it; the caller saves `obj`."""
        key, obj.lookup_id, obj.hashed_key = self.key_generator.generate()
        obj.lineage = obj.lineage or obj.lookup_id  # a rotation passes its own on
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
        return await sync_to_async(self.create_key)(**kwargs)

    def get_usable_keys(self) -> models.QuerySet[_Key]:
        """The keys that may authenticate; override to narrow them (e.g. active owners only)."""
        return self.filter(revoked=False)

    def find_usable_key(self, lookup_id: str) -> _Key | None:
        """The usable key with this lookup id, expired or not, or None: one query. A child key
        is usable only while its parent is one of `get_usable_keys()` too."""
        found: _Key | None = next(iter(self.usable_key_query(lookup_id)), None)
        return None if found is None or found.parent_refused else found

    def usable_key_query(self, lookup_id: str) -> models.QuerySet[_Key]:
        """`find_usable_key`'s query: the key among `get_usable_keys()`, and in the same query
        what the checks need of its parent (PARENT_FIELDS, as `parent_state`), read from the
        parent only if it is one of `get_usable_keys()` too: None says it is not. (A subquery
        that builds one JSON object: the database plans it faster than a join.)"""
        usable = self.get_usable_keys()
        parent = usable.filter(pk=models.OuterRef("parent_id")).order_by()
        state = JSONObject(**{name: name for name in PARENT_FIELDS})
        query: models.QuerySet[Any] = (
            usable.filter(lookup_id=lookup_id)
            .annotate(parent_state=models.Subquery(parent.values(state=state)[:1]))
            .order_by()[:1]
        )
        return query

    @property
    def has_stock_rules(self) -> bool:
        """Whether nothing that decides which keys are usable is overridden (fast_lookup.py)."""
        cls = type(self)
        return (
            cls.get_usable_keys is BaseAPIKeyManager.get_usable_keys
            and cls.find_usable_key is BaseAPIKeyManager.find_usable_key
            and cls.usable_key_query is BaseAPIKeyManager.usable_key_query
            and cls.get_queryset is BaseManager.get_queryset
            and self._queryset_class is models.QuerySet  # type: ignore[attr-defined]
        )

    def replace_hash(self, api_key: _Key, secret: str) -> None:
        """Store the current hash of a key stored in an older format, once it is used."""
        api_key.hashed_key = self.key_generator.hash_secret(secret)
        self.model._base_manager.filter(pk=api_key.pk).update(hashed_key=api_key.hashed_key)

    # The checks that take a key hide their variables (the key) from error reports.
    @sensitive_variables()
    def is_valid(self, key: str) -> bool:
        """Whether `key` belongs to a usable key that has not expired."""
        return verify_key(self, key).accepted

    async def ais_valid(self, key: str) -> bool:
        return await sync_to_async(self.is_valid)(key)

    @sensitive_variables()
    def get_from_key(self, key: str) -> _Key:
        """The usable key matching `key` (expired or not); raises `DoesNotExist` if none does."""
        if (api_key := verify_key(self, key).api_key) is None:
            raise self.model.DoesNotExist("No usable API key matches the given key.")
        return api_key

    async def aget_from_key(self, key: str) -> _Key:
        return await sync_to_async(self.get_from_key)(key)

    def record_use(self, api_key: _Key) -> None:
        """Set `last_used_at`, at most once per API_KEYS["LAST_USED_INTERVAL"]: one conditional
        UPDATE, which concurrent requests cannot both make within an interval."""
        interval = timedelta(seconds=api_keys_settings().last_used_interval)
        now = timezone.now()
        if api_key.last_used_at is not None and now - api_key.last_used_at < interval:
            return
        stale = models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lte=now - interval)
        self.model._base_manager.filter(stale, pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


# What a key check reads of a child's parent, in the same query: see AbstractAPIKey.parent_field.
PARENT_FIELDS: tuple[str, ...] = ("lookup_id", "lineage", "scopes", "expiry_date")
PARENT_FIELDS += ("allowed_ips", "throttle_rate", "quota")


class APIKeyManager(BaseAPIKeyManager["APIKey"]):
    pass


class AbstractAPIKey(models.Model):
    """Fields and rules of an API key. Subclass it to add fields, such as an owner."""

    objects: ClassVar["BaseAPIKeyManager[Any]"] = BaseAPIKeyManager()
    if TYPE_CHECKING:  # the keys that replaced this one (rotated_from's reverse relation)
        rotated_to: "RelatedManager[AbstractAPIKey]"
        children: "RelatedManager[AbstractAPIKey]"  # the keys it minted (parent's reverse)
        parent_id: Any  # the parent's primary key (django-stubs sees no _id on abstract models)
        _revocation_reason: str  # set by `revoke`, read by events.py
        parent_state: dict[str, Any] | None  # read by a key check (usable_key_query)

    lookup_id = models.CharField(
        max_length=LOOKUP_ID_MAX_LENGTH,
        unique=True,
        editable=False,
        help_text="The public part of the key, used to find it. Safe to show and log.",
    )
    hashed_key = models.CharField(max_length=HASHED_KEY_MAX_LENGTH, editable=False)
    name = models.CharField(
        max_length=100,
        validators=[validate_printable],
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
        validators=[validate_rate],
        help_text="Requests allowed, e.g. '100/min'. Empty: API_KEYS['THROTTLE_RATE'].",
    )
    quota = models.CharField(
        max_length=20,
        blank=True,
        validators=[validate_quota],
        help_text="Requests allowed per calendar period in UTC, e.g. '10000/month' or '500/day'. "
        "Empty: API_KEYS['QUOTA'].",
    )
    allowed_ips = models.JSONField(
        "allowed IPs",
        default=list,
        blank=True,
        validators=[validate_networks],
        help_text="Networks the key may be used from, in CIDR form, e.g. "
        '["203.0.113.0/24", "2001:db8::/32"]. Empty: anywhere.',
    )
    last_used_at = models.DateTimeField("last used", null=True, blank=True, editable=False)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.CASCADE,
        related_name="children",
        help_text="The key that minted this one (one level deep). A child works only while its "
        "parent does, with the scopes both hold.",
    )
    lineage = models.CharField(
        max_length=LOOKUP_ID_MAX_LENGTH,
        blank=True,
        editable=False,
        help_text="The lookup id of the first key of this key's rotations: its rate and quota "
        "are counted under it, so that a rotation does not start them again.",
    )
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
        constraints = [
            # A nameless key cannot be told apart in the admin, the lists or the logs.
            models.CheckConstraint(
                condition=GreaterThan(Length(Trim("name")), 0),
                name="%(app_label)s_%(class)s_has_a_name",
                violation_error_message="An API key needs a name, saying who or what uses it.",
            ),
        ]

    def __str__(self) -> str:
        return str(self.name)

    def save(self, *args: Any, update_fields: Any = None, **kwargs: Any) -> None:
        saved = None if update_fields is None else set(update_fields)
        self._validate_irreversible(saved)
        if saved is None or "name" in saved:
            self._validate_name()
        if saved is None or saved & {"scopes", "throttle_rate", "quota", "allowed_ips"}:
            self._validate_access()
        if saved is None or "parent" in saved:
            self._validate_parent()
        super().save(*args, update_fields=update_fields, **kwargs)

    def clean(self) -> None:
        self._validate_irreversible(None)

    def _validate_name(self) -> None:
        """A printable name, however saved (an empty one is the database's to refuse)."""
        if isinstance(self.name, str):
            try:
                validate_printable(self.name)
            except ValidationError as error:
                raise ValidationError({"name": error.messages}) from None

    def _validate_access(self) -> None:
        """Scopes, rate, quota and networks, however saved: a typo would otherwise fail only at
        request time."""
        scopes = self.scopes
        listed = isinstance(scopes, list | tuple | set)
        if not listed or not all(isinstance(scope, str) for scope in scopes):
            raise ValidationError({"scopes": "Scopes are a list of strings, e.g. ['orders:read']."})
        try:
            self.scopes = normalize_scopes(scopes)
        except ValueError as error:
            raise ValidationError({"scopes": str(error)}) from None
        for name, validate in (("throttle_rate", validate_rate), ("quota", validate_quota)):
            if value := getattr(self, name):
                try:
                    validate(value)
                except ValidationError as error:
                    raise ValidationError({name: error.messages}) from None
        try:
            self.allowed_ips = normalize_networks(self.allowed_ips)
        except ValueError as error:
            raise ValidationError({"allowed_ips": str(error)}) from None

    def _validate_parent(self) -> None:
        """Keys are one level deep: a parent has no parent, and a key is not its own."""
        if self.parent_id is None:
            return
        keys: models.Manager[Any] = type(self)._base_manager  # as in _validate_irreversible
        grandparent = keys.filter(pk=self.parent_id).values_list("parent_id", flat=True).first()
        if self.parent_id == self.pk or grandparent is not None:
            raise ValidationError({"parent": "A child key cannot have keys of its own."})

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
    def parent_refused(self) -> bool:
        """Whether a key check found this child's parent not usable (`usable_key_query`)."""
        return self.parent_id is not None and self.__dict__.get("parent_state", {}) is None

    def parent_field(self, name: str) -> Any:
        """A field of the key's parent: read with the key by a key check (PARENT_FIELDS), or
        from the parent object otherwise (a query, unless `select_related("parent")`)."""
        state = self.__dict__.get("parent_state")
        if state is None:
            return None if self.parent_id is None else getattr(self.parent, name)
        value, field = state[name], self._meta.get_field(name)
        if isinstance(field, models.JSONField) and isinstance(value, str):
            return json.loads(value)  # SQLite's JSON_OBJECT keeps a JSON column as its text
        if isinstance(field, models.DateTimeField) and value is not None:
            moment = field.to_python(value)  # JSON holds a date as text, without a time zone
            return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
        return value

    @property
    def counted_as(self) -> str:
        """What the key's rate and quota are counted under: its lineage (a key stored before
        there were lineages: its lookup id)."""
        return self.lineage or self.lookup_id

    @property
    def has_expired(self) -> bool:
        """Whether the key, or its parent, has expired."""
        now = timezone.now()
        if self.expiry_date is not None and self.expiry_date <= now:
            return True
        if self.parent_id is None:
            return False
        parent_ends = self.parent_field("expiry_date")
        return parent_ends is not None and parent_ends <= now

    @property
    def granted_scopes(self) -> list[str]:
        """The scopes the key may use: its own, and for a child only those its parent holds
        too, as they are now."""
        if self.parent_id is None:
            return list(self.scopes)
        held = set(self.parent_field("scopes") or ())
        return [scope for scope in self.scopes if scope in held]

    @property
    def networks(self) -> list[list[str]]:
        """The `allowed_ips` a request must match, each list on its own: the key's, and a
        child's parent's too. An empty list allows anywhere."""
        if self.parent_id is None:
            return [self.allowed_ips]
        return [self.allowed_ips, self.parent_field("allowed_ips") or []]

    @property
    def status(self) -> str:
        """The key's state in words, as the admin's list and listapikeys show it: revoked,
        expired, in grace (rotated: works until its expiry), expiring soon, or active. Asks
        for the key's successors unless they are prefetched (`prefetch_related("rotated_to")`)."""
        if self.revoked:
            return "revoked"
        if self.has_expired:
            return "expired"
        if self.rotated_to.exists():
            return "in grace"
        if self.expiry_date is not None and self.expiry_date <= timezone.now() + EXPIRING_SOON:
            return "expiring soon"
        return "active"

    @sensitive_variables()
    def is_valid(self, key: str) -> bool:
        """Whether `key` is this key (revocation and expiry are not looked at)."""
        return type(self).objects.key_generator.verify(key, self.hashed_key)

    def revoke(self, reason: str = "by_hand") -> None:
        """Revoke the key for good, and its children with it. `reason` is what its event records
        (events.py): "by_hand", "api", "leak_report", "rotation" or "parent"."""
        with transaction.atomic(using=self._state.db):
            self.revoked = True
            self._revocation_reason = reason
            self.save(update_fields=["revoked"])
            # Saved one by one, so that each leaves its event. A child refused through its
            # parent needs none of this: the check judges the parent in the same query.
            keys: models.Manager[Any] = type(self)._base_manager  # as in _validate_irreversible
            for child in keys.filter(parent=self, revoked=False):
                child.revoke(reason="parent")

    # Not copied by `rotate`: the new key has its own secret, age, state and history.
    fields_not_copied_on_rotation: tuple[str, ...] = ("lookup_id", "hashed_key", "created")
    fields_not_copied_on_rotation += ("revoked", "expiry_date", "last_used_at", "rotated_from")

    def _issued_lifetime(self) -> timedelta | None:
        """How long the key was issued for (None: for ever). A rotation brings a key's expiry
        forward, so a key rotated before has the lifetime of the key first issued to replace it."""
        keys: models.Manager[Any] = type(self)._base_manager  # as in _validate_irreversible
        issued = self
        while first := keys.filter(rotated_from=issued).order_by("created", "pk").first():
            issued = first
        if issued.expiry_date is None:
            return None
        return issued.expiry_date - issued.created

    def _lock_with_parent(self) -> "AbstractAPIKey":
        """The key read again under a row lock, its parent's row locked first: a child's
        successor needs its parent's row, which the parent's rotation locks to hand its children
        over, so locks taken in this order cannot deadlock."""
        keys: models.Manager[Any] = type(self)._base_manager  # as in _validate_irreversible
        for _ in range(3):  # the parent read, then locked, may be replaced in between
            parent_id = keys.filter(pk=self.pk).values_list("parent_id", flat=True).first()
            if parent_id is not None:
                keys.select_for_update().filter(pk=parent_id).first()
            current: AbstractAPIKey = keys.select_for_update().get(pk=self.pk)
            if current.parent_id == parent_id:
                return current
        raise ValueError("This API key's parent is being rotated; try again.")

    def rotate(self, grace: timedelta) -> tuple["AbstractAPIKey", str]:
        """Issue a key that replaces this one, which stops working `grace` from now (or sooner,
        if it already expires sooner). Return (new object, key), and show the key once.

        The new key keeps every other field (name, scopes, rate, a custom model's owner, its
        parent) and, for a key that expires, the lifetime it was issued with, from now. It takes
        over the old key's children. A revoked or expired key cannot be rotated, nor one whose
        successor is still in use (rotate the successor).
        """
        if grace < timedelta(0):
            raise ValueError("The grace period cannot be negative.")
        model = type(self)
        with transaction.atomic(using=self._state.db):
            # Under row locks, the parent's first (as the parent's own rotation takes them):
            # a concurrent rotation or revocation waits, then sees this one.
            current = self._lock_with_parent()
            now = timezone.now()
            if current.revoked:
                raise ValueError("A revoked API key cannot be rotated; create a new key instead.")
            if current.has_expired:
                raise ValueError("An expired API key cannot be rotated; create a new key instead.")
            live = models.Q(expiry_date__isnull=True) | models.Q(expiry_date__gt=now)
            keys: models.Manager[Any] = model._base_manager  # as in _validate_irreversible
            if keys.filter(live, rotated_from=current, revoked=False).exists():
                raise ValueError(
                    "This API key has been rotated already; rotate the key that replaced it."
                )
            fields = {
                field.attname: copy.deepcopy(getattr(current, field.attname))
                for field in model._meta.concrete_fields
                if not field.primary_key and field.name not in self.fields_not_copied_on_rotation
            }
            fields["lineage"] = current.counted_as
            if (lifetime := current._issued_lifetime()) is not None:
                fields["expiry_date"] = now + lifetime
            ends, parent_ends = fields.get("expiry_date"), current.parent_field("expiry_date")
            if ends is not None and parent_ends is not None and ends > parent_ends:
                fields["expiry_date"] = parent_ends  # a child does not outlive its parent
            try:
                new_key, key = model.objects.create_key(**fields, rotated_from=current)
            except ValidationError as error:  # a row saved before today's rules (a name, scopes)
                raise ValueError(
                    f"This API key cannot be rotated as it is stored: {' '.join(error.messages)} "
                    "Correct it on its admin page, then rotate it."
                ) from None
            # Children follow the key that replaces their parent, not the one that expires.
            keys.filter(parent=current).update(parent=new_key)
            grace_ends = now + grace
            if current.expiry_date is not None and current.expiry_date <= grace_ends:
                self.expiry_date = current.expiry_date
            else:
                self.expiry_date = grace_ends
            # Saved even when unchanged: this save leaves the old key's "rotated" event, naming
            # the new key (events.py), instead of an expiry change.
            self._rotated_to = new_key
            self.save(update_fields=["expiry_date"])
        return new_key, key


class KeyUsage(models.Model):
    """How many requests one key made in one hour (UTC), accepted and refused (usage.py).
    Names the key by model and lookup id, not by a foreign key, so it outlives the key."""

    key_model = models.CharField(max_length=100, help_text="The key's model, e.g. api_keys.apikey.")
    lookup_id = models.CharField(max_length=LOOKUP_ID_MAX_LENGTH)
    hour = models.DateTimeField(help_text="The hour's start, in UTC.")
    accepted = models.BigIntegerField(default=0)
    refused = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "API key usage"
        verbose_name_plural = "API key usage"
        constraints = [
            models.UniqueConstraint(
                fields=["key_model", "lookup_id", "hour"], name="%(app_label)s_one_count_an_hour"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lookup_id} {self.hour:%Y-%m-%d %H}:00 UTC"


class KeyEvent(models.Model):
    """One change to a key (created, changed, rotated, revoked, deleted): who made it, when and
    from where (events.py records it). Names the key by model and lookup id, as KeyUsage does,
    so it outlives the key. Holds no secret: never the key or its hash."""

    class Action(models.TextChoices):
        CREATED = "created", "created"
        CHANGED = "changed", "changed"  # name, scopes, expiry, rate, quota or allowed IPs
        ROTATED = "rotated", "rotated"
        REVOKED = "revoked", "revoked"
        DELETED = "deleted", "deleted"

    class Reason(models.TextChoices):  # why a key was revoked (AbstractAPIKey.revoke)
        BY_HAND = "by_hand", "by hand"
        API = "api", "through the API"
        LEAK_REPORT = "leak_report", "leak report"
        ROTATION = "rotation", "rotation"
        PARENT = "parent", "its parent was revoked"

    class ActorKind(models.TextChoices):
        STAFF = "staff", "staff user"
        KEY = "key", "key, through the API"
        COMMAND = "command", "command"
        LEAK_REPORT = "leak_report", "leak report"
        CODE = "code", "code (a shell or a script)"

    key_model = models.CharField(max_length=100, help_text="The key's model, e.g. api_keys.apikey.")
    lookup_id = models.CharField(max_length=LOOKUP_ID_MAX_LENGTH)
    key_name = models.CharField("name", max_length=100, help_text="The key's name at the time.")
    action = models.CharField(max_length=20, choices=Action.choices)
    reason = models.CharField(
        max_length=20, choices=Reason.choices, blank=True, help_text="Why the key was revoked."
    )
    actor_kind = models.CharField("by", max_length=20, choices=ActorKind.choices)
    actor_name = models.CharField(
        "by whom",
        max_length=150,
        blank=True,
        help_text="A username, the acting key's lookup id, a command's name, or the reporter.",
    )
    address = models.GenericIPAddressField(
        null=True, blank=True, help_text="The client's address, where there was one."
    )
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Fields before and after, e.g. {"scopes": {"old": [], "new": ["orders:read"]}}.',
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-at", "-pk")
        verbose_name = "API key event"
        verbose_name_plural = "API key events"
        indexes = [models.Index(fields=["key_model", "lookup_id"], name="api_keys_events_of_a_key")]

    def __str__(self) -> str:
        return f"{self.lookup_id} {self.action} {self.at:%Y-%m-%d %H:%M:%S}"


class APIKey(AbstractAPIKey):
    objects: ClassVar[APIKeyManager] = APIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
