"""Pure helpers of the REST connector: URLs, OData queries, totals and "no more" flags in answers."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from core import stored_messages as stored
from core.redaction import truncate
from sync import paths

WRITE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Where APIs report how many records a listing has, and whether more pages follow.
TOTAL_KEYS = ("@odata.count", "total", "totalCount", "total_count", "total_de_registros", "count")
MORE_KEYS = ("hasMoreResult", "has_more", "hasMore", "more")


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


def answer_outline(body: str) -> str:
    """What an answer without a count holds, in a few words: its keys, or the start of its text."""
    try:
        data = json.loads(body)
    except ValueError:
        return truncate(body.strip(), 80) or stored.gettext("(an empty body)")
    return outline(data)


def outline(data) -> str:
    """The keys of an object (the first ten), or the kind of value it is."""
    if isinstance(data, dict):
        return ", ".join(list(map(str, data))[:10]) or "{}"
    return type(data).__name__


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


def first_value(data, places):
    """The first non-empty value found at one of the paths ``places`` (dotted, see :mod:`sync.paths`), or None."""
    for place in places:
        value = paths.get_path(data, place)
        if value is not paths.MISSING and value not in (None, ""):
            return value
    return None


def has(data, key: str) -> bool:
    return isinstance(data, dict) and bool(data.get(key))


def url_path(url: str) -> str:
    """The path of ``url``, without a trailing slash: ``/login`` and ``/login/`` are one page."""
    return urlsplit(url).path.rstrip("/")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
