"""Excessive deletes (approve against a real REST target, reject, export) and the review queue (retry, ignore)."""

import html
import io
from datetime import timedelta

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from monitoring.choices import (
    AlertKind,
    AlertStatus,
    ErrorStatus,
    HeldDeleteStatus,
    RunStatus,
    Trigger,
)
from monitoring.models import Alert, HeldDelete, RecordError, RequestLog, SyncRun
from sync.choices import DeletePolicy
from sync.models import RecordLink, StagedRecord, SyncTable

from .conftest import CRM_API_KEY
from .servers.rest_api import FakeRestApi

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm_api(integration):
    """The integration's CRM is a real local REST server (Ploomes-shaped)."""
    api = FakeRestApi(auth="api_key", api_key=CRM_API_KEY).start()
    crm = integration.crm_connection
    crm.base_url, crm.timeout_seconds, crm.max_retries = api.url, 5, 0
    crm.save()
    yield api
    api.stop()


@pytest.fixture
def table(integration):
    table = integration.tables.get()
    table.update_object = "/Contacts({id})"
    table.delete_policy, table.delete_threshold = DeletePolicy.DELETE, 1
    table.save()
    return table


@pytest.fixture
def held_run(integration):
    now = timezone.now()
    return SyncRun.objects.create(
        integration=integration, status=RunStatus.SUCCEEDED, trigger=Trigger.SCHEDULE, started_at=now, finished_at=now
    )


def hold(table, run, source_key, target_key):
    """A record the ERP no longer has, linked to a CRM record, whose delete was held."""
    RecordLink.objects.create(table=table, source_key=source_key, target_key=target_key, mapped_hash="h")
    StagedRecord.objects.create(
        table=table,
        source_key=source_key,
        payload={"CNPJ": source_key},
        payload_bytes=20,
        received_at=timezone.now() - timedelta(days=1),
    )
    return HeldDelete.objects.create(table=table, run=run, source_key=source_key, target_key=target_key)


def deletes_url(integration):
    return reverse("admin:integration_deletes", args=[integration.pk])


def queue_url(integration):
    return reverse("admin:integration_queue", args=[integration.pk])


def text(response):
    return html.unescape(response.content.decode())


# ---------------------------------------------------------------- excessive deletes


def test_it_approves_and_the_record_is_deleted_in_the_target(login_as, integration, table, held_run, crm_api):
    kept = crm_api.add_contact(Name="Stays")
    gone = crm_api.add_contact(Name="Closed company")
    held = hold(table, held_run, "11222333000181", str(gone["Id"]))
    Alert.objects.create(integration=integration, table=table, kind=AlertKind.DELETES_HELD, message="1 delete held")
    client = login_as(IT)

    page = text(client.get(deletes_url(integration)))
    assert 'data-action="approve"' in page and 'data-action="reject"' in page
    assert "11222333000181" in page and reverse("admin:run", args=[held_run.pk]) in page

    response = client.post(deletes_url(integration), {"action": "approve", "selected": [held.pk]}, follow=True)
    assert "1 record was deleted in the target." in text(response)

    assert [record["Id"] for record in crm_api.contacts()] == [kept["Id"]]
    assert [r.method for r in crm_api.requests_to(f"/Contacts({gone['Id']})")] == ["DELETE"]
    held.refresh_from_db()
    assert held.status == HeldDeleteStatus.APPROVED and held.decided_by.username == "it" and held.decided_at
    assert not RecordLink.objects.filter(table=table, source_key="11222333000181").exists()
    assert not StagedRecord.objects.filter(table=table, source_key="11222333000181").exists()
    call = RequestLog.objects.get(table=table, method="DELETE")
    assert call.status_code == 204 and CRM_API_KEY not in str(call.request_headers)
    assert Alert.objects.get(kind=AlertKind.DELETES_HELD).status == AlertStatus.RESOLVED
    # Decided deletes stay listed, with who and when.
    page = text(client.get(deletes_url(integration)))
    assert "Approved and deleted" in page and ">it<" in page


def test_a_target_error_leaves_the_delete_waiting_with_the_reason(login_as, integration, table, held_run, crm_api):
    held = hold(table, held_run, "11444777000161", "987")  # the CRM has no record 987
    response = login_as(IT).post(deletes_url(integration), {"action": "approve", "selected": [held.pk]}, follow=True)
    page = text(response)
    assert "1 delete could not be applied and is still waiting:" in page
    assert "11444777000161" in page and "404" in page
    held.refresh_from_db()
    assert held.status == HeldDeleteStatus.PENDING
    assert RecordLink.objects.filter(table=table, source_key="11444777000161").exists()


