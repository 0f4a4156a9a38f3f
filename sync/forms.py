"""Admin forms of the configuration models."""

from urllib.parse import urlsplit

from django import forms
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from core.durations import HumanDurationField

from . import validators
from .choices import Direction
from .models import OUTBOUND_URL_FIELDS, SECRET_FIELDS, Connection, FieldMapping, Integration
from .models.integration_ports import type_errors
from .row_editors import FilterRulesEditor, KeyValueEditor
from .shown_fields import (
    AUTH_BLANK_VALUES,
    AUTH_KIND_FIELDS,
    AUTH_KINDS_OF,
    CONNECTION_KIND_FIELDS,
    FILE_BLANK_VALUES,
    FILE_FIELDS,
    FILE_FORMAT_FIELDS,
    FILE_LOCATION_FIELDS,
    SCHEDULE_FIELDS,
    blank_unused,
    select_attrs,
)

SHOWN_FIELDS_JS = "portal/shown_fields.js"
FORMS_CSS = {"all": ["portal/forms.css"]}

LAST_POSITION = 10_000  # a mapping's highest position (FieldMapping.position's range)
WEBHOOK_FIELD = "alert_webhook_url"
CLEAR_WEBHOOK_FIELD = "clear_alert_webhook_url"


class OutboundURLField(forms.URLField):
    """A URL the portal will call, checked by the model (``Connection.clean_fields``), not here.

    The model refuses it in words naming the field (a scheme other than http(s), the cloud
    metadata address, loopback when not allowed, a malformed URL); Django's generic URL
    check would say only "Enter a valid URL." first, and leave the model believing the
    field blank ("needs a base URL").
    """

    default_validators = []


class SecretTextarea(forms.Textarea):
    """A text area for a secret of several lines (a private key): what is typed is never rendered back."""

    def format_value(self, value):
        return None


