"""The SOAP connector against a real local server answering per the Dynamics NAV 2016 Customer page WSDL."""

import base64
import dataclasses
import email.utils
import itertools
import json
import logging
import re
import socket
import time
from datetime import date
from decimal import Decimal

import pytest

from sync.connectors import soap
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.connectors.soap import SoapConnector, fault_name, incremental_arguments, nav_literal, render_template
from tests.servers.nav_soap import NavSoapServer, customer_wsdl_text

PASSWORD = "nav-Secr3t-pa55"
RECORDS_PATH = "ReadMultiple_Result.Customer"
CUSTOMERS = [
    {
        "No": str(10000 + 10 * i),
        "Name": f"Customer {i:02d}",
        "City": "Lisbon" if i % 2 else "Porto",
        "Balance_LCY": f"{i}00.50",
        "Last_Date_Modified": f"2024-02-{i + 1:02d}",
    }
    for i in range(25)
]


@pytest.fixture(autouse=True)
def fresh_clients():
    soap.clear_caches()
    yield
    soap.clear_caches()


@pytest.fixture
def nav():
    with NavSoapServer(records=CUSTOMERS, today=date(2024, 3, 1)) as server:
        yield server


@pytest.fixture
def calls():
    return []


def make_config(server, **overrides) -> ConnectionConfig:
    values = {
        "name": "Dynamics NAV",
        "kind": "soap",
        "wsdl_url": server.wsdl_url,
        "pagination": "bookmark",
        "page_size": 10,
        "records_path": RECORDS_PATH,
        "timeout_seconds": 2,
        "max_retries": 2,
        "backoff_seconds": 0.01,
    }
    return ConnectionConfig(**{**values, **overrides})


def read_all(connector, request: ReadRequest) -> tuple[list[dict], int]:
    records, pages, token = [], 0, None
    while True:
        page = connector.read_page(dataclasses.replace(request, page_token=token))
        records += page.records
        pages += 1
        token = page.next_token
        if token is None:
            return records, pages


def soap_calls(calls) -> list:
    return [call for call in calls if call.method == "SOAP"]


def everything_said(calls, *errors) -> str:
    """Every CallRecord and error message, as one text to search for leaks."""
    records = json.dumps([dataclasses.asdict(call) for call in calls], default=str)
    return records + " ".join(map(str, errors))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Reading -----------------------------------------------------------------------------------


def test_bookmark_paging_reads_every_customer_exactly_once(nav, calls):
    connector = SoapConnector(make_config(nav), calls.append)

    records, pages = read_all(connector, ReadRequest(source_object="ReadMultiple"))

    assert sorted(record["No"] for record in records) == sorted(customer["No"] for customer in CUSTOMERS)
    # 10 + 10 + 5, then an empty page: a short page is no proof of the end (services cap their pages)
    assert len(records) == 25 and pages == 4 == nav.calls("ReadMultiple")
    first = next(record for record in records if record["No"] == "10010")
    # an xsd:decimal arrives as a number with its digits, not as text
    assert first["Balance_LCY"] == Decimal("100.50") and str(first["Balance_LCY"]) == "100.50"
    assert first["Last_Date_Modified"] == "2024-02-02"
    assert first["Key"] and "Address" not in first  # empty fields are left out
    json.dumps(records, default=str)  # plain data (decimals are Decimal)
    assert [(call.method, call.operation, call.status_code) for call in calls[:1]] == [("GET", "WSDL", 200)]
    calls = soap_calls(calls)
    last_of_first_page = records[9]["Key"]
    assert f"<ns0:bookmarkKey>{last_of_first_page}</ns0:bookmarkKey>" in calls[1].request_body
    assert "<ns0:setSize>10</ns0:setSize>" in calls[0].request_body
    assert "bookmarkKey" not in calls[0].request_body and "filter" not in calls[0].request_body
    assert {(call.method, call.operation, call.status_code) for call in calls} == {("SOAP", "ReadMultiple", 200)}
    assert calls[0].url == nav.endpoint_url


