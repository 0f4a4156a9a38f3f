"""Reading a REST listing page by page: the URL of each page, its records, and the next page's token.

``Page.next_token`` holds what the next request needs: the next page number (page+size), the
next offset (offset+limit), the next ``$skip`` (OData; or the ``@odata.nextLink`` URL when the
server pages by itself), the next link URL (next-link), or the server's cursor (cursor). Paging
goes on until an empty page or the API's own "no more" (a total reached, a ``hasMore: false``…);
link and cursor styles stop when the answer carries no link or an empty cursor.

A page whose records are not a list, or hold no object at all, is a run error (the records path
is wrong); a stray non-object among objects is passed on, for the engine to put in the review
queue with its payload.
"""

from __future__ import annotations

from urllib.parse import urljoin

from core import stored_messages as stored
from sync import paths
from sync.choices import Pagination

from ..base import ConnectorError, ReadRequest
from ..templates import json_object, mentions, render_template, with_filter
from ..transport import Transport
from .columns import column_names, named_rows
from .queries import (
    first_value,
    has,
    incremental_params,
    merge_filters,
    odata_next_skip,
    origin,
    outline,
    reported_total,
    says_no_more,
    split_method,
    with_query,
)

LINK_PAGINATIONS = (Pagination.NEXT_LINK, Pagination.ODATA)
BODY_PAGINATIONS = (Pagination.PAGE, Pagination.OFFSET, Pagination.CURSOR)
PAGE_PLACEHOLDERS = ("page", "page_index", "offset", "page_token")


