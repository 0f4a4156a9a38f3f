"""Hostile and broken answers, run through the engine: each ends as a clear run or record error.

The source system is a local server answering hostile content (tests/servers/hostile.py):
SOAP answers and WSDL/XSD documents with billion laughs, XXE, external DTDs, file:// imports,
a text node over 10 MB and 200 MB bodies; REST answers with malformed JSON, wrong types,
missing keys and 50 MB bodies. The huge bodies are generated while they are sent. The tests
check what a user sees (the run's error, the review queue), that memory stays bounded while
a huge answer arrives, and that a local file's content (the canary) is never read into any
stored row or log line.
"""

import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from monitoring.choices import RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, SyncRun, TableRun
from sync.connectors import soap
from sync.engine import execute_run, queue_run
from sync.models import Connection, FieldMapping, Integration, RecordLink, StagedRecord, SyncTable

from .servers import hostile
from .servers.hostile import HostileServer
from .servers.rest_api import FakeRestApi

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
LIMIT_MESSAGE = "the answer is larger than 20 MB"
DTD_REFUSED = "answered ReadMultiple with a DTD or XML entities, which are refused."
WSDL_DTD_REFUSED = "declares a DTD or XML entities (<!DOCTYPE>/<!ENTITY>), which are refused."


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def canary(tmp_path):
    """A local file (and an XSD, a DTD) holding a secret string that must never travel anywhere."""
    secret = f"CANARY-{uuid.uuid4().hex}"
    text = tmp_path / "secret.txt"
    text.write_text(secret)
    xsd = tmp_path / "secret.xsd"
    xsd.write_text(
        '<?xml version="1.0"?><schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:canary">'
        f'<element name="{secret}" type="string"/></schema>'
    )
    dtd = tmp_path / "secret.dtd"
    dtd.write_text(f'<!ENTITY leak "{secret}">')
    return SimpleNamespace(secret=secret, text=text, xsd=xsd, dtd=dtd)


@pytest.fixture
def servers():
    soap.clear_caches()
    with HostileServer() as source, FakeRestApi() as crm:
        yield source, crm
    soap.clear_caches()


@pytest.fixture(autouse=True)
def every_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def make_integration(source_connection: dict, crm: FakeRestApi, *, table: dict, mappings=()) -> Integration:
    source = Connection.objects.create(name="Hostile ERP", timeout_seconds=10, max_retries=0, **source_connection)
    target = Connection.objects.create(
        name="CRM", kind="rest", base_url=crm.url, pagination="odata", records_path="value", timeout_seconds=10
    )
    integration = Integration.objects.create(
        name="Hostile ERP ↔ CRM",
        integration_type=source.kind,
        erp_name="Hostile ERP",
        crm_name="CRM",
        erp_connection=source,
        crm_connection=target,
    )
    sync_table = SyncTable.objects.create(integration=integration, name="Customer", target_object="/Contacts", **table)
    for position, (source_path, target_field, required) in enumerate(mappings, start=1):
        FieldMapping.objects.create(
            table=sync_table, position=position, source_path=source_path, target_field=target_field, required=required
        )
    return integration


def soap_integration(server: HostileServer, crm: FakeRestApi, wsdl_path: str = "/Customer.wsdl") -> Integration:
    return make_integration(
        {
            "kind": "soap",
            "wsdl_url": server.url(wsdl_path),
            "pagination": "bookmark",
            "page_size": 10,
            "records_path": "ReadMultiple_Result.Customer",
        },
        crm,
        table={"source_object": "ReadMultiple", "record_key": "No"},
        mappings=[("No", "ErpNo", True), ("Name", "Name", False)],
    )


def rest_integration(server: HostileServer, crm: FakeRestApi, mappings=()) -> Integration:
    return make_integration(
        {"kind": "rest", "base_url": server.base_url, "records_path": "value"},
        crm,
        table={"source_object": "/contacts", "record_key": "Id"},
        mappings=[("Id", "ErpNo", True), ("Name", "Name", False), *mappings],
    )


def serve_nav_wsdl(server: HostileServer, **hostile_parts) -> None:
    """The real NAV Customer WSDL at /Customer.wsdl, its endpoint /Page/Customer on the same server."""
    server.answer("/Customer.wsdl", hostile.xml_body(hostile.wsdl_with(server.url("/Page/Customer"), **hostile_parts)))


def run(integration) -> SyncRun:
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def stored_text() -> str:
    """Every row the run left behind (run, tables, events, request logs, review queue, staging, links)."""
    rows = []
    for model in (SyncRun, TableRun, RecordEvent, RequestLog, RecordError, StagedRecord, RecordLink):
        rows += list(model.objects.values())
    return json.dumps(rows, default=str, ensure_ascii=False)


