"""django-q2 entry points. Thin: each receives primary keys only and calls one function.

Retries belong to the connectors, never to the queue (``max_attempts`` 1).
"""

from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun
from monitoring.reaper import reap

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
            error=str(exc),
        )
    return enqueue(run)


def run_queued(run_id: int) -> str:
    run = execute_run(run_id)
    return run.status


def run_scheduled(integration_id: int) -> str:
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None or not integration.active:
        return "inactive"
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
            error=_("Scheduled run skipped: %(reason)s") % {"reason": exc},
        )
        return RunStatus.SKIPPED
    return execute_run(run.pk).status


def maintenance() -> dict:
    """Every minute: mark dead runs (re-queueing lost ones once), then evaluate alerts."""
    from monitoring.alerts import evaluate_all

    now = timezone.now()
    reaped = reap(now, requeue=enqueue)
    alerts = evaluate_all(now)
    return {"abandoned": reaped.abandoned, "lost": reaped.lost, "requeued": reaped.requeued, "alerts": str(alerts)}
