"""django-q2 entry points. Thin: each receives primary keys only and calls one function.

Retries belong to the connectors, never to the queue (``max_attempts`` 1).
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from monitoring.choices import RunStatus, Trigger
from monitoring.health import is_fixed_time
from monitoring.models import SyncRun
from monitoring.reaper import abandon_if_dead, reap
from monitoring.workers import record_beat, watch

from . import stored_messages as stored
from .choices import ScheduleKind
from .engine import AlreadyRunning, execute_run, queue_run
from .models import Integration
from .schedules import slot_of


def enqueue(run: SyncRun) -> SyncRun:
    """Send a queued run to the workers and remember its task id."""
    task_id = async_task(
        "sync.tasks.run_queued", run.pk, task_name=f"run-{run.pk}", group=f"integration:{run.integration_id}"
    )
    SyncRun.objects.filter(pk=run.pk).update(task_id=task_id or "")
    run.task_id = task_id or ""
    return run


def queue_unless_held(integration: Integration, how: Trigger, user=None, scheduled_for=None) -> SyncRun:
    """``queue_run``, after abandoning the run that holds the integration if its worker died."""
    try:
        return queue_run(integration, how, user, scheduled_for=scheduled_for)
    except AlreadyRunning:
        if abandon_if_dead(integration, timezone.now()) is None:
            raise
    return queue_run(integration, how, user, scheduled_for=scheduled_for)


def trigger(integration: Integration, how: Trigger, user=None) -> SyncRun:
    """Queue a run now; a trigger while one is active is recorded as skipped, with the reason."""
    try:
        run = queue_unless_held(integration, how, user)
    except AlreadyRunning as exc:
        now = timezone.now()
        return SyncRun.objects.create(
            integration=integration,
            trigger=how,
            triggered_by=user,
            status=RunStatus.SKIPPED,
            queued_at=now,
            finished_at=now,
            error=exc.message,
        )
    return enqueue(run)


def run_queued(run_id: int) -> str:
    run = execute_run(run_id)
    return run.status


# On the night clocks go back an hour, django-q2 fires a fixed-time cron slot twice.
REPEATED_SLOT_WINDOW = timedelta(minutes=70)


def repeats_the_last_slot(integration: Integration, now) -> bool:
    """A fixed-time schedule (daily at 01:30) that already ran within the last hour and ten minutes.

    Runs of a slot count whoever queued them: the schedule, or the reaper when the slot's task was lost.
    """
    fixed = integration.schedule_kind == ScheduleKind.DAILY or (
        integration.schedule_kind == ScheduleKind.CRON and is_fixed_time(integration.schedule_cron)
    )
    if not fixed:
        return False
    recent = SyncRun.objects.filter(
        Q(trigger=Trigger.SCHEDULE) | Q(scheduled_for__isnull=False),
        integration=integration,
        queued_at__gte=now - REPEATED_SLOT_WINDOW,
    )
    return recent.exclude(status=RunStatus.SKIPPED).exists()


SLOT_ALREADY_RUN = "already ran for this slot"


def run_scheduled(integration_id: int, scheduled_for=None) -> str:
    """The task of one schedule slot; ``scheduled_for`` names the slot (django-q2 sends it as ISO 8601)."""
    slot = slot_of(scheduled_for)
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None or not integration.active:
        return "inactive"
    earlier = run_of_slot(integration, slot)
    if earlier is not None:
        return delivered_again(earlier)
    if repeats_the_last_slot(integration, timezone.now()):
        return SLOT_ALREADY_RUN
    try:
        run = queue_unless_held(integration, Trigger.SCHEDULE, scheduled_for=slot)
    except AlreadyRunning as exc:
        earlier = run_of_slot(integration, slot)  # the same slot, delivered twice at once
        return delivered_again(earlier) if earlier is not None else skip(integration, slot, exc)
    return execute_run(run.pk).status


def run_of_slot(integration: Integration, slot) -> SyncRun | None:
    if slot is None:
        return None
    return SyncRun.objects.filter(integration=integration, scheduled_for=slot).first()


def delivered_again(earlier: SyncRun) -> str:
    """A slot that already has a run runs once: a second delivery of its task adds no run.

    A task can arrive twice (the ORM broker re-delivers one its worker did not finish), or after
    the reaper re-queued its slot because it seemed lost. If the slot's run still waits to start,
    this delivery starts it (claiming a run is atomic: it still runs once); otherwise it is ignored.
    """
    if earlier.status == RunStatus.QUEUED:
        return execute_run(earlier.pk).status
    return SLOT_ALREADY_RUN


def skip(integration: Integration, slot, refusal: AlreadyRunning) -> str:
    """Record a slot that came while another run was active, with the reason."""
    now = timezone.now()
    try:
        with transaction.atomic():
            SyncRun.objects.create(
                integration=integration,
                trigger=Trigger.SCHEDULE,
                status=RunStatus.SKIPPED,
                scheduled_for=slot,
                queued_at=now,
                finished_at=now,
                error=stored.gettext("Scheduled run skipped: %(reason)s", reason=refusal.message),
            )
    except IntegrityError:
        return SLOT_ALREADY_RUN  # the same slot, delivered twice at once
    return RunStatus.SKIPPED


def maintenance() -> dict:
    """Every minute: say the workers are alive, mark dead runs (re-queueing lost ones once), evaluate alerts."""
    from monitoring.alerts import evaluate_all
    from monitoring.exports import delete_expired_exports

    now = timezone.now()
    record_beat(now)
    reaped = reap(now, requeue=enqueue)
    workers = watch(now)
    alerts = evaluate_all(now)
    return {
        "abandoned": reaped.abandoned,
        "lost": reaped.lost,
        "requeued": reaped.requeued,
        "lost_slots": reaped.lost_slots,
        "skipped_slots": reaped.skipped_slots,
        "workers_alerts_resolved": workers.resolved,
        "alerts": str(alerts),
        "exports_deleted": delete_expired_exports(now),
    }
