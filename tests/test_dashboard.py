"""The dashboard (the admin's home page) and its JSON refresh: what each role sees, in a constant number of queries."""

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from monitoring.alerts import acknowledge
from monitoring.choices import AlertKind, HealthStatus, RecordAction, RunStatus, Trigger
from monitoring.models import Alert, HeldDelete, IntegrationState, RecordError, RecordEvent, SyncRun, TableRun
from monitoring.templatetags.trend import FAILED, PARTIAL, SUCCEEDED, TrendPoint, sparkline_svg
from monitoring.views.dashboard_row import TREND_RUNS
from sync.choices import IntegrationType, ScheduleKind
from sync.models import Integration, SyncTable

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
DASHBOARD = "admin:index"
DATA = "admin:dashboard_data"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def make(erp_connection, crm_connection):
    """An integration, hourly by default, activated 30 days ago (or as ``activated`` says), with one active table
    (``table=""``: none of its own) and ``queued`` records in the review queue."""

    def build(name, *, activated=timedelta(days=30), table="Customers", queued=0, **fields):
        values = {
            "integration_type": IntegrationType.REST,
            "erp_name": "Sankhya",
            "crm_name": "Ploomes",
            "erp_connection": erp_connection,
            "crm_connection": crm_connection,
            "schedule_kind": ScheduleKind.INTERVAL,
            "schedule_interval_minutes": 60,
            "max_time_without_success": timedelta(hours=24),
        }
        with time_machine.travel(NOW - activated, tick=False):  # switched on then: its first slot was due then
            integration = Integration.objects.create(name=name, **{**values, **fields})
        if table:
            made = SyncTable.objects.create(
                integration=integration, name=table, source_object="/c", target_object="/c", record_key="id"
            )
            for number in range(queued):
                RecordError.objects.create(table=made, record_key=str(number), payload={"id": number}, reason="refused")
        return integration

    return build


def run(integration, status, *, minutes_ago, seconds=60, trigger=Trigger.SCHEDULE):
    """A run queued and started ``minutes_ago``; finished ``seconds`` later unless active (a running run beats now)."""
    at = NOW - timedelta(minutes=minutes_ago)
    active = status in (RunStatus.QUEUED, RunStatus.RUNNING)
    if trigger == Trigger.SCHEDULE:  # the hourly schedule claimed this slot: the next is an hour later
        state = IntegrationState.objects.get(pk=integration.pk)
        if state.next_run_at is not None and state.next_run_at < at + timedelta(hours=1):
            IntegrationState.objects.filter(pk=integration.pk).update(next_run_at=at + timedelta(hours=1))
    return SyncRun.objects.create(
        integration=integration,
        trigger=trigger,
        status=status,
        queued_at=at,
        started_at=None if status == RunStatus.QUEUED else at,
        heartbeat_at={RunStatus.QUEUED: None, RunStatus.RUNNING: NOW}.get(status, at),
        finished_at=None if active else at + timedelta(seconds=seconds),
    )


def table(integration, name, order=0, **fields):
    return SyncTable.objects.create(
        integration=integration,
        name=name,
        order=order,
        source_object=f"/{name}",
        target_object=f"/{name}",
        record_key="id",
        **fields,
    )


# One integration per status: (runs as (status, minutes ago), fields).
STATUS_CASES = {
    HealthStatus.HEALTHY: ([(RunStatus.SUCCEEDED, 30)], {}),
    HealthStatus.RUNNING: ([(RunStatus.SUCCEEDED, 70), (RunStatus.RUNNING, 5)], {}),
    HealthStatus.LATE: ([(RunStatus.SUCCEEDED, 70)], {}),  # hourly, 70 minutes ago, grace 6 minutes
    HealthStatus.FAILING: ([(RunStatus.SUCCEEDED, 90), (RunStatus.FAILED, 30)], {}),
    HealthStatus.ALERT: ([(RunStatus.SUCCEEDED, 25 * 60), (RunStatus.FAILED, 30)], {}),
    HealthStatus.PAUSED: ([(RunStatus.SUCCEEDED, 30)], {"active": False}),
    HealthStatus.NEVER_RUN: ([], {"activated": timedelta(minutes=2)}),
    HealthStatus.NEEDS_ATTENTION: ([(RunStatus.PARTIAL, 30)], {"queued": 3}),
    HealthStatus.NOT_CONFIGURED: ([(RunStatus.SUCCEEDED, 30)], {"table": ""}),
}


