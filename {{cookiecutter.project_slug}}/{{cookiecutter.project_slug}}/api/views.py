"""The sample API. Protected by the defaults in settings.REST_FRAMEWORK: an API key is required."""

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import DisallowedHost, ValidationError
from django.db.models import Field, Q, QuerySet
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api_keys.events import acting_as
from ..api_keys.models import APIKey
from ..api_keys.permissions import client_address, request_key
from ..api_keys.rates import QUOTA, QUOTA_EXAMPLES, RATE, RATE_EXAMPLES, is_rate, parse_rate
from ..api_keys.scopes import SCOPE, SCOPE_RULE, normalize_scopes
from ..api_keys.settings import api_keys_settings
from ..api_keys.usage import usage_of
from .exceptions import error_body


def _help_text(field_name: str) -> str:
    return str(cast("Field[Any, Any]", APIKey._meta.get_field(field_name)).help_text)


# Fields declared rather than derived from the model: a ModelSerializer rebuilds its fields
# from the model on every request, which would double this endpoint's cost.
class WhoAmISerializer(serializers.Serializer):
    """The key the request was made with."""

    name = serializers.CharField(read_only=True, help_text=_help_text("name"))
    lookup_id = serializers.CharField(read_only=True, help_text=_help_text("lookup_id"))
    created = serializers.DateTimeField(read_only=True)
    expiry_date = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_help_text("expiry_date")
    )


class WhoAmIView(GenericAPIView):
    """GET: the key the request was made with."""

    serializer_class = WhoAmISerializer

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(request.auth).data)


class APIKeySerializer(serializers.ModelSerializer):
    # A field named as DRF names a field's serializer: the metaclass takes it out of the class.
    parent = serializers.CharField(  # type: ignore[assignment]
        source="parent.lookup_id",
        read_only=True,
        allow_null=True,
        help_text="The lookup id of the key that minted this one; null for a key of its own.",
    )

    class Meta:
        model = APIKey
        fields = [
            "lookup_id",
            "name",
            "scopes",
            "created",
            "expiry_date",
            "throttle_rate",
            "quota",
            "allowed_ips",
            "last_used_at",
            "parent",
        ]


class NewestFirst(CursorPagination):
    """Pages newest first. A cursor's position is read as a date before it reaches the database,
    so a forged one gets the 404 of a cursor the API did not give out, not a 500."""

    ordering = "-created"
    page_size = 50

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                moment = APIKey._meta.get_field("created").to_python(cursor.position)
                if timezone.is_naive(moment):  # the ones the API gives out say their offset
                    raise ValidationError("naive")
                moment.astimezone(UTC)  # e.g. 9999-12-31T23:59:59-23:00 is past year 9999
            except (ValidationError, OverflowError):
                raise NotFound(self.invalid_cursor_message) from None
        return cursor


def caller_of(request: Request) -> APIKey:
    caller = request_key(request)
    if not isinstance(caller, APIKey):  # a key of another model, let in by a view of your own
        raise NotFound("None of your API keys has this lookup id.")
    return caller


def own_keys(caller: APIKey) -> QuerySet[APIKey]:
    """The keys a caller manages: itself and its children, not revoked."""
    family = Q(pk=caller.pk) | Q(parent_id=caller.pk)
    return APIKey.objects.filter(family, revoked=False).select_related("parent")


def own_key(request: Request, lookup_id: str) -> APIKey:
    """The caller itself or one of its children, by lookup id; 404 for any other key."""
    found = own_keys(caller_of(request)).filter(lookup_id=lookup_id).first()
    if found is None:
        raise NotFound("None of your API keys has this lookup id.")
    return found


def acting_key(request: Request) -> Any:
    """Changes made under it leave events naming the calling key and its address."""
    return acting_as("key", caller_of(request).lookup_id, address=client_address(request))


