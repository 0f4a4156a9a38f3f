"""The engine's pipeline, against in-memory systems behind the connector interface."""

import pytest

from monitoring.choices import AlertKind, ErrorStatus, RecordAction, RunStatus, Trigger
from monitoring.models import Alert, HeldDelete, RecordError, RecordEvent, RequestLog, TableRun
from sync.connectors.base import ConnectorError
from sync.engine import AlreadyRunning, execute_run, queue_run, retry_errors
from sync.models import FieldMapping, RecordLink, StagedRecord, SyncTable

from .memory_connector import Crash, MemoryConnector, MemorySystem

pytestmark = pytest.mark.django_db

VALID_CNPJS = [
    "11.222.333/0001-81",
    "11.444.777/0001-61",
    "45.723.174/0001-10",
    "60.746.948/0001-12",
    "33.000.167/0001-01",
]


@pytest.fixture
def systems():
    return {"erp": MemorySystem(), "crm": MemorySystem()}


@pytest.fixture
def table(integration):
    table = integration.tables.get()
    table.source_object, table.target_object, table.update_object = "customers", "Companies", "Companies"
    table.filter_rules = [{"name": "approved credit", "field": "Credit", "op": "eq", "value": "A"}]
    table.save()
    table.mappings.all().delete()
    FieldMapping.objects.create(table=table, position=1, source_path="CNPJ", target_field="CNPJ", transform="cnpj")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name", transform="trim")
    FieldMapping.objects.create(table=table, position=3, source_path="Code", target_field="ErpCode")
    return table


def seed_customers(system, count=5, **overrides):
    for number in range(count):
        system.rows("customers")[str(number)] = {
            "Code": f"C{number:03d}",
            "CNPJ": VALID_CNPJS[number % len(VALID_CNPJS)].replace(".", "").replace("/", "").replace("-", ""),
            "Name": f"  Company {number} ",
            "Credit": "A",
            **overrides,
        }


def memory_connectors(integration, systems):
    def connectors(connection, call_log):
        system = systems["erp"] if connection.pk == integration.erp_connection_id else systems["crm"]
        return MemoryConnector(system, page_size=2, call_log=call_log)

    return connectors


def run_once(integration, systems, trigger=Trigger.MANUAL):
    run = queue_run(integration, trigger)
    return execute_run(run.pk, connectors=memory_connectors(integration, systems))


def counts(run):
    table_run = TableRun.objects.get(run=run)
    return {name: getattr(table_run, name) for name in ("read", "created", "updated", "unchanged", "skipped", "failed")}


def assert_read_equals_outcomes(run):
    for table_run in TableRun.objects.filter(run=run):
        outcomes = sum(
            getattr(table_run, a) for a in ("created", "updated", "unchanged", "skipped", "deleted", "held", "failed")
        )
        assert table_run.read == outcomes
        assert RecordEvent.objects.filter(run=run, table=table_run.table).count() == table_run.read


