"""Alerts: evaluate thresholds, open, acknowledge and resolve, notify on each change of state.

One unresolved alert per (integration, table, kind), kept by partial unique constraints.
Every change of state (opened, acknowledged, resolved) is stored as an
:class:`~monitoring.models.AlertEvent`, which is also the outbox entry of its one
notification (see :mod:`monitoring.notifications`).

:func:`evaluate_all` runs every minute (``manage.py evaluate_alerts`` or the django-q2
maintenance task). For each integration it opens or resolves:

- *no success within the max time*: the integration's window (see :mod:`monitoring.health`)
  is exceeded; also per table for active tables that override the max time;
- *consecutive failed runs*: the runs since the newest success include at least
  ``ALERT_CONSECUTIVE_FAILURES`` (default 3) failed, abandoned or lost ones; a completed
  run (succeeded or partial) resolves it;
- *run stuck*: the running run has had no heartbeat for ``RUN_HEARTBEAT_STALE_AFTER`` seconds
  (default 120; its own thread beats every 15 s, so its worker is gone), or the queued run has not
  started for ``RUN_STUCK_AFTER`` seconds (default 600); it resolves when the run ends or beats again.

*Deletes held* alerts are opened by the engine and resolved here once no held delete of
their table waits for approval. *Target count* alerts are opened and resolved by the engine
(:mod:`sync.target_count`) and resolved here once no run will count their table again (its
count query removed, the table switched off, the integration paused). Paused (inactive)
integrations open no alert; their unresolved alerts of the three kinds above are resolved
with the note "The integration was paused." (their held deletes still wait for a decision,
so those alerts stay).
Then the due notifications are sent.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core import stored_messages as stored
from core.local_time import format_local, portal_zone
from core.redaction import redact_text
from core.stored_messages import StoredMessage
from sync.models import SECRET_FIELDS, Integration, SyncTable

from .choices import FAILED_RUN_STATUSES, UNRESOLVED_ALERT_STATUSES, AlertKind, AlertStatus, HeldDeleteStatus, RunStatus
from .health import (
    HealthFacts,
    annotate_table_health,
    stuck_after,
    with_state,
)
from .models import Alert, AlertEvent, HeldDelete
from .notifications import deliver_due

# Kinds that the evaluation opens (and resolves when the integration is paused).
EVALUATED_KINDS = (AlertKind.NO_SUCCESS, AlertKind.CONSECUTIVE_FAILURES, AlertKind.RUN_STUCK)
ERROR_EXCERPT = 300


def consecutive_failures_threshold() -> int:
    return getattr(settings, "ALERT_CONSECUTIVE_FAILURES", 3)


# ---------------------------------------------------------------- changes of state


def _record(alert: Alert, state: AlertStatus, now, *, by=None, note: str = "") -> AlertEvent:
    return AlertEvent.objects.create(alert=alert, state=state, at=now, by=by, note=note, next_attempt_at=now)


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
            _record(alert, AlertStatus.OPEN, now)
    except IntegrityError:  # another worker opened it first; the constraint keeps one
        return unresolved.get(), False
    return alert, True


def resolve_alert(integration, kind, *, table=None, now=None, note: str = "") -> Alert | None:
    """Resolve the unresolved alert of this kind, if any, with ``note`` on its resolution."""
    alert = Alert.objects.filter(
        integration=integration, table=table, kind=kind, status__in=UNRESOLVED_ALERT_STATUSES
    ).first()
    if alert is None:
        return None
    return _resolve(alert, now or timezone.now(), note)


def _resolve(alert: Alert, now, note: str = "") -> Alert | None:
    """Resolve ``alert`` unless another evaluation did first (then ``None``)."""
    with transaction.atomic():
        done = Alert.objects.filter(pk=alert.pk, status__in=UNRESOLVED_ALERT_STATUSES).update(
            status=AlertStatus.RESOLVED, resolved_at=now
        )
        if not done:
            return None
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
        _record(alert, AlertStatus.RESOLVED, now, note=note)
    return alert


ACKNOWLEDGEMENT_NOTE_LIMIT = 2000  # characters of a note kept


def acknowledge(alert: Alert, user, note: str = "", now=None) -> bool:
    """Acknowledge an open alert with a note (trimmed, at most ``ACKNOWLEDGEMENT_NOTE_LIMIT`` characters);
    False when it was not open any more."""
    now = now or timezone.now()
    note = note.strip()[:ACKNOWLEDGEMENT_NOTE_LIMIT]
    with transaction.atomic():
        done = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
            status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user, acknowledgement_note=note
        )
        if not done:
            return False
        alert.status, alert.acknowledged_at, alert.acknowledged_by = AlertStatus.ACKNOWLEDGED, now, user
        alert.acknowledgement_note = note
        _record(alert, AlertStatus.ACKNOWLEDGED, now, by=user, note=note)
    return True


# ---------------------------------------------------------------- what should be open


def _no_success_message(facts: HealthFacts, subject, tz) -> str:
    limit = facts.max_time_without_success
    if facts.last_success is not None and facts.last_success >= (facts.activated_at or facts.last_success):
        return stored.gettext(
            "No run of %(subject)s has succeeded since %(time)s; the limit is %(limit)s.",
            subject=subject,
            time=format_local(facts.last_success, tz),
            limit=limit,
        )
    return stored.gettext(
        "No run of %(subject)s has succeeded since it was switched on at %(time)s; the limit is %(limit)s.",
        subject=subject,
        time=format_local(facts.window_start, tz),
        limit=limit,
    )


def _secrets_of(integration) -> list[str]:
    connections = (integration.erp_connection, integration.crm_connection)
    return [value for connection in connections for name in SECRET_FIELDS if (value := getattr(connection, name))]


def _excerpt(text: str, secrets: list[str]) -> str:
    """Outside text of a run's error, with the connections' secrets masked and cut to a readable length."""
    text = redact_text(text, secrets)
    return text[:ERROR_EXCERPT] + "…" if len(text) > ERROR_EXCERPT else text


def _newest_error(run, secrets: list[str]):
    """What the run's error said (its outside data redacted and cut), or its status when it said nothing."""
    if isinstance(run.error, StoredMessage):
        return run.error.with_outside_data(lambda text: _excerpt(text, secrets))
    return _excerpt(run.error, secrets) or RunStatus(run.status)


