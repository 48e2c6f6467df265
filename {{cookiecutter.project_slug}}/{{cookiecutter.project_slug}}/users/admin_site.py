"""The admin, where keys are made, behind two factors: a password, then a code from an
authenticator app (TOTP, through django-otp).

With settings.ADMIN_TWO_FACTOR on (always in production), signing in takes two steps. The
password alone logs nobody in: it only lets the browser's session name the person who must now
give a code. The code then logs them in, verified. A staff user without a device sets one up at
that second step, by scanning a QR code and giving its first code; each password step makes a
new secret, so a secret seen earlier never becomes theirs. `manage.py resettwofactor` removes a
person's devices, for one who lost theirs.
"""

import logging
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
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

logger = logging.getLogger(__name__)

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
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args: Any, devices: list[TOTPDevice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.devices = devices
        self.device: TOTPDevice | None = None  # the one that took the code

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].strip()
        wrong = "That code is not right, or was used already: try the next one your app shows."
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise forms.ValidationError(wrong)  # not a guess: no device counts it
        wait = 0
        # Each device's row locked while it is checked: two requests at once neither both spend
        # one code nor both guess within one of the device's waits.
        with transaction.atomic():
            pks = [device.pk for device in self.devices]
            for device in TOTPDevice.objects.select_for_update().filter(pk__in=pks).order_by("pk"):
                allowed, details = device.verify_is_allowed()
                if not allowed:
                    until = (details or {}).get("locked_until", timezone.now())
                    wait = max(wait, math.ceil((until - timezone.now()).total_seconds()), 1)
                elif device.verify_token(code):
                    self.device = device
                    return code
        # Raised outside the transaction, so that the device keeps count of the wrong code.
        if wait:
            raise forms.ValidationError(
                "Too many wrong codes: wait %(seconds)s s, then try the next code.",
                params={"seconds": wait},
            )
        raise forms.ValidationError(wrong)


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
            self._note_password(request, form.get_user())
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
        pending = self._pending(request)
        if pending is None or (request.method == "POST" and "cancel" in request.POST):
            request.session.pop(PENDING, None)
            return redirect(reverse("admin:login", current_app=self.name))
        user, new_device = pending
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
        setting_up = not devices
        if setting_up:
            device = TOTPDevice.objects.filter(pk=new_device, user=user, confirmed=False).first()
            if device is None:  # removed since (resettwofactor): the password step again
                request.session.pop(PENDING)
                return redirect(reverse("admin:login", current_app=self.name))
            devices = [device]
        form = CodeForm(request.POST or None, devices=devices)
        if request.method == "POST" and form.is_valid() and form.device is not None:
            if setting_up:
                form.device.confirmed = True
                form.device.save(update_fields=["confirmed"])
            del request.session[PENDING]
            auth.login(request, user)
            otp_login(request, form.device)
            return redirect(self._next_url(request))
        if request.method == "POST":
            logger.warning(
                "A wrong second-factor code for %s, after a right password, from %s",
                user.get_username(),
                request.META.get("REMOTE_ADDR", "an unknown address"),
            )
        context = {
            **self.each_context(request),
            "title": "Set up your second factor" if setting_up else "Enter your code",
            "form": form,
            "setting_up": setting_up,
            "app_path": request.get_full_path(),
        }
        if setting_up:
            # An <img> of data: (the policy allows it), so no markup is marked safe.
            qr_code = segno.make(devices[0].config_url, error="m")
            context["qr_code"] = qr_code.svg_data_uri(scale=5, border=2)
            context["secret"] = b32encode(devices[0].bin_key).decode()
        request.current_app = self.name
        return TemplateResponse(request, "users/two_factor.html", context)

    def _note_password(self, request: HttpRequest, user: AbstractBaseUser) -> None:
        """The first step passed: a new session notes who, when, with which password, and for
        a person without a device, the new one (with a new secret) they may now set up."""
        request.session.cycle_key()  # a session id seen before the password is not kept
        new_device = None
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            new_device = TOTPDevice.objects.create(
                user=user, name="Authenticator app", confirmed=False
            ).pk
        request.session[PENDING] = {
            "user": user.pk,
            "backend": user.backend,
            "since": time.time(),
            "password": user.get_session_auth_hash(),
            "new_device": new_device,
        }

    def _pending(self, request: HttpRequest) -> tuple[Any, int | None] | None:
        """The person whose password was right, less than PENDING_SECONDS ago, who is still
        active staff with that password (an instance of whatever AUTH_USER_MODEL names); and
        the device they may set up, if any."""
        note: Any = request.session.get(PENDING)
        try:
            since, user_pk, backend = float(note["since"]), int(note["user"]), str(note["backend"])
            password, new_device = str(note["password"]), note["new_device"]
        except (TypeError, KeyError, ValueError):  # no note, or one of another shape
            return None
        if not 0 <= time.time() - since <= PENDING_SECONDS:
            return None
        staff = get_user_model()._default_manager.filter(is_active=True, is_staff=True)
        user = staff.filter(pk=user_pk).first()
        if user is None or not constant_time_compare(password, user.get_session_auth_hash()):
            return None
        user.backend = backend
        return user, new_device if isinstance(new_device, int) else None

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
