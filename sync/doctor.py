"""The connection doctor: beyond "test connection", what a first sync will meet, and what to fix.

Each check is a :class:`Finding` (ok, warning, problem, or not checked) with what it found and, when
something is wrong, what to change:

1. **Authentication and the first read**: the test connection's verdict (a sync's first read, once).
2. **One page of data** for each active table reading from the connection: how many records the first
   page holds, and whether they carry the table's record key.
3. **The incremental field** of each table that has one: present in the records, and the source accepts
   the table's incremental read from the newest value (the next run's read).
4. **The clock**: the server's ``Date`` against the portal's; a difference over a minute makes
   date-based incremental reads miss or repeat records.
5. **Rate limits**: the limit headers the API sends (``X-RateLimit-*``, ``RateLimit-*``,
   ``X-HubSpot-RateLimit-*``) against the connection's own rate limit and daily limit.

It reads only (as a sync's reads and the test connection do), through the connection's rate budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import budgets, oauth_tokens
from .connection_check import sample_read
from .connectors import connector_for
from .connectors.base import RATE_LIMIT_HEADERS, CallRecord, ConnectionConfig, ConnectorError, ReadRequest
from .mapping import MISSING, get_path, is_empty
from .models import Connection, SyncTable
from .steps.keys import later

OK, WARNING, PROBLEM, NOT_CHECKED = "ok", "warning", "problem", "not_checked"
STATUS_WORDS = {
    OK: gettext_lazy("OK"),
    WARNING: gettext_lazy("Warning"),
    PROBLEM: gettext_lazy("Problem"),
    NOT_CHECKED: gettext_lazy("Not checked"),
}
CLOCK_TOLERANCE = timedelta(seconds=60)
MOST_TABLES = 10  # tables whose first page is read


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    says: str
    fix: str = ""

    @property
    def status_words(self) -> str:
        return str(STATUS_WORDS[self.status])


def examine(connection: Connection, now: datetime | None = None) -> list[Finding]:
    """What the doctor finds on ``connection``, check by check."""
    calls: list[CallRecord] = []
    config = ConnectionConfig.from_model(connection)
    try:
        with connector_for(
            config,
            call_log=calls.append,
            budget=budgets.for_connection(connection),
            tokens=oauth_tokens.for_connection(connection),
        ) as connector:
            verdict = connector.test_connection(sample_read(connection))
            findings = [Finding(_("Authentication and the first read"), OK if verdict.ok else PROBLEM, verdict.message)]
            if not verdict.ok:
                return [*findings, *not_checked()]
            for table in connection.reading_tables()[:MOST_TABLES]:
                findings += check_table(connector, table)
    except ConnectorError as error:
        return [Finding(_("Authentication and the first read"), PROBLEM, error.message), *not_checked()]
    answered = [call for call in calls if call.status_code is not None]
    return [*findings, check_clock(answered, now or timezone.now()), check_limits(connection, answered)]


def not_checked() -> list[Finding]:
    reason = _("Not checked: the first read must work first.")
    return [Finding(name, NOT_CHECKED, reason) for name in (_("One page of data"), _("Clock"), _("Rate limits"))]


def check_table(connector, table: SyncTable) -> list[Finding]:
    """One page of the table's source, its record key, and its incremental read."""
    name = _("One page of data: %(table)s") % {"table": table.name}
    request = ReadRequest.for_table(table)
    try:
        page = connector.read_page(request)
    except ConnectorError as error:
        return [Finding(name, PROBLEM, error.message, _("Check the table's source object and read arguments."))]
    records = [record for record in page.records if isinstance(record, dict)]
    if not records:
        fix = _("Check the source object, the read arguments and the connection's records path.")
        return [Finding(name, WARNING, _("The first page holds no record."), fix)]
    keyless = sum(1 for record in records if is_empty(get_path(record, table.record_key)))
    says = _("The first page holds %(count)d records.") % {"count": len(records)}
    if keyless:
        fix = _('Check the record key "%(key)s": the field the source sends under that path.') % {
            "key": table.record_key
        }
        problem = _("%(keyless)d of them have no value in the record key %(key)s.") % {
            "keyless": keyless,
            "key": table.record_key,
        }
        return [Finding(name, PROBLEM, f"{says} {problem}", fix), *check_cursor(connector, table, request, records)]
    return [Finding(name, OK, says), *check_cursor(connector, table, request, records)]


