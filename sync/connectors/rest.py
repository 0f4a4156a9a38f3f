"""The REST connector: one ``requests.Session`` per connection.

What travels where:

* **Auth** — none, HTTP basic, bearer token, an API-key header (Ploomes' ``User-Key``)
  or OAuth2 client credentials (the token is fetched once, reused until shortly before
  ``expires_in`` and fetched again once when the API answers 401).
* **Pagination** — ``Page.next_token`` holds what the next request needs:
  the next page number (page+size), the next offset (offset+limit), the next ``$skip``
  (OData; or the ``@odata.nextLink`` URL when the server pages by itself), the next
  link URL (next-link), or the server's cursor (cursor). Count-based styles stop at a
  page with fewer records than the page size; link and cursor styles stop when the
  response carries no link or an empty cursor.
* **Writes** — POST to the collection, PATCH to ``{id}`` in a URL template such as
  ``/Contacts({id})`` (or ``/{id}`` appended when there is no template), DELETE the same
  way. A leading method overrides the default: ``PUT /Contacts({id})`` replaces instead
  of patching, ``POST /contacts/{id}/remove`` deletes by POST (a PUT or PATCH prefix is
  ignored by a delete, which may be given the update object).
* **Retries** — timeouts, dropped connections, 408, 429 and 5xx are retried up to
  ``max_retries`` times with exponential backoff and jitter, or after ``Retry-After``
  (seconds or an HTTP date, capped by ``max_retry_after_seconds``). A create is retried
  only after ``find`` shows the failed attempt did not create the record.

* **Where and how much** — the session follows the outbound policy (:mod:`sync.outbound`):
  http(s) only, never the cloud metadata address, loopback only when allowed, checked on the
  address actually connected to (redirects and the OAuth2 token URL included); every answer
  is read as a stream and refused past ``OUTBOUND_MAX_RESPONSE_BYTES``. Both end the call
  with a non-retryable error that says so.
* **Counts** — ``count(query)`` GETs a query under the base URL (never an address of its own) and
  reads a bare number (OData's ``/$count``) or an object's total (``@odata.count``…).
* **Odd records** — a page whose records are not a list, or hold no object at all, is a run
  error (the records path is wrong); a stray non-object among objects is passed on, for the
  engine to put in the review queue with its payload.

Every attempt is one :class:`CallRecord`, redacted and truncated. No secret reaches a
call record, an error message or a log line.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import http
import json
import logging
import random
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import requests

from core import json_text, outbound
from core import stored_messages as stored
from core.redaction import MASK, redact_headers, redact_text, redact_url, truncate
from sync import paths
from sync.choices import AuthKind, Pagination

from . import pages, refusals, verdicts
from .base import CallRecord, ConnectionConfig, Connector, ConnectorError, Page, ReadRequest, SampleRead, Verdict

logger = logging.getLogger(__name__)

WRITE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LINK_PAGINATIONS = (Pagination.NEXT_LINK, Pagination.ODATA)
_MISSING = object()


class _AlreadyCreated(Exception):
    """Raised between two attempts of a create when the first one did create the record."""

    def __init__(self, record: dict):
        super().__init__("already created")
        self.record = record


class _TokenError(ConnectorError):
    """The OAuth2 token endpoint refused or failed."""


class _Session(requests.Session):
    """A session under the outbound policy that also drops the API-key header when a redirect leaves the host."""

    def __init__(self, secret_header: str = ""):
        super().__init__()
        self.secret_header = secret_header
        outbound.guard(self)

    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        if self.secret_header and self.should_strip_auth(response.request.url, prepared_request.url):
            prepared_request.headers.pop(self.secret_header, None)


class RestConnector(Connector):
    # Query parameter names of each pagination style (a subclass may rename them).
    page_param = "page"
    size_param = "size"
    offset_param = "offset"
    limit_param = "limit"
    cursor_param = "cursor"
    # Where a response keeps its next link or its cursor, first match wins (dots walk into objects).
    next_link_paths = (
        "@odata.nextLink",
        "next",
        "nextLink",
        "next_link",
        "links.next",
        "_links.next",
        "paging.next.link",
    )
    cursor_paths = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "cursor", "meta.next_cursor")

    def __init__(self, config: ConnectionConfig, call_log=None):
        super().__init__(config, call_log)
        secret_header = config.api_key_header if config.auth_kind == AuthKind.API_KEY else ""
        self.session = _Session(secret_header)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "integration-portal"})
        self._secrets = _known_secrets(config)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        self._rate_lock = threading.Lock()
        self._next_call_at = 0.0
        # Seams for tests; production uses the real clocks.
        self._clock = time.monotonic
        self._sleep = time.sleep

    def close(self) -> None:
        self.session.close()

    # --- the interface -------------------------------------------------------------------

    def read_page(self, request: ReadRequest) -> Page:
        url = self._page_url(request)
        response = self._call("GET", url, operation="read")
        data = self._json(response)
        records = self._records(data)
        return Page(
            records=records, next_token=self._next_token(request, data, records, response), total=reported_total(data)
        )

    def find(self, target_object: str, key_field: str, key_value) -> dict | None:
        _method, path = split_method(target_object, "GET")
        if self.config.pagination == Pagination.ODATA:
            params = [("$filter", odata_key_filter(key_field, key_value)), ("$top", "2")]
        else:
            params = [(key_field, str(key_value))]
        url = with_query(self._url(collection_path(path)), params)
        records = self._records(self._json(self._call("GET", url, operation="find")))
        matches = [
            record for record in records if isinstance(record, dict) and self._matches(record, key_field, key_value)
        ]
        if len(matches) > 1:
            raise self._error(
                stored.gettext(
                    "More than one record of %(path)s has %(field)s = %(value)s: cannot tell which one is meant.",
                    path=path,
                    field=key_field,
                    value=str(key_value),
                ),
                record_level=True,
            )
        return matches[0] if matches else None

    def create(self, target_object: str, values: dict, *, key_field: str = "") -> dict:
        method, path = split_method(target_object, "POST")
        url = self._url(collection_path(path))
        key_value = paths.get_path(values, key_field) if key_field else paths.MISSING

        def before_retry(error: ConnectorError):
            self._check_not_created(error, target_object, key_field, key_value)

        try:
            response = self._call(method, url, body=values, operation="create", write=True, before_retry=before_retry)
        except _AlreadyCreated as done:
            return done.record
        return self._answer(response)

    def count(self, query: str) -> int:
        """GET ``query`` under the base URL and read the count it answers: a bare number (OData's
        ``/$count``), or an object with a total (``@odata.count`` of ``$count=true``…)."""
        query = query.strip()
        if outbound.names_a_server(query):
            raise self._error(
                stored.gettext(
                    "The count query %(query)s is an address of its own: write it relative to the connection's "
                    "base URL, e.g. Contacts?$count=true&$top=0.",
                    query=redact_url(query, self._secrets),
                )
            )
        response = self._call("GET", self._url(query), operation="count")
        total = answered_count(response.text)
        if total is None:
            raise self._error(
                stored.gettext(
                    "The answer to the count query %(query)s holds no count: expected a number, or an object "
                    "with one of %(keys)s (it holds: %(found)s).",
                    query=query,
                    keys=", ".join(TOTAL_KEYS),
                    found=_answer_outline(response.text),
                )
            )
        return total

    def get(self, target_object: str, key: str) -> dict | None:
        _method, path = split_method(target_object, "GET")
        return self._one_record(self._url(record_path(path, key)), "get")

    def read_one(self, request: ReadRequest, key: str) -> dict | None:
        path = request.source_object.replace("{key}", quote(str(key), safe=""))
        params = [(name, str(value).replace("{key}", str(key))) for name, value in (request.arguments or {}).items()]
        return self._one_record(with_query(self._url(path), params), "read")

    def _one_record(self, url: str, operation: str) -> dict | None:
        """The record at ``url`` (a bare object or a list of one, e.g. OData's value), None for a 404."""
        try:
            data = self._json(self._call("GET", url, operation=operation))
        except ConnectorError as error:
            if error.status_code == 404:
                return None
            raise
        if isinstance(data, dict) and not self.config.records_path:
            return data  # the record itself
        records = self._records(data)
        return records[0] if records and isinstance(records[0], dict) else None

    def update(self, target_object: str, key: str, values: dict) -> dict:
        method, path = split_method(target_object, "PATCH")
        response = self._call(method, self._url(record_path(path, key)), body=values, operation="update", write=True)
        return self._answer(response)

    def delete(self, target_object: str, key: str) -> None:
        method, path = split_method(target_object, "DELETE")
        if method in ("PUT", "PATCH"):
            method = "DELETE"  # the update object's method (deletes go to the update object)
        retried = []
        try:
            self._call(
                method, self._url(record_path(path, key)), operation="delete", write=True, before_retry=retried.append
            )
        except ConnectorError as error:
            # An earlier attempt whose answer was lost did delete it: the goal is reached.
            if not (retried and error.status_code == 404):
                raise

    def test_connection(self, sample: SampleRead | None = None) -> Verdict:
        """GET what a sync would read first, once, without retries, and judge the answer.

        What is asked: the connection's test path; else ``sample`` (the first read of the first active
        table reading from this connection) for a page of one record; else the base URL. Green only
        for a 2xx JSON answer that did not land elsewhere (a sign-in page); a table's read must also
        hold its records where the records path says.
        """
        try:
            url, asked = self._test_request(sample)
        except ConnectorError as error:
            return verdicts.failed(error)
        try:
            response = self._call("GET", url, operation="test", retries=0)
        except ConnectorError as error:
            if error.status_code and not isinstance(error, _TokenError):
                return self._status_verdict(error, asked)
            return verdicts.failed(error)
        try:
            data = response.json()
        except ValueError:
            return self._not_data(response, url, asked)
        try:
            count = len(self._records(data))
        except ConnectorError as error:
            if asked.table:  # a sync would stop there too
                return verdicts.unreadable(asked, error)
            count = None  # a test path or the base URL answering an object: no records to count
        milliseconds = round(response.elapsed.total_seconds() * 1000)
        return verdicts.connected(asked, response.status_code, milliseconds, count)

    def _test_request(self, sample: SampleRead | None) -> tuple[str, verdicts.Asked]:
        """The URL "test connection" GETs, and what it is in words."""
        path = self.config.test_path.strip()
        if path:
            if outbound.names_a_server(path):
                raise self._error(
                    stored.gettext(
                        "The test path %(path)s is an address of its own: write it relative to the connection's "
                        "base URL, e.g. /Contacts?$top=1.",
                        path=redact_url(path, self._secrets),
                    )
                )
            url = self._url(path)
            return url, verdicts.of_test_path(self._shown_request(url))
        if sample is not None:
            url = self._page_url(sample.request, size=1)
            return url, verdicts.of_table(self._shown_request(url), sample.table)
        url = self.config.base_url
        return url, verdicts.of_base_url(self._shown_request(url))

    def _not_data(self, response, url: str, asked: verdicts.Asked) -> Verdict:
        """A 2xx-3xx answer that is not JSON: a login page (redirected to, or a password form), a page, or text."""
        page = pages.web_page(response.content, response.headers.get("Content-Type", ""))
        redirected = bool(response.history) and _path(response.url) != _path(url)
        if redirected or (page is not None and page.login):
            landed = self._at(response.url)["url"] if redirected else ""
            return verdicts.login_page(asked, self._credential(), landed)
        if page is not None:
            return verdicts.web_page(asked, page.title)
        return verdicts.unreadable(asked, self._not_json(response))

    def _shown_request(self, url: str) -> str:
        """A URL as "test connection" names it: its path and query, redacted."""
        parts = urlsplit(url)
        return redact_url((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), self._secrets)

    # --- reading -------------------------------------------------------------------------

    def _page_url(self, request: ReadRequest, size: int | None = None) -> str:
        """The URL of one page; ``size`` records instead of the connection's page size when given."""
        token = request.page_token
        if token and self.config.pagination in LINK_PAGINATIONS and not token.isdigit():
            return self._checked_link(token)
        params = [(str(name), str(value)) for name, value in request.arguments.items()]
        if request.cursor not in (None, "") and request.incremental_filter:
            params = merge_filters(params, incremental_params(request.incremental_filter, request.cursor))
        params += self._paging_params(token, size)
        return with_query(self._url(request.source_object), params)

    def _paging_params(self, token: str | None, size: int | None = None) -> list[tuple[str, str]]:
        size = str(size or self.config.page_size)
        pagination = self.config.pagination
        if pagination == Pagination.PAGE:
            return [(self.page_param, self._number(token, 1)), (self.size_param, size)]
        if pagination == Pagination.OFFSET:
            return [(self.offset_param, self._number(token, 0)), (self.limit_param, size)]
        if pagination == Pagination.ODATA:
            return [("$top", size), ("$skip", self._number(token, 0))]
        if pagination == Pagination.CURSOR:
            return [(self.limit_param, size)] + ([(self.cursor_param, token)] if token else [])
        return []

    def _number(self, token: str | None, first: int) -> str:
        if token is None:
            return str(first)
        if not token.isdigit():
            raise self._error(stored.gettext("The page token %(token)s is not a number.", token=token))
        return token

    def _next_token(self, request: ReadRequest, data, records: list[dict], response) -> str | None:
        """The next page, until an empty page or the API's own "no more" (never a short page alone).

        Servers cap their pages whatever is asked (Ploomes answers at most 300 records for a $top of 500):
        a page shorter than the page size is no proof that it was the last.
        """
        pagination = self.config.pagination
        if pagination == Pagination.NEXT_LINK or (pagination == Pagination.ODATA and _has(data, "@odata.nextLink")):
            return self._next_link(data, response)
        if pagination == Pagination.CURSOR:
            return self._next_cursor(data, request.page_token)
        if pagination not in (Pagination.ODATA, Pagination.PAGE, Pagination.OFFSET) or not records:
            return None
        if says_no_more(data):
            return None
        if pagination == Pagination.ODATA:
            return odata_next_skip(response.url, len(records), reported_total(data))
        if pagination == Pagination.PAGE:
            page = int(request.page_token or 1)
            total = reported_total(data)
            if total is not None and page * self.config.page_size >= total:
                return None
            return str(page + 1)
        offset = int(request.page_token or 0) + len(records)
        total = reported_total(data)
        return None if total is not None and offset >= total else str(offset)

    def _next_link(self, data, response) -> str | None:
        link = response.links.get("next", {}).get("url") or first_value(data, self.next_link_paths)
        if isinstance(link, dict):  # {"href": "..."} (HAL, JSON:API)
            link = link.get("href")
        if not link:
            return None
        absolute = urljoin(response.url, str(link))
        if absolute == response.url:
            raise self._error(
                stored.gettext("The server sent the same next link again (%(url)s): stopping.", **self._at(absolute))
            )
        return absolute

    def _next_cursor(self, data, sent: str | None) -> str | None:
        cursor = first_value(data, self.cursor_paths)
        if cursor is None:
            return None
        if str(cursor) == sent:
            raise self._error(stored.gettext("The server sent the same cursor again: stopping."))
        return str(cursor)

    def _checked_link(self, link: str) -> str:
        """A next link, refused when it leads to another server (our credentials would go there)."""
        absolute = urljoin(self.config.base_url, link)
        if _origin(absolute) != _origin(self.config.base_url):
            raise self._error(
                stored.gettext(
                    "The next link leads to another server (%(url)s): refusing to send the credentials there.",
                    **self._at(absolute),
                )
            )
        return absolute

    def _records(self, data) -> list[dict]:
        path = self.config.records_path.strip()
        records = dig(data, path) if path else data
        if records is _MISSING:
            raise self._error(
                stored.gettext(
                    "The response has no %(path)s: check the records path (the response holds: %(keys)s).",
                    path=path,
                    keys=_keys(data),
                )
            )
        if records is None:
            return []
        if isinstance(records, dict):
            raise self._error(
                stored.gettext(
                    "The response is an object, not a list of records: check the records path (it holds: %(keys)s).",
                    keys=_keys(records),
                )
            )
        if not isinstance(records, list) or (records and not any(isinstance(record, dict) for record in records)):
            raise self._error(
                stored.gettext("The records in the response are not a list of objects: check the records path.")
            )
        # A stray non-object among records is kept: the engine puts it in the review queue with its payload.
        return records

    def _matches(self, record: dict, key_field: str, key_value) -> bool:
        value = paths.get_path(record, key_field)
        if value is paths.MISSING:
            # OData filtered on the server; elsewhere an ignored query parameter must not match everything.
            return self.config.pagination == Pagination.ODATA
        return str(value) == str(key_value)

    # --- writing -------------------------------------------------------------------------

    def _check_not_created(self, error: ConnectorError, target_object: str, key_field: str, key_value) -> None:
        """Between two attempts of a create: retry only when the record provably does not exist."""
        if error.status_code == 429:
            return  # refused before processing: nothing was created
        if key_value is paths.MISSING or key_value in (None, ""):
            raise self._error(
                stored.gettext(
                    "%(error)s The create was not retried: without a record key "
                    "there is no way to check whether it was created.",
                    error=error.message,
                ),
                retryable=error.retryable,
                status_code=error.status_code,
            )
        try:
            found = self.find(target_object, key_field, str(key_value))
        except ConnectorError as find_error:
            raise self._error(
                stored.gettext(
                    "%(error)s Checking whether the record was created anyway failed too: %(find_error)s",
                    error=error.message,
                    find_error=find_error.message,
                ),
                retryable=True,
                status_code=error.status_code,
            )
        if found is not None:
            logger.info("%s: the failed create of %s=%s did create the record", self.config.name, key_field, key_value)
            raise _AlreadyCreated(found)

    def _answer(self, response) -> dict:
        """The written record as the server answered it (unwrapped from the records path)."""
        if not response.content.strip():
            return {}
        data = self._json(response)
        path = self.config.records_path.strip()
        records = dig(data, path) if path else data
        if isinstance(records, list) and len(records) == 1 and isinstance(records[0], dict):
            return records[0]
        return data if isinstance(data, dict) else {"value": data}

    # --- one call, with retries -----------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        body=None,
        form=None,
        operation: str = "",
        write: bool = False,
        api: bool = True,
        retries: int | None = None,
        before_retry=None,
    ) -> requests.Response:
        """Send one logical call; every attempt is logged; raises ConnectorError."""
        retries_left = self.config.max_retries if retries is None else retries
        token_refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response, error = self._attempt(method, url, body, form, operation, write, api, attempt)
            if error is None:
                return response
            if error.status_code == 401 and self._token and not token_refreshed and api:
                token_refreshed = True
                self._forget_token()
                continue
            if not error.retryable or retries_left <= 0:
                raise error
            retries_left -= 1
            self._pause(attempt, response, error)
            if before_retry is not None:
                before_retry(error)

    def _attempt(self, method, url, body, form, operation, write, api, attempt):
        """One HTTP exchange: returns (response, error), logs it as a CallRecord."""
        headers = self._auth_headers() if api else {}
        data = form
        if body is not None:
            data = json_text.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        auth = self._basic_auth() if api else None
        prepared = self.session.prepare_request(requests.Request(method, url, headers=headers, data=data, auth=auth))
        if api:
            self._throttle()
        started = _now()
        response = failure = None
        try:
            # Streamed: the outbound adapter reads the answer itself and stops at the size limit.
            settings = self.session.merge_environment_settings(prepared.url, {}, True, self.config.verify_tls, None)
            timeout = (self.config.timeout_seconds, self.config.timeout_seconds)
            response = self.session.send(prepared, timeout=timeout, allow_redirects=True, **settings)
        except (requests.RequestException, outbound.OutboundError) as exc:
            failure = exc
        finished = _now()
        if failure is not None:
            error = self._transport_error(failure, url)
        elif response.status_code >= 400:
            error = self._status_error(response, method, url, operation, write, attempt)
        else:
            error = None
        self._log_call(prepared, operation, attempt, started, finished, response, failure, error)
        return response, error

    def _pause(self, attempt: int, response, error: ConnectorError) -> None:
        delay = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
        if delay is None:
            delay = backoff_seconds(self.config.backoff_seconds, attempt)
        delay = max(0.0, min(delay, self.config.max_retry_after_seconds))
        logger.warning(
            "%s: attempt %d failed (%s); retrying in %.2f s", self.config.name, attempt, error.message, delay
        )
        self._sleep(delay)

    def _throttle(self) -> None:
        """At most ``rate_limit_per_minute`` calls a minute: calls start at least 60/rate seconds apart."""
        if not self.config.rate_limit_per_minute:
            return
        interval = 60 / self.config.rate_limit_per_minute
        with self._rate_lock:
            now = self._clock()
            if self._next_call_at > now:
                self._sleep(self._next_call_at - now)
                now = self._next_call_at
            self._next_call_at = now + interval

    # --- auth --------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        kind = self.config.auth_kind
        if kind == AuthKind.BEARER:
            return {"Authorization": f"Bearer {self.config.token}"}
        if kind == AuthKind.API_KEY:
            return {self.config.api_key_header or "X-API-Key": self.config.api_key}
        if kind == AuthKind.OAUTH2:
            return {"Authorization": f"Bearer {self._access_token()}"}
        return {}

    def _basic_auth(self):
        if self.config.auth_kind == AuthKind.BASIC:
            return (self.config.username, self.config.password)
        return None

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_expires_at:
                self._token, lifetime = self._fetch_token()
                self._token_expires_at = self._clock() + lifetime
            return self._token

    def _forget_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        """A client-credentials token and how long to reuse it (a little less than ``expires_in``)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        if self.config.oauth_scope:
            form["scope"] = self.config.oauth_scope
        response = self._call("POST", self.config.oauth_token_url, form=form, operation="token", api=False)
        try:
            data = response.json()
            token = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise _TokenError(stored.gettext("The OAuth2 token endpoint answered without an access_token."))
        self._secrets.append(token)
        return token, token_lifetime(data.get("expires_in"))

    # --- errors and logs -------------------------------------------------------------------------

    def _transport_error(self, failure: Exception, url: str) -> ConnectorError:
        values = self._at(url)
        if isinstance(failure, outbound.OutboundError):
            return self._error(failure.explain(self._at(failure.url)["url"]))
        if isinstance(failure, requests.exceptions.InvalidSchema):
            return self._error(
                stored.gettext(
                    "%(url)s redirected to an address that is not http or https; refused (local files are never read).",
                    **values,
                )
            )
        if _is_timeout(failure):
            seconds = f"{self.config.timeout_seconds:g}"
            return self._error(
                stored.gettext("Timed out after %(seconds)s s reaching %(url)s.", seconds=seconds, **values),
                retryable=True,
            )
        if isinstance(failure, requests.exceptions.SSLError):
            return self._error(
                stored.gettext(
                    "The TLS certificate of %(url)s could not be verified: check the certificate or the address.",
                    **values,
                )
            )
        if isinstance(failure, requests.exceptions.ChunkedEncodingError) or "aborted" in str(failure):
            return self._error(
                stored.gettext("%(url)s dropped the connection before answering in full.", **values), retryable=True
            )
        if isinstance(failure, requests.ConnectionError):
            return self._error(
                stored.gettext("Could not connect to %(url)s: check the address and that the server is up.", **values),
                retryable=True,
            )
        return self._error(
            stored.gettext("The request to %(url)s could not be sent: %(reason)s", reason=str(failure), **values)
        )

    def _status_error(self, response, method, url, operation, write, attempt) -> ConnectorError:
        status = response.status_code
        retryable = status in (408, 429) or (status >= 500 and status != 501)
        if operation == "token" and status in (400, 401, 403):
            message = stored.gettext(
                "The OAuth2 token endpoint answered %(status)s %(reason)s: check the client id and secret.",
                status=status,
                reason=_reason(response),
            )
            return _TokenError(self._scrub(message), status_code=status, detail=self._said(response))
        name = self.config.name or _origin(url)
        call = {"method": method, "path": urlsplit(url).path or "/"}
        if status == 401:
            message = stored.gettext(
                "%(name)s answered 401 Unauthorized: check the %(credential)s.",
                name=name,
                credential=self._credential(),
            )
        elif status == 403:
            message = stored.gettext(
                "%(name)s answered 403 Forbidden to %(method)s %(path)s: the %(credential)s lacks permission.",
                name=name,
                credential=self._credential(),
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
                reason=_reason(response),
                detail=self._detail(response),
                **call,
            )
        if attempt > 1:
            message = stored.join(message, stored.gettext("(%(attempts)s attempts)", attempts=attempt))
        # A record the target refuses goes to the review queue; a refused credential stops the run.
        record_level = write and 400 <= status < 500 and status not in (401, 407, 408, 429)
        said = self._said(response) if status in (401, 403, 404) else ""  # the others have it in their message
        return self._error(message, retryable=retryable, record_level=record_level, status_code=status, detail=said)

    def _status_verdict(self, error: ConnectorError, asked: verdicts.Asked) -> Verdict:
        """The verdict on an error status: refused credentials, a path not found, or what it said."""
        status = error.status_code
        if status in (401, 403):
            reason = http.HTTPStatus(status).phrase
            return verdicts.refused(asked, status, reason, self._credential(), error.detail)
        if status == 404:
            return verdicts.not_found(asked, error.detail)
        return verdicts.unreadable(asked, error)

    def _credential(self) -> stored.StoredMessage:
        kind = self.config.auth_kind
        if kind == AuthKind.BASIC:
            return stored.gettext("username and password")
        if kind == AuthKind.BEARER:
            return stored.gettext("bearer token")
        if kind == AuthKind.API_KEY:
            return stored.gettext("API key")
        if kind == AuthKind.OAUTH2:
            return stored.gettext("OAuth2 client id and secret")
        return stored.gettext("authentication settings (none is configured)")

    def _detail(self, response) -> str:
        """The server's own words about an error (:meth:`_said`), or that it gave none."""
        return self._said(response) or stored.gettext("no details given")

    def _said(self, response) -> str:
        """The server's own words about an error, its message and every field it refused, short and redacted.

        A web page (a proxy's or a server's error page) is named by its title; "" when nothing was said.
        """
        limit = 500  # characters: a message and several violations fit
        reason = refusals.explain_answer(response.content, response.headers.get("Content-Type", ""))
        if reason is None:
            return truncate(redact_text(response.text.strip(), self._secrets), limit)
        shown = truncate(redact_text(reason.shown(), self._secrets), limit)
        more = reason.hidden()
        if not more:
            return shown
        return stored.join(shown, stored.ngettext("… and %(count)d more", "… and %(count)d more", more, count=more))

    def _json(self, response):
        try:
            return response.json()
        except ValueError:
            raise self._not_json(response)

    def _not_json(self, response) -> ConnectorError:
        excerpt = truncate(redact_text(response.text.strip(), self._secrets), 200) or stored.gettext("(an empty body)")
        return self._error(stored.gettext("The response is not JSON: %(excerpt)s", excerpt=excerpt))

    def _log_call(self, prepared, operation, attempt, started, finished, response, failure, error) -> None:
        headers = redact_headers(prepared.headers, [self.config.api_key_header])
        self.call_log(
            CallRecord(
                method=prepared.method,
                url=redact_url(prepared.url, self._secrets),
                operation=operation,
                started_at=started,
                finished_at=finished,
                attempt=attempt,
                status_code=response.status_code if response is not None else None,
                request_headers={name: self._scrub(value) for name, value in headers.items()},
                request_body=self._clean(prepared.body),
                response_body=self._clean(response.text if response is not None else ""),
                error=self._scrub(error.message) if error is not None else "",
            )
        )
        if failure is not None:
            logger.info("%s: %s %s failed: %s", self.config.name, prepared.method, self._at(prepared.url)["url"], error)

    def _clean(self, body) -> str:
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        return truncate(redact_text(body or "", self._secrets), self.config.body_limit)

    def _scrub(self, text: str) -> str:
        """``text`` without the known secrets; a stored message keeps its structure (only its outside data changes)."""
        return stored.change_outside_data(text, self._without_secrets)

    def _without_secrets(self, text: str) -> str:
        for secret in sorted(set(self._secrets), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def _error(self, message: stored.StoredMessage, **flags) -> ConnectorError:
        return ConnectorError(self._scrub(message), **flags)

    def _at(self, url: str) -> dict[str, str]:
        """The URL shown in messages: redacted, without its query string."""
        return {"url": redact_url(url.split("?", 1)[0], self._secrets)}

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"


# --- pure helpers ------------------------------------------------------------------------------


def odata_next_skip(url: str, received: int, total: int | None = None) -> str | None:
    """The next ``$skip`` after reading ``received`` records from ``url``; None after an empty page or the total.

    Read from the URL actually requested, so paging resumes correctly after the server's
    own ``@odata.nextLink`` pages (which carry their own ``$top``/``$skip``).
    """
    query = dict(parse_qsl(urlsplit(url).query))
    skip = query.get("$skip", "0")
    if not skip.isdigit() or received == 0:
        return None
    following = int(skip) + received
    return None if total is not None and following >= total else str(following)


# Where APIs report how many records a listing has, and whether more pages follow.
TOTAL_KEYS = ("@odata.count", "total", "totalCount", "total_count", "total_de_registros", "count")
MORE_KEYS = ("hasMoreResult", "has_more", "hasMore", "more")


def reported_total(data) -> int | None:
    """The number of records the listing has, when the answer says it (OData ``@odata.count``, Omie's…)."""
    if not isinstance(data, dict):
        return None
    for key in TOTAL_KEYS:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def answered_count(body: str) -> int | None:
    """The count in an answer to a count query: ``42`` (text or JSON), or an object with a total; else None."""
    text = body.strip().lstrip("\ufeff").strip()
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        return reported_total(json.loads(text))
    except ValueError:
        return None


def _answer_outline(body: str) -> str:
    """What an answer without a count holds, in a few words: its keys, or the start of its text."""
    try:
        data = json.loads(body)
    except ValueError:
        return truncate(body.strip(), 80) or stored.gettext("(an empty body)")
    return _keys(data)


def says_no_more(data) -> bool:
    """Whether the answer itself says this was the last page (Sankhya's ``hasMoreResult: false``…)."""
    if not isinstance(data, dict):
        return False
    return any(data.get(key) is False or data.get(key) in ("false", "N") for key in MORE_KEYS)


def split_method(target: str, default: str) -> tuple[str, str]:
    """``"PUT /Contacts({id})"`` → ``("PUT", "/Contacts({id})")``; no prefix → the default method."""
    head, _space, rest = target.strip().partition(" ")
    if rest and head.upper() in WRITE_METHODS:
        return head.upper(), rest.strip()
    return default, target.strip()


def collection_path(path: str) -> str:
    """The collection of a record template: ``/Contacts({id})`` → ``/Contacts``, ``/c/{id}`` → ``/c``."""
    if "{id}" not in path:
        return path
    head = path.split("{id}", 1)[0]
    return head.rstrip("(/'\"") or "/"


def record_path(path: str, key) -> str:
    quoted = quote(str(key), safe="")
    if "{id}" in path:
        return path.replace("{id}", quoted)
    return f"{path.rstrip('/')}/{quoted}"


def odata_key_filter(key_field: str, key_value) -> str:
    """``Code eq 'X'``; a keyed list element (``OtherProperties[FieldKey=K].StringValue``) as OData's ``any``."""
    try:
        steps = paths.parse(key_field)
    except paths.PathError:
        steps = []
    if len(steps) == 3 and isinstance(steps[1], paths.Match) and isinstance(steps[2], paths.Key):
        collection, match, value_field = steps[0].name, steps[1], steps[2].name
        return (
            f"{collection}/any(o: o/{match.field} eq {odata_literal(match.value)} "
            f"and o/{value_field} eq {odata_literal(key_value)})"
        )
    return f"{key_field} eq {odata_literal(key_value)}"


def odata_quote(value) -> str:
    return str(value).replace("'", "''")


def odata_literal(value) -> str:
    """A number as a number (typed OData fields refuse quoted numbers), anything else as a quoted text."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return f"'{odata_quote(value)}'"


def with_query(url: str, params: list[tuple[str, str]]) -> str:
    """Append query parameters, spaces as %20 and OData's $ ' ( ) : / kept readable."""
    if not params:
        return url
    query = urlencode(params, quote_via=quote, safe="$'(),:/")
    return f"{url}{'&' if '?' in url else '?'}{query}"


def incremental_params(template: str, cursor: str) -> list[tuple[str, str]]:
    """``"$filter=LastUpdateDate gt {cursor}"`` → ``[("$filter", "LastUpdateDate gt 2024-…")]``.

    A template without ``=`` is an OData filter expression.
    """
    template = template.strip().lstrip("?")
    if "=" not in template.split(" ", 1)[0]:
        return [("$filter", template.replace("{cursor}", cursor))]
    pairs = []
    for part in template.split("&"):
        name, _equals, value = part.partition("=")
        pairs.append((name.strip(), value.replace("{cursor}", cursor)))
    return pairs


def merge_filters(params: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Add ``extra`` to ``params``; two OData ``$filter`` become one joined by ``and``."""
    merged = list(params)
    for name, value in extra:
        existing = next((i for i, (n, _v) in enumerate(merged) if n == name == "$filter"), None)
        if existing is None:
            merged.append((name, value))
        else:
            merged[existing] = (name, f"({merged[existing][1]}) and ({value})")
    return merged


def dig(data, path: str, default=_MISSING):
    """The value at a dotted path (``data.items``, ``paging.next.link``); a key may itself hold dots."""
    if isinstance(data, dict) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


def first_value(data, paths):
    """The first non-empty value found at one of ``paths``, or None."""
    for path in paths:
        value = dig(data, path, default=None)
        if value not in (None, ""):
            return value
    return None


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or _now())).total_seconds())


