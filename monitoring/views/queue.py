"""Integration → Review queue: records that failed, with their payload, until retried or ignored.

Nothing disappears silently: an ignored record keeps its payload and says who ignored it.
Retrying sends the stored payloads through the pipeline again (``sync.engine.retry_errors``),
so a record whose cause was fixed (a mapping, the target's data) goes through.
"""

import json

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.durations import human_duration
from monitoring.choices import PENDING_ERROR_STATUSES, ErrorStatus, RunStatus
from monitoring.models import RecordError
from sync.engine import AlreadyRunning, retry_errors

from .access import RETRY_RECORDS, VIEW_INTEGRATION, VIEW_REVIEW_QUEUE, require, selected_ids, unknown_action
from .integration import integration_with_health, paginate, tab_context

PAGE_SIZE = 25


def review_queue(request, pk):
    require(request, VIEW_INTEGRATION, VIEW_REVIEW_QUEUE)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    now = timezone.now()
    integration = integration_with_health(pk, now)
    if request.method == "POST":
        return _act(request, integration)

    tables = list(integration.tables.all())
    chosen_table = next((table for table in tables if str(table.pk) == request.GET.get("table", "")), None)
    status = request.GET.get("status") or ErrorStatus.OPEN
    if status not in ErrorStatus.values:
        status = ErrorStatus.OPEN
    errors = RecordError.objects.filter(table__integration=integration)
    if chosen_table is not None:
        errors = errors.filter(table=chosen_table)
    counts = dict(errors.order_by().values_list("status").annotate(n=Count("pk")))
    shown = errors.filter(status=status).select_related("table", "closed_by").order_by("-last_failed_at", "-pk")
    page = paginate(request, shown, PAGE_SIZE)
    for error in page.object_list:
        error.payload_text = json.dumps(error.payload, indent=2, ensure_ascii=False, sort_keys=False, default=str)
        error.age_words = human_duration(error.age(now))
        error.field_error_items = error.field_error_list()

    context = tab_context(request, integration, "queue", now)
    context.update(
        {
            "tables": tables,
            "chosen_table": chosen_table,
            "status": status,
            "statuses": [(value, label, counts.get(value, 0)) for value, label in ErrorStatus.choices],
            "errors": page,
            "actionable": status in PENDING_ERROR_STATUSES and context["abilities"].retry,
        }
    )
    return render(request, "monitoring/queue.html", context)


def _act(request, integration):
    action = request.POST.get("action")
    if action not in ("retry", "ignore"):
        return unknown_action()
    require(request, RETRY_RECORDS)
    back = HttpResponseRedirect(request.get_full_path())
    chosen = list(
        RecordError.objects.filter(
            table__integration=integration, status__in=PENDING_ERROR_STATUSES, pk__in=selected_ids(request)
        ).select_related("table__integration__erp_connection", "table__integration__crm_connection")
    )
    if not chosen:
        messages.warning(request, _("Select at least one open record."))
        return back
    if action == "ignore":
        _ignore(request, chosen)
    else:
        _retry(request, chosen)
    return back


def _ignore(request, chosen) -> None:
    pending = RecordError.objects.filter(pk__in=[error.pk for error in chosen], status__in=PENDING_ERROR_STATUSES)
    count = pending.change(status=ErrorStatus.IGNORED, closed_at=timezone.now(), closed_by=request.user)
    messages.success(
        request,
        ngettext(
            "%(count)d record ignored; it stays listed under “Ignored”.",
            "%(count)d records ignored; they stay listed under “Ignored”.",
            count,
        )
        % {"count": count},
    )


def _retry(request, chosen) -> None:
    """Retry per integration, as the admin's action does (one integration here)."""
    by_integration = {}
    for error in chosen:
        by_integration.setdefault(error.table.integration, []).append(error)
    for integration, group in by_integration.items():
        try:
            run = retry_errors(group, user=request.user)
        except AlreadyRunning:
            messages.warning(
                request,
                _(
                    "%(name)s is running right now, so the records were not retried. "
                    "Try again when the run has finished."
                )
                % {"name": integration.name},
            )
            continue
        still_open = RecordError.objects.filter(pk__in=[e.pk for e in group], status__in=PENDING_ERROR_STATUSES).count()
        fixed = len(group) - still_open
        level = messages.SUCCESS if run.status == RunStatus.SUCCEEDED and not still_open else messages.WARNING
        text = _("%(fixed)d of %(total)d records went through; %(open)d still in the queue.") % {
            "fixed": fixed,
            "total": len(group),
            "open": still_open,
        }
        if run.error:
            text = f"{text} {run.error}"
        messages.add_message(
            request,
            level,
            format_html(
                '{} <a href="{}">{}</a>',
                text,
                reverse("admin:run", args=[run.pk]),
                _("See the retry run #%(number)d.") % {"number": run.pk},
            ),
        )