def check_cursor(connector, table: SyncTable, request: ReadRequest, records: list[dict]) -> list[Finding]:
    if table.cursor_clock_format:
        return [check_clock_cursor(connector, table)]
    if not table.cursor_field:
        return []
    name = _("Incremental field: %(table)s") % {"table": table.name}
    values = [get_path(record, table.cursor_field) for record in records]
    present = [value for value in values if value is not MISSING and not is_empty(value)]
    if not present:
        says = _('No record of the first page has a value in "%(field)s": the cursor would never move.') % {
            "field": table.cursor_field
        }
        return [Finding(name, PROBLEM, says, _("Choose the field the source changes on every update."))]
    newest = None
    for value in present:
        newest = later(newest, value)
    incremental = ReadRequest.for_table(table, cursor=str(newest))
    try:
        connector.read_page(incremental)
    except ConnectorError as error:
        fix = _("Check the table's incremental filter against the API's documentation.")
        return [Finding(name, PROBLEM, _("The incremental read was refused: %(error)s") % {"error": error}, fix)]
    says = _("The records carry %(field)s (newest on the first page: %(value)s); the incremental read works.") % {
        "field": table.cursor_field,
        "value": newest,
    }
    return [Finding(name, OK, says)]


def check_clock_cursor(connector, table: SyncTable) -> Finding:
    """A table whose cursor is the clock: the read the next run would make, from the time a run would start now."""
    name = _("Incremental read from the clock: %(table)s") % {"table": table.name}
    since = table.clock_cursor(timezone.now())
    try:
        connector.read_page(ReadRequest.for_table(table, cursor=since))
    except ConnectorError as error:
        fix = _("Check the table's incremental filter and the clock cursor's format against the API's documentation.")
        return Finding(name, PROBLEM, _("The incremental read was refused: %(error)s") % {"error": error}, fix)
    return Finding(name, OK, _("The read of what changed since %(since)s works.") % {"since": since})


def check_clock(calls: list[CallRecord], now: datetime) -> Finding:
    name = _("Clock")
    for call in reversed(calls):
        date = _header(call, "date")
        if not date:
            continue
        try:
            server = parsedate_to_datetime(date).astimezone(UTC)
        except (TypeError, ValueError):
            continue
        answered = call.finished_at or now
        difference = server - answered
        if abs(difference) <= CLOCK_TOLERANCE:
            return Finding(name, OK, _("The server's clock and the portal's agree within a minute."))
        minutes = round(abs(difference).total_seconds() / 60)
        if difference > timedelta(0):
            says = _("The server's clock is %(minutes)d minutes ahead of the portal's.") % {"minutes": minutes}
        else:
            says = _("The server's clock is %(minutes)d minutes behind the portal's.") % {"minutes": minutes}
        fix = _(
            "Incremental reads by date may miss or repeat records: set the server's or the portal's clock right "
            "(NTP), or read by a counter instead of a date."
        )
        return Finding(name, WARNING, says, fix)
    return Finding(name, NOT_CHECKED, _("The server sends no Date header."))


def check_limits(connection: Connection, calls: list[CallRecord]) -> Finding:
    name = _("Rate limits")
    announced = {}
    for call in calls:
        for header in RATE_LIMIT_HEADERS:
            value = _header(call, header)
            if value:
                announced[header] = value
    own = _("this connection allows %(rate)s calls a minute and %(daily)s a day") % {
        "rate": connection.rate_limit_per_minute or _("unlimited"),
        "daily": connection.daily_call_limit or _("unlimited"),
    }
    if not announced:
        says = _("The API sends no rate-limit headers; %(own)s.") % {"own": own}
        fix = "" if connection.rate_limit_per_minute else _("Set the rate limit from the API's documentation.")
        return Finding(name, OK if not fix else WARNING, says, fix)
    shown = ", ".join(f"{header}: {value}" for header, value in announced.items())
    says = _("The API announces %(headers)s; %(own)s.") % {"headers": shown, "own": own}
    if not connection.rate_limit_per_minute:
        fix = _("Set the connection's rate limit (calls per minute) within what the API announces.")
        return Finding(name, WARNING, says, fix)
    return Finding(name, OK, says)


def _header(call: CallRecord, name: str) -> str:
    return next((value for key, value in call.response_headers.items() if key.lower() == name), "")
