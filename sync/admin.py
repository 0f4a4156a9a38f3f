"""Admin of the configuration: IT edits here, supervisors and onboarding look."""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.admin import ReadOnlyAdmin
from monitoring.choices import RunStatus, Trigger

from .choices import Reprocess
from .connection_check import verdict_for
from .forms import ConnectionForm, IntegrationForm, SyncTableForm, human_duration_formfield
from .json_input import JSONInputField
from .models import SECRET_FIELDS, Connection, FieldMapping, Integration, RecordLink, StagedRecord, SyncTable
from .tasks import trigger


class HumanDurationsMixin:
    """Durations are typed and shown as 24h / 1d 12h."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.DurationField):
            return human_duration_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


# JSON typed in a form is read within limits: deep nesting, NaN or a huge number is a form error, never a 500.
JSON_INPUT = {models.JSONField: {"form_class": JSONInputField}}


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "kind", "address", "auth_kind", "timeout_seconds", "updated_at"]
    list_filter = ["kind", "auth_kind"]
    search_fields = ["name", "base_url", "wsdl_url"]
    readonly_fields = ["stored_secrets"]
    fieldsets = [
        (None, {"fields": ["name", "kind"]}),
        (_("REST"), {"fields": ["base_url", "pagination", "page_size", "records_path", "test_path"]}),
        (
            _("SOAP"),
            {"fields": ["wsdl_url", "wsdl_upload", "wsdl_document", "soap_service", "soap_port", "endpoint_url"]},
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
                    "oauth_token_url",
                    "client_id",
                    "client_secret",
                    "oauth_scope",
                ]
            },
        ),
        (_("Limits"), {"fields": ["timeout_seconds", "max_retries", "rate_limit_per_minute", "verify_tls"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            return self.fieldsets
        # View-only users see which secrets are set, never their values.
        hidden = {*SECRET_FIELDS, "wsdl_upload"}
        fieldsets = [
            (title, {**options, "fields": [name for name in options["fields"] if name not in hidden]})
            for title, options in self.fieldsets
        ]
        return [*fieldsets, (_("Secrets"), {"fields": ["stored_secrets"]})]

    # Test connection: IT checks a connection's address and credentials in one click.
    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.test_view))
        return [path("<int:pk>/test/", view, name="sync_connection_test"), *super().get_urls()]

    def test_view(self, request, pk):
        connection = get_object_or_404(Connection, pk=pk)
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        verdict = verdict_for(connection)
        self.message_user(request, verdict.message, messages.SUCCESS if verdict.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:sync_connection_change", args=[connection.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_test": self.has_change_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("address"))
    def address(self, obj):
        return obj.base_url or obj.wsdl_url or (_("uploaded WSDL") if obj.wsdl_document else "")

    @admin.display(description=_("stored secrets"))
    def stored_secrets(self, obj):
        if obj is None:
            return "—"
        labels = [str(Connection._meta.get_field(name).verbose_name) for name in obj.secrets_set()]
        return ", ".join(labels) or _("none")


class SyncTableInline(admin.TabularInline):
    model = SyncTable
    extra = 0
    show_change_link = True
    fields = ["order", "name", "description", "direction", "active", "source_object", "target_object", "record_key"]
    ordering = ["order", "pk"]


@admin.register(Integration)
class IntegrationAdmin(HumanDurationsMixin, admin.ModelAdmin):
    form = IntegrationForm
    readonly_fields = ["stored_alert_webhook"]
    list_display = [
        "name",
        "integration_type",
        "erp_name",
        "crm_name",
        "deployment_status",
        "active",
        "schedule_kind",
        "table_count",
    ]
    list_filter = ["active", "deployment_status", "integration_type", "schedule_kind"]
    list_select_related = ["erp_connection", "crm_connection"]
    search_fields = ["name", "erp_name", "crm_name"]
    inlines = [SyncTableInline]
    actions = ["run_now"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "description",
                    "integration_type",
                    ("erp_name", "erp_version"),
                    "crm_name",
                    ("erp_connection", "crm_connection"),
                    "deployment_status",
                    "active",
                    "business_rule",
                ]
            },
        ),
        (
            _("Schedule"),
            {"fields": ["schedule_kind", "schedule_interval_minutes", "schedule_daily_time", "schedule_cron"]},
        ),
        (_("Alerts"), {"fields": ["max_time_without_success", "alert_emails", "alert_webhook_url"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(table_total=Count("tables"))

    @admin.display(description=_("tables"), ordering="table_total")
    def table_count(self, obj):
        return obj.table_total

    # Run now: a button on the integration's page and an action on the list.
    def has_run_permission(self, request, obj=None):
        return request.user.has_perm("sync.run_integration")

    def get_urls(self):
        run_view = self.admin_site.admin_view(require_POST(self.run_view))
        return [path("<int:pk>/run/", run_view, name="sync_integration_run"), *super().get_urls()]

    def run_view(self, request, pk):
        integration = get_object_or_404(Integration, pk=pk)
        if not self.has_run_permission(request, integration):
            raise PermissionDenied
        self._start(request, integration)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:sync_integration_change", args=[integration.pk])
        return HttpResponseRedirect(target)

    @admin.action(description=_("Run the selected integrations now"), permissions=["run"])
    def run_now(self, request, queryset):
        for integration in queryset:
            self._start(request, integration)

    def _start(self, request, integration):
        run = trigger(integration, Trigger.MANUAL, user=request.user)
        if run.status == RunStatus.SKIPPED:
            self.message_user(request, str(run.error), messages.WARNING)  # in the user's language
        else:
            self.message_user(request, _("%(name)s is queued to run now.") % {"name": integration.name})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_run": self.has_run_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    # Onboarding may change the deployment status and nothing else.
    def _may_change_everything(self, request):
        return request.user.has_perm("sync.change_integration")

    def _may_change_deployment(self, request):
        return request.user.has_perm("sync.change_deployment_status")

    def has_change_permission(self, request, obj=None):
        return self._may_change_everything(request) or self._may_change_deployment(request)

    def get_readonly_fields(self, request, obj=None):
        if self._may_change_everything(request):
            return super().get_readonly_fields(request, obj)
        # Table inlines follow the table permissions, which onboarding does not have.
        return [name for name in flatten_fieldsets(self.get_fieldsets(request, obj)) if name != "deployment_status"]

    # The alert webhook URL is a credential: IT may replace or remove it, nobody sees it again.
    def get_fieldsets(self, request, obj=None):
        if self._may_change_everything(request):
            shown = ["alert_webhook_url", "clear_alert_webhook_url"] if obj and obj.alert_webhook_url else None
        else:
            shown = ["stored_alert_webhook"]
        if shown is None:
            return self.fieldsets
        return [
            (title, {**options, "fields": [part for name in options["fields"] for part in _webhook_as(name, shown)]})
            for title, options in self.fieldsets
        ]

    @admin.display(description=_("alert webhook URL"))
    def stored_alert_webhook(self, obj):
        return _("set") if obj is not None and obj.alert_webhook_url else _("not set")


def _webhook_as(name, shown):
    return shown if name == "alert_webhook_url" else [name]


class FieldMappingFormSet(BaseInlineFormSet):
    """A table's record key must be one of its mapped source paths."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        sources = [
            form.cleaned_data.get("source_path")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        messages = self.instance.record_key_errors(sources)
        if messages:
            raise ValidationError(messages)


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    formset = FieldMappingFormSet
    formfield_overrides = JSON_INPUT
    extra = 1
    fields = [
        "position",
        "source_path",
        "target_field",
        "transform",
        "transform_options",
        "value_type",
        "send_on",
        "default_value",
        "required",
        "owner",
    ]
    ordering = ["position", "pk"]


