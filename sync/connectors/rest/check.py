""" "Test connection" on a REST connection: what to ask, and the verdict on what came back."""

from __future__ import annotations

import http
from urllib.parse import urlsplit

import requests

from core import outbound
from core import stored_messages as stored

from .. import pages, verdicts
from ..base import ConnectorError, SampleRead, Verdict
from ..transport import Transport
from .auth import credential_words
from .listing import Listing
from .queries import url_path
from .words import not_json


def test_request(listing: Listing, sample: SampleRead | None) -> tuple[str, str, dict | None, verdicts.Asked]:
    """The method, URL and body "test connection" sends, and what it is in words.

    The connection's test path; else ``sample`` (the first read of the first active table reading
    from this connection) for a page of one record; else the base URL.
    """
    transport = listing.transport
    path = transport.config.test_path.strip()
    if path:
        if outbound.names_a_server(path):
            raise transport.error(
                stored.gettext(
                    "The test path %(path)s is an address of its own: write it relative to the connection's "
                    "base URL, e.g. /Contacts?$top=1.",
                    path=transport.redact_url(path),
                )
            )
        url = listing.absolute(path)
        return "GET", url, None, verdicts.of_test_path(shown_request(transport, "GET", url))
    if sample is not None:
        method, url, body = listing.request(sample.request, size=1)
        return method, url, body, verdicts.of_table(shown_request(transport, method, url), sample.table)
    url = transport.config.base_url
    return "GET", url, None, verdicts.of_base_url(shown_request(transport, "GET", url))


def status_verdict(transport: Transport, error: ConnectorError, asked: verdicts.Asked) -> Verdict:
    """The verdict on an error status: refused credentials, a path not found, or what it said."""
    status = error.status_code
    if status in (401, 403):
        reason = http.HTTPStatus(status).phrase
        return verdicts.refused(asked, status, reason, credential_words(transport.config.auth_kind), error.detail)
    if status == 404:
        return verdicts.not_found(asked, error.detail)
    return verdicts.unreadable(asked, error)


def not_data(transport: Transport, response: requests.Response, url: str, asked: verdicts.Asked) -> Verdict:
    """A 2xx-3xx answer that is not JSON: a login page (redirected to, or a password form), a page, or text."""
    page = pages.web_page(response.content, response.headers.get("Content-Type", ""))
    redirected = bool(response.history) and url_path(response.url) != url_path(url)
    if redirected or (page is not None and page.login):
        landed = transport.shown(response.url) if redirected else ""
        return verdicts.login_page(asked, credential_words(transport.config.auth_kind), landed)
    if page is not None:
        return verdicts.web_page(asked, page.title)
    return verdicts.unreadable(asked, not_json(transport, response))


def shown_request(transport: Transport, method: str, url: str) -> str:
    """A call as "test connection" names it: its method, path and query, redacted."""
    parts = urlsplit(url)
    return f"{method} " + transport.redact_url((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