@pytest.fixture
def every_status(make):
    """One integration in each status, named so that the alphabetical order is not the problems-first order."""
    made = {}
    for number, (status, (runs, fields)) in enumerate(STATUS_CASES.items()):
        integration = make(f"{chr(ord('A') + number)} {status.label}", **fields)
        for run_status, minutes in runs:
            run(integration, run_status, minutes_ago=minutes)
        made[status] = integration
    return made


def page(client, name=DASHBOARD):
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


def data(client):
    response = client.get(reverse(DATA))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def row_html(html, integration):
    match = re.search(rf'<tr class="dash-row" data-integration="{integration.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {integration}"
    return match.group(0)


class _FieldText(HTMLParser):
    """The text of the first element with ``data-field=name`` (nested elements included)."""

    VOID = {"input", "br", "img", "meta", "link", "circle", "path", "line", "polyline"}

    def __init__(self, name):
        super().__init__()
        self.name, self.depth, self.parts, self.found = name, 0, [], False

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag not in self.VOID
        elif not self.found and ("data-field", self.name) in attrs:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag):
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def field(fragment, name):
    """The text inside the element marked data-field=name, spaces collapsed."""
    parser = _FieldText(name)
    parser.feed(fragment)
    assert parser.found, f"no field {name}"
    return " ".join(" ".join(parser.parts).split())


# ---------------------------------------------------------------- what it shows


def test_each_status_appears_with_its_word_problems_first(login_as, every_status):
    client = login_as(SUPERVISOR)
    html = page(client)
    for status, integration in every_status.items():
        row = row_html(html, integration)
        assert f'data-status="{status.value}"' in row
        # Colour and words: the badge says the status.
        assert re.search(
            rf'<span class="portal-badge portal-\w+" data-status="{status.value}">{status.label}</span>', row
        )
    order = [int(pk) for pk in re.findall(r'<tr class="dash-row" data-integration="(\d+)"', html)]
    expected = [
        "alert", "failing", "late", "needs_attention", "running", "never_run", "not_configured", "healthy", "paused"
    ]  # fmt: skip
    assert order == [every_status[HealthStatus(status)].pk for status in expected]
    assert field(html, "summary") == (
        "1 alert · 1 failing · 1 late · 1 needs attention · 1 running · 1 never run · 1 not configured · 1 healthy "
        "· 1 paused"
    )


def test_a_row_shows_the_figures_of_its_integration(login_as, make):
    integration = make("Sankhya ↔ Ploomes", erp_name="Sankhya", crm_name="Ploomes")
    for minutes, seconds in ((200, 40), (140, 50), (30, 45)):
        run(integration, RunStatus.SUCCEEDED, minutes_ago=minutes, seconds=seconds)
    run(integration, RunStatus.FAILED, minutes_ago=100, seconds=5)
    Alert.objects.create(integration=integration, kind=AlertKind.CONSECUTIVE_FAILURES, message="3 failed runs")
    client = login_as(SUPERVISOR)
    row = row_html(page(client), integration)
    assert f'href="{reverse("admin:integration", args=[integration.pk])}"' in row
    assert field(row, "systems") == "Sankhya ↔ and Ploomes"
    # 14:30:45 UTC is 11:30 in São Paulo, in the user's language's format.
    assert field(row, "last-success") == "03/10/2026 11:30 a.m."
    assert field(row, "last-success-ago") == "29 minutes ago"  # for a person comparing with now
    assert field(row, "next-run") == "03/10/2026 12:30 p.m."  # hourly, from the newest run's queue time
    assert field(row, "next-run-in") == "in 30 minutes"
    assert field(row, "avg-duration") == "45.0 s" and field(row, "p95-duration") == "50.0 s"
    assert 'title="Runs that completed in the last 7 days: average 45.0 s, p95 50.0 s"' in row
    assert field(row, "success-rate") == "75%"
    assert 'title="3 of 4 runs completed in the last 7 days"' in row
    alerts_url = reverse("admin:integration", args=[integration.pk]) + "#portal-alerts-title"
    assert f'href="{alerts_url}"' in row
    assert field(row, "alerts") == "1 open"
    # Acknowledged, it is counted as such, not as open, and the status says why no more.
    alert = Alert.objects.get()
    acknowledge(alert, User.objects.get(username="supervisor"), "On it")
    row = row_html(page(client), integration)
    assert field(row, "alerts") == "1 acknowledged"


