"""Nothing lost, nothing written twice, whatever a REST source (a real local server) sends.

- Outside text the databases refuse (NUL, lone UTF-16 halves, as .NET and JavaScript sources send
  them) is made storable when read: three runs write every key to the target exactly once, on
  SQLite and on PostgreSQL alike.
- Rules run before the key check: a record they skip is never a failure.
- An ignored record stays ignored until its data changes.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from core.storable import repaired_text
from monitoring.choices import ErrorStatus, RecordAction, RunStatus, Trigger
from monitoring.choices import RecordAction as Action
from monitoring.models import RecordError, RecordEvent, TableRun
from sync.engine import execute_run, queue_run
from sync.models import Connection, FieldMapping, RecordLink, StagedRecord, SyncTable

from .builders import rest_to_rest, two_rest_apis

pytestmark = pytest.mark.django_db

KEY = "outside-key-3c9e"
HALF_EMOJI = "\ud83d"  # the first half of 😀, cut off by the source


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


@pytest.fixture
def integration(systems):
    source, target = systems
    integration = rest_to_rest(source, target, api_key=KEY, name="Legacy ↔ CRM", page_size=50, max_retries=0)
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Email",
        filter_rules=[{"name": "customers only", "field": "Kind", "op": "eq", "value": "customer"}],
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Email", target_field="Email")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name")
    return integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def test_nul_and_lone_surrogates_in_values_and_keys_are_written_once_over_three_runs(integration, systems):
    source, target = systems
    source.add_contact(Email="nul@example.com", Name="Padaria\x00 Central", Kind="customer")
    source.add_contact(Email="emoji@example.com", Name=f"Loja Feliz {HALF_EMOJI}", Kind="customer")
    source.add_contact(Email=f"key{HALF_EMOJI}@example.com", Name="Key with half an emoji", Kind="customer")
    source.add_contact(Email="plain@example.com", Name="Plain Ltda", Kind="customer")

    runs = [run(integration) for _ in range(3)]

    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3, [str(r.error) for r in runs]
    in_target = sorted(contact["Email"] for contact in target.contacts())
    assert in_target == sorted(["nul@example.com", "emoji@example.com", "key\ufffd@example.com", "plain@example.com"])
    names = {contact["Email"]: contact["Name"] for contact in target.contacts()}
    assert names["nul@example.com"] == "Padaria Central"
    assert names["emoji@example.com"] == "Loja Feliz \ufffd"
    assert len(target.requests_to("/Contacts", "POST")) == 4  # each key written once, never again
    assert RecordLink.objects.count() == StagedRecord.objects.count() == 4
    first = TableRun.objects.get(run=runs[0])
    assert (first.read, first.created, first.failed) == (4, 4, 0)
    for later in runs[1:]:
        table_run = TableRun.objects.get(run=later)
        assert (table_run.read, table_run.unchanged, table_run.created) == (4, 4, 0)
    repaired = RecordEvent.objects.filter(run=runs[0], action=RecordAction.CREATED, message__contains="storable")
    assert sorted(repaired.values_list("record_key", flat=True)) == sorted(
        ["nul@example.com", "emoji@example.com", "key\ufffd@example.com"]
    )
    assert not RecordError.objects.exists()


def test_a_record_a_rule_skips_is_never_a_failure_even_without_a_key(integration, systems):
    source, target = systems
    source.add_contact(Name="A supplier without e-mail", Kind="supplier")
    source.add_contact(Email="x" * 250 + "@example.com", Name="Too long a key", Kind="customer")
    source.add_contact(Email="ok@example.com", Name="Fine", Kind="customer")

    sync_run = run(integration)

    table_run = TableRun.objects.get(run=sync_run)
    assert (table_run.read, table_run.skipped, table_run.created, table_run.failed) == (3, 1, 1, 1)
    [error] = RecordError.objects.all()
    assert error.status == ErrorStatus.OPEN and len(error.record_key) <= 200
    assert "longer than 200 characters" in str(error.reason)
    assert error.payload["Name"] == "Too long a key"
    assert [contact["Email"] for contact in target.contacts()] == ["ok@example.com"]


def test_repaired_text_reaches_keys_lists_and_nested_objects():
    record = {"a\x00": [f"x{HALF_EMOJI}", {"b": "\x00"}], "n": 1}
    assert repaired_text(record) == ({"a": ["x\ufffd", {"b": ""}], "n": 1}, True)
    untouched = {"a": ["x"]}
    assert repaired_text(untouched) == (untouched, False)


def test_an_ignored_record_stays_ignored_until_its_data_changes(integration, systems):
    source, target = systems
    name = FieldMapping.objects.get(target_field="Name")
    name.required = True
    name.save()
    nameless = source.add_contact(Email="nameless@example.com", Name="", Kind="customer")

    run(integration)  # no cursor: every run reads everything again
    error = RecordError.objects.get(record_key="nameless@example.com")
    error.status = ErrorStatus.IGNORED
    error.save()

    again = run(integration)
    assert list(RecordError.objects.values_list("status", flat=True)) == [ErrorStatus.IGNORED]
    event = RecordEvent.objects.get(run=again, record_key="nameless@example.com")
    assert (event.action, str(event.message)) == (
        Action.SKIPPED,
        "Ignored in the review queue: it comes back when its data changes.",
    )
    assert again.status == RunStatus.SUCCEEDED

    source.change(
        nameless["Id"], {"Name": "  "}, replace=False
    )  # still no name, but its data changed: a person must look again
    changed = run(integration)
    assert changed.status == RunStatus.PARTIAL
    assert sorted(RecordError.objects.values_list("status", flat=True)) == [ErrorStatus.IGNORED, ErrorStatus.OPEN]
    assert target.contacts() == []


def test_a_failed_record_is_retried_by_later_runs_even_after_the_cursor_moved_past_it(integration, systems, login_as):
    source, target = systems
    table = SyncTable.objects.get()
    table.cursor_field, table.incremental_filter = "LastUpdateDate", "$filter=LastUpdateDate gt {cursor}"
    table.save()
    name = FieldMapping.objects.get(target_field="Name")
    name.required = True
    name.save()
    source.add_contact(Email="late@example.com", Name="", Kind="customer", LastUpdateDate="2026-01-02T10:00:00Z")
    source.add_contact(Email="fine@example.com", Name="Fine", Kind="customer", LastUpdateDate="2026-01-03T10:00:00Z")

    with time_machine.travel(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False):
        first = run(integration)
        error = RecordError.objects.get(record_key="late@example.com")
        assert (first.status, error.attempts) == (RunStatus.PARTIAL, 1)
        assert error.next_retry_at == datetime(2026, 3, 2, 12, 5, tzinfo=UTC)  # in 5 minutes
        queue = login_as(SUPERVISOR).get(reverse("admin:integration_queue", args=[integration.pk])).content.decode()
        assert '<td data-next-retry><time datetime="2026-03-02T09:05:00-03:00">' in queue  # the portal's time zone
        name.required, name.default_value = False, "(no name)"  # IT fixes the mapping
        name.save()
        not_yet = run(integration)  # the cursor has moved past it: only its retry can bring it
        assert TableRun.objects.get(run=not_yet).read == 0
    with time_machine.travel(datetime(2026, 3, 2, 12, 6, tzinfo=UTC), tick=False):
        retried = run(integration)

    error.refresh_from_db()
    assert error.status == ErrorStatus.RESOLVED
    assert sorted((c["Email"], c["Name"]) for c in target.contacts()) == [
        ("fine@example.com", "Fine"),
        ("late@example.com", "(no name)"),
    ]
    assert TableRun.objects.get(run=retried).created == 1


def test_automatic_retries_back_off_then_wait_for_a_person(integration, systems, settings):
    settings.RECORD_RETRY_ATTEMPTS, settings.RECORD_RETRY_FIRST_DELAY = 2, 60
    source, _target = systems
    table = SyncTable.objects.get()
    table.cursor_field, table.incremental_filter = "LastUpdateDate", "$filter=LastUpdateDate gt {cursor}"
    table.save()
    FieldMapping.objects.filter(target_field="Name").update(required=True)
    source.add_contact(Email="never@example.com", Name="", Kind="customer", LastUpdateDate="2026-01-02T10:00:00Z")

    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    seen = []
    for minutes in (0, 1, 3, 10, 60):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            run(integration)
            error = RecordError.objects.get()
            seen.append((error.attempts, error.next_retry_at and error.next_retry_at - start))
    assert seen == [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=3)),  # 1 minute, then 2, …
        (3, None),  # two automatic retries spent: it waits for a person
        (3, None),
        (3, None),
    ]


def changelist_action(client, action, tables, **extra):
    data = {"action": action, "_selected_action": [table.pk for table in tables], **extra}
    return client.post(reverse("admin:sync_synctable_changelist"), data)


def test_it_re_processes_the_staged_records_after_a_mapping_fix_without_extracting_again(
    integration, systems, login_as
):
    source, target = systems
    table = SyncTable.objects.get()
    table.cursor_field, table.incremental_filter = "LastUpdateDate", "$filter=LastUpdateDate gt {cursor}"
    table.save()
    source.add_contact(Email="a@example.com", Name="padaria central", Kind="customer", LastUpdateDate="2026-01-02")
    source.add_contact(Email="b@example.com", Name="loja feliz", Kind="customer", LastUpdateDate="2026-01-03")
    run(integration)
    FieldMapping.objects.filter(target_field="Name").update(transform="upper")  # the fix IT makes
    assert TableRun.objects.get(run=run(integration)).read == 0  # nothing changed in the source: nothing read

    client = login_as(IT)
    response = changelist_action(client, "reprocess_every_staged_record", [table])

    assert response.status_code == 302
    assert sorted(contact["Name"] for contact in target.contacts()) == ["LOJA FELIZ", "PADARIA CENTRAL"]
    reprocessed = TableRun.objects.filter(table=table).latest("pk")
    assert (reprocessed.read, reprocessed.updated) == (2, 2)
    assert len(target.requests_to("/Contacts", "POST")) == 2  # updated, never created again
    assert SyncTable.objects.get().reprocess == ""  # done once


def test_reading_a_table_again_from_the_beginning_asks_first(integration, systems, login_as):
    source, _target = systems
    table = SyncTable.objects.get()
    table.cursor_field, table.incremental_filter = "LastUpdateDate", "$filter=LastUpdateDate gt {cursor}"
    table.save()
    source.add_contact(Email="a@example.com", Name="A", Kind="customer", LastUpdateDate="2026-01-02")
    run(integration)
    assert SyncTable.objects.get().cursor_value == "2026-01-02"
    client = login_as(IT)

    asked = changelist_action(client, "read_again_from_the_beginning", [table])
    assert asked.status_code == 200 and "Read again from the beginning?" in asked.content.decode()
    assert SyncTable.objects.get().cursor_value == "2026-01-02"  # nothing changes before the confirmation

    changelist_action(client, "read_again_from_the_beginning", [table], post="yes")
    assert SyncTable.objects.get().cursor_value == ""
    assert TableRun.objects.get(run=run(integration)).read == 1


def test_a_source_that_reports_its_total_fails_the_table_when_records_go_missing(integration, systems, login_as):
    source, target = systems
    table = SyncTable.objects.get()
    table.read_arguments = {"$count": "true"}  # the API reports the listing's total: @odata.count
    table.save()
    Connection.objects.filter(name="Legacy").update(page_size=3)
    for number in range(1, 9):
        source.add_contact(Email=f"c{number}@example.com", Name=f"C{number}", Kind="customer")
    source.lose_page_at_skip = 3  # the second page comes back empty, as if lost on the way

    lossy = run(integration)

    assert lossy.status == RunStatus.FAILED
    assert str(lossy.error) == (
        "Contact: The source reported 8 records and 3 were read: 5 went missing on the way. "
        "The cursor stays where it was, so the next run reads them again."
    )
    table_run = TableRun.objects.get(run=lossy)
    assert (table_run.source_total, table_run.read, table_run.created) == (8, 3, 3)
    page = login_as(SUPERVISOR).get(reverse("admin:run", args=[lossy.pk])).content.decode()
    assert '<td class="number" data-count="source_total">8</td>' in page

    source.lose_page_at_skip = None
    whole = run(integration)
    assert whole.status == RunStatus.SUCCEEDED
    assert TableRun.objects.get(run=whole).source_total == 8
    assert len(target.contacts()) == 8


def test_a_record_retried_from_the_queue_and_read_again_in_the_same_run_counts_once(integration, systems):
    source, _target = systems
    FieldMapping.objects.filter(target_field="Name").update(required=True)
    source.add_contact(Email="nameless@example.com", Name="", Kind="customer")
    source.add_contact(Email="fine@example.com", Name="Fine", Kind="customer")
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        run(integration)
    with time_machine.travel(start + timedelta(minutes=6), tick=False):  # its retry is due, and no cursor: read again
        again = run(integration)
    table_run = TableRun.objects.get(run=again)
    assert (table_run.read, table_run.failed, table_run.unchanged) == (2, 1, 1)
    assert RecordError.objects.get().attempts == 2
