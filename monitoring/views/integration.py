"""Integration → General information: facts, figures, tables, the run log, and the two settings edited here.

Every figure comes from stored facts: the health annotations of :mod:`monitoring.health`
(one query), the data size as database aggregates (one query), the tables with their
status and waiting work (one query), and one page of the run log with its counts.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count, Func, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.durations import HumanDurationField, human_duration, typed_duration
from core.local_time import portal_zone
from core.stored_messages import StoredMessageField
from monitoring.alerts import acknowledge
from monitoring.choices import UNRESOLVED_ALERT_STATUSES
from monitoring.cron_words import cron_in_words
from monitoring.health import (
    FIGURES_WINDOW,
    HealthFacts,
    annotate_health,
    annotate_table_health,
    is_overdue,
)
from monitoring.models import Alert, RecordEvent, RequestLog, TableRun
from monitoring.status import IntegrationHealth, assess, zone_in_words
from sync.choices import DeploymentStatus, ScheduleKind
from sync.models import Integration, RecordLink, StagedRecord
from sync.schedules import Timing

from .access import (
    ACKNOWLEDGE_ALERTS,
    CHANGE_DEPLOYMENT_STATUS,
    CHANGE_INTEGRATION,
    VIEW_INTEGRATION,
    Abilities,
    require,
    unknown_action,
)

RUN_LOG_PAGE_SIZE = 25
MAX_TIME_LIMIT = timedelta(days=365)


# ---------------------------------------------------------------- database helpers


class ByteLength(Func):
    """The size of a text in bytes (UTF-8), not in characters."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra_context)


def scalar(queryset, aggregate):
    """One value aggregated over ``queryset`` (a correlated subquery), 0 when there are no rows."""
    rows = queryset.order_by().annotate(_one=Value(1)).values("_one").annotate(value=aggregate).values("value")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


# ---------------------------------------------------------------- forms


class MaxTimeForm(forms.Form):
    max_time_without_success = HumanDurationField(label=gettext_lazy("Max time without success"))

    def clean_max_time_without_success(self):
        value = self.cleaned_data["max_time_without_success"]
        if value <= timedelta(0):
            raise forms.ValidationError(
                _("The max time without success must be positive, e.g. 24h."), code="not_positive"
            )
        if value > MAX_TIME_LIMIT:
            raise forms.ValidationError(_("The max time without success can be at most 365 days."), code="too_long")
        return value


class DeploymentStatusForm(forms.Form):
    deployment_status = forms.ChoiceField(label=gettext_lazy("Deployment status"), choices=DeploymentStatus.choices)


# ---------------------------------------------------------------- shared by the integration's tabs


def integration_with_health(pk, now):
    """The integration ``pk`` annotated with its health facts (one query), or 404."""
    queryset = Integration.objects.select_related("erp_connection", "crm_connection")
    return get_object_or_404(annotate_health(queryset, now), pk=pk)


def tab_context(request, integration, tab: str, now) -> dict:
    """What ``monitoring/integration_base.html`` needs, from an integration of :func:`integration_with_health`."""
    return {
        **admin.site.each_context(request),  # the admin's header on every tab: language, password, log out
        "integration": integration,
        "health": IntegrationHealth.from_row(integration, now, portal_zone()),
        "tab": tab,
        "abilities": Abilities.of(request.user),
        "now": now,
    }


def paginate(request, queryset, per_page: int, param: str = "page"):
    """One page of ``queryset`` (two queries: count and rows), with links that keep the other parameters."""
    page = Paginator(queryset, per_page).get_page(request.GET.get(param))
    query = request.GET.copy()

    def link(number):
        query[param] = number
        return f"?{query.urlencode()}"

    page.first_url = link(1) if page.number > 1 else None
    page.previous_url = link(page.previous_page_number()) if page.has_previous() else None
    page.next_url = link(page.next_page_number()) if page.has_next() else None
    page.last_url = link(page.paginator.num_pages) if page.number < page.paginator.num_pages else None
    return page


