"""The SOAP connector (zeep), built for Dynamics NAV page web services and usable for others.

How the generic interface maps onto SOAP
----------------------------------------

**Reading** (``read_page``): ``ReadRequest.source_object`` is the read operation's name
(e.g. ``ReadMultiple``). ``ReadRequest.arguments`` is an *argument template*: the
operation's keyword arguments as JSON-like data (dicts, lists, strings, numbers) in which
these placeholders are substituted inside strings:

- ``{cursor}``: the last committed incremental cursor (``ReadRequest.cursor``);
- ``{page_token}``: the page position (a bookmark Key, a page number or an offset);
- ``{page_size}``: ``ConnectionConfig.page_size``.

A string that is exactly one placeholder takes the value itself (``"{page_size}"`` becomes
the number 100). A value that is absent (no cursor on the first run, no bookmark on the first
page) removes what mentions it: a *list item* mentioning it is dropped whole (so a NAV
``filter`` element on the cursor disappears on the first run), any other key mentioning it
is dropped. A list left empty is omitted from the envelope (NAV reads every record when no
``filter`` is sent, although its WSDL says ``minOccurs=1``).

``ReadRequest.incremental_filter``, applied only when there is a cursor, is either a JSON
object merged into the arguments (lists are concatenated), e.g.
``{"filter": [{"Field": "Last_Date_Modified", "Criteria": ">={cursor}"}]}``, or the NAV
shorthand ``Field: criteria``, e.g. ``Last_Date_Modified: >={cursor}``, which means exactly
that filter element. (NAV's ``Last_Date_Modified`` is a date: ``>=`` re-reads the cursor's
day, which the engine's unchanged-record check absorbs; ``>`` would miss later changes made
on that day.)

Pagination (``ConnectionConfig.pagination``):

- ``bookmark`` (NAV): ``bookmarkKey`` = the previous page's last record ``Key`` and
  ``setSize`` = page size, added to the arguments when the template does not place
  ``{page_token}`` / ``{page_size}`` itself; the last page is the one with fewer than
  ``page_size`` records.
- ``page`` / ``offset``: the template must place ``{page_token}`` (page numbers start at 1,
  offsets at 0); the last page is the one with fewer than ``page_size`` records.
- ``none``: one call.

Records are found at ``ConnectionConfig.records_path`` in the operation's answer, a dotted
path through the answer's wrapper element, e.g. ``ReadMultiple_Result.Customer`` for NAV
(the wrapper's own name may lead the path: ``Read_Result.Customer``). Blank: descend
through single-child elements down to the first list or record. zeep objects become plain
dicts (``zeep.helpers.serialize_object``); dates and datetimes become ISO strings, decimals
strings (no float rounding), as Django's JSON encoder does; empty (None) fields of a record
are left out.

**Writing**:

- ``create(target_object="Create", values, key_field=…)`` wraps ``values`` in the single
  element the operation expects (NAV: ``Create(Customer={...})``) and returns the created
  record as a dict (NAV returns it with its ``No`` and ``Key``). A create is never blindly
  retried: without ``key_field`` a retryable failure is raised at once; with it, the record
  is first looked up (``find`` with ``ReadMultiple``, else ``Read``) and returned if the
  failed attempt did create it.
- ``update(target_object="Update", key, values)``: NAV's Update needs the record's *current*
  ``Key`` (it changes on every modification). When ``values`` holds ``Key`` it is sent as
  given (a stale one is NAV's concurrency fault, a record error). Otherwise ``key`` is the
  record's primary key (what the table's target key holds, e.g. ``No``): the connector
  reads the record with the WSDL's ``Read`` operation, takes its ``Key`` and sends
  ``Update(Customer={**values, "Key": key})``; a retried update re-reads the Key. Pages with
  a composite key (a journal line) need the ``Key`` in ``values``. Operations whose record
  has no ``Key`` element get ``values`` as they are.
- ``delete(target_object="Delete", key)``: ``key`` is the primary key; NAV's Delete takes the
  current ``Key`` found the same way. A record already gone counts as deleted.
- ``find(target_object, key_field, value)``: ``Read(No=value)`` when the operation takes
  ``key_field`` itself, otherwise an operation with a NAV ``filter`` (``ReadMultiple``) with
  the criteria ``value`` (quoted when it holds filter syntax) and ``setSize`` 1. No answer or
  a "not found" fault means None.

**test_connection** loads the WSDL, then reads as a sync would, once: the read operation of the
first active table reading from the connection, with its read arguments, or else ``ReadMultiple``,
asking for one record (``setSize`` 1, ``{page_size}`` 1) where the operation allows it. Nothing
else is called: nothing destructive. Green only when that read answered; a service that offers
nothing to read leaves the credentials untested, and says so in red.

**Safety and robustness**:

- One zeep client per process and configuration (WSDL identity: the URL, or a hash of the
  uploaded document; auth; timeout; TLS), kept for an hour; WSDL and XSD documents are cached
  in memory by URL, so a new client does not download them again.
- The transport reads http(s) only: ``file://`` or a bare path, in the WSDL or in any import,
  is refused before anything is read. Its session follows the outbound policy
  (:mod:`sync.outbound`: no cloud metadata address, loopback only when allowed, checked on
  the address connected to) and reads every answer, WSDL and XSD documents included, up to
  ``OUTBOUND_MAX_RESPONSE_BYTES``. DTDs and entities are refused (``forbid_dtd``,
  ``forbid_entities``: billion laughs, XXE, external DTDs), ``xml_huge_tree`` stays off (a
  text node over 10 MB is unreadable), ``operation_timeout`` is always ``config.timeout_seconds``.
- ``ConnectionConfig.endpoint_url`` overrides the address written in the WSDL.
- Auth: HTTP basic (on the WSDL download too) or WS-Security UsernameToken.
- Every attempt is one ``CallRecord`` (method ``SOAP``, the endpoint, the operation, the HTTP
  status, the redacted and truncated envelopes): the transport captures the raw exchange and
  never logs envelopes (zeep's transport logs them at DEBUG, passwords included). Each WSDL
  or XSD download is a ``CallRecord`` too (method ``GET``, operation ``WSDL``, no bodies).
- Records are read from the raw answer with the operation's output element, not from zeep's
  return value (which unwraps single-child elements unevenly: ``ReadMultiple`` would come
  back as a bare list), so ``records_path`` follows the answer as written in the WSDL.
- Timeouts, dropped connections, HTTP 429/5xx without a fault: retried ``max_retries``
  times with exponential backoff (``backoff_seconds``; a ``Retry-After`` up to
  ``max_retry_after_seconds`` is honoured), then a retryable ``ConnectorError``.
- SOAP faults are matched on the last segment of their code (``soap11env:Client.UnknownCustomer``
  → ``UnknownCustomer``; ``a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideRecordNotFoundException``
  → ``NavCSideRecordNotFoundException``): see ``RECORD_FAULTS`` and ``RETRYABLE_FAULTS``;
  any other fault is a run error.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import requests
from lxml import etree
from zeep import Client, Settings, Transport, xsd
from zeep import exceptions as zeep_errors
from zeep.cache import InMemoryCache
from zeep.helpers import serialize_object
from zeep.loader import parse_xml
from zeep.proxy import ServiceProxy
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from core import outbound
from core import stored_messages as stored
from core.redaction import redact_headers, redact_text, redact_url, truncate
from sync.choices import AuthKind, Pagination

from . import pages, refusals, verdicts
from .base import CallRecord, ConnectionConfig, Connector, ConnectorError, Page, ReadRequest, SampleRead, Verdict

logger = logging.getLogger(__name__)

SOAP_METHOD = "SOAP"
WSDL_OPERATION = "WSDL"
CLIENT_TTL_SECONDS = 3600
ALLOWED_SCHEMES = ("http", "https")

# Fault codes are matched on their last segment (after "prefix:" and "Namespace.").
RECORD_FAULTS = re.compile(
    r"NotFound|^Unknown|Concurrency|AlreadyExists|RecordExists|Duplicate|Validation|TestField|NCLDialog"
    r"|^Invalid(?!Credentials|Security|Token)|Conflict",
    re.IGNORECASE,
)
RETRYABLE_FAULTS = re.compile(r"Busy|Unavailable|Timeout|Deadlock|TryAgain|Throttl", re.IGNORECASE)
# SOAP 1.1 "Client.*" faults blame the request, i.e. the record sent, unless they are about access.
CLIENT_FAULT = re.compile(r"(^|:)Client\.", re.IGNORECASE)
ACCESS_FAULTS = re.compile(r"Auth|Credential|Security|Permission|Login|Access", re.IGNORECASE)
NOT_FOUND_FAULTS = re.compile(r"NotFound|^Unknown", re.IGNORECASE)

PLACEHOLDER = re.compile(r"\{(cursor|page_token|page_size|key)\}")
_XML_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding=)(["'])[\w.-]+\2""")
_NAV_SHORTHAND = re.compile(r"^\s*(\w+)\s*:\s*(.*\S)\s*$", re.DOTALL)
_NAV_SPECIAL = re.compile(r"[&|()*@<>=']|\.\.|^\s|\s$")
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
# A document type declaration after the XML declaration, comments and processing instructions.
_DOCTYPE_IN_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.DOTALL | re.IGNORECASE)
PROLOG_BYTES = 64 * 1024


