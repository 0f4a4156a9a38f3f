"""Confirmed in the target: after a run, the target's own count of a table's records against the portal's links.

The source and the target are real local REST servers. What is checked is what a user sees: the
table run's figures, the run page, the General tab, the alert that names both figures and its
resolution, a count that fails without failing the run, the configuration that refuses a count the
target cannot answer, and the history workbook's day-by-day reconciliation.
"""

import html
import io
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from monitoring.alerts import evaluate_all, open_alert
from monitoring.choices import AlertKind, AlertStatus, RunStatus, Trigger
from monitoring.exports import HistorySelection, write_history
from monitoring.models import Alert, RequestLog, SyncRun, TableRun
from monitoring.reconciliation import daily_rows
from sync.choices import COUNTING_CONNECTION_KINDS, ConnectionKind
from sync.connectors.base import ConnectionConfig, Connector, ConnectorError
from sync.connectors.rest import RestConnector
from sync.connectors.soap import SoapConnector
from sync.engine import execute_run, queue_run
from sync.models import FieldMapping, RecordLink, SyncTable

from .builders import rest_to_rest, two_rest_apis
from .processes import wait_until
from .test_validation import table_post_data

KEY = "count-key-5be2"
NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo, the portal's zone
CUSTOMERS = "Contacts?$filter=Kind eq 'customer'&$count=true&$top=0"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


def build(systems, count_query=CUSTOMERS):
    source, target = systems
    integration = rest_to_rest(source, target, api_key=KEY, name="Legacy ↔ CRM", max_retries=0)
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        read_arguments={"$count": "true"},  # the source reports its total too
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Email",
        target_count_query=count_query,
    )
    for position, name in enumerate(("Email", "Name", "Kind")):
        FieldMapping.objects.create(table=table, position=position, source_path=name, target_field=name)
    return integration


@pytest.fixture
def legacy(db, systems):
    """The integration "Legacy ↔ CRM" between the two servers, its Contact table counting the CRM's customers."""
    return build(systems)


def customers(source, count):
    return [source.add_contact(Email=f"c{n}@example.com", Name=f"C{n}", Kind="customer") for n in range(1, count + 1)]


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def count_calls(target):
    """The counts asked of the target: ``$count=true`` on the collection, or OData's ``/$count``."""
    listed = [received for received in target.requests_to("/Contacts", "GET") if "$count" in received.query]
    return listed + target.requests_to("/Contacts/$count", "GET")


def run_page(client, sync_run) -> str:
    return html.unescape(client.get(reverse("admin:run", args=[sync_run.pk])).content.decode())


def reconciliation_cell(client, integration, table) -> str:
    page = html.unescape(client.get(reverse("admin:integration", args=[integration.pk])).content.decode())
    row = page.split(f'data-table="{table.pk}"', 1)[1].split("</tr>", 1)[0]
    return row.split('<td class="number" data-reconciliation>', 1)[1].split("</td>", 1)[0]


def target_alerts():
    return Alert.objects.filter(kind=AlertKind.TARGET_COUNT)


DIFFERS = (
    '<span class="portal-bad" data-check="target-differs" '
    'title="The target holds another number of records than the portal links">⚠ {target} (links: {linked})</span>'
)


# --------------------------------------------------------------------------- the engine and the screens


@pytest.mark.django_db
def test_the_target_confirms_what_the_portal_links(legacy, systems, login_as):
    source, target = systems
    customers(source, 3)
    target.add_contact(Email="lead@example.com", Name="A salesperson's lead", Kind="lead")  # filtered out

    sync_run = run(legacy)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    table_run = TableRun.objects.get(run=sync_run)
    assert (table_run.source_total, table_run.read, table_run.created) == (3, 3, 3)
    assert (table_run.target_total, table_run.linked_total, table_run.target_count_error) == (3, 3, "")
    [asked] = count_calls(target)  # once, after the writes, with the connection's key
    assert asked.query == {"$filter": "Kind eq 'customer'", "$count": "true", "$top": "0"}
    assert asked.headers["User-Key"] == KEY
    log = RequestLog.objects.get(run=sync_run, operation="count")
    assert log.status_code == 200 and log.table == table_run.table and "$count=true" in log.url
    assert not target_alerts().exists()
    page = run_page(login_as(SUPERVISOR), sync_run)
    assert "confirmed in the target</th>" in page
    assert '<td class="number" data-count="source_total">3</td>' in page
    assert '<td class="number" data-count="target_total">3</td>' in page