# ---------------------------------------------------------------- facts in words


def schedule_in_words(integration) -> str:
    """``every 15 minutes``, ``daily at 00:00``, a cron expression in words, or ``not scheduled``."""
    schedule = Timing.of(integration)
    if integration.schedule_kind == ScheduleKind.NONE:
        return _("not scheduled")
    if not schedule.is_scheduled:
        return _("not scheduled: the schedule is incomplete")
    if schedule.interval:
        minutes = int(schedule.interval.total_seconds() // 60)
        if minutes % 60 == 0:
            hours = minutes // 60
            if hours == 1:
                return _("every hour")
            return ngettext("every %(count)d hour", "every %(count)d hours", hours) % {"count": hours}
        if minutes == 1:
            return _("every minute")
        return ngettext("every %(count)d minute", "every %(count)d minutes", minutes) % {"count": minutes}
    if integration.schedule_kind == ScheduleKind.DAILY:
        return _("daily at %(time)s") % {"time": integration.schedule_daily_time}
    return _("%(words)s (cron %(expression)s)") % {"words": cron_in_words(schedule.cron), "expression": schedule.cron}


def data_size(integration) -> int:
    """Bytes held for the integration: staged payloads, request and response bodies, event messages (one query)."""
    staged = StagedRecord.objects.filter(table__integration=OuterRef("pk"))
    requests = RequestLog.objects.filter(
        Q(run__integration=OuterRef("pk")) | Q(run__isnull=True, table__integration=OuterRef("pk"))
    )
    events = RecordEvent.objects.filter(run__integration=OuterRef("pk"))
    sizes = (
        Integration.objects.filter(pk=integration.pk)
        .annotate(
            staged=scalar(staged, Sum("payload_bytes")),
            bodies=scalar(requests, Sum(ByteLength("request_body") + ByteLength("response_body"))),
            messages=scalar(events, Sum(ByteLength("message"))),
        )
        .values("staged", "bodies", "messages")
        .get()
    )
    return sum(sizes.values())


def tables_with_status(integration, facts: HealthFacts, now, tz):
    """The integration's tables, each with ``status``, ``pending_deletes``, ``open_errors``, ``waiting`` and
    the last reconciliation: ``last_source_total``, ``last_read``, ``last_target_total`` (with the
    ``last_linked_total`` it was held against, or ``last_target_count_error``) of its newest finished run,
    and ``linked`` (what the portal believes is in the target now) — one query.
    """
    newest = TableRun.objects.filter(table=OuterRef("pk"), finished_at__isnull=False).order_by("-started_at", "-pk")
    tables = annotate_table_health(integration.tables.all()).annotate(
        last_source_total=Subquery(newest.values("source_total")[:1], output_field=IntegerField()),
        last_read=Subquery(newest.values("read")[:1], output_field=IntegerField()),
        last_target_total=Subquery(newest.values("target_total")[:1], output_field=IntegerField()),
        last_linked_total=Subquery(newest.values("linked_total")[:1], output_field=IntegerField()),
        last_target_count_error=Subquery(newest.values("target_count_error")[:1], output_field=StoredMessageField()),
        linked=scalar(RecordLink.objects.filter(table=OuterRef("pk")), Count("pk")),
    )
    tables = list(tables)
    for table in tables:
        assessment = assess(facts.for_table(table), now, tz)
        table.status, table.reason = assessment.status, assessment.reason
    return tables


def run_log(request, integration):
    """One page of the integration's runs, newest first, with their counts summed over tables."""
    runs = (
        integration.runs.select_related("triggered_by")
        .order_by("-queued_at", "-pk")
        .annotate(
            total_read=Coalesce(Sum("table_runs__read"), 0),
            total_created=Coalesce(Sum("table_runs__created"), 0),
            total_updated=Coalesce(Sum("table_runs__updated"), 0),
            total_failed=Coalesce(Sum("table_runs__failed"), 0),
        )
    )
    return paginate(request, runs, RUN_LOG_PAGE_SIZE)


# ---------------------------------------------------------------- the view


def general_information(request, pk):
    require(request, VIEW_INTEGRATION)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    now = timezone.now()
    integration = integration_with_health(pk, now)
    max_time_form = deployment_form = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "max_time":
            require(request, CHANGE_INTEGRATION)
            max_time_form = MaxTimeForm(request.POST)
            if max_time_form.is_valid():
                value = max_time_form.cleaned_data["max_time_without_success"]
                _save(integration, max_time_without_success=value)
                messages.success(
                    request, _("The max time without success is now %(value)s.") % {"value": human_duration(value)}
                )
                return HttpResponseRedirect(request.get_full_path())
        elif action == "acknowledge":
            require(request, ACKNOWLEDGE_ALERTS)
            alert = get_object_or_404(Alert, pk=request.POST.get("alert", ""), integration=integration)
            if acknowledge(alert, request.user, request.POST.get("note", "")):
                messages.success(request, _("Alert acknowledged."))
            else:
                messages.warning(request, _("This alert is no longer open."))
            return HttpResponseRedirect(request.get_full_path())
        elif action == "deployment_status":
            require(request, CHANGE_DEPLOYMENT_STATUS)
            deployment_form = DeploymentStatusForm(request.POST)
            if deployment_form.is_valid():
                value = DeploymentStatus(deployment_form.cleaned_data["deployment_status"])
                _save(integration, deployment_status=value)
                messages.success(request, _("The deployment status is now “%(value)s”.") % {"value": value.label})
                return HttpResponseRedirect(request.get_full_path())
        else:
            return unknown_action()
    context = general_context(request, integration, now, max_time_form, deployment_form)
    return render(request, "monitoring/general.html", context)


def changes_no_webhook_delivered(integration, now) -> int | None:
    """What the polls of tables taking webhooks found in the last 7 days that no webhook had brought;
    None when no table of the integration swept in that time."""
    swept = TableRun.objects.filter(
        run__integration=integration, missed_by_webhooks__isnull=False, finished_at__gt=now - FIGURES_WINDOW
    )
    return swept.aggregate(found=Sum("missed_by_webhooks"))["found"]


def _save(integration, **values):
    for name, value in values.items():
        setattr(integration, name, value)
    integration.save(update_fields=[*values, "updated_at"])


def general_context(request, integration, now, max_time_form=None, deployment_form=None) -> dict:
    tz = portal_zone()
    context = tab_context(request, integration, "general", now)
    health = context["health"]
    facts = HealthFacts.from_row(integration)
    abilities = context["abilities"]
    size = data_size(integration)
    schedule = Timing.of(integration)
    context.update(
        {
            "schedule_words": schedule_in_words(integration),
            "is_scheduled": schedule.is_scheduled,
            # Daily and cron schedules follow the wall clock of the portal's time zone.
            "schedule_zone": zone_in_words(tz) if schedule.cron else "",
            "next_run_due": health.next_run is not None and health.next_run <= now,
            "next_run_overdue": is_overdue(health.next_run, now),
            "data_size": size,
            "data_size_words": filesizeformat(size),
            "sweep_found_7d": changes_no_webhook_delivered(integration, now),
            "max_time_words": human_duration(integration.max_time_without_success),
            "tables": tables_with_status(integration, facts, now, tz),
            "alerts": integration.alerts.filter(status__in=UNRESOLVED_ALERT_STATUSES)
            .select_related("table", "acknowledged_by")
            .order_by("-opened_at", "-pk"),
            "runs": run_log(request, integration),
            "max_time_form": max_time_form
            or (
                MaxTimeForm(initial={"max_time_without_success": typed_duration(integration.max_time_without_success)})
                if abilities.configure
                else None
            ),
            "deployment_form": deployment_form
            or (
                DeploymentStatusForm(initial={"deployment_status": integration.deployment_status})
                if abilities.change_deployment_status
                else None
            ),
        }
    )
    return context
