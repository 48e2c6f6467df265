"""Admin pages to create keys (the key is shown once, on the page that answers the form), view
them, rotate them (the new key is shown the same way) and revoke them; and their events, read
only, each naming the staff user who made the change (events.py)."""

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import django
from django.apps import apps as django_apps
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from .events import Actor, acting_as, actor_text, changes_text
from .forms import APIKeyAdminForm, RotateForm
from .models import EXPIRING_SOON, AbstractAPIKey, APIKey, KeyEvent, KeyUsage
from .permissions import client_address, key_header
from .usage import move_tallies_after_commit, usage_of


def _url_name(opts: Any, action: str) -> str:
    """The admin's URL name for an action on a model, e.g. "admin:api_keys_apikey_change"."""
    return f"admin:{opts.app_label}_{opts.model_name}_{action}"


# A key's fields that no query string may filter on: ?hashed_key__startswith=... would let
# anyone who may view the list read a hash back, a character at a time.
SECRET_FIELDS = ("hashed_key",)


def acting_staff(request: HttpRequest) -> AbstractContextManager[Actor]:
    """Key events of the changes made while answering `request` name its staff user, and the
    address the request came from."""
    return acting_as("staff", request.user.get_username(), address=client_address(request))


def reaches_a_secret(model: type[Any], lookup: str) -> bool:
    """Whether `lookup` (e.g. "rotated_from__hashed_key__startswith") filters on a SECRET_FIELD
    of a key model: this one's, or one reached through a relation."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or lookup, such as startswith: no further field
        if issubclass(model, AbstractAPIKey) and field.name in SECRET_FIELDS:
            return True
        if field.related_model is None:
            return False
        model = field.related_model
    return False


class ExpiryListFilter(admin.SimpleListFilter):
    """Keys by when they stop working: the question an operator has, rather than a date."""

    title = "expiry"
    parameter_name = "expiry"
    soon = EXPIRING_SOON

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("expired", "expired"),
            ("soon", f"within {self.soon.days} days"),
            ("later", "later"),
            ("never", "never"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        now = timezone.now()
        filters: dict[str, dict[str, Any]] = {
            "expired": {"expiry_date__lte": now},
            "soon": {"expiry_date__gt": now, "expiry_date__lte": now + self.soon},
            "later": {"expiry_date__gt": now + self.soon},
            "never": {"expiry_date__isnull": True},
        }
        chosen = filters.get(self.value() or "")
        if chosen is not None:
            return queryset.filter(**chosen)
        return queryset


def usage_chart(days: list[dict[str, Any]], bar: int = 14, gap: int = 4) -> dict[str, Any]:
    """The geometry of usage_chart.html: a bar per day, accepted below refused, scaled to the
    busiest day, with a date under every seventh bar."""
    left, top, plot_height = 48, 10, 120
    baseline = top + plot_height
    most = max((day["accepted"] + day["refused"] for day in days), default=0)
    scale = plot_height / most if most else 0
    drawn = []
    for index, day in enumerate(days):
        # Never below the axis: a count read while a refusal was being moved can be -1.
        accepted_height = max(0, round(day["accepted"] * scale))
        refused_height = max(0, round(day["refused"] * scale))
        drawn.append(
            {
                **day,
                "x": left + gap + index * (bar + gap),
                "accepted_height": accepted_height,
                "accepted_y": baseline - accepted_height,
                "refused_height": refused_height,
                "refused_y": baseline - accepted_height - refused_height,
                "label": index % 7 == 0,
            }
        )
    accepted = sum(day["accepted"] for day in days)
    refused = sum(day["refused"] for day in days)
    right = left + gap + len(days) * (bar + gap)
    return {
        "days": drawn,
        "bar": bar,
        "left": left,
        "right": right,
        "top": top,
        "baseline": baseline,
        "width": right + 40,
        "height": baseline + 20,
        "most": most,
        "accepted": accepted,
        "refused": refused,
        "summary": f"{accepted} requests accepted and {refused} refused in {len(days)} days; "
        f"the busiest day had {most}.",
    }


@admin.register(APIKey)
class APIKeyModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # no [] at run time
    """Admin for any key model; register a custom model with it or a subclass."""

    list_display: tuple[str, ...] = (
        "name",
        "lookup_id",
        "_scopes",
        "created",
        "expiry_date",
        "last_used_at",
        "_requests_7d",
        "_status",
    )
    list_filter = ("revoked", "created", ExpiryListFilter)
    search_fields: ClassVar[tuple[str, ...]] = ("name", "lookup_id")
    readonly_fields = (
        "lookup_id",
        "created",
        "last_used_at",
        "_parent",
        "_children",
        "_replaces",
        "_replaced_by",
        "_usage",
        "_events",
    )
    form = APIKeyAdminForm
    actions = ("revoke_selected",)
    key_created_template = "api_keys/admin/key_created.html"
    rotate_template = "api_keys/admin/rotate.html"
    revoke_confirmation_template = "api_keys/admin/revoke_selected_confirmation.html"
    change_form_template = "api_keys/admin/change_form.html"
    usage_chart_template = "api_keys/admin/usage_chart.html"
    usage_chart_days = 30
    key_events_template = "api_keys/admin/key_events.html"
    key_events_shown = 20

    @admin.display(description="status")
    def _status(self, obj: AbstractAPIKey) -> str:
        return obj.status  # in words: a tick in a "revoked" column would read as "good"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Each key's successors, for its status, in one query for the whole page; its requests
        # of the last 7 days in the same query as the keys.
        since = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=7)
        requests = (
            KeyUsage.objects.filter(key_model=self.model._meta.label_lower, hour__gte=since)
            .filter(lookup_id=OuterRef("lookup_id"))
            .values("lookup_id")
            .annotate(total=Sum("accepted") + Sum("refused"))
            .values("total")
        )
        requests_7d = Coalesce(Subquery(requests), Value(0), output_field=IntegerField())
        keys: QuerySet[Any] = (
            super()
            .get_queryset(request)
            .prefetch_related("rotated_to")
            .annotate(requests_7d=requests_7d)
        )
        return keys

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # The list sorts by the table's counts, so the tallies not yet moved go there first.
        move_tallies_after_commit()
        with acting_staff(request):  # the actions: revoke, delete, and any a subclass adds
            return super().changelist_view(request, extra_context)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        with acting_staff(request):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        with acting_staff(request):
            return super().delete_view(request, object_id, extra_context)

    @admin.display(description="requests, 7 days", ordering="requests_7d")
    def _requests_7d(self, obj: AbstractAPIKey) -> int:
        return getattr(obj, "requests_7d", 0)

    @admin.display(description="usage")
    def _usage(self, obj: AbstractAPIKey) -> str:
        """The last 30 days' requests per day, as a chart (SVG drawn here, no script)."""
        until = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        until += timedelta(days=1)
        days = usage_of(obj, until - timedelta(days=self.usage_chart_days), until, "day")
        return render_to_string(self.usage_chart_template, {"chart": usage_chart(days)})

    @admin.display(description="events")
    def _events(self, obj: AbstractAPIKey) -> str:
        """The key's latest events (events.py), newest first, and a link to all of them."""
        of_the_key = {"key_model": obj._meta.label_lower, "lookup_id": obj.lookup_id}
        events = list(KeyEvent.objects.filter(**of_the_key)[: self.key_events_shown + 1])
        rows = [
            {
                "event": event,
                "actor": actor_text(event),
                "changes": changes_text(event.changes),
            }
            for event in events[: self.key_events_shown]
        ]
        all_url = f"{reverse(_url_name(KeyEvent._meta, 'changelist'))}?{urlencode(of_the_key)}"
        context = {"rows": rows, "more": len(events) > self.key_events_shown, "all_url": all_url}
        return render_to_string(self.key_events_template, context)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        """Refuse filters on a key's hash: Django answers 400 (DisallowedModelAdminLookup)."""
        if reaches_a_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="scopes")
    def _scopes(self, obj: AbstractAPIKey) -> str:
        return " ".join(obj.scopes) or "-"

    @admin.display(description="parent")
    def _parent(self, obj: AbstractAPIKey) -> str:
        """The key that minted this one: it works only while its parent does."""
        return "-" if obj.parent is None else self._link_to(obj.parent)

    @admin.display(description="children")
    def _children(self, obj: AbstractAPIKey) -> str:
        children = [(self._link_to(child),) for child in obj.children.filter(revoked=False)]
        return format_html_join(", ", "{}", children) or "-"

    @admin.display(description="replaces")
    def _replaces(self, obj: AbstractAPIKey) -> str:
        if obj.rotated_from is None:
            return "-"
        return self._link_to(obj.rotated_from)

    @admin.display(description="replaced by")
    def _replaced_by(self, obj: AbstractAPIKey) -> str:
        successors = [(self._link_to(successor),) for successor in obj.rotated_to.all()]
        return format_html_join(", ", "{}", successors) or "-"

    def _link_to(self, obj: AbstractAPIKey) -> str:
        url = reverse(_url_name(self.opts, "change"), args=[obj.pk])
        return format_html('<a href="{}">{} ({})</a>', url, obj.name, obj.lookup_id)

    def get_fields(self, request: HttpRequest, obj: AbstractAPIKey | None = None) -> Any:
        fields = super().get_fields(request, obj)
        if obj is None:  # a new key has no lookup id, age, use or history yet, and is not revoked
            not_yet = (
                "lookup_id",
                "created",
                "revoked",
                "last_used_at",
                "_parent",
                "_children",
                "_replaces",
                "_replaced_by",
                "_usage",
                "_events",
            )
            fields = [field for field in fields if field not in not_yet]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: AbstractAPIKey | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.revoked:
            fields += ("name", "expiry_date", "revoked")
        return fields

    def save_model(
        self, request: HttpRequest, obj: AbstractAPIKey, form: Any = None, change: bool = False
    ) -> None:
        # A key not yet in the database gets its secret; a saved one keeps it, whatever `change`.
        if obj._state.adding:
            # Held on the request only until response_add renders it; never in a message,
            # which the cookie storage would put in the browser.
            request._new_api_key = self.model.objects.assign_key(obj)  # type: ignore[attr-defined]
        obj.save()

    def response_add(
        self, request: HttpRequest, obj: AbstractAPIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        key = request.__dict__.pop("_new_api_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        return self.render_key_created(request, obj, key)

    def render_key_created(
        self,
        request: HttpRequest,
        obj: AbstractAPIKey,
        key: str,
        replaced: AbstractAPIKey | None = None,
    ) -> HttpResponse:
        """The one page that shows a new key, after it is added or issued by a rotation."""
        context = {
            **self._page_context(request, "API key rotated" if replaced else "API key created"),
            "api_key": obj,
            "key": key,
            "replaced": replaced,
            "key_header": ": ".join(key_header()),
            "change_url": reverse(_url_name(self.opts, "change"), args=[obj.pk]),
            "changelist_url": reverse(_url_name(self.opts, "changelist")),
        }
        context["crumbs"].append((obj.name, None))
        response = TemplateResponse(request, self.key_created_template, context)
        add_never_cache_headers(response)
        return response

    def _page_context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        """What every page of this admin's own needs: the admin's context, and breadcrumbs up to
        the list of keys (`crumbs`: (label, URL or None) pairs) in the running Django's markup."""
        app_list = reverse("admin:app_list", kwargs={"app_label": self.opts.app_label})
        changelist = reverse(_url_name(self.opts, "changelist"))
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "crumbs": [
                ("Home", reverse("admin:index")),
                (self.opts.app_config.verbose_name, app_list),
                (capfirst(self.opts.verbose_name_plural), changelist),
            ],
            # Django 6 marks breadcrumbs up as a list; 5.2 as a div of links.
            "breadcrumbs_as_list": django.VERSION >= (6,),
        }

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: AbstractAPIKey | None = None,
    ) -> HttpResponse:
        if obj is not None and not obj.revoked and self.has_rotate_permission(request, obj):
            context["rotate_url"] = reverse(_url_name(self.opts, "rotate"), args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        rotate = path(
            "<path:object_id>/rotate/",
            self.admin_site.admin_view(self.rotate_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_rotate",
        )
        return [rotate, *super().get_urls()]  # before the catch-all "<path:object_id>/"

    def has_rotate_permission(self, request: HttpRequest, obj: AbstractAPIKey) -> bool:
        """Rotating adds a key and changes the old one."""
        return self.has_add_permission(request) and self.has_change_permission(request, obj)

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: choose the grace period. POST: rotate, and show the new key once."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined,no-any-return]
        if not self.has_rotate_permission(request, obj):
            raise PermissionDenied
        change_url = reverse(_url_name(self.opts, "change"), args=[obj.pk])
        form = RotateForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                with acting_staff(request):
                    new, key = obj.rotate(grace=form.cleaned_data["grace"])
            except ValueError as error:
                self.message_user(request, str(error), messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.log_addition(request, new, f"Issued by rotating {obj.lookup_id}.")
            self.log_change(request, obj, f"Rotated: replaced by {new.lookup_id}.")
            return self.render_key_created(request, new, key, replaced=obj)
        context = {
            **self._page_context(request, f"Rotate the API key “{obj.name}”"),
            "api_key": obj,
            "form": form,
            "change_url": change_url,
        }
        context["crumbs"] += [(obj.name, change_url), ("Rotate", None)]
        return TemplateResponse(request, self.rotate_template, context)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[AbstractAPIKey]
    ) -> HttpResponse | None:
        """First a page that lists the keys and asks; then, once confirmed, revoke them."""
        if request.POST.get("post") == "yes":
            revoked = 0
            for api_key in queryset.filter(revoked=False):
                api_key.revoke()  # one by one, so that each save sends its signals
                self.log_change(request, api_key, "Revoked.")
                revoked += 1
            self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
            return None
        context = {
            **self._page_context(request, "Revoke API keys?"),
            "queryset": queryset,
            "to_revoke": [api_key for api_key in queryset if not api_key.revoked],
            "already_revoked": [api_key for api_key in queryset if api_key.revoked],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "changelist_url": reverse(_url_name(self.opts, "changelist")),
        }
        context["crumbs"].append(("Revoke", None))
        return TemplateResponse(request, self.revoke_confirmation_template, context)


@admin.register(KeyEvent)
class KeyEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # no [] at run time
    """Every key's events, read only: nobody adds, changes or deletes one here."""

    list_display = (
        "_at",
        "key_name",
        "_key",
        "action",
        "reason",
        "_by",
        "address",
        "_changes",
    )
    list_filter = ("action", "actor_kind", "reason", "key_model", "at")
    search_fields = ("lookup_id", "key_name", "actor_name")

    @admin.display(description="at", ordering="at")
    def _at(self, event: KeyEvent) -> str:
        return date_format(timezone.localtime(event.at), "Y-m-d H:i:s")  # to the second

    @admin.display(description="lookup id", ordering="lookup_id")
    def _key(self, event: KeyEvent) -> str:
        """A link to the key in its list (empty once the key is deleted)."""
        try:
            url = reverse(_url_name(django_apps.get_model(event.key_model)._meta, "changelist"))
        except (LookupError, NoReverseMatch):  # a model removed, or not in the admin
            return event.lookup_id
        query = urlencode({"lookup_id": event.lookup_id})
        return format_html('<a href="{}?{}">{}</a>', url, query, event.lookup_id)

    @admin.display(description="by", ordering="actor_kind")
    def _by(self, event: KeyEvent) -> str:
        return actor_text(event)

    @admin.display(description="changes")
    def _changes(self, event: KeyEvent) -> str:
        return changes_text(event.changes) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
