"""The keys records are logged under, and the cursor a table has reached."""

import re
from datetime import datetime

from core import stored_messages as stored

from ..mapping import MISSING, is_empty, values_hash

KEY_LENGTH = 200  # RecordError.record_key, RecordEvent.record_key
PAYLOAD_DIGEST_LENGTH = 8
_DAY_FIRST = re.compile(r"(\d{2})/(\d{2})/(\d{4})(?:\s+(\d{2}:\d{2}(?::\d{2})?))?")


def key_text(value) -> str:
    """A record's key as text; blank when the record has none."""
    return "" if value is MISSING or is_empty(value) else str(value)


def bad_record_key(placeholder: str, payload) -> str:
    """The review-queue key of a record that has no key of its own: ``(no CNPJ) 3f2a9c1b``.

    The placeholder says why; a short hash of the payload tells such records apart (each keeps its
    own entry and payload) and finds the same entry again when the same record fails on a later run.
    A key, not a message: the same words whoever runs it (the portal's language).
    """
    digest = values_hash(payload)[:PAYLOAD_DIGEST_LENGTH]
    return f"{placeholder[: KEY_LENGTH - PAYLOAD_DIGEST_LENGTH - 1]} {digest}"


def no_key(key_field: str, payload) -> str:
    """The key of a record without a value in its key field ``key_field``."""
    return bad_record_key(stored.gettext("(no %(field)s)", field=key_field).text, payload)


def placeholder_key(key_field: str, key: str, record) -> str:
    """The key a record is logged under when its own cannot be one (none, or too long)."""
    if not key:
        return no_key(key_field, record)
    return bad_record_key(key[:40] + "…", record)


def later(current: str | None, value) -> str | None:
    """The later of two cursor values.

    ISO timestamps and zero-padded numbers compare as text; day-first dates (``05/12/2026`` or
    ``05/12/2026 10:20:30``, as Sankhya, Omie and other Brazilian APIs write them) compare as dates.
    """
    if value is MISSING or is_empty(value):
        return current
    text = str(value)
    return text if not current or _order(text) > _order(current) else current


def _order(text: str):
    """What a cursor value is compared by: its day-first date turned year-first, or the text itself."""
    match = _DAY_FIRST.fullmatch(text.strip())
    if match is None:
        return text
    day, month, year, time = match.groups()
    return f"{year}-{month}-{day} {time or ''}"


def cursor_at_start(table, now: datetime) -> str:
    """The cursor a read of ``table`` starting at ``now`` starts from: the committed one, or the clock's.

    Records with a cursor field move it on as they are read. A table with a clock cursor (Bling's lists
    carry no change date) keeps the time its read started, less the overlap, in the source's zone and
    format: what changes from then on, during the read included, is read again by the next run.
    """
    return table.clock_cursor(now) if table.cursor_clock_format else table.cursor_value
