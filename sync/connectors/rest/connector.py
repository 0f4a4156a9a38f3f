"""The REST connector: one session per connection, its calls through the connector transport.

* **Auth** — none, HTTP basic, bearer token, an API-key header (Ploomes' ``User-Key``), OAuth2
  client credentials (:mod:`.auth`) or authorization code with its tokens in a store (:mod:`.oauth_code`).
* **Pagination** — page+size, offset+limit, OData ``$top``/``$skip`` or its next link, a next-link
  URL or a cursor (:mod:`.listing`); a query paged no deeper than a result cap read in slices (:mod:`.slices`).
* **Writes** — POST to the collection, PATCH to ``{id}`` in a URL template such as
  ``/Contacts({id})`` (or ``/{id}`` appended when there is no template), DELETE the same
  way. A leading method overrides the default: ``PUT /Contacts({id})`` replaces instead
  of patching, ``POST /contacts/{id}/remove`` deletes by POST (a PUT or PATCH prefix is
  ignored by a delete, which may be given the update object). A create is retried only after
  ``find`` shows the failed attempt did not create the record; a delete whose retry answers 404
  is done (the lost answer had deleted it).
* **Batches** — several records in one call: HubSpot ``batch/upsert``, OData ``$batch`` or a JSON
  array (:mod:`.batch`), one outcome per record, creates never sent twice blindly.
* **Retries, rate limit, where and how much** — :mod:`sync.connectors.transport`: timeouts,
  dropped connections, 408, 429 and 5xx are retried with backoff and jitter or after
  ``Retry-After``; the session follows the outbound policy (redirects and the OAuth2 token URL
  included) and refuses an answer past ``OUTBOUND_MAX_RESPONSE_BYTES``.
* **Counts** — ``count(query)`` GETs a query under the base URL (never an address of its own) and
  reads a bare number (OData's ``/$count``) or an object's total (``@odata.count``…).

Every attempt is one :class:`CallRecord`, redacted and truncated. No secret reaches a
call record, an error message or a log line.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from urllib.parse import quote

import requests

from core import json_text, outbound
from core import stored_messages as stored
from sync import paths
from sync.choices import AuthKind, Pagination

from .. import verdicts
from ..base import (
    BatchOutcome,
    BatchWrite,
    ConnectionConfig,
    Connector,
    ConnectorError,
    Page,
    ReadRequest,
    SampleRead,
    Verdict,
)
from ..failures import Place
from ..retries import AttemptFailed, retry_after_seconds
from ..templates import enveloped, merge_arguments
from ..transport import Transport
from . import batch, check, envelopes
from .auth import RestAuth, TokenError
from .bodies import filled
from .columns import unwrapped
from .listing import Listing
from .oauth_code import CodeGrant, TokenAnswer, TokenClient, TokenStore
from .queries import (
    TOTAL_KEYS,
    answer_outline,
    answered_count,
    collection_path,
    odata_key_filter,
    record_path,
    reported_total,
    split_method,
    with_query,
)
from .slices import SlicedRead
from .words import not_json, service_refusal_error, status_error

logger = logging.getLogger(__name__)


class RestConnector(Connector):
    """``tokens``: where an authorization-code connection's tokens live (required for that kind only)."""

    def __init__(self, config: ConnectionConfig, call_log=None, budget=None, tokens: TokenStore | None = None):
        super().__init__(config, call_log)
        self.transport = Transport(config, self.call_log, budget)
        self.session = self.transport.session(config.api_key_header if config.auth_kind == AuthKind.API_KEY else "")
        self.session.headers.update({"Accept": "application/json", "User-Agent": "integration-portal"})
        self.token_client = TokenClient(config, self.transport, self._post_client_form)
        code_grant = None
        if config.auth_kind == AuthKind.OAUTH2_CODE:
            if tokens is None:
                raise ValueError("An OAuth2 authorization-code connection needs its token store.")
            code_grant = CodeGrant(tokens, self.token_client)
        self.auth = RestAuth(config, self.transport, self._post_token_form, code_grant=code_grant, log_in=self._log_in)
        self.listing = Listing(self.transport)
        self.sliced = SlicedRead(self.transport, self._read_page)

    def close(self) -> None:
        self.session.close()

    # --- the interface -------------------------------------------------------------------

    def read_page(self, request: ReadRequest) -> Page:
        if self.config.result_cap:
            return self.sliced.read_page(request)
        return self._read_page(request)

    def _read_page(self, request: ReadRequest, size: int | None = None) -> Page:
        """One page of one query; ``size`` records instead of the page size when given."""
        method, url, body = self.listing.request(request, size)
        response = self._call(method, url, body=body, operation="read")
        if response.status_code >= 400:  # an answer that means "no records" (Omie's fault 5113)
            return Page(records=[])
        data = self._json(response)
        records = self.listing.records(data, request.records_path)
        return Page(
            records=records,
            next_token=self.listing.next_token(request, data, records, response),
            total=reported_total(data),
        )

    def find(self, target_object: str, key_field: str, key_value) -> dict | None:
        _method, path = split_method(target_object, "GET")
        if self.config.pagination == Pagination.ODATA:
            params = [("$filter", odata_key_filter(key_field, key_value)), ("$top", "2")]
        else:
            params = [(key_field, str(key_value))]
        url = with_query(self.listing.absolute(collection_path(path)), params)
        records = self.listing.records(self._json(self._call("GET", url, operation="find")))
        matches = [
            record for record in records if isinstance(record, dict) and self._matches(record, key_field, key_value)
        ]
        if len(matches) > 1:
            raise self.transport.error(
                stored.gettext(
                    "More than one record of %(path)s has %(field)s = %(value)s: cannot tell which one is meant.",
                    path=path,
                    field=key_field,
                    value=str(key_value),
                ),
                record_level=True,
            )
        return matches[0] if matches else None

    def _matches(self, record: dict, key_field: str, key_value) -> bool:
        value = paths.get_path(record, key_field)
        if value is paths.MISSING:
            # OData filtered on the server; elsewhere an ignored query parameter must not match everything.
            return self.config.pagination == Pagination.ODATA
        return str(value) == str(key_value)

    def create(self, target_object: str, values: dict, *, key_field: str = "", envelope: dict | None = None) -> dict:
        method, path = split_method(target_object, "POST")
        url = self.listing.absolute(path if envelope else collection_path(path))
        body = enveloped(envelope, values, None)
        key_value = paths.get_path(values, key_field) if key_field else None
        if key_value is paths.MISSING:
            key_value = None
        exchanges = itertools.count(1)

        def attempt(_number: int) -> dict:
            return self._answer(self._attempt(method, url, exchanges, body=body, operation="create", write=True))

        return self.transport.create(
            attempt,
            key_field=key_field,
            key_value=key_value,
            # A call written through an envelope (an RPC) has no listing to look the record up in.
            find=None if envelope else lambda: self.find(target_object, key_field, str(key_value)),
        )

    def count(self, query: str) -> int:
        """GET ``query`` under the base URL and read the count it answers: a bare number (OData's
        ``/$count``), or an object with a total (``@odata.count`` of ``$count=true``…)."""
        query = query.strip()
        if outbound.names_a_server(query):
            raise self.transport.error(
                stored.gettext(
                    "The count query %(query)s is an address of its own: write it relative to the connection's "
                    "base URL, e.g. Contacts?$count=true&$top=0.",
                    query=self.transport.redact_url(query),
                )
            )
        response = self._call("GET", self.listing.absolute(query), operation="count")
        total = answered_count(response.text)
        if total is None:
            raise self.transport.error(
                stored.gettext(
                    "The answer to the count query %(query)s holds no count: expected a number, or an object "
                    "with one of %(keys)s (it holds: %(found)s).",
                    query=query,
                    keys=", ".join(TOTAL_KEYS),
                    found=answer_outline(response.text),
                )
            )
        return total

    def get(self, target_object: str, key: str) -> dict | None:
        _method, path = split_method(target_object, "GET")
        return self._one_record(self.listing.absolute(record_path(path, key)), "get")

    def read_one(self, request: ReadRequest, key: str) -> dict | None:
        path = request.source_object.replace("{key}", quote(str(key), safe=""))
        params = [(name, str(value).replace("{key}", str(key))) for name, value in (request.arguments or {}).items()]
        return self._one_record(with_query(self.listing.absolute(path), params), "read", request.records_path)

    def _one_record(self, url: str, operation: str, records_path: str = "") -> dict | None:
        """The record at ``url`` (a bare object or a list of one, e.g. OData's value), None for a 404."""
        try:
            data = self._json(self._call("GET", url, operation=operation))
        except ConnectorError as error:
            if error.status_code == 404:
                return None
            raise
        path = self.listing.records_path(records_path)
        if isinstance(data, dict) and (not path or paths.get_path(data, path) is paths.MISSING):
            return data  # the record itself (a listing's records path is not in one record's answer)
        records = self.listing.records(data, path)
        return records[0] if records and isinstance(records[0], dict) else None

    def update(self, target_object: str, key: str, values: dict, *, envelope: dict | None = None) -> dict:
        method, path = split_method(target_object, "POST" if envelope else "PATCH")
        at = record_path(path, key) if not envelope or "{id}" in path else path
        body = enveloped(envelope, values, key)
        return self._answer(self._call(method, self.listing.absolute(at), body=body, operation="update", write=True))

    def write_batch(self, kind: str, path: str, target_object: str, writes: list[BatchWrite]) -> list[BatchOutcome]:
        """Several records in one call of the batch shape ``kind`` (:mod:`.batch`), one outcome per write."""
        return batch.write_batch(self, kind, path, target_object, writes)

    def delete(self, target_object: str, key: str) -> None:
        method, path = split_method(target_object, "DELETE")
        if method in ("PUT", "PATCH"):
            method = "DELETE"  # the update object's method (deletes go to the update object)
        retried = []
        url = self.listing.absolute(record_path(path, key))
        try:
            self._call(method, url, operation="delete", write=True, before_retry=retried.append)
        except ConnectorError as error:
            # An earlier attempt whose answer was lost did delete it: the goal is reached.
            if not (retried and error.status_code == 404):
                raise

    def test_connection(self, sample: SampleRead | None = None) -> Verdict:
        """GET what a sync would read first (:func:`.check.test_request`), once, without retries, and judge it.

        Green only for a 2xx JSON answer that did not land elsewhere (a sign-in page); a table's read
        must also hold its records where the records path says.
        """
        try:
            method, url, body, asked = check.test_request(self.listing, sample)
        except ConnectorError as error:
            return verdicts.failed(error)
        try:
            response = self._call(method, url, body=body, operation="test", retries=0)
        except ConnectorError as error:
            if error.status_code and not isinstance(error, TokenError):
                return check.status_verdict(self.transport, error, asked)
            return verdicts.failed(error)
        try:
            data = response.json()
        except ValueError:
            return check.not_data(self.transport, response, url, asked)
        try:
            # An answer that means "no records" (Omie's fault 5113) is a read that worked.
            records_path = sample.request.records_path if sample is not None and asked.table else ""
            count = 0 if response.status_code >= 400 else len(self.listing.records(data, records_path))
        except ConnectorError as error:
            if asked.table:  # a sync would stop there too
                return verdicts.unreadable(asked, error)
            count = None  # a test path or the base URL answering an object: no records to count
        milliseconds = round(response.elapsed.total_seconds() * 1000)
        return verdicts.connected(asked, response.status_code, milliseconds, count)

    # --- answers ---------------------------------------------------------------------------

    def _json(self, response):
        try:
            return response.json()
        except ValueError:
            raise not_json(self.transport, response)

    def _answer(self, response) -> dict:
        """The written record as the server answered it (unwrapped from the records path)."""
        if not response.content.strip():
            return {}
        data = self._json(response)
        path = self.config.records_path.strip()
        records = paths.get_path(data, path) if path else data
        if self.config.column_names_path and isinstance(records, dict):
            return unwrapped(records)  # Sankhya's saved record, its values wrapped as {"$": …}
        if isinstance(records, list) and len(records) == 1 and isinstance(records[0], dict):
            return records[0]
        return data if isinstance(data, dict) else {"value": data}

    # --- one call ----------------------------------------------------------------------------

    def _call(self, method: str, url: str, *, retries: int | None = None, before_retry=None, **options):
        """Send one logical call under the retry policy; every attempt is logged; raises ConnectorError."""
        exchanges = itertools.count(1)
        return self.transport.run(
            lambda attempt: self._attempt(method, url, exchanges, **options),
            retries=retries,
            before_retry=before_retry,
        )

    def _log_in(self) -> None:
        """The session login: its call with the credentials filled in; the answer's cookie stays in the session."""
        method, path = split_method(self.config.login_path, "POST")
        body = filled(self.config.login_body, self.config) or None
        self._call(method, self.listing.absolute(path), body=body, operation="login", api=False)

    def _post_token_form(self, url: str, form: dict) -> requests.Response:
        return self._call("POST", url, form=form, operation="token", api=False)

    def _post_client_form(self, url: str, form: dict, client: tuple[str, str]) -> requests.Response:
        """A token request with the client authenticated by HTTP Basic (authorization code, refresh)."""
        return self._call("POST", url, form=form, operation="token", api=False, basic=client)

    def redeem_authorization_code(self, code: str, redirect_uri: str) -> TokenAnswer:
        """The tokens the provider gives for the ``code`` its authorize page sent back to ``redirect_uri``."""
        return self.token_client.redeem(code, redirect_uri)

    def _attempt(
        self, method, url, exchanges, *, body=None, form=None, operation="", write=False, api=True, basic=None
    ):
        """One attempt: an exchange, and once more with a new token when an OAuth2 token was refused."""
        call = (body, form, operation, write, api, basic)
        response, error = self._exchange(method, url, *call, next(exchanges))
        if error is not None and error.status_code == 401 and api and self.auth.has_token:
            self.auth.forget()
            response, error = self._exchange(method, url, *call, next(exchanges))
        if error is not None:
            wait = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
            raise AttemptFailed(error, wait)
        return response

    def _exchange(self, method, url, body, form, operation, write, api, basic, number):
        """One HTTP exchange: returns (response, error), logs it as a CallRecord.

        ``basic``: the HTTP Basic credentials of a call outside the API (the token endpoint's client).
        """
        headers = self.auth.headers() if api else self.auth.token_headers() if operation == "token" else {}
        data = form
        if api and isinstance(body, dict) and self.config.body_credentials:
            body = merge_arguments(body, self.auth.body_credentials())
        if body is not None:
            data = json_text.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        auth = self.auth.basic() if api else basic
        prepared = self.session.prepare_request(requests.Request(method, url, headers=headers, data=data, auth=auth))
        if api:
            self.transport.wait_turn()
        started = _now()
        response = failure = None
        try:
            response = self.transport.send(self.session, prepared)
        except (requests.RequestException, outbound.OutboundError) as exc:
            failure = exc
        finished = _now()
        if response is not None and api:
            self.transport.heard(response.status_code, response.headers, response.content)
        if failure is not None:
            error = self.transport.describe(failure, Place(self.transport.shown(url)))
        elif response.status_code >= 400:
            no_records = operation in ("read", "test") and envelopes.no_records(response.content)
            error = (
                None
                if no_records
                else status_error(
                    self.transport, response, method, url, operation=operation, write=write, attempt=number
                )
            )
        elif refusal := envelopes.service_refusal(response.content):
            error = service_refusal_error(self.transport, refusal, method, url, write=write)
        else:
            error = None
        self.transport.record(
            prepared.method,
            prepared.url,
            operation,
            started,
            finished,
            attempt=number,
            status_code=response.status_code if response is not None else None,
            headers=prepared.headers,
            response_headers=response.headers if response is not None else None,
            request_body=prepared.body,
            response_body=response.text if response is not None else "",
            error=error.message if error is not None else "",
        )
        if failure is not None:
            shown = self.transport.shown(prepared.url)
            logger.info("%s: %s %s failed: %s", self.config.name, prepared.method, shown, error)
        return response, error


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
