"""Integration → General information: every field, the run log, and who may change what."""

import html
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from monitoring.choices import AlertKind, AlertStatus, ErrorStatus, RunStatus, Trigger
from monitoring.models import Alert, RecordError, RecordEvent, RequestLog, SyncRun, TableRun
from monitoring.views.integration import schedule_in_words
from sync.choices import DeploymentStatus, ScheduleKind
from sync.models import Connection, Integration, RecordLink, StagedRecord, SyncTable

pytestmark = pytest.mark.django_db

# 12:00 in São Paulo (UTC-3), a Thursday.
NOW = datetime(2024, 11, 14, 15, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def add_run(integration, *, status=RunStatus.SUCCEEDED, started, seconds, trigger=Trigger.SCHEDULE, counts=None):
    run = SyncRun.objects.create(
        integration=integration,
        status=status,
        trigger=trigger,
        queued_at=started,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
    )
    if counts:
        table = integration.tables.get()
        TableRun.objects.create(
            run=run, table=table, started_at=started, finished_at=run.finished_at, status=status, **counts
        )
    return run


def page_of(client, integration, query=""):
    response = client.get(reverse("admin:integration", args=[integration.pk]) + query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_general_information_shows_every_field(frozen, login_as, integration):
    integration.business_rule = "Only customers with approved credit reach the CRM."
    integration.save()
    add_run(
        integration,
        started=NOW - timedelta(hours=3),
        seconds=60,
        counts={"read": 4, "created": 2, "updated": 1, "failed": 1},
    )
    add_run(integration, started=NOW - timedelta(hours=2, minutes=58, seconds=28), seconds=180)
    add_run(integration, status=RunStatus.FAILED, started=NOW - timedelta(hours=1), seconds=5)

    page = page_of(login_as(SUPERVISOR), integration)

    assert "SOAP web service" in page  # integration type
    assert "Sankhya" in page and "4.2" in page and "Ploomes" in page  # ERP, its version, CRM
    assert "In progress" in page  # deployment status
    assert '<dd data-fact="active">Yes</dd>' in page
    assert '<dd data-fact="scheduled">Yes</dd>' in page
    assert "daily at 00:00" in page and "America/Sao_Paulo" in page
    assert "11/15/2024 midnight" in page  # next run, local time
    assert "2 min 0 s" in page and "p95 3 min 0 s" in page  # average and p95 of the succeeded runs
    assert "11/14/2024 9:04 a.m." in page  # last success (12:04:32 UTC), local time
    # Rounded down, in the same words as the dashboard's: 2/3 never reads as 67 %.
    assert "66.6%" in page and "2 of 3 runs completed in the last 7 days" in page
    assert "24 hours" in page  # max time without success
    assert "Only customers with approved credit reach the CRM." in page
    assert "Company" in page and "ERP → CRM" in page  # the table with its direction
    assert 'data-status="failing"' in page  # the table's status: its newest run failed
    assert "1969" not in page


def test_an_unscheduled_integration_says_not_scheduled_never_an_epoch_date(login_as, integration):
    integration.schedule_kind = ScheduleKind.NONE
    integration.schedule_daily_time = ""
    integration.save()
    page = page_of(login_as(SUPERVISOR), integration)
    assert '<dd data-fact="scheduled">No</dd>' in page
    assert "not scheduled" in page
    assert "1969" not in page and "1970" not in page

    integration.schedule_kind, integration.schedule_daily_time, integration.active = ScheduleKind.DAILY, "00:00", False
    integration.save()
    page = page_of(login_as(IT), integration)
    assert "not scheduled: the integration is inactive" in page
    assert "1969" not in page


def test_schedules_in_words(integration):
    integration.schedule_kind, integration.schedule_interval_minutes = ScheduleKind.INTERVAL, 15
    assert schedule_in_words(integration) == "every 15 minutes"
    integration.schedule_interval_minutes = 120
    assert schedule_in_words(integration) == "every 2 hours"
    integration.schedule_kind, integration.schedule_cron = ScheduleKind.CRON, "*/15 8-18 * * 1-5"
    assert schedule_in_words(integration) == (
        "Every 15 minutes, between 08:00 and 18:59, Monday through Friday (cron */15 8-18 * * 1-5)"
    )
    with translation.override("pt-br"):  # the day names too, whatever the server's locale
        assert schedule_in_words(integration) == (
            "A cada 15 minutos, entre 08:00 e 18:59, de Segunda-feira a Sexta-feira (cron */15 8-18 * * 1-5)"
        )
    integration.schedule_kind, integration.schedule_daily_time = ScheduleKind.DAILY, "00:00"
    assert schedule_in_words(integration) == "daily at 00:00"
    integration.schedule_kind = ScheduleKind.NONE
    assert schedule_in_words(integration) == "not scheduled"


def test_it_changes_the_max_time_without_success(login_as, integration):
    client = login_as(IT)
    url = reverse("admin:integration", args=[integration.pk])
    page = page_of(client, integration)
    assert 'data-field="max-time"' in page and 'data-field="deployment-status"' in page
    assert 'value="24h"' in page
    assert 'data-action="run-now"' in page
    assert f'action="{reverse("admin:sync_integration_run", args=[integration.pk])}"' in page
    assert f'name="next" value="{url}"' in page
    assert reverse("admin:sync_integration_change", args=[integration.pk]) in page

    response = client.post(url, {"action": "max_time", "max_time_without_success": "36h"}, follow=True)
    assert "The max time without success is now 1 day 12 hours." in response.content.decode()
    integration.refresh_from_db()
    assert integration.max_time_without_success == timedelta(hours=36)
    assert 'value="36h"' in html.unescape(response.content.decode())

    for typed, message in [
        ("0m", "The max time without success must be positive, e.g. 24h."),
        ("soon", "is not a duration; write it like 24h"),
        ("", "This field is required."),
        ("999999999999d", "is too long a duration."),
        ("400d", "at most 365 days"),
    ]:
        response = client.post(url, {"action": "max_time", "max_time_without_success": typed})
        assert response.status_code == 200
        assert message in html.unescape(response.content.decode()), typed
        integration.refresh_from_db()
        assert integration.max_time_without_success == timedelta(hours=36)


def test_onboarding_changes_the_deployment_status_but_not_the_max_time(login_as, integration):
    client = login_as(ONBOARDING)
    url = reverse("admin:integration", args=[integration.pk])
    page = page_of(client, integration)
    assert 'data-field="deployment-status"' in page
    assert 'data-field="max-time"' not in page and 'data-action="run-now"' not in page

    response = client.post(url, {"action": "deployment_status", "deployment_status": "completed"}, follow=True)
    assert "The deployment status is now “Completed”." in response.content.decode()
    integration.refresh_from_db()
    assert integration.deployment_status == DeploymentStatus.COMPLETED

    response = client.post(url, {"action": "max_time", "max_time_without_success": "36h"})
    assert response.status_code == 403
    integration.refresh_from_db()
    assert integration.max_time_without_success == timedelta(hours=24)


def test_supervisor_sees_values_and_no_forms_and_cannot_post(login_as, integration):
    client = login_as(SUPERVISOR)
    url = reverse("admin:integration", args=[integration.pk])
    page = page_of(client, integration)
    assert "In progress" in page and "24 hours" in page
    for control in ('data-field="max-time"', 'data-field="deployment-status"', 'data-action="run-now"', "<form method"):
        assert control not in page.split('class="portal-tab-body"')[1], control
    assert reverse("admin:sync_integration_change", args=[integration.pk]) not in page

    assert client.post(url, {"action": "max_time", "max_time_without_success": "36h"}).status_code == 403
    assert client.post(url, {"action": "deployment_status", "deployment_status": "completed"}).status_code == 403
    assert client.post(reverse("admin:sync_integration_run", args=[integration.pk])).status_code == 403
    integration.refresh_from_db()
    assert (integration.max_time_without_success, integration.deployment_status) == (
        timedelta(hours=24),
        DeploymentStatus.IN_PROGRESS,
    )


def test_an_unknown_action_is_a_bad_request(login_as, integration):
    response = login_as(IT).post(reverse("admin:integration", args=[integration.pk]), {"action": "explode"})
    assert response.status_code == 400


def test_a_user_without_a_role_cannot_see_the_page(client, django_user_model, integration):
    user = django_user_model.objects.create_user(username="nobody", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:integration", args=[integration.pk])).status_code == 403


def test_the_data_size_is_computed_from_stored_facts(frozen, login_as, integration, erp_connection):
    table = integration.tables.get()
    run = add_run(integration, started=NOW - timedelta(hours=1), seconds=10)
    StagedRecord.objects.create(table=table, source_key="1", payload={"a": 1}, payload_bytes=12_000_000)
    StagedRecord.objects.create(table=table, source_key="2", payload={"a": 2}, payload_bytes=1_000_000)
    RequestLog.objects.create(run=run, table=table, method="GET", url="/x", request_body="x" * 300_000)
    RequestLog.objects.create(run=run, method="GET", url="/y", response_body="é" * 100)  # 2 bytes each
    RequestLog.objects.create(table=table, method="DELETE", url="/z", response_body="z" * 1_000)  # no run
    RecordEvent.objects.create(run=run, table=table, record_key="1", action="created", message="m" * 5_000)

    # Another integration's data does not count.
    other_crm = Connection.objects.create(name="Other CRM", kind="rest", base_url="https://other.example")
    other = Integration.objects.create(
        name="Other",
        integration_type="rest",
        erp_name="TOTVS",
        crm_name="HubSpot",
        erp_connection=erp_connection,
        crm_connection=other_crm,
    )
    other_table = SyncTable.objects.create(
        integration=other, name="Company", source_object="/c", target_object="/c", record_key="id"
    )
    StagedRecord.objects.create(table=other_table, source_key="1", payload={}, payload_bytes=50_000_000)
    other_run = add_run(other, started=NOW - timedelta(hours=1), seconds=10)
    RequestLog.objects.create(run=other_run, method="GET", url="/o", request_body="o" * 10_000)

    page = page_of(login_as(SUPERVISOR), integration)
    total = 12_000_000 + 1_000_000 + 300_000 + 200 + 1_000 + 5_000
    assert f'data-bytes="{total}"' in page
    assert ">12.7\xa0MB<" in page  # filesizeformat keeps the figure and its unit together


def test_the_run_log_links_each_run_to_its_page_and_is_paginated(frozen, login_as, integration):
    runs = [
        add_run(
            integration,
            started=NOW - timedelta(hours=30 - n),
            seconds=30,
            counts={"read": 3, "created": 1, "updated": 1, "failed": 1},
        )
        for n in range(30)
    ]
    client = login_as(SUPERVISOR)
    with CaptureQueriesContext(connection) as first_page:
        page = page_of(client, integration)
    newest = runs[-1]
    assert reverse("admin:run", args=[newest.pk]) in page
    assert f"Run #{newest.pk}" in page
    assert page.count('data-run="') == 25
    assert reverse("admin:run", args=[runs[0].pk]) not in page  # the oldest is on page 2
    assert "page 1 of 2" in page

    page = page_of(client, integration, "?page=2")
    assert reverse("admin:run", args=[runs[0].pk]) in page
    assert page.count('data-run="') == 5

    add_run(integration, started=NOW - timedelta(minutes=30), seconds=30, counts={"read": 1, "created": 1})
    with CaptureQueriesContext(connection) as more_runs:
        page_of(client, integration)
    assert len(more_runs) == len(first_page) <= 15


def test_a_run_in_progress_can_be_followed_by_everyone(login_as, integration):
    run = SyncRun.objects.create(
        integration=integration, status=RunStatus.RUNNING, trigger=Trigger.MANUAL, started_at=datetime.now(UTC)
    )
    page = page_of(login_as(SUPERVISOR), integration)
    assert 'data-status="running"' in page
    assert f'A run is in progress: <a href="{reverse("admin:run", args=[run.pk])}">follow it</a>.' in page


def test_each_table_shows_its_last_reconciliation_and_what_waits(frozen, login_as, integration):
    add_run(integration, started=NOW - timedelta(hours=5), seconds=60, counts={"read": 4, "created": 4})
    add_run(  # the newest finished run: the source reported 9 records, 8 were read
        integration,
        started=NOW - timedelta(hours=1),
        seconds=60,
        status=RunStatus.FAILED,
        counts={"source_total": 9, "read": 8, "created": 8},
    )
    table = integration.tables.get()
    RecordLink.objects.bulk_create(
        RecordLink(table=table, source_key=f"S{n}", target_key=f"T{n}", mapped_hash="x") for n in range(12)
    )
    RecordError.objects.create(
        table=table, record_key="order-7", payload={}, reason="waiting for Company 31", status=ErrorStatus.WAITING
    )

    page = page_of(login_as(SUPERVISOR), integration)

    row = page.split(f'data-table="{table.pk}"', 1)[1].split("</tr>", 1)[0]
    assert (
        '<td class="number" data-reconciliation>9 / 8 / '
        '<span class="portal-quiet" data-target-count="not-checked">not checked</span></td>'
    ) in row
    assert '<td class="number" data-linked>12</td>' in row
    assert "status=waiting" in row and ">1</a>" in row.split("data-waiting", 1)[1]


def test_it_acknowledges_an_alert_on_the_general_tab_and_everyone_sees_by_whom(frozen, login_as, integration):
    add_run(integration, started=NOW - timedelta(minutes=30), seconds=60)
    alert = Alert.objects.create(integration=integration, kind=AlertKind.RUN_STUCK, message="Run #9 is stuck")
    url = reverse("admin:integration", args=[integration.pk])
    client = login_as(IT)
    page = client.get(url).content.decode()
    assert f'data-alert="{alert.pk}" data-state="open"' in page and "Run #9 is stuck" in page
    assert 'data-action="acknowledge"' in page
    assert 'class="portal-status-reason" data-field="reason">Run #9 is stuck</span>' in page  # the status says why

    response = client.post(url, {"action": "acknowledge", "alert": alert.pk, "note": "Restarting the workers"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by.username, alert.acknowledgement_note) == (
        AlertStatus.ACKNOWLEDGED,
        "it",
        "Restarting the workers",
    )
    page = client.get(url).content.decode()
    assert 'data-state="acknowledged"' in page
    assert "by it at 11/14/2024 noon: Restarting the workers" in " ".join(html.unescape(page).split())
    assert 'data-status="alert"' not in page.split('class="portal-integration-head"')[1].split("</div>")[0]


def test_a_supervisor_cannot_acknowledge(frozen, login_as, integration):
    alert = Alert.objects.create(integration=integration, kind=AlertKind.RUN_STUCK, message="stuck")
    url = reverse("admin:integration", args=[integration.pk])
    client = login_as(SUPERVISOR)
    assert 'data-action="acknowledge"' not in client.get(url).content.decode()
    assert client.post(url, {"action": "acknowledge", "alert": alert.pk}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_every_tab_and_the_run_page_carry_the_admin_header(frozen, login_as, integration):
    run = add_run(integration, started=NOW - timedelta(minutes=30), seconds=60)
    client = login_as(SUPERVISOR)
    urls = [
        reverse(name, args=[integration.pk])
        for name in (
            "admin:integration",
            "admin:integration_history",
            "admin:integration_deletes",
            "admin:integration_queue",
        )
    ] + [reverse("admin:run", args=[run.pk])]
    for url in urls:
        page = client.get(url).content.decode()
        assert 'id="user-tools"' in page, url
        assert 'name="language"' in page, url  # the language chooser
        assert reverse("admin:logout") in page and reverse("admin:password_change") in page, url


def test_the_max_time_deadline_says_crossed_once_it_is_past(frozen, login_as, integration):
    add_run(integration, started=NOW - timedelta(hours=2), seconds=60)
    client = login_as(SUPERVISOR)
    deadline = " ".join(html.unescape(page_of(client, integration)).split())
    assert "An alert opens unless a run succeeds by 11/15/2024 noon" in deadline
    frozen.shift(timedelta(days=1))
    client.force_login(User.objects.get(username="supervisor"))  # a day later is another working day's session
    deadline = " ".join(html.unescape(page_of(client, integration)).split())
    assert "Crossed at 11/15/2024 noon: no run has succeeded since" in deadline


def test_each_page_has_one_heading(frozen, login_as, integration):
    run = add_run(integration, started=NOW - timedelta(minutes=30), seconds=60)
    client = login_as(SUPERVISOR)
    for name, args in (("admin:integration", [integration.pk]), ("admin:integration_history", [integration.pk]),
                       ("admin:run", [run.pk])):  # fmt: skip
        page = client.get(reverse(name, args=args)).content.decode()
        assert page.count("<h1") == 1, name
