"""Opening and resolving alerts: one unresolved alert per (integration, table, kind)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from .choices import UNRESOLVED_ALERT_STATUSES, AlertStatus
from .models import Alert


def open_alert(integration, kind, message, *, table=None, now=None) -> tuple[Alert, bool]:
    """The unresolved alert of this kind, opened now if there was none; ``(alert, opened)``."""
    now = now or timezone.now()
    unresolved = Alert.objects.filter(
        integration=integration, table=table, kind=kind, status__in=UNRESOLVED_ALERT_STATUSES
    )
    alert = unresolved.first()
    if alert is not None:
        return alert, False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                integration=integration, table=table, kind=kind, message=message, opened_at=now
            )
    except IntegrityError:  # another worker opened it first; the constraint keeps one
        return unresolved.get(), False
    return alert, True


def resolve_alert(integration, kind, *, table=None, now=None) -> Alert | None:
    """Resolve the unresolved alert of this kind, if any."""
    alert = Alert.objects.filter(
        integration=integration, table=table, kind=kind, status__in=UNRESOLVED_ALERT_STATUSES
    ).first()
    if alert is None:
        return None
    alert.status, alert.resolved_at = AlertStatus.RESOLVED, now or timezone.now()
    alert.save(update_fields=["status", "resolved_at"])
    return alert
