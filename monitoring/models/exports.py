"""Background history exports: the job, its claim and its end."""

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField
from sync.models import Integration

from ..choices import ACTIVE_EXPORT_STATUSES, EXPORT_STATUS_COLOURS, ExportStatus


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
