"""zeep clients, one per process and configuration, and the zeep transport they talk through.

* One client per configuration (WSDL identity: the URL, or a hash of the uploaded document; auth;
  timeout; TLS), kept for an hour; WSDL and XSD documents are cached in memory by URL, so a new
  client does not download them again.
* The transport reads http(s) only: ``file://`` or a bare path, in the WSDL or in any import, is
  refused before anything is read. Its session follows the outbound policy
  (:class:`~sync.connectors.transport.GuardedSession`) and reads every answer, WSDL and XSD
  documents included, up to ``OUTBOUND_MAX_RESPONSE_BYTES``. DTDs and entities are refused
  (``forbid_dtd``, ``forbid_entities``: billion laughs, XXE, external DTDs), ``xml_huge_tree``
  stays off (a text node over 10 MB is unreadable), ``operation_timeout`` is always
  ``config.timeout_seconds``.
* The transport captures each call's raw exchange (per thread) and never logs envelopes (zeep's own
  transport logs them at DEBUG, passwords included). Each WSDL or XSD download is noted as a
  :class:`DocumentLoad`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime

from zeep import Client, Settings, Transport
from zeep import exceptions as zeep_errors
from zeep.cache import InMemoryCache
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from core import stored_messages as stored
from sync.choices import AuthKind

from .. import pages
from ..base import ConnectionConfig, ConnectorError
from ..failures import require_http
from ..transport import GuardedSession

logger = logging.getLogger(__name__)

CLIENT_TTL_SECONDS = 3600
PROLOG_BYTES = 64 * 1024
_XML_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding=)(["'])[\w.-]+\2""")
# A document type declaration after the XML declaration, comments and processing instructions.
_DOCTYPE_IN_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.DOTALL | re.IGNORECASE)


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
        # Checked addresses, answers read up to the size limit, a connection for each call in flight.
        session = GuardedSession(pool_size=config.max_in_flight)
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
        require_http(url)
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
        require_http(address)
        exchange = self.begin() if self.current() is None else self.current()
        exchange.request_body = message if isinstance(message, bytes) else str(message).encode("utf-8")
        exchange.request_headers = {**self.session.headers, **headers}
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        exchange.status_code = response.status_code
        exchange.reason = response.reason or ""
        exchange.request_headers = dict(response.request.headers)
        exchange.response_headers = dict(response.headers)
        exchange.response_body = response.content
        refuse_dtd(response.content)  # a web page is judged by its status (see .faults)
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


def _now() -> datetime:
    return datetime.now(UTC)
