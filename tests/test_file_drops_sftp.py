"""File drops over SFTP against a real server (asyncssh on 127.0.0.1), its host key pinned."""

import csv
import io
from decimal import Decimal

import asyncssh
import pytest
import time_machine

from demo.models import CrmProduct
from monitoring.choices import FileStatus, RunStatus, Trigger
from monitoring.models import ProcessedFile, RequestLog
from sync.choices import AuthKind, FileLocation
from sync.connection_check import verdict_for
from sync.engine import execute_run, queue_run
from sync.models import Connection
from tests.file_drops import ROWS_OF_PRODUCTS, demo_crm_with_launch_date, files_to_crm, latin1_csv, products_to_files
from tests.servers.sftp import SftpServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run_moment():
    """The run's clock (the written files are named by it), frozen before the servers and the data are made."""
    with time_machine.travel("2024-05-10 10:00:00+00:00", tick=False):
        yield


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "sftp-root"
    (root / "out").mkdir(parents=True)
    with SftpServer(root) as running:
        yield running


@pytest.fixture
def crm(live_server):
    return demo_crm_with_launch_date(live_server)


def sftp_fields(server: SftpServer, **changes) -> dict:
    return {
        "file_location": FileLocation.SFTP,
        "sftp_host": "127.0.0.1",
        "sftp_port": server.port,
        "sftp_host_key": server.host_key_line,
        "auth_kind": AuthKind.BASIC,
        "username": server.username,
        "password": server.password,
        "timeout_seconds": 5,
        **changes,
    }


def over_sftp(server, crm, **changes):
    """The products integration of tests.file_drops, its files on the SFTP server's /out."""
    integration = files_to_crm(server.root / "unused", *crm, **sftp_fields(server, **changes))
    Connection.objects.filter(pk=integration.erp_connection_id).update(file_folder="/out")
    integration.refresh_from_db()
    return integration


def run_once(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def test_with_the_pinned_host_key_files_are_read_and_moved_to_processed(server, crm):
    latin1_csv(server.root / "out", "PROD_1.csv", ROWS_OF_PRODUCTS)
    integration = over_sftp(server, crm)

    run = run_once(integration)

    assert run.status == RunStatus.SUCCEEDED, run.error
    prices = dict(CrmProduct.objects.values_list("code", "price"))
    assert prices == {"P-001": Decimal("1234.56"), "P-002": Decimal("7.90"), "P-003": Decimal("12.00")}
    assert (server.root / "out" / "processed" / "PROD_1.csv").exists()
    assert not (server.root / "out" / "PROD_1.csv").exists()
    assert ProcessedFile.objects.get().status == FileStatus.PROCESSED
    assert RequestLog.objects.filter(method="SFTP", operation="download", url__endswith="/out/PROD_1.csv").exists()
    assert server.password not in "".join(RequestLog.objects.values_list("url", "error").first())


def test_a_server_presenting_another_key_is_refused_before_any_credential_is_sent(server, crm):
    latin1_csv(server.root / "out", "PROD_1.csv", ROWS_OF_PRODUCTS)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    integration = over_sftp(server, crm, sftp_host_key=other)

    verdict = verdict_for(integration.erp_connection)
    run = run_once(integration)

    assert not verdict.ok
    assert "presented the host key SHA256:" in str(verdict.message)
    assert "No credential was sent" in str(run.error)
    assert run.status == RunStatus.FAILED
    assert server.auth_attempts == []
    assert (server.root / "out" / "PROD_1.csv").exists()
    assert not CrmProduct.objects.exists()


def test_a_wrong_password_fails_with_a_readable_reason(server, crm):
    integration = over_sftp(server, crm, password="not-the-password")

    run = run_once(integration)

    assert run.status == RunStatus.FAILED
    assert f"refused the user {server.username} with this password" in str(run.error)
    assert "not-the-password" not in str(run.error)


def test_a_private_key_logs_in(tmp_path, crm):
    key = asyncssh.generate_private_key("ssh-ed25519")
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    latin1_csv(root / "out", "PROD_1.csv", ROWS_OF_PRODUCTS[:1])
    with SftpServer(root, client_key=key.convert_to_public()) as server:
        pem = key.export_private_key("openssh").decode()
        integration = over_sftp(server, crm, auth_kind=AuthKind.SSH_KEY, password="", private_key=pem)
        run = run_once(integration)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert list(CrmProduct.objects.values_list("code", flat=True)) == ["P-001"]


def test_a_stopped_server_fails_the_run_with_a_readable_reason(server, crm):
    integration = over_sftp(server, crm)
    server.stop()

    run = run_once(integration)
    verdict = verdict_for(integration.erp_connection)

    assert run.status == RunStatus.FAILED
    assert f"Could not connect to the SFTP server 127.0.0.1:{server.port}" in str(run.error)
    assert not verdict.ok and "Could not connect" in str(verdict.message)


def test_test_connection_says_what_waits_and_the_first_file_s_columns(server, crm):
    latin1_csv(server.root / "out", "PROD_1.csv", ROWS_OF_PRODUCTS)
    latin1_csv(server.root / "out", "PROD_2.csv", ROWS_OF_PRODUCTS)
    (server.root / "out" / "other.txt").write_text("not ours")
    integration = over_sftp(server, crm)

    verdict = verdict_for(integration.erp_connection)

    assert verdict.ok, verdict.message
    assert "the server's host key is the pinned one" in str(verdict.message)
    assert "2 files matching PROD_*.csv are waiting" in str(verdict.message)
    assert "has the columns codigo, descricao, preco, lancamento" in str(verdict.message)
    assert (server.root / "out" / "PROD_1.csv").exists()  # only looked at


def test_a_table_writing_files_uploads_one_complete_file_per_run(run_moment, server, crm):
    integration = over_sftp(server, crm)
    CrmProduct.objects.create(name="Café", code="C-1", price=Decimal("1234.50"))
    CrmProduct.objects.create(name="Chá", code="C-2", price=Decimal("8.00"))
    products_to_files(integration)

    run = run_once(integration)

    assert run.status == RunStatus.SUCCEEDED, run.error
    written = sorted(path.name for path in (server.root / "out").iterdir())
    assert written == ["produtos_20240510-070000.csv"]  # the portal's time zone (America/Sao_Paulo)
    text = (server.root / "out" / written[0]).read_bytes().decode("utf-8")
    assert list(csv.reader(io.StringIO(text), delimiter=";")) == [
        ["codigo", "descricao", "preco"],
        ["C-1", "Café", "1234,5"],  # the digits the CRM answered (1234.5), with a decimal comma
        ["C-2", "Chá", "8,0"],
    ]