def _failures_message(integration, streak: int, tz) -> str:
    newest = integration.runs.filter(status__in=FAILED_RUN_STATUSES).order_by("-finished_at", "-pk").first()
    message = stored.ngettext(
        "The last run of %(name)s failed.",
        "The last %(count)d runs of %(name)s failed.",
        streak,
        name=integration.name,
        count=streak,
    )
    if newest is None:
        return message
    return stored.join(
        message,
        stored.gettext(
            "The newest, run #%(run)d, ended at %(time)s: %(error)s",
            run=newest.pk,
            time=format_local(newest.finished_at, tz),
            error=_newest_error(newest, _secrets_of(integration)),
        ),
    )


def _stuck_message(integration, run, tz) -> str:
    if run.started_at is None:
        return stored.gettext(
            "Run #%(run)d of %(name)s was queued at %(time)s and has not started.",
            run=run.pk,
            name=integration.name,
            time=format_local(run.queued_at, tz),
        )
    return stored.gettext(
        "Run #%(run)d of %(name)s has not reported progress since %(time)s.",
        run=run.pk,
        name=integration.name,
        time=format_local(run.last_sign_of_life, tz),
    )


def _recovered_note(facts: HealthFacts, tz) -> str:
    if facts.last_success is None:
        return ""
    return stored.gettext("A run succeeded at %(time)s.", time=format_local(facts.last_success, tz))


@dataclass(frozen=True)
class Wanted:
    """For one (table, kind) of an integration: open it (with a message built only when opening) or resolve it."""

    table: object
    kind: AlertKind
    message: Callable[[], str] | None = None  # set: the alert should be open
    resolve_note: str = ""


def wanted_alerts(integration, tables, now, tz) -> list[Wanted]:
    """What should be open for one integration read with its state (:func:`~monitoring.health.with_state`; no query)."""
    if not integration.active:
        paused = stored.gettext("The integration was paused.")
        return [Wanted(None, kind, resolve_note=paused) for kind in EVALUATED_KINDS]

    facts = HealthFacts.from_row(integration)
    recovered = _recovered_note(facts, tz)
    wanted = []
    if facts.window_exceeded(now):
        wanted.append(Wanted(None, AlertKind.NO_SUCCESS, lambda: _no_success_message(facts, integration.name, tz)))
    else:
        wanted.append(Wanted(None, AlertKind.NO_SUCCESS, resolve_note=recovered))

    streak = facts.failure_streak
    if streak >= consecutive_failures_threshold():
        wanted.append(Wanted(None, AlertKind.CONSECUTIVE_FAILURES, lambda: _failures_message(integration, streak, tz)))
    else:
        wanted.append(Wanted(None, AlertKind.CONSECUTIVE_FAILURES, resolve_note=recovered))

    run = facts.active_run
    if run is not None and run.is_stuck(now, stuck_after()):
        wanted.append(Wanted(None, AlertKind.RUN_STUCK, lambda: _stuck_message(integration, run, tz)))
    else:
        progressed = stored.gettext("The run finished or reported progress again.")
        wanted.append(Wanted(None, AlertKind.RUN_STUCK, resolve_note=progressed))

    for table in tables:
        table_facts = facts.for_table(table)
        if table_facts.window_exceeded(now):
            subject = stored.gettext("%(name)s, table %(table)s", name=integration.name, table=table.name)
            wanted.append(
                Wanted(
                    table,
                    AlertKind.NO_SUCCESS,
                    lambda facts=table_facts, subject=subject: _no_success_message(facts, subject, tz),
                )
            )
        else:
            wanted.append(Wanted(table, AlertKind.NO_SUCCESS, resolve_note=_recovered_note(table_facts, tz)))
    return wanted


