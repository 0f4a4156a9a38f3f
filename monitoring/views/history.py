"""Integration → History: choose days and tables, download one workbook; big ones are built in the background.

- GET the tab: ``sync.view_integration``. Download (POST) and the export pages: ``sync.export_history``.
- An export job is seen and downloaded only by the user who asked (or a superuser): anyone
  else gets 404, as if it did not exist.
"""

import tempfile
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from core.local_time import portal_zone
from monitoring.exports import TooManyExports, export_path, job_filename, keep_for, request_export
from monitoring.history_selection import HISTORY_DAYS, HistorySelection, count_history_rows, inline_max_rows
from monitoring.models import ExportJob, ExportStatus
from monitoring.status import integration_health, zone_in_words
from monitoring.workbook import XLSX_CONTENT_TYPE, write_history
from sync.models import Integration

VIEW_PERMISSION = "sync.view_integration"
EXPORT_PERMISSION = "sync.export_history"
RECENT_EXPORTS = 5
SPOOL_MAX_BYTES = 8 * 1024 * 1024  # a workbook written during a request spills to disk past this


def _day(value: date) -> str:
    return date_format(value, "SHORT_DATE_FORMAT")


class TableChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, table):
        return f"{table.name} — {table.description}" if table.description else table.name


class HistoryForm(forms.Form):
    """From/to days (the last 7 at most, in the portal's time zone) and at least one table."""

    start = forms.DateField(
        label=_("From"),
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=_("To"),
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    tables = TableChoiceField(
        label=_("Tables"),
        queryset=None,
        error_messages={"required": _("Choose at least one table.")},
    )

    def __init__(self, integration: Integration, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.integration, self.today = integration, today
        self.earliest = today - timedelta(days=HISTORY_DAYS)
        tables = integration.tables.filter(active=True).order_by("order", "name", "pk")
        self.fields["tables"].queryset = tables
        self.fields["start"].initial = self.earliest
        self.fields["end"].initial = today
        self.fields["start"].widget.attrs.update(min=self.earliest.isoformat(), max=today.isoformat())
        self.fields["end"].widget.attrs.update(min=self.earliest.isoformat(), max=today.isoformat())
        if not self.is_bound:
            self.initial.setdefault("tables", [table.pk for table in tables])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if end is not None and end > self.today:
            self.add_error(
                "end",
                gettext("The end date cannot be in the future: choose %(today)s or earlier.")
                % {"today": _day(self.today)},
            )
        if start is not None and start < self.earliest:
            self.add_error(
                "start",
                gettext("The history keeps the last %(days)s days: choose a start on or after %(date)s.")
                % {"days": HISTORY_DAYS, "date": _day(self.earliest)},
            )
        if start is not None and end is not None and start > end:
            self.add_error(
                None,
                gettext(
                    "The start date (%(start)s) is after the end date (%(end)s): choose a start on or before the end."
                )
                % {"start": _day(start), "end": _day(end)},
            )
        return cleaned

    def selection(self) -> HistorySelection:
        data = self.cleaned_data
        return HistorySelection(self.integration, tuple(data["tables"]), data["start"], data["end"])


def _require(user, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied


def _today(now) -> date:
    return now.astimezone(portal_zone()).date()


def download_now(selection: HistorySelection, now) -> FileResponse:
    """Write the workbook into a temporary file (XlsxWriter needs to seek) and send it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115 (the response closes it)
    try:
        write_history(selection, spool, now=now)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return FileResponse(spool, as_attachment=True, filename=selection.filename, content_type=XLSX_CONTENT_TYPE)


@require_http_methods(["GET", "POST"])
def history(request, pk):
    integration = get_object_or_404(Integration, pk=pk)
    _require(request.user, VIEW_PERMISSION)
    can_export = request.user.has_perm(EXPORT_PERMISSION)
    now = timezone.now()
    today = _today(now)

    if request.method == "POST":
        if not can_export:
            raise PermissionDenied
        form = HistoryForm(integration, request.POST, today=today)
        if form.is_valid():
            selection = form.selection()
            rows = count_history_rows(selection)
            if rows <= inline_max_rows():
                return download_now(selection, now)
            try:
                job, new = request_export(selection, request.user, rows=rows, now=now)
            except TooManyExports as refusal:
                messages.error(request, refusal.message)
            else:
                if not new:
                    messages.info(request, gettext("The same export is already queued or being written: here it is."))
                return redirect("admin:export", job.pk)
    else:
        form = HistoryForm(integration, today=today)

    recent = []
    if can_export:
        recent = list(
            ExportJob.objects.filter(integration=integration, requested_by=request.user).order_by("-created_at")[
                :RECENT_EXPORTS
            ]
        )
    context = {
        **admin.site.each_context(request),
        "title": gettext("History"),
        "subtitle": integration.name,
        "integration": integration,
        "health": integration_health(integration, now),
        "tab": "history",
        "form": form,
        "can_export": can_export,
        "history_days": HISTORY_DAYS,
        "inline_max_rows": inline_max_rows(),
        "recent_exports": recent,
        "time_zone": zone_in_words(portal_zone()),
    }
    return TemplateResponse(request, "monitoring/history.html", context)


def _visible_job(request, pk) -> ExportJob:
    _require(request.user, EXPORT_PERMISSION)
    job = get_object_or_404(ExportJob.objects.select_related("integration"), pk=pk)
    if not job.visible_to(request.user):
        raise Http404
    return job


@require_GET
def export_status(request, pk):
    job = _visible_job(request, pk)
    tables = list(job.integration.tables.filter(pk__in=job.table_ids).order_by("order", "name", "pk"))
    now = timezone.now()
    context = {
        **admin.site.each_context(request),
        "title": gettext("History export"),
        "subtitle": job.integration.name,
        "integration": job.integration,
        "tab": "history",
        "job": job,
        "tables": tables,
        "filename": job_filename(job),
        "expires_at": job.finished_at + keep_for() if job.status == ExportStatus.DONE else None,
        "refresh_seconds": 3 if job.is_active else None,
        "waits_its_turn": job.status == ExportStatus.QUEUED
        and ExportJob.objects.filter(status=ExportStatus.RUNNING).exists(),
        "now": now,
    }
    return TemplateResponse(request, "monitoring/export_status.html", context)


@require_GET
def export_download(request, pk):
    job = _visible_job(request, pk)
    path = export_path(job)
    if job.status == ExportStatus.DONE and (path is None or not path.is_file()):
        # The file is gone (removed by hand, or a lost disk): say so rather than offer it again.
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).update(status=ExportStatus.EXPIRED, file_name="")
        return redirect("admin:export", job.pk)
    if job.status != ExportStatus.DONE:
        return redirect("admin:export", job.pk)  # the status page says why (still running, failed, expired)
    return FileResponse(path.open("rb"), as_attachment=True, filename=job_filename(job), content_type=XLSX_CONTENT_TYPE)
