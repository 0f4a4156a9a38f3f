"""The run page: counts, timeline, events, calls (pretty-printed, still redacted) and errors, in bounded queries."""

import html
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from core.redaction import redact_text
from monitoring.choices import ErrorStatus, RecordAction, RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, SyncRun, TableRun
from monitoring.templatetags.portal import record_key
from monitoring.views.runs import pretty_body
from sync.models import SyncTable

pytestmark = pytest.mark.django_db

STARTED = datetime(2024, 11, 14, 15, 0, tzinfo=UTC)
SECRET = "s3cr3t-token-9f8e"


@pytest.fixture
def run(integration, django_user_model):
    user = django_user_model.objects.create_user(username="maria", is_staff=True)
    company = integration.tables.get()
    contact = SyncTable.objects.create(
        integration=integration, name="Contact", order=1, source_object="ListContacts", target_object="/Contacts"
    )
    run = SyncRun.objects.create(
        integration=integration,
        status=RunStatus.PARTIAL,
        trigger=Trigger.MANUAL,
        triggered_by=user,
        queued_at=STARTED - timedelta(seconds=2),
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=100),
        error="",
    )
    TableRun.objects.create(
        run=run,
        table=company,
        status=RunStatus.PARTIAL,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=60),
        read=9,
        created=3,
        updated=2,
        unchanged=1,
        skipped=1,
        held=1,
        failed=1,
    )
    TableRun.objects.create(
        run=run,
        table=contact,
        status=RunStatus.SUCCEEDED,
        started_at=STARTED + timedelta(seconds=60),
        finished_at=STARTED + timedelta(seconds=100),
        read=2,
        created=2,
    )
    RecordEvent.objects.create(
        run=run, table=company, record_key="11222333000181", target_key="501", action=RecordAction.CREATED
    )
    RecordEvent.objects.create(
        run=run,
        table=company,
        record_key="12345678000100",
        action=RecordAction.FAILED,
        message="CNPJ 12345678000100 is invalid",
    )
    RecordEvent.objects.create(run=run, table=contact, record_key="ana@example.com", action=RecordAction.CREATED)
    body = json.dumps({"Name": "ACME Ltda", "api_key": SECRET, "Tags": [1, 2]})
    RequestLog.objects.create(
        run=run,
        table=company,
        connection=integration.crm_connection,
        method="POST",
        url="https://api2.ploomes.example/Contacts",
        started_at=STARTED + timedelta(seconds=1),
        finished_at=STARTED + timedelta(seconds=1, milliseconds=250),
        status_code=201,
        request_headers={"User-Key": "[redacted]", "Content-Type": "application/json"},
        request_body=redact_text(body, [SECRET]),
        response_body='{"value":[{"Id":501,"Name":"ACME Ltda"}]}',
    )
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Header><Password>{SECRET}</Password></soap:Header>"
        "<soap:Body><ListCustomers><page>1</page></ListCustomers></soap:Body></soap:Envelope>"
    )
    RequestLog.objects.create(
        run=run,
        table=company,
        connection=integration.erp_connection,
        method="SOAP",
        operation="ListCustomers",
        url="https://erp.example/ws",
        status_code=200,
        request_body=redact_text(envelope, [SECRET]),
        response_body="<not xml",
    )
    RecordError.objects.create(
        table=company,
        run=run,
        record_key="12345678000100",
        payload={"CNPJ": "12345678000100"},
        reason="CNPJ is invalid",
    )
    return run