def test_a_record_back_in_the_source_is_not_deleted(login_as, integration, table, held_run, crm_api):
    record = crm_api.add_contact(Name="Back again")
    held = hold(table, held_run, "45723174000110", str(record["Id"]))
    StagedRecord.objects.filter(source_key="45723174000110").update(received_at=timezone.now())  # read again
    response = login_as(IT).post(deletes_url(integration), {"action": "approve", "selected": [held.pk]}, follow=True)
    assert "The record is back in the source" in text(response)
    assert len(crm_api.contacts()) == 1
    held.refresh_from_db()
    assert held.status == HeldDeleteStatus.PENDING


def test_it_rejects_and_the_record_and_its_link_stay(login_as, integration, table, held_run, crm_api):
    record = crm_api.add_contact(Name="Keep me")
    held = hold(table, held_run, "60746948000112", str(record["Id"]))
    response = login_as(IT).post(deletes_url(integration), {"action": "reject", "selected": [held.pk]}, follow=True)
    assert "1 delete rejected: the record stays in the target." in text(response)
    held.refresh_from_db()
    assert held.status == HeldDeleteStatus.REJECTED and held.decided_by.username == "it"
    assert RecordLink.objects.filter(table=table, source_key="60746948000112").exists()
    assert len(crm_api.contacts()) == 1 and not crm_api.received


def test_supervisor_sees_held_deletes_without_buttons_and_cannot_decide(login_as, integration, table, held_run):
    held = hold(table, held_run, "33000167000101", "42")
    client = login_as(SUPERVISOR)
    page = text(client.get(deletes_url(integration)))
    assert "33000167000101" in page
    assert 'data-action="approve"' not in page and 'data-action="reject"' not in page
    assert 'name="selected"' not in page
    for action in ("approve", "reject"):
        assert client.post(deletes_url(integration), {"action": action, "selected": [held.pk]}).status_code == 403
    held.refresh_from_db()
    assert held.status == HeldDeleteStatus.PENDING


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING, IT])
def test_every_role_exports_the_held_deletes_as_xlsx(login_as, integration, table, held_run, role):
    hold(table, held_run, "11222333000181", "501")
    decided = hold(table, held_run, "=1+1", "502")  # a key that looks like a formula stays text
    HeldDelete.objects.filter(pk=decided.pk).update(status=HeldDeleteStatus.REJECTED, decided_at=timezone.now())

    response = login_as(role).get(deletes_url(integration), {"export": "xlsx", "table": table.pk})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert ".xlsx" in response["Content-Disposition"] and "attachment" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][:4] == ("Table", "Source key", "Target key", "Status")
    by_key = {row[1]: row for row in rows[1:]}
    assert set(by_key) == {"11222333000181", "'=1+1"}  # neutralised: the sheet never runs it as a formula
    assert by_key["11222333000181"][2:4] == ("501", "Waiting for approval")
    assert by_key["'=1+1"][3] == "Rejected"
    assert by_key["11222333000181"][5] == held_run.pk


# ---------------------------------------------------------------- review queue


@pytest.fixture
def failed_records(integration):
    table = integration.tables.get()
    return [
        RecordError.objects.create(
            table=table,
            record_key=key,
            payload={"CNPJ": key, "Name": f"  Company {key} "},
            reason="CNPJ is invalid",
            field_errors={"CNPJ": f"CNPJ {key} is invalid"},
            attempts=2,
            first_failed_at=timezone.now() - timedelta(hours=3),
        )
        for key in ("12345678000100", "98765432000199")
    ]


def test_the_queue_shows_payload_reason_attempts_and_age(login_as, integration, failed_records):
    page = text(login_as(SUPERVISOR).get(queue_url(integration)))
    assert "<details>" in page and '"Name": "  Company 12345678000100 "' in page  # pretty-printed payload
    assert "CNPJ is invalid" in page and "CNPJ 12345678000100 is invalid" in page
    assert "3 hours" in page and "Company" in page
    assert 'data-action="retry"' not in page and 'data-action="ignore"' not in page


def test_it_ignores_a_record_and_it_stays_listed_as_ignored(login_as, integration, failed_records):
    client = login_as(IT)
    first, second = failed_records
    response = client.post(queue_url(integration), {"action": "ignore", "selected": [first.pk]}, follow=True)
    assert "1 record ignored" in text(response)
    first.refresh_from_db()
    assert first.status == ErrorStatus.IGNORED and first.closed_by.username == "it"
    assert first.payload["CNPJ"] == "12345678000100"  # nothing is lost

    open_page = text(client.get(queue_url(integration)))
    assert f'data-error="{second.pk}"' in open_page and f'data-error="{first.pk}"' not in open_page
    ignored_page = text(client.get(queue_url(integration), {"status": "ignored"}))
    assert f'data-error="{first.pk}"' in ignored_page and ">Ignored (1)<" in ignored_page


