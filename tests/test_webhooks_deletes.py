"""Deletes from webhook events: an event type that says the record was deleted applies the table's delete policy."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from monitoring.choices import HeldDeleteStatus, RecordAction, WebhookEventStatus
from monitoring.models import HeldDelete, RecordEvent
from sync.choices import DeletePolicy
from sync.models import RecordLink, SyncTable

from .webhook_shop import ACME, post_event

pytestmark = pytest.mark.django_db

DELETED = {"type": "company.deleted", "data": {"Code": "C1"}}


@pytest.fixture
def deleting(shop):
    SyncTable.objects.filter(name="Company").update(
        webhook_delete_types="company.deleted", delete_policy=DeletePolicy.DELETE, delete_threshold=5
    )
    return shop


def test_a_delete_event_deletes_the_record_in_the_target(
    client, deleting, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    post_event(client, deleting, ACME, "msg_1", django_capture_on_commit_callbacks)
    [written] = target.contacts(Code="C1")

    event = post_event(client, deleting, DELETED, "msg_2", django_capture_on_commit_callbacks)

    assert target.contacts(Code="C1") == []
    assert target.requests_to(f"/Contacts({written['Id']})", "DELETE")
    event.refresh_from_db()
    assert (event.status, str(event.result)) == (WebhookEventStatus.PROCESSED, "1 record: 1 deleted")
    assert not RecordLink.objects.filter(table__name="Company", source_key="C1").exists()
    deleted = RecordEvent.objects.get(run=event.run)
    assert (deleted.action, deleted.record_key, deleted.target_key) == (RecordAction.DELETED, "C1", str(written["Id"]))
    assert event.written_at is not None  # a delete counts in the latency too


def test_the_key_path_names_the_deleted_record(client, deleting, shop_apis, django_capture_on_commit_callbacks):
    _source, target = shop_apis
    SyncTable.objects.filter(name="Company").update(webhook_key_path="objectId")
    post_event(client, deleting, ACME, "msg_1", django_capture_on_commit_callbacks)

    post_event(
        client, deleting, {"type": "company.deleted", "objectId": "C1"}, "msg_2", django_capture_on_commit_callbacks
    )

    assert target.contacts(Code="C1") == []


def test_a_table_that_leaves_deletes_alone_keeps_the_record_and_says_why(
    client, deleting, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    SyncTable.objects.filter(name="Company").update(delete_policy=DeletePolicy.IGNORE)
    post_event(client, deleting, ACME, "msg_1", django_capture_on_commit_callbacks)

    event = post_event(client, deleting, DELETED, "msg_2", django_capture_on_commit_callbacks)

    assert len(target.contacts(Code="C1")) == 1
    event.refresh_from_db()
    assert str(event.result) == "1 record: 1 unchanged"
    left = RecordEvent.objects.get(run=event.run)
    assert left.action == RecordAction.UNCHANGED
    assert str(left.message) == "Deleted in the source; this table leaves deletes alone (its delete policy)."


def test_a_delete_of_a_record_never_synced_deletes_nothing(
    client, deleting, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    other = target.add_contact(Code="C1", Name="Not the portal's")

    event = post_event(client, deleting, DELETED, "msg_1", django_capture_on_commit_callbacks)

    assert target.contacts(Code="C1") == [other]
    message = RecordEvent.objects.get(run=event.run).message
    assert str(message) == "Deleted in the source before it reached the target: nothing to delete."


def test_deletes_past_the_threshold_are_held_for_approval(
    client, deleting, shop_apis, django_capture_on_commit_callbacks
):
    _source, target = shop_apis
    SyncTable.objects.filter(name="Company").update(delete_threshold=0)
    post_event(client, deleting, ACME, "msg_1", django_capture_on_commit_callbacks)

    event = post_event(client, deleting, DELETED, "msg_2", django_capture_on_commit_callbacks)

    assert len(target.contacts(Code="C1")) == 1
    assert HeldDelete.objects.get(source_key="C1").status == HeldDeleteStatus.PENDING
    event.refresh_from_db()
    assert str(event.result) == "1 record: 1 delete held for approval"


def test_a_delete_event_without_its_key_fails_with_the_reason(client, deleting, django_capture_on_commit_callbacks):
    event = post_event(client, deleting, {"type": "company.deleted"}, "msg_1", django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert event.status == WebhookEventStatus.FAILED
    assert 'Company: the event names no record at "Code".' in str(event.result)


@pytest.mark.parametrize(
    ("deletes", "message"),
    [
        ("company.updated", "company.updated cannot both write and delete the record: name each event type once."),
        ("*", "Name the event types that delete: * would delete on every event."),
    ],
)
def test_delete_types_are_checked(shop, deletes, message):
    table = SyncTable.objects.get(name="Company")
    table.webhook_delete_types = deletes
    with pytest.raises(ValidationError) as refused:
        table.full_clean()
    assert refused.value.message_dict["webhook_delete_types"] == [message]


def test_a_table_may_take_only_delete_events(client, shop, shop_apis, django_capture_on_commit_callbacks):
    _source, target = shop_apis
    post_event(client, shop, ACME, "msg_1", django_capture_on_commit_callbacks)
    SyncTable.objects.filter(name="Company").update(
        webhook_event_types="", webhook_delete_types="company.deleted", delete_policy=DeletePolicy.DELETE
    )

    post_event(client, shop, DELETED, "msg_2", django_capture_on_commit_callbacks)

    assert target.contacts(Code="C1") == []
