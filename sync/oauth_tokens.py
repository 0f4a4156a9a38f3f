"""The tokens of OAuth2 authorization-code connections, kept on the ``Connection`` row.

A refresh rotates the refresh token (Bling's does): the old one stops working as soon as the token
endpoint answers, so the answer must be stored before anything else happens. The order:

1. In a durable transaction, lock the connection's row (``select_for_update``; on SQLite the
   transaction takes the write lock at BEGIN): refreshes happen one at a time across worker
   processes. Threads of one process first take turns on a lock of their own per connection, so
   they queue in the process rather than on the database.
2. Read the row again under the lock: an access token another caller stored while this one waited is
   used as it is (no second refresh), unless it is the one the API has just refused (a 401).
3. Exchange the stored refresh token at the token endpoint.
4. In the same transaction, one UPDATE writes the rotated refresh token, the access token and its
   expiry together; the transaction commits. Only then is the new access token handed out and used.

Nothing runs between the answer and the commit but that UPDATE (the connector's call records are
buffered, not written), so a crash can lose the rotated token only in that moment; the stored refresh
token is never replaced by anything but its successor, and a failed exchange (a timeout, ``invalid_grant``)
changes and clears nothing. The transaction is durable: inside an outer one, a later rollback would undo
the commit and bring the spent refresh token back, so that is refused outright.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core import stored_messages as stored

from .choices import AuthKind
from .connectors.rest.auth import TokenError
from .connectors.rest.oauth_code import AccessToken, Exchange, TokenAnswer, not_authorized
from .models import Connection

TOKEN_COLUMNS = ("name", "refresh_token", "access_token", "access_token_expires_at")

_turns: dict[int, threading.Lock] = {}  # connection pk → the turn its threads in this process take
_turns_lock = threading.Lock()


def _turn(connection_id: int) -> threading.Lock:
    with _turns_lock:
        return _turns.setdefault(connection_id, threading.Lock())


class ConnectionTokens:
    """The :class:`~sync.connectors.rest.oauth_code.TokenStore` of one connection, on its row."""

    def __init__(self, connection_id: int, now: Callable[[], datetime] = timezone.now):
        self.connection_id = connection_id
        self.now = now

    def access_token(self, exchange: Exchange, refused: str = "") -> AccessToken:
        with _turn(self.connection_id):
            return self._access_token(exchange, refused)

    def _access_token(self, exchange: Exchange, refused: str) -> AccessToken:
        token = self._usable(self._row(Connection.objects), refused)
        if token is not None:  # most asks: a valid token, no row lock taken
            return token
        with transaction.atomic(durable=True):
            row = self._row(Connection.objects.select_for_update())
            token = self._usable(row, refused)
            if token is not None:  # another caller refreshed while this one waited
                return token
            if not row.refresh_token:
                raise not_authorized(row.name)
            answer = exchange(row.refresh_token)
            expires_at = self.now() + timedelta(seconds=answer.reuse_seconds)
            Connection.objects.filter(pk=self.connection_id).update(
                refresh_token=answer.refresh_token or row.refresh_token,
                access_token=answer.access_token,
                access_token_expires_at=expires_at,
            )
        return AccessToken(answer.access_token, answer.reuse_seconds)

    def _row(self, rows) -> Connection:
        return rows.only(*TOKEN_COLUMNS).get(pk=self.connection_id)

    def _usable(self, row: Connection, refused: str) -> AccessToken | None:
        """The stored access token while it lasts, unless it is the refused one."""
        if not row.access_token or row.access_token == refused or row.access_token_expires_at is None:
            return None
        seconds_left = (row.access_token_expires_at - self.now()).total_seconds()
        return AccessToken(row.access_token, seconds_left) if seconds_left > 0 else None


def for_connection(connection: Connection) -> ConnectionTokens | None:
    """The token store a connector of ``connection`` needs: only an authorization-code connection has one."""
    if connection.auth_kind != AuthKind.OAUTH2_CODE:
        return None
    return ConnectionTokens(connection.pk)


def store_authorization(connection: Connection, answer: TokenAnswer, now: datetime) -> None:
    """Keep the tokens the Authorize step brought, all in one UPDATE (the row's other fields untouched)."""
    if not answer.refresh_token:
        raise TokenError(
            stored.gettext(
                "The OAuth2 token endpoint answered without a refresh_token: the portal could not renew the "
                "access token. Check the scopes the application asks for."
            )
        )
    Connection.objects.filter(pk=connection.pk).update(
        refresh_token=answer.refresh_token,
        access_token=answer.access_token,
        access_token_expires_at=now + timedelta(seconds=answer.reuse_seconds),
        authorized_at=now,
    )