# ---------------------------------------------------------------------------------------
# Transport: http(s) only, the raw exchange captured per thread, envelopes never logged.


class RefusedLocation(Exception):
    """A document or endpoint outside http(s), refused before anything is read."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def _require_http(location: str) -> None:
    if urlparse(str(location)).scheme.lower() not in ALLOWED_SCHEMES:
        raise RefusedLocation(str(location))


class WebPageAnswer(Exception):
    """A web page (a sign-in form, a "not found" page) where an XML document was expected, from ``url``."""

    def __init__(self, page: pages.WebPage, url: str = ""):
        super().__init__(page.title)
        self.page = page
        self.url = url


def refuse_dtd(content: bytes, url: str = "") -> bytes:
    """``content``, unless it is a web page or its prolog declares a DTD: refused before any parser sees it.

    A web page (``<!DOCTYPE html>`` without entities, ``<html>``) is what a wrong address or a
    sign-in answers: :class:`WebPageAnswer` says so, never "DTD". Any other document type is
    refused as a DTD: zeep refuses DTDs only after lxml parsed the document (entities, external
    subsets and all); this keeps them away from the parser altogether. zeep's own check stays as
    the second line (documents in other encodings).
    """
    page = pages.web_page(content)
    if page is not None:
        raise WebPageAnswer(page, url)
    if _DOCTYPE_IN_PROLOG.match(content[:PROLOG_BYTES]):
        raise zeep_errors.DTDForbidden("", None, None)
    return content


@dataclass
class Exchange:
    """What went over the wire in one call, as captured by the transport."""

    request_headers: dict = field(default_factory=dict)
    request_body: bytes = b""
    status_code: int | None = None
    reason: str = ""  # the HTTP reason phrase
    response_headers: dict = field(default_factory=dict)
    response_body: bytes = b""


@dataclass
class DocumentLoad:
    url: str
    started_at: datetime
    finished_at: datetime | None = None
    status_code: int | None = None


class DocumentCache(InMemoryCache):
    """WSDL/XSD documents by URL, for this module only (zeep's own cache dict is global)."""

    _cache: dict = {}

    @classmethod
    def clear(cls) -> None:
        cls._cache.clear()

    @classmethod
    def forget(cls, urls) -> None:
        for url in urls:
            cls._cache.pop(url, None)


class SafeTransport(Transport):
    def __init__(self, config: ConnectionConfig):
        session = outbound.session()  # checked addresses, answers read up to the size limit
        session.verify = config.verify_tls
        if config.auth_kind == AuthKind.BASIC:
            session.auth = (config.username, config.password)
        super().__init__(
            cache=DocumentCache(timeout=CLIENT_TTL_SECONDS),
            timeout=config.timeout_seconds,
            operation_timeout=config.timeout_seconds,
            session=session,
        )
        self.session.adapters.pop("file://", None)  # zeep mounts a file:// adapter: redirects there fail too
        self.logger = logger
        self.loads: list[DocumentLoad] = []
        self._local = threading.local()

    def load(self, url):
        _require_http(url)
        return super().load(url)

    def _load_remote_data(self, url):
        load = DocumentLoad(url=url, started_at=_now())
        self.loads.append(load)
        try:
            response = self.session.get(url, timeout=self.load_timeout)
            load.status_code = response.status_code
            with closing(response):
                response.raise_for_status()
                return refuse_dtd(response.content, url)
        finally:
            load.finished_at = _now()

    def post(self, address, message, headers):
        _require_http(address)
        exchange = self.begin() if self.current() is None else self.current()
        exchange.request_body = message if isinstance(message, bytes) else str(message).encode("utf-8")
        exchange.request_headers = {**self.session.headers, **headers}
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        exchange.status_code = response.status_code
        exchange.reason = response.reason or ""
        exchange.request_headers = dict(response.request.headers)
        exchange.response_headers = dict(response.headers)
        exchange.response_body = response.content
        refuse_dtd(response.content)  # a web page is judged by its status (SoapConnector._failure)
        return response

    def begin(self) -> Exchange:
        self._local.exchange = Exchange()
        return self._local.exchange

    def current(self) -> Exchange | None:
        return getattr(self._local, "exchange", None)

    def end(self) -> Exchange:
        exchange = self.current() or Exchange()
        self._local.exchange = None
        return exchange


# ---------------------------------------------------------------------------------------
# Clients, one per process and configuration.


@dataclass
class SoapClient:
    client: Client
    transport: SafeTransport
    created: float


_clients: dict[tuple, SoapClient] = {}
_clients_lock = threading.Lock()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def client_key(config: ConnectionConfig) -> tuple:
    wsdl = (
        ("document", _digest(config.wsdl_document), config.wsdl_url)
        if config.wsdl_document.strip()
        else ("url", config.wsdl_url)
    )
    credentials = (
        (config.username, _digest(config.password)) if config.auth_kind in (AuthKind.BASIC, AuthKind.WSSE) else ()
    )
    return (*wsdl, config.auth_kind, *credentials, float(config.timeout_seconds), config.verify_tls)


def zeep_settings() -> Settings:
    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False, xml_huge_tree=False)


