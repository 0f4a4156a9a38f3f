"""Where the portal may send a request, and how much of an answer it reads.

Every call the portal makes (REST calls and OAuth2 tokens, SOAP WSDL/XSD downloads and
service calls, alert webhooks) goes through a ``requests`` session made by
:func:`guard`, which enforces:

* **http and https only** (no other scheme has an adapter: ``file://`` and ``ftp://``
  fail before anything is read);
* **never the cloud metadata service**: 169.254.169.254, fd00:ec2::254 (AWS), 100.100.100.200
  (Alibaba), 192.0.0.192 (Oracle), and the whole link-local ranges 169.254.0.0/16 and
  fe80::/10;
* **loopback** (127.0.0.0/8, ::1, 0.0.0.0, ``localhost``) only when
  ``settings.OUTBOUND_ALLOW_LOOPBACK`` is on (the demo ERP and CRM live there). Private
  networks (10/8, 172.16/12, 192.168/16) stay allowed: ERPs live there.

The address is judged **after name resolution, on the address actually connected to**: a
name that resolves to a refused address (or a redirect to one) is refused before the
socket connects, and the connection goes to the very address that was checked. When an
environment proxy carries the request, the target's name is resolved and checked here
before it is handed to the proxy.

Every answer is read as a stream and dropped once it passes
``settings.OUTBOUND_MAX_RESPONSE_BYTES`` (decompressed), whatever its Content-Length says:
the caller gets :class:`AnswerTooLarge` and the connection is closed.

:func:`url_refusal` judges a URL from its text alone (no DNS), for validating configuration;
:func:`names_a_server` tells a path meant for a connection's base URL from an address of its own.

Hand-written on purpose: the SSRF libraries for ``requests`` refuse every private network, and the
ERPs our users connect live on exactly those (10/8, 192.168/16), behind the company's VPN.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from . import stored_messages as stored

ALLOWED_SCHEMES = ("http", "https")
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
LINK_LOCAL_NETWORKS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
# "This machine": loopback, and the unspecified addresses (connecting to 0.0.0.0 reaches it too).
LOOPBACK_NETWORKS = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("::/128"),
)
CHUNK_BYTES = 64 * 1024
MEGABYTE = 1024 * 1024

METADATA, LINK_LOCAL, LOOPBACK = "metadata", "link-local", "loopback"

# The resolver, a seam for tests (a name that resolves to a refused address).
getaddrinfo = socket.getaddrinfo


# ---------------------------------------------------------------- the two failures


class OutboundError(Exception):
    """A call the portal did not make or whose answer it did not read; ``explain`` says why.

    Its words are stored messages: a run's error or a notification's failure keeps them
    untranslated, shown in the reader's language.
    """

    def explain(self, shown_url: str) -> stored.StoredMessage:
        raise NotImplementedError


class OutboundRefused(OutboundError):
    """The policy refuses the address: nothing was sent there."""

    def __init__(self, url: str, reason: stored.StoredMessage):
        super().__init__(reason)
        self.url = url
        self.reason = reason

    def __str__(self):
        return self.reason  # never the URL: it may hold a credential

    def explain(self, shown_url: str) -> stored.StoredMessage:
        return stored.gettext("The call to %(url)s was refused: %(reason)s.", url=shown_url, reason=self.reason)


class AnswerTooLarge(OutboundError):
    """The answer passed the size limit; the rest was not read."""

    def __init__(self, url: str, limit: int):
        super().__init__(url)
        self.url = url
        self.limit = limit

    def __str__(self):
        return stored.gettext("the answer is larger than %(size)s", size=format_size(self.limit))

    def explain(self, shown_url: str) -> stored.StoredMessage:
        return stored.gettext(
            "%(url)s: the answer is larger than %(size)s, the most the portal reads (OUTBOUND_MAX_RESPONSE_MB).",
            url=shown_url,
            size=format_size(self.limit),
        )


def format_size(size: int) -> str:
    if size % MEGABYTE == 0:
        return f"{size // MEGABYTE} MB"
    if size % 1024 == 0:
        return f"{size // 1024} KB"
    return stored.gettext("%(count)d bytes", count=size)


# ---------------------------------------------------------------- the policy


def allow_loopback() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_LOOPBACK", False))


def max_response_bytes() -> int:
    return int(getattr(settings, "OUTBOUND_MAX_RESPONSE_BYTES", 20 * MEGABYTE))


def address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address, loopback_allowed: bool) -> str | None:
    """Which refused kind ``address`` is (METADATA, LINK_LOCAL, LOOPBACK), or None when it may be called."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        address = address.ipv4_mapped or address
    if address in METADATA_ADDRESSES:
        return METADATA
    if any(address in network for network in LINK_LOCAL_NETWORKS if network.version == address.version):
        return LINK_LOCAL
    if not loopback_allowed and any(
        address in network for network in LOOPBACK_NETWORKS if network.version == address.version
    ):
        return LOOPBACK
    return None


