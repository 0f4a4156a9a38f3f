"""Two-factor logins for IT accounts (django-otp, time-based codes), on with ``TWO_FACTOR_FOR_IT``.

IT accounts (the IT role, and superusers) can change connections, secrets and schedules: with the
setting on, each logs in with a password and the 6-digit code of an authenticator app. An IT account
without an authenticator yet is sent, once its password is accepted, to the set-up page: it shows the
key to add to the app (and its ``otpauth://`` address) and confirms it with a first code. Until then
no admin page opens for it. Other roles log in with their password alone.
"""

from base64 import b32encode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .roles import IT

DEVICE_NAME = "authenticator"


def required_for(user) -> bool:
    """Whether ``user`` must log in with a code: the setting is on and the account is an IT one."""
    if not getattr(settings, "TWO_FACTOR_FOR_IT", False) or not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=IT).exists()


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def needs_setup(user) -> bool:
    return required_for(user) and confirmed_device(user) is None


def is_satisfied(user) -> bool:
    """The account may open admin pages: no code is required of it, or this session was verified with one."""
    return not required_for(user) or user.is_verified()


def check_code(device: TOTPDevice, code: str) -> None:
    """Accept ``code`` for ``device`` or raise a ValidationError that says why (django-otp throttles failures)."""
    code = (code or "").strip().replace(" ", "")
    if not code:
        raise ValidationError(_("Enter the 6-digit code your authenticator app shows."), code="token_required")
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        raise ValidationError(_("Too many wrong codes in a row: wait a little, then enter the new code."))
    if not device.verify_token(code):
        raise ValidationError(_("That code is not right, or has expired: enter the one your app shows now."))


class PortalLoginForm(AdminAuthenticationForm):
    """The admin's login, with the authentication code when two-factor logins are on."""

    otp_token = forms.CharField(
        label=gettext_lazy("Authentication code"),
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=gettext_lazy("IT accounts: the 6 digits your authenticator app shows. Others: leave it empty."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not getattr(settings, "TWO_FACTOR_FOR_IT", False):
            del self.fields["otp_token"]

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        device = confirmed_device(user) if user is not None and required_for(user) else None
        if device is not None:
            check_code(device, self.cleaned_data.get("otp_token", ""))
            user.otp_device = device  # django-otp marks the session verified at login
        return cleaned


def setup(request):
    """An IT account adds its authenticator: the key to type into the app, then a first code to confirm it."""
    user = request.user
    if not user.is_authenticated or not user.is_staff:
        return HttpResponseRedirect(reverse("admin:login"))
    if not needs_setup(user):
        return HttpResponseRedirect(reverse("admin:index"))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    error = ""
    if request.method == "POST":
        try:
            check_code(device, request.POST.get("otp_token", ""))
        except ValidationError as refused:
            error = refused.messages[0]
        else:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            messages.success(request, _("Two-factor login is set up: from now on, log in with a code from your app."))
            return HttpResponseRedirect(reverse("admin:index"))
    context = {
        **admin.site.each_context(request),
        "title": _("Set up two-factor login"),
        "key": _base32(device.bin_key),
        "address": device.config_url,
        "error": error,
    }
    return render(request, "registration/two_factor_setup.html", context)


def _base32(key: bytes) -> str:
    """The key as authenticator apps ask for it when typed: base32, in groups of four."""
    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[index : index + 4] for index in range(0, len(text), 4))