def get_page(client, run, query=""):
    response = client.get(reverse("admin:run", args=[run.pk]) + query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_run_page_tells_the_whole_story(login_as, run, integration):
    page = get_page(login_as(SUPERVISOR), run)
    assert reverse("admin:integration", args=[integration.pk]) in page
    assert 'data-status="partial"' in page
    assert "Run now" in page and "maria" in page  # trigger and who
    assert "1 minute 40 seconds" in page  # duration
    # Counts per table, and the check that read equals the sum of the outcomes.
    assert '<td class="number" data-count="read">9</td>' in page
    assert '<td class="number" data-count="read">2</td>' in page
    assert page.count('data-check="ok"') == 2 and 'data-check="mismatch"' not in page
    # The timeline: Company takes the first 60 % of the run, Contact the rest.
    assert 'x="0.00" y="0" width="60.00"' in page
    assert 'x="60.00" y="0" width="40.00"' in page
    # Record events.
    assert "11222333000181" in page and "CNPJ 12345678000100 is invalid" in page and "ana@example.com" in page
    # Request logs: method, URL, status, duration; bodies pretty-printed and still redacted.
    assert "https://api2.ploomes.example/Contacts" in page and "250 ms" in page and "ListCustomers" in page
    assert '{\n  "Name": "ACME Ltda",\n  "api_key": "[redacted]",' in page
    assert "<soap:Header>\n    <Password>[redacted]</Password>\n  </soap:Header>" in page
    assert "<not xml" in page  # what does not parse is shown as it is
    assert SECRET not in page
    # The review-queue errors of the run.
    assert 'data-list="errors"' in page and "CNPJ is invalid" in page


def test_events_filter_by_table_and_action(login_as, run, integration):
    client = login_as(IT)
    contact = integration.tables.get(name="Contact")
    page = get_page(client, run, f"?table={contact.pk}")
    assert "ana@example.com" in page and "11222333000181" not in page
    page = get_page(client, run, "?action=failed")
    assert "CNPJ 12345678000100 is invalid" in page and "ana@example.com" not in page


def test_every_role_sees_the_run_page_and_others_do_not(client, login_as, run, django_user_model):
    for role in (SUPERVISOR, ONBOARDING, IT):
        assert login_as(role).get(reverse("admin:run", args=[run.pk])).status_code == 200
    nobody = django_user_model.objects.create_user(username="nobody", is_staff=True)
    client.force_login(nobody)
    assert client.get(reverse("admin:run", args=[run.pk])).status_code == 403


def test_a_failed_run_shows_its_error_in_words(login_as, integration):
    run = SyncRun.objects.create(
        integration=integration,
        status=RunStatus.FAILED,
        trigger=Trigger.SCHEDULE,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=3),
        error="Could not reach the ERP: connection refused by erp.example:443",
    )
    page = get_page(login_as(SUPERVISOR), run)
    assert "Could not reach the ERP: connection refused by erp.example:443" in page
    assert "the portal" in page  # no user triggered it


def test_queries_do_not_grow_with_the_events_and_requests_shown(login_as, run, integration):
    client = login_as(SUPERVISOR)
    get_page(client, run)  # warm up: session, permissions caches
    with CaptureQueriesContext(connection) as few:
        get_page(client, run)

    company = integration.tables.get(name="Company")
    RecordEvent.objects.bulk_create(
        RecordEvent(run=run, table=company, record_key=f"K{n}", action=RecordAction.UNCHANGED) for n in range(200)
    )
    RequestLog.objects.bulk_create(
        RequestLog(run=run, table=company, connection=integration.crm_connection, method="GET", url=f"/p/{n}")
        for n in range(60)
    )
    RecordError.objects.bulk_create(
        RecordError(table=company, run=run, record_key=f"E{n}", payload={}, reason="bad", status=ErrorStatus.IGNORED)
        for n in range(40)
    )
    with CaptureQueriesContext(connection) as many:
        page = get_page(client, run)
    assert len(many) == len(few) <= 13, [query["sql"] for query in many]  # 13: the conflict journal's count
    assert page.count('data-event="') == 50 and page.count('data-request="') == 20
    assert "page 1 of 5" in page  # 203 events, 50 a page

    page = get_page(client, run, "?events_page=5")
    assert page.count('data-event="') == 3


def test_pretty_body_parses_xml_safely():
    attack = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><a>&x;</a></r>'
    shown = pretty_body(attack)
    assert "root:" not in shown
    assert pretty_body('{"a": 1}') == '{\n  "a": 1\n}'
    assert pretty_body('{"a": 1, "cut') == '{"a": 1, "cut'  # truncated: shown as stored
    assert pretty_body("plain words") == "plain words"
    assert pretty_body("") == ""


def test_a_placeholder_key_reads_in_the_readers_language():
    assert record_key("(no CNPJ) 3f2a9c1b") == "(no CNPJ) 3f2a9c1b"
    with translation.override("pt-br"):
        assert record_key("(no CNPJ) 3f2a9c1b") == "(sem CNPJ) 3f2a9c1b"
        assert record_key("(no CNPJ)") == "(no CNPJ)"  # a real key that only looks like one stays as it is
        assert record_key("C000123") == "C000123"