def test_the_alerts_link_lists_the_open_alerts_of_the_integration(login_as, make):
    integration = make("Watched")
    other = make("Other")
    Alert.objects.create(integration=integration, kind=AlertKind.RUN_STUCK, message="stuck")
    Alert.objects.create(integration=other, kind=AlertKind.RUN_STUCK, message="stuck too")
    client = login_as(SUPERVISOR)
    [url] = [item["open_alerts"]["url"] for item in data(client)["integrations"] if item["name"] == "Watched"]
    listing = client.get(url)
    assert listing.status_code == 200
    assert [alert.message for alert in listing.context["alerts"]] == ["stuck"]


def test_no_runs_reads_never_and_a_dash(login_as, make):
    integration = make("Fresh", activated=timedelta(minutes=2))
    row = row_html(page(login_as(SUPERVISOR)), integration)
    assert field(row, "last-success") == "never"
    assert field(row, "success-rate") == "—"
    assert field(row, "avg-duration") == "—"
    assert field(row, "alerts") == "none"
    assert "No finished runs yet" in field(row, "trend")


def test_dates_and_numbers_follow_the_users_language(login_as, make):
    integration = make("Localized")
    for minutes, seconds in ((200, 40), (100, 5), (30, 45)):
        run(integration, RunStatus.SUCCEEDED, minutes_ago=minutes, seconds=seconds)
    run(integration, RunStatus.FAILED, minutes_ago=150)
    client = login_as(SUPERVISOR)
    response = client.get(reverse(DASHBOARD), headers={"accept-language": "pt-br"})
    row = row_html(response.content.decode(), integration)
    assert field(row, "last-success") == "10/03/2026 11:30"
    assert field(row, "next-run") == "10/03/2026 12:30"
    assert field(row, "success-rate") == "75%"
    item = client.get(reverse(DATA), headers={"accept-language": "pt-br"}).json()["integrations"][0]
    assert item["last_success"]["text"] == "10/03/2026 11:30"


@pytest.mark.parametrize("kind", [ScheduleKind.NONE, ScheduleKind.CRON, ScheduleKind.INTERVAL])
def test_an_unscheduled_integration_says_not_scheduled_never_an_epoch_date(login_as, make, kind):
    integration = make("Manual only", schedule_kind=ScheduleKind.NONE, schedule_interval_minutes=None)
    # An incomplete schedule (as an older configuration may hold) counts as none.
    Integration.objects.filter(pk=integration.pk).update(schedule_kind=kind)
    run(integration, RunStatus.SUCCEEDED, minutes_ago=30)
    client = login_as(SUPERVISOR)
    html = page(client)
    assert field(row_html(html, integration), "next-run") == "not scheduled"
    payload = data(client)
    assert payload["integrations"][0]["next_run"] == {"at": None, "text": "not scheduled", "title": "not scheduled"}
    for text in (html, json.dumps(payload)):
        assert "1969" not in text and "1970" not in text


def test_a_paused_integration_is_not_scheduled(login_as, make):
    integration = make("Off", active=False)
    row = row_html(page(login_as(SUPERVISOR)), integration)
    assert field(row, "status") == "Paused"
    assert field(row, "next-run") == "not scheduled"


