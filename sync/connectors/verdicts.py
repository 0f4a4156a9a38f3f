"""The words of "test connection": what was asked of a system, and what its answer proves.

A green verdict means that a sync would authenticate and read: the read a sync makes first
(or the connection's test path) answered readable data to the connection's credentials.
Everything else is red, in words that say what was asked, what came back — the remote
system's own words included — and what to check.

Pure: the connectors gather the facts (what they asked, the status, the time, the records),
these functions put them into words. Stored messages, shown in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import stored_messages as stored

from .base import ConnectorError, Verdict


@dataclass(frozen=True)
class Asked:
    """What was asked, as shown (``GET /Contacts?$top=1``), why that, and what to check when it is not there."""

    request: str
    why: stored.StoredMessage
    check: stored.StoredMessage
    table: str = ""  # the table whose first read it is, "" for anything else


def of_test_path(request: str) -> Asked:
    return Asked(request, stored.gettext("the connection's test path"), stored.gettext("the test path"))


def of_table(request: str, table: str) -> Asked:
    return Asked(
        request,
        table_read(table),
        stored.gettext("the source object of the table “%(table)s”", table=table),
        table,
    )


def of_base_url(request: str) -> Asked:
    return Asked(
        request,
        stored.gettext("the base URL: no active table reads from this connection and no test path is set"),
        stored.gettext("the base URL, or set a test path"),
    )


def table_read(table: str) -> stored.StoredMessage:
    return stored.gettext("the first read of the table “%(table)s”, one record asked", table=table)


def with_words(message: str, said: str) -> str:
    """``message``, then what the server said, when it said anything."""
    if not said:
        return message
    return stored.join(message, stored.gettext("The server said: “%(said)s”.", said=said))


def failed(error: ConnectorError) -> Verdict:
    return Verdict(False, with_words(error.message, error.detail))


# REST -------------------------------------------------------------------------------------------


def connected(asked: Asked, status: int, milliseconds: int, count: int | None = None) -> Verdict:
    words = {"request": asked.request, "why": asked.why, "status": status, "ms": milliseconds}
    if count is None:
        message = stored.gettext("Connected: %(request)s (%(why)s) answered %(status)s in %(ms)s ms.", **words)
        return Verdict(True, message)
    message = stored.ngettext(
        "Connected: %(request)s (%(why)s) answered %(status)s in %(ms)s ms with %(count)d record.",
        "Connected: %(request)s (%(why)s) answered %(status)s in %(ms)s ms with %(count)d records.",
        count,
        count=count,
        **words,
    )
    return Verdict(True, message)


def refused(asked: Asked, status: int, reason: str, credential: str, said: str) -> Verdict:
    message = stored.gettext(
        "Refused: %(request)s answered %(status)s %(reason)s — check the %(credential)s.",
        request=asked.request,
        status=status,
        reason=reason,
        credential=credential,
    )
    return Verdict(False, with_words(message, said))


def not_found(asked: Asked, said: str) -> Verdict:
    message = stored.gettext(
        "Not found: %(request)s answered 404 Not Found — check %(check)s.",
        request=asked.request,
        check=asked.check,
    )
    return Verdict(False, with_words(message, said))


def login_page(asked: Asked, credential: str, landed: str = "") -> Verdict:
    if landed:
        message = stored.gettext(
            "%(request)s was redirected to %(landed)s and landed on a login page instead of the API — "
            "check the base URL and the %(credential)s.",
            request=asked.request,
            landed=landed,
            credential=credential,
        )
    else:
        message = stored.gettext(
            "%(request)s landed on a login page (a form asking for a password) instead of the API — "
            "check the base URL and the %(credential)s.",
            request=asked.request,
            credential=credential,
        )
    return Verdict(False, message)


def web_page(asked: Asked, title: str) -> Verdict:
    words = {"request": asked.request, "check": asked.check}
    if title:
        message = stored.gettext(
            "%(request)s answered a web page (“%(title)s”) instead of the API's JSON — check %(check)s.",
            title=title,
            **words,
        )
    else:
        message = stored.gettext(
            "%(request)s answered a web page instead of the API's JSON — check %(check)s.", **words
        )
    return Verdict(False, message)


def unreadable(asked: Asked, error: ConnectorError) -> Verdict:
    """The server answered, but not what a sync can read (an error status, no JSON, no records where expected)."""
    message = stored.gettext(
        "Reached the server, but %(path)s answered: %(error)s", path=asked.request, error=error.message
    )
    return Verdict(False, message)


# SOAP -------------------------------------------------------------------------------------------


def soap_connected(address: str, port: str, operation: str, why: str, milliseconds: int, count: int) -> Verdict:
    message = stored.ngettext(
        "Connected to %(address)s (%(port)s): %(operation)s answered in %(ms)s ms with %(count)d record — %(why)s.",
        "Connected to %(address)s (%(port)s): %(operation)s answered in %(ms)s ms with %(count)d records — %(why)s.",
        count,
        address=address,
        port=port,
        operation=operation,
        ms=milliseconds,
        count=count,
        why=why,
    )
    return Verdict(True, message)


def no_table_read(operation: str) -> stored.StoredMessage:
    return stored.gettext(
        "no active table reads from this connection, so %(operation)s was asked for one record", operation=operation
    )


def soap_nothing_read(port: str, operations: int) -> Verdict:
    message = stored.gettext(
        "The WSDL loaded and %(port)s offers %(count)s operations, but nothing was read, so the credentials "
        "are untested: no active table reads from this connection and the service has no ReadMultiple "
        "that can be asked for one record.",
        port=port,
        count=operations,
    )
    return Verdict(False, message)
