"""Writes of one table's records, one at a time or several in flight at once.

A connection's ``max_in_flight`` says how many calls to it may run at the same time. With 1, each
record's write runs in the loading thread and notes its outcome on the page log at once (the
behaviour of one call at a time). With more, :class:`WritePool` runs the writes on that many threads:
each write notes what happened on its own :class:`DeferredLog`, copied onto the page log by the
loading thread when the write is over, so the page log is only ever touched by one thread and the
page's bookkeeping stays one atomic flush. A record whose key is still being written waits for
that write (:meth:`WritePool.settle`): the second write of a key sees the first one's link. A
failure of the whole run (not of one record) stops new writes; the writes already in flight
finish and are noted (what they wrote keeps its link), then the failure is raised.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait

from django.db import connections

Write = Callable[[object], None]  # a record's write, noting what happened on the log it is given


class InlineWrites:
    """Each write runs at once in the loading thread, noting its outcome on the page log."""

    def __init__(self, log):
        self.log = log

    def submit(self, keys: tuple[str, ...], write: Write) -> None:
        write(self.log)

    def settle(self, key: str) -> None:
        """Nothing is ever in flight here."""


class DeferredLog:
    """What one write noted, kept until the loading thread copies it onto the page log."""

    def __init__(self):
        self.notes: list[tuple[str, tuple, dict]] = []

    def outcome(self, *args, **kwargs) -> None:
        self.notes.append(("outcome", args, kwargs))

    def fail(self, *args, **kwargs) -> None:
        self.notes.append(("fail", args, kwargs))

    def link(self, *args, **kwargs) -> None:
        self.notes.append(("link", args, kwargs))

    def conflict(self, *args, **kwargs) -> None:
        self.notes.append(("conflict", args, kwargs))

    def replay(self, log) -> None:
        for name, args, kwargs in self.notes:
            getattr(log, name)(*args, **kwargs)


_STOP = object()


class WritePool:
    """Up to ``size`` writes in flight on as many threads; their notes copied onto ``log`` as each ends.

    Used as a context manager: leaving it waits for every write and raises the first failure of the
    whole run one of them met. Each thread closes its database connections when the pool closes.
    """

    def __init__(self, size: int, log):
        self.size = size
        self.log = log
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._work, name=f"write-{number}", daemon=True) for number in range(size)
        ]
        self.in_flight: dict[Future, tuple[tuple[str, ...], DeferredLog]] = {}
        self.failure: BaseException | None = None
        for thread in self.threads:
            thread.start()

    def __enter__(self) -> WritePool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._note_done(set(self.in_flight))
        finally:
            for _thread in self.threads:
                self.jobs.put(_STOP)
            for thread in self.threads:
                thread.join()
        if exc is None and self.failure is not None:
            raise self.failure

    def submit(self, keys: tuple[str, ...], write: Write) -> None:
        """Start ``write`` (of the records ``keys``) when a thread is free; raise a failure of the run met before."""
        while len(self.in_flight) >= self.size:
            self._note_done(wait(self.in_flight, return_when=FIRST_COMPLETED).done)
        self._raise_failure()
        deferred = DeferredLog()
        future: Future = Future()
        self.in_flight[future] = (keys, deferred)
        self.jobs.put((future, write, deferred))

    def settle(self, key: str) -> None:
        """Wait for the write of ``key`` still in flight, if any, and note it."""
        writing = [future for future, (keys, _) in self.in_flight.items() if key in keys]
        if writing:
            self._note_done(wait(writing).done)
            self._raise_failure()

    def _note_done(self, done) -> None:
        for future in wait(done).done:
            _keys, deferred = self.in_flight.pop(future)
            deferred.replay(self.log)
            failure = future.exception()
            if failure is not None and self.failure is None:
                self.failure = failure

    def _raise_failure(self) -> None:
        if self.failure is not None:
            self._note_done(set(self.in_flight))
            failure, self.failure = self.failure, None
            raise failure

    def _work(self) -> None:
        try:
            while (job := self.jobs.get()) is not _STOP:
                future, write, deferred = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    write(deferred)
                except BaseException as failure:  # handed to the loading thread, which raises it
                    future.set_exception(failure)
                else:
                    future.set_result(None)
        finally:
            connections.close_all()