def test_a_running_run_shows_records_done_per_table(login_as, make):
    integration = make("Busy", table="")
    company, contact, order = (
        table(integration, name, position) for position, name in enumerate(("Company", "Contact", "Order"))
    )
    table(integration, "Invoice", 9, active=False)  # switched off: not part of the run
    active = run(integration, RunStatus.RUNNING, minutes_ago=3)
    TableRun.objects.create(
        run=active, table=company, status=RunStatus.SUCCEEDED, read=1200, created=1195, failed=5,
        finished_at=NOW - timedelta(minutes=1),
    )  # fmt: skip
    TableRun.objects.create(run=active, table=contact, status=RunStatus.RUNNING, read=40, updated=40)
    earlier = run(integration, RunStatus.SUCCEEDED, minutes_ago=70)
    TableRun.objects.create(run=earlier, table=order, status=RunStatus.SUCCEEDED, read=7, created=7)  # not this run
    client = login_as(SUPERVISOR)
    row = row_html(page(client), integration)
    assert field(row, "status") == "Running"
    assert field(row, "progress") == "Company 1,200 (5 failed) Contact 40… 1 table waiting"
    assert 'data-table="Contact"' in row and 'title="in progress"' in row
    item = data(client)["integrations"][0]
    assert item["progress"]["text"] == "Company 1,200 (5 failed) · Contact 40… · 1 table waiting"
    assert item["progress"]["state"] == RunStatus.RUNNING
    assert item["progress"]["tables"] == [
        {"table": "Company", "done": 1200, "failed": 5, "state": "succeeded"},
        {"table": "Contact", "done": 40, "failed": 0, "state": "running"},
        {"table": "Order", "done": 0, "failed": 0, "state": "waiting"},
    ]


def test_a_queued_run_says_it_waits_for_a_worker(login_as, make):
    integration = make("Queued", activated=timedelta(minutes=2), table="Company")
    run(integration, RunStatus.QUEUED, minutes_ago=1)
    item = data(login_as(SUPERVISOR))["integrations"][0]
    assert item["status"]["value"] == HealthStatus.RUNNING
    assert item["progress"]["text"] == "Queued, waiting for a worker"


def test_the_trend_draws_the_last_runs_with_failures_in_another_shape(login_as, make):
    integration = make("Trend")
    for number in range(TREND_RUNS + 5):  # the oldest five are left out
        status = RunStatus.FAILED if number == TREND_RUNS + 2 else RunStatus.SUCCEEDED
        run(integration, status, minutes_ago=60 * (TREND_RUNS + 5 - number), seconds=10 + number)
    run(integration, RunStatus.SKIPPED, minutes_ago=5, seconds=0)  # not a run that ran
    item = data(login_as(SUPERVISOR))["integrations"][0]
    assert item["trend"]["count"] == TREND_RUNS
    svg = item["trend"]["html"]
    assert svg.startswith('<svg class="trend" role="img"') and svg.count('class="trend-failed"') == 1
    assert svg.count('class="trend-ok"') == TREND_RUNS - 1
    label = item["trend"]["label"]
    figures = [f"{10 + number}.0 s" for number in range(5, TREND_RUNS + 5)]
    figures[TREND_RUNS - 3] += " (failed)"  # the run numbered TREND_RUNS + 2
    assert label == f"Durations of the last {TREND_RUNS} runs, oldest first: {', '.join(figures)}"
    assert f"<title>{label}</title>" in svg


def test_the_sparkline_escapes_and_marks_each_outcome():
    svg = sparkline_svg(
        [TrendPoint(10, SUCCEEDED, "10 s"), TrendPoint(0, PARTIAL, "<b>0</b>"), TrendPoint(20, FAILED, "20 s")]
    )
    assert "<b>" not in svg and "&lt;b&gt;0&lt;/b&gt; (partial)" in svg
    assert svg.count("trend-ok") == svg.count("trend-partial") == svg.count("trend-failed") == 1
    assert (
        'aria-label="Durations of the last 3 runs, oldest first: 10 s, &lt;b&gt;0&lt;/b&gt; (partial), 20 s (failed)"'
        in svg
    )
    assert "No finished runs yet" in sparkline_svg([])