class Listing:
    """The paging of one REST connection."""

    # Query parameter names of each pagination style.
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

    def __init__(self, transport: Transport):
        self.transport = transport
        self.config = transport.config
        config = self.config
        if config.page_parameter:
            self.page_param = self.offset_param = self.cursor_param = config.page_parameter
        if config.size_parameter:
            self.size_param = self.limit_param = config.size_parameter
        if config.next_path:
            self.next_link_paths = self.cursor_paths = (config.next_path,)

    def request(self, request: ReadRequest, size: int | None = None) -> tuple[str, str, dict | None]:
        """The method, URL and body of one page: a GET with the paging in the query, or a POST with it in the body."""
        method, path = split_method(request.source_object, "GET")
        if method == "POST":
            return method, self.absolute(path), self.body(request, size)
        return "GET", self.url(request, size), None

    def body(self, request: ReadRequest, size: int | None = None) -> dict:
        """The body of a read by POST: the read arguments as a template (:mod:`..templates`), the incremental
        filter (a JSON object) merged in when there is a cursor, and the page placed where the template says."""
        template = dict(request.arguments or {})
        cursor = request.cursor if request.cursor not in (None, "") else None
        if cursor is not None and request.incremental_filter:
            extra = json_object(request.incremental_filter)
            if extra is None:
                raise self.transport.error(
                    stored.gettext(
                        "A read by POST takes its incremental filter as a JSON object merged into the body, "
                        'e.g. {"param[0].filtrar_por_data_de": "{cursor}"}.'
                    )
                )
            template = with_filter(template, extra)
        pagination, token = self.config.pagination, request.page_token
        if pagination in LINK_PAGINATIONS:
            raise self.transport.error(
                stored.gettext(
                    "A read by POST pages by a number, an offset or a cursor in its body: choose one of those "
                    "paginations."
                )
            )
        if pagination in BODY_PAGINATIONS and not mentions(template, set(PAGE_PLACEHOLDERS)):
            raise self.transport.error(
                stored.gettext(
                    "A read by POST with paging must place the page in its body: {page}, {page_index}, "
                    "{offset} or {page_token}."
                )
            )
        page = int(self._number(token, 1)) if pagination == Pagination.PAGE else None
        values = {
            "cursor": cursor,
            "page_token": token,
            "page": page,
            "page_index": page - 1 if page else None,
            "offset": int(self._number(token, 0)) if pagination == Pagination.OFFSET else None,
            "page_size": size or self.config.page_size,
            "key": None,
        }
        return render_template(template, values)

    def url(self, request: ReadRequest, size: int | None = None) -> str:
        """The URL of one page; ``size`` records instead of the connection's page size when given."""
        token = request.page_token
        if token and self.config.pagination in LINK_PAGINATIONS and not token.isdigit():
            return self._checked_link(token)
        params = [(str(name), str(value)) for name, value in request.arguments.items()]
        if request.cursor not in (None, "") and request.incremental_filter:
            params = merge_filters(params, incremental_params(request.incremental_filter, request.cursor))
        params += self._paging_params(token, size)
        return with_query(self.absolute(request.source_object), params)

    def absolute(self, path: str) -> str:
        """``path`` under the base URL; a full http(s) URL as it is."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    def records(self, data, records_path: str = "") -> list[dict]:
        """The records of an answer, at the records path (rows named by the answer's columns, when it names them).

        ``records_path`` is the read's own (a table's); blank: the connection's.
        """
        path = self.records_path(records_path)
        records = paths.get_path(data, path) if path else data
        if self.config.column_names_path and (
            records is not paths.MISSING or isinstance(self._records_holder(data, path), dict)
        ):
            if records is None or records is paths.MISSING:
                return []  # no row: Sankhya leaves the rows' key out
            try:
                return named_rows(records, column_names(data, self.config.column_names_path))
            except ConnectorError as error:
                raise self.transport.error(error.message) from None
        if records is paths.MISSING:
            raise self.transport.error(
                stored.gettext(
                    "The response has no %(path)s: check the records path (the response holds: %(keys)s).",
                    path=path,
                    keys=outline(data),
                )
            )
        if records is None:
            return []
        if isinstance(records, dict):
            raise self.transport.error(
                stored.gettext(
                    "The response is an object, not a list of records: check the records path (it holds: %(keys)s).",
                    keys=outline(records),
                )
            )
        if not isinstance(records, list) or (records and not any(isinstance(record, dict) for record in records)):
            raise self.transport.error(
                stored.gettext("The records in the response are not a list of objects: check the records path.")
            )
        # A stray non-object among records is kept: the engine puts it in the review queue with its payload.
        return records

    def next_token(self, request: ReadRequest, data, records: list[dict], response) -> str | None:
        """The next page, until an empty page or the API's own "no more" (never a short page alone).

        Servers cap their pages whatever is asked (Ploomes answers at most 300 records for a $top of 500):
        a page shorter than the page size is no proof that it was the last.
        """
        pagination = self.config.pagination
        if pagination == Pagination.NEXT_LINK or (pagination == Pagination.ODATA and has(data, "@odata.nextLink")):
            return self._next_link(data, response)
        if pagination == Pagination.CURSOR:
            return self._next_cursor(data, request.page_token)
        if pagination not in (Pagination.ODATA, Pagination.PAGE, Pagination.OFFSET) or not records:
            return None
        if says_no_more(data) or says_no_more(self._records_holder(data, self.records_path(request.records_path))):
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

    def records_path(self, records_path: str = "") -> str:
        """Where answers hold their records: the read's own path, else the connection's."""
        return records_path.strip() or self.config.records_path.strip()

    @staticmethod
    def _records_holder(data, records_path: str):
        """The object that holds the records (Sankhya says ``hasMoreResult`` beside them, not at the top)."""
        parent = records_path.rpartition(".")[0]
        return paths.get_path(data, parent) if parent else None

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
            raise self.transport.error(stored.gettext("The page token %(token)s is not a number.", token=token))
        return token

    def _next_link(self, data, response) -> str | None:
        link = response.links.get("next", {}).get("url") or first_value(data, self.next_link_paths)
        if isinstance(link, dict):  # {"href": "..."} (HAL, JSON:API)
            link = link.get("href")
        if not link:
            return None
        absolute = urljoin(response.url, str(link))
        if absolute == response.url:
            raise self.transport.error(
                stored.gettext(
                    "The server sent the same next link again (%(url)s): stopping.", url=self.transport.shown(absolute)
                )
            )
        return absolute

    def _next_cursor(self, data, sent: str | None) -> str | None:
        cursor = first_value(data, self.cursor_paths)
        if cursor is None:
            return None
        if str(cursor) == sent:
            raise self.transport.error(stored.gettext("The server sent the same cursor again: stopping."))
        return str(cursor)

    def _checked_link(self, link: str) -> str:
        """A next link, refused when it leads to another server (our credentials would go there)."""
        absolute = urljoin(self.config.base_url, link)
        if origin(absolute) != origin(self.config.base_url):
            raise self.transport.error(
                stored.gettext(
                    "The next link leads to another server (%(url)s): refusing to send the credentials there.",
                    url=self.transport.shown(absolute),
                )
            )
        return absolute
