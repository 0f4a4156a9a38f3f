"""OAuth2 authorization code with a rotating refresh token (Bling API v3 and others): the connector's side.

The connector keeps no token of its own beyond the one in use: a :class:`TokenStore` (the sync layer's,
on the connection's row) hands out a valid access token, and when none is left it calls the
:class:`TokenClient`'s ``refresh`` with the stored refresh token and keeps the answer (the rotated
refresh token with the new access token) before handing the new access token out. The token endpoint
authenticates the client by HTTP Basic (``client_id:client_secret``), as Bling requires.

An ``invalid_grant`` answer (a revoked or expired authorization, a code already used) is
:class:`AuthorizationRevoked`; a connection never authorized is :class:`NotAuthorized`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from core import stored_messages as stored

from ..base import ConnectionConfig
from ..transport import Transport
from .auth import TokenAnswer, TokenError, read_answer

REFRESH_GRANT = "refresh_token"
CODE_GRANT = "authorization_code"
REFUSED_GRANT = "invalid_grant"


class NotAuthorized(TokenError):
    """The connection holds no refresh token: nobody has pressed Authorize yet."""


class AuthorizationRevoked(TokenError):
    """The token endpoint answered ``invalid_grant``: the authorization was revoked or has expired."""


def not_authorized(name: str) -> NotAuthorized:
    return NotAuthorized(
        stored.gettext(
            "Not authorized yet: open the connection and press Authorize (%(name)s holds no refresh token).",
            name=name,
        )
    )


def revoked(status: int | None = None, detail: str = "") -> AuthorizationRevoked:
    return AuthorizationRevoked(
        stored.gettext("The authorization was revoked or has expired: press Authorize again on the connection."),
        status_code=status,
        detail=detail,
    )


@dataclass(frozen=True)
class AccessToken:
    """An access token and how many more seconds it may be used (after the margin, see ``token_lifetime``)."""

    value: str = field(repr=False)
    seconds_left: float


# Exchanges a refresh token at the token endpoint; raises AuthorizationRevoked or another ConnectorError.
Exchange = Callable[[str], TokenAnswer]


class TokenStore(Protocol):
    """Where a connection's tokens live between calls, runs and worker processes."""

    def access_token(self, exchange: Exchange, refused: str = "") -> AccessToken:
        """A valid access token other than ``refused`` (one the API answered 401 to).

        When the stored one is missing, expiring or refused, ``exchange(refresh_token)`` and keep its
        answer, rotated refresh token included, before returning its access token; once at a time, so
        that callers who waited use the token the first one stored. Raises :class:`NotAuthorized`
        without a refresh token, and lets ``exchange``'s errors through.
        """


def refused_grant(response: requests.Response) -> bool:
    """Whether an error answer of the token endpoint says ``invalid_grant`` (RFC 6749, or Bling's ``error.type``)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return False
    if isinstance(error, dict):
        return REFUSED_GRANT in (error.get("type"), error.get("message"))
    return error == REFUSED_GRANT


PostForm = Callable[[str, dict, tuple[str, str]], requests.Response]


class TokenClient:
    """The token endpoint's two grants, the client authenticated by HTTP Basic; answers join the secrets."""

    def __init__(self, config: ConnectionConfig, transport: Transport, post_form: PostForm):
        self.config = config
        self.transport = transport
        self.post_form = post_form  # (url, form, basic credentials) → the answer, or a ConnectorError

    def refresh(self, refresh_token: str) -> TokenAnswer:
        return self._ask({"grant_type": REFRESH_GRANT, "refresh_token": refresh_token})

    def redeem(self, code: str, redirect_uri: str) -> TokenAnswer:
        """Exchange the code the Authorize step brought back (with the same ``redirect_uri``)."""
        self.transport.secrets.append(code)
        return self._ask({"grant_type": CODE_GRANT, "code": code, "redirect_uri": redirect_uri})

    def _ask(self, form: dict) -> TokenAnswer:
        response = self.post_form(self.config.oauth_token_url, form, (self.config.client_id, self.config.client_secret))
        answer = read_answer(response)
        self.transport.secrets.extend(token for token in (answer.access_token, answer.refresh_token) if token)
        return answer


class CodeGrant:
    """The connector's access token for an authorization-code connection: the store's, reused while it lasts."""

    def __init__(self, store: TokenStore, client: TokenClient, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.client = client
        self.clock = clock

    def __call__(self, refused: str = "") -> tuple[str, float]:
        """(access token, seconds to reuse it), from the store; ``refused`` is the token a 401 answered."""
        token = self.store.access_token(self.client.refresh, refused)
        if token.value not in self.client.transport.secrets:
            self.client.transport.secrets.append(token.value)
        return token.value, token.seconds_left