def test_names_are_escaped_in_the_page_and_the_json(login_as, make):
    integration = make('<img src=x onerror="alert(1)">', erp_name="<b>ERP</b>")
    active = run(integration, RunStatus.RUNNING, minutes_ago=1)
    TableRun.objects.create(run=active, table=table(integration, "<i>Company</i>"), read=1, created=1)
    client = login_as(IT)
    html = page(client)
    assert "<img src=x" not in html and "<b>ERP</b>" not in html
    item = data(client)["integrations"][0]
    assert item["name"] == integration.name  # set with textContent by the page
    assert "<i>" not in item["progress"]["html"] and "&lt;i&gt;Company&lt;/i&gt;" in item["progress"]["html"]
    assert "<img" not in item["status"]["html"] and "<b>" not in item["trend"]["html"]


# ---------------------------------------------------------------- who may do what


def test_it_sees_run_now_posting_back_to_the_dashboard(login_as, make):
    integration = make("Runnable")
    busy = make("Busy")
    run(busy, RunStatus.RUNNING, minutes_ago=1)
    client = login_as(IT)
    html = page(client)
    row = row_html(html, integration)
    assert f'action="{reverse("admin:sync_integration_run", args=[integration.pk])}"' in row
    assert 'name="csrfmiddlewaretoken"' in row
    assert f'<input type="hidden" name="next" value="{reverse(DASHBOARD)}">' in row
    assert re.search(r'data-action="run-now"[^>]*>', row) and " disabled" not in row
    busy_row = row_html(html, busy)
    assert re.search(r'data-action="run-now" title="Busy is already queued or running."\s+disabled', busy_row)
    payload = data(client)
    by_name = {item["name"]: item for item in payload["integrations"]}
    assert by_name["Runnable"]["run_now"] == {"enabled": True, "reason": "Queue a run of Runnable now"}
    assert by_name["Busy"]["run_now"]["enabled"] is False


def test_run_now_from_the_dashboard_comes_back_to_it(login_as, make, monkeypatch):
    monkeypatch.setattr("sync.tasks.async_task", lambda *args, **kwargs: "task-1")
    integration = make("Runnable", activated=timedelta(minutes=2))
    client = login_as(IT)
    response = client.post(
        reverse("admin:sync_integration_run", args=[integration.pk]), {"next": reverse(DASHBOARD)}, follow=True
    )
    assert response.redirect_chain == [(reverse(DASHBOARD), 302)]
    html = response.content.decode()
    assert "Runnable is queued to run now." in html
    assert field(row_html(html, integration), "status") == "Running"
    assert "Queued, waiting for a worker" in html


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_supervisor_and_onboarding_have_no_run_now(login_as, make, role):
    make("Read only")
    client = login_as(role)
    html = page(client)
    assert 'data-integration="' in html
    assert 'data-action="run-now"' not in html and "sync_integration_run" not in html and "/run/" not in html
    assert all(item["run_now"] is None for item in data(client)["integrations"])


def test_the_admin_apps_stay_reachable(login_as):
    html = page(login_as(SUPERVISOR))
    assert 'aria-labelledby="dash-apps-title"' in html
    assert f'href="{reverse("admin:sync_integration_changelist")}"' in html
    assert f'href="{reverse("admin:monitoring_syncrun_changelist")}"' in html
    assert f'href="{reverse("admin:sync_integration_add")}"' not in html  # supervisors only look


def test_the_page_loads_its_own_script_and_styles_and_no_cdn(login_as, make):
    make("One")
    html = page(login_as(SUPERVISOR))
    assert 'src="/static/portal/dashboard.js"' in html and 'href="/static/portal/dashboard.css"' in html
    assert 'href="/static/portal/monitoring.css"' in html
    assert f'data-refresh-url="{reverse("admin:dashboard_rows")}"' in html and 'data-refresh-seconds="3"' in html
    assert 'aria-live="polite"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


@pytest.mark.parametrize("name", [DASHBOARD, DATA])
def test_anonymous_users_are_sent_to_the_login_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_staff_user_without_the_view_permission_sees_no_integration(client, django_user_model, make):
    make("Hidden")
    user = django_user_model.objects.create_user(username="nobody", password="pw", is_staff=True)
    client.force_login(user)
    assert "permission to view the integrations" in page(client)
    assert data(client)["integrations"] == []


# ---------------------------------------------------------------- the JSON refresh


