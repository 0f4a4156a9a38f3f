"""The run ledger: runs, each table's part of a run, what happened to each record, and every call made.

A run's and a table run's save also writes its stored state (:mod:`monitoring.models.stored_state`),
in the same transaction.
"""

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField
from sync.models import Connection, Integration, SyncTable

from ..choices import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    RecordAction,
    RequestDirection,
    RunStatus,
    Trigger,
)
from .stored_state import IntegrationState, TableState


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
    resume_at = models.DateTimeField(
        _("resume at"),
        null=True,
        blank=True,
        help_text=_("A paused run: when its quota is back and a run resumes its work (cleared once queued)"),
    )
    pause_reason = StoredMessageField(_("why it paused"), blank=True)

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
            models.Index(fields=["resume_at"], condition=Q(resume_at__isnull=False), name="sync_run_resume_due"),
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

    @classmethod
    def skip_slot(cls, integration: Integration, slot, reason: str, now=None) -> bool:
        """Record the schedule slot ``slot`` as a skipped run that says why; False when the slot has a run already."""
        now = now or timezone.now()
        try:
            with transaction.atomic():
                cls.objects.create(
                    integration=integration,
                    trigger=Trigger.SCHEDULE,
                    status=RunStatus.SKIPPED,
                    scheduled_for=slot,
                    queued_at=now,
                    finished_at=now,
                    error=reason,
                )
        except IntegrityError:
            return False  # its timing was set back to a slot that ran
        return True

    def pause(self, resume_at, message: str, reason: str, now=None) -> bool:
        """Stop an active run cleanly until ``resume_at`` (a quota is spent); False if it had already ended.

        ``message`` is the run's words ("Paused until 14:02: daily quota reached (…)"), ``reason`` the
        quota's own ("daily quota reached (…)"); the minute's maintenance queues the run that resumes it.
        """
        now = now or timezone.now()
        with transaction.atomic():
            done = SyncRun.objects.filter(pk=self.pk, status__in=ACTIVE_RUN_STATUSES).update(
                status=RunStatus.PAUSED, finished_at=now, error=message, resume_at=resume_at, pause_reason=reason
            )
            if done:
                self.status, self.finished_at, self.error = RunStatus.PAUSED, now, message
                self.resume_at, self.pause_reason = resume_at, reason
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
    missed_by_webhooks = models.PositiveIntegerField(
        _("changes no webhook delivered"),
        null=True,
        blank=True,
        help_text=_(
            "For a table that takes webhooks, the changes its poll (the sweep) found and wrote: "
            "no webhook had brought them"
        ),
    )
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
