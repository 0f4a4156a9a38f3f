"""django-q2 entry points. Thin: each receives primary keys only and calls one function.

Retries belong to the connectors, never to the queue (``max_attempts`` 1).
"""

from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from monitoring.choices import RunStatus, Trigger
from monitoring.health import is_fixed_time
from monitoring.models import SyncRun
from monitoring.reaper import reap

from . import stored_messages as stored
from .choices import ScheduleKind
from .engine import AlreadyRunning, execute_run, queue_run
from .models import Integration


def enqueue(run: SyncRun) -> SyncRun:
    """Send a queued run to the workers and remember its task id."""
    task_id = async_task(
        "sync.tasks.run_queued", run.pk, task_name=f"run-{run.pk}", group=f"integration:{run.integration_id}"
    )
    SyncRun.objects.filter(pk=run.pk).update(task_id=task_id or "")
    run.task_id = task_id or ""
    return run


def trigger(integration: Integration, how: Trigger, user=None) -> SyncRun:
    """Queue a run now; a trigger while one is active is recorded as skipped, with the reason."""
    try:
        run = queue_run(integration, how, user)
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
    """A fixed-time schedule (daily at 01:30) that already ran within the last hour and ten minutes."""
    fixed = integration.schedule_kind == ScheduleKind.DAILY or (
        integration.schedule_kind == ScheduleKind.CRON and is_fixed_time(integration.schedule_cron)
    )
    if not fixed:
        return False
    recent = SyncRun.objects.filter(
        integration=integration, trigger=Trigger.SCHEDULE, queued_at__gte=now - REPEATED_SLOT_WINDOW
    )
    return recent.exclude(status=RunStatus.SKIPPED).exists()


def run_scheduled(integration_id: int) -> str:
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None or not integration.active:
        return "inactive"
    if repeats_the_last_slot(integration, timezone.now()):
        return "already ran for this slot"
    try:
        run = queue_run(integration, Trigger.SCHEDULE)
    except AlreadyRunning as exc:
        now = timezone.now()
        SyncRun.objects.create(
            integration=integration,
            trigger=Trigger.SCHEDULE,
            status=RunStatus.SKIPPED,
            queued_at=now,
            finished_at=now,
            error=stored.gettext("Scheduled run skipped: %(reason)s", reason=exc.message),
        )
        return RunStatus.SKIPPED
    return execute_run(run.pk).status


def maintenance() -> dict:
    """Every minute: mark dead runs (re-queueing lost ones once), then evaluate alerts."""
    from monitoring.alerts import evaluate_all
    from monitoring.exports import delete_expired_exports

    now = timezone.now()
    reaped = reap(now, requeue=enqueue)
    alerts = evaluate_all(now)
    return {
        "abandoned": reaped.abandoned,
        "lost": reaped.lost,
        "requeued": reaped.requeued,
        "alerts": str(alerts),
        "exports_deleted": delete_expired_exports(now),
    }
