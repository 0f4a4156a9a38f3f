"""The admin of connections: secrets write-only, a Test connection button, the OAuth2 Authorize step and the
webhook receiver (IT only)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from ..choices import AuthKind
from ..connection_check import verdict_for
from ..forms import ConnectionForm
from ..models import SECRET_FIELDS, Connection, Integration
from ..shown_fields import AUTH_KIND_FIELDS, CONNECTION_KIND_FIELDS, FILE_FIELDS, not_applying
from . import authorize
from .connection_budget import panel_of
from .webhook_receivers import panel_of as webhook_panel_of


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "kind", "address", "auth_kind", "timeout_seconds", "updated_at"]
    list_filter = ["kind", "auth_kind"]
    search_fields = ["name", "base_url", "wsdl_url"]
    readonly_fields = ["stored_secrets"]
    fieldsets = [
        (None, {"fields": ["name", "kind"]}),
        (_("REST"), {"fields": ["base_url", "test_path"]}),
        (
            _("SOAP"),
            {"fields": ["wsdl_url", "wsdl_upload", "wsdl_document", "soap_service", "soap_port", "endpoint_url"]},
        ),
        (
            _("Files"),
            {"fields": list(FILE_FIELDS)},
        ),
        (
            _("Reading"),
            {
                "fields": [
                    "pagination",
                    "page_size",
                    "page_parameter",
                    "size_parameter",
                    "next_path",
                    "result_cap",
                    "records_path",
                    "column_names_path",
                ]
            },
        ),
        (
            _("Authentication"),
            {
                "fields": [
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
                    "token_headers",
                    "login_path",
                    "login_body",
                    "body_credentials",
                    "private_key",
                ]
            },
        ),
        (
            _("Limits"),
            {
                "fields": [
                    "timeout_seconds",
                    "max_retries",
                    "max_retry_after_seconds",
                    "rate_limit_per_minute",
                    "daily_call_limit",
                    "max_in_flight",
                    "verify_tls",
                ]
            },
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            return self.fieldsets
        # View-only users see which secrets are set, never their values, and only the fields that apply.
        hidden = {*SECRET_FIELDS, "wsdl_upload"}
        if obj is not None:
            hidden |= not_applying(obj.kind, CONNECTION_KIND_FIELDS) | not_applying(obj.auth_kind, AUTH_KIND_FIELDS)
        fieldsets = [
            (title, {**options, "fields": [name for name in options["fields"] if name not in hidden]})
            for title, options in self.fieldsets
        ]
        fieldsets = [(title, options) for title, options in fieldsets if options["fields"]]
        return [*fieldsets, (_("Secrets"), {"fields": ["stored_secrets"]})]

    # Test connection: IT checks a connection's address and credentials in one click.
    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.test_view))
        authorize_view = self.admin_site.admin_view(require_POST(authorize.authorize))
        callback_view = self.admin_site.admin_view(require_GET(authorize.callback))
        return [
            path("<int:pk>/test/", view, name="sync_connection_test"),
            path("<int:pk>/authorize/", authorize_view, name="sync_connection_authorize"),
            path("oauth/callback/", callback_view, name="sync_connection_oauth_callback"),
            *super().get_urls(),
        ]

    def test_view(self, request, pk):
        connection = get_object_or_404(Connection, pk=pk)
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        verdict = verdict_for(connection)
        self.message_user(request, verdict.message, messages.SUCCESS if verdict.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:sync_connection_change", args=[connection.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_test": self.has_change_permission(request)}
        extra_context["budget"] = panel_of(object_id)
        # Each integration that uses the connection: a link to its monitoring page.
        uses = Q(erp_connection_id=object_id) | Q(crm_connection_id=object_id) if str(object_id).isdigit() else None
        extra_context["used_by"] = Integration.objects.filter(uses).order_by("name") if uses else []
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.auth_kind == AuthKind.OAUTH2_CODE:
            # Whether and since when it is authorized (never the token), and the address to register.
            context["authorization"] = {
                "authorized_at": obj.authorized_at if obj.refresh_token else None,
                "callback_url": authorize.callback_url(request),
            }
        context["webhook"] = webhook_panel_of(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("address"))
    def address(self, obj):
        return obj.base_url or obj.wsdl_url or (_("uploaded WSDL") if obj.wsdl_document else "")

    @admin.display(description=_("stored secrets"))
    def stored_secrets(self, obj):
        if obj is None:
            return "—"
        labels = [str(Connection._meta.get_field(name).verbose_name) for name in obj.secrets_set()]
        return ", ".join(labels) or _("none")
