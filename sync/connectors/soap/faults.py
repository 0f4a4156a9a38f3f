"""A SOAP call or a WSDL load that went wrong, in words.

Transport failures (timeouts, refused addresses, dropped connections…) are worded by the one table
of :mod:`sync.connectors.failures`; what is SOAP's own is worded here: faults, answers that are no
SOAP envelope (judged by their HTTP status), web pages, DTDs, values that do not fit an operation.

SOAP faults are matched on the last segment of their code (``soap11env:Client.UnknownCustomer``
→ ``UnknownCustomer``; ``a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideRecordNotFoundException``
→ ``NavCSideRecordNotFoundException``): see ``RECORD_FAULTS`` and ``RETRYABLE_FAULTS``; any other
fault is a run error.
"""

from __future__ import annotations

import re

import requests
from lxml import etree
from zeep import exceptions as zeep_errors

from core import stored_messages as stored
from core.redaction import truncate

from .. import pages, refusals
from ..base import ConnectorError
from ..failures import Place
from ..retries import AttemptFailed, retry_after_seconds, retryable_status
from ..transport import Transport
from .clients import Exchange, WebPageAnswer

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


def fault_name(code: str | None) -> str:
    """``soap11env:Client.UnknownCustomer`` → ``UnknownCustomer``."""
    return (code or "").rsplit(":", 1)[-1].rsplit(".", 1)[-1].strip()


class SoapFault(ConnectorError):
    """A SOAP fault, with its code as received and whether it means "no such record"."""

    def __init__(self, message: str, *, code: str, not_found: bool, **kwargs):
        super().__init__(message, **kwargs)
        self.code = code
        self.not_found = not_found


def call_failure(
    transport: Transport, exc: Exception, place: Place, exchange: Exchange | None, *, write: bool
) -> AttemptFailed | None:
    """The failure of one call in words; None for an error that is not the service's (a bug)."""
    status = exchange.status_code if exchange else None
    if isinstance(exc, AttemptFailed):
        return exc
    if isinstance(exc, ConnectorError):
        return AttemptFailed(exc)
    if isinstance(exc, zeep_errors.Fault):
        if exc.code is None and status is not None and status >= 500:
            return _http_failure(transport, status, exchange, place)
        return AttemptFailed(_fault_error(transport, exc, place))
    on_the_wire = transport.describe(exc, place, status)
    if on_the_wire is not None:
        return AttemptFailed(on_the_wire)
    words = {"url": place.url, "operation": place.operation}
    if (
        isinstance(exc, zeep_errors.TransportError)
        and isinstance(exc.__context__, zeep_errors.XMLSyntaxError)
        and (exc.status_code or status or 200) < 400
    ):
        # A successful status with a body that is not XML (cut, too deep, a text node over 10 MB);
        # zeep's own message repeats the whole body.
        return _unreadable(transport, exc.__context__, words, status)
    if isinstance(exc, zeep_errors.TransportError):
        return _http_failure(transport, exc.status_code or status, exchange, place)
    if isinstance(exc, WebPageAnswer):
        return _http_failure(transport, status, exchange, place, page=exc.page)
    if isinstance(exc, zeep_errors.DTDForbidden | zeep_errors.EntitiesForbidden):
        message = stored.gettext(
            "%(url)s answered %(operation)s with a DTD or XML entities, which are refused.", **words
        )
        return AttemptFailed(transport.error(message, status_code=status))
    # zeep refuses arguments that do not fit (TypeError, ValidationError) before anything is sent.
    if isinstance(exc, zeep_errors.ValidationError | TypeError) and not (exchange and exchange.request_body):
        message = stored.gettext(
            "The values do not fit the %(operation)s operation: %(error)s",
            operation=place.operation,
            error=transport.redact(str(exc).splitlines()[0])[:500],
        )
        return AttemptFailed(transport.error(message, record_level=write))
    if isinstance(exc, zeep_errors.Error | etree.LxmlError):
        return _unreadable(transport, exc, words, status)
    return None


def _unreadable(transport: Transport, exc: Exception, words: dict, status: int | None) -> AttemptFailed:
    error = transport.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:500]
    message = stored.gettext(
        "%(url)s answered %(operation)s with something unreadable: %(error)s", error=error, **words
    )
    return AttemptFailed(transport.error(message, status_code=status))


def _http_failure(
    transport: Transport,
    status: int | None,
    exchange: Exchange | None,
    place: Place,
    page: pages.WebPage | None = None,
) -> AttemptFailed:
    """An answer that is no SOAP envelope, judged by its status (``page``: the web page it was)."""
    words = {"url": place.url, "operation": place.operation}
    said = _said(transport, exchange.response_body, exchange.reason) if exchange else ""
    if status in (401, 403):
        message = stored.gettext(
            "%(url)s refused the credentials (HTTP %(status)s) calling %(operation)s.", status=status, **words
        )
        return AttemptFailed(transport.error(message, status_code=status, detail=said))
    if status == 404:
        message = stored.gettext(
            "The SOAP endpoint %(url)s was not found (HTTP 404) calling %(operation)s: check the endpoint URL.",
            **words,
        )
        return AttemptFailed(transport.error(message, status_code=status, detail=said))
    if page is not None and status is not None and status < 400:
        return AttemptFailed(transport.error(_page_instead_of_soap(page, words), status_code=status))
    retryable = status is None or retryable_status(status)
    message = stored.gettext("%(url)s answered HTTP %(status)s calling %(operation)s.", status=status, **words)
    retry_after = None
    if retryable and exchange is not None:
        headers = {key.lower(): value for key, value in exchange.response_headers.items()}
        retry_after = retry_after_seconds(headers.get("retry-after"))
    error = transport.error(message, retryable=retryable, status_code=status, detail=said)
    return AttemptFailed(error, retry_after)


