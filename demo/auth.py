"""The credentials each demo system accepts: HTTP basic (ERP) and a User-Key header (CRM)."""

import base64
import binascii
import hmac

from .models import SandboxKnobs


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def has_valid_user_key(request, knobs: SandboxKnobs) -> bool:
    return _same(request.headers.get("User-Key", ""), knobs.api_key)


def basic_credentials(request) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic`` header, or None."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def has_valid_basic_auth(request, knobs: SandboxKnobs) -> bool:
    credentials = basic_credentials(request)
    if credentials is None:
        return False
    user, password = credentials
    # Evaluate both comparisons: no early exit that tells which half was wrong.
    user_ok = _same(user, knobs.username)
    password_ok = _same(password, knobs.password)
    return user_ok and password_ok
