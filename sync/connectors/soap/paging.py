"""Reading a SOAP listing page by page (``ConnectionConfig.pagination``).

- ``bookmark`` (NAV): ``bookmarkKey`` = the previous page's last record ``Key`` and
  ``setSize`` = page size, added to the arguments when the template does not place
  ``{page_token}`` / ``{page_size}`` itself.
- ``page`` / ``offset``: the template must place ``{page_token}`` (page numbers start at 1,
  offsets at 0).
- ``none``: one call.

Paging goes on until an empty page: a service that caps its pages answers "short" pages that
are not the last. (NAV's ``Last_Date_Modified`` is a date: an incremental ``>=`` re-reads the
cursor's day, which the engine's unchanged-record check absorbs; ``>`` would miss later changes
made on that day.)
"""

from __future__ import annotations

from collections.abc import Callable

from core import stored_messages as stored
from sync.choices import Pagination

from ..base import ConnectorError, ReadRequest
from .templates import incremental_arguments, mentions, merge_arguments, render_template


def first_token(pagination: str, token: str | None):
    """The page position to read: a page number, an offset, a bookmark Key (None: the first page)."""
    if pagination == Pagination.PAGE:
        return int(token) if token else 1
    if pagination == Pagination.OFFSET:
        return int(token) if token else 0
    if pagination in (Pagination.BOOKMARK, Pagination.NONE):
        return token or None
    raise ConnectorError(
        stored.gettext(
            'Pagination "%(pagination)s" does not apply to SOAP: use bookmark, page, offset or none.',
            pagination=pagination,
        )
    )


def read_arguments(
    request: ReadRequest,
    pagination: str,
    token,
    page_size: int,
    input_names: Callable[[str], list[str]],
    size: int | None = None,
) -> dict:
    """The operation's arguments for one page: ``size`` records, else the connection's ``page_size``.

    ``input_names(operation)``: the arguments an operation takes, which bookmark paging needs.
    """
    template = dict(request.arguments or {})
    if request.cursor is not None and request.incremental_filter:
        template = merge_arguments(template, incremental_arguments(request.incremental_filter))
    if page_size <= 0 and pagination != Pagination.NONE:
        raise ConnectorError(stored.gettext("The page size must be a positive number."))
    if pagination in (Pagination.PAGE, Pagination.OFFSET) and not mentions(template, {"page_token"}):
        raise ConnectorError(
            stored.gettext("With page or offset pagination the SOAP arguments must place {page_token}.")
        )
    if pagination == Pagination.BOOKMARK:
        template = _bookmark_arguments(request.source_object, template, input_names(request.source_object))
    values = {"cursor": request.cursor, "page_token": token, "page_size": size or page_size, "key": None}
    return render_template(template, values)


def _bookmark_arguments(operation: str, template: dict, names: list[str]) -> dict:
    template = dict(template)
    if not mentions(template, {"page_token"}):
        if "bookmarkKey" not in names:
            raise ConnectorError(
                stored.gettext(
                    "Bookmark pagination: %(operation)s takes no bookmarkKey; place {page_token} in the arguments.",
                    operation=operation,
                )
            )
        template["bookmarkKey"] = "{page_token}"
    if not mentions(template, {"page_size"}) and "setSize" in names:
        template["setSize"] = "{page_size}"
    return template


def next_token(pagination: str, token, records: list[dict]) -> str | None:
    """The next page's position, None after an empty page (or after the one call of ``none``)."""
    if pagination == Pagination.NONE or not records:
        return None
    if pagination == Pagination.PAGE:
        return str(token + 1)
    if pagination == Pagination.OFFSET:
        return str(token + len(records))
    bookmark = records[-1].get("Key")
    if not bookmark:
        raise ConnectorError(stored.gettext("Bookmark pagination: the records carry no Key to continue from."))
    if bookmark == token:
        raise ConnectorError(stored.gettext("Bookmark pagination: the service answered the same page again."))
    return str(bookmark)