def test_first_run_creates_everything_and_second_changes_nothing(integration, table, systems):
    seed_customers(systems["erp"], 5)
    run = run_once(integration, systems)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert counts(run) == {"read": 5, "created": 5, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    companies = systems["crm"].rows("Companies")
    assert sorted(c["Name"] for c in companies.values()) == [f"Company {n}" for n in range(5)]
    assert {c["CNPJ"] for c in companies.values()} >= {"11.222.333/0001-81"}
    assert RecordLink.objects.filter(table=table).count() == 5
    assert StagedRecord.objects.filter(table=table).count() == 5
    assert RequestLog.objects.filter(run=run).count() == len(systems["erp"].calls) + len(systems["crm"].calls)
    assert_read_equals_outcomes(run)

    second = run_once(integration, systems)
    assert counts(second) == {"read": 5, "created": 0, "updated": 0, "unchanged": 5, "skipped": 0, "failed": 0}
    assert len(systems["crm"].rows("Companies")) == 5


def test_a_changed_record_is_updated(integration, table, systems):
    seed_customers(systems["erp"], 3)
    run_once(integration, systems)
    systems["erp"].rows("customers")["1"]["Name"] = "Renamed Ltda"
    run = run_once(integration, systems)
    assert counts(run)["updated"] == 1 and counts(run)["unchanged"] == 2
    assert "Renamed Ltda" in [c["Name"] for c in systems["crm"].rows("Companies").values()]


def test_rules_skip_with_their_name_and_bad_records_go_to_the_review_queue(integration, table, systems):
    seed_customers(systems["erp"], 4)
    systems["erp"].rows("customers")["0"]["Credit"] = "B"
    systems["erp"].rows("customers")["1"]["CNPJ"] = "12345678000100"
    run = run_once(integration, systems)
    assert run.status == RunStatus.PARTIAL
    assert counts(run) == {"read": 4, "created": 2, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 1}
    skipped = RecordEvent.objects.get(run=run, action=RecordAction.SKIPPED)
    assert "approved credit" in skipped.message
    error = RecordError.objects.get()
    assert error.record_key == "12345678000100"
    assert error.payload["Code"] == "C001"
    assert "is invalid" in error.reason
    assert error.status == ErrorStatus.OPEN and error.attempts == 1
    assert_read_equals_outcomes(run)

    run_once(integration, systems)
    error.refresh_from_db()
    assert error.attempts == 2 and RecordError.objects.count() == 1

    table.mappings.filter(source_path="CNPJ").update(transform="digits")  # IT fixes the mapping
    retry = retry_errors([error], connectors=memory_connectors(integration, systems))
    assert retry.status == RunStatus.SUCCEEDED
    assert "12345678000100" in [c["CNPJ"] for c in systems["crm"].rows("Companies").values()]
    error.refresh_from_db()
    assert error.status == ErrorStatus.RESOLVED


def test_each_record_without_a_key_gets_its_own_review_queue_entry_and_keeps_it(integration, table, systems):
    seed_customers(systems["erp"], 2)
    customers = systems["erp"].rows("customers")
    customers["7"] = {"Code": "C007", "Name": "Keyless one", "Credit": "A"}
    customers["8"] = {"Code": "C008", "CNPJ": "  ", "Name": "Keyless two", "Credit": "A"}

    run = run_once(integration, systems)
    assert counts(run) == {"read": 4, "created": 2, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 2}
    queue = {error.payload["Code"]: error for error in RecordError.objects.all()}
    assert sorted(queue) == ["C007", "C008"]  # two entries, not the last one written over the first
    assert queue["C007"].payload == customers["7"] and queue["C008"].payload == customers["8"]
    keys = {code: error.record_key for code, error in queue.items()}
    assert all(key.startswith("(no CNPJ) ") for key in keys.values()) and keys["C007"] != keys["C008"]
    assert all(error.reason == 'The record has no value in its key field "CNPJ".' for error in queue.values())
    failed_events = RecordEvent.objects.filter(run=run, action=RecordAction.FAILED)
    assert sorted(failed_events.values_list("record_key", flat=True)) == sorted(keys.values())

    run_once(integration, systems)  # the same bad records again: the same entries, one more attempt each
    assert {error.payload["Code"]: (error.record_key, error.attempts) for error in RecordError.objects.all()} == {
        "C007": (keys["C007"], 2),
        "C008": (keys["C008"], 2),
    }

    retry = retry_errors(list(RecordError.objects.all()), connectors=memory_connectors(integration, systems))
    assert retry.status == RunStatus.PARTIAL  # still without a key: each fails again on its own entry
    assert {error.payload["Code"]: (error.record_key, error.attempts) for error in RecordError.objects.all()} == {
        "C007": (keys["C007"], 3),
        "C008": (keys["C008"], 3),
    }


def test_a_record_level_target_error_fails_the_record_not_the_run(integration, table, systems):
    seed_customers(systems["erp"], 3)
    systems["crm"].fail_next["create"] = [
        ConnectorError("CNPJ already used by another company", record_level=True, status_code=400)
    ]
    run = run_once(integration, systems)
    assert run.status == RunStatus.PARTIAL
    assert counts(run)["failed"] == 1 and counts(run)["created"] == 2
    assert RecordError.objects.get().reason == "CNPJ already used by another company"


def test_a_broken_endpoint_fails_the_run_with_a_readable_reason(integration, table, systems):
    seed_customers(systems["erp"], 3)
    systems["erp"].fail_next["read"] = [ConnectorError("The ERP answered 503 Service Unavailable", retryable=True)]
    run = run_once(integration, systems)
    assert run.status == RunStatus.FAILED
    assert run.error == "Company: The ERP answered 503 Service Unavailable"
    assert TableRun.objects.get(run=run).status == RunStatus.FAILED
    run = run_once(integration, systems)  # the lock was released
    assert run.status == RunStatus.SUCCEEDED


def test_a_run_killed_mid_table_resumes_without_duplicates(integration, table, systems):
    seed_customers(systems["erp"], 5)
    systems["crm"].crash_after_writes = 3  # dies right after the 3rd create: its link was never committed
    with pytest.raises(Crash):
        run_once(integration, systems)
    assert len(systems["crm"].rows("Companies")) == 3
    assert RecordLink.objects.count() == 2  # only the first page (2 records) was committed
    from monitoring.models import SyncRun

    dead = SyncRun.objects.get()
    dead.finish(RunStatus.ABANDONED, "worker died")  # what the reaper does
    systems["crm"].crash_after_writes = None
    run = run_once(integration, systems)
    assert run.status == RunStatus.SUCCEEDED, run.error
    companies = systems["crm"].rows("Companies")
    assert len(companies) == 5
    assert len({c["ErpCode"] for c in companies.values()}) == 5
    assert RecordLink.objects.count() == 5
    assert_read_equals_outcomes(run)
    assert not SyncTable.objects.get(pk=table.pk).resume_token


def test_deletes_beyond_the_threshold_are_held_not_applied(integration, table, systems):
    table.delete_policy, table.delete_threshold = "delete", 2
    table.save()
    seed_customers(systems["erp"], 5)
    run_once(integration, systems)
    for key in ("0", "1", "2"):
        del systems["erp"].rows("customers")[key]
    run = run_once(integration, systems)
    assert len(systems["crm"].rows("Companies")) == 5  # nothing deleted
    table_run = TableRun.objects.get(run=run)
    assert (table_run.held, table_run.unchanged, table_run.read) == (3, 2, 5)
    assert HeldDelete.objects.filter(status="pending").count() == 3
    assert Alert.objects.get().kind == AlertKind.DELETES_HELD
    run_once(integration, systems)
    assert HeldDelete.objects.filter(status="pending").count() == 3  # not held twice
    assert Alert.objects.count() == 1


def test_deletes_within_the_threshold_are_applied(integration, table, systems):
    table.delete_policy, table.delete_threshold = "delete", 2
    table.save()
    seed_customers(systems["erp"], 4)
    run_once(integration, systems)
    del systems["erp"].rows("customers")["3"]
    run = run_once(integration, systems)
    assert TableRun.objects.get(run=run).deleted == 1
    assert len(systems["crm"].rows("Companies")) == 3
    assert RecordLink.objects.count() == 3


def test_a_second_trigger_while_running_is_refused(integration):
    queue_run(integration, Trigger.SCHEDULE)
    with pytest.raises(AlreadyRunning, match="already queued or running"):
        queue_run(integration, Trigger.MANUAL)


def test_reading_from_another_object_starts_over(integration, table, systems):
    seed_customers(systems["erp"], 2, Updated="2026-01-02T00:00:00Z")
    table.cursor_field = "Updated"
    table.save()
    run_once(integration, systems)
    table.refresh_from_db()
    assert table.cursor_value == "2026-01-02T00:00:00Z"
    table.description = "renamed only"
    table.save()
    assert SyncTable.objects.get(pk=table.pk).cursor_value == "2026-01-02T00:00:00Z"
    table.source_object = "customers_v2"
    table.save()
    assert SyncTable.objects.get(pk=table.pk).cursor_value == ""


def test_a_rejected_delete_is_never_applied(integration, table, systems):
    table.delete_policy, table.delete_threshold = "delete", 0
    table.save()
    seed_customers(systems["erp"], 3)
    run_once(integration, systems)
    del systems["erp"].rows("customers")["0"]
    run_once(integration, systems)  # 1 delete > threshold 0: held
    HeldDelete.objects.update(status="rejected")
    table.delete_threshold = 5
    table.save()
    run = run_once(integration, systems)  # within the threshold now, but IT said no
    assert TableRun.objects.get(run=run).deleted == 0
    assert len(systems["crm"].rows("Companies")) == 3
