"""Integration → Excessive deletes: what runs held for approval, what was decided, and the export.

IT approves (the delete is applied in the target, :mod:`sync.held_deletes`) or rejects;
everyone who may see the screen may export the list (it is a view of the data).
"""

import io

import xlsxwriter
from django.contrib import messages
from django.db.models import Count, OuterRef
from django.http import FileResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.local_time import portal_zone, wall_time
from monitoring.choices import HeldDeleteStatus
from monitoring.models import HeldDelete
from monitoring.workbook import neutralise
from sync import held_deletes

from .access import DECIDE_HELD_DELETES, VIEW_HELD_DELETES, VIEW_INTEGRATION, require, selected_ids, unknown_action
from .integration import integration_with_health, paginate, scalar, tab_context

PENDING_PAGE_SIZE = 100
DECIDED_PAGE_SIZE = 25
FAILURES_LISTED = 10


def excessive_deletes(request, pk):
    require(request, VIEW_INTEGRATION, VIEW_HELD_DELETES)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    now = timezone.now()
    integration = integration_with_health(pk, now)
    if request.method == "POST":
        return _decide(request, integration)

    tables = list(
        integration.tables.annotate(
            pending=scalar(
                HeldDelete.objects.filter(table=OuterRef("pk"), status=HeldDeleteStatus.PENDING), Count("pk")
            ),
            decided=scalar(
                HeldDelete.objects.filter(table=OuterRef("pk")).exclude(status=HeldDeleteStatus.PENDING), Count("pk")
            ),
        )
    )
    chosen_table = _chosen_table(request, tables)
    held = HeldDelete.objects.filter(table__integration=integration)
    if chosen_table is not None:
        held = held.filter(table=chosen_table)
    if request.GET.get("export") == "xlsx":
        return export_xlsx(integration, chosen_table, held)

    pending = (
        held.filter(status=HeldDeleteStatus.PENDING)
        .select_related("table")
        .order_by("table__order", "table__name", "table_id", "-held_at", "-pk")
    )
    decided = (
        held.exclude(status=HeldDeleteStatus.PENDING)
        .select_related("table", "decided_by")
        .order_by("-decided_at", "-pk")
    )
    context = tab_context(request, integration, "deletes", now)
    context.update(
        {
            "tables": tables,
            "chosen_table": chosen_table,
            "pending": paginate(request, pending, PENDING_PAGE_SIZE),
            "decided": paginate(request, decided, DECIDED_PAGE_SIZE, param="decided_page"),
            "pending_total": sum(table.pending for table in tables),
        }
    )
    return render(request, "monitoring/deletes.html", context)


def _chosen_table(request, tables):
    wanted = request.GET.get("table", "")
    return next((table for table in tables if str(table.pk) == wanted), None)


def _decide(request, integration):
    action = request.POST.get("action")
    if action not in ("approve", "reject"):
        return unknown_action()
    require(request, DECIDE_HELD_DELETES)
    back = HttpResponseRedirect(request.get_full_path())
    chosen = list(HeldDelete.objects.filter(table__integration=integration, pk__in=selected_ids(request)))
    if not chosen:
        messages.warning(request, _("Select at least one delete."))
        return back
    if action == "approve":
        decisions = held_deletes.approve(chosen, request.user)
    else:
        decisions = held_deletes.reject(chosen, request.user)
    _report(request, decisions)
    return back


def _report(request, decisions: held_deletes.Decisions) -> None:
    if decisions.approved:
        count = len(decisions.approved)
        messages.success(
            request,
            ngettext(
                "%(count)d record was deleted in the target.", "%(count)d records were deleted in the target.", count
            )
            % {"count": count},
        )
    if decisions.rejected:
        count = len(decisions.rejected)
        messages.success(
            request,
            ngettext(
                "%(count)d delete rejected: the record stays in the target.",
                "%(count)d deletes rejected: the records stay in the target.",
                count,
            )
            % {"count": count},
        )
    if decisions.failed:
        count = len(decisions.failed)
        messages.error(
            request,
            ngettext(
                "%(count)d delete could not be applied and is still waiting:",
                "%(count)d deletes could not be applied and are still waiting:",
                count,
            )
            % {"count": count},
        )
        for held, reason in decisions.failed[:FAILURES_LISTED]:
            messages.error(
                request,
                _("%(table)s %(key)s (target %(target)s): %(reason)s")
                % {"table": held.table.name, "key": held.source_key, "target": held.target_key, "reason": reason},
            )
        if count > FAILURES_LISTED:
            messages.error(request, _("…and %(count)d more.") % {"count": count - FAILURES_LISTED})
    if decisions.already_decided:
        messages.warning(
            request,
            ngettext(
                "%(count)d delete had already been decided.",
                "%(count)d deletes had already been decided.",
                decisions.already_decided,
            )
            % {"count": decisions.already_decided},
        )


# ---------------------------------------------------------------- export


def export_xlsx(integration, table, held):
    """The held deletes (pending and decided) as one worksheet, built in memory."""
    tz = portal_zone()
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True})
    sheet = workbook.add_worksheet(_("Held deletes")[:31])
    bold = workbook.add_format({"bold": True})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    headers = [
        _("Table"),
        _("Source key"),
        _("Target key"),
        _("Status"),
        _("Held at"),
        _("Run"),
        _("Decided by"),
        _("Decided at"),
    ]
    widths = [18, 22, 22, 24, 20, 10, 16, 20]
    for column, (header, width) in enumerate(zip(headers, widths, strict=True)):
        sheet.write_string(0, column, header, bold)
        sheet.set_column(column, column, width)
    rows = held.select_related("table", "decided_by").order_by("table__order", "table__name", "-held_at", "-pk")
    row = 0
    for row, item in enumerate(rows.iterator(chunk_size=2000), start=1):
        # Text is written as text (a key such as "=1+1" never becomes a formula) and neutralised, as in the
        # history workbook, for when the sheet is edited or saved as CSV.
        sheet.write_string(row, 0, neutralise(item.table.name))
        sheet.write_string(row, 1, neutralise(item.source_key))
        sheet.write_string(row, 2, neutralise(item.target_key))
        sheet.write_string(row, 3, str(item.get_status_display()))
        sheet.write_datetime(row, 4, wall_time(item.held_at, tz), when)
        if item.run_id:
            sheet.write_number(row, 5, item.run_id)
        if item.decided_by:
            sheet.write_string(row, 6, neutralise(item.decided_by.get_username()))
        if item.decided_at:
            sheet.write_datetime(row, 7, wall_time(item.decided_at, tz), when)
    sheet.autofilter(0, 0, max(row, 1), len(headers) - 1)
    sheet.freeze_panes(1, 0)
    workbook.close()
    output.seek(0)
    parts = ["held-deletes", slugify(integration.name) or str(integration.pk)]
    if table is not None:
        parts.append(slugify(table.name) or str(table.pk))
    parts.append(timezone.now().astimezone(tz).strftime("%Y-%m-%d"))
    return FileResponse(output, as_attachment=True, filename=f"{'-'.join(parts)}.xlsx")
