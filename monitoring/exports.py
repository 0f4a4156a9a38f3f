"""History exports too large for a request: written in the background, kept for a while, then deleted.

Small exports are written during the request (:func:`monitoring.workbook.write_history` into a
temporary file); larger ones become an :class:`~monitoring.models.ExportJob` built by a django-q2
task (:func:`request_export`, :func:`build_export`) and kept for a while (:func:`delete_expired_exports`).

What a background export may take from the portal (the syncs come first):

- the same request while it is queued or being written reuses that job; a user has at most
  ``EXPORT_MAX_ACTIVE_PER_USER`` (2) active jobs, the next one is refused (:class:`TooManyExports`);
- one export is written at a time across the portal (a partial unique constraint on the running
  job): exports run on the sync workers, so with two or more workers at least one is always free
  for syncs. A job whose turn has not come stays queued; its task, if a worker gets it, returns at
  once, and the job is sent again when the export before it ends (:func:`send_next_export`);
- a job being written beats from a thread of its own (:class:`ExportHeartbeat`); the minute's
  maintenance fails a job whose heartbeat is older than ``RUN_HEARTBEAT_STALE_AFTER`` and removes
  its partial file and its scratch folder (:func:`fail_dead_exports`);
- the files and their folder are readable by the portal's user only (0600, 0700).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import ngettext
from django_q.tasks import async_task

from core import stored_messages as stored
from sync.models import SyncTable

from .health import heartbeat_stale_after
from .heartbeat import BeatingThread
from .history_selection import HistorySelection, history_filename
from .models import ACTIVE_EXPORT_STATUSES, ExportJob, ExportStatus
from .reaper import lost_after
from .workbook import write_history

DEFAULT_KEEP_HOURS = 24
DEFAULT_MAX_ACTIVE_PER_USER = 2
PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def private_exports_dir() -> Path:
    """The exports folder, created if missing, readable by the portal's user only."""
    folder = exports_dir()
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    folder.chmod(PRIVATE_FOLDER)  # also when it was made before, or under a looser umask
    return folder


def export_path(job: ExportJob) -> Path | None:
    return exports_dir() / job.file_name if job.file_name else None


def work_paths(job_id: int) -> tuple[Path, Path]:
    """Where a job's workbook is written before it is complete, and its folder of XlsxWriter row files."""
    folder = exports_dir()
    return folder / f"history-{job_id}.xlsx.partial", folder / f"history-{job_id}.scratch"


def keep_for() -> timedelta:
    """How long a background export's file is kept after it is written."""
    return timedelta(hours=getattr(settings, "EXPORT_KEEP_HOURS", DEFAULT_KEEP_HOURS))


def max_active_per_user() -> int:
    """How many exports one user may have queued or being written at once."""
    return getattr(settings, "EXPORT_MAX_ACTIVE_PER_USER", DEFAULT_MAX_ACTIVE_PER_USER)


def job_filename(job: ExportJob) -> str:
    """The name the user downloads."""
    return history_filename(job.integration, job.start_date, job.end_date)


def selection_for(job: ExportJob) -> HistorySelection:
    tables = SyncTable.objects.filter(integration_id=job.integration_id, pk__in=job.table_ids).order_by(
        "order", "name", "pk"
    )
    return HistorySelection(job.integration, tuple(tables), job.start_date, job.end_date)


def selection_key(selection: HistorySelection, language: str) -> str:
    """What makes two requests the same export (the integration and the user are columns of their own)."""
    tables = ",".join(str(pk) for pk in sorted(selection.table_ids))
    text = f"{selection.start.isoformat()}/{selection.end.isoformat()}/{tables}/{language}"
    return hashlib.sha256(text.encode()).hexdigest()


class TooManyExports(Exception):
    """The user already has as many active exports as allowed; nothing was queued."""

    def __init__(self, limit: int):
        self.limit = limit
        self.message = ngettext(
            "You already have %(count)d export queued or being written. Wait until it is ready, then export again.",
            "You already have %(count)d exports queued or being written. Wait until one is ready, then export again.",
            limit,
        ) % {"count": limit}
        super().__init__(self.message)


def _active_twin(selection: HistorySelection, user, key: str) -> ExportJob | None:
    twins = ExportJob.objects.filter(
        integration=selection.integration, requested_by=user, selection_key=key, status__in=ACTIVE_EXPORT_STATUSES
    )
    return twins.first()


def request_export(
    selection: HistorySelection, user, *, rows: int, now: datetime | None = None
) -> tuple[ExportJob, bool]:
    """``(job, True)``: a new job, handed to the workers when its turn comes. ``(job, False)``: the same export
    was already queued or being written for this user, and that job is the answer.

    Raises :class:`TooManyExports` when the user's active jobs fill all their slots. Each active job holds
    one of the user's slot numbers (a partial unique constraint), so two requests at the same instant
    cannot both take the last one.
    """
    now = now or timezone.now()
    language = translation.get_language() or settings.LANGUAGE_CODE
    key = selection_key(selection, language)
    for slot in range(1, max_active_per_user() + 1):
        twin = _active_twin(selection, user, key)
        if twin is not None:
            return twin, False
        try:
            with transaction.atomic():
                job = ExportJob.objects.create(
                    integration=selection.integration,
                    requested_by=user,
                    table_ids=selection.table_ids,
                    start_date=selection.start,
                    end_date=selection.end,
                    language=language,
                    rows=rows,
                    selection_key=key,
                    slot=slot,
                    created_at=now,
                )
        except IntegrityError:
            continue  # the slot is taken, or the same export was asked for meanwhile (found on the next turn)
        send_next_export(now)
        job.refresh_from_db()
        return job, True
    twin = _active_twin(selection, user, key)
    if twin is not None:
        return twin, False
    raise TooManyExports(max_active_per_user())