class ConnectionForm(forms.ModelForm):
    """Secrets are write-only: never rendered back, and a blank field keeps the stored value.

    Only the fields of the chosen kind and authentication apply: the page shows only those, and
    saving blanks the others (a secret the authentication does not use is dropped by the model).
    """

    wsdl_upload = forms.FileField(
        label=_("Upload a WSDL"), required=False, help_text=_("Replaces the WSDL document with the file's content")
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "kind",
            "base_url",
            "pagination",
            "page_size",
            "page_parameter",
            "size_parameter",
            "next_path",
            "result_cap",
            "records_path",
            "column_names_path",
            "test_path",
            "wsdl_url",
            "wsdl_document",
            "soap_service",
            "soap_port",
            "endpoint_url",
            *FILE_FIELDS,
            "auth_kind",
            "username",
            "password",
            "token",
            "api_key_header",
            "api_key",
            "oauth_authorize_url",
            "oauth_token_url",
            "client_id",
            "client_secret",
            "oauth_scope",
            "login_path",
            "login_body",
            "body_credentials",
            "token_headers",
            "private_key",
            "timeout_seconds",
            "max_retries",
            "max_retry_after_seconds",
            "rate_limit_per_minute",
            "daily_call_limit",
            "max_in_flight",
            "verify_tls",
        ]
        widgets = {
            **{
                name: forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                for name in SECRET_FIELDS
            },
            "private_key": SecretTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        }
        field_classes = dict.fromkeys(OUTBOUND_URL_FIELDS, OutboundURLField)

    class Media:
        css = FORMS_CSS
        js = [SHOWN_FIELDS_JS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"].widget.attrs.update(select_attrs(CONNECTION_KIND_FIELDS))
        if "auth_kind" in self.fields:
            self.fields["auth_kind"].widget.attrs.update(select_attrs(AUTH_KIND_FIELDS, ("kind", AUTH_KINDS_OF)))
        for name in FILE_BLANK_VALUES:  # a form of another kind, or a page without them, leaves their defaults
            if name in self.fields:
                self.fields[name].required = False
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            field = self.fields[name]
            field.initial = None
            if self.instance.pk and getattr(self.instance, name):
                field.help_text = _("A value is stored. Leave blank to keep it.")
            else:
                field.help_text = _("Not set.")

    def _keep_secret(self, name):
        value = self.cleaned_data.get(name)
        return value if value else getattr(self.instance, name)

    def clean_password(self):
        return self._keep_secret("password")

    def clean_token(self):
        return self._keep_secret("token")

    def clean_api_key(self):
        return self._keep_secret("api_key")

    def clean_client_secret(self):
        return self._keep_secret("client_secret")

    def clean_private_key(self):
        return self._keep_secret("private_key")

    def clean_wsdl_upload(self):
        upload = self.cleaned_data.get("wsdl_upload")
        if not upload:
            return None
        raw = upload.read(10 * 1024 * 1024 + 1)
        if len(raw) > 10 * 1024 * 1024:
            raise forms.ValidationError(_("The WSDL is larger than 10 MB."))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The WSDL must be a UTF-8 XML file.")) from None
        if "definitions" not in text:
            raise forms.ValidationError(_("This file does not look like a WSDL (no <definitions> element)."))
        return text

    def clean(self):
        cleaned = super().clean()
        blank_unused(
            cleaned,
            cleaned.get("kind"),
            CONNECTION_KIND_FIELDS,
            {"wsdl_upload": None, "result_cap": None, **FILE_BLANK_VALUES},
        )
        for name, default in FILE_BLANK_VALUES.items():
            if name in cleaned and cleaned[name] in (None, "") and not isinstance(default, bool):
                cleaned[name] = default
        blank_unused(cleaned, cleaned.get("file_location"), FILE_LOCATION_FIELDS, FILE_BLANK_VALUES)
        blank_unused(cleaned, cleaned.get("file_format"), FILE_FORMAT_FIELDS, FILE_BLANK_VALUES)
        blank_unused(cleaned, cleaned.get("auth_kind"), AUTH_KIND_FIELDS, AUTH_BLANK_VALUES)
        if cleaned.get("wsdl_upload"):
            cleaned["wsdl_document"] = cleaned["wsdl_upload"]
        return cleaned


class SyncTableForm(forms.ModelForm):
    """A table's count query must be one the connection it writes to can answer (REST counts, SOAP cannot).

    The table admin's form: the admin gives it the model and its fields. Filter rules and read
    arguments are edited as rows, the JSON still accepted.
    """

    class Meta:
        widgets = {"filter_rules": FilterRulesEditor(), "read_arguments": KeyValueEditor()}

    def clean(self):
        cleaned = super().clean()
        integration, direction, query = (
            cleaned.get(name) for name in ("integration", "direction", "target_count_query")
        )
        if integration is None or not direction or not query:
            return cleaned
        writes_to = integration.crm_connection if direction == Direction.ERP_TO_CRM else integration.erp_connection
        for message in validators.check_count_connection(query, writes_to.kind, writes_to.name):
            self.add_error("target_count_query", message)
        return cleaned


class FieldMappingForm(forms.ModelForm):
    """A field mapping's form (the table admin's inline gives it its fields): transform options as key/value rows.

    A new mapping's position may be left blank: it goes after the table's last mapping (mappings
    added together keep their order on the page).
    """

    class Meta:
        model = FieldMapping
        fields = [
            "position",
            "source_path",
            "target_field",
            "transform",
            "transform_options",
            "value_type",
            "send_on",
            "default_value",
            "omit_empty",
            "required",
            "owner",
        ]
        widgets = {"transform_options": KeyValueEditor()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("position")
        if field is not None and self.instance.pk is None:
            field.required = False
            field.widget.attrs["placeholder"] = _("after the last")
            self.initial["position"] = None

    def clean_position(self):
        position = self.cleaned_data.get("position")
        if position is not None or self.instance.pk is not None:
            return position
        table_id = self.instance.table_id
        last = FieldMapping.objects.filter(table_id=table_id).aggregate(last=models.Max("position"))["last"]
        return 0 if table_id is None or last is None else min(last + 1, LAST_POSITION)


def webhook_host(url: str) -> str:
    """``url`` without its path and query (the secret part of a Slack-like webhook): ``https://hooks.example/…``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    return f"{parts.scheme}://{host}/…" if host and parts.scheme else "…"


def hide_webhook(text: str, url: str) -> str:
    """``text`` with the webhook ``url`` written as its host only."""
    return text.replace(url, webhook_host(url)) if url else text


class IntegrationForm(forms.ModelForm):
    """The alert webhook URL is a credential, write-only like a connection's secrets.

    It is never rendered back; a blank field keeps the stored URL, and the
    "remove" box (offered when one is stored) deletes it. A refused URL is
    explained by the model, with the URL written as its host only.
    """

    clear_alert_webhook_url = forms.BooleanField(
        label=_("Remove the stored webhook URL"),
        required=False,
        help_text=_("No webhook posts after saving; the alert emails are still sent."),
    )

    class Meta:
        model = Integration
        fields = [
            "name",
            "description",
            "integration_type",
            "erp_name",
            "erp_version",
            "crm_name",
            "erp_connection",
            "crm_connection",
            "deployment_status",
            "active",
            "business_rule",
            "schedule_kind",
            "schedule_interval_minutes",
            "schedule_daily_time",
            "schedule_cron",
            "max_time_without_success",
            "alert_emails",
            WEBHOOK_FIELD,
        ]
        widgets = {WEBHOOK_FIELD: forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})}
        field_classes = {WEBHOOK_FIELD: OutboundURLField}

    class Media:
        css = FORMS_CSS
        js = [SHOWN_FIELDS_JS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "schedule_kind" in self.fields:
            self.fields["schedule_kind"].widget.attrs.update(select_attrs(SCHEDULE_FIELDS))
        self._stored_webhook = self.instance.alert_webhook_url if self.instance.pk else ""
        field = self.fields.get(WEBHOOK_FIELD)
        if field is None:
            return
        field.initial = None
        if self._stored_webhook:
            field.help_text = format_lazy("{} {}", field.help_text, _("A value is stored. Leave blank to keep it."))

    def clean_alert_webhook_url(self):
        return self.cleaned_data.get(WEBHOOK_FIELD) or self._stored_webhook

    def clean(self):
        cleaned = super().clean()
        # Only the chosen schedule's input applies: the others are blanked.
        if "schedule_kind" in cleaned:
            blank_unused(cleaned, cleaned["schedule_kind"], SCHEDULE_FIELDS, {"schedule_interval_minutes": None})
        if cleaned.get(CLEAR_WEBHOOK_FIELD) and WEBHOOK_FIELD in cleaned:
            if cleaned[WEBHOOK_FIELD] != self._stored_webhook:
                self.add_error(
                    CLEAR_WEBHOOK_FIELD,
                    _("Either type a new webhook URL or remove the stored one, not both."),
                )
            else:
                cleaned[WEBHOOK_FIELD] = ""
        connections = [cleaned.get("erp_connection"), cleaned.get("crm_connection")]
        tables = self.instance.tables.all() if self.instance.pk else []
        for message in type_errors(cleaned.get("integration_type"), connections, tables):
            self.add_error("integration_type", message)
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        # The model names the refused URL; the page shows only its host.
        messages = self._errors.get(WEBHOOK_FIELD) if self._errors else None
        if not messages:
            return
        typed = self.data.get(self.add_prefix(WEBHOOK_FIELD), "")
        urls = {self.instance.alert_webhook_url, self._stored_webhook, typed} - {""}
        hidden = []
        for message in messages:
            for url in sorted(urls, key=len, reverse=True):
                message = hide_webhook(message, url)
            hidden.append(message)
        self._errors[WEBHOOK_FIELD] = self.error_class(hidden, renderer=self.renderer)


def human_duration_formfield(db_field: models.Field, **kwargs):
    """Form field for a DurationField that reads and shows 24h / 1d 12h; a new object shows the default."""
    if db_field.has_default():
        kwargs.setdefault("initial", db_field.get_default())
    return HumanDurationField(
        required=not db_field.blank,
        label=db_field.verbose_name.capitalize(),
        help_text=db_field.help_text,
        **kwargs,
    )