def test_an_uploaded_wsdl_document_is_used_with_the_endpoint_url_override(nav, calls):
    document = customer_wsdl_text()  # the real one: its address points at a NAV host we cannot reach
    assert "kenedy:7047" in document
    config = make_config(nav, wsdl_url="", wsdl_document=document, endpoint_url=nav.endpoint_url)

    records, _pages = read_all(SoapConnector(config, calls.append), ReadRequest(source_object="ReadMultiple"))

    assert len(records) == 25
    assert nav.wsdl_gets == 0
    assert all(call.url == nav.endpoint_url for call in calls)


def two_port_wsdl(local_url: str) -> str:
    """The NAV WSDL with a second port (ours) and a second service; the first port is unreachable."""
    ours = (
        '<port name="Local_Port" binding="tns:Customer_Binding">'
        f'<address location="{local_url}" xmlns="http://schemas.xmlsoap.org/wsdl/soap/" /></port>'
    )
    other = (
        '<service name="Other_Service"><port name="Other_Port" binding="tns:Customer_Binding">'
        '<address location="http://127.0.0.1:9/nowhere" xmlns="http://schemas.xmlsoap.org/wsdl/soap/" />'
        "</port></service>"
    )
    text = customer_wsdl_text().replace("</port>\n  </service>", f"</port>{ours}</service>{other}")
    assert "Local_Port" in text and "Other_Service" in text
    return text


def test_the_configured_service_and_port_are_used(nav, calls):
    config = make_config(
        nav, wsdl_url=nav.serve("/two-ports.wsdl", two_port_wsdl(nav.endpoint_url)), soap_port="Local_Port"
    )

    page = SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))
    verdict = SoapConnector(dataclasses.replace(config, soap_service="Customer_Service")).test_connection()

    assert len(page.records) == 10
    assert verdict.ok and "Customer_Service/Local_Port" in verdict.message
    missing = SoapConnector(dataclasses.replace(config, soap_port="Nope")).test_connection()
    assert not missing.ok
    assert missing.message == 'The WSDL has no port "Nope"; it offers: Customer_Port, Local_Port.'


def test_the_incremental_filter_applies_the_cursor(nav, calls):
    config = make_config(nav, page_size=4)
    connector = SoapConnector(config, calls.append)
    request = ReadRequest(source_object="ReadMultiple", incremental_filter="Last_Date_Modified: >={cursor}")

    changed, pages = read_all(connector, dataclasses.replace(request, cursor="2024-02-20"))
    first_run, _ = read_all(connector, request)  # no cursor yet: everything, and no filter sent

    assert [record["Last_Date_Modified"] for record in changed] == [f"2024-02-{day}" for day in range(20, 26)]
    assert pages == 3  # the last one empty
    assert "<ns0:Criteria>&gt;=2024-02-20</ns0:Criteria>" in soap_calls(calls)[0].request_body
    assert len(first_run) == 25
    assert "Last_Date_Modified" not in soap_calls(calls)[pages].request_body


def test_the_argument_template_combines_fixed_filters_with_the_cursor(nav, calls):
    connector = SoapConnector(make_config(nav, pagination="none", page_size=100), calls.append)
    request = ReadRequest(
        source_object="ReadMultiple",
        cursor="2024-02-10",
        arguments={
            "filter": [
                {"Field": "City", "Criteria": "Lis*"},
                {"Field": "Last_Date_Modified", "Criteria": ">{cursor}"},
            ],
            "setSize": "{page_size}",
        },
    )

    page = connector.read_page(request)

    assert page.next_token is None
    assert {record["City"] for record in page.records} == {"Lisbon"}
    assert [record["Last_Date_Modified"] for record in page.records] == [
        f"2024-02-{day}" for day in (12, 14, 16, 18, 20, 22, 24)
    ]
    assert "<ns0:setSize>100</ns0:setSize>" in soap_calls(calls)[0].request_body


# Writing -----------------------------------------------------------------------------------


