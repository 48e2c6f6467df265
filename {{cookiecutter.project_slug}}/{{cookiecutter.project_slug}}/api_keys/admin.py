"""Admin pages to create keys (the key is shown once, on the page that answers the form), view
them and revoke them."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from .models import AbstractAPIKey, APIKey


class APIKeyModelAdmin(admin.ModelAdmin):
    """Admin for any key model; register a custom model with it or a subclass."""

    list_display = ("name", "lookup_id", "created", "expiry_date", "_has_expired", "revoked")
    list_filter = ("revoked", "created", "expiry_date")
    search_fields = ("name", "lookup_id")
    readonly_fields = ("lookup_id", "created")
    key_created_template = "api_keys/admin/key_created.html"

    @admin.display(description="expired", boolean=True)
    def _has_expired(self, obj: AbstractAPIKey) -> bool:
        return obj.has_expired

    def get_fields(self, request: HttpRequest, obj: AbstractAPIKey | None = None) -> Any:
        fields = super().get_fields(request, obj)
        if obj is None:  # a new key has no lookup id or creation time yet, and is not revoked
            fields = [field for field in fields if field not in ("lookup_id", "created", "revoked")]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: AbstractAPIKey | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.revoked:
            fields += ("name", "expiry_date", "revoked")
        return fields

    def save_model(
        self, request: HttpRequest, obj: AbstractAPIKey, form: Any, change: bool
    ) -> None:
        if not change:
            # Held on the request only until response_add renders it; never in a message,
            # which the cookie storage would put in the browser.
            request._new_api_key = self.model.objects.assign_key(obj)
        obj.save()

    def response_add(
        self, request: HttpRequest, obj: AbstractAPIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        key = request.__dict__.pop("_new_api_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "key": key,
            "change_url": reverse(admin_urlname(self.opts, "change"), args=[obj.pk]),
            "changelist_url": reverse(admin_urlname(self.opts, "changelist")),
        }
        response = TemplateResponse(request, self.key_created_template, context)
        add_never_cache_headers(response)
        return response


admin.site.register(APIKey, APIKeyModelAdmin)
