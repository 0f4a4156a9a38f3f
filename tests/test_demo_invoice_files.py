"""The demo ERP's daily invoice file, read by "Demo ERP files → Demo CRM" onto the demo CRM's orders."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from demo import seed
from demo.choices import ErpOrderStatus
from demo.integration import configure_demo
from demo.invoice_files import SCHEDULE_NAME, configure_files_demo, drop_invoices, ensure_daily_drop
from demo.models import CrmOrder, ErpOrder, SandboxKnobs
from monitoring.choices import FileStatus, RecordAction, RunStatus, Trigger
from monitoring.models import ProcessedFile, RecordEvent
from sync.connectors import soap
from sync.engine import execute_run, queue_run
from sync.paths import get_path

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = seed.SeedSizes(
    customers=8, contacts=4, products=6, orders=4, crm_companies=4, crm_people=2, crm_products=3, crm_orders=3
)


@pytest.fixture
def demo(live_server, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    soap.clear_caches()
    seed.populate(SIZES, timezone.now())
    SandboxKnobs.objects.update(order_step_seconds=0)
    main = configure_demo(live_server.url)
    files = configure_files_demo(live_server.url)
    yield main, files, tmp_path / "demo-erp" / "invoices"
    soap.clear_caches()


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def invoice_field(order: CrmOrder, key: str, value_key: str):
    return get_path({"OtherProperties": order.other_properties}, f"OtherProperties[FieldKey={key}].{value_key}")


def test_the_dropped_invoices_of_crm_orders_reach_those_orders(demo):
    main, files, folder = demo
    assert run(main).status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
    from_crm = ErpOrder.objects.exclude(external_id="")
    assert from_crm.exists()
    from_crm.update(status=ErpOrderStatus.INVOICED, updated_at=datetime(2024, 5, 9, 15, tzinfo=UTC))
    now = timezone.now()
    dropped = drop_invoices(now)
    assert dropped.name == f"NF_{timezone.localdate(now):%Y%m%d}.csv"
    assert "emissao" in dropped.read_bytes().decode("latin-1")

    result = run(files)

    assert result.status == RunStatus.SUCCEEDED, result.error
    for erp_order in from_crm:
        crm_order = CrmOrder.objects.get(pk=int(erp_order.external_id))
        assert invoice_field(crm_order, "order_INVOICE_NUMBER", "StringValue") == f"NF-{erp_order.number}"
        assert Decimal(str(invoice_field(crm_order, "order_INVOICE_TOTAL", "DecimalValue"))) == erp_order.total
        issued = datetime.fromisoformat(invoice_field(crm_order, "order_INVOICE_DATE", "DateTimeValue"))
        assert issued == datetime(2024, 5, 9, tzinfo=UTC)
    entered_in_erp = ErpOrder.objects.filter(
        external_id="", status__in=(ErpOrderStatus.INVOICED, ErpOrderStatus.SHIPPED)
    )
    skipped = set(
        RecordEvent.objects.filter(run=result, action=RecordAction.SKIPPED).values_list("record_key", flat=True)
    )
    assert entered_in_erp.exists()
    assert skipped == {f"NF-{order.number}" for order in entered_in_erp}
    assert (folder / "processed" / dropped.name).exists()
    assert ProcessedFile.objects.get(name=dropped.name).status == FileStatus.PROCESSED


def test_the_demo_command_drops_a_file_at_once_and_schedules_one_a_day(live_server, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    soap.clear_caches()
    call_command("demo", origin=live_server.url)
    soap.clear_caches()

    today = timezone.localdate()
    assert (tmp_path / "demo-erp" / "invoices" / f"NF_{today:%Y%m%d}.csv").exists()
    schedule = ensure_daily_drop()
    assert schedule.name == SCHEDULE_NAME and schedule.func == "demo.invoice_files.drop_invoices"