def test_create_find_update_with_key_stale_key_and_delete(nav, calls):
    connector = SoapConnector(make_config(nav), calls.append)

    created = connector.create("Create", {"Name": "Contoso", "City": "Faro"})
    number = created["No"]
    found = connector.find("ReadMultiple", "No", number)
    read = connector.find("Read", "No", number)
    updated = connector.update("Update", number, {"City": "Porto"})

    assert created["Name"] == "Contoso" and created["Key"] and number.startswith("C")
    assert found == read == created
    assert updated["City"] == "Porto" and updated["Key"] != created["Key"]
    assert nav.page.records[number]["City"] == "Porto"

    with pytest.raises(ConnectorError) as stale:
        connector.update("Update", number, {"Key": created["Key"], "City": "Braga"})
    assert stale.value.record_level and not stale.value.retryable
    assert "NavCSideConcurrencyViolationException — Other user has modified Customer" in stale.value.message
    assert nav.page.records[number]["City"] == "Porto"

    connector.delete("Delete", number)
    assert connector.find("ReadMultiple", "No", number) is None
    assert connector.find("Read", "No", number) is None
    connector.delete("Delete", number)  # already gone: nothing to do
    assert nav.record_count == 25
    assert nav.calls("Delete") == 1


def test_the_real_vendor_wsdl_works_the_same_way(calls):
    vendors = [{"No": f"V{index:04d}", "Name": f"Vendor {index}"} for index in range(7)]
    with NavSoapServer(records=vendors, page="Vendor") as server:
        connector = SoapConnector(
            make_config(server, page_size=3, records_path="ReadMultiple_Result.Vendor"), calls.append
        )
        records, pages = read_all(connector, ReadRequest(source_object="ReadMultiple"))
        created = connector.create("Create", {"Name": "Northwind"}, key_field="No")
        updated = connector.update("Update", created["No"], {"Name": "Northwind Traders"})
        connector.delete("Delete", "V0001")

        assert [record["No"] for record in records] == [vendor["No"] for vendor in vendors] and pages == 4
        assert updated["Name"] == "Northwind Traders" and updated["No"] == created["No"]
        assert sorted(server.page.records) == ["C90010", "V0000", *[f"V{index:04d}" for index in range(2, 7)]]


def test_updating_a_missing_record_is_a_record_error(nav):
    with pytest.raises(ConnectorError) as error:
        SoapConnector(make_config(nav)).update("Update", "99999", {"City": "Porto"})

    assert error.value.record_level
    assert error.value.message == "The record 99999 to update does not exist in Dynamics NAV."


def test_bad_values_for_a_create_are_a_record_error(nav, calls):
    with pytest.raises(ConnectorError) as error:
        SoapConnector(make_config(nav), calls.append).create("Create", {"Nickname": "x"})

    assert error.value.record_level and not error.value.retryable
    assert "do not fit the Create operation" in error.value.message
    assert nav.calls("Create") == 0


def test_a_create_whose_answer_was_lost_is_found_not_created_twice(nav, calls):
    nav.fail_next(1, after_processing=True)
    connector = SoapConnector(make_config(nav), calls.append)

    created = connector.create("Create", {"No": "20000", "Name": "Fabrikam"}, key_field="No")

    assert created["No"] == "20000" and created["Name"] == "Fabrikam"
    assert nav.calls("Create") == 1 and nav.record_count == 26
    assert [(call.operation, call.status_code) for call in soap_calls(calls)] == [
        ("Create", 500),
        ("ReadMultiple", 200),
    ]


def test_a_failed_create_is_retried_only_after_finding_nothing(nav, calls):
    nav.fail_next(1)
    connector = SoapConnector(make_config(nav), calls.append)

    created = connector.create("Create", {"No": "20000", "Name": "Fabrikam"}, key_field="No")

    assert created["No"] == "20000"
    assert [(call.operation, call.attempt) for call in soap_calls(calls)] == [
        ("Create", 1),
        ("ReadMultiple", 1),
        ("Create", 2),
    ]
    assert nav.record_count == 26


def test_a_create_without_key_field_is_not_retried(nav, calls):
    nav.fail_next(1)

    with pytest.raises(ConnectorError) as error:
        SoapConnector(make_config(nav), calls.append).create("Create", {"Name": "Fabrikam"})

    assert error.value.retryable and error.value.status_code == 500
    assert nav.calls("Create") == 1 and nav.record_count == 25


