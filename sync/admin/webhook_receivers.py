"""Webhook receivers (IT only): verification, secret and limits, and a new address when the old one leaked.

The secret and the HubSpot developer API key are write-only (never rendered back; a blank field keeps
them); the HubSpot app's fields show for the HubSpot verification only (blanked on save for another).
The token is never typed: it is made when the receiver is added and replaced when IT ticks "Give it a
new address" (the old address stops working at once). The connection's page shows the full address and
links here (:func:`panel_of`); so does the receiver's own page.

For a sender whose API takes subscriptions (:mod:`sync.webhooks.registration`), the receiver's page has
**Register at <sender>** and **Remove** (POST, the receiver's change permission: IT): the sender's refusal
is shown in its own words.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ..forms import FORMS_CSS, SHOWN_FIELDS_JS
from ..models import WebhookReceiver
from ..shown_fields import WEBHOOK_SCHEME_FIELDS, blank_unused, select_attrs
from ..webhooks import registration
from ..webhooks.addresses import receiver_url

SECRET_WIDGET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class WebhookReceiverForm(forms.ModelForm):
    new_address = forms.BooleanField(
        label=_("Give it a new address"),
        required=False,
        help_text=_("The current address stops working at once: register the new one at the sender"),
    )

    class Meta:
        model = WebhookReceiver
        fields = [
            "connection",
            "scheme",
            "secret",
            "signature_header",
            "key_path",
            "delivery_id_header",
            "event_type_path",
            "hubspot_app_id",
            "hubspot_developer_key",
            "max_body_bytes",
            "active",
        ]
        widgets = {"secret": SECRET_WIDGET, "hubspot_developer_key": SECRET_WIDGET}

    class Media:
        css = FORMS_CSS
        js = [SHOWN_FIELDS_JS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scheme" in self.fields:
            self.fields["scheme"].widget.attrs.update(select_attrs(WEBHOOK_SCHEME_FIELDS))
        for name in ("secret", "hubspot_developer_key"):
            field = self.fields[name]
            field.initial = None
            if self.instance.pk and getattr(self.instance, name):
                field.required = False
                field.help_text = _("A value is stored. Leave blank to keep it.")

    def clean_secret(self):
        return self.cleaned_data.get("secret") or self.instance.secret

    def clean_hubspot_developer_key(self):
        typed = self.cleaned_data.get("hubspot_developer_key", "").strip()
        if typed or not (self.cleaned_data.get("hubspot_app_id") or "").strip():
            return typed  # a new key, or none: an app id left blank takes the stored key away with it
        return self.instance.hubspot_developer_key

    def clean(self):
        cleaned = super().clean()
        blank_unused(cleaned, cleaned.get("scheme"), WEBHOOK_SCHEME_FIELDS)
        return cleaned

    def save(self, commit=True):
        receiver = super().save(commit=False)
        if self.cleaned_data.get("new_address") and receiver.pk:
            receiver.token = WebhookReceiver._meta.get_field("token").get_default()
            receiver.token_changed_at = timezone.now()
        if commit:
            receiver.save()
        return receiver


@admin.register(WebhookReceiver)
class WebhookReceiverAdmin(admin.ModelAdmin):
    form = WebhookReceiverForm
    list_display = ["connection", "scheme", "active", "token_changed_at"]
    list_filter = ["scheme", "active"]
    list_select_related = ["connection"]

    def get_fields(self, request, obj=None):
        fields = list(self.form.base_fields)
        return fields if obj is not None else [name for name in fields if name != "new_address"]

    def get_readonly_fields(self, request, obj=None):
        return ["connection"] if obj is not None else []  # a receiver stays with the connection it was made for

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["webhook"] = panel_of(request, obj.connection if obj is not None else None)
        if obj is not None:
            context["registration"] = registration_panel(obj, can_change=self.has_change_permission(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        def post_view(view):
            return self.admin_site.admin_view(require_POST(view))

        return [
            path("<int:pk>/register/", post_view(self.register_view), name="sync_webhookreceiver_register"),
            path("<int:pk>/unregister/", post_view(self.unregister_view), name="sync_webhookreceiver_unregister"),
            *super().get_urls(),
        ]

    def register_view(self, request, pk):
        receiver = self._changeable(request, pk)
        try:
            outcome = registration.register(receiver, receiver_url(request, receiver.token))
        except registration.RegistrationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, registered_words(receiver, outcome), messages.SUCCESS)
            if outcome.replaced_address:
                words = gettext("The app sent its webhooks to %(before)s: it sends them to this receiver now.")
                self.message_user(request, words % {"before": outcome.replaced_address}, messages.WARNING)
        return self._back(receiver)

    def unregister_view(self, request, pk):
        receiver = self._changeable(request, pk)
        try:
            outcome = registration.remove(receiver)
        except registration.RegistrationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            if outcome.removed:
                words = gettext("Removed at %(sender)s: %(types)s.") % {
                    "sender": receiver.connection.name,
                    "types": ", ".join(outcome.removed),
                }
            else:
                words = gettext("Nothing was registered from here: nothing to remove.")
            self.message_user(request, words, messages.SUCCESS)
        return self._back(receiver)

    def _changeable(self, request, pk) -> WebhookReceiver:
        receiver = get_object_or_404(WebhookReceiver.objects.select_related("connection"), pk=pk)
        if not self.has_change_permission(request, receiver):
            raise PermissionDenied
        return receiver

    def _back(self, receiver):
        return HttpResponseRedirect(reverse("admin:sync_webhookreceiver_change", args=[receiver.pk]))


def registered_words(receiver: WebhookReceiver, outcome: registration.Outcome) -> str:
    parts = []
    if outcome.added:
        parts.append(gettext("registered %(types)s") % {"types": ", ".join(outcome.added)})
    if outcome.kept:
        parts.append(gettext("already registered: %(types)s") % {"types": ", ".join(outcome.kept)})
    return gettext("At %(sender)s: %(what)s.") % {"sender": receiver.connection.name, "what": "; ".join(parts)}


def registration_panel(receiver: WebhookReceiver, *, can_change: bool) -> dict:
    """What the receiver's page shows of its registration at the sender, and whether it has the buttons."""
    sender = registration.sender_of(receiver)
    return {
        "sender": registration.SENDER_NAMES.get(sender, ""),
        "why_not": "" if sender else registration.why_not(receiver),
        "rows": list(receiver.registrations.all()),
        "wanted": registration.wanted_event_types(receiver) if sender else [],
        "can_change": can_change and sender is not None,
    }


def panel_of(request, connection) -> dict | None:
    """What a page shows of a connection's receiver: its full address and since when (None: nothing to show)."""
    if connection is None or not request.user.has_perm("sync.view_webhookreceiver"):
        return None
    receiver = WebhookReceiver.objects.filter(connection=connection).first()
    if receiver is None:
        return {"connection": connection.pk} if request.user.has_perm("sync.add_webhookreceiver") else None
    return {
        "address": receiver_url(request, receiver.token),
        "given_at": receiver.token_changed_at,
        "active": receiver.active,
        "scheme": receiver.get_scheme_display(),
        "pk": receiver.pk,
    }
