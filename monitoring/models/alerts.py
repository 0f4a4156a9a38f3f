"""Alerts and the changes of their state; each change is also the outbox entry of its notification."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.stored_messages import StoredMessageField
from sync.models import Integration, SyncTable

from ..choices import UNRESOLVED_ALERT_STATUSES, AlertKind, AlertStatus, NotificationStatus


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
