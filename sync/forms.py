"""Admin forms of the configuration models."""

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from .durations import HumanDurationField
from .models import OUTBOUND_URL_FIELDS, SECRET_FIELDS, Connection


class OutboundURLField(forms.URLField):
    """A URL the portal will call, checked by the model (``Connection.clean_fields``), not here.

    The model refuses it in words naming the field (a scheme other than http(s), the cloud
    metadata address, loopback when not allowed, a malformed URL); Django's generic URL
    check would say only "Enter a valid URL." first, and leave the model believing the
    field blank ("needs a base URL").
    """

    default_validators = []


class ConnectionForm(forms.ModelForm):
    """Secrets are write-only: never rendered back, and a blank field keeps the stored value."""

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
            "records_path",
            "wsdl_url",
            "wsdl_document",
            "soap_service",
            "soap_port",
            "endpoint_url",
            "auth_kind",
            "username",
            "password",
            "token",
            "api_key_header",
            "api_key",
            "oauth_token_url",
            "client_id",
            "client_secret",
            "oauth_scope",
            "timeout_seconds",
            "max_retries",
            "rate_limit_per_minute",
            "verify_tls",
        ]
        widgets = {
            name: forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            for name in SECRET_FIELDS
        }
        field_classes = dict.fromkeys(OUTBOUND_URL_FIELDS, OutboundURLField)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        if cleaned.get("wsdl_upload"):
            cleaned["wsdl_document"] = cleaned["wsdl_upload"]
        return cleaned


def human_duration_formfield(db_field: models.Field, **kwargs):
    """Form field for a DurationField that reads and shows 24h / 1d 12h."""
    return HumanDurationField(
        required=not db_field.blank,
        label=db_field.verbose_name.capitalize(),
        help_text=db_field.help_text,
        **kwargs,
    )