@pytest.mark.django_db
def test_a_difference_opens_an_alert_naming_both_figures_until_a_run_finds_them_equal(legacy, systems, login_as):
    source, target = systems
    customers(source, 3)
    extras = [
        target.add_contact(Email=f"typed-in-{n}@example.com", Name="Typed in the CRM", Kind="customer") for n in (1, 2)
    ]
    client = login_as(SUPERVISOR)

    first = run(legacy)

    assert first.status == RunStatus.SUCCEEDED  # the writes happened: a difference is an alert, not a failure
    table_run = TableRun.objects.get(run=first)
    assert (table_run.target_total, table_run.linked_total) == (5, 3)
    [alert] = target_alerts()
    assert (alert.status, alert.table) == (AlertStatus.OPEN, table_run.table)
    assert str(alert.message) == "Contact: CRM answers 5 records and the portal links 3."
    assert f'data-count="target_total">{DIFFERS.format(target=5, linked=3)}</td>' in run_page(client, first)
    assert reconciliation_cell(client, legacy, table_run.table) == "3 / 3 / " + DIFFERS.format(target=5, linked=3)

    run(legacy)  # still different: the same alert stays open, no second one
    assert list(target_alerts().values_list("pk", "status")) == [(alert.pk, AlertStatus.OPEN)]

    for extra in extras:  # IT removes the records typed in the CRM by hand
        target.remove(extra["Id"])
    fixed = run(legacy)

    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    resolved = alert.events.get(state=AlertStatus.RESOLVED)
    assert str(resolved.note) == "CRM answers 3 records, as many as the portal links."
    assert '<td class="number" data-count="target_total">3</td>' in run_page(client, fixed)
    assert reconciliation_cell(client, legacy, table_run.table) == "3 / 3 / 3"


@pytest.mark.django_db
def test_a_count_that_fails_leaves_the_run_succeeded_with_the_reason(db, systems, login_as):
    source, target = systems
    integration = build(systems, count_query="Contacts/$count?$filter=Kind eq 'customer'")
    customers(source, 2)
    target.add_contact(Email="typed-in@example.com", Name="Typed in the CRM", Kind="customer")
    run(integration)
    [alert] = target_alerts()  # 3 in the CRM (OData's plain /$count), 2 linked

    target.fail_next(1, 503, path="/Contacts/$count")
    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    table_run = TableRun.objects.get(run=sync_run)
    assert table_run.status == RunStatus.SUCCEEDED
    assert (table_run.target_total, table_run.linked_total) == (None, None)
    reason = "CRM answered 503 Service Unavailable to GET /Contacts/$count: Injected failure 503"
    assert str(table_run.target_count_error) == reason
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN  # nothing is known either way: the alert stays as it was
    page = run_page(login_as(SUPERVISOR), sync_run)
    assert (
        '<td class="number" data-count="target_total"><span class="portal-quiet" title="The target was not counted">'
        f'—</span> <span class="portal-help" data-target-count-error>{reason}</span></td>'
    ) in page
    assert RequestLog.objects.get(run=sync_run, operation="count").status_code == 503


@pytest.mark.django_db(transaction=True)
def test_a_run_the_reaper_gave_up_on_does_not_count(systems, settings):
    settings.RUN_HEARTBEAT_STALE_AFTER, settings.RUN_HEARTBEAT_INTERVAL = 2, 0.05
    source, target = systems
    integration = build(systems)
    customers(source, 1)
    target.delay_next(1, seconds=1.5, method="POST")  # the only write is slow: the reaper gives up meanwhile
    run_id = queue_run(integration, Trigger.MANUAL).pk

    def reaper():
        wait_until(lambda: target.requests_to("/Contacts", "POST"), timeout=10, message="the write to start")
        SyncRun.objects.get(pk=run_id).finish(RunStatus.ABANDONED, "reaped")  # as the reaper would
        connection.close()

    thread = threading.Thread(target=reaper, daemon=True)
    thread.start()
    sync_run = execute_run(run_id)
    thread.join(timeout=10)

    assert sync_run.status == RunStatus.ABANDONED
    assert count_calls(target) == []
    assert not TableRun.objects.filter(run=sync_run, target_total__isnull=False).exists()
    assert not target_alerts().exists()


@pytest.mark.django_db
def test_the_general_tab_says_not_checked_for_a_table_without_a_count_query(legacy, systems, login_as):
    source, _target = systems
    customers(source, 2)
    table = SyncTable.objects.get()
    table.target_count_query = ""
    table.save()
    run(legacy)
    assert reconciliation_cell(login_as(SUPERVISOR), legacy, table) == (
        '2 / 2 / <span class="portal-quiet" data-target-count="not-checked">not checked</span>'
    )