# ---------------------------------------------------------------- the evaluation


@dataclass
class EvaluationSummary:
    integrations: int = 0
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    notifications_sent: int = 0
    notifications_failed: int = 0

    def __str__(self):
        return (
            f"{self.integrations} integrations: {len(self.opened)} alerts opened, {len(self.resolved)} resolved; "
            f"{self.notifications_sent} notifications sent, {self.notifications_failed} failed"
        )


def evaluate_integration(integration, tables, unresolved: dict, now, tz, summary: EvaluationSummary) -> None:
    """Open and resolve one integration's alerts; ``unresolved`` maps its (table id, kind) → alert."""
    seen = set()
    for wanted in wanted_alerts(integration, tables, now, tz):
        key = (wanted.table.pk if wanted.table is not None else None, wanted.kind)
        seen.add(key)
        alert = unresolved.get(key)
        if wanted.message is not None and alert is None:
            alert, opened = open_alert(integration, wanted.kind, wanted.message(), table=wanted.table, now=now)
            if opened:
                summary.opened.append(alert.pk)
        elif wanted.message is None and alert is not None and _resolve(alert, now, wanted.resolve_note):
            summary.resolved.append(alert.pk)
    # Table alerts of a paused integration, or of tables that no longer override the max time.
    if integration.active:
        note = stored.gettext("The table no longer has its own max time without success, or was switched off.")
    else:
        note = stored.gettext("The integration was paused.")
    for (table_id, kind), alert in unresolved.items():
        forgotten = table_id is not None and kind in EVALUATED_KINDS and (table_id, kind) not in seen
        if forgotten and _resolve(alert, now, note):
            summary.resolved.append(alert.pk)


def resolve_released_deletes(now) -> list[Alert]:
    """Resolve *deletes held* alerts whose table has no held delete waiting any more."""
    waiting = HeldDelete.objects.filter(table=OuterRef("table"), status=HeldDeleteStatus.PENDING)
    released = Alert.objects.filter(kind=AlertKind.DELETES_HELD, status__in=UNRESOLVED_ALERT_STATUSES).exclude(
        Exists(waiting)
    )
    note = stored.gettext("No delete waits for approval any more.")
    return [alert for alert in released if _resolve(alert, now, note)]


def resolve_unchecked_counts(now) -> list[Alert]:
    """Resolve *target count* alerts no run will check again: no count query, the table off, the integration paused."""
    unchecked = (
        Alert.objects.filter(kind=AlertKind.TARGET_COUNT, status__in=UNRESOLVED_ALERT_STATUSES)
        .filter(
            Q(table__isnull=True)
            | Q(table__target_count_query="")
            | Q(table__active=False)
            | Q(integration__active=False)
        )
        .select_related("integration", "table")
    )
    resolved = []
    for alert in unchecked:
        if not alert.integration.active:
            note = stored.gettext("The integration was paused.")
        elif alert.table is None or not alert.table.active:
            note = stored.gettext("The table was switched off.")
        else:
            note = stored.gettext("The table no longer has a count query.")
        if _resolve(alert, now, note):
            resolved.append(alert)
    return resolved


def evaluate_all(now=None) -> EvaluationSummary:
    """Evaluate every integration's alerts, then send the due notifications."""
    now = now or timezone.now()
    tz = portal_zone()
    summary = EvaluationSummary()
    unresolved = defaultdict(dict)
    for alert in Alert.objects.filter(status__in=UNRESOLVED_ALERT_STATUSES):
        unresolved[alert.integration_id][(alert.table_id, alert.kind)] = alert
    overriding = annotate_table_health(
        SyncTable.objects.filter(active=True, integration__active=True, max_time_without_success__isnull=False)
    )
    tables = defaultdict(list)
    for table in overriding:
        tables[table.integration_id].append(table)
    integrations = with_state(Integration.objects.order_by("pk"))
    for integration in integrations:
        summary.integrations += 1
        evaluate_integration(integration, tables[integration.pk], unresolved[integration.pk], now, tz, summary)
    summary.resolved += [alert.pk for alert in resolve_released_deletes(now)]
    summary.resolved += [alert.pk for alert in resolve_unchecked_counts(now)]
    delivery = deliver_due(now)
    summary.notifications_sent, summary.notifications_failed = delivery.sent, delivery.failed
    return summary
