"""The admin of tables and their field mappings: re-process, read again, sample the source, preview the mapping."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from monitoring.choices import RunStatus, Trigger

from ..choices import Reprocess
from ..connectors.base import ConnectorError
from ..forms import FieldMappingForm, SyncTableForm
from ..models import FieldMapping, SyncTable
from ..previews import preview_sample
from ..samples import SAMPLE_SIZE, read_sample, source_connection
from ..steps.plan import TablePlan
from ..tasks import trigger
from .common import JSON_INPUT, HumanDurationsMixin

# The paths of each table's last sample, kept in the user's session for the mapping editor to offer:
# field names only, never their values (the records themselves are read again for each preview).
SAMPLED_PATHS = "sampled_source_paths"
SAMPLED_PATHS_LIST = "sampled-source-paths"  # the id of the <datalist> the source path inputs use
KEPT_SAMPLES = 20  # tables whose paths a session keeps


def remember_paths(request, table: SyncTable, paths: list[str]) -> None:
    kept = {pk: names for pk, names in request.session.get(SAMPLED_PATHS, {}).items() if pk != str(table.pk)}
    request.session[SAMPLED_PATHS] = {**dict(list(kept.items())[-(KEPT_SAMPLES - 1) :]), str(table.pk): paths}


def remembered_paths(request, table_pk) -> list[str]:
    return request.session.get(SAMPLED_PATHS, {}).get(str(table_pk), [])


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
    form = FieldMappingForm
    formset = FieldMappingFormSet
    formfield_overrides = JSON_INPUT
    extra = 1
    fields = FieldMappingForm.Meta.fields
    ordering = ["position", "pk"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "source_path" and formfield is not None:
            formfield.widget.attrs["list"] = SAMPLED_PATHS_LIST  # the paths of the table's last sample
        return formfield


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
                    "records_path",
                    "target_object",
                    "update_object",
                    "write_body",
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
                    "cursor_clock_format",
                    "cursor_clock_zone",
                    "cursor_clock_overlap",
                    "cursor_value",
                ]
            },
        ),
        (_("Confirmed in the target"), {"fields": ["target_count_query"]}),
        (
            _("Webhooks"),
            {
                "fields": [
                    "webhook_event_types",
                    "webhook_delete_types",
                    "webhook_records_path",
                    "webhook_fetch_object",
                    "webhook_key_path",
                ],
                "description": _(
                    "Events the source connection's webhook receiver gets are processed at once through this table; "
                    "its schedule keeps running and fills in what no webhook delivered."
                ),
            },
        ),
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

    # Sample the source, preview the mapping: IT only, reads only (see sync.samples and sync.previews).
    def get_urls(self):
        sample = self.admin_site.admin_view(require_POST(self.sample_view))
        preview = self.admin_site.admin_view(require_POST(self.preview_view))
        return [
            path("<int:pk>/sample/", sample, name="sync_synctable_sample"),
            path("<int:pk>/preview/", preview, name="sync_synctable_preview"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        can_sample = self.has_change_permission(request)
        extra_context = {
            **(extra_context or {}),
            "can_sample": can_sample,
            "sampled_paths": remembered_paths(request, object_id) if can_sample else [],
            "sampled_paths_list": SAMPLED_PATHS_LIST,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def sample_view(self, request, pk):
        return self._sampled(request, pk, previewing=False)

    def preview_view(self, request, pk):
        return self._sampled(request, pk, previewing=True)

    def _sampled(self, request, pk, *, previewing: bool):
        """The sample page: the source's first records as paths, and with ``previewing`` what the mapping makes."""
        tables = SyncTable.objects.select_related(
            "integration__erp_connection", "integration__crm_connection", "read_per_link_of"
        )
        table = get_object_or_404(tables, pk=pk)
        if not self.has_change_permission(request, table):
            raise PermissionDenied
        title = _("Preview of the mapping of %(table)s") if previewing else _("Sample of %(table)s")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": table,
            "table": table,
            "source": source_connection(table),
            "previewing": previewing,
            "sample_size": SAMPLE_SIZE,
            "title": title % {"table": table.name},
        }
        try:
            sample = read_sample(table)
        except ConnectorError as error:
            context["error"] = error.message
        else:
            fields = sample.fields()
            remember_paths(request, table, [field.path for field in fields])
            context.update(fields=fields, count=len(sample.records))
            if previewing:
                context["previews"] = preview_sample(TablePlan.load(table), sample)
        return TemplateResponse(request, "admin/sync/synctable/sample.html", context)

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
