"""Redaction of secrets from headers and bodies before anything is logged or stored.

Pure functions. Known secret values (a connection's password, token…) are
replaced wherever they appear; secret-looking headers, JSON/form fields and
WS-Security elements are masked by name whatever their value.

A body longer than the limit is cut by :func:`truncate`, which ends it with a marker such as
``… [1234 more characters cut]``. The marker is stored with the body, so it is written in one
fixed form that anyone reading the raw row understands; the screens show it in the reader's
language with :func:`cut_in_active_language`.
"""

import contextlib
import json
import re
from collections.abc import Iterable
from decimal import Decimal

from django.utils.translation import ngettext

from . import json_text
from .storable import repaired_text

MASK = "[redacted]"

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "user-key", "x-api-key", "api-key", "apikey", "cookie", "set-cookie"}
)
SECRET_FIELD_PATTERN = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|user[_-]?key|authorization|credential|private[_-]?key"
    r"|session[_-]?id|mgesession",  # a session id opens the system as the login did (Sankhya's jsessionid)
    re.IGNORECASE,
)
# <wsse:Password ...>x</wsse:Password>, <Password>x</Password>, <ns:Token>…; any prefix, any attributes.
_XML_SECRET_ELEMENT = re.compile(
    r"(<(?:[\w.-]+:)?(Password|Nonce|BinarySecurityToken|[\w.-]*Token|[\w.-]*Secret|ApiKey)\b[^>]*>)(.*?)(</(?:[\w.-]+:)?\2\s*>)",
    re.IGNORECASE | re.DOTALL,
)
_FORM_PAIR = re.compile(r"(^|[&?])([^=&]+)=([^&]*)")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_FIELD_PATTERN.search(name or ""))


def redact_headers(headers, extra_secret_names: Iterable[str] = ()) -> dict[str, str]:
    extra = {name.lower() for name in extra_secret_names if name}
    redacted = {}
    for name, value in dict(headers or {}).items():
        lower = name.lower()
        secret = lower in SECRET_HEADERS or lower in extra or is_secret_name(lower)
        redacted[name] = MASK if secret else str(value)
    return redacted


def _redact_json(value):
    if isinstance(value, dict):
        return {key: (MASK if is_secret_name(str(key)) else _redact_json(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    return value


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    """Mask secret fields of a JSON, XML or form-encoded body, then every known secret value."""
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # NUL characters (a UTF-16 body read as UTF-8) fit no database text column, and hide secrets between them.
    text = text.replace("\x00", "")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            # Numbers are read as decimals and written back as they were: 129.90 stays 129.90 in a request log.
            text = json_text.dumps(_redact_json(json.loads(text, parse_float=Decimal)), spaced=True)
    elif stripped.startswith("<"):
        text = _XML_SECRET_ELEMENT.sub(lambda m: f"{m.group(1)}{MASK}{m.group(4)}", text)
    elif "=" in text and "\n" not in text.strip():
        text = _FORM_PAIR.sub(
            lambda m: f"{m.group(1)}{m.group(2)}={MASK if is_secret_name(m.group(2)) else m.group(3)}", text
        )
    for secret in sorted({s for s in known_secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return repaired_text(text)[0]  # a lone UTF-16 half (written out of a JSON escape) fits no database


def redact_url(url: str, known_secrets: Iterable[str] = ()) -> str:
    """Mask user:password@ and secret-looking query parameters of a URL."""
    url = re.sub(r"//[^/@\s]+:[^/@\s]*@", f"//{MASK}@", url or "")
    if "?" in url:
        base, query = url.split("?", 1)
        query = _FORM_PAIR.sub(
            lambda m: f"{m.group(1)}{m.group(2)}={MASK if is_secret_name(m.group(2)) else m.group(3)}", query
        )
        url = f"{base}?{query}"
    for secret in sorted({s for s in known_secrets if s}, key=len, reverse=True):
        url = url.replace(secret, MASK)
    return url


_CUT_MARKER = re.compile(r"… \[(\d+) more characters cut\]\Z")


def truncate(text: str, limit: int) -> str:
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def cut_in_active_language(text: str) -> str:
    """``text`` with the marker that :func:`truncate` ends it with, if any, in the active language."""
    match = _CUT_MARKER.search(text or "")
    if match is None:
        return text
    count = int(match[1])
    marker = ngettext("[%(count)d more character cut]", "[%(count)d more characters cut]", count) % {"count": count}
    return f"{text[: match.start()]}… {marker}"