class NewKeySerializer(APIKeySerializer):
    """A key, once, as it is created: the only answer that carries the key itself."""

    key = serializers.CharField(read_only=True, help_text="The API key. It is not shown again.")
    rotated_from = serializers.CharField(
        source="rotated_from.lookup_id",
        read_only=True,
        allow_null=True,
        help_text="The lookup id of the key this one replaces; null for a new key.",
    )

    class Meta(APIKeySerializer.Meta):
        fields = ["key", *APIKeySerializer.Meta.fields, "rotated_from"]


class ChildKeySerializer(serializers.Serializer):
    """A child key to mint: no wider than the calling key, which becomes its parent."""

    name = serializers.CharField(max_length=100, help_text=_help_text("name"))
    scopes = serializers.ListField(
        child=serializers.RegexField(
            f"^{SCOPE.pattern}$",
            error_messages={"invalid": f"Not a valid scope: use {SCOPE_RULE}."},
        ),
        default=list,
        help_text="A subset of the calling key's scopes.",
    )
    expiry_date = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="No later than the calling key's. Default: the calling key's.",
    )
    throttle_rate = serializers.RegexField(
        f"^{RATE.pattern}$",
        error_messages={"invalid": f"Not a rate: write e.g. {RATE_EXAMPLES}."},
        required=False,
        allow_blank=True,
        help_text="No looser than the calling key's, e.g. '100/min'. Default: the calling key's. "
        "A child's requests also count against the calling key's rate and quota.",
    )
    quota = serializers.RegexField(
        f"^{QUOTA.pattern}$",
        error_messages={"invalid": f"Not a quota: write e.g. {QUOTA_EXAMPLES}."},
        required=False,
        allow_blank=True,
        help_text=_help_text("quota"),
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(), default=list, help_text=_help_text("allowed_ips")
    )

    def validate_scopes(self, scopes: list[str]) -> list[str]:
        try:
            return normalize_scopes(scopes)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        parent: APIKey = self.context["caller"]
        errors = {}
        if wider := sorted(set(attrs["scopes"]).difference(parent.granted_scopes)):
            errors["scopes"] = f"Wider than this key's: it does not hold {', '.join(wider)}."
        ends = attrs.get("expiry_date", parent.expiry_date)
        if ends is not None and ends <= timezone.now():
            errors["expiry_date"] = "This time has passed: give a time to come."
        elif parent.expiry_date is not None and (ends is None or ends > parent.expiry_date):
            errors["expiry_date"] = (
                "Later than this key's expiry, "
                f"{parent.expiry_date.isoformat(timespec='seconds')}: a child cannot outlive it."
            )
        rate = attrs.get("throttle_rate") or parent.throttle_rate
        own_rate = parent.throttle_rate or api_keys_settings().throttle_rate
        if rate and not is_rate(rate):
            errors["throttle_rate"] = f"Not a rate: write e.g. {RATE_EXAMPLES}."
        elif rate and own_rate and is_rate(own_rate) and per_second(rate) > per_second(own_rate):
            errors["throttle_rate"] = f"Looser than this key's rate, {own_rate}."
        if errors:
            raise serializers.ValidationError(errors)
        return {**attrs, "expiry_date": ends, "throttle_rate": rate}


def per_second(rate: str) -> float:
    requests, seconds = parse_rate(rate)
    return requests / seconds


def no_store(response: Response) -> Response:
    """An answer that carries a key: no cache may keep it."""
    response["Cache-Control"] = "no-store"
    return response


def key_created(api_key: APIKey, key: str) -> Response:
    body = NewKeySerializer(api_key).data | {"key": key}
    return no_store(Response(body, status=201))


def model_errors(error: ValidationError) -> serializers.ValidationError:
    """A model's refusal (models.AbstractAPIKey.save), as the API's 400."""
    if hasattr(error, "error_dict"):
        return serializers.ValidationError(error.message_dict)
    return serializers.ValidationError({"non_field_errors": error.messages})


