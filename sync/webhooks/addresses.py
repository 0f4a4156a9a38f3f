"""The receiver's public address, and the URI a sender called, as the outside world sees them.

Behind a proxy the request reaching the portal may not carry the address the sender used (another
scheme, host or port). With ``settings.PUBLIC_ORIGIN`` set (``https://portal.example.com``) both are
built from it; unset, from the request (its host is checked by ``ALLOWED_HOSTS``; the scheme is HTTPS
when ``BEHIND_TLS_PROXY`` trusts the proxy's ``X-Forwarded-Proto``), as the OAuth2 redirect URL is.
"""

from django.conf import settings
from django.urls import reverse

RECEIVE_URL_NAME = "webhook_receive"


def receiver_url(request, token: str) -> str:
    """Where the sender must post: the full address to register at the sender."""
    return _absolute(request, reverse(RECEIVE_URL_NAME, args=[token]))


def receiver_url_at(origin: str, token: str) -> str:
    """The full address of the receiver ``token`` for a portal served at ``origin`` (no request at hand)."""
    return f"{origin.rstrip('/')}{reverse(RECEIVE_URL_NAME, args=[token])}"


def called_uri(request) -> str:
    """The full URI of ``request`` (path and query) as the sender called it: what HubSpot v3 signs."""
    return _absolute(request, request.get_full_path())


def _absolute(request, path: str) -> str:
    origin = getattr(settings, "PUBLIC_ORIGIN", "")
    return f"{origin}{path}" if origin else request.build_absolute_uri(path)