def test_a_create_answered_503_without_a_key_is_not_sent_again(nav, calls):
    nav.fail_next(1, 503, after_processing=True)

    with pytest.raises(ConnectorError) as error:
        SoapConnector(make_config(nav), calls.append).create("Create", {"Name": "Fabrikam"})

    assert error.value.message == (
        f"{nav.endpoint_url} answered HTTP 503 calling Create. The create was not retried: without a record key "
        "there is no way to check whether it was created."
    )
    assert error.value.retryable and error.value.status_code == 503
    assert nav.calls("Create") == 1 and nav.record_count == 26  # created once, never twice


def test_a_create_answered_503_is_looked_up_before_it_is_sent_again(nav, calls):
    nav.fail_next(1, 503, after_processing=True)

    created = SoapConnector(make_config(nav), calls.append).create(
        "Create", {"No": "20000", "Name": "Fabrikam"}, key_field="No"
    )

    assert created["No"] == "20000"
    assert [(call.operation, call.status_code) for call in soap_calls(calls)] == [
        ("Create", 503),
        ("ReadMultiple", 200),
    ]
    assert nav.calls("Create") == 1 and nav.record_count == 26


def test_a_create_refused_with_429_is_sent_again_without_a_lookup(nav, calls):
    nav.fail_next(1, 429, retry_after="0")

    created = SoapConnector(make_config(nav), calls.append).create("Create", {"Name": "Fabrikam"})

    assert created["Name"] == "Fabrikam"
    assert [(call.operation, call.status_code) for call in soap_calls(calls)] == [("Create", 429), ("Create", 200)]
    assert nav.record_count == 26


# Faults, retries, timeouts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "record_level", "expected"),
    [
        (
            "soap11env:Client.UnknownCustomer",
            "Customer 10000 does not exist",
            True,
            "UnknownCustomer — Customer 10000 does not exist",
        ),
        (
            "a:Microsoft.Dynamics.Nav.Types.Exceptions.NavNCLDialogException",
            "Gen. Bus. Posting Group must have a value in Customer: No.=10000",
            True,
            "NavNCLDialogException — Gen. Bus. Posting Group must have a value",
        ),
        (
            "a:Microsoft.Dynamics.Nav.Service.WebServices.ServiceBrokerException",
            "Page Customer is not published",
            False,
            "ServiceBrokerException — Page Customer is not published",
        ),
    ],
)
def test_faults_are_mapped_by_the_suffix_of_their_code(nav, calls, code, message, record_level, expected):
    nav.fault_next(code, message)

    with pytest.raises(ConnectorError) as error:
        SoapConnector(make_config(nav), calls.append).read_page(ReadRequest(source_object="ReadMultiple"))

    assert error.value.record_level is record_level and not error.value.retryable
    assert error.value.message.startswith("The SOAP service “Dynamics NAV” answered a fault to ReadMultiple: ")
    assert expected in error.value.message
    assert (
        len(soap_calls(calls)) == 1
        and soap_calls(calls)[0].status_code == 500
        and soap_calls(calls)[0].error == error.value.message
    )


def test_a_500_is_retried_then_succeeds(nav, calls):
    nav.fail_next(2)

    page = SoapConnector(make_config(nav), calls.append).read_page(ReadRequest(source_object="ReadMultiple"))

    assert len(page.records) == 10
    assert [(call.attempt, call.status_code) for call in soap_calls(calls)] == [(1, 500), (2, 500), (3, 200)]
    assert soap_calls(calls)[0].error == f"{nav.endpoint_url} answered HTTP 500 calling ReadMultiple."
    assert soap_calls(calls)[2].error == ""