@admin.register(SyncTable)
class SyncTableAdmin(HumanDurationsMixin, admin.ModelAdmin):
    form = SyncTableForm
    formfield_overrides = JSON_INPUT
    actions = ["reprocess_every_staged_record", "reprocess_the_failed_records", "read_again_from_the_beginning"]
    list_display = ["name", "integration", "direction", "order", "active", "record_key", "delete_policy"]
    list_filter = ["integration", "direction", "active"]
    list_select_related = ["integration"]
    search_fields = ["name", "description", "integration__name"]
    inlines = [FieldMappingInline]
    readonly_fields = ["cursor_value"]
    fieldsets = [
        (None, {"fields": ["integration", "name", "description", "direction", "order", "active"]}),
        (
            _("Source and target"),
            {
                "fields": [
                    "source_object",
                    "read_arguments",
                    "target_object",
                    "update_object",
                    "read_per_link_of",
                    "write_mode",
                    "match_existing",
                    "match_field",
                    "update_changed_fields_only",
                    "record_key",
                    "target_key",
                    "cursor_field",
                    "incremental_filter",
                    "cursor_value",
                ]
            },
        ),
        (_("Confirmed in the target"), {"fields": ["target_count_query"]}),
        (
            _("Rules"),
            {
                "fields": [
                    "filter_rules",
                    "max_wait_for_parent",
                    "delete_policy",
                    "delete_threshold",
                    "max_time_without_success",
                ]
            },
        ),
    ]

    @admin.action(
        description=_("Re-process every staged record now (after a mapping fix, without extracting again)"),
        permissions=["change"],
    )
    def reprocess_every_staged_record(self, request, queryset):
        self._reprocess(request, queryset, Reprocess.ALL)

    @admin.action(description=_("Re-process the failed records now"), permissions=["change"])
    def reprocess_the_failed_records(self, request, queryset):
        self._reprocess(request, queryset, Reprocess.FAILED)

    def _reprocess(self, request, queryset, scope: Reprocess) -> None:
        tables = list(queryset.select_related("integration"))
        SyncTable.objects.filter(pk__in=[table.pk for table in tables]).update(reprocess=scope)
        for integration in {table.integration for table in tables}:
            run = trigger(integration, Trigger.MANUAL, user=request.user)
            if run.status == RunStatus.SKIPPED:
                self.message_user(
                    request,
                    _("%(name)s is running: its next run re-processes them.") % {"name": integration.name},
                    messages.WARNING,
                )
            else:
                self.message_user(request, _("%(name)s is queued to run now.") % {"name": integration.name})

    @admin.action(description=_("Read again from the beginning…"), permissions=["change"])
    def read_again_from_the_beginning(self, request, queryset):
        tables = list(queryset.select_related("integration"))
        if request.POST.get("post") != "yes":  # the confirmation page answers post=yes, as Django's own do
            context = {**self.admin_site.each_context(request), "tables": tables, "title": _("Read again")}
            return TemplateResponse(request, "admin/sync/synctable/read_again.html", context)
        SyncTable.objects.filter(pk__in=[table.pk for table in tables]).update(
            cursor_value="", resume_token="", resume_cursor=""
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d table reads its source again from the beginning at its next run.",
                "%(count)d tables read their sources again from the beginning at their next run.",
                len(tables),
            )
            % {"count": len(tables)},
        )
        return None


@admin.register(RecordLink)
class RecordLinkAdmin(ReadOnlyAdmin):
    list_display = ["source_key", "target_key", "table", "synced_at"]
    list_filter = ["table__integration", "table__name"]
    list_select_related = ["table__integration"]
    search_fields = ["source_key", "target_key"]
    show_full_result_count = False


@admin.register(StagedRecord)
class StagedRecordAdmin(ReadOnlyAdmin):
    list_display = ["source_key", "table", "payload_bytes", "received_at"]
    list_filter = ["table__integration", "table__name"]
    list_select_related = ["table__integration"]
    search_fields = ["source_key"]
    show_full_result_count = False
