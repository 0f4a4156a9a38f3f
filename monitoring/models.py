"""How it went: runs, per-table counts, record events, request logs, the review queue, alerts.

What workers write for people to read later (a run's error, a record event's message, a
review-queue reason, an alert's message and notes, a notification's failure, a call's error, an
export's error) is a :class:`~core.stored_messages.StoredMessageField`: kept untranslated, shown in
the reader's language. A review-queue entry's per-field errors live in a JSON column, each as a
stored message's JSON text (:meth:`RecordError.field_error_list` reads them back).
"""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField, parse
from sync.models import Connection, Integration, SyncTable

from .choices import (
    ACTIVE_RUN_STATUSES,
    FAILED_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    PENDING_ERROR_STATUSES,
    SUCCESS_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    UNRESOLVED_ALERT_STATUSES,
    AlertKind,
    AlertStatus,
    ErrorStatus,
    HeldDeleteStatus,
    NotificationStatus,
    RecordAction,
    RequestDirection,
    RunStatus,
    Trigger,
)


def _elapsed(start, end):
    if start is None:
        return None
    return (end or timezone.now()) - start


class SyncRun(models.Model):
    """One execution of an integration. Timestamps are stored; durations derived."""

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="runs", verbose_name=_("integration"))
    status = models.CharField(_("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, verbose_name=_("triggered by")
    )
    queued_at = models.DateTimeField(_("queued"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    error = StoredMessageField(_("error"), blank=True)
    task_id = models.CharField(_("background task"), max_length=64, blank=True)
    scheduled_for = models.DateTimeField(
        _("scheduled for"), null=True, blank=True, help_text=_("The schedule slot this run is for")
    )

    class Meta:
        ordering = ["-queued_at", "-pk"]
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        constraints = [
            models.UniqueConstraint(
                fields=["integration"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="sync_run_one_active_per_integration",
                violation_error_message=_("This integration is already queued or running."),
            ),
            models.UniqueConstraint(
                fields=["integration", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="sync_run_one_per_schedule_slot",
                violation_error_message=_("This schedule slot already has a run."),
            ),
        ]
        indexes = [
            models.Index(fields=["integration", "-started_at"], name="sync_run_integration_started"),
            models.Index(fields=["integration", "status", "-finished_at"], name="sync_run_integration_finished"),
            models.Index(fields=["status", "heartbeat_at"], name="sync_run_status_heartbeat"),
        ]

    def __str__(self):
        return f"{self.integration} #{self.pk}"

    def save(self, *args, **kwargs):
        """Saved with its integration's state, in one transaction."""
        with transaction.atomic():
            super().save(*args, **kwargs)
            IntegrationState.record_run(self)

    @property
    def duration(self):
        return _elapsed(self.started_at, self.finished_at)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    def start(self, now=None) -> bool:
        """Claim a queued run; False when another worker got it first."""
        now = now or timezone.now()
        claimed = SyncRun.objects.filter(pk=self.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
        )
        if claimed:
            self.status, self.started_at, self.heartbeat_at = RunStatus.RUNNING, now, now
        return bool(claimed)

    def beat(self, now=None) -> None:
        now = now or timezone.now()
        SyncRun.objects.filter(pk=self.pk, status=RunStatus.RUNNING).update(heartbeat_at=now)
        self.heartbeat_at = now

    def finish(self, status: RunStatus, error: str = "", now=None) -> bool:
        """Move an active run to a terminal ``status``; False if it had already ended."""
        if status not in TERMINAL_RUN_STATUSES:
            raise ValueError(f"{status} is not a terminal run status")
        now = now or timezone.now()
        with transaction.atomic():
            done = SyncRun.objects.filter(pk=self.pk, status__in=ACTIVE_RUN_STATUSES).update(
                status=status, finished_at=now, error=error
            )
            if done:
                self.status, self.finished_at, self.error = status, now, error
                IntegrationState.record_run(self)
        return bool(done)


class TableRun(models.Model):
    """One table's part of a run. ``read`` always equals the sum of the outcomes."""

    run = models.ForeignKey(SyncRun, models.CASCADE, related_name="table_runs", verbose_name=_("run"))
    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="table_runs", verbose_name=_("table"))
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    source_total = models.PositiveIntegerField(
        _("source total"), null=True, blank=True, help_text=_("How many records the source reported, when it does")
    )
    read = models.PositiveIntegerField(_("read"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    skipped = models.PositiveIntegerField(_("skipped by a rule"), default=0)
    deleted = models.PositiveIntegerField(_("deleted"), default=0)
    held = models.PositiveIntegerField(_("deletes held"), default=0)
    waiting = models.PositiveIntegerField(
        _("waiting"), default=0, help_text=_("For a referenced record not synced yet")
    )
    failed = models.PositiveIntegerField(_("failed"), default=0)
    target_total = models.PositiveIntegerField(
        _("confirmed in the target"),
        null=True,
        blank=True,
        help_text=_("What the table's count query on the target answered after the run; blank: not checked"),
    )
    linked_total = models.PositiveIntegerField(
        _("linked by the portal"),
        null=True,
        blank=True,
        help_text=_("Records the portal held links for when the target was counted"),
    )
    target_count_error = StoredMessageField(_("why the target was not counted"), blank=True)
    cursor_before = models.CharField(_("cursor before"), max_length=200, blank=True)
    cursor_after = models.CharField(_("cursor after"), max_length=200, blank=True)

    class Meta:
        ordering = ["run", "table__order", "pk"]
        verbose_name = _("table run")
        verbose_name_plural = _("table runs")
        constraints = [
            models.UniqueConstraint(fields=["run", "table"], name="table_run_unique_table_per_run"),
            models.CheckConstraint(
                condition=Q(
                    read=F("created")
                    + F("updated")
                    + F("unchanged")
                    + F("skipped")
                    + F("deleted")
                    + F("held")
                    + F("waiting")
                    + F("failed")
                ),
                name="table_run_read_equals_outcomes",
                violation_error_message=_("Records read must equal the sum of the outcomes."),
            ),
        ]
        indexes = [models.Index(fields=["table", "-started_at"], name="table_run_table_started")]

    def __str__(self):
        return f"{self.run} · {self.table.name}"

    def save(self, *args, **kwargs):
        """Saved with its table's state, in one transaction (a finished table run is an outcome)."""
        with transaction.atomic():
            super().save(*args, **kwargs)
            TableState.record_table_run(self)

    @property
    def duration(self):
        return _elapsed(self.started_at, self.finished_at)


class RecordEvent(models.Model):
    """What happened to one record in one run."""

    run = models.ForeignKey(SyncRun, models.CASCADE, related_name="events", verbose_name=_("run"))
    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="events", verbose_name=_("table"))
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    record_key = models.CharField(_("record key"), max_length=200)
    target_key = models.CharField(_("target key"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=RecordAction.choices)
    message = StoredMessageField(_("message"), blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        verbose_name = _("record event")
        verbose_name_plural = _("record events")
        indexes = [
            models.Index(fields=["table", "occurred_at"], name="record_event_table_time"),
            models.Index(fields=["run", "table"], name="record_event_run_table"),
        ]

    def __str__(self):
        return f"{self.record_key}: {self.get_action_display()}"


class RequestLog(models.Model):
    """One call made or received; headers and bodies are redacted and truncated before storage."""

    run = models.ForeignKey(
        SyncRun, models.CASCADE, null=True, blank=True, related_name="requests", verbose_name=_("run")
    )
    table = models.ForeignKey(
        SyncTable, models.CASCADE, null=True, blank=True, related_name="requests", verbose_name=_("table")
    )
    connection = models.ForeignKey(
        Connection, models.SET_NULL, null=True, blank=True, related_name="requests", verbose_name=_("connection")
    )
    direction = models.CharField(
        _("direction"), max_length=10, choices=RequestDirection.choices, default=RequestDirection.OUTBOUND
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    method = models.CharField(_("method"), max_length=10, help_text=_("HTTP method, or SOAP"))
    url = models.TextField(_("URL"))
    operation = models.CharField(_("SOAP operation"), max_length=200, blank=True)
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    request_headers = models.JSONField(_("request headers"), default=dict, blank=True)
    request_body = models.TextField(_("request body"), blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    error = StoredMessageField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("request log")
        verbose_name_plural = _("request logs")
        indexes = [
            models.Index(fields=["table", "started_at"], name="request_log_table_time"),
            models.Index(fields=["run", "started_at"], name="request_log_run_time"),
        ]

    def __str__(self):
        return f"{self.method} {self.operation or self.url}"

    @property
    def duration(self):
        return None if self.finished_at is None else self.finished_at - self.started_at


class QueueQuerySet(models.QuerySet):
    """Rows of the review queue or the held deletes: changes to them are counted again on the state."""

    def change(self, **values) -> int:
        """Update these rows and count again what waits for a person in their tables, in one transaction."""
        with transaction.atomic():
            tables = defaultdict(list)
            for table_id, integration_id in self.values_list("table_id", "table__integration_id").distinct():
                tables[integration_id].append(table_id)
            count = self.update(**values)
            for integration_id, table_ids in tables.items():
                IntegrationState.recount_queue(integration_id, table_ids)
        return count


class RecordError(models.Model):
    """The review queue: a record that failed, with its payload, until retried or ignored."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="record_errors", verbose_name=_("table"))
    run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="record_errors", verbose_name=_("last run")
    )
    record_key = models.CharField(_("record key"), max_length=200)
    payload = models.JSONField(_("payload"))
    reason = StoredMessageField(_("reason"))
    field_errors = models.JSONField(_("field errors"), default=dict, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    status = models.CharField(_("status"), max_length=10, choices=ErrorStatus.choices, default=ErrorStatus.OPEN)
    waiting_for = models.CharField(
        _("waiting for"),
        max_length=300,
        blank=True,
        help_text=_("The referenced record not synced yet, e.g. Company 40001002"),
    )
    first_failed_at = models.DateTimeField(_("first failed"), default=timezone.now)
    last_failed_at = models.DateTimeField(_("last failed"), default=timezone.now)
    next_retry_at = models.DateTimeField(
        _("next automatic retry"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("Blank: no more automatic retries; it waits for a person"),
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, verbose_name=_("closed by")
    )

    objects = QueueQuerySet.as_manager()

    class Meta:
        ordering = ["-last_failed_at", "-pk"]
        verbose_name = _("failed record")
        verbose_name_plural = _("review queue")
        permissions = [("retry_record", _("Can retry or ignore a failed record"))]
        constraints = [
            models.UniqueConstraint(
                fields=["table", "record_key"],
                condition=Q(status__in=PENDING_ERROR_STATUSES),
                name="record_error_one_pending_per_record",
            )
        ]
        indexes = [models.Index(fields=["status", "-last_failed_at"], name="record_error_status_time")]

    def __str__(self):
        return f"{self.table.name} {self.record_key}"

    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)
            IntegrationState.recount_queue(self.table.integration_id, [self.table_id])

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            IntegrationState.recount_queue(self.table.integration_id, [self.table_id])
        return deleted

    def age(self, now=None):
        return (now or timezone.now()) - self.first_failed_at

    @staticmethod
    def retry_after(attempts: int, first_delay: int, limit: int, now):
        """When a record that failed ``attempts`` times is retried by a run: once, twice, four times… the first delay.

        None once the automatic attempts are spent (``limit`` retries after the first failure).
        Hand-written: a due date stored on the row, not a retry loop (which tenacity or backoff would run).
        """
        if attempts > limit:
            return None
        return now + timedelta(seconds=first_delay * 2 ** (attempts - 1))

    def field_error_list(self) -> list[tuple[str, str]]:
        """(field, error) pairs, each error in the active language; the field is blank when not named."""
        errors = self.field_errors
        if isinstance(errors, dict):
            return [(str(name), str(parse(message))) for name, message in errors.items()]
        if isinstance(errors, list):
            return [("", str(parse(message))) for message in errors]
        return [("", str(parse(errors)))] if errors else []


class FieldConflict(models.Model):
    """The conflict journal: a field a person changed in the target that the source's newer value overwrote."""

    run = models.ForeignKey(SyncRun, models.CASCADE, related_name="conflicts", verbose_name=_("run"))
    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="conflicts", verbose_name=_("table"))
    record_key = models.CharField(_("record key"), max_length=200)
    target_key = models.CharField(_("target key"), max_length=200)
    field = models.CharField(_("field"), max_length=200)
    written_value = models.JSONField(_("last written by the portal"), null=True, blank=True)
    lost_value = models.JSONField(_("value changed in the target (overwritten)"), null=True, blank=True)
    new_value = models.JSONField(_("new value from the source"), null=True, blank=True)
    detected_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-detected_at", "-pk"]
        verbose_name = _("field conflict")
        verbose_name_plural = _("conflict journal")
        indexes = [models.Index(fields=["table", "record_key"], name="field_conflict_record")]

    def __str__(self):
        return f"{self.table.name} {self.record_key} · {self.field}"


class HeldDelete(models.Model):
    """A delete that exceeded its table's threshold: held, not applied, until IT decides."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="held_deletes", verbose_name=_("table"))
    run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="held_deletes", verbose_name=_("run")
    )
    source_key = models.CharField(_("source key"), max_length=200)
    target_key = models.CharField(_("target key"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=HeldDeleteStatus.choices, default=HeldDeleteStatus.PENDING
    )
    held_at = models.DateTimeField(_("held"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, verbose_name=_("decided by")
    )

    objects = QueueQuerySet.as_manager()

    class Meta:
        ordering = ["-held_at", "-pk"]
        verbose_name = _("held delete")
        verbose_name_plural = _("held deletes")
        constraints = [
            models.UniqueConstraint(
                fields=["table", "source_key"],
                condition=Q(status=HeldDeleteStatus.PENDING),
                name="held_delete_one_pending_per_record",
            )
        ]

    def __str__(self):
        return f"{self.table.name} {self.source_key}"

    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)
            IntegrationState.recount_queue(self.table.integration_id, [self.table_id])

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            IntegrationState.recount_queue(self.table.integration_id, [self.table_id])
        return deleted


class Alert(models.Model):
    """An alert: open → acknowledged → resolved. One unresolved per (integration, table, kind)."""

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="alerts", verbose_name=_("integration"))
    table = models.ForeignKey(
        SyncTable, models.CASCADE, null=True, blank=True, related_name="alerts", verbose_name=_("table")
    )
    kind = models.CharField(_("kind"), max_length=24, choices=AlertKind.choices)
    status = models.CharField(_("status"), max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = StoredMessageField(_("message"))
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, verbose_name=_("acknowledged by")
    )
    acknowledgement_note = models.TextField(_("acknowledgement note"), blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "kind"],
                condition=Q(status__in=UNRESOLVED_ALERT_STATUSES, table__isnull=True),
                name="alert_one_unresolved_per_integration_kind",
                violation_error_message=_("This alert is already open."),
            ),
            models.UniqueConstraint(
                fields=["integration", "table", "kind"],
                condition=Q(status__in=UNRESOLVED_ALERT_STATUSES, table__isnull=False),
                name="alert_one_unresolved_per_table_kind",
                violation_error_message=_("This alert is already open."),
            ),
        ]
        indexes = [models.Index(fields=["integration", "status"], name="alert_integration_status")]

    def __str__(self):
        return f"{self.integration}: {self.get_kind_display()}"


class AlertEvent(models.Model):
    """One change of an alert's state (opened, acknowledged, resolved) and the notification it sends.

    The notification is an outbox entry: it is sent by the alert evaluation, once, and a
    failure to send is kept here (error, attempts, next attempt) and retried with backoff.
    """

    alert = models.ForeignKey(Alert, models.CASCADE, related_name="events", verbose_name=_("alert"))
    state = models.CharField(_("state"), max_length=14, choices=AlertStatus.choices)
    at = models.DateTimeField(_("time"), default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, verbose_name=_("by"))
    note = StoredMessageField(_("note"), blank=True)

    notification = models.CharField(
        _("notification"), max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    next_attempt_at = models.DateTimeField(
        _("next attempt"), null=True, blank=True, help_text=_("When the notification is (re)tried")
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    email_sent_at = models.DateTimeField(_("email sent"), null=True, blank=True)
    webhook_sent_at = models.DateTimeField(_("webhook called"), null=True, blank=True)
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)
    last_error = StoredMessageField(_("last error"), blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("alert event")
        verbose_name_plural = _("alert events")
        indexes = [models.Index(fields=["notification", "next_attempt_at"], name="alert_event_outbox")]

    def __str__(self):
        return f"{self.alert}: {self.get_state_display()}"


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


class ExportJob(models.Model):
    """A history workbook too large to build inside a request: written in the background, kept for a while.

    The file lives in ``settings.DATA_DIR / "exports"`` under ``file_name``; only the user who asked
    (or a superuser) may download it. The constraints hold what an export may take from the portal:

    - one active job per (user, integration, selection): the same request again reuses it;
    - a user's active jobs each hold one of their ``slot`` numbers (1…N): at most N at a time;
    - one job being written at a time across the portal, so exports never take more than one
      worker from the syncs (a second waits, queued, and is sent when the first ends).
    """

    integration = models.ForeignKey(
        Integration, models.CASCADE, related_name="export_jobs", verbose_name=_("integration")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, verbose_name=_("requested by")
    )
    table_ids = models.JSONField(_("tables"), default=list, help_text=_("Primary keys of the chosen tables"))
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("to"))
    language = models.CharField(_("language"), max_length=15, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    error = StoredMessageField(_("error"), blank=True)
    task_id = models.CharField(_("background task"), max_length=64, blank=True)
    selection_key = models.CharField(
        _("selection"), max_length=200, blank=True, help_text=_("Days, tables and language, as one key")
    )
    slot = models.PositiveSmallIntegerField(
        _("slot"), null=True, blank=True, help_text=_("Which of the user's concurrent exports this is")
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent to the workers"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("history export")
        verbose_name_plural = _("history exports")
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "integration", "selection_key"],
                condition=Q(status__in=ACTIVE_EXPORT_STATUSES),
                name="export_job_one_active_per_selection",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "slot"],
                condition=Q(status__in=ACTIVE_EXPORT_STATUSES),
                name="export_job_user_slots",
            ),
            models.UniqueConstraint(
                fields=["status"], condition=Q(status=ExportStatus.RUNNING), name="export_job_one_running"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "finished_at"], name="export_job_status_finished"),
            models.Index(fields=["integration", "requested_by", "-created_at"], name="export_job_integration_user"),
        ]

    def __str__(self):
        return f"{self.integration} {self.start_date}…{self.end_date} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_EXPORT_STATUSES

    @property
    def colour(self) -> str:
        return EXPORT_STATUS_COLOURS[self.status]

    def visible_to(self, user) -> bool:
        """Only the user who asked, or a superuser, and only with the export permission."""
        if not user.has_perm("sync.export_history"):
            return False
        return user.is_superuser or (self.requested_by_id is not None and self.requested_by_id == user.pk)

    def start(self, now=None) -> bool:
        """Claim a queued job; False when another worker got it first, it is no longer queued, or another
        export is being written (this one stays queued and waits its turn)."""
        now = now or timezone.now()
        try:
            with transaction.atomic():
                claimed = ExportJob.objects.filter(pk=self.pk, status=ExportStatus.QUEUED).update(
                    status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now
                )
        except IntegrityError:
            return False  # export_job_one_running
        if claimed:
            self.status, self.started_at, self.heartbeat_at = ExportStatus.RUNNING, now, now
        return bool(claimed)

    def finish(self, status: ExportStatus, *, rows=None, size_bytes=None, file_name="", error="", now=None) -> bool:
        """Move an active job to ``done`` (with its file) or ``failed``; False if it had already ended."""
        if status not in (ExportStatus.DONE, ExportStatus.FAILED):
            raise ValueError(f"{status} is not where an export ends")
        now = now or timezone.now()
        values = {"status": status, "finished_at": now, "error": error}
        if status == ExportStatus.DONE:
            values.update(rows=rows, size_bytes=size_bytes, file_name=file_name)
        done = ExportJob.objects.filter(pk=self.pk, status__in=ACTIVE_EXPORT_STATUSES).update(**values)
        if done:
            for name, value in values.items():
                setattr(self, name, value)
        return bool(done)


class WorkersHeartbeat(models.Model):
    """The background workers' sign of life: written by their every-minute maintenance task, one row per host."""

    host = models.CharField(_("host"), max_length=255, unique=True)
    beat_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("workers heartbeat")
        verbose_name_plural = _("workers heartbeats")

    def __str__(self):
        return self.host


class UserPreference(models.Model):
    """What one person chose for the portal, kept across sessions and browsers: the language for now.

    ``language`` is a code of ``settings.LANGUAGES`` (checked where it is chosen, in
    :func:`integration_portal.language.set_language`), or blank for "follow the browser".
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="portal_preference", verbose_name=_("user")
    )
    language = models.CharField(_("language"), max_length=15, blank=True)

    class Meta:
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return str(self.user)


# ---------------------------------------------------------------- stored state (healthchecks' Check row)


def _newer(moment, pk, than_moment, than_pk) -> bool:
    """``(moment, pk)`` comes after ``(than_moment, than_pk)``: the order of "newest finished first"."""
    return than_moment is None or (moment, pk) > (than_moment, than_pk or 0)


def _window_end(last_success, activated_at, max_time):
    """When the time without success runs out: the later of last success and activation, plus the max time."""
    moments = [moment for moment in (last_success, activated_at) if moment is not None]
    return max(moments) + max_time if moments and max_time else None


class StoredOutcome(models.Model):
    """What the health of an integration and of a table share: the newest outcome, the last success,
    what waits for a person and when the time without success runs out."""

    last_finished_at = models.DateTimeField(_("last finished"), null=True, blank=True)
    last_finished_status = models.CharField(
        _("last finished status"), max_length=10, choices=RunStatus.choices, blank=True
    )
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    review_records = models.PositiveIntegerField(_("records in the review queue"), default=0)
    held_deletes = models.PositiveIntegerField(_("deletes held for approval"), default=0)
    waiting_records = models.PositiveIntegerField(_("records waiting for a referenced record"), default=0)
    alert_after = models.DateTimeField(
        _("alert after"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("When the max time without success runs out"),
    )

    class Meta:
        abstract = True


class IntegrationState(StoredOutcome):
    """The stored facts an integration's health is computed from, one row per integration.

    Written only in the transactions that queue, start and finish runs (:meth:`record_run`),
    claim schedule slots (``next_run_at``, by a conditional update: see :mod:`sync.slots`) and
    change the review queue or the held deletes (:meth:`recount_queue`). ``manage.py
    rebuild_state`` recomputes it from the runs (:mod:`monitoring.state`).
    """

    integration = models.OneToOneField(
        Integration, models.CASCADE, primary_key=True, related_name="state", verbose_name=_("integration")
    )
    next_run_at = models.DateTimeField(
        _("next run due"), null=True, blank=True, db_index=True, help_text=_("The schedule slot not claimed yet")
    )
    last_queued_at = models.DateTimeField(_("last queued"), null=True, blank=True)
    active_run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("active run")
    )
    last_finished_run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("last finished run")
    )
    last_error = StoredMessageField(_("last error"), blank=True)
    failure_streak = models.PositiveIntegerField(_("failed runs since the last success"), default=0)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    review_tables = models.PositiveIntegerField(_("tables with records in the review queue"), default=0)
    review_table = models.ForeignKey(
        SyncTable, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("review queue table")
    )
    held_tables = models.PositiveIntegerField(_("tables with deletes held"), default=0)
    held_table = models.ForeignKey(
        SyncTable, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("held deletes table")
    )

    class Meta:
        verbose_name = _("integration state")
        verbose_name_plural = _("integration states")

    def __str__(self):
        return str(self.integration)

    @classmethod
    def locked(cls, integration_id: int) -> "IntegrationState":
        """The integration's state row, created if missing and locked until the transaction ends."""
        cls.objects.get_or_create(integration_id=integration_id)
        return cls.objects.select_for_update().select_related("integration").get(integration_id=integration_id)

    @classmethod
    def record_run(cls, run: SyncRun) -> None:
        """Apply a run's present values (queued, started, finished, skipped) to its integration's state.

        Idempotent: recording the same run twice changes nothing. The failure streak is counted
        again (one indexed query) when a failure or a newer success is recorded.
        """
        with transaction.atomic():
            state = cls.locked(run.integration_id)
            if state.last_queued_at is None or run.queued_at > state.last_queued_at:
                state.last_queued_at = run.queued_at
            if run.status in ACTIVE_RUN_STATUSES:
                state.active_run_id = run.pk
            elif state.active_run_id == run.pk:
                state.active_run_id = None
            if run.status in FINISHED_RUN_STATUSES and run.finished_at is not None:
                state._record_finished(run)
            state.save()

    def _record_finished(self, run: SyncRun) -> None:
        if run.pk == self.last_finished_run_id or _newer(
            run.finished_at, run.pk, self.last_finished_at, self.last_finished_run_id
        ):
            self.last_finished_run_id, self.last_finished_at = run.pk, run.finished_at
            self.last_finished_status, self.last_error = run.status, run.error
        newer_success = run.status in SUCCESS_RUN_STATUSES and (
            self.last_success_at is None or run.finished_at > self.last_success_at
        )
        if newer_success:
            self.last_success_at = run.finished_at
            self.alert_after = self.window_end()
        if newer_success or run.status in FAILED_RUN_STATUSES:
            self.count_failures()

    def count_failures(self) -> None:
        """The failed, abandoned and lost runs finished since the last success, and the first of them."""
        failed = SyncRun.objects.filter(integration_id=self.integration_id, status__in=FAILED_RUN_STATUSES)
        failed = failed.filter(finished_at__isnull=False)
        if self.last_success_at is not None:
            failed = failed.filter(finished_at__gt=self.last_success_at)
        figures = failed.aggregate(streak=models.Count("pk"), since=models.Min("finished_at"))
        self.failure_streak, self.failing_since = figures["streak"], figures["since"]

    def window_end(self):
        integration = self.integration
        return _window_end(self.last_success_at, integration.activated_at, integration.max_time_without_success)

    @classmethod
    def refresh_window(cls, integration: Integration) -> None:
        """``alert_after`` of the integration and its tables, after its activation or max time changed."""
        with transaction.atomic():
            state = cls.locked(integration.pk)
            state.integration = integration
            state.alert_after = state.window_end()
            state.save(update_fields=["alert_after"])
            for table_state in TableState.objects.select_for_update().filter(integration=integration):
                table_state.refresh_window(integration)

    @classmethod
    def recount_queue(cls, integration_id: int, table_ids=None) -> None:
        """Count again what waits for a person, in ``table_ids`` (all the integration's tables when None)."""
        with transaction.atomic():
            state = cls.locked(integration_id)
            tables = SyncTable.objects.filter(integration_id=integration_id)
            if table_ids is not None:
                tables = tables.filter(pk__in=table_ids)
            for table_id in tables.values_list("pk", flat=True):
                TableState.locked(table_id).count_queue()
            table_states = list(TableState.objects.filter(integration_id=integration_id).order_by("table_id"))
            review = [each for each in table_states if each.review_records]
            held = [each for each in table_states if each.held_deletes]
            state.review_records = sum(each.review_records for each in review)
            state.review_tables = len(review)
            state.review_table_id = review[0].table_id if len(review) == 1 else None
            state.held_deletes = sum(each.held_deletes for each in held)
            state.held_tables = len(held)
            state.held_table_id = held[0].table_id if len(held) == 1 else None
            state.waiting_records = sum(each.waiting_records for each in table_states)
            state.save(
                update_fields=[
                    "review_records",
                    "review_tables",
                    "review_table",
                    "held_deletes",
                    "held_tables",
                    "held_table",
                    "waiting_records",
                ]
            )


class TableState(StoredOutcome):
    """The stored facts of one table's health: its table runs' outcomes and what waits for a person."""

    table = models.OneToOneField(
        SyncTable, models.CASCADE, primary_key=True, related_name="state", verbose_name=_("table")
    )
    integration = models.ForeignKey(
        Integration, models.CASCADE, related_name="table_states", verbose_name=_("integration")
    )
    last_finished_run = models.ForeignKey(
        TableRun, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("last finished table run")
    )

    class Meta:
        verbose_name = _("table state")
        verbose_name_plural = _("table states")

    def __str__(self):
        return str(self.table)

    @classmethod
    def locked(cls, table_id: int) -> "TableState":
        if not cls.objects.filter(table_id=table_id).exists():
            integration_id = SyncTable.objects.values_list("integration_id", flat=True).get(pk=table_id)
            cls.objects.get_or_create(table_id=table_id, defaults={"integration_id": integration_id})
        return cls.objects.select_for_update().select_related("table__integration").get(table_id=table_id)

    @classmethod
    def record_table_run(cls, table_run: TableRun) -> None:
        """Apply a finished table run to its table's state (idempotent)."""
        if table_run.status not in FINISHED_RUN_STATUSES or table_run.finished_at is None:
            return
        with transaction.atomic():
            state = cls.locked(table_run.table_id)
            if table_run.pk == state.last_finished_run_id or _newer(
                table_run.finished_at, table_run.pk, state.last_finished_at, state.last_finished_run_id
            ):
                state.last_finished_run_id, state.last_finished_at = table_run.pk, table_run.finished_at
                state.last_finished_status = table_run.status
            if table_run.status in SUCCESS_RUN_STATUSES and (
                state.last_success_at is None or table_run.finished_at > state.last_success_at
            ):
                state.last_success_at = table_run.finished_at
                state.alert_after = state.window_end(state.table.integration)
            state.save()

    def window_end(self, integration: Integration):
        max_time = self.table.max_time_without_success or integration.max_time_without_success
        return _window_end(self.last_success_at, integration.activated_at, max_time)

    def refresh_window(self, integration: Integration) -> None:
        self.alert_after = self.window_end(integration)
        self.save(update_fields=["alert_after"])

    def count_queue(self) -> None:
        errors = RecordError.objects.filter(table_id=self.table_id)
        self.review_records = errors.filter(status=ErrorStatus.OPEN).count()
        self.waiting_records = errors.filter(status=ErrorStatus.WAITING).count()
        self.held_deletes = HeldDelete.objects.filter(table_id=self.table_id, status=HeldDeleteStatus.PENDING).count()
        self.save(update_fields=["review_records", "waiting_records", "held_deletes"])
