"""The admin, where keys are made, behind two factors: a password, then a code from an
authenticator app (TOTP, through django-otp).

With settings.ADMIN_TWO_FACTOR on (always in production), signing in takes two steps. The
password alone logs nobody in: it only lets the browser's session name the person who must now
give a code. The code then logs them in, verified. A staff user without a device sets one up at
that second step, by scanning a QR code and giving its first code. `manage.py resettwofactor`
removes a person's devices, for one who lost theirs.
"""

import math
import time
from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib import admin, auth
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User

# The session's note of whose password was right, and when; the code must follow within this.
PENDING = "two_factor_pending"
PENDING_SECONDS = 5 * 60
# As Django's own login view: the password is kept out of error reports, the form needs its
# CSRF token, and no answer is cached.
login_view = method_decorator([sensitive_post_parameters(), csrf_protect, never_cache])


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args: Any, device: TOTPDevice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].strip()
        allowed, details = self.device.verify_is_allowed()
        if not allowed:
            locked_until = (details or {}).get("locked_until", timezone.now())
            seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
            raise forms.ValidationError(
                "Too many wrong codes: wait %(seconds)s s, then try the next code.",
                params={"seconds": seconds},
            )
        if not code.isdigit() or not self.device.verify_token(code):
            raise forms.ValidationError(
                "That code is not right, or was used already: try the next one your app shows."
            )
        return code


class AdminSite(admin.AdminSite):
    """Django's admin site, with a code after the password when settings.ADMIN_TWO_FACTOR."""

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not settings.ADMIN_TWO_FACTOR or request.user.is_verified()  # type: ignore[union-attr]

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [path("two-factor/", self.two_factor, name="two_factor")]
        return own + super().get_urls()

    @login_view
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if not settings.ADMIN_TWO_FACTOR:
            return super().login(request, extra_context)
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        form = AdminAuthenticationForm(request, data=request.POST or None)
        if request.method == "POST" and form.is_valid():
            user = form.get_user()
            request.session.cycle_key()  # a session id seen before the password is not kept
            request.session[PENDING] = {
                "user": user.pk,
                "backend": user.backend,
                "since": time.time(),
            }
            return redirect(self._two_factor_url(request))
        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
            "form": form,
            REDIRECT_FIELD_NAME: request.GET.get(REDIRECT_FIELD_NAME, ""),
            **(extra_context or {}),
        }
        request.current_app = self.name
        return TemplateResponse(request, self.login_template or "admin/login.html", context)

    @login_view
    def two_factor(self, request: HttpRequest) -> HttpResponse:
        """The second step: a code from the person's device, or a new device and its first code."""
        user = self._pending_user(request)
        if user is None:
            return redirect(reverse("admin:login", current_app=self.name))
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        setting_up = device is None
        if device is None:  # the one being set up, kept until confirmed so that reloads agree
            device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
            device = device or TOTPDevice.objects.create(
                user=user, name="Authenticator app", confirmed=False
            )
        form = CodeForm(request.POST or None, device=device)
        if request.method == "POST" and form.is_valid():
            if setting_up:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            del request.session[PENDING]
            auth.login(request, user)
            otp_login(request, device)
            return redirect(self._next_url(request))
        context = {
            **self.each_context(request),
            "title": "Set up your second factor" if setting_up else "Enter your code",
            "form": form,
            "setting_up": setting_up,
            "app_path": request.get_full_path(),
        }
        if setting_up:
            # An <img> of data: (the policy allows it), so no markup is marked safe.
            qr_code = segno.make(device.config_url, error="m")
            context["qr_code"] = qr_code.svg_data_uri(scale=5, border=2)
            context["secret"] = b32encode(device.bin_key).decode()
        request.current_app = self.name
        return TemplateResponse(request, "users/two_factor.html", context)

    def _pending_user(self, request: HttpRequest) -> User | None:
        pending = request.session.get(PENDING)
        if not pending or time.time() - pending["since"] > PENDING_SECONDS:
            return None
        user = User.objects.filter(pk=pending["user"], is_active=True, is_staff=True).first()
        if user is not None:
            user.backend = pending["backend"]
        return user

    def _two_factor_url(self, request: HttpRequest) -> str:
        url = reverse("admin:two_factor", current_app=self.name)
        following = request.GET.get(REDIRECT_FIELD_NAME) or request.POST.get(REDIRECT_FIELD_NAME)
        if not following:
            return url
        return f"{url}?{urlencode({REDIRECT_FIELD_NAME: following}, safe='/')}"

    def _next_url(self, request: HttpRequest) -> str:
        following = request.GET.get(REDIRECT_FIELD_NAME, "")
        safe = url_has_allowed_host_and_scheme(
            following, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return following if safe else reverse("admin:index", current_app=self.name)
