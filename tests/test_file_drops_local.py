"""File drops from a local folder through the whole pipeline, to the demo CRM served by the live server."""

import csv
import io
import shutil
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from demo.choices import SandboxSystem
from demo.models import CrmProduct, SandboxKnobs
from monitoring.choices import ErrorStatus, FileStatus, RecordAction, RunStatus, Trigger
from monitoring.models import ProcessedFile, RecordError, RecordEvent, RequestLog, SyncRun
from sync.engine import execute_run, queue_run
from sync.models import Connection, Integration, RecordLink, StagedRecord
from sync.paths import get_path
from tests.file_drops import HEADER, LAUNCHED, demo_crm_with_launch_date, files_to_crm, latin1_csv, products_to_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run_moment():
    """The run's clock (the written files are named by it), frozen before the servers and the data are made."""
    with time_machine.travel("2024-05-10 10:00:00+00:00", tick=False):
        yield


ROWS = [
    "P-001;Café torrado 500 g;1.234,56;05/03/2024",
    "P-002;Açúcar cristal;7,90;10/03/2024",
    "P-003;Pão de queijo;12,00;31/12/2023",
]


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def crm(live_server):
    return demo_crm_with_launch_date(live_server)


def run_once(integration) -> SyncRun:
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def launched(product: CrmProduct):
    return get_path(
        {"OtherProperties": product.other_properties}, f"OtherProperties[FieldKey={LAUNCHED}].DateTimeValue"
    )


def test_a_latin1_csv_with_decimal_commas_reaches_the_crm_field_by_field_and_moves_to_processed(inbox, crm):
    latin1_csv(inbox, "PROD_20240310.csv", ROWS)
    integration = files_to_crm(inbox, *crm)

    run = run_once(integration)

    assert run.status == RunStatus.SUCCEEDED, run.error
    products = {product.code: product for product in CrmProduct.objects.all()}
    assert set(products) == {"P-001", "P-002", "P-003"}
    assert products["P-001"].name == "Café torrado 500 g"
    assert products["P-001"].price == Decimal("1234.56")
    assert isinstance(products["P-002"].price, Decimal) and products["P-002"].price == Decimal("7.90")
    assert datetime.fromisoformat(launched(products["P-001"])) == datetime(2024, 3, 5, tzinfo=UTC)
    assert datetime.fromisoformat(launched(products["P-003"])) == datetime(2023, 12, 31, tzinfo=UTC)
    assert not (inbox / "PROD_20240310.csv").exists()
    assert (inbox / "processed" / "PROD_20240310.csv").exists()
    ledger = ProcessedFile.objects.get()
    assert (ledger.name, ledger.status, ledger.rows, ledger.first_run_id) == (
        "PROD_20240310.csv",
        FileStatus.PROCESSED,
        3,
        run.pk,
    )
    event = RecordEvent.objects.get(record_key="P-002", action=RecordAction.CREATED)
    assert str(event.message) == "Read from PROD_20240310.csv, line 3."
    staged = StagedRecord.objects.get(source_key="P-002").payload
    assert (staged["_file"], staged["_line"]) == ("PROD_20240310.csv", 3)
    operations = set(RequestLog.objects.filter(method="FILE").values_list("operation", flat=True))
    assert {"list", "download", "move to processed"} <= operations


def test_the_same_bytes_dropped_again_under_another_name_write_nothing(inbox, crm):
    content = latin1_csv(inbox, "PROD_1.csv", ROWS).read_bytes()
    integration = files_to_crm(inbox, *crm)
    assert run_once(integration).status == RunStatus.SUCCEEDED
    (inbox / "PROD_1_again.csv").write_bytes(content)

    second = run_once(integration)

    assert second.status == RunStatus.SUCCEEDED
    assert CrmProduct.objects.count() == 3
    assert not RecordEvent.objects.filter(run=second).exists()
    assert ProcessedFile.objects.count() == 1
    assert (inbox / "processed" / "PROD_1_again.csv").exists()


def test_a_malformed_file_goes_to_failed_with_its_reason_and_the_rows_before_went_through(inbox, crm):
    latin1_csv(inbox, "PROD_good.csv", ROWS[:1])
    path = inbox / "PROD_bad.csv"
    path.write_bytes(HEADER_WITHOUT_KEY.encode("latin-1") + "Café;1,00;01/01/2024\r\n".encode("latin-1"))
    integration = files_to_crm(inbox, *crm)

    run = run_once(integration)

    assert run.status == RunStatus.PARTIAL
    assert "PROD_bad.csv went to the failed folder" in str(run.error)
    assert '"codigo"' in str(run.error)
    assert (inbox / "failed" / "PROD_bad.csv").exists()
    assert (inbox / "processed" / "PROD_good.csv").exists()
    failed = ProcessedFile.objects.get(name="PROD_bad.csv")
    assert failed.status == FileStatus.FAILED and '"codigo"' in str(failed.reason)
    assert list(CrmProduct.objects.values_list("code", flat=True)) == ["P-001"]


HEADER_WITHOUT_KEY = "descricao;preco;lancamento\r\n"


def test_a_file_failing_half_way_keeps_the_rows_read_before(inbox, crm):
    good = [f"P-{n:03d};Item {n};{n},00;01/02/2024" for n in range(1, 6)]
    path = inbox / "PROD_cut.csv"
    too_long = "P-006;" + "x" * (1024 * 1024 + 10) + ";1,00;01/02/2024"  # a line over the 1 MB a line may have
    path.write_bytes(
        (HEADER + "\r\n".join([*good, too_long, "P-007;Item 7;7,00;01/02/2024"]) + "\r\n").encode("latin-1")
    )
    integration = files_to_crm(inbox, *crm)

    run = run_once(integration)

    assert run.status == RunStatus.PARTIAL
    assert set(CrmProduct.objects.values_list("code", flat=True)) == {f"P-{n:03d}" for n in range(1, 5)} | {"P-005"}
    assert (inbox / "failed" / "PROD_cut.csv").exists()
    ledger = ProcessedFile.objects.get()
    assert (ledger.status, ledger.rows) == (FileStatus.FAILED, 5)
    assert str(ledger.reason).startswith("Line 7 is longer than 1.0 MB")


