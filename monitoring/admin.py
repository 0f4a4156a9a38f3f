"""Read-only admins of the run history, the review queue, the alerts and the webhook inbox."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.admin import ReadOnlyAdmin
from core.durations import elapsed_duration
from core.redaction import cut_in_active_language
from sync.engine import AlreadyRunning, retry_errors

from . import task_admin
from .alerts import acknowledge
from .choices import ErrorStatus, RunStatus
from .models import (
    Alert,
    AlertEvent,
    HeldDelete,
    ProcessedFile,
    RecordError,
    RecordEvent,
    RequestLog,
    SyncRun,
    TableRun,
    WebhookEvent,
)
from .webhook_admin import WebhookEventAdmin


class TableRunInline(admin.TabularInline):
    model = TableRun
    extra = 0
    can_delete = False
    fields = [
        "table",
        "status",
        "read",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "deleted",
        "held",
        "failed",
        "duration",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run__integration", "table__integration")

    @admin.display(description=_("duration"))
    def duration(self, obj):
        return elapsed_duration(obj.duration)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "integration", "status", "trigger", "queued_at", "started_at", "finished_at", "duration"]
    list_filter = ["status", "trigger", "integration"]
    list_select_related = ["integration"]
    date_hierarchy = "queued_at"
    inlines = [TableRunInline]
    show_full_result_count = False

    @admin.display(description=_("duration"))
    def duration(self, obj):
        return elapsed_duration(obj.duration)


@admin.register(RecordEvent)
class RecordEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "table", "record_key", "target_key", "action", "http_status", "message"]
    list_filter = ["action", "table__integration", "table__name"]
    list_select_related = ["table__integration"]
    search_fields = ["record_key", "target_key"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(ProcessedFile)
class ProcessedFileAdmin(ReadOnlyAdmin):
    """The files file connections picked up: each once, by checksum; what became of it, and why it failed."""

    list_display = ["claimed_at", "connection", "name", "status", "rows", "moved_to", "reason", "last_run"]
    list_filter = ["status", "connection"]
    list_select_related = ["connection", "last_run__integration"]
    search_fields = ["name", "checksum"]
    date_hierarchy = "claimed_at"
    show_full_result_count = False


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "method", "operation", "url", "status_code", "attempt", "duration", "connection"]
    list_filter = ["method", "status_code", "connection"]
    list_select_related = ["connection"]
    search_fields = ["url", "operation"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    # The bodies are shown with the marker of a cut body in the reader's language.
    exclude = ["request_body", "response_body"]
    readonly_fields = ["shown_request_body", "shown_response_body"]

    @admin.display(description=_("duration"))
    def duration(self, obj):
        return elapsed_duration(obj.duration)

    @admin.display(description=_("request body"))
    def shown_request_body(self, obj):
        return cut_in_active_language(obj.request_body)

    @admin.display(description=_("response body"))
    def shown_response_body(self, obj):
        return cut_in_active_language(obj.response_body)


@admin.register(RecordError)
class RecordErrorAdmin(ReadOnlyAdmin):
    """The review queue: nothing disappears silently."""

    list_display = ["record_key", "table", "status", "reason", "attempts", "first_failed_at", "last_failed_at"]
    list_filter = ["status", "table__integration", "table__name"]
    list_select_related = ["table__integration"]
    search_fields = ["record_key", "reason"]
    show_full_result_count = False
    actions = ["retry", "ignore"]
    # Each field's error in the reader's language (the column keeps them as stored messages' JSON).
    exclude = ["field_errors"]
    readonly_fields = ["shown_field_errors"]

    @admin.display(description=_("field errors"))
    def shown_field_errors(self, obj):
        items = obj.field_error_list()
        if not items:
            return "—"
        lines = format_html_join(
            "",
            "<li>{}</li>",
            ((format_html("<code>{}</code>: {}", name, error) if name else error,) for name, error in items),
        )
        return format_html("<ul>{}</ul>", lines)

    def has_retry_permission(self, request):
        return request.user.has_perm("monitoring.retry_record")

    @admin.action(description=_("Retry the selected records"), permissions=["retry"])
    def retry(self, request, queryset):
        errors = list(queryset.filter(status=ErrorStatus.OPEN).select_related("table__integration"))
        by_integration = {}
        for error in errors:
            by_integration.setdefault(error.table.integration, []).append(error)
        for integration, group in by_integration.items():
            try:
                run = retry_errors(group, user=request.user)
            except AlreadyRunning as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            still_open = RecordError.objects.filter(pk__in=[e.pk for e in group], status=ErrorStatus.OPEN).count()
            level = messages.SUCCESS if run.status == RunStatus.SUCCEEDED else messages.WARNING
            self.message_user(
                request,
                _(
                    "%(integration)s: %(fixed)d of %(total)d records went through; "
                    "%(open)d still in the queue. %(error)s"
                )
                % {
                    "integration": integration,
                    "fixed": len(group) - still_open,
                    "total": len(group),
                    "open": still_open,
                    "error": run.error,
                },
                level,
            )

    @admin.action(description=_("Ignore the selected records"), permissions=["retry"])
    def ignore(self, request, queryset):
        count = queryset.filter(status=ErrorStatus.OPEN).change(
            status=ErrorStatus.IGNORED, closed_at=timezone.now(), closed_by=request.user
        )
        self.message_user(
            request, ngettext("%(count)d record ignored.", "%(count)d records ignored.", count) % {"count": count}
        )


@admin.register(HeldDelete)
class HeldDeleteAdmin(ReadOnlyAdmin):
    list_display = ["source_key", "target_key", "table", "status", "held_at", "decided_at", "decided_by"]
    list_filter = ["status", "table__integration", "table__name"]
    list_select_related = ["table__integration", "decided_by"]
    search_fields = ["source_key", "target_key"]


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    can_delete = False
    fields = ["state", "at", "by", "note", "notification", "attempts", "notified_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["integration", "table", "kind", "status", "message", "opened_at", "acknowledged_at", "resolved_at"]
    list_filter = ["status", "kind", "integration"]
    list_select_related = ["integration", "table"]
    inlines = [AlertEventInline]

    def has_acknowledge_permission(self, request, obj=None):
        return request.user.has_perm("monitoring.change_alert")

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.acknowledge_view))
        return [path("<int:pk>/acknowledge/", view, name="monitoring_alert_acknowledge"), *super().get_urls()]

    def acknowledge_view(self, request, pk):
        alert = get_object_or_404(Alert, pk=pk)
        if not self.has_acknowledge_permission(request, alert):
            raise PermissionDenied
        note = request.POST.get("note", "").strip()[:2000]
        if acknowledge(alert, request.user, note):
            self.message_user(request, _("Alert acknowledged."))
        else:
            self.message_user(request, _("This alert is no longer open."), messages.WARNING)
        return HttpResponseRedirect(reverse("admin:monitoring_alert_change", args=[alert.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_acknowledge": self.has_acknowledge_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)


admin.site.register(WebhookEvent, WebhookEventAdmin)  # the webhook inbox
task_admin.install()  # django-q2's task lists, where resubmitting a task needs a permission
