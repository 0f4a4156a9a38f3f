"""django-q2 entry points. Thin: each receives primary keys only and calls one function.

Retries belong to the connectors, never to the queue (``max_attempts`` 1).
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from core import stored_messages as stored
from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun
from monitoring.reaper import abandon_if_dead

from .engine import AlreadyRunning, execute_run, queue_run
from .models import Integration, WebhookReceiver
from .slots import claim_due, due_integrations
from .webhooks import processing, registration
from .webhooks.addresses import receiver_url_at

logger = logging.getLogger(__name__)

WEBHOOKS_STRANDED_AFTER = timedelta(minutes=1)  # events waiting this long with no run active are picked up


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
    pick_up_webhooks(run)
    return run.status


# ------------------------------------------------------------ webhooks


def enqueue_webhook(event_id: int) -> None:
    """Send a received webhook event to the workers (called once its row is committed)."""
    async_task("sync.tasks.process_webhook", event_id, task_name=f"webhook-{event_id}")


def enqueue_webhooks(integration_id: int) -> None:
    """Send an integration's waiting webhook events to the workers, for one webhook run."""
    async_task("sync.tasks.process_webhooks", integration_id, task_name=f"webhooks-{integration_id}", group="webhooks")


def process_webhook(event_id: int) -> str:
    """A received event: ignored with the reason, or processed by a webhook run (``sync.webhooks.processing``)."""
    outcome, run = processing.process_event(event_id)
    if run is not None:
        pick_up_webhooks(run)
    return outcome


def register_webhooks(receiver_id: int, origin: str) -> str:
    """Register a receiver's address at its sender, for the portal at ``origin`` (``sync.webhooks.registration``).

    The address itself (its token) never reaches the task's row: it is built here. A refusal is logged.
    """
    receiver = WebhookReceiver.objects.select_related("connection").get(pk=receiver_id)
    try:
        outcome = registration.register(receiver, receiver_url_at(origin, receiver.token))
    except registration.RegistrationError as error:
        logger.warning("Webhooks from %s not registered: %s", receiver.connection.name, error.message)
        return "refused"
    return f"registered {len(outcome.added)}, kept {len(outcome.kept)}"


def process_webhooks(integration_id: int) -> str:
    """A webhook run for the integration's waiting events; the events left waiting go to the next one."""
    run = processing.run_webhooks(Integration.objects.get(pk=integration_id))
    if run is None:
        return "nothing to process"
    pick_up_webhooks(run)
    return run.status


def pick_up_webhooks(run: SyncRun) -> None:
    """At the end of any run, the events that came while it ran go to a webhook run (a paused run's wait for
    the run that resumes it: its quota is spent)."""
    if run.status != RunStatus.PAUSED and processing.pending(run.integration).exists():
        enqueue_webhooks(run.integration_id)


def pick_up_stranded(now) -> list[int]:
    """The minute's safety net: integrations whose events wait with no run active (the pks sent)."""
    integrations = sorted(processing.stranded(now, WEBHOOKS_STRANDED_AFTER))
    for integration_id in integrations:
        enqueue_webhooks(integration_id)
    return integrations


NOTHING_DUE = "nothing due"
SLOT_COVERED = "covered by a run queued since the slot"
SLOT_ALREADY_RUN = "already ran for this slot"


def run_scheduled(integration_id: int, scheduled_for=None) -> str:
    """django-q2's wake-up at one of the integration's times: claim the due slot and run it here.

    ``scheduled_for`` is what schedules made by earlier versions still send; the stored slot decides.
    """
    outcome, run = queue_due_slot(integration_id, timezone.now())
    if run is None:
        return outcome
    run = execute_run(run.pk)
    pick_up_webhooks(run)
    return run.status


def queue_due_slot(integration_id: int, now) -> tuple[str, SyncRun | None]:
    """Claim the integration's due slot and queue its run, in one transaction: ``(outcome, run)``.

    A slot that comes while a run is active is recorded as skipped, with the reason (a run whose
    worker died is abandoned first, and the slot runs). No run when nothing was due, another
    claimer won the slot, or a run queued since the slot covers it.
    """
    with transaction.atomic():
        claim = claim_due(integration_id, now)
        if claim is None:
            return NOTHING_DUE, None
        if claim.skipped:
            return RunStatus.SKIPPED, None  # paused by a quota: recorded as skipped (sync.slots)
        if claim.covered:
            return SLOT_COVERED, None
        try:
            run = queue_unless_held(claim.integration, Trigger.SCHEDULE, scheduled_for=claim.slot)
        except AlreadyRunning as exc:
            return skip(claim.integration, claim.slot, exc), None
    return RunStatus.QUEUED, run


def skip(integration: Integration, slot, refusal: AlreadyRunning) -> str:
    """Record a slot that came while another run was active, with the reason."""
    reason = stored.gettext("Scheduled run skipped: %(reason)s", reason=refusal.message)
    if not SyncRun.skip_slot(integration, slot, reason):
        return SLOT_ALREADY_RUN  # the slot has a run already (its timing was set back to it)
    return RunStatus.SKIPPED


def claim_overdue_slots(now) -> list[int]:
    """The minute's make-up: claim every slot due and not claimed (its wake-up lost, or the workers were
    down) and send its run to the workers; the runs' pks."""
    runs = [queue_due_slot(integration_id, now)[1] for integration_id in due_integrations(now)]
    return [enqueue(run).pk for run in runs if run is not None]
