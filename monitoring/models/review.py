"""What waits for a person: the review queue, the conflict journal and the deletes held for approval.

Changes to the review queue and the held deletes are counted again on the stored state
(:meth:`~monitoring.models.stored_state.IntegrationState.recount_queue`), in the same transaction.
"""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField, parse
from sync.models import SyncTable

from ..choices import PENDING_ERROR_STATUSES, ErrorStatus, HeldDeleteStatus
from .runs import SyncRun
from .stored_state import IntegrationState


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


class CountedInQueue:
    """A row of what waits for a person: saving or deleting one recounts its table's queue in the stored state,
    in the same transaction."""

    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)
            IntegrationState.recount_queue(self.table.integration_id, [self.table_id])

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            IntegrationState.recount_queue(self.table.integration_id, [self.table_id])
        return deleted


class RecordError(CountedInQueue, models.Model):
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


class HeldDelete(CountedInQueue, models.Model):
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
