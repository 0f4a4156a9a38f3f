"""A REST answer that is not what was asked for, in words: an error status, a body that is not JSON."""

from __future__ import annotations

import http
from urllib.parse import urlsplit

import requests

from core import stored_messages as stored
from core.redaction import truncate

from .. import refusals
from ..base import ConnectorError
from ..retries import retryable_status
from ..transport import Transport
from . import envelopes
from .auth import TokenError, credential_words
from .oauth_code import refused_grant, revoked
from .queries import origin

SAID_LIMIT = 500  # characters of what a server said: a message and several violations fit


def status_error(
    transport: Transport,
    response: requests.Response,
    method: str,
    url: str,
    *,
    operation: str,
    write: bool,
    attempt: int,
) -> ConnectorError:
    """The error an HTTP status of 400 or more means; ``attempt`` > 1 is told in the message."""
    status = response.status_code
    if operation == "token" and status in (400, 401, 403) and refused_grant(response):
        return revoked(status, said(transport, response))
    if operation == "token" and status in (400, 401, 403):
        return token_refused(transport, response)
    name = transport.config.name or origin(url)
    call = {"method": method, "path": urlsplit(url).path or "/"}
    credential = credential_words(transport.config.auth_kind)
    if status == 401:
        message = stored.gettext(
            "%(name)s answered 401 Unauthorized: check the %(credential)s.", name=name, credential=credential
        )
    elif status == 403:
        message = stored.gettext(
            "%(name)s answered 403 Forbidden to %(method)s %(path)s: the %(credential)s lacks permission.",
            name=name,
            credential=credential,
            **call,
        )
    elif status == 404:
        message = stored.gettext(
            "%(name)s answered 404 Not Found to %(method)s %(path)s: check the path.", name=name, **call
        )
    elif status == 429:
        message = stored.gettext(
            "%(name)s answered 429 Too Many Requests: lower the connection's rate limit.", name=name
        )
    else:
        message = stored.gettext(
            "%(name)s answered %(status)s %(reason)s to %(method)s %(path)s: %(detail)s",
            name=name,
            status=status,
            reason=reason(response),
            detail=said(transport, response) or stored.gettext("no details given"),
            **call,
        )
    if attempt > 1:
        message = stored.join(message, stored.gettext("(%(attempts)s attempts)", attempts=attempt))
    # A record the target refuses goes to the review queue; a refused credential stops the run.
    # A 500 that is the caller's fault (Omie's SOAP-ENV:Client faults) is a refusal, not an outage.
    meant = 400 if status >= 500 and envelopes.client_fault(response.content) else status
    record_level = write and 400 <= meant < 500 and meant not in (401, 407, 408, 429)
    detail = said(transport, response) if status in (401, 403, 404) else ""  # the others have it in their message
    return transport.error(
        message, retryable=retryable_status(meant), record_level=record_level, status_code=status, detail=detail
    )


def token_refused(transport: Transport, response: requests.Response) -> TokenError:
    """The token endpoint refused the client: what to check, the token call's headers included when it sends any."""
    headers = transport.config.token_headers
    words = {"status": response.status_code, "reason": reason(response)}
    if headers:
        message = stored.gettext(
            "The OAuth2 token endpoint answered %(status)s %(reason)s: check the client id and secret, and the "
            "credentials the token call's headers name (%(headers)s).",
            headers=", ".join(sorted(headers)),
            **words,
        )
    else:
        message = stored.gettext(
            "The OAuth2 token endpoint answered %(status)s %(reason)s: check the client id and secret.", **words
        )
    return TokenError(transport.scrub(message), status_code=response.status_code, detail=said(transport, response))


def service_refusal_error(
    transport: Transport, refusal: envelopes.Refusal, method: str, url: str, *, write: bool
) -> ConnectorError:
    """The error a 200 answer means when it is a refusal in the body (Sankhya's status 0, or 3 for the session)."""
    name = transport.config.name or origin(url)
    words = truncate(transport.redact(refusal.message), SAID_LIMIT)
    if refusal.status == 401:
        message = stored.gettext(
            "%(name)s refused the session (%(words)s): check the %(credential)s.",
            name=name,
            words=words,
            credential=credential_words(transport.config.auth_kind),
        )
    else:
        message = stored.gettext(
            "%(name)s refused %(method)s %(path)s: %(words)s",
            name=name,
            method=method,
            path=urlsplit(url).path or "/",
            words=words,
        )
    return transport.error(message, record_level=write and refusal.status != 401, status_code=refusal.status)


def said(transport: Transport, response: requests.Response) -> str:
    """The server's own words about an error, its message and every field it refused, short and redacted.

    A web page (a proxy's or a server's error page) is named by its title; "" when nothing was said.
    """
    reason_given = refusals.explain_answer(response.content, response.headers.get("Content-Type", ""))
    if reason_given is None:
        return truncate(transport.redact(response.text.strip()), SAID_LIMIT)
    shown = truncate(transport.redact(reason_given.shown()), SAID_LIMIT)
    more = reason_given.hidden()
    if not more:
        return shown
    return stored.join(shown, stored.ngettext("… and %(count)d more", "… and %(count)d more", more, count=more))


def not_json(transport: Transport, response: requests.Response) -> ConnectorError:
    excerpt = truncate(transport.redact(response.text.strip()), 200) or stored.gettext("(an empty body)")
    return transport.error(stored.gettext("The response is not JSON: %(excerpt)s", excerpt=excerpt))


def reason(response: requests.Response) -> str:
    if response.reason:
        return response.reason
    try:
        return http.HTTPStatus(response.status_code).phrase
    except ValueError:
        return ""
