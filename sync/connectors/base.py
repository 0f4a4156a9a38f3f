"""The one small interface every port kind implements.

Connectors never import models: they receive a :class:`ConnectionConfig`
(plain values, secrets included) and report every call they make through a
``call_log`` callback as a :class:`CallRecord` that is already redacted and
truncated. Every failure is a :class:`ConnectorError` carrying ``retryable``
and a message a user understands: a stored message (:mod:`core.stored_messages`), so
that a run's error or a request log keeps it untranslated and shows it in the reader's
language, the remote system's own words kept as they came.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core import stored_messages as stored

SECRET_CONFIG_FIELDS = (
    "password",
    "token",
    "api_key",
    "client_secret",
    "refresh_token",
    "access_token",
    "private_key",
)
# Settings whose blank value means "none" and stays None in a ConnectionConfig.
NULLABLE_CONFIG_FIELDS = ("rate_limit_per_minute", "daily_call_limit", "result_cap")
# The longest wait between two attempts of a call, in seconds (a longer Retry-After waits this long).
LONGEST_RETRY_WAIT = 60


@dataclass(frozen=True)
class ConnectionConfig:
    """How to reach one system; built from a ``sync.models.Connection``."""

    name: str
    kind: str  # sync.choices.ConnectionKind value
    base_url: str = ""
    wsdl_url: str = ""
    wsdl_document: str = ""
    soap_service: str = ""
    soap_port: str = ""
    endpoint_url: str = ""
    auth_kind: str = "none"  # sync.choices.AuthKind value
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    api_key_header: str = ""
    api_key: str = field(default="", repr=False)
    oauth_authorize_url: str = ""
    oauth_token_url: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    oauth_scope: str = ""
    token_headers: dict = field(default_factory=dict)  # headers of the token call, credentials filled in (X-Token)
    login_path: str = ""  # session login: "POST /path" of the call that opens a session
    login_body: dict = field(default_factory=dict)  # its JSON body, {username} and {password} filled in
    body_credentials: dict = field(default_factory=dict)  # merged into every JSON body sent (Omie's app_key…)
    # OAuth2 authorization code: the tokens stored when the config was built (redacted; a TokenStore keeps them).
    refresh_token: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    pagination: str = "none"  # sync.choices.Pagination value
    page_size: int = 100
    page_parameter: str = ""  # the query parameter of the page number, offset or cursor; blank: the style's
    size_parameter: str = ""  # the query parameter of the page size; blank: the style's
    next_path: str = ""  # where an answer holds the next link or cursor; blank: the usual places
    # REST: the most results one query pages through (HubSpot's search: 10,000); None: no limit. See .rest.slices.
    result_cap: int | None = None
    records_path: str = ""
    column_names_path: str = ""  # where an answer names the columns of positional rows (Sankhya's f0…fN)
    test_path: str = ""  # REST: what "test connection" reads, relative to base_url; blank: see test_connection
    timeout_seconds: float = 30
    max_retries: int = 3
    rate_limit_per_minute: int | None = None
    # Calls per calendar day (the portal's time zone) the API allows these credentials; None: no quota.
    daily_call_limit: int | None = None
    # How many calls to this system may be in flight at once while a table writes to it (1: one at a time).
    max_in_flight: int = 1
    verify_tls: bool = True
    # The longest wait between two attempts (a longer Retry-After is cut to it), and the base of the backoff.
    max_retry_after_seconds: float = LONGEST_RETRY_WAIT
    backoff_seconds: float = 0.5
    # Bodies kept in a CallRecord are cut to this many characters after redaction.
    body_limit: int = 20_000
    # A connection of kind file (sync.models.file_settings): where its folders are and how its files read.
    file_location: str = "local"  # sync.choices.FileLocation value
    file_folder: str = ""
    file_processed_folder: str = ""
    file_failed_folder: str = ""
    file_format: str = "csv"  # sync.choices.FileFormat value
    file_encoding: str = "auto"  # sync.choices.FileEncoding value; auto: detected
    file_delimiter: str = "auto"  # sync.choices.FileDelimiter value; auto: detected
    file_decimal_comma: bool = True
    file_number_columns: str = ""  # "total, discount"
    file_header_row: int = 1
    file_sheet: str = ""
    file_layout: list = field(default_factory=list)
    file_skip_lines: int = 0
    sftp_host: str = ""
    sftp_port: int = 22
    sftp_host_key: str = ""
    private_key: str = field(default="", repr=False)

    @classmethod
    def from_model(cls, connection, **overrides) -> ConnectionConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: getattr(connection, name) for name in names if hasattr(connection, name)}
        values = {
            name: ("" if value is None and name not in NULLABLE_CONFIG_FIELDS else value)
            for name, value in values.items()
        }
        return cls(**{**values, **overrides})

    def secrets(self) -> list[str]:
        """The secret values of this config (for redaction), non-empty only."""
        return [value for value in (getattr(self, name) for name in SECRET_CONFIG_FIELDS) if value]


@dataclass(frozen=True)
class ReadRequest:
    """What to read from the source side of a table."""

    source_object: str  # REST path such as /Contacts, or a SOAP operation such as ReadMultiple
    cursor: str | None = None  # last committed incremental cursor value, None on the first run
    page_token: str | None = None  # the previous Page.next_token, None for the first page
    incremental_filter: str = ""  # e.g. "$filter=LastUpdateDate gt {cursor}" (REST) or "Last_Date_Modified" filter
    arguments: dict[str, Any] = field(default_factory=dict)  # extra fixed arguments/query parameters
    records_path: str = ""  # where this read's answer holds its records; blank: the connection's records path
    cursor_field: str = ""  # the table's incremental cursor field (a read in slices starts each from its value)
    record_key: str = ""  # the table's record key (a read in slices leaves out the records it delivered)

    @classmethod
    def for_table(cls, table, *, cursor: str | None = None, page_token: str | None = None) -> ReadRequest:
        """The read a ``sync.models.SyncTable`` makes: its source object, arguments, filter and records path."""
        return cls(
            source_object=table.source_object,
            cursor=cursor,
            page_token=page_token,
            incremental_filter=table.incremental_filter,
            arguments=table.read_arguments or {},
            records_path=table.records_path.strip(),
            cursor_field=table.cursor_field.strip(),
            record_key=table.record_key.strip(),
        )


@dataclass(frozen=True)
class SampleRead:
    """The first read a sync makes from a connection: its first active table reading from it."""

    table: str  # the table's name, for the verdict
    request: ReadRequest  # its read, without a cursor: the first page


@dataclass
class Page:
    records: list[dict]
    next_token: str | None = None  # None: this was the last page
    total: int | None = None  # how many records the whole listing has, when the API says (OData $count…)


# The headers of an answer a CallRecord keeps: the server's clock and the rate limits it announces.
RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-hubspot-ratelimit-max",
    "x-hubspot-ratelimit-remaining",
    "x-hubspot-ratelimit-interval-milliseconds",
    "x-hubspot-ratelimit-daily",
    "x-hubspot-ratelimit-daily-remaining",
)
RESPONSE_HEADERS_KEPT = frozenset(("date", "retry-after", *RATE_LIMIT_HEADERS))


@dataclass
class CallRecord:
    """One call made, already redacted and truncated: safe to store as a RequestLog."""

    method: str  # HTTP method, or "SOAP"
    url: str
    operation: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int = 1
    status_code: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    response_body: str = ""
    error: str = ""
    # The answer's clock and rate-limit headers (RESPONSE_HEADERS_KEPT), for the connection doctor; never stored.
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The answer of "test connection", in words for the user."""

    ok: bool
    message: str


