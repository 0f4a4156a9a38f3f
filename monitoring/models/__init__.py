"""How it went: runs, per-table counts, record events, request logs, the review queue, alerts, stored state,
the webhook inbox.

What workers write for people to read later (a run's error, a record event's message, a
review-queue reason, an alert's message and notes, a notification's failure, a call's error, an
export's error) is a :class:`~core.stored_messages.StoredMessageField`: kept untranslated, shown in
the reader's language. A review-queue entry's per-field errors live in a JSON column, each as a
stored message's JSON text (:meth:`RecordError.field_error_list` reads them back).
"""

from ..choices import ACTIVE_EXPORT_STATUSES, EXPORT_STATUS_COLOURS, ExportStatus
from .alerts import Alert, AlertEvent
from .exports import ExportJob
from .files import ProcessedFile
from .review import FieldConflict, HeldDelete, QueueQuerySet, RecordError
from .runs import RecordEvent, RequestLog, SyncRun, TableRun
from .stored_state import IntegrationState, StoredOutcome, TableState, window_end_at
from .webhooks import REFUSED_BODY_KEPT, WebhookEvent
from .workers import WorkersHeartbeat

__all__ = [
    "ACTIVE_EXPORT_STATUSES",
    "EXPORT_STATUS_COLOURS",
    "REFUSED_BODY_KEPT",
    "Alert",
    "AlertEvent",
    "ExportJob",
    "ExportStatus",
    "FieldConflict",
    "HeldDelete",
    "IntegrationState",
    "ProcessedFile",
    "QueueQuerySet",
    "RecordError",
    "RecordEvent",
    "RequestLog",
    "StoredOutcome",
    "SyncRun",
    "TableRun",
    "TableState",
    "WebhookEvent",
    "WorkersHeartbeat",
    "window_end_at",
]