def build_client(config: ConnectionConfig, transport: SafeTransport) -> Client:
    settings = zeep_settings()
    if config.wsdl_document.strip():
        # Relative imports of an uploaded document resolve against the WSDL URL, if any.
        source = io.BytesIO(refuse_dtd(_utf8_document(config.wsdl_document)))
        wsdl = Document(source, transport, base=config.wsdl_url or None, settings=settings)
    elif config.wsdl_url:
        wsdl = config.wsdl_url
    else:
        raise ConnectorError(stored.gettext("The SOAP connection has no WSDL: give its URL or upload the document."))
    wsse = UsernameToken(config.username, config.password) if config.auth_kind == AuthKind.WSSE else None
    return Client(wsdl, wsse=wsse, transport=transport, settings=settings)


def _utf8_document(text: str) -> bytes:
    """The uploaded (already decoded) document as UTF-8 bytes, its XML declaration saying so."""
    return _XML_DECLARED_ENCODING.sub(r"\1\2utf-8\2", text, count=1).encode("utf-8")


def cached_client(config: ConnectionConfig, on_load=None) -> SoapClient:
    """The process-wide client for this configuration, built (and its WSDL loaded) once."""
    key = client_key(config)
    now = time.monotonic()
    with _clients_lock:
        entry = _clients.get(key)
        if entry is not None and now - entry.created < CLIENT_TTL_SECONDS:
            return entry
    transport = SafeTransport(config)
    try:
        client = build_client(config, transport)
    except Exception:
        DocumentCache.forget(load.url for load in transport.loads)  # a fixed WSDL is read again at once
        raise
    finally:
        if on_load is not None:
            on_load(transport.loads)
    entry = SoapClient(client=client, transport=transport, created=now)
    with _clients_lock:
        _clients[key] = entry
    return entry


def clear_caches() -> None:
    """Forget every client and cached document (after a WSDL changed, and between tests)."""
    with _clients_lock:
        _clients.clear()
    DocumentCache.clear()


# ---------------------------------------------------------------------------------------
# Argument templates.

_DROP = object()


def _mentions(node, names: set[str]) -> bool:
    if isinstance(node, dict):
        return any(_mentions(value, names) for value in node.values())
    if isinstance(node, list):
        return any(_mentions(value, names) for value in node)
    return isinstance(node, str) and any(f"{{{name}}}" in node for name in names)


def _render_string(text: str, values: dict[str, Any]):
    names = PLACEHOLDER.findall(text)
    if any(values.get(name) is None for name in names):
        return _DROP
    whole = PLACEHOLDER.fullmatch(text)
    if whole:
        return values[whole.group(1)]
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)


def render_template(node, values: dict[str, Any]):
    """Substitute the placeholders; list items and keys that mention an absent value are dropped."""
    missing = {name for name, value in values.items() if value is None}
    if isinstance(node, dict):
        rendered = {key: render_template(value, values) for key, value in node.items()}
        return {key: value for key, value in rendered.items() if value is not _DROP}
    if isinstance(node, list):
        items = [render_template(item, values) for item in node if not _mentions(item, missing)]
        return [item for item in items if item is not _DROP]
    if isinstance(node, str):
        return _render_string(node, values)
    return node


