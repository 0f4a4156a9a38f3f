"""A run that reaches a connection's quota pauses, says until when, and resumes once when the quota is back.

The portal's time zone in the tests is America/Sao_Paulo (UTC-3, no DST).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import lxml.html
import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from accounts.roles import SUPERVISOR
from monitoring import state
from monitoring.alerts import evaluate_all
from monitoring.choices import AlertKind, HealthStatus, RecordAction, RunStatus, Trigger
from monitoring.models import Alert, IntegrationState, RecordError, RecordEvent, SyncRun, TableRun
from monitoring.status import integration_health
from monitoring.tasks import maintenance
from sync.choices import ScheduleKind
from sync.connectors.base import QuotaReached
from sync.engine import IntegrationSync, execute_run, queue_run
from sync.models import FieldMapping, RecordLink, SyncTable
from sync.resumes import resume

from .builders import build_integration, finish_runs_at_once, rest_to_rest, two_rest_apis

pytestmark = pytest.mark.django_db
KEY = "quota-key-5e1b"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
QUOTA_WORDS = "daily quota reached (120000 of 120000 calls today)"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SAO_PAULO)


@pytest.fixture
def orders(erp_connection, crm_connection):
    return build_integration(
        erp_connection, crm_connection, name="Orders ↔ CRM", activated_at=local(2026, 12, 3, 8, 0), table="Order"
    )


def paused_run(integration, at: datetime, until: datetime, words=QUOTA_WORDS) -> SyncRun:
    """A run started at ``at`` that reached its quota there, until ``until``: what the engine does with it."""
    with time_machine.travel(at, tick=False):
        run = queue_run(integration, Trigger.SCHEDULE)
        run.start()
        IntegrationSync(run).pause(QuotaReached(words, until=until.timestamp()))
    run.refresh_from_db()
    return run


def health_at(integration, at: datetime, language="en"):
    with translation.override(language):
        health = integration_health(integration, at, SAO_PAULO)
        return health.status, health.reason


def test_the_run_says_until_when_and_why_in_the_readers_language(orders):
    run = paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))

    assert run.status == RunStatus.PAUSED
    assert run.resume_at == local(2026, 12, 3, 14, 2)
    assert run.finished_at == local(2026, 12, 3, 11, 40)
    with translation.override("en"):
        assert str(run.error) == f"Paused until 14:02: {QUOTA_WORDS}"
    with translation.override("pt-br"):
        assert str(run.error) == f"Pausada até 14:02: {QUOTA_WORDS}"


def test_a_resume_on_another_day_says_the_date(orders):
    run = paused_run(orders, local(2026, 12, 3, 23, 50), until=local(2026, 12, 4, 0, 0))

    assert str(run.error) == f"Paused until 2026-12-04 00:00: {QUOTA_WORDS}"


def test_the_health_says_paused_until_when_and_why(orders):
    paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))

    assert health_at(orders, local(2026, 12, 3, 12, 0)) == (HealthStatus.PAUSED, f"Until 14:02: {QUOTA_WORDS}")
    assert health_at(orders, local(2026, 12, 3, 12, 0), "pt-br") == (
        HealthStatus.PAUSED,
        f"Até 14:02: {QUOTA_WORDS}",
    )
    assert not state.differences()


def test_a_quota_does_not_excuse_the_time_without_success(orders):
    paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 5, 0, 0))

    status, reason = health_at(orders, local(2026, 12, 4, 9, 0))  # switched on at 8:00 the day before, max 24 h

    assert status == HealthStatus.ALERT
    assert reason.startswith("No success since it was switched on")
    evaluate_all(local(2026, 12, 4, 9, 0))
    assert Alert.objects.get(integration=orders).kind == AlertKind.NO_SUCCESS


def test_the_maintenance_after_the_moment_queues_exactly_one_resume(orders, monkeypatch):
    finish_runs_at_once(monkeypatch)
    run = paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))

    with time_machine.travel(local(2026, 12, 3, 14, 1), tick=False):
        assert maintenance()["resumed"] == []
    with time_machine.travel(local(2026, 12, 3, 14, 2, 30), tick=False):
        [resumed] = maintenance()["resumed"]
        assert maintenance()["resumed"] == []  # the next tick finds nothing to resume

    again = SyncRun.objects.get(pk=resumed)
    assert again.trigger == Trigger.RESUME and again.status == RunStatus.SUCCEEDED
    assert SyncRun.objects.filter(trigger=Trigger.RESUME).count() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED and run.resume_at is None  # its history stays; its resume is claimed
    assert health_at(orders, local(2026, 12, 3, 14, 3))[0] == HealthStatus.HEALTHY
    assert not state.differences()


def test_two_claimers_of_one_pause_one_wins(orders):
    run = paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))
    now = local(2026, 12, 3, 14, 5)
    # The second claimer read the paused run before the first cleared its moment: its update finds no row.
    stale = SyncRun.objects.get(pk=run.pk)
    first = resume(run.pk, now)
    assert SyncRun.objects.filter(pk=run.pk, resume_at=stale.resume_at).update(resume_at=None) == 0

    assert first is not None and first.trigger == Trigger.RESUME
    assert resume(run.pk, now) is None
    assert SyncRun.objects.filter(trigger=Trigger.RESUME).count() == 1


def test_a_run_now_since_the_pause_covers_it(orders, monkeypatch):
    finish_runs_at_once(monkeypatch)
    run = paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))
    with time_machine.travel(local(2026, 12, 3, 13, 0), tick=False):
        manual = queue_run(orders, Trigger.MANUAL)
        manual.start()
        manual.finish(RunStatus.SUCCEEDED)

    with time_machine.travel(local(2026, 12, 3, 14, 3), tick=False):
        assert maintenance()["resumed"] == []

    run.refresh_from_db()
    assert run.resume_at is None
    assert not SyncRun.objects.filter(trigger=Trigger.RESUME).exists()
    assert not state.differences()


def test_a_slot_due_while_paused_is_skipped_with_the_reason(orders, monkeypatch):
    finish_runs_at_once(monkeypatch)
    orders.schedule_kind, orders.schedule_interval_minutes = ScheduleKind.INTERVAL, 60
    with time_machine.travel(local(2026, 12, 3, 11, 0), tick=False):
        orders.save()
    IntegrationState.objects.filter(pk=orders.pk).update(next_run_at=local(2026, 12, 3, 12, 0))
    paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))

    with time_machine.travel(local(2026, 12, 3, 12, 0, 30), tick=False):
        result = maintenance()

    assert result["claimed_slots"] == []
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert skipped.scheduled_for == local(2026, 12, 3, 12, 0)
    with translation.override("en"):
        assert str(skipped.error) == f"Scheduled run skipped: the integration is paused until 14:02: {QUOTA_WORDS}"
    with translation.override("pt-br"):
        assert str(skipped.error) == (f"Execução agendada pulada: a integração está pausada até 14:02: {QUOTA_WORDS}")
    assert IntegrationState.objects.get(pk=orders.pk).next_run_at == local(2026, 12, 3, 13, 0)
    assert health_at(orders, local(2026, 12, 3, 12, 1)) == (HealthStatus.PAUSED, f"Until 14:02: {QUOTA_WORDS}")
    assert not state.differences()


def test_rebuilding_the_state_finds_the_pause(orders):
    run = paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))
    IntegrationState.objects.filter(pk=orders.pk).update(paused_run=None)

    assert state.differences() == [f"integration {orders.pk} paused_run_id: stored None, recomputed {run.pk}"]
    state.rebuild()
    assert not state.differences()
    assert IntegrationState.objects.get(pk=orders.pk).paused_run_id == run.pk
    assert timedelta(0) < run.resume_at - run.finished_at


# ---------------------------------------------------------------- against real local servers


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


@pytest.fixture
def contacts(systems):
    """Contacts from a legacy REST system to a CRM that allows 15 calls a day; pages of 5."""
    source, target = systems
    integration = rest_to_rest(source, target, api_key=KEY, name="Legacy ↔ CRM", page_size=5, max_retries=0)
    integration.crm_connection.daily_call_limit = 15
    integration.crm_connection.save()
    integration.activated_at = local(2026, 12, 3, 8, 0)
    integration.save()
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Email",
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Email", target_field="Email")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name")
    return integration


def in_target(target) -> dict[str, dict]:
    """What the CRM holds, by e-mail; a record written twice would show as a second row of the same e-mail."""
    rows = target.contacts()
    assert len({row["Email"] for row in rows}) == len(rows), "a record was written twice"
    return {row["Email"]: {"Email": row["Email"], "Name": row["Name"]} for row in rows}


def written(people) -> dict[str, dict]:
    return {person["Email"]: {"Email": person["Email"], "Name": person["Name"]} for person in people}


def test_a_quota_reached_mid_table_pauses_the_run_and_the_resume_writes_the_rest_once(contacts, systems):
    source, target = systems
    people = [source.add_contact(Email=f"p{n:02d}@example.com", Name=f"Person {n:02d}") for n in range(1, 13)]

    with time_machine.travel(local(2026, 12, 3, 23, 10), tick=True):
        run = execute_run(queue_run(contacts, Trigger.MANUAL).pk)

    # 15 calls today, two a record (looked up by key, then created): the first page (5 records), two of the
    # second, and the lookup of the third, whose create would be the 16th call.
    assert run.status == RunStatus.PAUSED, str(run.error)
    with translation.override("en"):
        assert str(run.error) == "Paused until 2026-12-04 00:00: daily quota reached (15 of 15 calls today)"
        assert str(run.get_status_display()) == "Paused"
    with translation.override("pt-br"):
        assert str(run.error) == f"Pausada até 2026-12-04 00:00: {run.pause_reason}"
    assert run.resume_at == local(2026, 12, 4, 0, 0)
    assert in_target(target) == written(people[:7])
    assert len(target.received) == 15
    [table_run] = TableRun.objects.filter(run=run)
    assert (table_run.status, table_run.read, table_run.created, table_run.failed) == (RunStatus.PAUSED, 7, 7, 0)
    assert RecordLink.objects.count() == 7
    assert not RecordEvent.objects.filter(action=RecordAction.FAILED).exists()
    assert not RecordError.objects.exists()
    table = SyncTable.objects.get(integration=contacts)
    assert table.resume_token  # the second page is read again
    assert health_at(contacts, local(2026, 12, 3, 23, 11)) == (
        HealthStatus.PAUSED,
        "Until 12/04/2026 midnight: daily quota reached (15 of 15 calls today)",
    )
    with translation.override("pt-br"):
        quota_words = str(run.pause_reason)
    assert health_at(contacts, local(2026, 12, 3, 23, 11), "pt-br") == (
        HealthStatus.PAUSED,
        f"Até 04/12/2026 00:00: {quota_words}",
    )

    with time_machine.travel(local(2026, 12, 3, 23, 59), tick=False):
        assert maintenance()["resumed"] == []
    with time_machine.travel(local(2026, 12, 4, 0, 0, 30), tick=True):
        [resumed] = maintenance()["resumed"]  # the run is carried out at once: the tests' workers are inline
        assert maintenance()["resumed"] == []

    again = SyncRun.objects.get(pk=resumed)
    assert (again.trigger, again.status) == (Trigger.RESUME, RunStatus.SUCCEEDED), str(again.error)
    assert SyncRun.objects.filter(integration=contacts).count() == 2
    assert in_target(target) == written(people)
    assert len(target.requests_to("/Contacts", "POST")) == 12
    [resumed_table] = TableRun.objects.filter(run=again)
    assert (resumed_table.read, resumed_table.created, resumed_table.unchanged, resumed_table.failed) == (7, 5, 2, 0)
    assert RecordLink.objects.count() == 12
    assert not RecordEvent.objects.filter(action=RecordAction.FAILED).exists()
    assert not RecordError.objects.exists()
    assert not SyncTable.objects.get(pk=table.pk).resume_token
    assert health_at(contacts, local(2026, 12, 4, 0, 2))[0] == HealthStatus.HEALTHY
    assert not state.differences()


def test_the_run_page_and_the_integration_page_say_why_no_run_went(orders, login_as, monkeypatch):
    finish_runs_at_once(monkeypatch)
    orders.schedule_kind, orders.schedule_interval_minutes = ScheduleKind.INTERVAL, 60
    with time_machine.travel(local(2026, 12, 3, 11, 0), tick=False):
        orders.save()
    IntegrationState.objects.filter(pk=orders.pk).update(next_run_at=local(2026, 12, 3, 12, 0))
    run = paused_run(orders, local(2026, 12, 3, 11, 40), until=local(2026, 12, 3, 14, 2))
    with time_machine.travel(local(2026, 12, 3, 12, 0, 30), tick=False):
        maintenance()
    client = login_as(SUPERVISOR)

    with time_machine.travel(local(2026, 12, 3, 12, 1), tick=False):
        run_page = page_text(client.get(reverse("admin:run", args=[run.pk]), headers={"accept-language": "pt-br"}))
        integration_page = page_text(client.get(reverse("admin:integration", args=[orders.pk])))

    assert f"Pausada até 14:02: {QUOTA_WORDS}" in run_page
    assert "Retoma em 03/12/2026 14:02" in run_page
    assert f"Orders ↔ CRM Paused Until 14:02: {QUOTA_WORDS}" in integration_page  # the status and its reason
    # The run log: the skipped slot, then the paused run, each with its badge and why.
    skipped = SyncRun.objects.get(integration=orders, status=RunStatus.SKIPPED)
    assert (
        f"Schedule Skipped Scheduled run skipped: the integration is paused until 14:02: {QUOTA_WORDS} — 0 0 0 0 "
        f"Run #{skipped.pk}" in integration_page
    )
    assert f"Schedule Paused Paused until 14:02: {QUOTA_WORDS} 0.0 s 0 0 0 0 Run #{run.pk}" in integration_page


def page_text(response) -> str:
    assert response.status_code == 200
    document = lxml.html.fromstring(response.content.decode())
    return " ".join(" ".join(document.itertext()).split())


def test_an_api_that_says_its_daily_quota_is_spent_pauses_the_run_until_midnight(contacts, systems):
    source, target = systems
    crm = contacts.crm_connection
    crm.daily_call_limit, crm.max_retries = None, 1  # no limit of its own: the CRM says when its quota is spent
    crm.save()
    people = [source.add_contact(Email=f"p{n:02d}@example.com", Name=f"Person {n:02d}") for n in range(1, 13)]
    # HubSpot's answer once its daily quota is spent: 429, its daily remaining at 0.
    target.fail_next(1, status=429, method="POST", body={"status": "error", "message": "You have reached your limit."})
    target.faults[-1].headers["X-HubSpot-RateLimit-Daily-Remaining"] = "0"

    with time_machine.travel(local(2026, 12, 3, 16, 0), tick=True):
        run = execute_run(queue_run(contacts, Trigger.MANUAL).pk)

    assert run.status == RunStatus.PAUSED, str(run.error)
    assert str(run.error) == "Paused until 2026-12-04 00:00: the API says its daily quota is spent"
    assert in_target(target) == {}
    assert len(target.requests_to("/Contacts", "POST")) == 1  # the refused create was not sent again
    assert not RecordError.objects.exists()
    assert not RecordEvent.objects.filter(action=RecordAction.FAILED).exists()

    with time_machine.travel(local(2026, 12, 4, 0, 1), tick=True):
        [resumed] = maintenance()["resumed"]

    assert SyncRun.objects.get(pk=resumed).status == RunStatus.SUCCEEDED
    assert in_target(target) == written(people)
    assert len(target.requests_to("/Contacts", "POST")) == 13  # the refused one, then each record once
