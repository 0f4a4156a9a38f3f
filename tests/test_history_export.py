"""Integration → History: the 7-day range, the workbook's sheets, cells and counts, who downloads, background jobs."""

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from monitoring import exports, workbook
from monitoring.choices import RecordAction, RunStatus, Trigger
from monitoring.exports import delete_expired_exports
from monitoring.history_selection import HistorySelection
from monitoring.models import ExportJob, ExportStatus, RecordEvent, RequestLog, SyncRun, TableRun
from monitoring.resources import RecordEventResource, RequestLogResource
from monitoring.views.history import HistoryForm
from monitoring.workbook import XLSX_CONTENT_TYPE, sheet_name, write_history
from sync.models import Integration, RecordLink, SyncTable

pytestmark = pytest.mark.django_db

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=SAO_PAULO)
TODAY = date(2026, 11, 23)
HEADERS = ["Time", "Kind", "Run", "Record key", "Target key", "Action / call", "Status", "Message", "HTTP status"]
DANGEROUS_KEYS = ['=HYPERLINK("http://x")', "+1+1", "@SUM(A1)", "-2+3", "\tTAB", "\rCR"]


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Each test has its own exports folder."""
    settings.DATA_DIR = tmp_path
    return tmp_path


def local(day: date, hour=0, minute=0, second=0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SAO_PAULO)


@pytest.fixture
def tables(integration):
    company = integration.tables.get(name="Company")
    company.description = "Customers that are companies"
    company.save()
    contact = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        description="People at the customers",
        order=1,
        source_object="ListContacts",
        target_object="/Contacts",
        record_key="Id",
    )
    order = SyncTable.objects.create(
        integration=integration,
        name="Order",
        description="Orders of the last 2 years",
        order=2,
        source_object="ListOrders",
        target_object="/Orders",
        record_key="Id",
    )
    SyncTable.objects.create(
        integration=integration,
        name="Retired",
        active=False,
        source_object="ListOld",
        target_object="/Old",
        record_key="Id",
    )
    return company, contact, order


@pytest.fixture
def history(integration, tables):
    """Events and requests inside 20/11 to 22/11 (local days), and some just outside."""
    company, contact, order = tables
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.SUCCEEDED)
    start, end = date(2026, 11, 20), date(2026, 11, 22)

    def event(table, when, key, action=RecordAction.CREATED, **extra):
        return RecordEvent.objects.create(
            run=run, table=table, occurred_at=when, record_key=key, action=action, **extra
        )

    inside = [
        event(company, local(start), "first-of-range", target_key="T-1", http_status=201),
        event(company, local(start, 9, 30), "11.222.333/0001-44", RecordAction.UPDATED, target_key="T-2"),
        event(company, local(start, 10), "unchanged", RecordAction.UNCHANGED),
        event(company, local(date(2026, 11, 21), 8), "rule", RecordAction.SKIPPED, message="credit not approved"),
        event(
            company,
            local(date(2026, 11, 21), 9),
            "broken",
            RecordAction.FAILED,
            message="=cmd|' /C calc'!A0",
            http_status=422,
        ),
        event(company, local(end, 23, 59, 59), "last-of-range", RecordAction.DELETED),
        *(event(contact, local(date(2026, 11, 21), 12, minute), key) for minute, key in enumerate(DANGEROUS_KEYS)),
    ]
    outside = [
        event(company, local(start) - timedelta(seconds=1), "before-range"),
        event(company, local(end + timedelta(days=1)), "after-range"),
        event(contact, local(date(2026, 11, 10)), "long-ago"),
        event(order, local(date(2026, 11, 21)), "order-not-chosen"),
    ]
    requests = [
        RequestLog.objects.create(
            run=run,
            table=company,
            started_at=local(start, 9, 29),
            method="SOAP",
            url="https://erp.example/ws",
            operation="ListCustomers",
            status_code=200,
        ),
        RequestLog.objects.create(
            run=run,
            table=company,
            started_at=local(date(2026, 11, 21), 9, 0, 1),
            method="POST",
            url="https://crm.example/Contacts",
            status_code=503,
            error="Service unavailable after 3 attempts",
        ),
        RequestLog.objects.create(
            run=run,
            table=company,
            started_at=local(date(2026, 11, 21), 10),
            method="GET",
            url="https://crm.example/Contacts?$filter=CNPJ eq '1'",
            error="-timeout reading the answer",
        ),
    ]
    RequestLog.objects.create(
        run=run, table=company, started_at=local(end + timedelta(days=1), 1), method="GET", url="https://x/after"
    )
    RequestLog.objects.create(run=run, table=None, started_at=local(start, 12), method="GET", url="https://x/wsdl")
    return {"run": run, "start": start, "end": end, "inside": inside, "outside": outside, "requests": requests}


def post_history(client, integration, start, end, tables):
    return client.post(
        reverse("admin:integration_history", args=[integration.pk]),
        {"start": start.isoformat(), "end": end.isoformat(), "tables": [table.pk for table in tables]},
    )


def workbook_of(response):
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return openpyxl.load_workbook(io.BytesIO(content), read_only=True)


def sheet_rows(sheet):
    return [list(row) for row in sheet.iter_rows()]


def values(rows):
    return [[cell.value for cell in row] for row in rows]


def summary_table(sheet) -> dict[str, dict[str, object]]:
    rows = values(sheet.iter_rows())
    header_at = next(index for index, row in enumerate(rows) if row and row[0] == "Table")
    header = rows[header_at]
    return {row[0]: dict(zip(header, row, strict=False)) for row in rows[header_at + 1 :] if row and row[0]}


# --------------------------------------------------------------------------- the form


def form(integration, **data):
    return HistoryForm(integration, data, today=TODAY)


def test_the_form_proposes_the_last_7_days_and_every_active_table(integration, tables):
    unbound = HistoryForm(integration, today=TODAY)
    assert unbound.fields["start"].initial == date(2026, 11, 16)
    assert unbound.fields["end"].initial == TODAY
    labels = [label for _value, label in unbound.fields["tables"].choices]
    assert labels == [
        "Company — Customers that are companies",
        "Contact — People at the customers",
        "Order — Orders of the last 2 years",
    ]
    assert sorted(unbound.initial["tables"]) == sorted(table.pk for table in tables)


def test_the_form_refuses_an_8_day_range_in_words(integration, tables):
    bound = form(integration, start="2026-11-15", end="2026-11-23", tables=[tables[0].pk])
    assert not bound.is_valid()
    assert bound.errors["start"] == ["The history keeps the last 7 days: choose a start on or after 11/16/2026."]
    assert form(integration, start="2026-11-16", end="2026-11-23", tables=[tables[0].pk]).is_valid()


def test_the_form_refuses_a_reversed_range_a_future_end_and_no_table(integration, tables):
    reversed_range = form(integration, start="2026-11-22", end="2026-11-20", tables=[tables[0].pk])
    assert not reversed_range.is_valid()
    assert reversed_range.non_field_errors() == [
        "The start date (11/22/2026) is after the end date (11/20/2026): choose a start on or before the end."
    ]
    future = form(integration, start="2026-11-20", end="2026-11-24", tables=[tables[0].pk])
    assert future.errors["end"] == ["The end date cannot be in the future: choose 11/23/2026 or earlier."]
    no_table = form(integration, start="2026-11-20", end="2026-11-22")
    assert no_table.errors["tables"] == ["Choose at least one table."]


def test_an_inactive_or_foreign_table_cannot_be_chosen(integration, tables):
    retired = SyncTable.objects.get(name="Retired")
    assert not form(integration, start="2026-11-20", end="2026-11-22", tables=[retired.pk]).is_valid()
    other = Integration.objects.create(
        name="Other",
        integration_type=integration.integration_type,
        erp_name="TOTVS",
        crm_name="HubSpot",
        erp_connection=integration.erp_connection,
        crm_connection=integration.crm_connection,
    )
    foreign = SyncTable.objects.create(
        integration=other, name="Company", source_object="A", target_object="B", record_key="Id"
    )
    assert not form(integration, start="2026-11-20", end="2026-11-22", tables=[foreign.pk]).is_valid()


def test_the_tab_needs_a_few_queries_whatever_the_history(login_as, integration, tables, history):
    client = login_as(ONBOARDING)
    url = reverse("admin:integration_history", args=[integration.pk])
    client.get(url)  # warm the session and permission caches of this client
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    # session, user, 2 for permissions, integration, health, tables (initial and choices), recent exports
    assert len(queries) <= 9, [query["sql"] for query in queries]


def test_the_page_shows_the_messages(login_as, integration, tables):
    client = login_as(ONBOARDING)
    response = post_history(client, integration, date(2026, 11, 10), date(2026, 11, 23), tables[:1])
    assert response.status_code == 200
    assert "The history keeps the last 7 days: choose a start on or after 11/16/2026." in response.content.decode()
    response = post_history(client, integration, date(2026, 11, 22), date(2026, 11, 20), tables[:1])
    assert "is after the end date" in response.content.decode()


# --------------------------------------------------------------------------- the workbook


def test_onboarding_downloads_one_workbook_with_a_sheet_per_chosen_table(login_as, integration, tables, history):
    company, contact, _order = tables
    client = login_as(ONBOARDING)
    page = client.get(reverse("admin:integration_history", args=[integration.pk]))
    assert page.status_code == 200 and 'value="Download"' in page.content.decode()

    response = post_history(client, integration, history["start"], history["end"], [company, contact])
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert (
        response["Content-Disposition"] == 'attachment; filename="history-sankhya-ploomes-2026-11-20_2026-11-22.xlsx"'
    )
    book = workbook_of(response)
    assert book.sheetnames == ["Summary", "Reconciliation", "Company", "Contact"]

    rows = sheet_rows(book["Company"])
    assert values(rows[:1]) == [HEADERS]
    body = values(rows[1:])
    # Every event and request of the range, in time order, none outside it.
    kinds = ["record", "request", "record", "record", "record", "record", "request", "request", "record"]
    assert [row[1] for row in body] == kinds
    keys = [row[3] for row in body if row[1] == "record"]
    assert keys == ["first-of-range", "11.222.333/0001-44", "unchanged", "rule", "broken", "last-of-range"]
    assert not {"before-range", "after-range", "long-ago", "order-not-chosen"} & {row[3] for row in body}

    first = body[0]
    assert first[0] == datetime(2026, 11, 20, 0, 0, 0)  # a real datetime, in local time
    assert first[2:7] == [f"#{history['run'].pk}", "first-of-range", "T-1", "created", "Created"]
    assert first[8] == 201 and isinstance(first[8], int)
    assert values(rows)[-1][0] == datetime(2026, 11, 22, 23, 59, 59)

    soap = body[1]
    assert soap[0] == datetime(2026, 11, 20, 9, 29)
    assert soap[5] == "SOAP ListCustomers https://erp.example/ws"
    assert soap[6] == "200 OK" and soap[8] == 200
    failed_call = body[6]
    assert failed_call[6:9] == ["503 Service Unavailable", "Service unavailable after 3 attempts", 503]

    # Cell types as written: datetimes are dates, HTTP statuses numbers.
    for row in rows[1:]:
        assert row[0].is_date and row[0].number_format == "dd/mm/yyyy hh:mm:ss"
        if row[8].value is not None:
            assert row[8].data_type == "n"


def test_cells_from_outside_data_cannot_become_formulas(login_as, integration, tables, history):
    company, contact, _order = tables
    response = post_history(login_as(ONBOARDING), integration, history["start"], history["end"], [company, contact])
    book = workbook_of(response)
    key_cells = [row[3] for row in sheet_rows(book["Contact"])[1:]]
    assert len(key_cells) == len(DANGEROUS_KEYS)
    for cell, key in zip(key_cells, DANGEROUS_KEYS, strict=True):
        assert cell.data_type == "s" and cell.value.startswith("'")
        # XlsxWriter stores a CR as Excel's _x000D_ escape, which Excel (not openpyxl) reads back as "\r".
        assert cell.value == "'" + key.replace("\r", "_x000D_")
    company_rows = sheet_rows(book["Company"])[1:]
    message = next(row[7] for row in company_rows if row[3].value == "broken")
    assert message.value == "'=cmd|' /C calc'!A0" and message.data_type == "s"
    error = next(row[7] for row in company_rows if row[5].value and row[5].value.startswith("GET"))
    assert error.value == "'-timeout reading the answer"
    # Plain text is left alone, and numbers stay numbers.
    assert any(row[3].value == "11.222.333/0001-44" for row in company_rows)
    assert next(row[8] for row in company_rows if row[3].value == "broken").value == 422


def test_no_cell_of_the_workbook_is_a_formula(integration, tables, history):
    buffer = io.BytesIO()
    write_history(HistorySelection(integration, tables[:2], history["start"], history["end"]), buffer)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))  # not read-only: formulas would show as type "f"
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row)


def test_the_summary_counts_match_the_sheets(login_as, integration, tables, history):
    company, contact, _order = tables
    # The ledger's ends: the newest run in the range saw the source report 9 records, an older one 7;
    # a run after the range (12, not shown) too. The target was counted by the older run (6) and the
    # newest one (8), not by the one after the range (11). Two records are linked in the target now.
    sync_run = RecordEvent.objects.filter(table=company).first().run
    for day, hour, total, in_target in ((20, 9, 7, 6), (21, 9, 9, 8), (23, 9, 12, 11)):
        TableRun.objects.create(
            run=sync_run
            if day == 20
            else SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.SUCCEEDED),
            table=company,
            started_at=local(date(2026, 11, day), hour),
            source_total=total,
            target_total=in_target,
            linked_total=in_target,
        )
    RecordLink.objects.bulk_create(
        RecordLink(table=company, source_key=f"S{n}", target_key=f"T{n}", mapped_hash="x") for n in range(2)
    )
    response = post_history(login_as(IT), integration, history["start"], history["end"], [company, contact])
    book = workbook_of(response)
    facts = {row[0]: row[1] for row in values(book["Summary"].iter_rows()) if row and row[0]}
    assert facts["Integration"] == "Sankhya ↔ Ploomes"
    assert facts["From"] == datetime(2026, 11, 20) and facts["To"] == datetime(2026, 11, 22)
    assert facts["Generated at"] == datetime(2026, 11, 23, 12, 0)
    assert facts["Time zone"] == "America/Sao_Paulo"

    summary = summary_table(book["Summary"])
    assert summary["Company"] == {
        "Table": "Company",
        "Description": "Customers that are companies",
        "Sheet": "Company",
        "Source total (newest run)": 9,
        "Confirmed in the target (newest run)": 8,
        "Created": 1,
        "Updated": 1,
        "Unchanged": 1,
        "Skipped by a rule": 1,
        "Deleted": 1,
        "Delete held": 0,
        "Waiting for a referenced record": 0,
        "Failed": 1,
        "Record events": 6,
        "Requests": 3,
        "Failed requests": 2,
        "Linked in the target (now)": 2,
    }
    assert summary["Contact"]["Created"] == summary["Contact"]["Record events"] == len(DANGEROUS_KEYS)
    assert summary["Contact"]["Requests"] == 0
    assert summary["Total"]["Record events"] == 6 + len(DANGEROUS_KEYS)
    # Each table's newest totals are facts of one moment: not added up into a total.
    assert summary["Contact"]["Confirmed in the target (newest run)"] is None
    assert summary["Total"]["Source total (newest run)"] is None
    assert summary["Total"]["Confirmed in the target (newest run)"] is None
    for name in ("Company", "Contact"):
        sheet_body = values(sheet_rows(book[name])[1:])
        assert summary[name]["Record events"] == sum(row[1] == "record" for row in sheet_body)
        assert summary[name]["Requests"] == sum(row[1] == "request" for row in sheet_body)


def test_a_table_with_nothing_in_the_range_still_gets_its_sheet(integration, tables, history):
    buffer = io.BytesIO()
    selection = HistorySelection(integration, tables, date(2026, 11, 22), date(2026, 11, 22))
    result = write_history(selection, buffer)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()), read_only=True)
    assert book.sheetnames == ["Summary", "Reconciliation", "Company", "Contact", "Order"]
    assert values(book["Contact"].iter_rows()) == values(book["Order"].iter_rows()) == [HEADERS]
    assert result.rows == 1
    summary = summary_table(book["Summary"])
    assert summary["Order"]["Record events"] == summary["Order"]["Requests"] == 0


def test_times_are_local_at_the_day_boundaries(integration, tables):
    company = tables[0]
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status=RunStatus.SUCCEEDED)
    # 02:30 UTC on the 20th is still the 19th in São Paulo (UTC-3): outside a range starting on the 20th.
    utc = ZoneInfo("UTC")
    for key, when in [
        ("19th-local", datetime(2026, 11, 20, 2, 30, tzinfo=utc)),
        ("20th-local", datetime(2026, 11, 20, 3, 0, tzinfo=utc)),
    ]:
        RecordEvent.objects.create(run=run, table=company, occurred_at=when, record_key=key, action="created")
    buffer = io.BytesIO()
    write_history(HistorySelection(integration, (company,), date(2026, 11, 20), date(2026, 11, 20)), buffer)
    rows = values(openpyxl.load_workbook(io.BytesIO(buffer.getvalue()), read_only=True)["Company"].iter_rows())
    assert [(row[0], row[3]) for row in rows[1:]] == [(datetime(2026, 11, 20, 0, 0), "20th-local")]


def test_a_table_longer_than_an_excel_sheet_continues_on_the_next(integration, tables, history, monkeypatch):
    monkeypatch.setattr(workbook, "EXCEL_MAX_ROWS", 4)  # a header and 3 rows per sheet
    buffer = io.BytesIO()
    write_history(HistorySelection(integration, tables[:1], history["start"], history["end"]), buffer)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()), read_only=True)
    assert book.sheetnames == ["Summary", "Reconciliation", "Company", "Company (2)", "Company (3)"]
    sheets = [values(book[name].iter_rows()) for name in book.sheetnames[2:]]
    assert all(rows[0] == HEADERS and len(rows) == 4 for rows in sheets)
    times = [row[0] for rows in sheets for row in rows[1:]]
    assert times == sorted(times) and len(times) == 9
    assert summary_table(book["Summary"])["Company"]["Sheet"] == "Company, Company (2), Company (3)"


def test_the_workbook_is_streamed_without_a_query_per_row(integration, tables, django_assert_max_num_queries):
    company, contact, _order = tables
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status=RunStatus.SUCCEEDED)
    moment = local(date(2026, 11, 21), 8)
    RecordEvent.objects.bulk_create(
        RecordEvent(
            run=run, table=table, occurred_at=moment + timedelta(seconds=i), record_key=str(i), action="created"
        )
        for table in (company, contact)
        for i in range(300)
    )
    RequestLog.objects.bulk_create(
        RequestLog(run=run, table=company, started_at=moment + timedelta(seconds=i), method="GET", url="https://x")
        for i in range(50)
    )
    selection = HistorySelection(integration, (company, contact), date(2026, 11, 21), date(2026, 11, 21))
    # Events and requests, per table; the newest totals and the links (summary); the day-by-day ledger.
    with django_assert_max_num_queries(7):
        result = write_history(selection, io.BytesIO())
    assert result.rows == 650


def test_the_resources_are_the_columns_of_the_sheets(integration, tables, history):
    """``Resource.export()`` (in memory) and the streamed sheet give the same headers and values."""
    company = tables[0]
    event = RecordEvent.objects.get(record_key="broken")
    dataset = RecordEventResource().export(RecordEvent.objects.filter(pk=event.pk))
    assert dataset.headers == HEADERS == RequestLogResource().get_export_headers()
    assert list(dataset[0]) == [
        datetime(2026, 11, 21, 9, 0),
        "record",
        f"#{history['run'].pk}",
        "broken",
        "",
        "failed",
        "Failed",
        "=cmd|' /C calc'!A0",  # the resource gives the data; the workbook writer neutralises it
        422,
    ]
    request = RequestLogResource().export(RequestLog.objects.filter(status_code=503))
    assert list(request[0])[1:] == [
        "request",
        f"#{history['run'].pk}",
        None,
        None,
        "POST https://crm.example/Contacts",
        "503 Service Unavailable",
        "Service unavailable after 3 attempts",
        503,
    ]
    assert company.pk  # the fixture's table is the event's


def test_sheet_names_are_short_unique_and_safe():
    taken = {"summary"}
    assert sheet_name("Summary", taken) == "Summary (2)"
    assert sheet_name("History", taken) == "History (2)"
    assert sheet_name("Orders [ERP]: 2024/2025?", taken) == "Orders  ERP   2024 2025"
    long = "Itens das notas fiscais dos clientes"
    assert sheet_name(long, taken) == long[:31]
    assert sheet_name(long + " bis", taken) == long[:27] + " (2)"
    assert sheet_name("'quoted'", taken) == "quoted"
    assert all(len(name) <= 31 for name in taken)


def test_a_table_name_that_clashes_with_the_summary_sheet(integration, tables, history):
    company = tables[0]
    company.name = "summary"
    company.save()
    buffer = io.BytesIO()
    write_history(HistorySelection(integration, (company,), history["start"], history["end"]), buffer)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()), read_only=True)
    assert book.sheetnames == ["Summary", "Reconciliation", "summary (2)"]
    assert summary_table(book["Summary"])["summary"]["Sheet"] == "summary (2)"


# --------------------------------------------------------------------------- who may download


def test_supervisor_sees_the_tab_without_download_and_is_refused_the_file(login_as, integration, tables, history):
    client = login_as(SUPERVISOR)
    page = client.get(reverse("admin:integration_history", args=[integration.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Company" in text and "Customers that are companies" in text
    assert 'value="Download"' not in text
    response = post_history(client, integration, history["start"], history["end"], tables[:1])
    assert response.status_code == 403
    assert not ExportJob.objects.exists()


def test_a_user_without_view_permission_cannot_open_the_tab(client, django_user_model, integration):
    user = django_user_model.objects.create_user(username="nobody", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:integration_history", args=[integration.pk])).status_code == 403


# --------------------------------------------------------------------------- background exports


@pytest.fixture
def big(settings):
    settings.EXPORT_INLINE_MAX_ROWS = 5


def test_a_large_export_is_built_in_the_background_and_offered_when_ready(login_as, integration, tables, history, big):
    company, contact, _order = tables
    client = login_as(ONBOARDING)
    response = post_history(client, integration, history["start"], history["end"], [company, contact])
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:export", args=[job.pk])
    # Q_CLUSTER sync mode: the task ran inline.
    assert job.status == ExportStatus.DONE and job.requested_by.username == "onboarding"
    assert job.table_ids == [company.pk, contact.pk]
    assert job.rows == 6 + 3 + len(DANGEROUS_KEYS) and job.size_bytes > 0 and job.task_id
    assert (exports.exports_dir() / job.file_name).is_file()

    status = client.get(response["Location"])
    text = status.content.decode()
    assert status.status_code == 200 and 'http-equiv="refresh"' not in text
    assert reverse("admin:export_download", args=[job.pk]) in text

    download = client.get(reverse("admin:export_download", args=[job.pk]))
    assert download.status_code == 200
    assert 'filename="history-sankhya-ploomes-2026-11-20_2026-11-22.xlsx"' in download["Content-Disposition"]
    book = workbook_of(download)
    assert book.sheetnames == ["Summary", "Reconciliation", "Company", "Contact"]
    assert values(sheet_rows(book["Company"])[:1]) == [HEADERS]
    assert len(sheet_rows(book["Company"])) == 1 + 6 + 3
    assert summary_table(book["Summary"])["Total"]["Record events"] == 6 + len(DANGEROUS_KEYS)

    # The History tab lists the user's exports.
    page = client.get(reverse("admin:integration_history", args=[integration.pk])).content.decode()
    assert reverse("admin:export", args=[job.pk]) in page


def test_a_queued_export_page_refreshes_itself(login_as, integration, tables):
    client = login_as(ONBOARDING)
    job = ExportJob.objects.create(
        integration=integration,
        requested_by=ExportJob._meta.get_field("requested_by").related_model.objects.get(username="onboarding"),
        table_ids=[tables[0].pk],
        start_date=date(2026, 11, 20),
        end_date=date(2026, 11, 22),
    )
    text = client.get(reverse("admin:export", args=[job.pk])).content.decode()
    assert '<meta http-equiv="refresh" content="3">' in text
    # Not ready yet: the download leads back to the status page.
    response = client.get(reverse("admin:export_download", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("admin:export", args=[job.pk])


def test_nobody_else_sees_or_downloads_someone_elses_export(
    login_as, client, django_user_model, integration, tables, history, big
):
    post_history(login_as(ONBOARDING), integration, history["start"], history["end"], tables[:1])
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.DONE

    colleague = django_user_model.objects.create_user(username="colleague", password="pw", is_staff=True)
    colleague.groups.add(Group.objects.get(name=IT))
    client.force_login(colleague)
    assert client.get(reverse("admin:export", args=[job.pk])).status_code == 404
    assert client.get(reverse("admin:export_download", args=[job.pk])).status_code == 404

    supervisor = django_user_model.objects.create_user(username="boss", password="pw", is_staff=True)
    supervisor.groups.add(Group.objects.get(name=SUPERVISOR))
    client.force_login(supervisor)
    assert client.get(reverse("admin:export_download", args=[job.pk])).status_code == 403

    admin = django_user_model.objects.create_superuser(username="root", password="pw")
    client.force_login(admin)
    assert client.get(reverse("admin:export_download", args=[job.pk])).status_code == 200


def test_a_failed_export_keeps_its_reason(login_as, integration, tables, history, big, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(exports, "write_history", broken)
    client = login_as(ONBOARDING)
    # In sync mode django-q2 lets the task's exception through; a real worker records it as a failed task.
    with pytest.raises(OSError):
        post_history(client, integration, history["start"], history["end"], tables[:1])
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.FAILED and job.error == "No space left on device"
    assert not list(exports.exports_dir().glob(f"history-{job.pk}.*"))
    page = client.get(reverse("admin:export", args=[job.pk])).content.decode()
    assert "The export failed:" in page and "No space left on device" in page


def test_expired_exports_are_deleted(login_as, integration, tables, history, big):
    client = login_as(ONBOARDING)
    post_history(client, integration, history["start"], history["end"], tables[:1])
    job = ExportJob.objects.get()
    path = exports.exports_dir() / job.file_name

    assert delete_expired_exports(timezone.now() + timedelta(hours=23)) == 0
    assert path.is_file()
    assert delete_expired_exports(timezone.now() + timedelta(hours=25)) == 1
    assert not path.exists()
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED
    assert "deleted after its keeping time" in client.get(reverse("admin:export", args=[job.pk])).content.decode()
    response = client.get(reverse("admin:export_download", args=[job.pk]))
    assert response.status_code == 302


def test_a_ready_export_whose_file_is_gone_says_so(login_as, integration, tables, history, big):
    client = login_as(ONBOARDING)
    post_history(client, integration, history["start"], history["end"], tables[:1])
    job = ExportJob.objects.get()
    (exports.exports_dir() / job.file_name).unlink()
    response = client.get(reverse("admin:export_download", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED
    assert reverse("admin:export_download", args=[job.pk]) not in client.get(response["Location"]).content.decode()


def test_an_export_whose_worker_died_is_failed_by_the_cleanup(integration, tables):
    job = ExportJob.objects.create(
        integration=integration,
        table_ids=[tables[0].pk],
        start_date=date(2026, 11, 20),
        end_date=date(2026, 11, 22),
        status=ExportStatus.RUNNING,
        started_at=timezone.now(),
    )
    delete_expired_exports(timezone.now() + timedelta(hours=3))
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "did not finish" in job.error


def test_the_form_messages_write_dates_the_way_the_language_does(integration):
    from django.utils import translation

    from monitoring.views.history import _day

    with translation.override("pt-br"):
        assert _day(date(2026, 11, 16)) == "16/11/2026"
    with translation.override("en"):
        assert _day(date(2026, 11, 16)) == "11/16/2026"