def _what(kind: str) -> stored.StoredMessage:
    if kind == METADATA:
        return stored.gettext("the cloud metadata address")
    if kind == LINK_LOCAL:
        return stored.gettext("a link-local address (169.254.0.0/16, fe80::/10), where cloud metadata services answer")
    return stored.gettext("this machine (loopback), which the portal calls only when OUTBOUND_ALLOW_LOOPBACK is on")


def _reason(host: str, address: str, kind: str) -> stored.StoredMessage:
    if host == address:
        return stored.gettext("%(address)s is %(what)s", address=address, what=_what(kind))
    return stored.gettext("%(host)s resolves to %(address)s, %(what)s", host=host, address=address, what=_what(kind))


def _literal_address(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def scheme_refusal(url: str) -> stored.StoredMessage | None:
    scheme = urlsplit(str(url)).scheme.lower()
    if scheme in ALLOWED_SCHEMES:
        return None
    return stored.gettext("only http and https addresses can be called")


def names_a_server(text: str) -> bool:
    """Whether ``text`` is an address of its own (``https://host/…``, ``//host/…``), not a path under a base URL."""
    try:
        parts = urlsplit(str(text).strip())
    except ValueError:
        return False
    return bool(parts.netloc) or parts.scheme.lower() in ALLOWED_SCHEMES


def url_refusal(url: str, *, loopback_allowed: bool | None = None) -> stored.StoredMessage | None:
    """Why ``url`` may not be called, judged from its text alone (no DNS); None when it may."""
    refusal = scheme_refusal(url)
    if refusal:
        return refusal
    loopback_allowed = allow_loopback() if loopback_allowed is None else loopback_allowed
    try:
        host = (urlsplit(str(url)).hostname or "").rstrip(".")
    except ValueError:
        return None  # not a URL: the URL syntax check says so
    address = _literal_address(host)
    if address is not None:
        kind = address_kind(address, loopback_allowed)
        return _reason(host, host, kind) if kind else None
    if _is_loopback_name(host) and not loopback_allowed:
        return _reason(host, host, LOOPBACK)
    return None


def checked_addresses(host: str, port: int, url: str = "") -> list[str]:
    """The addresses ``host`` resolves to, when every one may be called; else ``OutboundRefused``.

    Raises ``socket.gaierror`` when the name does not resolve.
    """
    host = host.strip("[]")
    loopback_allowed = allow_loopback()
    addresses = []
    for _family, _type, _proto, _name, sockaddr in getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM):
        text = str(sockaddr[0])
        kind = address_kind(ipaddress.ip_address(text), loopback_allowed)
        if kind:
            shown_host = host.rstrip(".")
            raise OutboundRefused(url or host, _reason(shown_host, text.split("%", 1)[0], kind))
        if text not in addresses:
            addresses.append(text)
    return addresses


# ---------------------------------------------------------------- connections that check where they go


class _CheckedConnectionMixin:
    """Resolve the host, check every address, then connect to a checked address (no second lookup)."""

    def _new_conn(self):
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        original, failure = self._dns_host, None
        try:
            for address in addresses:
                self._dns_host = address
                try:
                    return super()._new_conn()
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    failure = exc
        finally:
            self._dns_host = original
        raise failure


class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class OutboundAdapter(HTTPAdapter):
    """An HTTP adapter that connects only where the policy allows and reads answers up to the limit."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if select_proxy(request.url, proxies):
            # The proxy resolves the name: check what it resolves to here, before handing it over.
            parts = urlsplit(request.url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            with contextlib.suppress(socket.gaierror):  # unknown here: the proxy may know it (and answers for it)
                checked_addresses(parts.hostname or "", port, request.url)
        try:
            response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        except OutboundRefused as refused:
            refused.url = request.url  # the connection knows only the host; this is the URL (or redirect) refused
            raise
        read_limited(response)
        return response


def read_limited(response: requests.Response, limit: int | None = None) -> bytes:
    """Read the whole answer as a stream, refusing it (``AnswerTooLarge``) past ``limit`` bytes."""
    limit = max_response_bytes() if limit is None else limit
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        response.close()
        raise AnswerTooLarge(response.url, limit)
    body = bytearray()
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                raise AnswerTooLarge(response.url, limit)
    except BaseException:
        response.close()
        raise
    response._content = bytes(body)
    return response._content


def guard(session: requests.Session, *, pool_size: int = 1) -> requests.Session:
    """Make ``session`` follow the outbound policy: only the checking adapter, for http and https.

    The adapter keeps up to ``pool_size`` connections per host (never fewer than requests' default),
    so that as many threads sharing the session never find its pool full.
    """
    session.adapters.clear()
    adapter = OutboundAdapter(pool_maxsize=max(pool_size, DEFAULT_POOLSIZE))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def session() -> requests.Session:
    """A new session that follows the outbound policy."""
    return guard(requests.Session())