def test_the_json_has_the_same_figures_as_the_page(login_as, every_status):
    client = login_as(IT)
    html = page(client)
    payload = data(client)
    assert payload["generated_at"] == NOW.isoformat()
    assert payload["generated_at_text"] == "12:00:00"
    assert payload["refresh_seconds"] == 3
    assert payload["summary"]["counts"] == {status.value: 1 for status in HealthStatus}
    assert [item["id"] for item in payload["integrations"]] == [
        int(pk) for pk in re.findall(r'<tr class="dash-row" data-integration="(\d+)"', html)
    ]
    for item in payload["integrations"]:
        row = row_html(html, Integration.objects.get(pk=item["id"]))
        assert item["status"]["html"] in row
        assert item["status"]["label"] == field(row, "status")
        assert item["last_success"]["text"] == field(row, "last-success")
        assert item["next_run"]["text"] == field(row, "next-run")
        assert item["avg_duration"]["text"] == field(row, "avg-duration")
        assert item["success_rate_7d"]["text"] == field(row, "success-rate")
        assert item["trend"]["html"] in row
        assert item["open_alerts"]["html"] in row
    running = next(item for item in payload["integrations"] if item["status"]["value"] == "running")
    assert running["status"]["colour"] == "blue"
    assert running["progress"]["text"] == "Starting… · 1 table waiting"


def test_the_json_follows_a_run_to_its_end(login_as, make, frozen):
    integration = make("Follow me", activated=timedelta(minutes=2), table="")
    company = table(integration, "Company")
    client = login_as(SUPERVISOR)
    item = data(client)["integrations"][0]
    assert (item["status"]["value"], item["last_success"]["text"], item["success_rate_7d"]["text"]) == (
        "never_run",
        "never",
        "—",
    )
    active = run(integration, RunStatus.RUNNING, minutes_ago=0)
    TableRun.objects.create(run=active, table=company, read=10, created=10)
    frozen.shift(timedelta(seconds=3))
    item = data(client)["integrations"][0]
    assert item["status"]["value"] == "running" and item["progress"]["text"] == "Company 10…"

    frozen.shift(timedelta(seconds=42))
    TableRun.objects.filter(run=active).update(read=25, created=25, status=RunStatus.SUCCEEDED, finished_at=NOW)
    active.finish(RunStatus.SUCCEEDED, now=NOW + timedelta(seconds=45))
    item = data(client)["integrations"][0]
    assert item["status"] == {
        "value": "healthy",
        "label": "Healthy",
        "colour": "green",
        "html": '<span class="portal-badge portal-green" data-status="healthy">Healthy</span>',
    }
    assert item["progress"] is None
    assert item["last_success"] == {"at": "2026-03-10T15:00:45+00:00", "text": "03/10/2026 noon"}
    assert item["avg_duration"]["text"] == "45.0 s"
    assert item["success_rate_7d"]["text"] == "100%"
    assert item["trend"]["count"] == 1 and item["trend"]["label"] == "Duration of the last run: 45.0 s"


# ---------------------------------------------------------------- queries


def populate(make, count, start=0):
    """``count`` integrations with finished runs of every kind, a running sync, record events and alerts."""
    for number in range(start, start + count):
        integration = make(f"Integration {number:03}", table="")
        tables = [table(integration, name, position) for position, name in enumerate(("Company", "Contact"))]
        for minutes in range(30, 30 + 25 * 60, 60):  # 25 finished runs: more than the trend draws
            status = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.PARTIAL)[minutes // 60 % 3]
            finished = run(integration, status, minutes_ago=minutes)
            for sync_table in tables:
                TableRun.objects.create(run=finished, table=sync_table, status=status, read=2, created=2)
        active = run(integration, RunStatus.RUNNING, minutes_ago=2)
        TableRun.objects.create(run=active, table=tables[0], read=3, created=3)
        RecordEvent.objects.bulk_create(
            RecordEvent(run=active, table=tables[0], record_key=str(key), action=RecordAction.CREATED)
            for key in range(20)
        )
        Alert.objects.create(integration=integration, kind=AlertKind.CONSECUTIVE_FAILURES, message="failures")
    Integration.objects.filter(name=f"Integration {start:03}").update(active=False)  # a paused one too


def count_queries(client, name):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name))
        assert response.status_code == 200
    return len(queries), response


