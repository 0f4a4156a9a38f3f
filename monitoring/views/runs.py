"""The run page: what one run did, table by table, record by record and call by call.

Queries are bounded whatever the size of the run: the run, its table runs, and one page
each of record events, request logs and review-queue entries (count + rows), all with
``select_related``. Bodies are shown as stored (redacted and truncated by the connectors),
only pretty-printed: JSON indented, XML re-indented by lxml with a parser that resolves no
entity and reaches no network; anything that does not parse is shown as it is (the marker of a
cut body in the reader's language). Messages that workers stored (a run's error, record events,
review-queue reasons) are rendered in the reader's language by the template.
"""

import json
import re

from django.contrib import admin
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from lxml import etree

from core.durations import elapsed_duration
from core.redaction import cut_in_active_language
from monitoring.choices import ACTIVE_RUN_STATUSES, OUTCOME_ACTIONS, RUN_STATUS_COLOURS, RecordAction
from monitoring.models import SyncRun, TableRun

from .access import VIEW_RUNS, require
from .integration import paginate

EVENTS_PAGE_SIZE = 50
REQUESTS_PAGE_SIZE = 20
ERRORS_PAGE_SIZE = 25
CONFLICTS_PAGE_SIZE = 25
# The counters of a table run (each action names one); ``read`` is their sum.
OUTCOMES = OUTCOME_ACTIONS

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def run_detail(request, pk):
    require(request, VIEW_RUNS)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    now = timezone.now()
    run = get_object_or_404(SyncRun.objects.select_related("integration", "triggered_by"), pk=pk)
    table_runs = list(run.table_runs.select_related("table"))
    tables = [table_run.table for table_run in table_runs]

    chosen_table = next((table for table in tables if str(table.pk) == request.GET.get("table", "")), None)
    chosen_action = request.GET.get("action", "")
    if chosen_action not in RecordAction.values:
        chosen_action = ""
    events = run.events.select_related("table")
    if chosen_table is not None:
        events = events.filter(table=chosen_table)
    if chosen_action:
        events = events.filter(action=chosen_action)

    requests = paginate(
        request,
        run.requests.select_related("connection", "table").order_by("started_at", "pk"),
        REQUESTS_PAGE_SIZE,
        param="requests_page",
    )
    for log in requests.object_list:
        log.request_pretty = cut_in_active_language(pretty_body(log.request_body))
        log.response_pretty = cut_in_active_language(pretty_body(log.response_body))
        headers = log.request_headers
        log.headers_pretty = json.dumps(headers, indent=2, ensure_ascii=False) if headers else ""
        log.duration_ms = None if log.duration is None else round(log.duration.total_seconds() * 1000)

    conflicts = paginate(
        request,
        run.conflicts.select_related("table").order_by("detected_at", "pk"),
        CONFLICTS_PAGE_SIZE,
        "conflicts_page",
    )
    for conflict in conflicts.object_list if conflicts.paginator.count else ():
        conflict.written_json, conflict.lost_json, conflict.new_json = (
            json.dumps(value, ensure_ascii=False)
            for value in (conflict.written_value, conflict.lost_value, conflict.new_value)
        )

    context = {
        **admin.site.each_context(request),  # the admin's header: language, password, log out
        "conflicts": conflicts,
        "run": run,
        "integration": run.integration,
        "is_active": run.status in ACTIVE_RUN_STATUSES,
        "run_duration": elapsed_duration(run.duration, to_the_second=True),
        "outcome_labels": [TableRun._meta.get_field(name).verbose_name for name in OUTCOMES],
        "table_rows": count_rows(table_runs),
        "totals": totals(table_runs),
        "timeline": timeline(run, table_runs, now),
        "tables": tables,
        "chosen_table": chosen_table,
        "chosen_action": chosen_action,
        "actions": RecordAction.choices,
        "events": paginate(request, events.order_by("occurred_at", "pk"), EVENTS_PAGE_SIZE, param="events_page"),
        "requests": requests,
        "errors": paginate(
            request,
            run.record_errors.select_related("table").order_by("-last_failed_at", "-pk"),
            ERRORS_PAGE_SIZE,
            param="errors_page",
        ),
    }
    return render(request, "monitoring/run.html", context)


# ---------------------------------------------------------------- counts and timeline


def count_rows(table_runs) -> list[dict]:
    """Each table run's counts, and whether ``read`` equals the sum of the outcomes."""
    rows = []
    for table_run in table_runs:
        outcomes = [getattr(table_run, name) for name in OUTCOMES]
        rows.append(
            {
                "table_run": table_run,
                "outcomes": outcomes,
                "balanced": table_run.read == sum(outcomes),
                "duration": elapsed_duration(table_run.duration, to_the_second=True),
                "outcome_sum": sum(outcomes),
            }
        )
    return rows


def totals(table_runs) -> dict:
    read = sum(table_run.read for table_run in table_runs)
    outcomes = [sum(getattr(table_run, name) for table_run in table_runs) for name in OUTCOMES]
    return {"read": read, "outcomes": outcomes, "balanced": read == sum(outcomes)}


def timeline(run, table_runs, now) -> dict | None:
    """Each table's start → finish as a share of the run's span, as CSS percentages (``"12.50"``)."""
    starts = [moment for moment in (run.started_at, *(t.started_at for t in table_runs)) if moment is not None]
    if not starts or not table_runs:
        return None
    start = min(starts)
    ends = [run.finished_at or now, *((t.finished_at or now) for t in table_runs)]
    end = max(ends)
    span = max((end - start).total_seconds(), 0.001)
    bars = []
    for table_run in table_runs:
        left = min(max((table_run.started_at - start).total_seconds() / span * 100, 0), 100)
        finished = table_run.finished_at or now
        width = min(max((finished - table_run.started_at).total_seconds() / span * 100, 0), 100 - left)
        bars.append(
            {
                "table_run": table_run,
                "left": f"{left:.2f}",
                "width": f"{width:.2f}",
                "colour": RUN_STATUS_COLOURS.get(table_run.status, "grey"),
                "running": table_run.finished_at is None,
                "duration": elapsed_duration(table_run.duration, to_the_second=True),
            }
        )
    return {"start": start, "end": end, "bars": bars}


# ---------------------------------------------------------------- bodies


def _xml_parser():
    # No entity is resolved (no XXE, no billion laughs), no DTD loaded, no network reached.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
    )


def pretty_body(text: str) -> str:
    """``text`` indented when it is JSON or XML; otherwise (or when truncated, broken…) as it is."""
    stripped = (text or "").strip()
    if not stripped:
        return ""
    if stripped[0] in "{[":
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    if stripped[0] == "<":
        try:
            root = etree.fromstring(_XML_DECLARATION.sub("", stripped, count=1), _xml_parser())
        except (etree.XMLSyntaxError, ValueError):
            return text
        return etree.tostring(root, pretty_print=True, encoding="unicode").rstrip()
    return text