@pytest.mark.parametrize("status", [503, 429])
@pytest.mark.parametrize("form", ["seconds", "HTTP date"])
def test_a_retry_after_longer_than_the_backoff_is_honoured(nav, calls, status, form):
    # An HTTP date two seconds ahead: whole seconds, so between 1 and 2 s from now.
    retry_after = "1" if form == "seconds" else email.utils.formatdate(time.time() + 2, usegmt=True)
    nav.fail_next(1, status, retry_after=retry_after)
    config = make_config(nav, max_retry_after_seconds=5)  # the backoff alone would wait 0.01 s

    page = SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))

    assert len(page.records) == 10
    assert [(call.attempt, call.status_code) for call in soap_calls(calls)] == [(1, status), (2, 200)]
    first, second = nav.call_times("ReadMultiple")
    assert second - first >= 0.95


def test_a_retry_after_beyond_the_ceiling_waits_the_ceiling(nav, calls):
    nav.fail_next(1, 503, retry_after="3600")
    config = make_config(nav, max_retry_after_seconds=0.6)  # the backoff alone would wait 0.01 s

    SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))

    first, second = nav.call_times("ReadMultiple")
    assert 0.6 <= second - first < 5


def test_the_rate_limit_spaces_the_calls_the_service_receives(nav, calls):
    connector = SoapConnector(make_config(nav, rate_limit_per_minute=120), calls.append)  # one call every 0.5 s

    for _ in range(3):
        connector.read_page(ReadRequest(source_object="ReadMultiple"))

    received = nav.call_times("ReadMultiple")
    assert len(received) == 3
    assert all(later - earlier >= 0.45 for earlier, later in itertools.pairwise(received))


def test_a_timeout_is_a_retryable_error_after_the_retries(nav, calls):
    nav.delay_next(2, 10)
    config = make_config(nav, timeout_seconds=0.5, max_retries=1)

    with pytest.raises(ConnectorError) as error:
        SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))

    assert error.value.retryable
    assert error.value.message == f"Timed out after 0.5 s calling ReadMultiple on {nav.endpoint_url}."
    assert [(call.attempt, call.status_code, call.error) for call in soap_calls(calls)] == [
        (1, None, error.value.message),
        (2, None, error.value.message),
    ]
    assert "<ns0:setSize>10</ns0:setSize>" in soap_calls(calls)[0].request_body


def test_an_unreachable_endpoint_is_retryable(nav):
    config = make_config(nav, endpoint_url=f"http://127.0.0.1:{free_port()}/Page/Customer", max_retries=0)

    with pytest.raises(ConnectorError) as error:
        SoapConnector(config).read_page(ReadRequest(source_object="ReadMultiple"))

    assert error.value.retryable
    assert "Could not connect to http://127.0.0.1:" in error.value.message
    assert "Connection refused" in error.value.message


# Auth and secrets ---------------------------------------------------------------------------


def test_http_basic_password_appears_in_no_call_record_and_no_error(calls):
    with NavSoapServer(records=CUSTOMERS, basic_auth=("integration", PASSWORD)) as server:
        config = make_config(server, auth_kind="basic", username="integration", password=PASSWORD)
        page = SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))
        with pytest.raises(ConnectorError) as refused:
            SoapConnector(dataclasses.replace(config, password="wrong-" + PASSWORD), calls.append).read_page(
                ReadRequest(source_object="ReadMultiple")
            )

    assert len(page.records) == 10
    assert calls[-2].request_headers["Authorization"] == "[redacted]"
    assert "refused the credentials (HTTP 401)" in refused.value.message and not refused.value.retryable
    said = everything_said(calls, refused.value)
    token = base64.b64encode(f"integration:{PASSWORD}".encode()).decode()
    assert PASSWORD not in said and token not in said


def test_ws_security_password_appears_in_no_call_record_no_error_and_no_log(calls, caplog):
    caplog.set_level(logging.DEBUG)
    with NavSoapServer(records=CUSTOMERS, wsse_auth=("integration", PASSWORD)) as server:
        config = make_config(server, auth_kind="wsse", username="integration", password=PASSWORD)
        page = SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))
        with pytest.raises(ConnectorError) as refused:
            SoapConnector(dataclasses.replace(config, password="wrong-" + PASSWORD), calls.append).read_page(
                ReadRequest(source_object="ReadMultiple")
            )

    assert len(page.records) == 10
    assert "<wsse:UsernameToken>[redacted]</wsse:UsernameToken>" in soap_calls(calls)[0].request_body
    assert "FailedAuthentication" in refused.value.message and not refused.value.record_level
    assert server.rejected_auth == 1
    assert PASSWORD not in everything_said(calls, refused.value)
    assert PASSWORD not in caplog.text