@pytest.mark.parametrize("name", [DASHBOARD, DATA])
def test_the_number_of_queries_does_not_grow_with_integrations_runs_or_events(login_as, make, name):
    client = login_as(IT)
    populate(make, 2)
    client.get(reverse(name))  # warm the content-type cache
    few, response = count_queries(client, name)
    populate(make, 28, start=2)
    many, response = count_queries(client, name)
    assert many == few, f"{few} queries for 2 integrations, {many} for 30"
    # Session and user, the user's permissions, then health, trend and progress: one query each;
    # the workers' last heartbeat, and (never seen) their open alert.
    assert few == 9
    if name == DATA:
        items = response.json()["integrations"]
        assert len(items) == 30 and all(item["progress"]["text"] == "Company 3… · 1 table waiting" for item in items)
        assert all(item["trend"]["count"] == TREND_RUNS for item in items)


def test_without_a_running_sync_the_progress_query_is_not_made(login_as, make):
    integration = make("Idle")
    run(integration, RunStatus.SUCCEEDED, minutes_ago=30)
    client = login_as(SUPERVISOR)
    client.get(reverse(DATA))
    idle, _response = count_queries(client, DATA)
    run(integration, RunStatus.RUNNING, minutes_ago=1)
    busy, _response = count_queries(client, DATA)
    assert busy == idle + 1


