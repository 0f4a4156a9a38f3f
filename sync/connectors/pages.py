"""Telling a web page from the answer that was expected.

Where an API's JSON, a WSDL or a SOAP envelope was expected, a web page may come back
instead: a sign-in form (a proxy or a portal asking to log in, a session expired), a
"not found" page served with 200, a server's home page. Such a page is neither data nor
an attack: it says the address or the credentials are wrong. Pure functions on the raw
body: whether it is an HTML page, its title, and whether it asks for a password.

An HTML page is a document whose prolog declares ``<!DOCTYPE html …>`` *without* an
internal subset, or whose first element is ``<html>``. A document type with an internal
subset (``<!DOCTYPE x [<!ENTITY …>]>``) is never taken for a page: it declares entities.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

SNIFFED_BYTES = 64 * 1024
TITLE_LIMIT = 120  # characters of a page's title kept for a message

_PROLOG = rb"(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*"
_LITERAL = rb"""(?:"[^"]*"|'[^']*')"""
_HTML_START = re.compile(
    _PROLOG
    + rb"(?:<!DOCTYPE\s+html(?:\s+(?:PUBLIC\s+"
    + _LITERAL
    + rb"(?:\s+"
    + _LITERAL
    + rb")?|SYSTEM\s+"
    + _LITERAL
    + rb"))?\s*>|<html[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h1\b[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_PASSWORD_FIELD = re.compile(r"""<input\b[^>]*\btype\s*=\s*["']?password\b""", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class WebPage:
    title: str  # the page's <title> (or its first heading), "" when it has none
    login: bool  # it holds a password field: a sign-in form


def web_page(body: bytes | str, content_type: str = "") -> WebPage | None:
    """The web page ``body`` is, or None when it is not one.

    ``content_type`` (when the caller expects JSON) counts too: markup served as ``text/html``
    that is not XML is a page even without ``<html>`` (JSON served as ``text/html`` is not).
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    head = raw[:SNIFFED_BYTES]
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    served_as_html = "html" in content_type.lower() and start[:1] == b"<" and start[:5].lower() != b"<?xml"
    if not (_HTML_START.match(head) or served_as_html):
        return None
    text = raw.decode("utf-8", errors="replace")
    return WebPage(title=_title(text), login=bool(_PASSWORD_FIELD.search(text)))


def _title(text: str) -> str:
    match = _TITLE.search(text) or _HEADING.search(text)
    if match is None:
        return ""
    words = _SPACES.sub(" ", html.unescape(_TAG.sub(" ", match.group(1)))).strip()
    return words if len(words) <= TITLE_LIMIT else f"{words[:TITLE_LIMIT]}…"