def test_it_retries_a_record_whose_cause_was_fixed(login_as, integration, failed_records, crm_api):
    first, second = failed_records
    table = integration.tables.get()
    table.mappings.filter(source_path="CNPJ").update(transform="digits")  # IT fixes the mapping
    client = login_as(IT)
    assert 'data-action="retry"' in text(client.get(queue_url(integration)))

    response = client.post(queue_url(integration), {"action": "retry", "selected": [first.pk]}, follow=True)
    page = text(response)
    assert "1 of 1 records went through; 0 still in the queue." in page
    retry = SyncRun.objects.get(trigger=Trigger.RETRY)
    assert retry.status == RunStatus.SUCCEEDED and reverse("admin:run", args=[retry.pk]) in page

    assert [(r["CNPJ"], r["Name"]) for r in crm_api.contacts()] == [("12345678000100", "Company 12345678000100")]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ErrorStatus.RESOLVED and second.status == ErrorStatus.OPEN
    assert RecordLink.objects.filter(table=table, source_key="12345678000100").exists()


def test_a_retry_while_the_integration_runs_says_so(login_as, integration, failed_records):
    SyncRun.objects.create(integration=integration, status=RunStatus.RUNNING, trigger=Trigger.SCHEDULE)
    response = login_as(IT).post(
        queue_url(integration), {"action": "retry", "selected": [failed_records[0].pk]}, follow=True
    )
    assert "is running right now, so the records were not retried" in text(response)
    failed_records[0].refresh_from_db()
    assert failed_records[0].status == ErrorStatus.OPEN


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_only_it_may_retry_or_ignore(login_as, integration, failed_records, role):
    client = login_as(role)
    for action in ("retry", "ignore"):
        response = client.post(queue_url(integration), {"action": action, "selected": [failed_records[0].pk]})
        assert response.status_code == 403
    assert RecordError.objects.filter(status=ErrorStatus.OPEN).count() == 2


def test_the_queue_filters_by_table(login_as, integration, failed_records):
    other = SyncTable.objects.create(
        integration=integration, name="Contact", source_object="ListContacts", target_object="/Contacts"
    )
    RecordError.objects.create(table=other, record_key="ana@example.com", payload={}, reason="Email is required")
    client = login_as(SUPERVISOR)
    page = text(client.get(queue_url(integration), {"table": other.pk}))
    assert "ana@example.com" in page and "12345678000100" not in page


def test_the_lists_cost_the_same_queries_for_many_rows(login_as, integration, table, held_run, django_user_model):
    client = login_as(IT)
    hold(table, held_run, "first", "1")
    HeldDelete.objects.create(table=table, source_key="old", target_key="0", status=HeldDeleteStatus.REJECTED)
    RecordError.objects.create(table=table, record_key="first", payload={}, reason="bad")

    def count_queries():
        with CaptureQueriesContext(connection) as deletes:
            assert client.get(deletes_url(integration)).status_code == 200
        with CaptureQueriesContext(connection) as queue:
            assert client.get(queue_url(integration)).status_code == 200
        return len(deletes), len(queue)

    few = count_queries()
    someone = django_user_model.objects.create_user(username="someone")
    for n in range(150):
        held = hold(table, held_run, f"K{n}", str(n))
        if n % 2:
            HeldDelete.objects.filter(pk=held.pk).update(
                status=HeldDeleteStatus.REJECTED, decided_by=someone, decided_at=timezone.now()
            )
        RecordError.objects.create(table=table, record_key=f"K{n}", payload={"n": n}, reason="bad")
    assert count_queries() == few
    assert max(few) <= 12


def test_a_record_without_a_key_is_listed_in_the_readers_language(login_as, integration, table):
    RecordError.objects.create(table=table, record_key="(no CNPJ) 3f2a9c1b", payload={"Name": "X"}, reason="no key")
    client = login_as(SUPERVISOR)
    assert "(no CNPJ) 3f2a9c1b" in text(client.get(queue_url(integration)))
    page = text(client.get(queue_url(integration), HTTP_ACCEPT_LANGUAGE="pt-br"))
    assert "(sem CNPJ) 3f2a9c1b" in page and "(no CNPJ)" not in page