def test_a_row_with_a_bad_value_waits_in_the_review_queue_with_its_line_the_others_arrive(inbox, crm):
    latin1_csv(inbox, "PROD_mixed.csv", [ROWS[0], "P-009;Broken;doze reais;01/01/2024", "P-010;Too few", ROWS[1]])
    integration = files_to_crm(inbox, *crm)

    run = run_once(integration)

    assert run.status == RunStatus.PARTIAL
    assert set(CrmProduct.objects.values_list("code", flat=True)) == {"P-001", "P-002"}
    queued = {entry.payload["_line"]: entry for entry in RecordError.objects.filter(status=ErrorStatus.OPEN)}
    assert set(queued) == {3, 4}
    assert "PROD_mixed.csv, line 3" in str(queued[3].reason) and "doze reais" in str(queued[3].reason)
    assert "PROD_mixed.csv, line 4" in str(queued[4].reason)
    assert queued[4].payload["_raw"] == "P-010;Too few"
    assert (inbox / "processed" / "PROD_mixed.csv").exists()


def test_two_workers_seeing_the_same_file_write_each_row_once(inbox, crm):
    """Two integrations read one file connection at the same time: one claims the file, the other skips it."""
    rows = [f"P-{n:03d};Item {n};{n},50;01/02/2024" for n in range(1, 21)]
    latin1_csv(inbox, "PROD_shared.csv", rows)
    first = files_to_crm(inbox, *crm, name="Worker A")
    second = files_to_crm(inbox, *crm, name="Worker B", files=first.erp_connection)
    runs = [queue_run(integration, Trigger.MANUAL) for integration in (first, second)]
    start = threading.Barrier(2)
    outcomes = []

    def work(run_id):
        start.wait(timeout=10)
        outcomes.append(execute_run(run_id).status)

    workers = [threading.Thread(target=work, args=(run.pk,)) for run in runs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert outcomes == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    codes = list(CrmProduct.objects.values_list("code", flat=True))
    assert sorted(codes) == sorted(f"P-{n:03d}" for n in range(1, 21))
    assert ProcessedFile.objects.get().rows == 20


def test_a_file_stays_in_the_inbox_until_its_rows_went_through(inbox, crm):
    latin1_csv(inbox, "PROD_20240310.csv", ROWS)
    integration = files_to_crm(inbox, *crm)
    SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(error_rate=1.0)  # the CRM is down

    failed = run_once(integration)

    assert failed.status == RunStatus.FAILED
    assert (inbox / "PROD_20240310.csv").exists() and not (inbox / "processed").exists()
    assert ProcessedFile.objects.get().status != FileStatus.PROCESSED

    SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(error_rate=0)  # back
    run = run_once(integration)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sorted(CrmProduct.objects.values_list("code", flat=True)) == ["P-001", "P-002", "P-003"]
    assert (inbox / "processed" / "PROD_20240310.csv").exists()
    assert ProcessedFile.objects.get().status == FileStatus.PROCESSED


def products_for_the_erp(inbox, crm, count: int) -> Integration:
    """The CRM's ``count`` products, one a page, written to files in ``inbox``."""
    integration = files_to_crm(inbox, *crm)
    Connection.objects.filter(pk=integration.crm_connection_id).update(page_size=1)
    for number in range(1, count + 1):
        CrmProduct.objects.create(name=f"Produto {number}", code=f"C-{number}", price=Decimal(number))
    products_to_files(integration)
    return integration


def written_rows(folder) -> dict[str, list[list[str]]]:
    return {
        path.name: list(csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter=";"))[1:]
        for path in sorted(folder.glob("produtos_*"))
    }


def test_each_page_written_to_files_is_a_complete_file_before_its_records_are_linked(run_moment, inbox, crm):
    integration = products_for_the_erp(inbox, crm, 3)

    run = run_once(integration)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert written_rows(inbox) == {
        "produtos_20240510-070000.csv": [["C-1", "Produto 1", "1,0"]],
        "produtos_20240510-070000-2.csv": [["C-2", "Produto 2", "2,0"]],
        "produtos_20240510-070000-3.csv": [["C-3", "Produto 3", "3,0"]],
    }
    links = dict(RecordLink.objects.filter(table__name="Products for the ERP").values_list("source_key", "target_key"))
    assert links == {
        "C-1": "produtos_20240510-070000.csv:2",
        "C-2": "produtos_20240510-070000-2.csv:2",
        "C-3": "produtos_20240510-070000-3.csv:2",
    }


def test_records_whose_file_could_not_be_written_are_written_by_the_next_run(inbox, crm):
    integration = products_for_the_erp(inbox, crm, 2)
    shutil.rmtree(inbox)  # the folder is gone: no file can be written

    failed = run_once(integration)

    assert failed.status == RunStatus.FAILED
    assert "Products for the ERP" in str(failed.error)
    assert not RecordLink.objects.filter(table__name="Products for the ERP").exists()  # nothing claims to be written

    inbox.mkdir()
    run = run_once(integration)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sorted(row[0] for rows in written_rows(inbox).values() for row in rows) == ["C-1", "C-2"]