# --------------------------------------------------------------------------- alerts the evaluation resolves


@pytest.mark.django_db
def test_the_evaluation_resolves_count_alerts_no_run_will_check_again(legacy):
    first = SyncTable.objects.get()
    second, third = (
        SyncTable.objects.create(
            integration=legacy,
            name=name,
            source_object="/Contacts",
            target_object="/Contacts",
            record_key="Email",
            target_count_query=CUSTOMERS,
        )
        for name in ("Company", "Product")
    )
    for table in (first, second, third):
        open_alert(legacy, AlertKind.TARGET_COUNT, f"{table.name}: CRM answers 5 records.", table=table)
    first.target_count_query = ""  # IT stops checking Contact
    first.save()
    SyncTable.objects.filter(pk=second.pk).update(active=False)

    evaluate_all()

    status = dict(target_alerts().values_list("table__name", "status"))
    assert status == {"Contact": AlertStatus.RESOLVED, "Company": AlertStatus.RESOLVED, "Product": AlertStatus.OPEN}
    resolved = target_alerts().filter(status=AlertStatus.RESOLVED)
    notes = {alert.table.name: str(alert.events.get(state=AlertStatus.RESOLVED).note) for alert in resolved}
    assert notes == {"Contact": "The table no longer has a count query.", "Company": "The table was switched off."}

    legacy.active = False
    legacy.save()
    evaluate_all()
    product = target_alerts().get(table=third)
    assert product.status == AlertStatus.RESOLVED
    assert str(product.events.get(state=AlertStatus.RESOLVED).note) == "The integration was paused."


# --------------------------------------------------------------------------- the connector


@pytest.fixture
def counter(systems):
    _source, target = systems
    config = ConnectionConfig(
        name="CRM",
        kind="rest",
        base_url=target.url,
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key=KEY,
        max_retries=0,
        timeout_seconds=5,
    )
    calls = []
    with RestConnector(config, calls.append) as connector:
        connector.calls = calls
        yield connector


@pytest.mark.parametrize(
    ("body", "content_type", "count"),
    [
        ("42", "text/plain", 42),  # OData's /$count
        ("\ufeff42\r\n", "text/plain; charset=utf-8", 42),
        (42, "application/json", 42),
        ({"@odata.context": "$metadata#Contacts", "@odata.count": 7, "value": []}, "application/json", 7),
        ({"total": 9, "items": []}, "application/json", 9),
        ({"total_de_registros": 0}, "application/json", 0),
    ],
)
def test_the_rest_connector_reads_a_bare_number_or_a_total(systems, counter, body, content_type, count):
    _source, target = systems
    target.fail_next(1, 200, path="/Contacts", body=body, content_type=content_type)  # the answer as the API gives it
    assert counter.count("Contacts/$count") == count
    [call] = counter.calls
    assert (call.method, call.operation, call.status_code) == ("GET", "count", 200)
    assert call.url == f"{target.url}/Contacts/$count"


@pytest.mark.parametrize(
    ("body", "holds"),
    [
        ({"value": [], "@odata.context": "x"}, "value, @odata.context"),
        ({"@odata.count": "7"}, "@odata.count"),  # a count in text is not a count
        ("<html>Sign in</html>", "<html>Sign in</html>"),
        ("", "(an empty body)"),
        (-3, "int"),
    ],
)
def test_an_answer_without_a_count_is_refused_with_the_query_named(systems, counter, body, holds):
    _source, target = systems
    target.fail_next(1, 200, path="/Contacts", body=body)
    with pytest.raises(ConnectorError) as refused:
        counter.count("Contacts?$top=0")
    assert refused.value.message == (
        "The answer to the count query Contacts?$top=0 holds no count: expected a number, or an object with one of "
        f"@odata.count, total, totalCount, total_count, total_de_registros, count (it holds: {holds})."
    )
    assert not refused.value.retryable


def test_a_count_query_with_an_address_of_its_own_is_never_sent(systems, counter):
    _source, target = systems
    with pytest.raises(ConnectorError) as refused:
        counter.count(f"{target.url}/Contacts/$count")
    assert "is an address of its own: write it relative to the connection's base URL" in refused.value.message
    assert target.received == [] and counter.calls == []


