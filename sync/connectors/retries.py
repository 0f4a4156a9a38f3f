"""The one retry policy of every connector, on tenacity.

A logical call (a REST request, a SOAP operation) is a function of the attempt number that
either answers or raises :class:`AttemptFailed` carrying the :class:`ConnectorError` in words
and the wait the server asked for (``Retry-After``). The policy tries again while the error
is ``retryable`` and attempts are left (``max_retries`` + 1 in all), waiting between two
attempts:

* the ``Retry-After`` the server sent (seconds or an HTTP date), else
* exponential backoff with jitter: ``backoff * 2^(attempt - 1)``, scaled by a random factor in
  [0.5, 1) so that many clients failing together do not come back together,

never longer than the ceiling (``max_retry_after_seconds``). Any other exception ends the call
as it is. A hook may run before each new attempt (a create checks there whether the failed
attempt created the record). When the attempts run out, the last error is raised.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from .base import ConnectionConfig, ConnectorError

logger = logging.getLogger(__name__)


class AttemptFailed(Exception):
    """One attempt's failure: the error in words, and how long the server asked to wait (if it did)."""

    def __init__(self, error: ConnectorError, retry_after: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def retryable_status(status: int) -> bool:
    """Whether an HTTP status may be gone on the next attempt: 408, 429 and 5xx but 501."""
    return status in (408, 429) or (status >= 500 and status != 501)


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def backoff_seconds(base: float, attempt: int, draw: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: base * 2^(attempt - 1), scaled by a factor in [0.5, 1) from ``draw``."""
    return base * 2 ** (attempt - 1) * (0.5 + draw() / 2)


@dataclass
class _Call:
    """A logical call whose first attempt failed, as tenacity drives it: that failure first, then new attempts."""

    attempt: Callable[[int], Any]
    attempts: int
    before_retry: Callable[[ConnectorError], None] | None
    last: AttemptFailed
    number: int = 1
    replayed: bool = False

    def __call__(self):
        if not self.replayed:
            self.replayed = True
            raise self.last
        if self.before_retry is not None:
            self.before_retry(self.last.error)
        self.number += 1
        try:
            return self.attempt(self.number)
        except AttemptFailed as failed:
            self.last = failed
            raise


class RetryPolicy:
    """Attempts, waits and the ceiling of one connection; built once per connector, used for every call."""

    def __init__(
        self,
        *,
        name: str,
        retries: int,
        backoff: float,
        ceiling: float,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ):
        self.name = name
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.ceiling = ceiling
        self.draw = draw
        self._retrying = tenacity.Retrying(
            sleep=lambda seconds: sleep(float(seconds)),
            stop=self._stop,
            wait=self.wait,
            retry=tenacity.retry_if_exception(self._retryable),
            before_sleep=self._say_retrying,
            reraise=True,
        )

    @classmethod
    def for_config(cls, config: ConnectionConfig, **seams) -> RetryPolicy:
        return cls(
            name=config.name,
            retries=config.max_retries,
            backoff=config.backoff_seconds,
            ceiling=config.max_retry_after_seconds,
            **seams,
        )

    def run(
        self,
        attempt: Callable[[int], Any],
        *,
        retries: int | None = None,
        before_retry: Callable[[ConnectorError], None] | None = None,
    ):
        """``attempt(number)`` until it answers, raises anything but a retryable failure, or attempts run out.

        ``retries`` overrides the connection's (0: one attempt); ``before_retry(error)`` runs before each
        new attempt, after the wait.
        """
        attempts = 1 + (self.retries if retries is None else max(0, retries))
        # Most calls answer at once: the first attempt needs no retry state. Once it failed in a way
        # worth another try, tenacity takes the call over from that failure.
        try:
            return attempt(1)
        except AttemptFailed as failed:
            if attempts == 1 or not failed.error.retryable:
                raise failed.error from None
            call = _Call(attempt, attempts, before_retry, last=failed)
        try:
            return self._retrying.copy()(call)  # a copy per call: its statistics are not shared between threads
        except AttemptFailed as failed:
            raise failed.error from None

    def wait(self, retry_state: tenacity.RetryCallState) -> float:
        """The wait after a failed attempt: the server's Retry-After, else backoff; never above the ceiling."""
        failure = retry_state.outcome.exception()
        delay = getattr(failure, "retry_after", None)
        if delay is None:
            delay = backoff_seconds(self.backoff, retry_state.attempt_number, self.draw)
        return max(0.0, min(delay, self.ceiling))

    @staticmethod
    def _stop(retry_state: tenacity.RetryCallState) -> bool:
        return retry_state.attempt_number >= retry_state.fn.attempts

    @staticmethod
    def _retryable(failure: BaseException) -> bool:
        return isinstance(failure, AttemptFailed) and failure.error.retryable

    def _say_retrying(self, retry_state: tenacity.RetryCallState) -> None:
        logger.warning(
            "%s: attempt %d failed (%s); retrying in %.2f s",
            self.name,
            retry_state.attempt_number,
            retry_state.outcome.exception().error.message,
            retry_state.upcoming_sleep,
        )