def assert_never_leaked(secret: str, caplog, crm: FakeRestApi) -> None:
    assert secret not in stored_text()
    assert secret not in caplog.text
    assert secret not in json.dumps(crm.contacts())


def _status_kb(name: str) -> int:
    return int(re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE).group(1))


@contextmanager
def peak_memory_growth():
    """How far the process's peak resident memory rose above where it stood, in MB."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    before = _status_kb("VmRSS")
    measured = SimpleNamespace(mb=None)
    yield measured
    measured.mb = (_status_kb("VmHWM") - before) / 1024


# ---------------------------------------------------------------- SOAP: the service's answers


SOAP_ANSWERS_WITH_A_DTD = [
    (
        "billion laughs",
        lambda server, canary: hostile.read_multiple_envelope(
            hostile.customer("C1", "&lol9;"), hostile.billion_laughs_prologue()
        ),
    ),
    (
        "xxe to a local file",
        lambda server, canary: hostile.read_multiple_envelope(
            hostile.customer("C1", "&xxe;"), hostile.xxe_prologue(canary.text)
        ),
    ),
    (
        "external dtd",
        lambda server, canary: hostile.read_multiple_envelope(
            hostile.customer("C1", "&leak;"), hostile.external_dtd_prologue(server.url("/evil.dtd"))
        ),
    ),
    (
        "external parameter entity",
        lambda server, canary: hostile.read_multiple_envelope(
            hostile.customer("C1", "&leak;"), hostile.parameter_entity_prologue(server.url("/evil.dtd"))
        ),
    ),
    (
        "external dtd, in utf-16",  # past the prolog check: the parser's own refusal
        lambda server, canary: (
            hostile.read_multiple_envelope(
                hostile.customer("C1", "&leak;"), hostile.external_dtd_prologue(server.url("/evil.dtd"))
            )
            .replace('encoding="utf-8"', 'encoding="utf-16"')
            .encode("utf-16")
        ),
    ),
    (
        "xxe to a local file, in utf-16",
        lambda server, canary: (
            hostile.read_multiple_envelope(hostile.customer("C1", "&xxe;"), hostile.xxe_prologue(canary.text))
            .replace('encoding="utf-8"', 'encoding="utf-16"')
            .encode("utf-16")
        ),
    ),
    (
        "external dtd from a local file",
        lambda server, canary: hostile.read_multiple_envelope(
            hostile.customer("C1", "&leak;"), hostile.external_dtd_prologue(f"file://{canary.dtd}")
        ),
    ),
]


@pytest.mark.parametrize(
    ("case", "make_answer"), SOAP_ANSWERS_WITH_A_DTD, ids=[case[0] for case in SOAP_ANSWERS_WITH_A_DTD]
)
def test_soap_answers_with_a_dtd_fail_the_run_and_read_nothing_else(servers, canary, caplog, case, make_answer):
    server, crm = servers
    serve_nav_wsdl(server)
    server.answer("/evil.dtd", hostile.body(canary.dtd.read_text(), "application/xml-dtd"))
    server.answer("/Page/Customer", hostile.xml_body(make_answer(server, canary)))

    with peak_memory_growth() as memory:
        sync_run = run(soap_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error == f"Customer: {server.url('/Page/Customer')} {DTD_REFUSED}"
    assert server.requests_to("/evil.dtd") == []  # the external DTD was never fetched
    assert crm.contacts() == [] and not RecordError.objects.exists()
    assert memory.mb < 30, f"{case}: memory grew by {memory.mb:.0f} MB"
    assert_never_leaked(canary.secret, caplog, crm)


def test_a_text_node_over_10_mb_is_unreadable(servers, canary, caplog):
    server, crm = servers
    serve_nav_wsdl(server)
    server.answer("/Page/Customer", hostile.huge_text_answer(11 * MB))

    with peak_memory_growth() as memory:
        sync_run = run(soap_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error.startswith(
        f"Customer: {server.url('/Page/Customer')} answered ReadMultiple with something unreadable: "
        "Invalid XML content received ("
    )
    assert "huge" in sync_run.error.lower() or "too long" in sync_run.error.lower()
    assert crm.contacts() == []
    assert memory.mb < 100, f"memory grew by {memory.mb:.0f} MB"
    log = RequestLog.objects.get(operation="ReadMultiple")
    assert len(log.response_body) < 25_000  # stored truncated
    assert_never_leaked(canary.secret, caplog, crm)


@pytest.mark.parametrize("content_length", [None, 1000, 200 * MB], ids=["no-length", "length-lies-small", "length"])
def test_a_200_mb_soap_answer_is_refused_while_it_arrives(servers, canary, caplog, content_length):
    server, crm = servers
    serve_nav_wsdl(server)
    server.answer("/Page/Customer", hostile.huge_soap_answer(200 * MB, content_length=content_length))

    started = time.monotonic()
    with peak_memory_growth() as memory:
        sync_run = run(soap_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    if content_length == 1000:  # only the declared 1000 bytes are read: a cut document
        assert "answered ReadMultiple with something unreadable" in sync_run.error
    else:
        assert sync_run.error == (
            f"Customer: {server.url('/Page/Customer')}: {LIMIT_MESSAGE}, "
            "the most the portal reads (OUTBOUND_MAX_RESPONSE_MB)."
        )
    assert memory.mb < 100, f"memory grew by {memory.mb:.0f} MB for a 200 MB answer"
    assert time.monotonic() - started < 30
    assert_never_leaked(canary.secret, caplog, crm)


# ---------------------------------------------------------------- SOAP: the WSDL and its schemas


HOSTILE_WSDLS = [
    (
        "billion laughs",
        lambda server, canary: {"prologue": hostile.billion_laughs_prologue("definitions"), "text": "&lol9;"},
        WSDL_DTD_REFUSED,
    ),
    (
        "xxe to a local file",
        lambda server, canary: {"prologue": hostile.xxe_prologue(canary.text, "definitions"), "text": "&xxe;"},
        WSDL_DTD_REFUSED,
    ),
    (
        "external dtd",
        lambda server, canary: {
            "prologue": hostile.external_dtd_prologue(server.url("/evil.dtd"), "definitions"),
            "text": "&leak;",
        },
        WSDL_DTD_REFUSED,
    ),
    (
        "file schema import",
        lambda server, canary: {
            "schema_import": f'<xsd:import namespace="urn:canary" schemaLocation="file://{canary.xsd}"/>'
        },
        "may only come from http or https addresses (local files are never read).",
    ),
    (
        "file: schema include",
        lambda server, canary: {"schema_import": f'<xsd:include schemaLocation="file:{canary.xsd}"/>'},
        "may only come from http or https addresses (local files are never read).",
    ),
]


@pytest.mark.parametrize(("case", "parts", "expected"), HOSTILE_WSDLS, ids=[case[0] for case in HOSTILE_WSDLS])
def test_hostile_wsdls_fail_the_run_and_read_nothing_else(servers, canary, caplog, case, parts, expected):
    server, crm = servers
    serve_nav_wsdl(server, **parts(server, canary))
    server.answer("/evil.dtd", hostile.body(canary.dtd.read_text(), "application/xml-dtd"))

    with peak_memory_growth() as memory:
        sync_run = run(soap_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error.startswith("Customer: ") and sync_run.error.endswith(expected), sync_run.error
    assert server.requests_to("/evil.dtd") == []
    assert server.requests_to("/Page/Customer") == []  # no call was made with a refused WSDL
    assert memory.mb < 30, f"{case}: memory grew by {memory.mb:.0f} MB"
    assert_never_leaked(canary.secret, caplog, crm)


@pytest.mark.parametrize("document", ["wsdl", "xsd"])
def test_a_200_mb_wsdl_or_schema_is_refused_while_it_arrives(servers, canary, caplog, document):
    server, crm = servers
    if document == "wsdl":
        server.answer("/Customer.wsdl", hostile.huge_schema(200 * MB))
        huge_url = server.url("/Customer.wsdl")
    else:
        huge_url = server.answer("/huge.xsd", hostile.huge_schema(200 * MB))
        serve_nav_wsdl(server, schema_import=f'<xsd:import namespace="urn:huge" schemaLocation="{huge_url}"/>')

    with peak_memory_growth() as memory:
        sync_run = run(soap_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error == (
        f"Customer: {huge_url}: {LIMIT_MESSAGE}, the most the portal reads (OUTBOUND_MAX_RESPONSE_MB)."
    )
    assert memory.mb < 100, f"memory grew by {memory.mb:.0f} MB for a 200 MB {document}"
    assert_never_leaked(canary.secret, caplog, crm)


# ---------------------------------------------------------------- REST answers


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            hostile.body('{"value": [{"Id": 1, "Name": "Ana"'),
            'The response is not JSON: {"value": [{"Id": 1, "Name": "Ana"',
        ),
        (hostile.body(""), "The response is not JSON: (an empty body)"),
        (
            hostile.body("<html><body>Maintenance</body></html>", "text/html"),
            "The response is not JSON: <html><body>Maintenance</body></html>",
        ),
        (
            hostile.json_body({"value": {"Id": 1, "Name": "Ana"}}),
            "The response is an object, not a list of records: check the records path (it holds: Id, Name).",
        ),
        (
            hostile.json_body({"value": 5}),
            "The records in the response are not a list of objects: check the records path.",
        ),
        (
            hostile.json_body({"value": ["Ana", "Bia"]}),
            "The records in the response are not a list of objects: check the records path.",
        ),
        (
            hostile.json_body({"items": [{"Id": 1}]}),
            "The response has no value: check the records path (the response holds: items).",
        ),
        (
            hostile.json_body([{"Id": 1}]),
            "The response has no value: check the records path (the response holds: list).",
        ),
    ],
    ids=["cut-json", "empty", "html", "object", "number", "strings", "no-records-key", "bare-list"],
)
def test_broken_rest_answers_fail_the_run_with_the_reason(servers, answer, expected):
    server, crm = servers
    server.answer("/contacts", answer)

    sync_run = run(rest_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error == f"Customer: {expected}"
    assert crm.contacts() == []
    log = RequestLog.objects.get(run=sync_run)  # the call itself went fine: the answer is the problem
    assert (log.method, log.status_code, log.error) == ("GET", 200, "")


def test_bad_records_among_good_ones_go_to_the_review_queue_with_their_payload(servers):
    server, crm = servers
    server.answer(
        "/contacts",
        hostile.json_body(
            {
                "value": [
                    {"Id": 1, "Name": "Ana", "Address": {"City": "Recife"}},
                    "just a string",
                    {"Id": 3, "Name": "Caio", "Address": 5},  # a number where an object is expected
                    {"Name": "Dora", "Address": {"City": "Natal"}},  # no record key
                    {"Id": 5, "Name": ["not", "text"], "Address": {"City": ["a", "list"]}},
                ]
            }
        ),
    )

    sync_run = run(rest_integration(server, crm, mappings=[("Address.City", "City", True)]))

    assert sync_run.status == RunStatus.PARTIAL
    table_run = TableRun.objects.get(run=sync_run)
    assert (table_run.read, table_run.created, table_run.failed) == (5, 2, 3)
    assert sorted((c["ErpNo"], c["City"]) for c in crm.contacts()) == [(1, "Recife"), (5, ["a", "list"])]
    # A record without a key of its own is queued under what it lacks and a short hash of its payload.
    queue = {
        re.sub(r"^(\(.*\)) [0-9a-f]{8}$", r"\1 #", error.record_key): (error.reason, error.payload)
        for error in RecordError.objects.all()
    }
    assert queue == {
        "(unreadable record) #": ("The source sent a record that is not an object.", "just a string"),
        "3": ("City: Address.City is required but missing from the record", {"Id": 3, "Name": "Caio", "Address": 5}),
        "(no Id) #": (
            'The record has no value in its key field "Id".',
            {"Name": "Dora", "Address": {"City": "Natal"}},
        ),
    }


@pytest.mark.parametrize(
    ("content_length", "expected"),
    [
        (None, LIMIT_MESSAGE),
        (50 * MB, LIMIT_MESSAGE),  # declared: refused before reading
        (1000, "The response is not JSON: "),  # a lie: only the declared bytes are read
    ],
    ids=["no-length", "length", "length-lies-small"],
)
def test_a_50_mb_rest_answer_is_refused_while_it_arrives(servers, canary, caplog, content_length, expected):
    server, crm = servers
    server.answer("/contacts", hostile.huge_json(50 * MB, content_length=content_length))

    started = time.monotonic()
    with peak_memory_growth() as memory:
        sync_run = run(rest_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error.startswith("Customer: ") and expected in sync_run.error, sync_run.error
    if expected == LIMIT_MESSAGE:
        url = server.url("/contacts")
        assert (
            sync_run.error == f"Customer: {url}: {LIMIT_MESSAGE}, the most the portal reads (OUTBOUND_MAX_RESPONSE_MB)."
        )
    assert memory.mb < 60, f"memory grew by {memory.mb:.0f} MB for a 50 MB answer"
    assert time.monotonic() - started < 30
    assert crm.contacts() == []
    assert_never_leaked(canary.secret, caplog, crm)


def test_a_compressed_answer_is_measured_as_it_inflates(servers):
    server, crm = servers
    server.answer("/contacts", hostile.gzip_bomb_json(200 * MB))  # under 1 MB on the wire

    with peak_memory_growth() as memory:
        sync_run = run(rest_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error == (
        f"Customer: {server.url('/contacts')}: {LIMIT_MESSAGE}, the most the portal reads (OUTBOUND_MAX_RESPONSE_MB)."
    )
    assert memory.mb < 100, f"memory grew by {memory.mb:.0f} MB for a 200 MB inflated answer"


def test_a_smaller_limit_applies_at_once(servers, settings):
    server, crm = servers
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1 * MB
    server.answer("/contacts", hostile.huge_json(2 * MB))

    sync_run = run(rest_integration(server, crm))

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error.endswith(
        ": the answer is larger than 1 MB, the most the portal reads (OUTBOUND_MAX_RESPONSE_MB)."
    )
