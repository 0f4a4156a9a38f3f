"""Several writes in flight: a target connection's ``max_in_flight`` calls at once, each record still written once.

Against real local servers (``FakeRestApi``, threaded, with added latency). The chaos variant (500s, 429
with ``Retry-After``, dropped connections and timeouts on the demo systems) is in ``test_chaos.py``.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from monitoring.choices import RecordAction, RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, SyncRun, TableRun
from monitoring.tasks import maintenance
from sync.engine import execute_run, queue_run
from sync.models import Connection, ConnectionBudget, FieldMapping, RecordLink, SyncTable

from .builders import rest_to_rest, two_rest_apis

KEY = "in-flight-key-51d2"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # the portal's time zone in the tests


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


def contact_integration(source, target, *, in_flight: int, page_size: int = 20, **target_fields):
    integration = rest_to_rest(source, target, api_key=KEY, name="ERP ↔ CRM", page_size=page_size, max_retries=1)
    Connection.objects.filter(pk=integration.crm_connection_id).update(max_in_flight=in_flight, **target_fields)
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Email",
        target_key="Id",
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Email", target_field="Email")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name")
    FieldMapping.objects.create(
        table=table, position=3, source_path="Employees", target_field="Employees", value_type="integer"
    )
    return integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def add_people(source, count: int) -> list[dict]:
    return [
        source.add_contact(Email=f"person{number:03d}@example.com", Name=f"Pessoa {number}", Employees=str(number))
        for number in range(count)
    ]


def assert_target_holds_each_once(target, people):
    held = target.contacts()
    assert sorted(row["Email"] for row in held) == sorted(person["Email"] for person in people)
    by_email = {row["Email"]: row for row in held}
    for person in people:
        row = by_email[person["Email"]]
        assert row["Name"] == person["Name"]
        assert row["Employees"] == int(person["Employees"]) and isinstance(row["Employees"], int)
    links = dict(RecordLink.objects.values_list("source_key", "target_key"))
    assert links == {row["Email"]: str(row["Id"]) for row in held}


@pytest.mark.django_db
def test_eight_in_flight_write_every_record_once_with_its_values(systems):
    source, target = systems
    people = add_people(source, 60)
    target.latency = 0.05
    integration = contact_integration(source, target, in_flight=8)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    assert 2 <= target.most_in_flight <= 8  # several at once, never more than the connection allows
    assert_target_holds_each_once(target, people)
    assert len(target.requests_to("/Contacts", "POST")) == 60
    table_run = TableRun.objects.get(run=sync_run)
    assert (table_run.read, table_run.created, table_run.failed) == (60, 60, 0)
    created = RecordEvent.objects.filter(run=sync_run, action=RecordAction.CREATED)
    assert sorted(created.values_list("record_key", flat=True)) == sorted(p["Email"] for p in people)
    assert RequestLog.objects.filter(run=sync_run, method="POST").count() == 60

    again = run(integration)  # nothing changed: nothing is written
    assert TableRun.objects.get(run=again).unchanged == 60
    assert len(target.requests_to("/Contacts", "POST")) == 60


@pytest.mark.django_db
def test_one_in_flight_never_overlaps_calls(systems):
    source, target = systems
    people = add_people(source, 10)
    target.latency = 0.02
    integration = contact_integration(source, target, in_flight=1)

    assert run(integration).status == RunStatus.SUCCEEDED
    assert target.most_in_flight == 1
    assert_target_holds_each_once(target, people)


@pytest.mark.django_db
@pytest.mark.parametrize("in_flight", [1, 8])
def test_a_key_twice_in_one_page_is_created_once_then_updated(systems, in_flight):
    source, target = systems
    source.add_contact(Email="twice@example.com", Name="First spelling", Employees="5")
    others = add_people(source, 5)
    source.add_contact(Email="twice@example.com", Name="Second spelling", Employees="6")
    target.latency = 0.02
    integration = contact_integration(source, target, in_flight=in_flight)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    [twice] = target.contacts(Email="twice@example.com")
    assert (twice["Name"], twice["Employees"]) == ("Second spelling", 6)
    assert len(target.requests_to("/Contacts", "POST")) == 6  # five others and the first of the two
    assert len(target.requests_to(f"/Contacts({twice['Id']})", "PATCH")) == 1
    assert_target_holds_each_once(target, [*others, {"Email": "twice@example.com", **twice, "Employees": "6"}])


@pytest.mark.django_db
def test_a_run_stopped_by_a_refused_login_keeps_the_links_of_writes_in_flight(systems):
    source, target = systems
    people = add_people(source, 40)
    target.latency = 0.03
    integration = contact_integration(source, target, in_flight=8, page_size=40)
    target.fail_next(1, status=401, method="POST", body={"error": {"message": "Token revoked"}})

    stopped = run(integration)

    assert stopped.status == RunStatus.FAILED
    assert "401" in str(stopped.error) or "refused" in str(stopped.error).lower(), stopped.error
    written = target.contacts()
    assert 0 < len(written) < 40  # the writes already in flight finished; no new ones started
    linked = dict(RecordLink.objects.values_list("source_key", "target_key"))
    assert linked == {row["Email"]: str(row["Id"]) for row in written}  # what they wrote is linked
    assert not RecordError.objects.exists()  # not a record's fault: nothing in the review queue

    finished = run(integration)

    assert finished.status == RunStatus.SUCCEEDED, finished.error
    assert_target_holds_each_once(target, people)


@pytest.mark.django_db(transaction=True)
def test_writes_in_flight_book_the_shared_rate_budget_in_the_database_from_their_threads(systems, settings):
    settings.REDIS_URL = ""  # the budget in its database row, booked from each write's thread
    source, target = systems
    people = add_people(source, 12)
    integration = contact_integration(source, target, in_flight=4, rate_limit_per_minute=6000)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    assert_target_holds_each_once(target, people)
    assert ConnectionBudget.objects.filter(connection_id=integration.crm_connection_id).exists()


@pytest.mark.django_db(transaction=True)
def test_a_quota_reached_with_writes_in_flight_pauses_and_the_resume_writes_the_rest_once(systems):
    source, target = systems
    people = add_people(source, 30)
    target.latency = 0.02
    integration = contact_integration(source, target, in_flight=8, page_size=10, daily_call_limit=45)
    integration.activated_at = datetime(2026, 12, 3, 8, 0, tzinfo=SAO_PAULO)
    integration.save()

    with time_machine.travel(datetime(2026, 12, 3, 23, 10, tzinfo=SAO_PAULO), tick=True):
        paused = run(integration)

    assert paused.status == RunStatus.PAUSED, paused.error
    assert "daily quota reached (45 of 45 calls today)" in str(paused.error)
    written = target.contacts()
    assert len(target.received) == 45  # a lookup and a create a record: never a call past the quota
    assert 0 < len(written) < 30
    linked = dict(RecordLink.objects.values_list("source_key", "target_key"))
    assert linked == {row["Email"]: str(row["Id"]) for row in written}  # the writes in flight were noted
    assert not RecordError.objects.exists()
    assert not RecordEvent.objects.filter(action=RecordAction.FAILED).exists()

    with time_machine.travel(datetime(2026, 12, 4, 0, 0, 30, tzinfo=SAO_PAULO), tick=True):
        [resumed] = maintenance()["resumed"]

    again = SyncRun.objects.get(pk=resumed)
    assert again.status == RunStatus.SUCCEEDED, (again.error, len(target.received))
    assert_target_holds_each_once(target, people)
