"""What every connector's calls go through: one per connector, built from its configuration.

* **Where** — sessions follow the outbound policy (:mod:`core.outbound`: http(s) only, never the
  cloud metadata address, loopback only when allowed, checked on the address connected to; every
  answer read up to ``OUTBOUND_MAX_RESPONSE_BYTES``); a secret header is dropped when a redirect
  leaves the host. Connect and read timeouts are ``timeout_seconds``.
* **How often** — a slot of the connection's rate budget (:mod:`.throttle`: shared by every worker when
  the caller gives one, else kept in the process) before each call, which also counts the call against
  the daily quota; held for everyone when the API says to wait (429 with ``Retry-After``,
  ``X-RateLimit-Remaining: 0``), spent until midnight when it says its daily quota is; and the one retry policy
  (:mod:`.retries`) around each logical call; a create goes through :meth:`Transport.create`, which
  never sends a record twice blindly.
* **In words** — exceptions become a :class:`ConnectorError` through the one table of
  :mod:`.failures`, without the connection's secrets.
* **On record** — every attempt is one :class:`CallRecord`, redacted and truncated, handed to the
  connector's ``call_log``.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from core import outbound
from core import stored_messages as stored
from core.local_time import portal_zone
from core.redaction import MASK, redact_headers, redact_text, redact_url, truncate
from sync.choices import AuthKind

from .base import RESPONSE_HEADERS_KEPT, CallLog, CallRecord, ConnectionConfig, ConnectorError
from .failures import Place, describe
from .retries import RetryPolicy, retry_after_seconds
from .throttle import Budget, RateLimit, asked_to_wait, daily_quota_spent, next_midnight

logger = logging.getLogger(__name__)


class GuardedSession(requests.Session):
    """A session under the outbound policy that also drops ``secret_header`` when a redirect leaves the host.

    Its connection pool keeps ``pool_size`` connections per host (at least requests' default), so
    that as many threads calling at once each reuse one (:meth:`Transport.session` sizes it).
    """

    def __init__(self, secret_header: str = "", *, pool_size: int = 1):
        super().__init__()
        self.secret_header = secret_header
        outbound.guard(self, pool_size=pool_size)

    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        if self.secret_header and self.should_strip_auth(response.request.url, prepared_request.url):
            prepared_request.headers.pop(self.secret_header, None)


class _AlreadyCreated(Exception):
    """Raised between two attempts of a create when the failed one did create the record."""

    def __init__(self, record: dict):
        super().__init__("already created")
        self.record = record


def known_secrets(config: ConnectionConfig) -> list[str]:
    """The values no call record, message or log line may show."""
    secrets = config.secrets()
    if config.auth_kind == AuthKind.BASIC and config.password:
        # Servers that echo the Authorization header would otherwise leak it in a body.
        secrets.append(base64.b64encode(f"{config.username}:{config.password}".encode()).decode())
    return secrets


class Transport:
    """The session policy, rate budget, retries, words and call records of one connector.

    ``budget``: the connection's shared rate budget and daily quota; None keeps one in the process
    (which still stops the calls once the API says its daily quota is spent). One transport serves
    every thread of its connector: the budget, the retry policy and the call log are thread-safe.
    """

    def __init__(self, config: ConnectionConfig, call_log: CallLog, budget: Budget | None = None):
        self.config = config
        self.call_log = call_log
        self.secrets = known_secrets(config)
        self.timeout = (config.timeout_seconds, config.timeout_seconds)
        self.zone = portal_zone()  # whose midnight a daily quota comes back at
        if budget is None:
            budget = RateLimit(config.rate_limit_per_minute, daily_limit=config.daily_call_limit, zone=self.zone)
        self.budget = budget
        self.retries = RetryPolicy.for_config(config)
        self._environment: dict[tuple[int, str], dict] = {}  # proxies and CA bundle by session and origin

    # --- where -------------------------------------------------------------------------------

    def session(self, secret_header: str = "") -> GuardedSession:
        """A session for this connection, its pool sized for the calls it may have in flight at once."""
        return GuardedSession(secret_header, pool_size=self.config.max_in_flight)

    def send(self, session: requests.Session, prepared: requests.PreparedRequest) -> requests.Response:
        """Send ``prepared`` with the connection's timeouts and TLS verification, following redirects.

        Streamed: the outbound adapter reads the answer itself and stops at the size limit. Raises what
        ``requests`` or the outbound policy raise (:meth:`describe` words them). The environment's
        proxies (``HTTPS_PROXY``, ``NO_PROXY``) and CA bundle are read once per origin: ``requests``
        reads the whole environment twice per call otherwise.
        """
        parts = urlsplit(prepared.url)
        origin = (id(session), f"{parts.scheme}://{parts.netloc}")
        settings = self._environment.get(origin)
        if settings is None:
            settings = session.merge_environment_settings(prepared.url, {}, True, self.config.verify_tls, None)
            self._environment[origin] = settings
        return session.send(prepared, timeout=self.timeout, allow_redirects=True, **settings)

    # --- how often ---------------------------------------------------------------------------

    def wait_turn(self) -> None:
        """Right before a call goes out: book the budget's next slot and wait for it.

        A caller that had to wait looks once more when its slot comes: if the budget was held
        meanwhile (another caller was told to wait), it books a slot after the hold instead (the
        call is counted once). Raises :class:`~.base.QuotaReached` when the daily quota is reached
        or spent: the call is not sent.
        """
        wait = self.budget.reserve(time.time())
        while wait > 0:
            time.sleep(wait)
            now = time.time()
            wait = self.budget.reserve(now, rebook=True) if self.budget.held_until() > now else 0

    def heard(self, status: int | None, headers, body: bytes | str | None = None) -> None:
        """After an answer: when the API said to wait (see :func:`.throttle.asked_to_wait`), hold the budget.

        Every caller of the budget waits then, not only this one; never longer than the longest wait
        between two attempts (``max_retry_after_seconds``), as the retry policy. When it said its
        daily quota is spent (:func:`.throttle.daily_quota_spent`, which reads a 429's ``body``), the
        budget is spent until the next midnight in the portal's time zone.
        """
        now = time.time()
        if daily_quota_spent(status, headers, body):
            self.budget.spend_day(next_midnight(now, self.zone))
            return
        wait = asked_to_wait(status, headers, now, retry_after_seconds)
        if wait:
            self.budget.hold(now + min(wait, self.config.max_retry_after_seconds))

    def run(self, attempt: Callable[[int], Any], *, retries: int | None = None, before_retry=None):
        """One logical call, ``attempt(number)`` under the retry policy (see :meth:`RetryPolicy.run`)."""
        return self.retries.run(attempt, retries=retries, before_retry=before_retry)

    def create(
        self, attempt: Callable[[int], dict], *, key_field: str, key_value, find: Callable[[], dict | None] | None
    ) -> dict:
        """A create under the retry policy, never sent twice blindly.

        Between two attempts, unless the target refused with 429 (nothing was processed), the record
        is looked up by its key (``find``) and returned when the failed attempt did create it. Without
        a key value, or without a way to look it up (``find`` None), the first failure is final.
        """

        def before_retry(error: ConnectorError) -> None:
            self._check_not_created(error, key_field, key_value, find)

        try:
            return self.run(attempt, before_retry=before_retry)
        except _AlreadyCreated as done:
            return done.record

    def _check_not_created(self, error: ConnectorError, key_field: str, key_value, find) -> None:
        if error.status_code == 429:
            return  # refused before processing: nothing was created
        if key_value is None or key_value == "":
            raise self.error(
                stored.gettext(
                    "%(error)s The create was not retried: without a record key "
                    "there is no way to check whether it was created.",
                    error=error.message,
                ),
                retryable=error.retryable,
                status_code=error.status_code,
            )
        if find is None:
            raise self.error(
                stored.gettext(
                    "%(error)s The create was not retried: there is no operation to look the record up "
                    "and check whether it was created.",
                    error=error.message,
                ),
                retryable=error.retryable,
                status_code=error.status_code,
            )
        try:
            found = find()
        except ConnectorError as find_error:
            raise self.error(
                stored.gettext(
                    "%(error)s Checking whether the record was created anyway failed too: %(find_error)s",
                    error=error.message,
                    find_error=find_error.message,
                ),
                retryable=True,
                status_code=error.status_code,
            )
        if found is not None:
            logger.info("%s: the failed create of %s=%s did create the record", self.config.name, key_field, key_value)
            raise _AlreadyCreated(found)

    # --- in words ------------------------------------------------------------------------------

    def describe(self, failure: Exception, place: Place, status: int | None = None) -> ConnectorError | None:
        """A transport failure in words (see :mod:`.failures`), without secrets; None for anything else."""
        error = describe(failure, place, timeout_seconds=self.config.timeout_seconds, shown=self.redact_url)
        if error is None:
            return None
        return self.error(error.message, retryable=error.retryable, status_code=status)

    def error(self, message: stored.StoredMessage, **flags) -> ConnectorError:
        return ConnectorError(self.scrub(message), **flags)

    def scrub(self, text: str) -> str:
        """``text`` without the known secrets; a stored message keeps its structure (only its outside data changes)."""
        return stored.change_outside_data(text, self._without_secrets)

    def _without_secrets(self, text: str) -> str:
        for secret in sorted(set(self.secrets), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets) if text else ""

    def redact_url(self, url: str) -> str:
        return redact_url(str(url or ""), self.secrets)

    def shown(self, url: str) -> str:
        """A URL for a message: redacted, without its query string."""
        return redact_url(str(url or "").split("?", 1)[0], self.secrets)

    # --- on record -----------------------------------------------------------------------------

    def record(
        self,
        method: str,
        url: str,
        operation: str,
        started: datetime,
        finished: datetime | None,
        *,
        attempt: int = 1,
        status_code: int | None = None,
        headers=None,
        response_headers=None,
        request_body: bytes | str = "",
        response_body: bytes | str = "",
        error: str = "",
    ) -> None:
        """Hand one attempt to the call log, redacted and truncated."""
        shown_headers = redact_headers(headers or {}, [self.config.api_key_header])
        self.call_log(
            CallRecord(
                method=method,
                url=self.redact_url(url),
                operation=operation,
                started_at=started,
                finished_at=finished,
                attempt=attempt,
                status_code=status_code,
                request_headers={name: self.scrub(value) for name, value in shown_headers.items()},
                request_body=self.body(request_body),
                response_body=self.body(response_body),
                error=self.scrub(error) if error else "",
                response_headers={
                    name: self.scrub(str(value))
                    for name, value in (response_headers or {}).items()
                    if name.lower() in RESPONSE_HEADERS_KEPT
                },
            )
        )

    def body(self, body: bytes | str | None) -> str:
        """A body as kept in a call record: text, redacted, cut to the body limit."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        return truncate(redact_text(body or "", self.secrets), self.config.body_limit)