def test_only_rest_connections_count():
    soap = SoapConnector(ConnectionConfig(name="ERP", kind="soap", wsdl_url="https://erp.example/ws?wsdl"))
    with pytest.raises(ConnectorError) as refused:
        soap.count("Customers/$count")
    assert refused.value.message == "This connection cannot count records."
    assert SoapConnector.count is Connector.count and RestConnector.count is not Connector.count
    assert COUNTING_CONNECTION_KINDS == (ConnectionKind.REST,)


# --------------------------------------------------------------------------- configuration


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"direction": "crm_to_erp", "target_count_query": "Customers/$count"},
            "The connection Sankhya (SOAP web service) cannot count records: leave the count query blank.",
        ),
        (
            {"target_count_query": "https://elsewhere.example/Contacts/$count"},
            '"https://elsewhere.example/Contacts/$count" is an address of its own: write it relative to the '
            "connection's base URL, e.g. Contacts?$count=true&$top=0",
        ),
        (
            {"target_count_query": "//elsewhere.example/Contacts/$count"},
            '"//elsewhere.example/Contacts/$count" is an address of its own',
        ),
    ],
)
def test_the_table_form_refuses_a_count_the_target_cannot_answer(login_as, integration, overrides, message):
    data = table_post_data(integration, [{"source_path": "Email", "target_field": "Email"}], name="Person", **overrides)
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert not SyncTable.objects.filter(name="Person").exists()


@pytest.mark.django_db
def test_the_table_form_saves_a_count_query_on_a_rest_target(login_as, integration):
    mappings = [{"source_path": "Email", "target_field": "Email"}]
    data = table_post_data(integration, mappings, name="Person", target_count_query=CUSTOMERS)
    client = login_as(IT)
    response = client.post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 302
    table = SyncTable.objects.get(name="Person")
    assert table.target_count_query == CUSTOMERS
    form = client.get(reverse("admin:sync_synctable_change", args=[table.pk])).content.decode()
    assert 'name="target_count_query"' in form and "Confirmed in the target" in form


def integration_command(*args) -> str:
    out = io.StringIO()
    call_command("integration", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_the_count_query_travels_in_the_yaml_file_and_is_checked_against_the_files_connections(
    tmp_path, legacy, monkeypatch
):
    monkeypatch.setenv("LEGACY_API_KEY", KEY)
    monkeypatch.setenv("CRM_API_KEY", KEY)
    text = integration_command("export", "Legacy ↔ CRM", "--secrets-from-env")
    document = yaml.safe_load(text)
    assert document["tables"][0]["target_count_query"] == CUSTOMERS

    def refused(change) -> str:
        changed = yaml.safe_load(text)
        change(changed)
        path = tmp_path / "integration.yaml"
        path.write_text(yaml.safe_dump(changed, allow_unicode=True, sort_keys=False), encoding="utf-8")
        with pytest.raises(CommandError) as problem:
            integration_command("import", str(path))
        return str(problem.value)

    def to_soap(changed):  # the file makes the CRM a SOAP service: the stored REST CRM does not count
        crm = changed["connections"]["crm"]
        del crm["api_key"]
        crm.update(kind="soap", base_url="", wsdl_url="https://crm.example/ws?wsdl", auth_kind="none")
        crm.update(api_key_header="", pagination="none", records_path="")

    assert (
        "tables[0].target_count_query: The connection CRM (SOAP web service) cannot count records: "
        "leave the count query blank." in refused(to_soap)
    )

    def absolute(changed):
        changed["tables"][0]["target_count_query"] = "https://elsewhere.example/Contacts/$count"

    assert 'tables[0].target_count_query: "https://elsewhere.example/Contacts/$count" is an address of its own' in (
        refused(absolute)
    )
    assert SyncTable.objects.get().target_count_query == CUSTOMERS  # a refused file changes nothing


# --------------------------------------------------------------------------- the history workbook

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=SAO_PAULO)


def table_run(table, started, *, finished=True, status=RunStatus.SUCCEEDED, **figures):
    sync_run = SyncRun.objects.create(integration=table.integration, trigger=Trigger.SCHEDULE, status=status)
    finished_at = started + timedelta(minutes=1) if finished else None
    status = status if finished else RunStatus.RUNNING
    return TableRun.objects.create(
        run=sync_run, table=table, started_at=started, finished_at=finished_at, status=status, **figures
    )