def merge_arguments(base: dict, extra: dict) -> dict:
    """``extra`` merged into ``base``: dicts recursively, lists concatenated, other values replaced."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_arguments(current, value)
        elif isinstance(current, list):
            merged[key] = current + (value if isinstance(value, list) else [value])
        else:
            merged[key] = value
    return merged


def incremental_arguments(incremental_filter: str) -> dict:
    """The incremental filter as arguments: a JSON object, or NAV's ``Field: criteria``."""
    text = (incremental_filter or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConnectorError(
                stored.gettext("The incremental filter is not valid JSON: %(error)s", error=str(exc))
            ) from exc
        if isinstance(value, dict):
            return value
    match = _NAV_SHORTHAND.match(text)
    if not match:
        raise ConnectorError(
            stored.gettext(
                'The incremental filter "%(filter)s" is neither a JSON object nor "Field: criteria" '
                '(e.g. "Last_Date_Modified: >={cursor}").',
                filter=text,
            )
        )
    return {"filter": [{"Field": match.group(1), "Criteria": match.group(2)}]}


def omit_empty_lists(node):
    """Empty lists become zeep's SkipValue: the element is left out of the envelope."""
    if isinstance(node, dict):
        return {key: omit_empty_lists(value) for key, value in node.items()}
    if isinstance(node, list):
        return [omit_empty_lists(item) for item in node] if node else xsd.SkipValue
    return node


def nav_literal(value: str) -> str:
    """A value as a NAV filter literal: quoted when it holds filter syntax."""
    if _NAV_SPECIAL.search(value) or not value:
        return "'" + value.replace("'", "''") + "'"
    return value


# ---------------------------------------------------------------------------------------
# Answers as plain, JSON-safe data.


def plain(value):
    """zeep values as plain Python data: an ``xsd:decimal`` stays a ``Decimal`` (a number, its digits kept)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, etree._Element):
        return etree.tostring(value, encoding="unicode")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def as_record(value) -> dict:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return {"value": value}


def descend(body):
    """Through single-child wrappers down to the first list or record."""
    while isinstance(body, dict) and len(body) == 1:
        (inner,) = body.values()
        if not isinstance(inner, dict | list) and inner is not None:
            break
        body = inner
    return body


def records_from(data) -> list[dict]:
    if data is None:
        return []
    if isinstance(data, list):
        return [as_record(item) for item in data if item is not None]
    return [as_record(data)]


def resolve_path(body, path: str, wrapper_name: str = ""):
    """Follow a dotted path; None along the way is an empty answer, a missing key an error."""
    segments = [segment for segment in path.split(".") if segment]
    if segments and wrapper_name and segments[0] == wrapper_name and not _has_key(body, wrapper_name):
        segments = segments[1:]
    data = body
    for depth, segment in enumerate(segments):
        data = _step(data, segment, segments[: depth + 1], path)
        if data is None:
            return None
    return data


def _has_key(body, name: str) -> bool:
    return isinstance(body, dict) and name in body


def _step(data, segment: str, walked: list[str], path: str):
    if isinstance(data, list):
        items = [_step(item, segment, walked, path) for item in data]
        return [leaf for item in items if item is not None for leaf in (item if isinstance(item, list) else [item])]
    if isinstance(data, dict):
        if segment not in data:
            raise ConnectorError(
                stored.gettext(
                    'The records path "%(path)s" does not match the answer: "%(at)s" is not there (found: %(keys)s).',
                    path=path,
                    at=".".join(walked),
                    keys=", ".join(data) or "-",
                )
            )
        return data[segment]
    return None


# ---------------------------------------------------------------------------------------
# Errors in words.


def fault_name(code: str | None) -> str:
    """``soap11env:Client.UnknownCustomer`` → ``UnknownCustomer``."""
    return (code or "").rsplit(":", 1)[-1].rsplit(".", 1)[-1].strip()


def _seconds(value: float) -> str:
    return f"{value:g}"


def _connection_reason(exc: Exception) -> str:
    match = _ERRNO_REASON.search(str(exc))
    return match.group(1).strip() if match else type(exc).__name__


# Answers that say the request was not carried out: a create may be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})


class Failure(Exception):
    """An attempt's failure: the error to raise, and how long the server asked to wait (if it did)."""

    def __init__(self, error: ConnectorError, retry_after: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class SoapFault(ConnectorError):
    """A SOAP fault, with its code as received and whether it means "no such record"."""

    def __init__(self, message: str, *, code: str, not_found: bool, **kwargs):
        super().__init__(message, **kwargs)
        self.code = code
        self.not_found = not_found


# ---------------------------------------------------------------------------------------
# The connector.


class SoapConnector(Connector):
    """See the module docstring for how reads, writes, faults and retries work."""

    def __init__(self, config: ConnectionConfig, call_log=None):
        super().__init__(config, call_log)
        self._soap: SoapClient | None = None
        self._service = None
        self._port_name = ""
        self._address = ""

    # Interface ---------------------------------------------------------------------------

    def read_page(self, request: ReadRequest) -> Page:
        pagination = self.config.pagination or Pagination.NONE
        token = self._first_token(pagination, request.page_token)
        arguments = self._read_arguments(request, pagination, token)
        body = self._with_retries(lambda attempt: self._call_once(request.source_object, arguments, attempt))
        records = self._records(request.source_object, body)
        return Page(records=records, next_token=self._next_token(pagination, token, records))

    def find(self, target_object: str, key_field: str, key_value: str) -> dict | None:
        if key_value in (None, ""):
            return None
        arguments = self._find_arguments(target_object, key_field, str(key_value))
        if arguments is None:
            raise ConnectorError(
                stored.gettext(
                    "Cannot look a record up with %(operation)s: it takes neither %(field)s nor a filter.",
                    operation=target_object,
                    field=key_field,
                )
            )
        return self._lookup(target_object, arguments)

    def can_find(self, target_object: str, key_field: str) -> bool:
        return self._find_arguments(target_object, key_field, "") is not None

    def create(self, target_object: str, values: dict, *, key_field: str = "") -> dict:
        arguments = self._wrap_record(target_object, values)
        lookup = self._create_lookup(key_field, values.get(key_field) if key_field else None)
        attempts = self._attempts()
        for attempt in range(1, attempts + 1):
            try:
                return self._single_record(self._call_once(target_object, arguments, attempt, write=True))
            except Failure as failure:
                if not failure.error.retryable or attempt == attempts:
                    raise failure.error from None
                if lookup is None and failure.error.status_code not in NOT_PROCESSED_STATUSES:
                    # It may have been created, and nothing can tell: never blindly again.
                    raise failure.error from None
                self._backoff(attempt, failure)
            if lookup is not None:
                existing = self._lookup(*lookup)  # did the failed attempt create it after all?
                if existing is not None:
                    return existing
        raise AssertionError("unreachable")  # pragma: no cover

    def update(self, target_object: str, key: str, values: dict) -> dict:
        return self._with_retries(lambda attempt: self._update_once(target_object, key, values, attempt))

    def get(self, target_object: str, key: str) -> dict | None:
        if "Read" not in self._operation_names() or len(self._input_names("Read")) != 1:
            return None  # no way to read one record: no conflict can be seen
        return self._with_retries(lambda attempt: self._read_by_primary_key(key, attempt))

    def read_one(self, request: ReadRequest, key: str) -> dict | None:
        arguments = render_template(dict(request.arguments or {}), {"key": key})
        return self._lookup(request.source_object, arguments)

    def delete(self, target_object: str, key: str) -> None:
        self._with_retries(lambda attempt: self._delete_once(target_object, key, attempt))

    def test_connection(self, sample: SampleRead | None = None) -> Verdict:
        try:
            operations = self._operation_names()
            read = self._test_read(sample, operations)
            if read is None:
                return verdicts.soap_nothing_read(self._port_name, len(operations))
            operation, arguments, why = read
            started = time.monotonic()
            body = self._call_once(operation, arguments, attempt=1)  # one attempt: answer fast
            milliseconds = round((time.monotonic() - started) * 1000)
            count = len(self._records(operation, body))
        except Failure as failure:
            return verdicts.failed(failure.error)
        except ConnectorError as exc:
            return verdicts.failed(exc)
        address = redact_url(self._address, self.config.secrets())
        return verdicts.soap_connected(address, self._port_name, operation, why, milliseconds, count)

    def _test_read(self, sample: SampleRead | None, operations: list[str]):
        """(operation, arguments, why) of the read "test connection" calls, asking for one record where the
        operation allows it: the first table's read, else ReadMultiple; None when there is neither."""
        if sample is not None:
            operation = sample.request.source_object
            pagination = self.config.pagination or Pagination.NONE
            token = self._first_token(pagination, None)
            arguments = self._read_arguments(sample.request, pagination, token, page_size=1)
            why = verdicts.table_read(sample.table)
        elif "ReadMultiple" in operations and "setSize" in self._input_names("ReadMultiple"):
            operation, arguments, why = "ReadMultiple", {}, verdicts.no_table_read("ReadMultiple")
        else:
            return None
        if "setSize" in self._input_names(operation) and "setSize" not in arguments:
            arguments = {**arguments, "setSize": 1}
        return operation, arguments, why

    # The client, the port, the operations -----------------------------------------------

    def _client(self) -> SoapClient:
        if self._soap is None:
            try:
                self._soap = cached_client(self.config, on_load=self._log_loads)
            except ConnectorError:
                raise
            except Exception as exc:
                raise self._wsdl_error(exc) from None
        return self._soap

    def _proxy(self):
        if self._service is None:
            client = self._client().client
            service = self._pick(client.wsdl.services, self.config.soap_service, stored.gettext("service"))
            port = self._pick(service.ports, self.config.soap_port, stored.gettext("port"))
            address = self.config.endpoint_url or (port.binding_options or {}).get("address") or ""
            if urlparse(address).scheme.lower() not in ALLOWED_SCHEMES:
                raise ConnectorError(
                    stored.gettext(
                        'The SOAP endpoint "%(address)s" is not an http(s) address: set the endpoint URL.',
                        address=redact_url(address, self.config.secrets()),
                    )
                )
            self._service = ServiceProxy(client, port.binding, address=address)
            self._port_name = f"{service.name}/{port.name}"
            self._address = address
        return self._service

    def _pick(self, options: dict, wanted: str, what: stored.StoredMessage):
        if not options:
            raise ConnectorError(stored.gettext("The WSDL defines no %(what)s.", what=what))
        if not wanted:
            return next(iter(options.values()))
        if wanted not in options:
            raise ConnectorError(
                stored.gettext(
                    'The WSDL has no %(what)s "%(name)s"; it offers: %(options)s.',
                    what=what,
                    name=wanted,
                    options=", ".join(options),
                )
            )
        return options[wanted]

    def _binding(self):
        return self._proxy()._binding

    def _operation_names(self) -> list[str]:
        return sorted(self._binding().all())

    def _operation(self, name: str):
        operations = self._binding().all()
        if name not in operations:
            raise ConnectorError(
                stored.gettext(
                    'The SOAP service has no operation "%(name)s"; it offers: %(operations)s.',
                    name=name,
                    operations=", ".join(sorted(operations)),
                )
            )
        return operations[name]

    def _input_elements(self, name: str) -> list[tuple[str, Any]]:
        body = getattr(self._operation(name).input, "body", None)
        return list(getattr(getattr(body, "type", None), "elements", None) or [])

    def _input_names(self, name: str) -> list[str]:
        return [element_name for element_name, _element in self._input_elements(name)]

    # One call ------------------------------------------------------------------------------

    def _call_once(self, operation: str, arguments: dict, attempt: int, *, write: bool = False):
        """Call ``operation`` once and return its answer as plain data; a CallRecord either way."""
        proxy = self._proxy()
        operation_object = self._operation(operation)
        transport = self._client().transport
        transport.begin()
        started = _now()
        error = ""
        try:
            proxy[operation](**self._envelope_arguments(operation, arguments))
            return self._answer(operation_object, transport.current())
        except Exception as exc:
            failure = self._failure(exc, operation, transport.current(), write=write)
            if failure is None:  # a bug, not the service: keep its traceback
                error = type(exc).__name__
                raise
            error = failure.error.message
            raise failure from None
        finally:
            self._log_call(operation, transport.end(), started, attempt, error)

    def _envelope_arguments(self, operation: str, arguments: dict) -> dict:
        """Empty or missing repeated elements are left out (NAV: no ``filter`` reads every record)."""
        arguments = dict(arguments)
        for name, element in self._input_elements(operation):
            if name not in arguments and getattr(element, "accepts_multiple", False):
                arguments[name] = []
        return omit_empty_lists(arguments)

    def _answer(self, operation_object, exchange: Exchange):
        """The answer's wrapper element as plain data (zeep's own return value unwraps unevenly)."""
        output = getattr(operation_object.output, "body", None)
        if not exchange.response_body:
            return None
        document = parse_xml(exchange.response_body, self._client().transport, settings=self._client().client.settings)
        envelope_ns = operation_object.binding.nsmap["soap-env"]
        element = document.find(f"{{{envelope_ns}}}Body/*")
        if output is None or element is None:
            return None
        return plain(serialize_object(output.parse(element, self._client().client.wsdl.types), dict))

    def _with_retries(self, attempt_call):
        attempts = self._attempts()
        for attempt in range(1, attempts + 1):
            try:
                return attempt_call(attempt)
            except Failure as failure:
                if not failure.error.retryable or attempt == attempts:
                    raise failure.error from None
                self._backoff(attempt, failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempts(self) -> int:
        return max(0, int(self.config.max_retries)) + 1

    def _backoff(self, attempt: int, failure: Failure) -> None:
        delay = self.config.backoff_seconds * (2 ** (attempt - 1))
        if failure.retry_after is not None:
            delay = failure.retry_after
        logger.info("Retrying %s in %.2f s: %s", self.config.name, delay, failure.error.message)
        time.sleep(delay)

    # Failures in words -----------------------------------------------------------------------

    def _failure(self, exc: Exception, operation: str, exchange: Exchange | None, *, write: bool) -> Failure | None:
        """The failure of one attempt in words; None for an error that is not the service's."""
        status = exchange.status_code if exchange else None
        words = {"operation": operation, "url": self._safe_address()}
        if isinstance(exc, Failure):
            return exc
        if isinstance(exc, ConnectorError):
            return Failure(exc)
        if isinstance(exc, zeep_errors.Fault):
            if exc.code is None and status is not None and status >= 500:
                return self._http_failure(status, exchange, words)
            return Failure(self._fault_error(exc, words))
        if isinstance(exc, requests.Timeout):
            seconds = _seconds(self.config.timeout_seconds)
            message = stored.gettext(
                "Timed out after %(seconds)s s calling %(operation)s on %(url)s.", seconds=seconds, **words
            )
            return Failure(ConnectorError(message, retryable=True))
        if isinstance(exc, requests.ConnectionError):
            message = stored.gettext(
                "Could not connect to %(url)s calling %(operation)s: %(reason)s.",
                reason=_connection_reason(exc),
                **words,
            )
            return Failure(ConnectorError(message, retryable=True))
        if (
            isinstance(exc, zeep_errors.TransportError)
            and isinstance(exc.__context__, zeep_errors.XMLSyntaxError)
            and (exc.status_code or status or 200) < 400
        ):
            # A successful status with a body that is not XML (cut, too deep, a text node over 10 MB);
            # zeep's own message repeats the whole body.
            return self._unreadable(exc.__context__, words, status)
        if isinstance(exc, zeep_errors.TransportError):
            return self._http_failure(exc.status_code or status, exchange, words)
        if isinstance(exc, WebPageAnswer):
            return self._http_failure(status, exchange, words, page=exc.page)
        if isinstance(exc, zeep_errors.DTDForbidden | zeep_errors.EntitiesForbidden):
            message = stored.gettext(
                "%(url)s answered %(operation)s with a DTD or XML entities, which are refused.", **words
            )
            return Failure(ConnectorError(message, status_code=status))
        # zeep refuses arguments that do not fit (TypeError, ValidationError) before anything is sent.
        if isinstance(exc, zeep_errors.ValidationError | TypeError) and not (exchange and exchange.request_body):
            message = stored.gettext(
                "The values do not fit the %(operation)s operation: %(error)s",
                operation=operation,
                error=self._redact(str(exc).splitlines()[0])[:500],
            )
            return Failure(ConnectorError(message, record_level=write))
        if isinstance(exc, RefusedLocation):
            return Failure(self._refused_error(exc))
        if isinstance(exc, outbound.OutboundError):
            return Failure(ConnectorError(exc.explain(self._shown(exc.url)), status_code=status))
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            message = stored.gettext("%(url)s dropped the connection before answering %(operation)s in full.", **words)
            return Failure(ConnectorError(message, retryable=True))
        if isinstance(exc, requests.RequestException):
            message = stored.gettext(
                "The call to %(operation)s on %(url)s failed: %(error)s.", error=type(exc).__name__, **words
            )
            return Failure(ConnectorError(message, retryable=True))
        if isinstance(exc, zeep_errors.Error | etree.LxmlError):
            return self._unreadable(exc, words, status)
        return None

    def _unreadable(self, exc: Exception, words: dict, status: int | None) -> Failure:
        error = self._redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:500]
        message = stored.gettext(
            "%(url)s answered %(operation)s with something unreadable: %(error)s", error=error, **words
        )
        return Failure(ConnectorError(message, status_code=status))

    def _http_failure(
        self, status: int | None, exchange: Exchange | None, words: dict, page: pages.WebPage | None = None
    ) -> Failure:
        """An answer that is no SOAP envelope, judged by its status (``page``: the web page it was)."""
        said = self._said(exchange.response_body, exchange.reason) if exchange else ""
        if status in (401, 403):
            message = stored.gettext(
                "%(url)s refused the credentials (HTTP %(status)s) calling %(operation)s.", status=status, **words
            )
            return Failure(ConnectorError(message, status_code=status, detail=said))
        if status == 404:
            message = stored.gettext(
                "The SOAP endpoint %(url)s was not found (HTTP 404) calling %(operation)s: check the endpoint URL.",
                **words,
            )
            return Failure(ConnectorError(message, status_code=status, detail=said))
        if page is not None and status is not None and status < 400:
            return Failure(ConnectorError(self._page_instead_of_soap(page, words), status_code=status))
        retryable = status is None or status == 429 or status >= 500
        message = stored.gettext("%(url)s answered HTTP %(status)s calling %(operation)s.", status=status, **words)
        retry_after = self._retry_after(exchange) if retryable else None
        return Failure(ConnectorError(message, retryable=retryable, status_code=status, detail=said), retry_after)

    def _page_instead_of_soap(self, page: pages.WebPage, words: dict) -> stored.StoredMessage:
        if page.login:
            return stored.gettext(
                "%(url)s answered %(operation)s with a login page instead of SOAP: check the endpoint URL "
                "and the credentials.",
                **words,
            )
        if page.title:
            return stored.gettext(
                "%(url)s answered %(operation)s with a web page (“%(title)s”) instead of SOAP: check the endpoint URL.",
                title=page.title,
                **words,
            )
        return stored.gettext(
            "%(url)s answered %(operation)s with a web page instead of SOAP: check the endpoint URL.", **words
        )

    def _said(self, body: bytes, reason: str) -> str:
        """What a server said in an answer that is no SOAP envelope: a page's title, an error's words, or
        the HTTP reason phrase; short and redacted."""
        said = refusals.explain_answer(body or b"")
        text = said.text() if said else (body or b"").decode("utf-8", errors="replace")
        return truncate(self._redact(" ".join(text.split()) or reason), 300)

    def _retry_after(self, exchange: Exchange | None) -> float | None:
        headers = {key.lower(): value for key, value in (exchange.response_headers if exchange else {}).items()}
        try:
            seconds = float(headers.get("retry-after", ""))
        except ValueError:
            return None
        return max(0.0, seconds) if seconds <= self.config.max_retry_after_seconds else None

    def _fault_error(self, exc: zeep_errors.Fault, words: dict) -> SoapFault:
        code = exc.code or ""
        subcodes = [getattr(subcode, "localname", str(subcode)) for subcode in (exc.subcodes or [])]
        name = fault_name(subcodes[-1] if subcodes else code)
        said = {
            "name": self.config.name,
            "operation": words["operation"],
            "code": name or stored.gettext("unknown fault"),
            "message": self._redact(exc.message or "").strip() or stored.gettext("(no message)"),
        }
        # The detail element's words, when they add to the fault string (NAV repeats it there).
        detail = exc.detail if isinstance(exc.detail, etree._Element) else None
        reason = refusals.explain_xml(detail, known=(exc.message, code, *subcodes))
        if reason is None:
            message = stored.gettext(
                "The SOAP service “%(name)s” answered a fault to %(operation)s: %(code)s — %(message)s", **said
            )
        else:
            shown = truncate(self._redact(reason.shown()), 500)
            more = reason.hidden()
            if more:
                shown = stored.join(
                    shown, stored.ngettext("… and %(count)d more", "… and %(count)d more", more, count=more)
                )
            message = stored.gettext(
                "The SOAP service “%(name)s” answered a fault to %(operation)s: %(code)s — %(message)s "
                "(detail: %(detail)s)",
                detail=shown,
                **said,
            )
        return SoapFault(
            message,
            code=code,
            not_found=bool(NOT_FOUND_FAULTS.search(name)),
            record_level=bool(
                RECORD_FAULTS.search(name) or (CLIENT_FAULT.search(code) and not ACCESS_FAULTS.search(name))
            ),
            retryable=bool(RETRYABLE_FAULTS.search(name)),
            status_code=500,
        )

    def _refused_error(self, exc: RefusedLocation) -> ConnectorError:
        return ConnectorError(
            stored.gettext(
                'Refused to load "%(location)s": the WSDL and its imports may only come from http or https '
                "addresses (local files are never read).",
                location=redact_url(exc.location, self.config.secrets()),
            )
        )

    def _wsdl_error(self, exc: Exception) -> ConnectorError:
        words = {
            "url": redact_url(self.config.wsdl_url, self.config.secrets()) or stored.gettext("the uploaded document")
        }
        if isinstance(exc, RefusedLocation):
            return self._refused_error(exc)
        if isinstance(exc, WebPageAnswer):
            return ConnectorError(self._page_instead_of_wsdl(exc, words))
        if isinstance(exc, outbound.OutboundError):
            return ConnectorError(exc.explain(self._shown(exc.url)))
        if isinstance(exc, requests.exceptions.InvalidSchema):
            return ConnectorError(stored.gettext("The WSDL at %(url)s redirects outside http(s); refused.", **words))
        if isinstance(exc, zeep_errors.DTDForbidden | zeep_errors.EntitiesForbidden):
            return ConnectorError(
                stored.gettext(
                    "The WSDL (%(url)s) declares a DTD or XML entities (<!DOCTYPE>/<!ENTITY>), which are refused.",
                    **words,
                )
            )
        if isinstance(exc, requests.Timeout):
            seconds = _seconds(self.config.timeout_seconds)
            return ConnectorError(
                stored.gettext(
                    "Timed out after %(seconds)s s loading the WSDL from %(url)s.", seconds=seconds, **words
                ),
                retryable=True,
            )
        if isinstance(exc, requests.HTTPError):
            response = exc.response
            status = response.status_code if response is not None else None
            said = self._said(response.content, response.reason or "") if response is not None else ""
            if status in (401, 403):
                return ConnectorError(
                    stored.gettext(
                        "%(url)s refused the credentials (HTTP %(status)s) when loading the WSDL.",
                        status=status,
                        **words,
                    ),
                    status_code=status,
                    detail=said,
                )
            if status in (404, 410):
                return ConnectorError(self._document_not_found(response, status, words), status_code=status)
            return ConnectorError(
                stored.gettext("Could not load the WSDL from %(url)s: HTTP %(status)s.", status=status, **words),
                retryable=status is not None and (status == 429 or status >= 500),
                status_code=status,
            )
        if isinstance(exc, requests.ConnectionError):
            return ConnectorError(
                stored.gettext(
                    "Could not connect to %(url)s to load the WSDL: %(reason)s.",
                    reason=_connection_reason(exc),
                    **words,
                ),
                retryable=True,
            )
        error = self._redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:500]
        return ConnectorError(stored.gettext("The WSDL (%(url)s) could not be read: %(error)s", error=error, **words))

    def _page_instead_of_wsdl(self, exc: WebPageAnswer, words: dict) -> stored.StoredMessage:
        shown = self._shown(exc.url) if exc.url else words["url"]
        if exc.page.login:
            return stored.gettext(
                "%(url)s answered a login page, not a WSDL: check the WSDL URL and the credentials.", url=shown
            )
        if exc.page.title:
            return stored.gettext(
                "%(url)s answered a web page (“%(title)s”), not a WSDL: check the WSDL URL.",
                url=shown,
                title=exc.page.title,
            )
        return stored.gettext("%(url)s answered a web page, not a WSDL: check the WSDL URL.", url=shown)

    def _document_not_found(self, response, status: int, words: dict) -> stored.StoredMessage:
        """The WSDL itself, or a document it imports, is not where it was looked for."""
        requested = (response.history[0] if response.history else response).url
        wsdl_url = requests.Request("GET", self.config.wsdl_url).prepare().url if self.config.wsdl_url else ""
        if requested == wsdl_url and not self.config.wsdl_document.strip():
            return stored.gettext(
                "WSDL not found at %(url)s (HTTP %(status)s): check the WSDL URL.", status=status, **words
            )
        return stored.gettext(
            "The WSDL (%(url)s) imports %(document)s, which was not found (HTTP %(status)s).",
            document=self._shown(requested),
            status=status,
            **words,
        )

    # Call records --------------------------------------------------------------------------

    def _log_call(self, operation: str, exchange: Exchange, started: datetime, attempt: int, error: str):
        self.call_log(
            CallRecord(
                method=SOAP_METHOD,
                url=self._safe_address(),
                operation=operation,
                started_at=started,
                finished_at=_now(),
                attempt=attempt,
                status_code=exchange.status_code,
                request_headers=redact_headers(exchange.request_headers),
                request_body=self._body_text(exchange.request_body),
                response_body=self._body_text(exchange.response_body),
                error=error,
            )
        )

    def _log_loads(self, loads: list[DocumentLoad]) -> None:
        for load in loads:
            self.call_log(
                CallRecord(
                    method="GET",
                    url=redact_url(load.url, self.config.secrets()),
                    operation=WSDL_OPERATION,
                    started_at=load.started_at,
                    finished_at=load.finished_at,
                    status_code=load.status_code,
                )
            )

    def _body_text(self, body: bytes) -> str:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body or "")
        return truncate(redact_text(text, self.config.secrets()), self.config.body_limit)

    def _redact(self, text: str) -> str:
        return redact_text(text, self.config.secrets()) if text else ""

    def _shown(self, url: str) -> str:
        """A URL for a message: redacted, without its query string."""
        return redact_url(str(url or "").split("?", 1)[0], self.config.secrets())

    def _safe_address(self) -> str:
        return redact_url(self._address or self.config.endpoint_url, self.config.secrets())

    # Reading -------------------------------------------------------------------------------

    def _first_token(self, pagination: str, token: str | None):
        if pagination == Pagination.PAGE:
            return int(token) if token else 1
        if pagination == Pagination.OFFSET:
            return int(token) if token else 0
        if pagination in (Pagination.BOOKMARK, Pagination.NONE):
            return token or None
        raise ConnectorError(
            stored.gettext(
                'Pagination "%(pagination)s" does not apply to SOAP: use bookmark, page, offset or none.',
                pagination=pagination,
            )
        )

    def _read_arguments(self, request: ReadRequest, pagination: str, token, page_size: int | None = None) -> dict:
        """The operation's arguments for one page; ``page_size`` records instead of the connection's when given."""
        template = dict(request.arguments or {})
        if request.cursor is not None and request.incremental_filter:
            template = merge_arguments(template, incremental_arguments(request.incremental_filter))
        if self.config.page_size <= 0 and pagination != Pagination.NONE:
            raise ConnectorError(stored.gettext("The page size must be a positive number."))
        if pagination in (Pagination.PAGE, Pagination.OFFSET) and not _mentions(template, {"page_token"}):
            raise ConnectorError(
                stored.gettext("With page or offset pagination the SOAP arguments must place {page_token}.")
            )
        if pagination == Pagination.BOOKMARK:
            template = self._bookmark_arguments(request.source_object, template)
        values = {"cursor": request.cursor, "page_token": token, "page_size": page_size or self.config.page_size}
        return render_template(template, values)

    def _bookmark_arguments(self, operation: str, template: dict) -> dict:
        names = self._input_names(operation)
        template = dict(template)
        if not _mentions(template, {"page_token"}):
            if "bookmarkKey" not in names:
                raise ConnectorError(
                    stored.gettext(
                        "Bookmark pagination: %(operation)s takes no bookmarkKey; place {page_token} in the arguments.",
                        operation=operation,
                    )
                )
            template["bookmarkKey"] = "{page_token}"
        if not _mentions(template, {"page_size"}) and "setSize" in names:
            template["setSize"] = "{page_size}"
        return template

    def _records(self, operation: str, body) -> list[dict]:
        if not self.config.records_path:
            return records_from(descend(body))
        output = getattr(self._operation(operation).output, "body", None)
        wrapper = etree.QName(output.qname).localname if getattr(output, "qname", None) is not None else ""
        return records_from(resolve_path(body, self.config.records_path, wrapper))

    def _next_token(self, pagination: str, token, records: list[dict]) -> str | None:
        # Until an empty page: a service that caps its pages answers "short" pages that are not the last.
        if pagination == Pagination.NONE or not records:
            return None
        if pagination == Pagination.PAGE:
            return str(token + 1)
        if pagination == Pagination.OFFSET:
            return str(token + len(records))
        bookmark = records[-1].get("Key")
        if not bookmark:
            raise ConnectorError(stored.gettext("Bookmark pagination: the records carry no Key to continue from."))
        if bookmark == token:
            raise ConnectorError(stored.gettext("Bookmark pagination: the service answered the same page again."))
        return str(bookmark)

    # Writing -------------------------------------------------------------------------------

    def _record_element(self, operation: str):
        """(name, element) of the single complex element a write operation takes, e.g. Customer."""
        elements = self._input_elements(operation)
        if len(elements) == 1 and isinstance(elements[0][1].type, xsd.ComplexType):
            return elements[0]
        return None

    def _wrap_record(self, operation: str, values: dict) -> dict:
        record = self._record_element(operation)
        if record is None or record[0] in values:
            return dict(values)
        return {record[0]: dict(values)}

    def _record_takes_key(self, operation: str) -> bool:
        record = self._record_element(operation)
        names = [name for name, _element in getattr(record[1].type, "elements", [])] if record else []
        return "Key" in names

    def _single_record(self, body) -> dict:
        records = records_from(descend(body))
        return records[0] if records else {}

    def _update_once(self, operation: str, key: str, values: dict, attempt: int) -> dict:
        values = dict(values)
        if self._record_takes_key(operation) and not values.get("Key"):
            values["Key"] = self._current_key(key, attempt, operation)
        return self._single_record(
            self._call_once(operation, self._wrap_record(operation, values), attempt, write=True)
        )

    def _delete_once(self, operation: str, key: str, attempt: int) -> None:
        names = self._input_names(operation)
        if names == ["Key"] and "Read" in self._operation_names():
            current = self._read_by_primary_key(key, attempt)
            if current is None:
                return  # already gone
            key = current.get("Key") or key
        if len(names) != 1:
            raise ConnectorError(
                stored.gettext(
                    "%(operation)s takes %(count)s arguments; the connector can only pass the record key.",
                    operation=operation,
                    count=len(names),
                )
            )
        body = self._call_once(operation, {names[0]: key}, attempt, write=True)
        if isinstance(body, dict) and list(body.values()) == [False]:
            raise ConnectorError(
                stored.gettext("The SOAP service refused to delete the record %(key)s.", key=str(key)),
                record_level=True,
            )

    def _current_key(self, key: str, attempt: int, operation: str) -> str:
        if "Read" not in self._operation_names():
            raise ConnectorError(
                stored.gettext(
                    "%(operation)s needs the record's current Key and the service has no Read operation to find it.",
                    operation=operation,
                )
            )
        current = self._read_by_primary_key(key, attempt)
        if current is None or not current.get("Key"):
            raise ConnectorError(
                stored.gettext(
                    "The record %(key)s to update does not exist in %(name)s.", key=str(key), name=self.config.name
                ),
                record_level=True,
            )
        return current["Key"]

    def _read_by_primary_key(self, key: str, attempt: int) -> dict | None:
        names = self._input_names("Read")
        if len(names) != 1:  # e.g. a journal line, keyed by template, batch and line number
            raise ConnectorError(
                stored.gettext(
                    "Read takes a composite key (%(names)s): pass the record's current Key in the values.",
                    names=", ".join(names),
                )
            )
        try:
            body = self._call_once("Read", {names[0]: key}, attempt)
        except Failure as failure:
            if isinstance(failure.error, SoapFault) and failure.error.not_found:
                return None
            raise
        records = records_from(descend(body))
        return records[0] if records else None

    def _lookup(self, operation: str, arguments: dict) -> dict | None:
        """The first record ``operation`` answers, None for none or a "not found" fault."""
        try:
            body = self._with_retries(lambda attempt: self._call_once(operation, arguments, attempt))
        except SoapFault as fault:
            if fault.not_found:
                return None
            raise
        records = records_from(descend(body))
        return records[0] if records else None

    def _create_lookup(self, key_field: str, key_value) -> tuple[str, dict] | None:
        """How to find a record a failed create may have made: ReadMultiple, else Read; None: no way."""
        if not key_field or key_value in (None, ""):
            return None
        operations = self._operation_names()
        for operation in ("ReadMultiple", "Read"):
            arguments = self._find_arguments(operation, key_field, str(key_value)) if operation in operations else None
            if arguments is not None:
                return operation, arguments
        return None

    def _find_arguments(self, operation: str, key_field: str, value: str) -> dict | None:
        """``Read(No=value)`` when the operation takes the key field, else a NAV filter; None: neither."""
        names = self._input_names(operation)
        if key_field in names:
            return {key_field: value}
        if "filter" in names:
            arguments = {"filter": [{"Field": key_field, "Criteria": nav_literal(value)}]}
            if "setSize" in names:
                arguments["setSize"] = 1
            return arguments
        return None


def _now() -> datetime:
    return datetime.now(UTC)
