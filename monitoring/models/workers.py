"""The background workers' sign of life."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkersHeartbeat(models.Model):
    """The background workers' sign of life: written by their every-minute maintenance task, one row per host."""

    host = models.CharField(_("host"), max_length=255, unique=True)
    beat_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("workers heartbeat")
        verbose_name_plural = _("workers heartbeats")

    def __str__(self):
        return self.host
