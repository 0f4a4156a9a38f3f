"""django-q2 entry points of the monitoring app. Thin: primary keys in, one function each.

:func:`maintenance` is the minute's housekeeping (``sync.slots.MAINTENANCE``, the function the
``portal:maintenance`` schedule calls).
"""

from django.utils import timezone

from sync.resumes import resume_due
from sync.tasks import claim_overdue_slots, enqueue, pick_up_stranded

from .alerts import evaluate_all
from .exports import build_export as _build_export
from .exports import delete_expired_exports, fail_dead_exports
from .reaper import reap
from .retention import prune
from .workers import record_beat, watch


def build_export(job_id: int) -> str:
    """Write a background history export (``monitoring.exports.build_export``)."""
    job = _build_export(job_id)
    return job.status if job is not None else "missing"


def maintenance() -> dict:
    """Every minute: say the workers are alive, resume runs paused by a quota that is back, claim overdue slots,
    mark dead runs (re-queueing lost ones once), send webhook events left waiting to a run, evaluate alerts,
    then tidy the exports and the history kept."""
    now = timezone.now()
    record_beat(now)
    resumed = [enqueue(run).pk for run in resume_due(now)]
    claimed = claim_overdue_slots(now)
    reaped = reap(now, requeue=enqueue)
    webhooks = pick_up_stranded(now)
    workers = watch(now)
    alerts = evaluate_all(now)
    return {
        "abandoned": reaped.abandoned,
        "lost": reaped.lost,
        "requeued": reaped.requeued,
        "resumed": resumed,
        "claimed_slots": claimed,
        "skipped_slots": reaped.skipped_slots,
        "webhooks_picked_up": webhooks,
        "workers_alerts_resolved": workers.resolved,
        "alerts": str(alerts),
        "exports_deleted": delete_expired_exports(now),
        "exports_failed": fail_dead_exports(now),
        "pruned": prune(now).as_dict(),
    }
