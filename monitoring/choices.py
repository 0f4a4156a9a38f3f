"""States of runs, records, errors and alerts, with their colours and terminal sets."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIAL = "partial", _("Partial")
    FAILED = "failed", _("Failed")
    ABANDONED = "abandoned", _("Abandoned")
    LOST = "lost", _("Lost")
    SKIPPED = "skipped", _("Skipped")
    PAUSED = "paused", _("Paused")


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL_RUN_STATUSES = tuple(status for status in RunStatus if status not in ACTIVE_RUN_STATUSES)
SUCCESS_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
FAILED_RUN_STATUSES = (RunStatus.FAILED, RunStatus.ABANDONED, RunStatus.LOST)
# Runs that count as attempts (for "never run", the newest outcome and the success rate). A *paused* run
# (a connection's quota was reached) is none: it stopped cleanly and a resume run carries on its work.
FINISHED_RUN_STATUSES = (*SUCCESS_RUN_STATUSES, *FAILED_RUN_STATUSES)

RUN_STATUS_COLOURS = {
    RunStatus.QUEUED: "grey",
    RunStatus.RUNNING: "blue",
    RunStatus.SUCCEEDED: "green",
    RunStatus.PARTIAL: "amber",
    RunStatus.FAILED: "red",
    RunStatus.ABANDONED: "red",
    RunStatus.LOST: "red",
    RunStatus.SKIPPED: "grey",
    RunStatus.PAUSED: "grey",
}


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", _("Schedule")
    MANUAL = "manual", _("Run now")
    COMMAND = "command", _("Command line")
    RETRY = "retry", pgettext_lazy("how a run was triggered", "Retry")
    REAPER = "reaper", _("Re-queued after a lost run")
    RESUME = "resume", _("Resumed after a pause")
    WEBHOOK = "webhook", _("Webhook")


class RecordAction(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    UNCHANGED = "unchanged", _("Unchanged")
    SKIPPED = "skipped", _("Skipped by a rule")
    DELETED = "deleted", _("Deleted")
    HELD = "held", _("Delete held")
    WAITING = "waiting", _("Waiting for a referenced record")
    FAILED = "failed", _("Failed")


# Each action is also the name of its counter on TableRun.
OUTCOME_ACTIONS = tuple(RecordAction.values)


class RequestDirection(models.TextChoices):
    OUTBOUND = "outbound", _("Call made")
    INBOUND = "inbound", _("Call received")


class ErrorStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for a referenced record")
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")
    IGNORED = "ignored", _("Ignored")


# A record in one of these is retried by the runs and has at most one entry.
PENDING_ERROR_STATUSES = (ErrorStatus.OPEN, ErrorStatus.WAITING)


class HeldDeleteStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved and deleted")
    REJECTED = "rejected", _("Rejected")


class AlertKind(models.TextChoices):
    NO_SUCCESS = "no_success", _("No success within the max time")
    CONSECUTIVE_FAILURES = "consecutive_failures", _("Consecutive failed runs")
    RUN_STUCK = "run_stuck", _("Run stuck")
    DELETES_HELD = "deletes_held", _("Deletes held for approval")
    TARGET_COUNT = "target_count", _("Target count differs from the links")
    WORKERS_DOWN = "workers_down", _("Background workers not seen")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


UNRESOLVED_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)

ALERT_STATUS_COLOURS = {
    AlertStatus.OPEN: "red",
    AlertStatus.ACKNOWLEDGED: "amber",
    AlertStatus.RESOLVED: "green",
}


class HealthStatus(models.TextChoices):
    """What the dashboard says about an integration (or a table); computed, never stored."""

    HEALTHY = "healthy", _("Healthy")
    RUNNING = "running", _("Running")
    LATE = "late", _("Late")
    FAILING = "failing", _("Failing")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    ALERT = "alert", _("Alert")
    PAUSED = "paused", _("Paused")
    NEVER_RUN = "never_run", _("Never run")
    NOT_CONFIGURED = "not_configured", _("Not configured")


HEALTH_STATUS_COLOURS = {
    HealthStatus.HEALTHY: "green",
    HealthStatus.RUNNING: "blue",
    HealthStatus.LATE: "amber",
    HealthStatus.FAILING: "red",
    HealthStatus.NEEDS_ATTENTION: "amber",
    HealthStatus.ALERT: "red",
    HealthStatus.PAUSED: "grey",
    HealthStatus.NEVER_RUN: "grey",
    HealthStatus.NOT_CONFIGURED: "grey",
}


class NotificationStatus(models.TextChoices):
    """Where the notification of one alert state change stands."""

    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    NOBODY = "nobody", _("No recipients configured")
    FAILED = "failed", _("Gave up after repeated failures")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Being written")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


ACTIVE_EXPORT_STATUSES = (ExportStatus.QUEUED, ExportStatus.RUNNING)
EXPORT_STATUS_COLOURS = {
    ExportStatus.QUEUED: "grey",
    ExportStatus.RUNNING: "blue",
    ExportStatus.DONE: "green",
    ExportStatus.FAILED: "red",
    ExportStatus.EXPIRED: "grey",
}


class WebhookVerdict(models.TextChoices):
    """Whether a received webhook delivery passed its sender's verification."""

    ACCEPTED = "accepted", _("Accepted")
    REFUSED = "refused", _("Refused")


class WebhookEventStatus(models.TextChoices):
    """Where a received webhook event stands: *received* waits to be processed; a refused one is *ignored*."""

    RECEIVED = "received", _("Received, waiting to be processed")
    PROCESSING = "processing", _("Being processed")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")
    IGNORED = "ignored", _("Ignored")


# Inbox events nothing waits on any more: retention may delete them once old.
SETTLED_WEBHOOK_STATUSES = (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED)
# Inbox events IT may send through the processing again (an accepted delivery, settled or failed).
PROCESS_AGAIN_WEBHOOK_STATUSES = (WebhookEventStatus.PROCESSED, WebhookEventStatus.FAILED, WebhookEventStatus.IGNORED)


WEBHOOK_VERDICT_COLOURS = {WebhookVerdict.ACCEPTED: "green", WebhookVerdict.REFUSED: "red"}
WEBHOOK_STATUS_COLOURS = {
    WebhookEventStatus.RECEIVED: "blue",
    WebhookEventStatus.PROCESSING: "blue",
    WebhookEventStatus.PROCESSED: "green",
    WebhookEventStatus.FAILED: "red",
    WebhookEventStatus.IGNORED: "grey",
}


class FileStatus(models.TextChoices):
    """Where a file a file connection picked up stands (the ledger of processed files)."""

    PROCESSING = "processing", _("Being read")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed as a whole")


FILE_STATUS_COLOURS = {FileStatus.PROCESSING: "blue", FileStatus.PROCESSED: "green", FileStatus.FAILED: "red"}
