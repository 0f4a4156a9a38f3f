"""Are the background workers alive? Their heartbeat, and the alert sent when it stops.

The workers' every-minute maintenance task writes :class:`~monitoring.models.WorkersHeartbeat`
(one row per host). When none was written for ``WORKERS_STALE_AFTER`` seconds, no run starts,
no schedule fires and no alert is evaluated, because all of that is the workers' job. So the
web server watches too (:class:`Watchdog`, started by ``integration_portal.wsgi``): whichever
process is alive opens a *workers not seen* alert on every active integration (each reaches its
own recipients) and sends the notifications; the workers resolve those alerts at their first
minute back. The dashboard shows the same state (:func:`workers_state`).
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max
from django.utils import timezone

from core import stored_messages as stored
from core.local_time import format_local, portal_zone
from sync.models import Integration

from .alerts import open_alert, resolve_alert
from .choices import UNRESOLVED_ALERT_STATUSES, AlertKind
from .models import Alert, WorkersHeartbeat
from .notifications import deliver_due

logger = logging.getLogger(__name__)


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "WORKERS_STALE_AFTER", 180))


def record_beat(now: datetime | None = None) -> None:
    """The workers of this host are alive (called by their maintenance task)."""
    WorkersHeartbeat.objects.update_or_create(
        host=socket.gethostname()[:255], defaults={"beat_at": now or timezone.now()}
    )


@dataclass(frozen=True)
class WorkersState:
    """When the workers were last seen, and whether that is too long ago."""

    last_seen: datetime | None
    down: bool
    since: datetime | None  # not seen since: the last beat, or when watching began if never seen

    def describe(self, tz) -> str:
        """The sentence the dashboard and the alert show."""
        if self.last_seen is None:
            return stored.gettext(
                "The background workers have not been seen since the portal started at %(time)s: no run starts "
                "and no schedule fires until they run (manage.py qcluster).",
                time=format_local(self.since, tz),
            )
        return stored.gettext(
            "The background workers have not been seen since %(time)s: no run starts and no schedule fires "
            "until they are back (manage.py qcluster).",
            time=format_local(self.last_seen, tz),
        )


def workers_state(now: datetime, *, watching_since: datetime | None = None) -> WorkersState:
    """The workers' state at ``now``; never seen counts as down only once ``watching_since`` is stale too."""
    last_seen = WorkersHeartbeat.objects.aggregate(last=Max("beat_at"))["last"]
    since = last_seen or watching_since
    down = since is not None and now - since > stale_after()
    return WorkersState(last_seen=last_seen, down=down, since=since)


@dataclass
class WatchResult:
    down: bool = False
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def watch(now: datetime | None = None, *, watching_since: datetime | None = None) -> WatchResult:
    """Open (workers down) or resolve (workers back) the *workers not seen* alerts; send them when down."""
    now = now or timezone.now()
    state = workers_state(now, watching_since=watching_since)
    result = WatchResult(down=state.down)
    unresolved = Alert.objects.filter(kind=AlertKind.WORKERS_DOWN, status__in=UNRESOLVED_ALERT_STATUSES)
    if not state.down:
        if unresolved.exists():
            _resolve_all(unresolved, now, result, _back_note(state))
        return result
    message = state.describe(portal_zone())
    for integration in Integration.objects.filter(active=True):
        alert, opened = open_alert(integration, AlertKind.WORKERS_DOWN, message, now=now)
        if opened:
            result.opened.append(alert.pk)
    _resolve_all(
        unresolved.filter(integration__active=False), now, result, stored.gettext("The integration was paused.")
    )
    deliver_due(now)  # the workers would send them, but they are the ones missing
    return result


def _back_note(state: WorkersState) -> str:
    if state.last_seen is None:
        return ""
    return stored.gettext(
        "The background workers were seen again at %(time)s.", time=format_local(state.last_seen, portal_zone())
    )


def _resolve_all(alerts, now, result: WatchResult, note: str) -> None:
    for alert in alerts.select_related("integration"):
        if resolve_alert(alert.integration, AlertKind.WORKERS_DOWN, now=now, note=note) is not None:
            result.resolved.append(alert.pk)


class Watchdog:
    """A daemon thread of the web server that runs :func:`watch` every ``WORKERS_WATCH_INTERVAL`` seconds."""

    def __init__(self, interval: float | None = None):
        self.interval = float(getattr(settings, "WORKERS_WATCH_INTERVAL", 60) if interval is None else interval)
        self.started_at = timezone.now()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch_until_stopped, name="workers-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self.interval + 5)

    def _watch_until_stopped(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                watch(watching_since=self.started_at)
            except DatabaseError as exc:  # a locked or unreachable database: the next round tries again
                logger.warning("Could not check the background workers (%s)", exc)
            except Exception:
                logger.exception("Could not check the background workers")
            finally:
                connection.close()  # the thread's own database connection


_watchdog: Watchdog | None = None
_watchdog_lock = threading.Lock()


def watch_in_background() -> Watchdog | None:
    """Start this process's watchdog once (the web server calls it); off when ``WORKERS_WATCH_INTERVAL`` is 0."""
    global _watchdog
    if not getattr(settings, "WORKERS_WATCH_INTERVAL", 60):
        return None
    with _watchdog_lock:
        if _watchdog is None:
            _watchdog = Watchdog().start()
    return _watchdog


def workers_notice(now: datetime) -> str:
    """What the dashboard says about the workers: empty while they are seen."""
    state = workers_state(now)
    if state.down:
        return str(state.describe(portal_zone()))
    if state.last_seen is not None:
        return ""
    # Never seen: the web server's watchdog is the one that knows how long it has waited.
    alert = Alert.objects.filter(kind=AlertKind.WORKERS_DOWN, status__in=UNRESOLVED_ALERT_STATUSES).first()
    return str(alert.message) if alert is not None else ""
