"""The engine against real servers: the demo ERP (SOAP) and demo CRM (REST) served over HTTP."""

import base64

import pytest
from django.utils import timezone

from demo import knobs as sandbox_knobs
from demo import seed
from demo.choices import CreditStatus, SandboxSystem
from demo.integration import configure_demo
from demo.models import CrmContact, CrmOrder, CrmProduct, ErpCustomer, ErpOrder, ErpProduct, SandboxKnobs
from monitoring.choices import AlertKind, HeldDeleteStatus, RunStatus, Trigger
from monitoring.models import Alert, HeldDelete, RecordError, RequestLog, SyncRun, TableRun
from sync.connectors import soap
from sync.dry_run import dry_run
from sync.engine import connector_for_connection, execute_run, queue_run
from sync.models import RecordLink
from sync.paths import get_path

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = seed.SeedSizes(
    customers=12, contacts=10, products=8, orders=2, crm_companies=5, crm_people=3, crm_products=3, crm_orders=4
)
OUTCOMES = ("created", "updated", "unchanged", "skipped", "deleted", "held", "waiting", "failed")


@pytest.fixture
def demo(live_server):
    soap.clear_caches()
    seed.populate(SIZES, timezone.now())
    SandboxKnobs.objects.update(order_step_seconds=0)  # order statuses stay put during a test
    integration = configure_demo(live_server.url)
    integration.erp_connection.max_retries = integration.crm_connection.max_retries = 5
    integration.erp_connection.save()
    integration.crm_connection.save()
    yield integration
    soap.clear_caches()


def run(integration, connectors=None):
    queued = queue_run(integration, Trigger.MANUAL)
    return execute_run(queued.pk, connectors=connectors)


def table_counts(sync_run):
    return {
        table_run.table.name: {name: getattr(table_run, name) for name in ("read", *OUTCOMES)}
        for table_run in TableRun.objects.filter(run=sync_run).select_related("table")
    }


def assert_read_equals_outcomes(sync_run):
    for name, counts in table_counts(sync_run).items():
        assert counts["read"] == sum(counts[o] for o in OUTCOMES), name


def expected_companies():
    customers = ErpCustomer.objects.filter(active=True, credit_status=CreditStatus.APPROVED)
    return {customer.cnpj.replace(".", "").replace("/", "").replace("-", "") for customer in customers}


def crm_company_cnpjs():
    return list(CrmContact.objects.filter(type_id=1).exclude(cnpj="").values_list("cnpj", flat=True))


def test_first_run_moves_everything_and_a_second_changes_nothing(demo):
    already_in_crm = set(crm_company_cnpjs())
    first = run(demo)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert_read_equals_outcomes(first)
    counts = table_counts(first)

    cnpjs = crm_company_cnpjs()
    assert len(cnpjs) == len(set(cnpjs)), "a company was duplicated in the CRM"
    assert expected_companies() <= set(cnpjs)
    matched = expected_companies() & already_in_crm
    assert counts["Company"]["updated"] == len(matched)  # linked to what the CRM had, not created again
    assert counts["Company"]["created"] == len(expected_companies() - already_in_crm)
    assert counts["Company"]["skipped"] == ErpCustomer.objects.count() - len(expected_companies())

    active_codes = set(ErpProduct.objects.filter(active=True).values_list("code", flat=True))
    assert active_codes <= set(CrmProduct.objects.values_list("code", flat=True))

    # CRM orders of synced customers are now ERP orders, and their ERP number and status came back to the CRM
    sent = ErpOrder.objects.exclude(external_id="")
    assert sent.exists()
    for order in sent:
        crm_order = CrmOrder.objects.get(pk=int(order.external_id))
        properties = {"OtherProperties": crm_order.other_properties}
        assert get_path(properties, "OtherProperties[FieldKey=order_ERP_NUMBER].IntegerValue") == order.number
        assert get_path(properties, "OtherProperties[FieldKey=order_ERP_STATUS].StringValue") == order.status
    # The lead's order (a company the ERP does not know) waits for its customer, payload kept; nothing failed.
    waiting = RecordError.objects.filter(table__name="Order")
    assert waiting.exists() and {error.status for error in waiting} == {"waiting"}
    assert all(str(error.reason).startswith("waiting for Company ") for error in waiting)
    assert all(error.payload["Id"] and error.payload["Products"] for error in waiting)
    assert counts["Order"]["waiting"] == waiting.count() and counts["Order"]["failed"] == 0

    # Confirmed in the target: the CRM's companies that carry an ERP code are the ones the portal links.
    # Products have no count query: the CRM keeps a product keyed in by hand that nothing tells apart.
    confirmed = {
        table_run.table.name: (table_run.target_total, table_run.linked_total)
        for table_run in TableRun.objects.filter(run=first).select_related("table")
    }
    assert confirmed["Company"] == (len(expected_companies()), len(expected_companies()))
    assert confirmed["Product"] == confirmed["Contact"] == confirmed["Order"] == (None, None)  # not checked
    assert not Alert.objects.filter(kind=AlertKind.TARGET_COUNT).exists()  # the demo is green from its first run

    second = run(demo)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert_read_equals_outcomes(second)
    for name, table in table_counts(second).items():
        assert (table["created"], table["updated"]) == (0, 0), name
    assert sorted(crm_company_cnpjs()) == sorted(cnpjs)


