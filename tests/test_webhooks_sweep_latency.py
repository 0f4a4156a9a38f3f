"""The sweep and the latency: what the polls found that no webhook brought, and how fast webhooks are written.

A table that takes webhooks keeps its schedule: its poll (the sweep) writes what no webhook delivered, and
its table run counts those changes. Each processed event keeps when its records went through to the
target; the dashboard and the General tab show p50/p95 of received → written over the last 7 days.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.roles import SUPERVISOR
from monitoring.choices import RunStatus, Trigger, WebhookEventStatus, WebhookVerdict
from monitoring.models import SyncRun, TableRun, WebhookEvent
from monitoring.status import integration_health
from sync.engine import execute_run, queue_run
from sync.models import SyncTable, WebhookReceiver

from .webhook_shop import ACME, post_event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def poll(integration) -> SyncRun:
    """The integration's scheduled poll, run now."""
    return execute_run(queue_run(integration, Trigger.SCHEDULE).pk)


def page_of(client, integration) -> str:
    response = client.get(reverse("admin:integration", args=[integration.pk]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


# --- the sweep ------------------------------------------------------------------------------------


def test_a_webhook_lost_on_purpose_is_found_by_the_sweep_and_counted(
    client, shop, shop_apis, login_as, django_capture_on_commit_callbacks
):
    source, target = shop_apis
    SyncTable.objects.filter(name="Contact").update(active=False)
    source.add_contact(**ACME["data"])
    source.add_contact(Code="C2", Name="Beta SA", Revenue="10,00", Active="N")  # its webhook was lost
    post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)  # C1 arrives by webhook

    run = poll(shop)

    assert run.status == RunStatus.SUCCEEDED
    [beta] = target.contacts(Code="C2")
    assert beta["Name"] == "Beta SA" and Decimal(str(beta["Revenue"])) == Decimal("10.00") and beta["Active"] is False
    assert len(target.contacts(Code="C1")) == 1
    company = TableRun.objects.get(run=run, table__name="Company")
    assert (company.read, company.created, company.unchanged) == (2, 1, 1)
    assert company.missed_by_webhooks == 1  # C2: the sweep found it; C1 had come by webhook

    again = poll(shop)  # nothing changed since: nothing missed
    assert TableRun.objects.get(run=again, table__name="Company").missed_by_webhooks == 0

    supervisor = login_as(SUPERVISOR)
    page = page_of(supervisor, shop)
    assert "Changes no webhook delivered (7 days)" in page
    assert re.search(r'<dd data-fact="sweep-found">\s*1 ', page)
    run_page = supervisor.get(reverse("admin:run", args=[run.pk]))
    assert "The sweep found 1 change no webhook delivered" in html.unescape(run_page.content.decode())


def test_a_change_in_the_source_found_by_the_sweep_counts_as_missed(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    source, target = shop_apis
    SyncTable.objects.filter(name="Contact").update(active=False)
    acme = source.add_contact(**ACME["data"])
    post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    source.records[acme["Id"]]["Name"] = "ACME Renamed"  # changed, and the sender never said so

    run = poll(shop)

    assert target.contacts(Code="C1")[0]["Name"] == "ACME Renamed"
    company = TableRun.objects.get(run=run, table__name="Company")
    assert (company.updated, company.missed_by_webhooks) == (1, 1)


def test_a_table_without_a_receiver_counts_nothing(shop, shop_apis):
    source, _target = shop_apis
    SyncTable.objects.filter(name="Contact").update(active=False)
    WebhookReceiver.objects.all().delete()
    source.add_contact(**ACME["data"])

    run = poll(shop)

    company = TableRun.objects.get(run=run, table__name="Company")
    assert company.created == 1 and company.missed_by_webhooks is None  # nothing could have delivered it


# --- the latency ----------------------------------------------------------------------------------


def test_a_processed_event_keeps_when_its_records_were_written(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    event = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.received_at <= event.written_at <= event.processed_at


def test_an_event_whose_record_only_waits_has_no_written_time(client, shop, django_capture_on_commit_callbacks):
    contact = {"type": "contact.created", "data": {"Email": "ana@acme.example", "CompanyCode": "C1"}}
    event = post_event(client, shop, contact, "msg_contact", django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED and event.written_at is None


def written_event(integration, number: int, received_at: datetime, seconds: float) -> WebhookEvent:
    run = SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.WEBHOOK,
        status=RunStatus.SUCCEEDED,
        queued_at=received_at,
        started_at=received_at,
        finished_at=received_at + timedelta(seconds=seconds),
    )
    return WebhookEvent.objects.create(
        receiver=integration.erp_connection.webhook_receiver,
        received_at=received_at,
        delivery_id=f"msg_{number}",
        verdict=WebhookVerdict.ACCEPTED,
        status=WebhookEventStatus.PROCESSED,
        run=run,
        processed_at=received_at + timedelta(seconds=seconds),
        written_at=received_at + timedelta(seconds=seconds),
    )


def test_the_latency_figures_are_p50_and_p95_of_the_last_7_days(shop, login_as):
    for number in range(1, 21):  # 1 s … 20 s
        written_event(shop, number, NOW - timedelta(hours=number), seconds=number)
    written_event(shop, 99, NOW - timedelta(days=8), seconds=600)  # older than 7 days: not counted
    SyncRun.objects.create(  # a poll of a minute: the average duration is the polls'
        integration=shop,
        trigger=Trigger.SCHEDULE,
        status=RunStatus.SUCCEEDED,
        queued_at=NOW - timedelta(hours=1),
        started_at=NOW - timedelta(hours=1),
        finished_at=NOW - timedelta(minutes=59),
    )

    with time_machine.travel(NOW, tick=False):
        health = integration_health(shop, NOW)
        supervisor = login_as(SUPERVISOR)
        page = page_of(supervisor, shop)
        dashboard = html.unescape(supervisor.get(reverse("admin:index")).content.decode())
        [row] = [
            row
            for row in supervisor.get(reverse("admin:dashboard_data")).json()["integrations"]
            if row["id"] == shop.pk
        ]

    assert health.webhook_events_7d == 20
    assert (health.webhook_p50, health.webhook_p95) == (timedelta(seconds=10), timedelta(seconds=19))  # nearest rank
    assert health.avg_duration == timedelta(minutes=1)  # the webhook runs' seconds do not dilute it
    assert "p50 10.0 s, p95 19.0 s" in page and "from received to written, over 20 events" in page
    assert "webhooks p50 10.0 s · p95 19.0 s" in dashboard
    assert row["webhook_latency"] == {
        "events": 20,
        "p50_seconds": 10.0,
        "p95_seconds": 19.0,
        "text": "webhooks p50 10.0 s · p95 19.0 s",
    }


def test_the_dashboard_says_nothing_of_webhooks_for_an_integration_without_them(integration, login_as):
    health = integration_health(integration, NOW)
    assert health.webhook_events_7d == 0 and health.webhook_p95 is None
    supervisor = login_as(SUPERVISOR)
    assert "dash-webhooks" not in supervisor.get(reverse("admin:index")).content.decode()
    assert "Webhook latency" not in page_of(supervisor, integration)


def test_the_inbox_shows_each_events_latency(shop, login_as):
    written_event(shop, 1, NOW - timedelta(hours=1), seconds=2.5)
    waiting = written_event(shop, 2, NOW - timedelta(hours=2), seconds=1)
    WebhookEvent.objects.filter(pk=waiting.pk).update(written_at=None)

    page = login_as(SUPERVISOR).get(reverse("admin:monitoring_webhookevent_changelist"))

    cells = re.findall(r'<td class="field-latency">(.*?)</td>', html.unescape(page.content.decode()))
    assert cells == ["2.5 s", "—"]  # newest first
