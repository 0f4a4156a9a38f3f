"""The ledger of the files file connections picked up: each file processed once, by its checksum.

A run that finds a file in a connection's inbox claims it by inserting its row — the unique constraint on
(connection, checksum) lets one insert win — so two workers that see the same file never both read it,
and the same bytes dropped again under another name are recognised and not read twice. A file left
*being read* by a run that ended (a worker died) is claimed again by a conditional update on the run that
held it. The row says what became of the file: processed with its rows, or failed as a whole with why.
"""

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField
from sync.models import Connection

from ..choices import TERMINAL_RUN_STATUSES, FileStatus
from .runs import SyncRun


class ProcessedFile(models.Model):
    """One file (by its content) a file connection picked up, and what became of it."""

    connection = models.ForeignKey(
        Connection, models.CASCADE, related_name="processed_files", verbose_name=_("connection")
    )
    checksum = models.CharField(_("SHA-256"), max_length=64)
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=FileStatus.choices, default=FileStatus.PROCESSING)
    rows = models.PositiveIntegerField(_("rows read"), default=0)
    first_run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("first run")
    )
    last_run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="files", verbose_name=_("last run")
    )
    moved_to = models.CharField(
        _("moved to"), max_length=255, blank=True, help_text=_("Its name in the processed or failed folder")
    )
    reason = StoredMessageField(_("why it failed"), blank=True)
    claimed_at = models.DateTimeField(_("picked up"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-claimed_at", "-pk"]
        verbose_name = _("processed file")
        verbose_name_plural = _("processed files")
        constraints = [
            models.UniqueConstraint(fields=["connection", "checksum"], name="processed_file_once_per_connection"),
        ]
        indexes = [models.Index(fields=["connection", "status"], name="processed_file_status")]

    def __str__(self):
        return self.name

    @classmethod
    def claim(cls, connection_id: int, checksum: str, name: str, size: int, run: SyncRun) -> "ProcessedFile | None":
        """This file's row, claimed for ``run``; None when another run has it or it was processed already.

        The insert claims a new file; a file left being read by a run that ended is claimed again by
        a conditional update on the run that held it (one of two claimers wins).
        """
        now = timezone.now()
        fields = {"name": name[:255], "size": size, "last_run": run, "claimed_at": now}
        try:
            with transaction.atomic():
                return cls.objects.create(connection_id=connection_id, checksum=checksum, first_run=run, **fields)
        except IntegrityError:
            pass
        held = cls.objects.filter(connection_id=connection_id, checksum=checksum).values("pk", "status", "last_run_id")
        row = held.first()
        if row is None or row["status"] != FileStatus.PROCESSING:
            return None
        holder = SyncRun.objects.filter(pk=row["last_run_id"]).values_list("status", flat=True).first()
        if holder is not None and holder not in TERMINAL_RUN_STATUSES:
            return None  # a run is reading it
        claimed = cls.objects.filter(pk=row["pk"], status=FileStatus.PROCESSING, last_run_id=row["last_run_id"])
        if not claimed.update(**fields):
            return None
        return cls.objects.get(pk=row["pk"])

    def finish(self, status: FileStatus, rows: int, moved_to: str = "", reason: str = "") -> None:
        self.status, self.rows, self.moved_to, self.reason = status, rows, moved_to[:255], reason
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "rows", "moved_to", "reason", "finished_at"])