@pytest.fixture
def ledger(legacy):
    """Three days of table runs of two tables, some at the edges of the days in São Paulo."""
    contact = SyncTable.objects.get()
    company = SyncTable.objects.create(
        integration=legacy, name="Company", source_object="/C", target_object="/C", record_key="Id"
    )
    # 1 May: counted at 09:00 (10 of 10), then 9 of 10 at 15:00; the newest, at 18:00, failed before counting.
    table_run(contact, local(1, 9), source_total=10, read=10, created=10, target_total=10, linked_total=10)
    table_run(
        contact,
        local(1, 15),
        source_total=10,
        read=4,
        updated=2,
        unchanged=1,
        skipped=1,
        target_total=9,
        linked_total=10,
    )
    table_run(contact, local(1, 18), source_total=11, read=3, waiting=1, failed=2, status=RunStatus.FAILED)
    table_run(contact, local(1, 19), read=5, created=5, finished=False)  # still running: not a figure yet
    # 2 May: nothing ran for Contact; Company ran once.
    table_run(company, local(2, 8), read=2, deleted=1, held=1)
    # 3 May, 23:30 in São Paulo (4 May in UTC) belongs to the 3rd; 00:30 on the 4th is outside the range.
    table_run(contact, local(3, 23, 30), read=1, updated=1, target_total=11, linked_total=11)
    table_run(contact, local(4, 0, 30), read=7, created=7, target_total=18, linked_total=18)
    return company, contact


@pytest.mark.django_db
def test_the_workbook_reconciles_each_table_day_by_day(legacy, ledger):
    company, contact = ledger
    buffer = io.BytesIO()
    write_history(HistorySelection(legacy, (company, contact), date(2026, 5, 1), date(2026, 5, 3)), buffer)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()), read_only=True)

    assert book.sheetnames == ["Summary", "Reconciliation", "Company", "Contact"]
    rows = [list(row) for row in book["Reconciliation"].iter_rows(values_only=True)]
    assert rows[0] == [
        "Day",
        "Table",
        "Source total (newest run of the day)",
        "Read",
        "Created",
        "Updated",
        "Unchanged",
        "Skipped by a rule",
        "Waiting",
        "Deleted",
        "Deletes held",
        "Failed",
        "Confirmed in the target (newest run of the day)",
        "Linked by the portal (same run)",
    ]
    may = lambda day: datetime(2026, 5, day)  # noqa: E731 - dates as openpyxl reads them back
    assert rows[1:] == [
        [may(1), "Company", None, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None],
        # The day's sums; the source's newest total (18:00); the newest count, held against its own links (15:00).
        [may(1), "Contact", 11, 17, 10, 2, 1, 1, 1, 0, 0, 2, 9, 10],
        [may(2), "Company", None, 2, 0, 0, 0, 0, 0, 1, 1, 0, None, None],
        [may(2), "Contact", None, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None],
        [may(3), "Company", None, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None],
        [may(3), "Contact", None, 1, 0, 1, 0, 0, 0, 0, 0, 0, 11, 11],
    ]
    summary = [list(row) for row in book["Summary"].iter_rows(values_only=True)]
    header = next(row for row in summary if row[0] == "Table")
    contact_row = dict(zip(header, next(row for row in summary if row[0] == "Contact"), strict=False))
    assert contact_row["Source total (newest run)"] == 11
    assert contact_row["Confirmed in the target (newest run)"] == 11


@pytest.mark.django_db
def test_the_reconciliation_is_one_query_whatever_the_number_of_days(legacy, ledger, django_assert_num_queries):
    company, contact = ledger
    selection = HistorySelection(legacy, (company, contact), date(2026, 4, 28), date(2026, 5, 4))
    start, end = selection.bounds()
    with django_assert_num_queries(1):
        rows = daily_rows(selection.tables, selection.start, selection.end, start, end, SAO_PAULO)
    assert len(rows) == 7 * 2
    assert [row.sums["read"] for row in rows if row.table_name == "Contact"] == [0, 0, 0, 17, 0, 1, 7]


@pytest.mark.django_db
def test_links_are_counted_when_the_target_is(legacy, systems):
    source, _target = systems
    customers(source, 2)
    run(legacy)
    RecordLink.objects.filter(source_key="c1@example.com").delete()  # a link lost: the portal believes in 1 only
    source.remove(1)  # and the source no longer sends it
    sync_run = run(legacy)
    table_run = TableRun.objects.get(run=sync_run)
    assert (table_run.target_total, table_run.linked_total) == (2, 1)
    assert str(target_alerts().get().message) == "Contact: CRM answers 2 records and the portal links 1."