def backoff_seconds(base: float, attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempt - 1), scaled by a random factor in [0.5, 1)."""
    return base * 2 ** (attempt - 1) * (0.5 + random.random() / 2)


def token_lifetime(expires_in) -> float:
    """How long to reuse a token: ``expires_in`` minus a margin (10 %, at most 60 s); an hour when unknown."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return 3600.0
    return max(0.0, seconds - min(60.0, seconds / 10))


def _known_secrets(config: ConnectionConfig) -> list[str]:
    secrets = config.secrets()
    if config.auth_kind == AuthKind.BASIC and config.password:
        # Servers that echo the Authorization header would otherwise leak it in a body.
        secrets.append(base64.b64encode(f"{config.username}:{config.password}".encode()).decode())
    return secrets


def _is_timeout(failure: Exception) -> bool:
    if isinstance(failure, requests.Timeout):
        return True
    # A read timeout while the body streams in surfaces as a ConnectionError.
    return any(type(arg).__name__ == "ReadTimeoutError" for arg in failure.args)


def _has(data, key: str) -> bool:
    return isinstance(data, dict) and bool(data.get(key))


def _keys(data) -> str:
    if isinstance(data, dict):
        return ", ".join(list(map(str, data))[:10]) or "{}"
    return type(data).__name__


def _reason(response) -> str:
    if response.reason:
        return response.reason
    try:
        return http.HTTPStatus(response.status_code).phrase
    except ValueError:
        return ""


def _path(url: str) -> str:
    """The path of ``url``, without a trailing slash: ``/login`` and ``/login/`` are one page."""
    return urlsplit(url).path.rstrip("/")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
