"""The admin of tables and their field mappings: re-process, read again from the beginning."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from monitoring.choices import RunStatus, Trigger

from ..choices import Reprocess
from ..forms import SyncTableForm
from ..models import FieldMapping, SyncTable
from ..tasks import trigger
from .common import JSON_INPUT, HumanDurationsMixin


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
                    "batch_kind",
                    "batch_size",
                    "batch_path",
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