def test_no_secret_reaches_a_request_log(demo):
    run(demo)
    erp, crm = demo.erp_connection, demo.crm_connection
    secrets = [erp.password, crm.api_key, base64.b64encode(f"{erp.username}:{erp.password}".encode()).decode()]
    logs = RequestLog.objects.all()
    assert logs.count() > 10
    for log in logs:
        text = " ".join([log.url, str(log.request_headers), log.request_body, log.response_body, log.error])
        assert not any(secret in text for secret in secrets), log.pk
    assert any(log.request_headers.get("User-Key") == "[redacted]" for log in logs)


@pytest.mark.slow
def test_throttled_and_failing_crm_calls_are_retried(demo):
    SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(
        error_rate=0.15, throttle_rate=0.15, retry_after_seconds=1
    )
    sandbox_knobs._dice.seed(20261123)  # the same disturbances every time
    first = run(demo)
    assert first.status == RunStatus.SUCCEEDED, first.error  # every disturbance retried away
    assert RequestLog.objects.filter(status_code=429).exists()
    assert RequestLog.objects.filter(status_code=500).exists()
    assert RequestLog.objects.filter(attempt__gt=1).exists()
    cnpjs = crm_company_cnpjs()
    assert len(cnpjs) == len(set(cnpjs))
    assert expected_companies() <= set(cnpjs)
    assert_read_equals_outcomes(first)


class Crash(BaseException):
    """The worker dies (nothing may catch it)."""


class CrashAfterCreates:
    """Wraps the real CRM connector: dies right after its Nth create answered, before anything is committed."""

    def __init__(self, connector, creates):
        self.connector, self.creates = connector, creates

    def create(self, *args, **kwargs):
        answer = self.connector.create(*args, **kwargs)
        self.creates -= 1
        if self.creates == 0:
            raise Crash
        return answer

    def __getattr__(self, name):
        return getattr(self.connector, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.connector.close()


def test_a_run_killed_mid_table_and_restarted_ends_with_no_duplicates(demo):
    CrmOrder.objects.all().delete()
    CrmContact.objects.all().delete()  # every company must be created
    crm_id = demo.crm_connection_id

    def crashing(connection, call_log):
        connector = connector_for_connection(connection, call_log)
        return CrashAfterCreates(connector, creates=3) if connection.pk == crm_id else connector

    with pytest.raises(Crash):
        run(demo, connectors=crashing)
    assert len(crm_company_cnpjs()) == 3  # written to the CRM, the third one never committed here
    dead = demo.runs.get()
    dead.finish(RunStatus.ABANDONED, "worker killed")

    again = run(demo)
    assert again.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), again.error
    cnpjs = crm_company_cnpjs()
    assert sorted(cnpjs) == sorted(expected_companies())  # each exactly once
    assert_read_equals_outcomes(again)


def test_deletes_beyond_the_threshold_are_held(demo):
    table = demo.tables.get(name="Product")
    table.delete_policy, table.delete_threshold = "delete", 2
    table.cursor_field = table.incremental_filter = ""  # deletes are seen on full reads
    table.save()
    run(demo)
    in_crm = CrmProduct.objects.count()
    gone = list(ErpProduct.objects.filter(active=True).values_list("code", flat=True)[:3])
    ErpProduct.objects.filter(code__in=gone).delete()

    later = run(demo)
    assert CrmProduct.objects.count() == in_crm  # nothing deleted
    assert table_counts(later)["Product"]["held"] == 3
    assert set(HeldDelete.objects.filter(status=HeldDeleteStatus.PENDING).values_list("source_key", flat=True)) == set(
        gone
    )
    assert Alert.objects.filter(kind=AlertKind.DELETES_HELD, table=table).count() == 1


def test_sync_now_runs_in_the_foreground_and_prints_a_summary(demo):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("sync_now", demo.name, stdout=out)
    text = out.getvalue()
    for name in ("Company", "Contact", "Product", "Order", "Order status"):
        assert name in text
    assert "Succeeded" in text and "wait for a referenced record not synced yet" in text
    company = TableRun.objects.get(table__name="Company")
    assert str(company.read) in text
    second = StringIO()
    call_command("sync_now", demo.name, stdout=second)
    assert "Succeeded" in second.getvalue()


def test_sync_now_names_the_known_integrations_when_it_does_not_know_one(demo):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Demo ERP ↔ Demo CRM"):
        call_command("sync_now", "Nope")


def demo_rows() -> dict[str, int]:
    return {
        "crm contacts": CrmContact.objects.count(),
        "crm products": CrmProduct.objects.count(),
        "crm orders": CrmOrder.objects.count(),
        "erp orders": ErpOrder.objects.count(),
        "request logs": RequestLog.objects.count(),
        "runs": SyncRun.objects.count(),
        "links": RecordLink.objects.count(),
    }


def test_a_dry_run_of_the_demo_says_what_the_first_run_then_does_and_writes_nothing(demo):
    before = demo_rows()

    report = dry_run(demo, limit=1000)

    assert not report.error, report.error
    assert demo_rows() == before  # neither the demo systems nor the portal hold anything new
    would = {table.table.name: table.counts for table in report.tables}
    first = run(demo)
    done = table_counts(first)
    for name in ("Company", "Product"):  # read from the ERP over SOAP, written to the CRM over REST
        assert would[name].get("would_create", 0) == done[name]["created"], name
        assert would[name].get("would_update", 0) == done[name]["updated"], name
        assert would[name].get("skipped", 0) == done[name]["skipped"], name