def send_next_export(now: datetime) -> ExportJob | None:
    """Hand the oldest queued export to the workers (by primary key only), unless one is being written or its
    task is already on its way (sent less than ``QUEUED_RUN_LOST_AFTER`` ago and not consumed)."""
    if ExportJob.objects.filter(status=ExportStatus.RUNNING).exists():
        return None
    job = ExportJob.objects.filter(status=ExportStatus.QUEUED).order_by("created_at", "pk").first()
    if job is None or (job.sent_at is not None and job.sent_at >= now - lost_after()):
        return None
    ExportJob.objects.filter(pk=job.pk).update(sent_at=now)
    task_id = async_task(
        "monitoring.tasks.build_export",
        job.pk,
        task_name=f"export-{job.pk}",
        group=f"integration:{job.integration_id}",
    )
    ExportJob.objects.filter(pk=job.pk).update(task_id=task_id or "")
    return job


class ExportHeartbeat(BeatingThread):
    """``with ExportHeartbeat(job.pk):`` beats on the job while the block runs, from a thread and a database
    connection of its own: every few seconds whatever the writing waits for, and never inside the
    writer's read (:class:`monitoring.heartbeat.Heartbeat` does the same for runs)."""

    what = "export"

    def beat_once(self) -> None:
        ExportJob.objects.filter(pk=self.pk, status=ExportStatus.RUNNING).update(heartbeat_at=timezone.now())


@contextlib.contextmanager
def private_file(path: Path):
    """``path`` opened for writing, readable by the portal's user only from its first byte."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)  # a leftover of an earlier attempt keeps its mode otherwise
    with os.fdopen(descriptor, "w+b") as handle:
        yield handle


def build_export(job_id: int) -> ExportJob | None:
    """Write a queued job's workbook to the exports folder; a failure is stored on the job and re-raised.

    Returns at once, the job still queued, while another export is being written; when this one ends
    (however it ends), the next queued export is sent to the workers.
    """
    job = ExportJob.objects.select_related("integration").filter(pk=job_id).first()
    if job is None:
        return None
    if not job.start():
        # Its task is spent: still queued, it is sent again when the export being written ends.
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.QUEUED).update(sent_at=None)
        return job
    try:
        _write(job)
    finally:
        send_next_export(timezone.now())
    return job


def _write(job: ExportJob) -> None:
    final = exports_dir() / f"history-{job.pk}.xlsx"
    partial, scratch = work_paths(job.pk)
    try:
        private_exports_dir()
        scratch.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        with (
            ExportHeartbeat(job.pk),
            translation.override(job.language or settings.LANGUAGE_CODE),
            private_file(partial) as handle,
        ):
            workbook = write_history(selection_for(job), handle, scratch=scratch)
        os.replace(partial, final)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        job.finish(ExportStatus.FAILED, error=str(exc) or type(exc).__name__)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not job.finish(ExportStatus.DONE, rows=workbook.rows, size_bytes=final.stat().st_size, file_name=final.name):
        final.unlink(missing_ok=True)  # failed meanwhile as dead (its heartbeat could not be written)


def _interrupted():
    return stored.gettext("The export did not finish (its worker stopped). Please export again.")


def remove_work_files(job_id: int) -> None:
    partial, scratch = work_paths(job_id)
    partial.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)


def fail_dead_exports(now: datetime) -> list[int]:
    """Every minute: fail the exports being written whose heartbeat stopped, remove their partial files, and
    send the next queued export when none is being written and its task was not sent (or was lost)."""
    stale = now - heartbeat_stale_after()
    dead = ExportJob.objects.filter(status=ExportStatus.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)
    )
    failed = []
    for job in dead.only("pk"):
        if job.finish(ExportStatus.FAILED, error=_interrupted(), now=now):
            remove_work_files(job.pk)
            failed.append(job.pk)
    send_next_export(now)
    return failed


def delete_expired_exports(now: datetime) -> int:
    """Delete the files of exports older than :func:`keep_for`; returns how many were deleted.

    Also fails jobs whose worker died and were missed (running past the task timeout, or still queued
    after the keeping time), and removes leftover files nobody refers to.
    """
    keep = keep_for()
    folder = exports_dir()
    deleted = 0
    for job in ExportJob.objects.filter(status=ExportStatus.DONE, finished_at__lt=now - keep).only("pk", "file_name"):
        path = export_path(job)
        if path is not None and path.exists():
            path.unlink()
            deleted += 1
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).update(status=ExportStatus.EXPIRED, file_name="")

    task_timeout = timedelta(seconds=settings.Q_CLUSTER.get("timeout") or 3600)
    ExportJob.objects.filter(
        status=ExportStatus.RUNNING, started_at__lt=now - task_timeout - timedelta(minutes=5)
    ).update(status=ExportStatus.FAILED, finished_at=now, error=_interrupted())
    ExportJob.objects.filter(status=ExportStatus.QUEUED, created_at__lt=now - keep).update(
        status=ExportStatus.FAILED, finished_at=now, error=_interrupted()
    )

    if folder.is_dir():
        live = set(
            ExportJob.objects.filter(status__in=(*ACTIVE_EXPORT_STATUSES, ExportStatus.DONE))
            .exclude(file_name="")
            .values_list("file_name", flat=True)
        )
        cutoff = (now - keep).timestamp()
        for path in folder.glob("history-*"):
            if path.name not in live and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
    return deleted
