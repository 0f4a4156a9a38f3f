"""How a REST connection authenticates: none, HTTP basic, bearer token, an API-key header or OAuth2.

OAuth2 client credentials: the token is fetched once, reused until shortly before ``expires_in``, and
fetched again when the API answers 401 (:meth:`RestAuth.forget`). OAuth2 authorization code: the token
comes from the connection's token store (:mod:`.oauth_code`), asked again when it runs out or is
refused. A fetched token joins the transport's secrets, so no call record shows it. Threads sharing a
connector fetch it once at a time: the others wait and use the token it brought, and a 401 to a token
already replaced fetches none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from core import stored_messages as stored
from sync.choices import AuthKind

from ..base import ConnectionConfig, ConnectorError
from ..transport import Transport
from .bodies import filled


class TokenError(ConnectorError):
    """The OAuth2 token endpoint refused or failed."""


def token_lifetime(expires_in) -> float:
    """How long to reuse a token: ``expires_in`` minus a margin (10 %, at most 60 s); an hour when unknown."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return 3600.0
    return max(0.0, seconds - min(60.0, seconds / 10))


@dataclass(frozen=True)
class TokenAnswer:
    """What the token endpoint answered: the new access token, the rotated refresh token, their lifetime."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)  # "": the provider keeps the one it was given (or gives none)
    reuse_seconds: float  # how long to reuse the access token: a little less than ``expires_in``


def read_answer(response: requests.Response) -> TokenAnswer:
    """The token endpoint's answer, whichever the grant; a :class:`TokenError` without an access token."""
    try:
        data = response.json()
        access_token = str(data["access_token"])
        refresh_token = str(data.get("refresh_token") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError(stored.gettext("The OAuth2 token endpoint answered without an access_token.")) from None
    return TokenAnswer(access_token, refresh_token, token_lifetime(data.get("expires_in")))


def credential_words(kind: str) -> stored.StoredMessage:
    """What the user should check when the credentials are refused."""
    if kind == AuthKind.BASIC:
        return stored.gettext("username and password")
    if kind == AuthKind.BEARER:
        return stored.gettext("bearer token")
    if kind == AuthKind.API_KEY:
        return stored.gettext("API key")
    if kind == AuthKind.OAUTH2:
        return stored.gettext("OAuth2 client id and secret")
    if kind == AuthKind.SESSION:
        return stored.gettext("username and password of the login call")
    if kind == AuthKind.BODY:
        return stored.gettext("credentials carried in the body")
    if kind == AuthKind.OAUTH2_CODE:
        return stored.gettext("OAuth2 authorization (press Authorize again on the connection)")
    return stored.gettext("authentication settings (none is configured)")


class RestAuth:
    """The headers and basic credentials of each API call; the OAuth2 token, fetched through ``post_form``
    (client credentials) or ``code_grant`` (authorization code: ``refused`` → the token and how long to reuse it).
    """

    def __init__(
        self,
        config: ConnectionConfig,
        transport: Transport,
        post_form: Callable[[str, dict], requests.Response],
        clock: Callable[[], float] = time.monotonic,
        log_in: Callable[[], None] | None = None,
        code_grant: Callable[[str], tuple[str, float]] | None = None,
    ):
        self.config = config
        self.transport = transport
        self.post_form = post_form  # (url, form) → the token endpoint's answer, or a ConnectorError
        self.clock = clock
        self.log_in = log_in  # opens a session (its cookie kept by the HTTP session), or a ConnectorError
        self._sessions = 0
        self.code_grant = code_grant
        self._refused = ""  # the token the API last answered 401 to (authorization code)
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._sent = threading.local()  # the token this thread's last call carried

    @property
    def has_token(self) -> bool:
        """Whether this thread's last call carried an OAuth2 token (a 401 to it may mean a stale token)."""
        return getattr(self._sent, "token", None) is not None

    def headers(self) -> dict[str, str]:
        kind = self.config.auth_kind
        if kind == AuthKind.BEARER:
            return {"Authorization": f"Bearer {self.config.token}"}
        if kind == AuthKind.API_KEY:
            return {self.config.api_key_header or "X-API-Key": self.config.api_key}
        if kind in (AuthKind.OAUTH2, AuthKind.OAUTH2_CODE):
            return {"Authorization": f"Bearer {self._access_token()}"}
        if kind == AuthKind.SESSION:
            self._open_session()
        return {}

    def token_headers(self) -> dict[str, str]:
        """The headers the token call sends besides its form (Sankhya's gateway wants its ``X-Token``)."""
        return {str(name): str(value) for name, value in filled(self.config.token_headers, self.config).items()}

    def body_credentials(self) -> dict:
        """What every body carries (Omie's ``app_key`` and ``app_secret``), the credentials filled in."""
        return filled(self.config.body_credentials, self.config)

    def _open_session(self) -> None:
        """Log in once for all threads; after a 401 (:meth:`forget`), the next call logs in again."""
        with self._lock:
            if self._token is None:
                self.log_in()
                self._sessions += 1
                self._token = f"session {self._sessions}"
            self._sent.token = self._token

    def basic(self) -> tuple[str, str] | None:
        if self.config.auth_kind == AuthKind.BASIC:
            return (self.config.username, self.config.password)
        return None

    def forget(self) -> None:
        """Drop the token this thread's last call carried: the next call fetches a new one.

        When another thread already replaced it (its calls were refused too), the new one is kept.
        """
        with self._lock:
            if self._token == getattr(self._sent, "token", None):
                self._refused, self._token = self._token or "", None

    def _access_token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                if self.code_grant is not None:
                    self._token, lifetime = self.code_grant(self._refused)
                else:
                    self._token, lifetime = self._fetch_token()
                self._expires_at = self.clock() + lifetime
            self._sent.token = self._token
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        """A client-credentials token and how long to reuse it (a little less than ``expires_in``)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        if self.config.oauth_scope:
            form["scope"] = self.config.oauth_scope
        answer = read_answer(self.post_form(self.config.oauth_token_url, form))
        self.transport.secrets.append(answer.access_token)
        return answer.access_token, answer.reuse_seconds
