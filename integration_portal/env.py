"""Strict parsing of the environment variables that configure the portal.

Every reader accepts ``NAME`` or, for secrets kept in files (Docker/Kubernetes
secrets), ``NAME_FILE`` holding a path whose content is the value. A value that
cannot be parsed stops the portal with a message naming the variable.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def get_str(name, default=None, environ=None):
    """Return the raw value of ``name`` (or the content of ``name_FILE``), or ``default``."""
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value is not None and value != "":
        return value
    path = environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {path!r}, which cannot be read: {exc.strerror}."
            ) from exc
    return default


def get_bool(name, default=False, environ=None):
    value = get_str(name, environ=environ)
    if value is None:
        return default
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {', '.join(sorted(TRUE_WORDS | FALSE_WORDS))}; got {value!r}.")


def get_int(name, default, minimum=None, environ=None):
    value = get_str(name, environ=environ)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    return number


def get_list(name, default=(), environ=None):
    """A comma-separated list, blanks dropped."""
    value = get_str(name, environ=environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def get_origin(name, environ=None) -> str:
    """An origin such as ``https://portal.example.com`` (no path, no trailing slash), or "" when unset."""
    value = (get_str(name, environ=environ) or "").strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be an origin such as https://portal.example.com (scheme and host, no path); got {value!r}."
        )
    return value