class ConnectorError(Exception):
    """Any failure talking to an outside system.

    ``retryable``: trying again later may succeed (timeouts, 429, 5xx, dropped
    connections). ``record_level``: the failure concerns one record (a validation
    error, a SOAP fault such as UnknownCustomer) and the run can go on. ``detail``: what
    the remote system itself said (an error body's message, a page's title), redacted,
    when ``message`` does not already hold it.
    """

    def __init__(
        self, message: str, *, retryable: bool = False, record_level: bool = False, status_code=None, detail: str = ""
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.record_level = record_level
        self.status_code = status_code
        self.detail = detail

    def __str__(self):
        return self.message


class QuotaReached(ConnectorError):
    """The connection's quota is spent until ``until`` (epoch seconds): no call may go before then.

    Raised before a call would exceed a quota (the daily call limit, or an API that said its daily
    budget is spent), never after: the run stops where it is and resumes when the quota is back.
    ``message`` says which quota, e.g. "daily quota reached".
    """

    def __init__(self, message: str, *, until: float):
        super().__init__(message, retryable=True)
        self.until = until


@dataclass(frozen=True)
class BatchWrite:
    """One record of a batch write: created, updated (``target_key``) or upserted by ``key_field``."""

    operation: str  # "create", "update" or "upsert"
    values: dict
    target_key: str = ""  # the record to update
    key_field: str = ""  # the target field that identifies the record (upsert; the lookup of a create)
    key_value: Any = None


@dataclass
class BatchOutcome:
    """What the target did with one :class:`BatchWrite`: the record it answered, or its own refusal."""

    record: dict | None = None
    error: ConnectorError | None = None


CallLog = Callable[[CallRecord], None]


class Connector(ABC):
    def __init__(self, config: ConnectionConfig, call_log: CallLog | None = None):
        self.config = config
        self.call_log = call_log or (lambda record: None)

    @property
    def max_in_flight(self) -> int:
        """How many of this connector's calls may run at once (its connection's setting; 1 without one)."""
        return self.config.max_in_flight if self.config is not None else 1

    @abstractmethod
    def read_page(self, request: ReadRequest) -> Page:
        """One page of source records changed since ``request.cursor``."""

    @abstractmethod
    def find(self, target_object: str, key_field: str, key_value: str) -> dict | None:
        """The target record whose ``key_field`` equals ``key_value``, or None."""

    def can_find(self, target_object: str, key_field: str) -> bool:
        """Whether ``find`` can look ``target_object`` up by ``key_field`` (a SOAP create operation may not)."""
        return True

    def get(self, target_object: str, key: str) -> dict | None:
        """The target record ``key`` as it is now (``target_object`` may hold ``{id}``); None when unknown.

        Used to see what people changed in the target since the portal last wrote a record.
        A connector that cannot read one record answers None, and no conflict is looked for.
        """
        return None

    def count(self, query: str) -> int:
        """How many records the system says it holds, asked by ``query``: a read relative to the connection.

        E.g. ``Contacts?$filter=TypeId eq 1&$count=true&$top=0``; compared after a run with the links the
        portal holds. A connector that cannot count refuses.
        """
        raise ConnectorError(stored.gettext("This connection cannot count records."))

    def read_one(self, request: ReadRequest, key: str) -> dict | None:
        """One source record by ``key`` (``{key}`` in the path or the arguments), None when it does not exist.

        For tables that read one record per link of another table (an order's status by its number).
        """
        raise ConnectorError(stored.gettext("This connection cannot read one record at a time."))

    @abstractmethod
    def create(self, target_object: str, values: dict, *, key_field: str = "", envelope: dict | None = None) -> dict:
        """Create a record; returns the target's answer (which holds its key).

        ``envelope``: the body template the record goes in (a table's write body), None: the record itself.

        A create is never blindly retried: when ``key_field`` is given and an
        attempt fails in a retryable way, the connector first looks the record
        up by ``values[key_field]`` (``find``) and returns it if the failed
        attempt did create it; without a key the failure is final (a 429, refused
        before any work, is sent again). See :meth:`.transport.Transport.create`.
        """

    @abstractmethod
    def update(self, target_object: str, key: str, values: dict, *, envelope: dict | None = None) -> dict:
        """Update the record ``key``; ``target_object`` may hold a ``{id}`` template; ``envelope`` as for a create."""

    def write_batch(self, kind: str, path: str, target_object: str, writes: list[BatchWrite]) -> list[BatchOutcome]:
        """Send ``writes`` in one call of the batch operation ``kind`` (``sync.choices.BatchKind``) at ``path``.

        Returns one outcome per write, in order; a write the target refused carries its own reason
        (a record-level :class:`ConnectorError`). A failure of the whole call raises. Creates are never
        sent twice blindly: before a failed batch is sent again, its creates are looked up by key.
        """
        raise ConnectorError(stored.gettext("This connection cannot write in batches."))

    @abstractmethod
    def delete(self, target_object: str, key: str) -> None:
        """Delete the record ``key``."""

    def finish_writes(self) -> None:  # noqa: B027 - optional hook
        """Complete what a table's writes left pending, once its records are all through (a file is written)."""

    @abstractmethod
    def test_connection(self, sample: SampleRead | None = None) -> Verdict:
        """Authenticate and read as a sync would, once and without retries, and say what happened, in words.

        ``sample`` is the first read a sync makes from this connection, asked here for one record;
        None when no active table reads from it. Green only when the read answered readable data.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release pooled connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
