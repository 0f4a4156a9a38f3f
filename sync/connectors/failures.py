"""What went wrong on the wire, in words: the one table from an exception to a :class:`ConnectorError`.

Every connector hands the exceptions of its exchanges here: an address refused by the outbound
policy or outside http(s), a redirect to another scheme, a timeout, a certificate that does not
verify, a connection refused or dropped, a name that does not resolve. The words depend on what
was being done (:class:`Place`): a REST request, a SOAP operation, or loading a WSDL. What is not
a transport failure (an HTTP status, a SOAP fault, an unreadable answer) is left to the connector.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

from core import outbound
from core import stored_messages as stored

from .base import ConnectorError

_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


class RefusedLocation(Exception):
    """A document or endpoint outside http(s), refused before anything is read."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def require_http(location: str) -> None:
    if urlparse(str(location)).scheme.lower() not in outbound.ALLOWED_SCHEMES:
        raise RefusedLocation(str(location))


@dataclass(frozen=True)
class Place:
    """Where a failure happened: the URL as shown (redacted), and what was being done there."""

    url: str
    operation: str = ""  # a SOAP operation being called at ``url``
    wsdl: bool = False  # the WSDL (or a document it imports) being loaded


def describe(
    failure: Exception, place: Place, *, timeout_seconds: float, shown: Callable[[str], str]
) -> ConnectorError | None:
    """``failure`` in words, or None when it is no transport failure.

    ``shown`` redacts another URL named by the failure (a refused address, a redirect's target).
    """
    if isinstance(failure, RefusedLocation):
        return ConnectorError(
            stored.gettext(
                'Refused to load "%(location)s": the WSDL and its imports may only come from http or https '
                "addresses (local files are never read).",
                location=shown(failure.location),
            )
        )
    if isinstance(failure, outbound.OutboundError):
        return ConnectorError(failure.explain(shown(str(failure.url).split("?", 1)[0])))
    if not isinstance(failure, requests.RequestException):
        return None
    words = {"url": place.url, "operation": place.operation} if place.operation else {"url": place.url}
    if isinstance(failure, requests.exceptions.InvalidSchema):
        return ConnectorError(_other_scheme(place))
    if is_timeout(failure):
        return ConnectorError(_timed_out(place, words, f"{timeout_seconds:g}"), retryable=True)
    if isinstance(failure, requests.exceptions.SSLError):
        return ConnectorError(
            stored.gettext(
                "The TLS certificate of %(url)s could not be verified: check the certificate or the address.",
                url=place.url,
            )
        )
    if isinstance(failure, requests.exceptions.ChunkedEncodingError) or "aborted" in str(failure):
        return ConnectorError(_dropped(place, words), retryable=True)
    if isinstance(failure, requests.ConnectionError):
        return ConnectorError(_not_connected(place, words, connection_reason(failure)), retryable=True)
    if place.wsdl:
        return None  # an HTTP status or else: the SOAP connector says what the WSDL answered
    if place.operation:
        return ConnectorError(
            stored.gettext(
                "The call to %(operation)s on %(url)s failed: %(error)s.", error=type(failure).__name__, **words
            )
        )
    return ConnectorError(
        stored.gettext("The request to %(url)s could not be sent: %(reason)s", reason=str(failure), **words)
    )


def is_timeout(failure: Exception) -> bool:
    if isinstance(failure, requests.Timeout):
        return True
    # A read timeout while the body streams in surfaces as a ConnectionError.
    return any(type(arg).__name__ == "ReadTimeoutError" for arg in failure.args)


def connection_reason(failure: Exception) -> str:
    """The system's reason a connection failed (``Connection refused``, ``Name or service not known``)."""
    match = _ERRNO_REASON.search(str(failure))
    return match.group(1).strip() if match else type(failure).__name__


def _other_scheme(place: Place) -> stored.StoredMessage:
    if place.wsdl:
        return stored.gettext("The WSDL at %(url)s redirects outside http(s); refused.", url=place.url)
    return stored.gettext(
        "%(url)s redirected to an address that is not http or https; refused (local files are never read).",
        url=place.url,
    )


def _timed_out(place: Place, words: dict, seconds: str) -> stored.StoredMessage:
    if place.wsdl:
        return stored.gettext("Timed out after %(seconds)s s loading the WSDL from %(url)s.", seconds=seconds, **words)
    if place.operation:
        return stored.gettext(
            "Timed out after %(seconds)s s calling %(operation)s on %(url)s.", seconds=seconds, **words
        )
    return stored.gettext("Timed out after %(seconds)s s reaching %(url)s.", seconds=seconds, **words)


def _dropped(place: Place, words: dict) -> stored.StoredMessage:
    if place.operation:
        return stored.gettext("%(url)s dropped the connection before answering %(operation)s in full.", **words)
    return stored.gettext("%(url)s dropped the connection before answering in full.", url=place.url)


def _not_connected(place: Place, words: dict, reason: str) -> stored.StoredMessage:
    if place.wsdl:
        return stored.gettext("Could not connect to %(url)s to load the WSDL: %(reason)s.", reason=reason, **words)
    if place.operation:
        return stored.gettext("Could not connect to %(url)s calling %(operation)s: %(reason)s.", reason=reason, **words)
    return stored.gettext("Could not connect to %(url)s: check the address and that the server is up.", **words)
