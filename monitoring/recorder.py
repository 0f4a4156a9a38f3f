"""What one page of one table did, kept in memory and written in one short transaction.

The engine never holds a database transaction open while it talks to an outside
system: it collects outcomes here while it calls, then :meth:`PageLog.flush`
commits links, staged payloads, events, request logs, review-queue entries and
counters together, with the table's resume point.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import stored_messages as stored
from sync.connectors.base import CallRecord
from sync.models import RecordLink, StagedRecord, SyncTable

from .choices import OUTCOME_ACTIONS, PENDING_ERROR_STATUSES, ErrorStatus, HeldDeleteStatus, RecordAction
from .models import FieldConflict, HeldDelete, IntegrationState, RecordError, RecordEvent, RequestLog, SyncRun, TableRun

REPAIRED = stored.gettext_noop(
    "Its text was made storable: NUL characters removed, broken characters (lone UTF-16 halves) replaced by �."
)


@dataclass
class Failure:
    key: str
    payload: object
    reason: str
    field_errors: dict = field(default_factory=dict)
    waiting_for: str = ""  # set for a record waiting for a referenced one (not a failure yet)


def request_log(call: CallRecord, *, run=None, table=None, connection_id=None) -> RequestLog:
    """A RequestLog row for one call a connector made (already redacted and truncated by it)."""
    return RequestLog(
        run=run,
        table=table,
        connection_id=connection_id,
        started_at=call.started_at or timezone.now(),
        finished_at=call.finished_at,
        method=call.method[:10],
        url=call.url,
        operation=call.operation[:200],
        attempt=call.attempt,
        status_code=call.status_code,
        request_headers=call.request_headers,
        request_body=call.request_body,
        response_body=call.response_body,
        error=call.error,
    )


class PageLog:
    def __init__(self, run: SyncRun, table: SyncTable, table_run: TableRun):
        self.run, self.table, self.table_run = run, table, table_run
        self.counts: Counter = Counter()
        self.events: list[RecordEvent] = []
        self.failures: list[Failure] = []
        self.succeeded_keys: list[str] = []
        self.links: dict[str, RecordLink] = {}
        self.removed_links: list[str] = []
        self.staged: dict[str, StagedRecord] = {}
        self.held: list[HeldDelete] = []
        self.conflicts: list[FieldConflict] = []
        self.repaired_keys: set[str] = set()
        self.origins: dict[str, stored.StoredMessage] = {}
        self.calls: list[tuple[int | None, CallRecord]] = []

    def discard(self) -> None:
        """Forget what was collected since the last flush but the calls made (the request log keeps them).

        For a page whose writes did not reach the target as a whole (the file they go to could not be
        written): nothing of it is kept, so its records are read and written again by the next run.
        """
        calls = self.calls
        self.__init__(self.run, self.table, self.table_run)
        self.calls = calls

    # ------------------------------------------------------------ collecting

    def stage(self, key: str, payload, size: int) -> None:
        self.staged[key] = StagedRecord(
            table=self.table, source_key=key, payload=payload, payload_bytes=size, run_id=self.run.pk
        )

    def repaired(self, key: str) -> None:
        """The record's text was made storable when it was read: its event says so."""
        self.repaired_keys.add(key)

    def origin(self, key: str, note: stored.StoredMessage) -> None:
        """Where the record ``key`` was read (a file's name and line): its event and its queue entry say so."""
        self.origins[key] = note

    def _noted(self, key: str, message):
        return stored.join(*([message] if message else []), self.origins[key]) if key in self.origins else message

    def outcome(self, action: RecordAction, key: str, *, target_key="", message="", http_status=None) -> None:
        self.counts[action] += 1
        message = self._noted(key, message)
        if key in self.repaired_keys:
            message = stored.join(*([message] if message else []), REPAIRED)
        self.events.append(
            RecordEvent(
                run=self.run,
                table=self.table,
                record_key=key,
                target_key=target_key or "",
                action=action,
                message=message,
                http_status=http_status,
            )
        )
        if action in (RecordAction.CREATED, RecordAction.UPDATED, RecordAction.UNCHANGED, RecordAction.DELETED):
            self.succeeded_keys.append(key)

    def fail(self, key: str, payload, reason: str, *, field_errors=None, http_status=None) -> None:
        self.outcome(RecordAction.FAILED, key, message=reason, http_status=http_status)
        self.failures.append(Failure(key, payload, self._noted(key, reason), field_errors or {}))

    def wait(self, key: str, payload, reason: str, waiting_for: str) -> None:
        """The record refers to one not synced yet: it waits in the queue and every run retries it."""
        self.outcome(RecordAction.WAITING, key, message=reason)
        self.failures.append(Failure(key, payload, reason, waiting_for=waiting_for[:300]))

    def link(self, key: str, target_key: str, mapped_hash: str, written_values: dict | None = None) -> None:
        now = timezone.now()
        self.links[key] = RecordLink(
            table=self.table,
            source_key=key,
            target_key=str(target_key),
            mapped_hash=mapped_hash,
            written_values=written_values or {},
            synced_at=now,
        )

    def conflict(self, key: str, target_key: str, conflict) -> None:
        """A field changed in the target that this run overwrites (a ``sync.writes.Conflict``)."""
        self.conflicts.append(
            FieldConflict(
                run=self.run,
                table=self.table,
                record_key=key,
                target_key=str(target_key),
                field=conflict.field[:200],
                written_value=conflict.written_value,
                lost_value=conflict.lost_value,
                new_value=conflict.new_value,
            )
        )

    def unlink(self, key: str) -> None:
        self.removed_links.append(key)

    def hold(self, key: str, target_key: str) -> None:
        self.outcome(RecordAction.HELD, key, target_key=target_key)
        self.held.append(HeldDelete(table=self.table, run=self.run, source_key=key, target_key=target_key))

    def call(self, connection_id: int | None, record: CallRecord) -> None:
        self.calls.append((connection_id, record))

    @property
    def is_empty(self) -> bool:
        return not (self.events or self.calls or self.staged or self.conflicts)

    # ------------------------------------------------------------ writing

    def flush(self, *, resume_token=None, resume_cursor=None) -> None:
        """Write everything collected, then start over empty."""
        with transaction.atomic():
            self._write_staged()
            self._write_links()
            self._write_review_queue()
            RecordEvent.objects.bulk_create(self.events, batch_size=500)
            RequestLog.objects.bulk_create(self._request_logs(), batch_size=200)
            self._write_held()
            FieldConflict.objects.bulk_create(self.conflicts, batch_size=200)
            self._write_counts()
            if self.failures or self.succeeded_keys or self.held:
                IntegrationState.recount_queue(self.table.integration_id, [self.table.pk])
            if resume_token is not None:
                SyncTable.objects.filter(pk=self.table.pk).update(
                    resume_token=resume_token, resume_cursor=resume_cursor or ""
                )
                self.table.resume_token, self.table.resume_cursor = resume_token, resume_cursor or ""
        self.__init__(self.run, self.table, self.table_run)

    def _write_staged(self):
        if self.staged:
            StagedRecord.objects.bulk_create(
                list(self.staged.values()),
                update_conflicts=True,
                unique_fields=["table", "source_key"],
                update_fields=["payload", "payload_bytes", "received_at", "run_id"],
                batch_size=500,
            )

    def _write_links(self):
        if self.links:
            RecordLink.objects.bulk_create(
                list(self.links.values()),
                update_conflicts=True,
                unique_fields=["table", "source_key"],
                update_fields=["target_key", "mapped_hash", "written_values", "synced_at"],
                batch_size=500,
            )
        if self.removed_links:
            RecordLink.objects.filter(table=self.table, source_key__in=self.removed_links).delete()
            StagedRecord.objects.filter(table=self.table, source_key__in=self.removed_links).delete()

    def _write_review_queue(self):
        now = timezone.now()
        pending = RecordError.objects.filter(table=self.table, status__in=PENDING_ERROR_STATUSES)
        if self.succeeded_keys:
            pending.filter(record_key__in=self.succeeded_keys).update(status=ErrorStatus.RESOLVED, closed_at=now)
        if not self.failures:
            return
        existing = {error.record_key: error for error in pending.filter(record_key__in=[f.key for f in self.failures])}
        new = []
        for failure in self.failures:
            error = existing.get(failure.key)
            if error is None:
                error = RecordError(table=self.table, record_key=failure.key, attempts=0, first_failed_at=now)
                existing[failure.key] = error
                new.append(error)
            error.run, error.payload, error.reason = self.run, failure.payload, failure.reason
            error.field_errors, error.last_failed_at = failure.field_errors, now
            error.status = ErrorStatus.WAITING if failure.waiting_for else ErrorStatus.OPEN
            error.waiting_for = failure.waiting_for
            error.attempts += 1
            error.next_retry_at = None
            if not failure.waiting_for:  # a waiting record is retried by every run anyway
                error.next_retry_at = RecordError.retry_after(
                    error.attempts, settings.RECORD_RETRY_FIRST_DELAY, settings.RECORD_RETRY_ATTEMPTS, now
                )
        RecordError.objects.bulk_create(new)
        changed = [error for error in existing.values() if error not in new]
        RecordError.objects.bulk_update(
            changed,
            [
                "run",
                "payload",
                "reason",
                "field_errors",
                "last_failed_at",
                "attempts",
                "status",
                "waiting_for",
                "next_retry_at",
            ],
            batch_size=200,
        )

    def _request_logs(self):
        return [
            request_log(call, run=self.run, table=self.table, connection_id=connection_id)
            for connection_id, call in self.calls
        ]

    def _write_held(self):
        if not self.held:
            return
        pending = set(
            HeldDelete.objects.filter(
                table=self.table, status=HeldDeleteStatus.PENDING, source_key__in=[h.source_key for h in self.held]
            ).values_list("source_key", flat=True)
        )
        HeldDelete.objects.bulk_create([held for held in self.held if held.source_key not in pending])

    def _write_counts(self):
        if not self.counts:
            return
        increments = {action: F(action) + self.counts[action] for action in OUTCOME_ACTIONS if self.counts[action]}
        increments["read"] = F("read") + sum(self.counts.values())
        TableRun.objects.filter(pk=self.table_run.pk).update(**increments)
        for action in OUTCOME_ACTIONS:
            setattr(self.table_run, action, getattr(self.table_run, action) + self.counts[action])
        self.table_run.read += sum(self.counts.values())
