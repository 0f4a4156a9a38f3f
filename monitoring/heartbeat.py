"""A running run's heartbeat, kept by a thread of its own while the run works.

The reaper declares a run whose heartbeat is older than ``RUN_HEARTBEAT_STALE_AFTER`` abandoned
and frees its integration. Beats written only between records let one slow call (a timeout and
its retries) age the heartbeat past that limit while the worker is alive and about to write, and
a second run would then start beside it. The thread beats every ``RUN_HEARTBEAT_INTERVAL``
seconds whatever the run is waiting for; when it finds the run no longer running (the reaper
gave up on it), it says so through :attr:`Heartbeat.lost`, and the run stops at its next step
without writing.
"""

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from .choices import RunStatus
from .models import SyncRun

logger = logging.getLogger(__name__)


def beat_interval() -> float:
    """``RUN_HEARTBEAT_INTERVAL``, shortened to beat at least four times within the stale limit."""
    stale = float(getattr(settings, "RUN_HEARTBEAT_STALE_AFTER", 120))
    return min(float(getattr(settings, "RUN_HEARTBEAT_INTERVAL", 15)), stale / 4)


class BeatingThread:
    """``with SomeBeat(pk): …`` writes a beat every ``interval`` seconds while the block runs, from a thread
    and a database connection of its own, whatever the block is waiting for. Subclasses say what a beat
    writes (:meth:`beat_once`) and may stop early by setting :attr:`lost`."""

    what = "task"  # in the log: "Run 12: the heartbeat could not be written"

    def __init__(self, pk: int, interval: float | None = None):
        self.pk = pk
        self.interval = beat_interval() if interval is None else interval
        self.lost = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name=f"heartbeat-{self.what}-{pk}", daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        self._thread.join(timeout=self.interval + 5)

    def beat_once(self) -> None:
        raise NotImplementedError

    def _beat_until_stopped(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                try:
                    self.beat_once()
                except DatabaseError as exc:  # a locked database: the next beat tries again
                    logger.warning("%s %s: the heartbeat could not be written (%s)", self.what.title(), self.pk, exc)
                if self.lost.is_set():
                    return
        finally:
            connection.close()  # the thread's own database connection


class Heartbeat(BeatingThread):
    """``with Heartbeat(run.pk): …`` beats while the block runs; ``lost`` is set once the run was reaped."""

    what = "run"

    def beat_once(self) -> None:
        """One beat; sets ``lost`` when the run exists and is no longer running."""
        runs = SyncRun.objects.filter(pk=self.pk)
        if runs.filter(status=RunStatus.RUNNING).update(heartbeat_at=timezone.now()):
            return
        status = runs.values_list("status", flat=True).first()
        if status is not None and status != RunStatus.RUNNING:  # None: not visible to this connection yet
            self.lost.set()
