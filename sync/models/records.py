"""What the portal keeps of each record it moves: the link between its two keys, its last raw payload."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .tables import SyncTable


class RecordLink(models.Model):
    """Source key ↔ target key of one record, and the hash of what was last written."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="links", verbose_name=_("table"))
    source_key = models.CharField(_("source key"), max_length=200)
    target_key = models.CharField(_("target key"), max_length=200)
    mapped_hash = models.CharField(_("hash of the last written values"), max_length=64)
    written_values = models.JSONField(
        _("last written values"),
        default=dict,
        blank=True,
        help_text=_("Each mapped field as the portal last wrote it, by target path"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    synced_at = models.DateTimeField(_("last written"), default=timezone.now)

    class Meta:
        verbose_name = _("record link")
        verbose_name_plural = _("record links")
        constraints = [
            models.UniqueConstraint(fields=["table", "source_key"], name="record_link_unique_source_key"),
        ]
        indexes = [models.Index(fields=["table", "target_key"], name="record_link_target_key")]

    def __str__(self):
        return f"{self.source_key} → {self.target_key}"


class StagedRecord(models.Model):
    """The newest raw payload of a record as received, before mapping."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="staged_records", verbose_name=_("table"))
    source_key = models.CharField(_("source key"), max_length=200)
    payload = models.JSONField(_("payload"))
    payload_bytes = models.PositiveIntegerField(_("size (bytes)"), help_text=_("Size of the payload as received"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    run_id = models.BigIntegerField(_("run"), null=True, blank=True, help_text=_("The run that received it"))

    class Meta:
        verbose_name = _("staged record")
        verbose_name_plural = _("staged records")
        constraints = [
            models.UniqueConstraint(fields=["table", "source_key"], name="staged_record_unique_source_key"),
        ]

    def __str__(self):
        return self.source_key
