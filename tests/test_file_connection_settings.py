"""A file connection's settings: refused when they cannot work (form, model, YAML), secrets kept out, samples
and the doctor read the first waiting file without claiming it."""

import copy

import asyncssh
import pytest
import yaml

from demo.invoice_files import DOCUMENT
from monitoring.models import ProcessedFile
from sync.choices import AuthKind, ConnectionKind, FileFormat, FileLocation
from sync.config_io import ConfigError, export_text, import_text
from sync.config_io.text import to_yaml
from sync.doctor import OK, examine
from sync.forms import ConnectionForm
from sync.models import Connection
from sync.samples import read_sample
from tests.file_drops import ROWS_OF_PRODUCTS, files_to_crm, latin1_csv

pytestmark = pytest.mark.django_db

HOST_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()


def form_data(**changes) -> dict:
    data = {
        "name": "ERP files",
        "kind": ConnectionKind.FILE,
        "pagination": "none",
        "page_size": 100,
        "auth_kind": AuthKind.NONE,
        "timeout_seconds": 30,
        "max_retries": 3,
        "max_retry_after_seconds": 60,
        "max_in_flight": 1,
        "file_location": FileLocation.LOCAL,
        "file_format": FileFormat.CSV,
        "file_encoding": "auto",
        "file_delimiter": "auto",
        "file_decimal_comma": "on",
        "file_header_row": 1,
        "file_skip_lines": 0,
        "file_layout": "[]",
        "sftp_port": 22,
    }
    return {**data, **changes}


def test_a_local_folder_must_be_a_whole_path_to_a_folder_that_is_there(tmp_path):
    relative = ConnectionForm(data=form_data(file_folder="erp/out"))
    missing = ConnectionForm(data=form_data(file_folder=str(tmp_path / "nowhere")))
    good = ConnectionForm(data=form_data(file_folder=str(tmp_path)))

    assert relative.errors["file_folder"] == ["Write the folder's whole path, from the root, e.g. /srv/erp/out."]
    assert missing.errors["file_folder"] == [f"There is no folder {tmp_path / 'nowhere'} on this server."]
    assert good.is_valid(), good.errors
    connection = good.save()
    assert (connection.file_location, connection.sftp_host, connection.sftp_host_key) == ("local", "", "")


def test_an_sftp_connection_needs_its_host_and_pinned_host_key():
    sftp = {"file_location": FileLocation.SFTP, "file_folder": "/out", "auth_kind": AuthKind.BASIC}
    without_key = ConnectionForm(data=form_data(sftp_host="erp.example", username="u", password="p", **sftp))
    bad_key = ConnectionForm(
        data=form_data(sftp_host="erp.example", sftp_host_key="ssh-ed25519 not-base64!", username="u", **sftp)
    )
    local_with_password = ConnectionForm(data=form_data(file_folder="/tmp", auth_kind=AuthKind.BASIC))

    assert "Pin the server's host key" in without_key.errors["sftp_host_key"][0]
    assert "This is not a public host key" in bad_key.errors["sftp_host_key"][0]
    assert local_with_password.errors["auth_kind"] == ["A folder of this server needs no authentication: choose None."]


def test_an_ssh_private_key_is_stored_encrypted_and_never_shown_again():
    form = ConnectionForm(
        data=form_data(
            file_location=FileLocation.SFTP,
            file_folder="/out",
            sftp_host="erp.example",
            sftp_host_key=HOST_KEY,
            auth_kind=AuthKind.SSH_KEY,
            username="erp",
            private_key=CLIENT_KEY,
        )
    )
    assert form.is_valid(), form.errors
    connection = form.save()

    assert Connection.objects.get().private_key == CLIENT_KEY.strip()
    again = ConnectionForm(instance=connection)
    assert CLIENT_KEY.splitlines()[1] not in again.as_p()
    assert "A value is stored. Leave blank to keep it." in again.as_p()
    unchanged = ConnectionForm(
        data=form_data(**{**again.initial, "private_key": "", "file_layout": "[]"}), instance=connection
    )
    assert unchanged.is_valid(), unchanged.errors
    assert unchanged.save().private_key == CLIENT_KEY.strip()


def test_a_fixed_width_layout_that_does_not_parse_is_refused_in_words(tmp_path):
    overlapping = '[{"name": "a", "start": 1, "length": 5}, {"name": "b", "start": 3, "length": 2}]'
    form = ConnectionForm(data=form_data(file_folder=str(tmp_path), file_format="fixed_width", file_layout=overlapping))

    assert (
        'The fields "a" (columns 1 to 5) and "b" (columns 3 to 4) of the layout overlap.' in form.errors["file_layout"]
    )


def yaml_with_files(**erp_changes) -> str:
    document = copy.deepcopy(DOCUMENT)
    document["connections"]["erp"].update(erp_changes)
    return to_yaml(document)


def test_the_yaml_import_refuses_an_sftp_connection_without_a_host_key_at_its_path(tmp_path):
    text = yaml_with_files(
        file_location="sftp",
        file_folder="/out",
        sftp_host="erp.example",
        auth_kind="basic",
        username="erp",
        password={"env": "ERP_SFTP_PASSWORD"},
    )
    with pytest.raises(ConfigError) as refused:
        import_text(text, "files.yaml", environ={"DEMO_CRM_API_KEY": "k", "ERP_SFTP_PASSWORD": "p"})

    assert any(
        message.startswith("connections.erp.sftp_host_key: Pin the server's host key")
        for message in refused.value.messages
    )


def test_the_yaml_round_trip_keeps_the_file_keys_and_leaves_the_private_key_out(tmp_path):
    text = yaml_with_files(
        file_location="sftp",
        file_folder="/out",
        sftp_host="erp.example",
        sftp_port=2222,
        sftp_host_key=HOST_KEY,
        auth_kind="ssh_key",
        username="erp",
        private_key={"env": "ERP_SFTP_KEY"},
    )
    import_text(text, "files.yaml", environ={"DEMO_CRM_API_KEY": "k", "ERP_SFTP_KEY": CLIENT_KEY})
    connection = Connection.objects.get(name="Demo ERP files")
    assert (connection.sftp_port, connection.file_encoding, connection.file_number_columns) == (
        2222,
        "latin-1",
        "total",
    )
    assert connection.private_key == CLIENT_KEY

    exported = export_text("Demo ERP files → Demo CRM", secrets_from_env=True).text

    erp = yaml.safe_load(exported)["connections"]["erp"]
    assert erp["private_key"] == {"env": "DEMO_ERP_FILES_PRIVATE_KEY"}
    assert (erp["file_delimiter"], erp["sftp_host_key"]) == (";", HOST_KEY)
    assert "OPENSSH PRIVATE KEY" not in exported


def test_samples_and_the_doctor_read_the_first_waiting_file_and_leave_it_unclaimed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    latin1_csv(inbox, "PROD_1.csv", ROWS_OF_PRODUCTS)
    integration = files_to_crm(inbox, "https://crm.example", "key")
    table = integration.tables.get()

    sample = read_sample(table)
    findings = examine(integration.erp_connection)

    assert [record["codigo"] for record in sample.records] == ["P-001", "P-002", "P-003"]
    assert sample.records[0]["_file"] == "PROD_1.csv" and sample.records[0]["_line"] == 2
    first = findings[0]
    assert first.status == OK
    assert "1 file matching PROD_*.csv is waiting" in first.says
    assert "has the columns codigo, descricao, preco, lancamento" in first.says
    assert any(f.status == OK and "The first page holds 2 records." in f.says for f in findings)
    assert (inbox / "PROD_1.csv").exists()
    assert not ProcessedFile.objects.exists()