def _page_instead_of_soap(page: pages.WebPage, words: dict) -> stored.StoredMessage:
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


def _said(transport: Transport, body: bytes, reason: str) -> str:
    """What a server said in an answer that is no SOAP envelope: a page's title, an error's words, or
    the HTTP reason phrase; short and redacted."""
    said = refusals.explain_answer(body or b"")
    text = said.text() if said else (body or b"").decode("utf-8", errors="replace")
    return truncate(transport.redact(" ".join(text.split()) or reason), 300)


def _fault_error(transport: Transport, exc: zeep_errors.Fault, place: Place) -> SoapFault:
    code = exc.code or ""
    subcodes = [getattr(subcode, "localname", str(subcode)) for subcode in (exc.subcodes or [])]
    name = fault_name(subcodes[-1] if subcodes else code)
    said = {
        "name": transport.config.name,
        "operation": place.operation,
        "code": name or stored.gettext("unknown fault"),
        "message": transport.redact(exc.message or "").strip() or stored.gettext("(no message)"),
    }
    # The detail element's words, when they add to the fault string (NAV repeats it there).
    detail = exc.detail if isinstance(exc.detail, etree._Element) else None
    reason = refusals.explain_xml(detail, known=(exc.message, code, *subcodes))
    if reason is None:
        message = stored.gettext(
            "The SOAP service “%(name)s” answered a fault to %(operation)s: %(code)s — %(message)s", **said
        )
    else:
        shown = truncate(transport.redact(reason.shown()), 500)
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
        transport.scrub(message),
        code=code,
        not_found=bool(NOT_FOUND_FAULTS.search(name)),
        record_level=bool(RECORD_FAULTS.search(name) or (CLIENT_FAULT.search(code) and not ACCESS_FAULTS.search(name))),
        retryable=bool(RETRYABLE_FAULTS.search(name)),
        status_code=500,
    )


def wsdl_error(transport: Transport, exc: Exception) -> ConnectorError:
    """Why the WSDL (or a document it imports) could not be loaded."""
    config = transport.config
    words = {"url": transport.redact_url(config.wsdl_url) or stored.gettext("the uploaded document")}
    on_the_wire = transport.describe(exc, Place(words["url"], wsdl=True))
    if on_the_wire is not None:
        return on_the_wire
    if isinstance(exc, WebPageAnswer):
        return transport.error(_page_instead_of_wsdl(transport, exc, words))
    if isinstance(exc, zeep_errors.DTDForbidden | zeep_errors.EntitiesForbidden):
        return transport.error(
            stored.gettext(
                "The WSDL (%(url)s) declares a DTD or XML entities (<!DOCTYPE>/<!ENTITY>), which are refused.",
                **words,
            )
        )
    if isinstance(exc, requests.HTTPError):
        return _wsdl_status_error(transport, exc.response, words)
    error = transport.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:500]
    return transport.error(stored.gettext("The WSDL (%(url)s) could not be read: %(error)s", error=error, **words))


def _wsdl_status_error(transport: Transport, response, words: dict) -> ConnectorError:
    status = response.status_code if response is not None else None
    said = _said(transport, response.content, response.reason or "") if response is not None else ""
    if status in (401, 403):
        return transport.error(
            stored.gettext(
                "%(url)s refused the credentials (HTTP %(status)s) when loading the WSDL.", status=status, **words
            ),
            status_code=status,
            detail=said,
        )
    if status in (404, 410):
        return transport.error(_document_not_found(transport, response, status, words), status_code=status)
    return transport.error(
        stored.gettext("Could not load the WSDL from %(url)s: HTTP %(status)s.", status=status, **words),
        retryable=status is not None and (status == 429 or status >= 500),
        status_code=status,
    )


def _page_instead_of_wsdl(transport: Transport, exc: WebPageAnswer, words: dict) -> stored.StoredMessage:
    shown = transport.shown(exc.url) if exc.url else words["url"]
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


def _document_not_found(transport: Transport, response, status: int, words: dict) -> stored.StoredMessage:
    """The WSDL itself, or a document it imports, is not where it was looked for."""
    config = transport.config
    requested = (response.history[0] if response.history else response).url
    wsdl_url = requests.Request("GET", config.wsdl_url).prepare().url if config.wsdl_url else ""
    if requested == wsdl_url and not config.wsdl_document.strip():
        return stored.gettext(
            "WSDL not found at %(url)s (HTTP %(status)s): check the WSDL URL.", status=status, **words
        )
    return stored.gettext(
        "The WSDL (%(url)s) imports %(document)s, which was not found (HTTP %(status)s).",
        document=transport.shown(requested),
        status=status,
        **words,
    )
