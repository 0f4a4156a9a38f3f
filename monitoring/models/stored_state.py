"""Stored state (healthchecks' ``Check`` row): the facts an integration's and a table's health are computed from.

The ledger's models write it as runs queue, start and finish and as the review queue changes; it
reaches their rows through its relations (``integration.runs``, ``table.record_errors``), so that
it imports none of them.
"""

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField
from sync.models import Integration, SyncTable

from ..choices import (
    ACTIVE_RUN_STATUSES,
    FAILED_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    SUCCESS_RUN_STATUSES,
    ErrorStatus,
    HeldDeleteStatus,
    RunStatus,
)


def _newer(moment, pk, than_moment, than_pk) -> bool:
    """``(moment, pk)`` comes after ``(than_moment, than_pk)``: the order of "newest finished first"."""
    return than_moment is None or (moment, pk) > (than_moment, than_pk or 0)


def window_end_at(last_success, activated_at, max_time):
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
        "SyncRun", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("active run")
    )
    last_finished_run = models.ForeignKey(
        "SyncRun", models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("last finished run")
    )
    paused_run = models.ForeignKey(
        "SyncRun",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("paused run"),
        help_text=_("The newest run, paused by a quota until its resume is queued"),
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
    def record_run(cls, run) -> None:
        """Apply a run's present values (queued, started, finished, skipped, paused) to its integration's state.

        Idempotent: recording the same run twice changes nothing. The failure streak is counted
        again (one indexed query) when a failure or a newer success is recorded.
        """
        with transaction.atomic():
            state = cls.locked(run.integration_id)
            if state.last_queued_at is None or run.queued_at > state.last_queued_at:
                state.last_queued_at = run.queued_at
            if run.status in ACTIVE_RUN_STATUSES:
                state.active_run_id = run.pk
                state.paused_run_id = None  # a run after the pause: the resume, or someone's
            elif state.active_run_id == run.pk:
                state.active_run_id = None
            if run.status == RunStatus.PAUSED and run.resume_at is not None and state.active_run_id is None:
                state.paused_run_id = run.pk
            if run.status in FINISHED_RUN_STATUSES and run.finished_at is not None:
                state._record_finished(run)
            state.save()

    def _record_finished(self, run) -> None:
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
        failed = self.integration.runs.filter(status__in=FAILED_RUN_STATUSES)
        failed = failed.filter(finished_at__isnull=False)
        if self.last_success_at is not None:
            failed = failed.filter(finished_at__gt=self.last_success_at)
        figures = failed.aggregate(streak=models.Count("pk"), since=models.Min("finished_at"))
        self.failure_streak, self.failing_since = figures["streak"], figures["since"]

    def window_end(self):
        integration = self.integration
        return window_end_at(self.last_success_at, integration.activated_at, integration.max_time_without_success)

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
        "TableRun",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last finished table run"),
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
    def record_table_run(cls, table_run) -> None:
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
        return window_end_at(self.last_success_at, integration.activated_at, max_time)

    def refresh_window(self, integration: Integration) -> None:
        self.alert_after = self.window_end(integration)
        self.save(update_fields=["alert_after"])

    def count_queue(self) -> None:
        errors = self.table.record_errors.all()
        self.review_records = errors.filter(status=ErrorStatus.OPEN).count()
        self.waiting_records = errors.filter(status=ErrorStatus.WAITING).count()
        self.held_deletes = self.table.held_deletes.filter(status=HeldDeleteStatus.PENDING).count()
        self.save(update_fields=["review_records", "waiting_records", "held_deletes"])