def test_each_status_says_why_in_one_line(login_as, every_status):
    failing = every_status[HealthStatus.FAILING]
    for failed in failing.runs.filter(status=RunStatus.FAILED):
        failed.error = "Sankhya: connection refused (127.0.0.1:9)"
        failed.save()
    client = login_as(SUPERVISOR)
    html = page(client)
    reasons = {status: field(row_html(html, integration), "reason") for status, integration in every_status.items()}
    running = every_status[HealthStatus.RUNNING].runs.get(status=RunStatus.RUNNING)
    assert reasons == {
        HealthStatus.HEALTHY: "Last success 11:31.",
        HealthStatus.RUNNING: f"Run #{running.pk} running since 11:55.",
        HealthStatus.LATE: "The run due at 11:50 has not started (grace 6 minutes).",
        HealthStatus.FAILING: "Failing since 11:31: Sankhya: connection refused (127.0.0.1:9)",
        HealthStatus.ALERT: "No success for 1 day 59 minutes (max 24 hours).",
        HealthStatus.PAUSED: "Switched off: nothing runs until it is switched on.",
        HealthStatus.NEVER_RUN: "No run has finished yet.",
        HealthStatus.NEEDS_ATTENTION: "3 records in the review queue (Customers).",
        HealthStatus.NOT_CONFIGURED: "No active table: there is nothing to sync.",
    }
    # The JSON carries the same words, for the refresh in place.
    items = {item["name"]: item["reason"] for item in data(client)["integrations"]}
    assert {status: items[integration.name] for status, integration in every_status.items()} == reasons
    # And in Portuguese.
    html = client.get(reverse(DASHBOARD), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert field(row_html(html, every_status[HealthStatus.NEEDS_ATTENTION]), "reason") == (
        "3 registros na fila de revisão (Customers)."
    )


def test_an_open_alert_is_alert_until_acknowledged_then_the_facts_speak(login_as, make):
    integration = make("Deletes")
    run(integration, RunStatus.SUCCEEDED, minutes_ago=30)
    table = integration.tables.get()
    alert = Alert.objects.create(
        integration=integration, table=table, kind=AlertKind.DELETES_HELD, message="24 deletes held in Customers"
    )
    for number in range(24):
        HeldDelete.objects.create(table=table, source_key=str(number), target_key=str(number))
    client = login_as(IT)
    row = row_html(page(client), integration)
    assert (row_status(row), field(row, "reason")) == ("alert", "24 deletes held in Customers")

    acknowledge(alert, User.objects.get(username="it"), "Checking with the ERP team")
    row = row_html(page(client), integration)
    assert (row_status(row), field(row, "reason")) == (
        "needs_attention",
        "24 deletes held for approval (Customers).",
    )
    assert field(row, "alerts") == "1 acknowledged"


def row_status(row) -> str:
    return re.search(r'data-status="(\w+)"', row).group(1)


def test_partial_runs_are_named_in_the_success_rate_on_every_page(login_as, make):
    integration = make("Partly")
    run(integration, RunStatus.SUCCEEDED, minutes_ago=90)
    run(integration, RunStatus.PARTIAL, minutes_ago=60)
    run(integration, RunStatus.FAILED, minutes_ago=30)
    client = login_as(SUPERVISOR)
    row = row_html(page(client), integration)
    words = "2 of 3 runs completed in the last 7 days, 1 of them partial (some records refused)"
    assert field(row, "success-rate") == "66.6%"
    assert f'title="{words}"' in row
    general = client.get(reverse("admin:integration", args=[integration.pk])).content.decode()
    assert f'66.6% <span class="portal-quiet">({words})</span>' in general


def poll(client, known: str = ""):
    response = client.get(reverse("admin:dashboard_rows"), HTTP_X_DASHBOARD_ROWS=known)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    return response.content.decode()


def digests(html) -> str:
    """What the page's script sends: each row's id and digest."""
    pairs = re.findall(r'<tr class="dash-row" data-integration="(\d+)" data-status="\w+" data-digest="(\w+)"', html)
    return ",".join(f"{pk}:{digest}" for pk, digest in pairs)


def test_the_refresh_sends_only_the_rows_that_changed(login_as, make, frozen):
    quiet, busy = make("Quiet"), make("Busy")
    run(quiet, RunStatus.SUCCEEDED, minutes_ago=30)
    run(busy, RunStatus.SUCCEEDED, minutes_ago=90)
    active = run(busy, RunStatus.RUNNING, minutes_ago=1)
    client = login_as(IT)  # with the Run now forms and their CSRF tokens, masked anew at every render
    known = digests(page(client))
    assert known.count(":") == 2

    unchanged = poll(client, known)
    assert 'data-ids="' in unchanged and "<tr" not in unchanged  # nothing changed: no row at all
    assert len(unchanged.encode()) < 1000
    assert '<p data-part="summary">' in unchanged and "1 healthy" in unchanged  # the summary line comes along

    active.finish(RunStatus.SUCCEEDED, now=NOW)
    changed = poll(client, known)
    rows = re.findall(r'<tr class="dash-row" data-integration="(\d+)" data-status="(\w+)"', changed)
    assert rows == [(str(busy.pk), "healthy")]  # only the row that changed, rendered as the page does
    assert field(changed, "reason") == "Last success 12:00."
    assert re.search(rf'data-ids="({quiet.pk},{busy.pk}|{busy.pk},{quiet.pk})"', changed)

    everything = poll(client)  # a page that knows nothing gets every row
    assert len(re.findall(r'<tr class="dash-row"', everything)) == 2


def test_the_portal_zone_is_named_in_words(login_as, make):
    make("Any")
    client = login_as(SUPERVISOR)
    assert "Times in Brasilia Time (America/Sao_Paulo)." in " ".join(page(client).split())
    html = client.get(reverse(DASHBOARD), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "Horário de Brasília (America/Sao_Paulo)" in html


def test_a_slot_nobody_claimed_reads_overdue_since_its_time(login_as, every_status):
    client = login_as(SUPERVISOR)
    late = row_html(page(client), every_status[HealthStatus.LATE])
    assert field(late, "next-run") == "overdue since 03/10/2026 11:50 a.m."  # the hourly slot after 10:50
    assert field(late, "next-run-in") == "10 minutes ago"
    assert 'datetime="2026-03-10T11:50:00-03:00"' in late
    # Just switched on, every N minutes is due at once: it waits a minute at most for its claimer.
    never = row_html(page(client), every_status[HealthStatus.NEVER_RUN])
    assert field(never, "next-run") == "due now"
    general = client.get(reverse("admin:integration", args=[every_status[HealthStatus.LATE].pk])).content.decode()
    next_run = " ".join(general.split('data-fact="next-run">')[1].split("</dd>")[0].split())
    assert next_run.startswith("overdue since <time") and "03/10/2026 11:50 a.m." in next_run
