"""Webhooks processed: a signed delivery posted to the receiver is written to a real target through the pipeline.

The source and the target are local REST servers (``FakeRestApi``); events are posted to the portal's
receiver signed as Standard Webhooks signs them, and the task the view sends once the event is committed
runs at once (django-q2 in sync mode, the on-commit callbacks executed).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from monitoring.choices import ErrorStatus, RecordAction, RunStatus, Trigger, WebhookEventStatus
from monitoring.models import RecordError, RecordEvent, SyncRun, TableRun, WebhookEvent
from sync import tasks
from sync.choices import DeletePolicy
from sync.engine import queue_run
from sync.models import RecordLink, SyncTable
from sync.webhooks.processing import run_webhooks

from .webhook_shop import ACME, post_event

pytestmark = pytest.mark.django_db


def test_an_event_creates_its_record_in_the_target_field_by_field(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    event = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)

    [written] = target.contacts()
    assert written["Code"] == "C1" and written["Name"] == "ACME Ltda"
    assert Decimal(str(written["Revenue"])) == Decimal("1234.50") and not isinstance(written["Revenue"], str)
    assert written["Active"] is True
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert str(event.result) == "1 record: 1 created"
    assert event.run.trigger == Trigger.WEBHOOK and event.run.status == RunStatus.SUCCEEDED
    assert event.processed_at is not None
    assert RecordLink.objects.get(table__name="Company", source_key="C1").target_key == str(written["Id"])
    assert RecordEvent.objects.get(run=event.run).action == RecordAction.CREATED
    [table_run] = TableRun.objects.filter(run=event.run)
    assert (table_run.table.name, table_run.read, table_run.created) == ("Company", 1, 1)  # Contact did not run


def test_the_same_record_twice_is_written_once(client, shop, shop_apis, django_capture_on_commit_callbacks):
    _source, target = shop_apis
    post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    again = post_event(client, shop, ACME, "msg_2", django_capture_on_commit_callbacks)  # another id, same body

    assert len(target.contacts()) == 1
    assert len(target.requests_to("/Contacts", "POST")) == 1
    again.refresh_from_db()
    assert (again.status, str(again.result)) == (WebhookEventStatus.PROCESSED, "1 record: 1 unchanged")


def test_a_record_the_target_refuses_goes_to_the_review_queue(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    target.fail_next(status=422, method="POST", path="/Contacts", body={"error": {"message": "Name is too short"}})
    event = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)

    assert target.contacts() == []
    error = RecordError.objects.get(record_key="C1")
    assert error.status == ErrorStatus.OPEN and "Name is too short" in str(error.reason)
    assert error.payload["Name"] == "  ACME Ltda "
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert str(event.result) == "1 record: 1 failed (in the review queue)"


def test_a_record_whose_parent_is_not_synced_waits_and_goes_through_once_it_lands(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    contact = {"type": "contact.created", "data": {"Email": "ana@acme.example", "CompanyCode": "C1"}}
    waiting = post_event(client, shop, contact, "msg_contact", django_capture_on_commit_callbacks)

    waiting.refresh_from_db()
    assert str(waiting.result) == "1 record: 1 waiting for a referenced record"
    assert RecordError.objects.get(record_key="ana@acme.example").status == ErrorStatus.WAITING
    assert target.contacts() == []

    post_event(client, shop, ACME, "msg_company", django_capture_on_commit_callbacks)
    [company] = target.contacts(Code="C1")
    # The next run of the Contact table (here another event of it) sends the waiting record.
    other = {"type": "contact.created", "data": {"Email": "bia@acme.example", "CompanyCode": "C1"}}
    post_event(client, shop, other, "msg_contact_2", django_capture_on_commit_callbacks)
    ana = target.contacts(Email="ana@acme.example")
    assert len(ana) == 1 and ana[0]["CompanyId"] == str(company["Id"])  # the lookup sends the target's key
    assert target.contacts(Email="bia@acme.example")[0]["CompanyId"] == str(company["Id"])
    assert RecordError.objects.get(record_key="ana@acme.example").status == ErrorStatus.RESOLVED


def test_an_event_no_table_takes_is_ignored_with_the_reason(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    event = post_event(client, shop, {"type": "invoice.paid", "data": {}}, "msg_x", django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.IGNORED
    assert str(event.result) == "No table of Shop ↔ CRM takes events of type invoice.paid."
    assert not SyncRun.objects.exists()


def test_an_event_without_its_record_fails_with_the_reason(client, shop, shop_apis, django_capture_on_commit_callbacks):
    event = post_event(client, shop, {"type": "company.updated"}, "msg_bare", django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.FAILED
    assert 'Company: the event has no record at "data".' in str(event.result)


def test_a_webhook_run_moves_no_cursor_and_deletes_nothing(client, shop, shop_apis, django_capture_on_commit_callbacks):
    _source, target = shop_apis
    kept = target.add_contact(Code="OLD", Name="Linked before")
    SyncTable.objects.filter(name="Company").update(
        cursor_field="LastUpdateDate", cursor_value="2026-01-01T00:00:00Z", delete_policy=DeletePolicy.DELETE
    )
    RecordLink.objects.create(
        table=SyncTable.objects.get(name="Company"), source_key="OLD", target_key=str(kept["Id"]), mapped_hash="x"
    )
    body = {"type": "company.updated", "data": {**ACME["data"], "LastUpdateDate": "2026-06-01T00:00:00Z"}}
    event = post_event(client, shop, body, "msg_1", django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    table = SyncTable.objects.get(name="Company")
    assert table.cursor_value == "2026-01-01T00:00:00Z" and table.resume_token == ""
    assert RecordLink.objects.filter(table=table, source_key="OLD").exists()
    assert target.contacts(Code="OLD") == [kept]
    assert TableRun.objects.get(run=event.run, table=table).deleted == 0


def test_an_event_arriving_during_a_run_is_processed_by_that_runs_end(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    SyncTable.objects.filter(name="Contact").update(active=False)  # the poll reads companies only
    busy = queue_run(shop, Trigger.MANUAL)
    event = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.RECEIVED and event.run is None  # the integration was busy

    assert tasks.run_queued(busy.pk) == RunStatus.SUCCEEDED
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED and event.run.trigger == Trigger.WEBHOOK
    assert target.contacts(Code="C1")[0]["Name"] == "ACME Ltda"


def test_events_left_waiting_are_picked_up_by_the_maintenance_safety_net(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    busy = queue_run(shop, Trigger.MANUAL)
    event = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    busy.start()
    busy.finish(RunStatus.FAILED, "stopped by hand")  # a run that ended without picking its events up
    later = event.received_at.replace(year=event.received_at.year + 1)
    assert tasks.pick_up_stranded(later) == [shop.pk]
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED


def test_it_processes_selected_events_again_from_the_inbox(
    client, shop, shop_apis, login_as, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    first = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    bare = post_event(client, shop, {"type": "company.updated"}, "msg_bare", django_capture_on_commit_callbacks)
    target.change(target.contacts()[0]["Id"], {"Name": "Changed in the CRM"}, replace=False)
    RecordLink.objects.filter(source_key="C1").update(mapped_hash="stale")  # the mapping changed since

    it = login_as(IT)
    with django_capture_on_commit_callbacks(execute=True):
        response = it.post(
            reverse("admin:monitoring_webhookevent_changelist"),
            {"action": "process_again", "_selected_action": [first.pk, bare.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert "2 events sent to be processed again." in response.content.decode()
    first.refresh_from_db()
    bare.refresh_from_db()
    assert first.status == WebhookEventStatus.PROCESSED and str(first.result) == "1 record: 1 updated"
    assert bare.status == WebhookEventStatus.FAILED
    assert target.contacts()[0]["Name"] == "ACME Ltda"
    assert SyncRun.objects.filter(trigger=Trigger.WEBHOOK).count() == 3


def test_a_supervisor_cannot_process_events_again(
    client, shop, shop_apis, login_as, django_capture_on_commit_callbacks
):
    event = post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    supervisor = login_as(SUPERVISOR)
    supervisor.post(
        reverse("admin:monitoring_webhookevent_changelist"),
        {"action": "process_again", "_selected_action": [event.pk]},
    )
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED and SyncRun.objects.count() == 1


def test_an_event_that_only_names_its_record_reads_it_from_the_source(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    source, target = shop_apis
    SyncTable.objects.filter(name="Company").update(
        webhook_records_path="", webhook_fetch_object="/Contacts({key})", webhook_key_path="objectId"
    )
    named = source.add_contact(Code="C7", Name=" Named Ltda ", Revenue="99,90", Active="S")

    event = post_event(
        client, shop, {"type": "company.updated", "objectId": named["Id"]}, "msg_1", django_capture_on_commit_callbacks
    )

    [written] = target.contacts(Code="C7")
    assert written["Name"] == "Named Ltda" and Decimal(str(written["Revenue"])) == Decimal("99.90")
    assert written["Active"] is True
    assert source.requests_to(f"/Contacts({named['Id']})", "GET")
    event.refresh_from_db()
    assert (event.status, str(event.result)) == (WebhookEventStatus.PROCESSED, "1 record: 1 created")


def test_a_named_record_the_source_no_longer_has_is_skipped_with_the_reason(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    SyncTable.objects.filter(name="Company").update(
        webhook_records_path="", webhook_fetch_object="/Contacts({key})", webhook_key_path="objectId"
    )

    event = post_event(
        client, shop, {"type": "company.updated", "objectId": 404}, "msg_1", django_capture_on_commit_callbacks
    )

    assert target.contacts() == []
    event.refresh_from_db()
    assert (event.status, str(event.result)) == (WebhookEventStatus.PROCESSED, "1 record: 1 skipped")
    skipped = RecordEvent.objects.get(run=event.run)
    assert (skipped.action, skipped.record_key) == (RecordAction.SKIPPED, "404")
    assert str(skipped.message) == "The webhook named Company 404, but the source has no such record."


def test_events_waiting_together_are_written_as_one_page_each_counted_on_its_own(
    client, shop, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    beta = {"type": "company.created", "data": {"Code": "C2", "Name": "Beta", "Revenue": "1,00", "Active": "N"}}
    keyless = {"type": "company.created", "data": {"Name": "No code"}}
    waiting = [
        post_event(client, shop, body, f"msg_{n}", django_capture_on_commit_callbacks, processed=False)
        for n, body in enumerate([ACME, beta, ACME, keyless], start=1)
    ]

    run = run_webhooks(shop)

    assert run.status == RunStatus.PARTIAL
    assert sorted(contact["Code"] for contact in target.contacts()) == ["C1", "C2"]
    results = {event.delivery_id: str(event.result) for event in WebhookEvent.objects.filter(run=run)}
    assert results == {
        "msg_1": "1 record: 1 created",
        "msg_2": "1 record: 1 created",
        "msg_3": "1 record: 1 unchanged",  # the same record again, in the same page: written once
        "msg_4": "1 record: 1 failed (in the review queue)",
    }
    [table_run] = TableRun.objects.filter(run=run)
    assert (table_run.read, table_run.created, table_run.unchanged, table_run.failed) == (4, 2, 1, 1)
    written = {
        event.delivery_id: event.written_at for event in WebhookEvent.objects.filter(pk__in=[e.pk for e in waiting])
    }
    assert written["msg_1"] == written["msg_2"] == written["msg_3"] is not None and written["msg_4"] is None