class Conflict(APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = "The key is not in a state that allows this."


class APIKeyListView(ListAPIView):
    """GET (`keys:read`): the calling key and its children, not revoked, newest first; never a
    secret. POST (`keys:write`): mint a child key, no wider than the calling key."""

    required_scopes = {"GET": ["keys:read"], "POST": ["keys:write"]}
    serializer_class = APIKeySerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[APIKey]:
        return own_keys(caller_of(self.request))

    @extend_schema(
        request=ChildKeySerializer,
        responses={
            201: NewKeySerializer,
            409: OpenApiResponse(
                description="The calling key has been rotated: mint with the key that replaced it."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        caller = caller_of(request)
        if caller.parent_id is not None:
            raise PermissionDenied(
                "A child key cannot mint keys: keys are one level deep.", code="child_key"
            )
        if caller.rotated_to.filter(revoked=False).exists():
            raise Conflict(
                "This key has been rotated: mint children with the key that replaced it, or "
                "they stop working when this one does."
            )
        most = api_keys_settings().max_children
        if APIKey.objects.filter(parent=caller, revoked=False).count() >= most:
            raise PermissionDenied(
                f"This key has {most} live child keys, the most it may have "
                "(API_KEYS['MAX_CHILDREN']): revoke one first.",
                code="too_many_children",
            )
        fields = ChildKeySerializer(data=request.data, context={"caller": caller})
        fields.is_valid(raise_exception=True)
        try:
            with acting_key(request):
                child, key = APIKey.objects.create_key(**fields.validated_data, parent=caller)
        except ValidationError as error:
            raise model_errors(error) from None
        return key_created(child, key)


class APIKeyView(GenericAPIView):
    """GET (`keys:read`): the calling key or one of its children. DELETE (`keys:write`):
    revoke it (a key's children with it), for good."""

    required_scopes = {"GET": ["keys:read"], "DELETE": ["keys:write"]}
    serializer_class = APIKeySerializer

    def get(self, request: Request, lookup_id: str) -> Response:
        return Response(self.get_serializer(own_key(request, lookup_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, lookup_id: str) -> Response:
        api_key = own_key(request, lookup_id)
        with acting_key(request):
            api_key.revoke(reason="api")
        return Response(status=204)


class RotationSerializer(serializers.Serializer):
    grace_seconds = serializers.IntegerField(
        min_value=0,
        default=3600,
        help_text="How long the old key keeps working, in seconds, up to "
        "API_KEYS['MAX_ROTATION_GRACE'] (7 days by default).",
    )

    def validate_grace_seconds(self, value: int) -> int:
        if value > (most := api_keys_settings().max_rotation_grace):
            raise serializers.ValidationError(f"At most {most} seconds.")
        return value


class APIKeyRotateView(GenericAPIView):
    """POST (`keys:write`): replace the calling key or one of its children with a new key,
    shown once; the old key works for the grace period."""

    required_scopes = ["keys:write"]
    serializer_class = RotationSerializer

    @extend_schema(
        responses={
            201: NewKeySerializer,
            409: OpenApiResponse(
                description="The key cannot be rotated: it was rotated already (rotate the key "
                "that replaced it), or it has expired."
            ),
        }
    )
    def post(self, request: Request, lookup_id: str) -> Response:
        api_key = own_key(request, lookup_id)
        rotation = self.get_serializer(data=request.data)
        rotation.is_valid(raise_exception=True)
        grace = timedelta(seconds=rotation.validated_data["grace_seconds"])
        try:
            with acting_key(request):
                new_key, key = api_key.rotate(grace)
        except ValueError as error:
            raise Conflict(str(error)) from None
        return key_created(cast("APIKey", new_key), key)


class UsageQuerySerializer(serializers.Serializer):
    """The period of a usage report: `since` to `until`, in UTC, each a date or a date and time
    (rounded down to the hour or day)."""

    by = serializers.ChoiceField(choices=["hour", "day"], default="day")
    since = serializers.CharField(
        required=False,
        help_text="Start, e.g. 2026-11-01. Default: 30 days (by day) or 24 "
        "hours (by hour) before `until`.",
    )
    until = serializers.CharField(
        required=False,
        help_text="End, excluded, e.g. 2026-12-01. Default: the end of the current day or hour.",
    )
    # How far a report may reach, in its own steps: 31 days by hour, 366 days by day.
    most_steps = {"hour": 31 * 24, "day": 366}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.period(attrs)
        except OverflowError:  # e.g. until=0001-01-01: 30 days before it is no date
            message = "The period reaches past the dates this API can count (years 1 to 9999)."
            raise serializers.ValidationError({"since": message}) from None

    def period(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by = attrs["by"]
        step = timedelta(hours=1) if by == "hour" else timedelta(days=1)
        now = self.floor(datetime.now(UTC), by)
        until = self.moment(attrs, "until", by) or now + step
        default_reach = timedelta(days=30) if by == "day" else timedelta(hours=24)
        since = self.moment(attrs, "since", by) or until - default_reach
        if since >= until:
            raise serializers.ValidationError({"since": "`since` must come before `until`."})
        if until - since > step * self.most_steps[by]:
            reach = "31 days by hour" if by == "hour" else "366 days by day"
            raise serializers.ValidationError({"since": f"A report covers at most {reach}."})
        return {"by": by, "since": since, "until": until}

    @staticmethod
    def floor(moment: datetime, by: str) -> datetime:
        moment = moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0) if by == "day" else moment

    def moment(self, attrs: dict[str, Any], name: str, by: str) -> datetime | None:
        text = attrs.get(name)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
            except ValueError:
                raise serializers.ValidationError(
                    {name: f"{text!r} is not a date or time: write e.g. 2026-11-01."}
                ) from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return self.floor(moment, by)


class UsageCountSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="The hour's or day's start, in UTC.")
    accepted = serializers.IntegerField(help_text="Requests the key was accepted for.")
    refused = serializers.IntegerField(
        help_text="Requests refused with the key: a missing scope, an address not allowed, "
        "an expired key, its rate or its quota."
    )


class UsageTotalsSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    refused = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    lookup_id = serializers.CharField()
    by = serializers.ChoiceField(choices=["hour", "day"])
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    totals = UsageTotalsSerializer()
    counts = UsageCountSerializer(many=True)


class APIKeyUsageView(GenericAPIView):
    """GET: how many requests the calling key or one of its children made, by hour or day, with
    the totals. Needs the `keys:read` scope."""

    required_scopes = ["keys:read"]
    serializer_class = UsageSerializer

    @extend_schema(parameters=[UsageQuerySerializer])
    def get(self, request: Request, lookup_id: str) -> Response:
        api_key = own_key(request, lookup_id)
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = query.validated_data
        counts = usage_of(api_key, period["since"], period["until"], period["by"])
        totals = {
            outcome: sum(count[outcome] for count in counts) for outcome in ("accepted", "refused")
        }
        report = {"lookup_id": lookup_id, **period, "totals": totals, "counts": counts}
        return Response(self.get_serializer(report).data)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class HealthView(GenericAPIView):
    """GET: 200 while the process serves requests. Open: no key, no database, no cache."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    serializer_class = HealthSerializer

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class IndexView(GenericAPIView):
    """GET /: where to go from here, for a person who opens the server's address. Open."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        links = {"whoami": "v1:whoami", "keys": "v1:keys", "health": "healthz"}
        if settings.API_DOCS:
            links |= {"schema": "schema", "docs": "api-docs"}
        return Response({name: reverse(url_name) for name, url_name in links.items()})


class OnlyWhereAPIDocsIsOn(APIView):
    """Open to all, and 404 unless settings.API_DOCS is on (development by default)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not settings.API_DOCS:  # answered in the API's JSON error shape, not as a schema
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
            raise Http404


class APISchemaView(OnlyWhereAPIDocsIsOn, SpectacularAPIView):
    """The OpenAPI schema. Where it is off, `manage.py spectacular --file schema.yaml` writes it
    for publishing."""


class APIDocsView(OnlyWhereAPIDocsIsOn, SpectacularSwaggerSplitView):
    """Swagger UI for the schema."""


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, DisallowedHost):
        message = "The Host header names a host this server does not answer for."
        return JsonResponse(error_body("disallowed_host", message), status=400)
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
