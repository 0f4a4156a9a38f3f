"""The admin of integrations: Run now, onboarding's deployment status, the alert webhook kept secret."""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from monitoring.choices import RunStatus, Trigger

from ..forms import IntegrationForm
from ..models import Integration, SyncTable
from ..shown_fields import SCHEDULE_FIELDS, not_applying
from ..tasks import trigger
from .common import HumanDurationsMixin
from .presets import preset_urls


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
        return [
            path("<int:pk>/run/", run_view, name="sync_integration_run"),
            *preset_urls(self.admin_site),
            *super().get_urls(),
        ]

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
    # A read-only page shows only the chosen schedule's input.
    def get_fieldsets(self, request, obj=None):
        unused = set()
        if self._may_change_everything(request):
            shown = ["alert_webhook_url", "clear_alert_webhook_url"] if obj and obj.alert_webhook_url else None
        else:
            shown = ["stored_alert_webhook"]
            unused = not_applying(obj.schedule_kind, SCHEDULE_FIELDS) if obj else set()
        if shown is None:
            return self.fieldsets
        return [
            (
                title,
                {
                    **options,
                    "fields": [
                        part for name in options["fields"] if name not in unused for part in _webhook_as(name, shown)
                    ],
                },
            )
            for title, options in self.fieldsets
        ]

    @admin.display(description=_("alert webhook URL"))
    def stored_alert_webhook(self, obj):
        return _("set") if obj is not None and obj.alert_webhook_url else _("not set")


def _webhook_as(name, shown):
    return shown if name == "alert_webhook_url" else [name]
