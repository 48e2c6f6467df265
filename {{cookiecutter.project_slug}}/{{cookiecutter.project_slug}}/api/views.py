"""The sample API. Protected by the defaults in settings.REST_FRAMEWORK: an API key is required."""

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import DisallowedHost, ValidationError
from django.db.models import Field
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api_keys.models import APIKey
from ..api_keys.permissions import request_key
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
    class Meta:
        model = APIKey
        fields = ["lookup_id", "name", "scopes", "created", "expiry_date", "last_used_at"]


class NewestFirst(CursorPagination):
    """Pages newest first. A cursor's position is read as a date before it reaches the database,
    so a forged one gets the 404 of a cursor the API did not give out, not a 500."""

    ordering = "-created"
    page_size = 50

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                APIKey._meta.get_field("created").to_python(cursor.position)
            except ValidationError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor


class APIKeyListView(ListAPIView):
    """GET: the keys not revoked, newest first, never a secret. Needs the `keys:read` scope."""

    required_scopes = ["keys:read"]
    serializer_class = APIKeySerializer
    pagination_class = NewestFirst
    queryset = APIKey.objects.filter(revoked=False)


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
    """GET: how many requests the caller's key made, by hour or day, with the totals. Needs the
    `keys:read` scope; a key sees its own usage only."""

    required_scopes = ["keys:read"]
    serializer_class = UsageSerializer

    @extend_schema(parameters=[UsageQuerySerializer])
    def get(self, request: Request, lookup_id: str) -> Response:
        caller = request_key(request)
        if caller is None or not isinstance(caller, APIKey) or caller.lookup_id != lookup_id:
            raise NotFound("None of your API keys has this lookup id.")
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = query.validated_data
        counts = usage_of(caller, period["since"], period["until"], period["by"])
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