# WSDL safety ---------------------------------------------------------------------------------

EVIL_IMPORTS = {
    "xsd import": '<xsd:import namespace="urn:evil" schemaLocation="file:///etc/passwd"/>',
    "xsd include": '<xsd:include schemaLocation="file:/etc/passwd"/>',
}


def evil_wsdl(schema_import: str = "", wsdl_import: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
             xmlns:tns="urn:evil" targetNamespace="urn:evil">
  {wsdl_import}
  <types><xsd:schema targetNamespace="urn:evil">{schema_import}</xsd:schema></types>
</definitions>"""


@pytest.mark.parametrize(
    "document",
    [
        evil_wsdl(schema_import=EVIL_IMPORTS["xsd import"]),
        evil_wsdl(schema_import=EVIL_IMPORTS["xsd include"]),
        evil_wsdl(wsdl_import='<import namespace="urn:other" location="file:///etc/passwd"/>'),
    ],
    ids=["xsd-import", "xsd-include", "wsdl-import"],
)
def test_a_wsdl_importing_a_local_file_is_refused(nav, calls, tmp_path, document):
    wsdl_file = tmp_path / "evil.wsdl"
    wsdl_file.write_text(document)
    config = make_config(nav, wsdl_url=nav.serve("/evil.wsdl", wsdl_file.read_bytes()))

    verdict = SoapConnector(config, calls.append).test_connection()
    with pytest.raises(ConnectorError) as error:
        SoapConnector(config, calls.append).read_page(ReadRequest(source_object="ReadMultiple"))

    assert not verdict.ok
    assert verdict.message.startswith("Refused to load ")
    assert "may only come from http or https addresses" in verdict.message
    assert error.value.message == verdict.message and not error.value.retryable
    assert "root:" not in everything_said(calls, error.value, verdict.message)
    assert [request.path for request in nav.requests] == ["/evil.wsdl", "/evil.wsdl"]


def test_a_wsdl_url_redirecting_to_a_local_file_is_refused(nav, calls):
    config = make_config(nav, wsdl_url=nav.redirect("/moved.wsdl", "file:///etc/passwd"))

    verdict = SoapConnector(config, calls.append).test_connection()

    assert not verdict.ok
    assert verdict.message == f"The WSDL at {config.wsdl_url} redirects outside http(s); refused."
    assert "root:" not in everything_said(calls, verdict.message)


def test_an_uploaded_wsdl_with_a_relative_import_reads_no_local_file(nav):
    config = make_config(nav, wsdl_url="", wsdl_document=evil_wsdl(wsdl_import='<import location="passwd"/>'))

    verdict = SoapConnector(config).test_connection()

    assert not verdict.ok and verdict.message.startswith('Refused to load "passwd"')


def test_a_wsdl_with_a_dtd_is_refused(nav, calls):
    document = (
        '<?xml version="1.0"?>\n<!DOCTYPE definitions [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        + evil_wsdl().split("\n", 1)[1].replace("<types>", "<types>&secret;")
    )
    config = make_config(nav, wsdl_url=nav.serve("/dtd.wsdl", document))

    verdict = SoapConnector(config, calls.append).test_connection()

    assert not verdict.ok
    assert "declares a DTD or XML entities" in verdict.message
    assert "root:" not in everything_said(calls, verdict.message)


# Clients, connection test ----------------------------------------------------------------------


def test_the_client_and_documents_are_reused(nav):
    config = make_config(nav)
    request = ReadRequest(source_object="ReadMultiple")

    SoapConnector(config).read_page(request)
    SoapConnector(config).read_page(request)
    assert nav.wsdl_gets == 1
    SoapConnector(dataclasses.replace(config, timeout_seconds=5)).read_page(request)  # another client, cached WSDL
    assert nav.wsdl_gets == 1

    soap.clear_caches()
    SoapConnector(config).read_page(request)
    assert nav.wsdl_gets == 2


def test_test_connection_says_what_it_reached(nav, calls):
    verdict = SoapConnector(make_config(nav), calls.append).test_connection()

    assert verdict.ok
    assert re.fullmatch(
        re.escape(f"Connected to {nav.endpoint_url} (Customer_Service/Customer_Port): ReadMultiple answered in ")
        + r"\d+"
        + re.escape(
            " ms with 1 record — no active table reads from this connection, so ReadMultiple was asked for one record."
        ),
        verdict.message,
    )
    assert "<ns0:setSize>1</ns0:setSize>" in calls[-1].request_body
    assert [(call.method, call.operation) for call in calls] == [("GET", "WSDL"), ("SOAP", "ReadMultiple")]
    assert nav.calls("Create") == nav.calls("Update") == nav.calls("Delete") == 0


def test_test_connection_reports_an_unreachable_wsdl(nav):
    config = make_config(nav, wsdl_url=f"http://127.0.0.1:{free_port()}/Page/Customer?wsdl")

    verdict = SoapConnector(config).test_connection()

    assert not verdict.ok
    assert verdict.message.startswith(f"Could not connect to {config.wsdl_url} to load the WSDL: ")


# Pure helpers ---------------------------------------------------------------------------------


def test_templates_substitute_placeholders_and_drop_what_mentions_an_absent_value():
    template = {
        "filter": [{"Field": "No", "Criteria": "1*"}, {"Field": "Last_Date_Modified", "Criteria": ">{cursor}"}],
        "bookmarkKey": "{page_token}",
        "setSize": "{page_size}",
        "note": "page {page_size}",
    }

    first = render_template(template, {"cursor": None, "page_token": None, "page_size": 50})
    later = render_template(template, {"cursor": "2024-01-31", "page_token": "12;x;1;", "page_size": 50})

    assert first == {"filter": [{"Field": "No", "Criteria": "1*"}], "setSize": 50, "note": "page 50"}
    assert later["filter"][1] == {"Field": "Last_Date_Modified", "Criteria": ">2024-01-31"}
    assert later["bookmarkKey"] == "12;x;1;"


def test_page_pagination_needs_the_page_token_in_the_template(nav):
    connector = SoapConnector(make_config(nav, pagination="page"))

    with pytest.raises(ConnectorError) as error:
        connector.read_page(ReadRequest(source_object="ReadMultiple"))

    assert "must place {page_token}" in error.value.message


def test_helpers_for_faults_filters_and_literals():
    assert fault_name("soap11env:Client.UnknownCustomer") == "UnknownCustomer"
    assert fault_name("a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideRecordNotFoundException") == (
        "NavCSideRecordNotFoundException"
    )
    assert incremental_arguments('{"filter": [{"Field": "X", "Criteria": ">{cursor}"}]}') == {
        "filter": [{"Field": "X", "Criteria": ">{cursor}"}]
    }
    assert nav_literal("10000") == "10000"
    assert nav_literal("A&B's") == "'A&B''s'"


def test_a_decimal_is_written_as_an_xsd_decimal_with_its_digits_and_read_back_as_a_number(nav, calls):
    connector = SoapConnector(make_config(nav), calls.append)

    created = connector.create("Create", {"Name": "Contoso", "Credit_Limit_LCY": Decimal("129.90")})

    [create] = [call for call in soap_calls(calls) if call.operation == "Create"]
    assert re.search(r"<ns0:Credit_Limit_LCY>129\.90</ns0:Credit_Limit_LCY>", create.request_body)
    current = connector.get("Update", created["No"])  # one record as it is now (for the conflict journal)
    assert current["Credit_Limit_LCY"] == Decimal("129.90") and isinstance(current["Credit_Limit_LCY"], Decimal)
    one = connector.read_one(ReadRequest(source_object="Read", arguments={"No": "{key}"}), created["No"])
    assert one["Name"] == "Contoso"
    assert connector.read_one(ReadRequest(source_object="Read", arguments={"No": "{key}"}), "NOPE") is None
