"""Admin forms: scopes and networks typed as text, and the choice of a rotation's grace
period."""

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .addresses import normalize_networks
from .scopes import SCOPE_RULE, parse_scopes


class ScopesField(forms.CharField):
    """Scopes typed as text, separated by spaces or commas; cleaned to a sorted list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"class": "vTextField"}))
        kwargs.setdefault(
            "help_text",
            "What the key may do: views list the scopes they require. "
            f"Separate them with spaces or commas; {SCOPE_RULE}.",
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return " ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not text
        try:
            return parse_scopes(super().to_python(value) or "")
        except ValueError as error:
            raise ValidationError(str(error), code="invalid_scope") from None


class NetworksField(forms.CharField):
    """Networks typed one per line (or separated by commas or spaces), in CIDR form; cleaned to
    a list in canonical form."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Allowed IPs")
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}))
        kwargs.setdefault(
            "help_text",
            "Networks the key may be used from, one per line, in CIDR form: 203.0.113.0/24, "
            "2001:db8::/32, or one address. Empty: anywhere.",
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not text
        text = super().to_python(value) or ""
        try:
            return normalize_networks(text.replace(",", " ").split())
        except ValueError as error:
            raise ValidationError(str(error), code="invalid_network") from None


class APIKeyAdminForm(forms.ModelForm):  # type: ignore[type-arg]  # no [] at run time
    """The add and change form of a key: the model's fields, with scopes and networks as text."""

    scopes = ScopesField()
    allowed_ips = NetworksField()


# The grace periods the rotation page offers: (value, label, length).
GRACE_PERIODS = [
    ("0m", "at once", timedelta(0)),
    ("1h", "in 1 hour", timedelta(hours=1)),
    ("24h", "in 24 hours", timedelta(hours=24)),
    ("7d", "in 7 days", timedelta(days=7)),
    ("30d", "in 30 days", timedelta(days=30)),
]


class RotateForm(forms.Form):
    """How long the key being replaced keeps working."""

    grace = forms.ChoiceField(
        label="The old key stops working",
        choices=[(value, label) for value, label, _ in GRACE_PERIODS],
        initial="24h",
    )

    def clean_grace(self) -> timedelta:
        chosen = self.cleaned_data["grace"]
        return next(length for value, _, length in GRACE_PERIODS if value == chosen)
