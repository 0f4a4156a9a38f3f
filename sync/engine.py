"""Runs one integration: extract → stage → filter → map → match → load → record.

For each active table, in order, pages are read since the table's cursor. Each
record is staged, filtered (skipped with the rule's words), mapped (a bad record
goes to the review queue with its payload), matched through its RecordLink,
skipped when its mapped values did not change, else created or updated in the
target. After each page, links, events, request logs and the resume point are
committed together, so a run that dies resumes at the page it was on and never
writes a record twice (records of an interrupted page are looked up in the target
by key before being created). Deletes follow the table's policy; more than the
table's threshold in one run are held for approval and raise an alert. A table with a count
query then counts its records in the target against its links (:mod:`sync.target_count`).

A connection's quota reached (``QuotaReached``, raised before the call would go) is no failure:
the page log is flushed (what was written stays linked), the table keeps the resume point of its
last completed page, and the run ends *paused* until the quota is back; the minute's maintenance
then queues a run that resumes there (:mod:`sync.resumes`).

This module runs the steps in order; each step lives in :mod:`sync.steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import stored_messages as stored
from core.local_time import format_local, portal_zone
from monitoring.choices import RunStatus, Trigger
from monitoring.heartbeat import Heartbeat
from monitoring.models import RecordError, SyncRun, TableRun
from monitoring.recorder import PageLog

from . import budgets, oauth_tokens
from .choices import ConnectionKind, DeletePolicy, Direction
from .connectors import connector_for
from .connectors.base import ConnectionConfig, Connector, ConnectorError, QuotaReached
from .file_drops import FileDropReader
from .mapping import get_path
from .models import Integration, RecordLink, SyncTable
from .per_link import PerLinkReader
from .steps.again import reprocess, retry_pending
from .steps.deletes import apply_deletes
from .steps.extract import load_page, pages
from .steps.keys import cursor_at_start, key_text
from .steps.load import RecordLoader
from .steps.plan import TablePlan
from .steps.sweep import SweepCount
from .target_count import TargetCount, count_target, follow_up

Progress = Callable[[SyncTable, TableRun], None]
ConnectorFactory = Callable[..., Connector]


def connector_for_connection(connection, call_log, **overrides) -> Connector:
    """The connector of a ``Connection`` row, its calls reported to ``call_log``, on the connection's shared budget.

    ``overrides``: settings of its configuration to replace (another API of the same system, with its own key).
    """
    config = ConnectionConfig.from_model(connection, body_limit=settings.REQUEST_LOG_BODY_LIMIT, **overrides)
    return connector_for(
        config,
        call_log=call_log,
        budget=budgets.for_connection(connection),
        tokens=oauth_tokens.for_connection(connection),
    )


class RunAbandoned(Exception):
    """The reaper gave up on this run (its heartbeat was seen stale): it stops without writing more."""


class AlreadyRunning(Exception):
    """The integration already has a queued or running run; ``message`` says so (a stored message)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def queue_run(integration: Integration, trigger: Trigger, user=None, scheduled_for=None) -> SyncRun:
    """A new queued run, or ``AlreadyRunning`` (the database allows one active run per integration).

    ``scheduled_for`` is the schedule slot the run is for; the database also refuses a second run
    of the same slot (``AlreadyRunning`` too: the caller tells the two apart).
    """
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                integration=integration, trigger=trigger, triggered_by=user, scheduled_for=scheduled_for
            )
    except IntegrityError:
        raise AlreadyRunning(stored.gettext("%(name)s is already queued or running.", name=integration.name)) from None


def execute_run(run_id: int, progress: Progress | None = None, connectors: ConnectorFactory | None = None) -> SyncRun:
    """Claim the queued run ``run_id`` and carry it out; returns it in its final state."""
    run = SyncRun.objects.select_related("integration__erp_connection", "integration__crm_connection").get(pk=run_id)
    if not run.start():
        return run
    return IntegrationSync(run, progress, connectors).execute()


class IntegrationSync:
    """One run of one integration."""

    def __init__(
        self, run: SyncRun, progress: Progress | None = None, connectors: ConnectorFactory | None = None, webhooks=None
    ):
        self.run = run
        # A webhook run (``sync.webhooks.processing.WebhookIntake``): its tables read the events it claimed.
        self.webhooks = webhooks
        self.integration = run.integration
        self.progress = progress or (lambda table, table_run: None)
        self.make_connector = connectors or connector_for_connection
        self.page_log: PageLog | None = None
        self.heartbeat: Heartbeat | None = None
        # What went wrong without stopping the run (a file that failed as a whole), in words for the run.
        self.problems: list[str] = []

    # ------------------------------------------------------------ the run

    def execute(self) -> SyncRun:
        any_failed = False
        try:
            with ExitStack() as stack:
                self.heartbeat = stack.enter_context(Heartbeat(self.run.pk))
                erp = stack.enter_context(self.connector(self.integration.erp_connection))
                crm = stack.enter_context(self.connector(self.integration.crm_connection))
                for table in self.tables():
                    source, target = (erp, crm) if table.direction == Direction.ERP_TO_CRM else (crm, erp)
                    table_run = self.sync_table(table, source, target)
                    any_failed = any_failed or table_run.failed > 0
        except QuotaReached as exc:
            self.pause(exc)
            return self.run
        except ConnectorError as exc:
            self.run.finish(RunStatus.FAILED, exc.message)
            return self.run
        except RunAbandoned:
            self.run.refresh_from_db()  # abandoned by the reaper: its verdict stands
            return self.run
        except Exception as exc:
            self.run.finish(RunStatus.FAILED, stored.gettext("Unexpected error: %(error)s", error=exc))
            raise
        if self.problems:
            self.run.finish(RunStatus.PARTIAL, stored.join(*self.problems))
        else:
            self.run.finish(RunStatus.PARTIAL if any_failed else RunStatus.SUCCEEDED)
        return self.run

    def tables(self):
        """The tables this run syncs: every active one, or those a webhook run has events for."""
        if self.webhooks is not None:
            return self.webhooks.tables
        return self.integration.tables.filter(active=True).prefetch_related("mappings")

    def pause(self, quota: QuotaReached) -> None:
        """End the run *paused* until the quota is back, saying so: "Paused until 14:02: daily quota reached (…)"."""
        now = timezone.now()
        resume_at = datetime.fromtimestamp(quota.until, UTC)
        message = stored.gettext(
            "Paused until %(time)s: %(reason)s", time=until_text(resume_at, now), reason=quota.message
        )
        self.run.pause(resume_at, message, quota.message, now=now)

    def still_alive(self) -> None:
        """Raise ``RunAbandoned`` when the reaper gave up on this run: nothing more is written."""
        if self.heartbeat is not None and self.heartbeat.lost.is_set():
            raise RunAbandoned

    def connector(self, connection) -> Connector:
        """The connector of ``connection``, its calls noted on the page log of the table being synced."""
        return self.make_connector(connection, lambda call, pk=connection.pk: self._log_call(pk, call))

    def _log_call(self, connection_id, call) -> None:
        if self.page_log is not None:
            self.page_log.call(connection_id, call)

    def start_table(self, plan: TablePlan, table_run: TableRun, target: Connector) -> RecordLoader:
        """The table's page log, and the loader that carries its records to ``target``."""
        self.page_log = PageLog(self.run, plan.table, table_run)
        return RecordLoader(plan, self.page_log, target, self.still_alive)

    # ------------------------------------------------------------ one table

    def sync_table(self, table: SyncTable, source: Connector, target: Connector) -> TableRun:
        """Extract → stage → filter → map → match → load → record, page by page; then deletes and the count.

        A webhook run reads the table's events instead of its source: it moves no cursor, and
        deletes only what its delete events name.
        """
        plan = TablePlan.load(table)
        interrupted = TableRun.objects.filter(table=table, finished_at__isnull=True).exclude(run=self.run)
        resuming = bool(table.resume_token) or interrupted.exists()
        for stopped in interrupted:
            stopped.status, stopped.finished_at = RunStatus.ABANDONED, timezone.now()
            stopped.save(update_fields=["status", "finished_at"])
        table_run = TableRun.objects.create(run=self.run, table=table, cursor_before=table.cursor_value)
        loader = self.start_table(plan, table_run, target)
        cursor = table.resume_cursor or cursor_at_start(table, timezone.now())
        per_link = table.read_per_link_of_id is not None
        events = self.webhooks
        from_files = table.reads_from().kind == ConnectionKind.FILE
        partial = bool(table.resume_token) or table.reads_changes_only or per_link or events is not None or from_files
        seen_keys: set[str] | None = None if partial else set()
        reader = PerLinkReader(table, source, self.page_log) if per_link else source
        if from_files and not per_link and events is None:
            reader = FileDropReader(table, source, self.page_log, self.run)
        if events is not None:
            reader = events.reader(table, source, self.page_log)
        from_source = 0  # records the pages brought, to hold against the total the source reports
        whole_read = not table.resume_token and events is None
        sweep = SweepCount(table, self.page_log) if events is None else None
        watching = sweep.watching if sweep is not None else nullcontext
        try:
            retried = retry_pending(loader)
            reprocess(loader)
            for page in pages(table, reader, table.resume_token or None):
                if page.total is not None and table_run.source_total is None:
                    table_run.source_total = page.total
                    TableRun.objects.filter(pk=table_run.pk).update(source_total=page.total)
                from_source += len(page.records)
                with watching():
                    cursor = load_page(
                        loader, page.records, cursor, resuming=resuming, seen_keys=seen_keys, retried=retried
                    )
                complete_writes(target, self.page_log)
                if events is not None:
                    events.delete_gone(table, target, self.page_log)
                    events.loaded(table, self.page_log)
                    self.page_log.flush()  # no resume point: the events are the run's, the cursor the polls'
                else:
                    self.page_log.flush(resume_token=page.next_token or "", resume_cursor=cursor)
                self.run.beat()
                self.progress(table, table_run)
            if whole_read and table_run.source_total is not None and from_source < table_run.source_total:
                raise ConnectorError(
                    stored.gettext(
                        "The source reported %(total)d records and %(read)d were read: %(missing)d went missing "
                        "on the way. The cursor stays where it was, so the next run reads them again.",
                        total=table_run.source_total,
                        read=from_source,
                        missing=table_run.source_total - from_source,
                    )
                )
            if seen_keys is not None and table.delete_policy == DeletePolicy.DELETE:
                with watching():
                    apply_deletes(table, seen_keys, target, self.page_log)
                self.page_log.flush()
        except QuotaReached:
            self.page_log.flush()  # what was written stays linked; the resume point stays at the last whole page
            self.finish_table(table_run, RunStatus.PAUSED)
            raise
        except ConnectorError as exc:
            self.page_log.flush()
            self.finish_table(table_run, RunStatus.FAILED)
            raise ConnectorError(
                stored.gettext("%(table)s: %(error)s", table=table.name, error=exc.message),
                retryable=exc.retryable,
                status_code=exc.status_code,
            ) from exc
        except Exception:
            self.page_log.flush()
            self.finish_table(table_run, RunStatus.FAILED)
            raise
        if events is not None:
            cursor = table.cursor_value  # a webhook run leaves the cursor and the resume point as they are
        else:
            SyncTable.objects.filter(pk=table.pk).update(cursor_value=cursor or "", resume_token="", resume_cursor="")
            table.cursor_value, table.resume_token, table.resume_cursor = cursor or "", "", ""
        table_run.cursor_after = cursor or ""
        counted = self._count_target(table, target) if events is None else None
        problems = reader.problems if isinstance(reader, FileDropReader) else []
        self.problems += [
            stored.gettext("%(table)s: %(error)s", table=table.name, error=problem) for problem in problems
        ]
        partly = table_run.failed or problems
        self.finish_table(table_run, RunStatus.PARTIAL if partly else RunStatus.SUCCEEDED, counted, sweep)
        if counted is not None:
            follow_up(self.integration, table, counted)
        self.progress(table, table_run)
        return table_run

    def _count_target(self, table: SyncTable, target: Connector) -> TargetCount | None:
        """For a table with a count query: what the target holds and the links held (its call kept with the table's)."""
        if not table.target_count_query.strip():
            return None
        self.still_alive()
        counted = count_target(table, target)
        self.page_log.flush()
        self.still_alive()  # reaped while counting: the count is not written
        return counted

    def finish_table(
        self,
        table_run: TableRun,
        status: RunStatus,
        counted: TargetCount | None = None,
        sweep: SweepCount | None = None,
    ) -> None:
        table_run.status, table_run.finished_at = status, timezone.now()
        fields = ["status", "finished_at", "cursor_after"]
        if counted is not None:
            fields += counted.store_on(table_run)
        if sweep is not None:
            fields += sweep.store_on(table_run)
        table_run.save(update_fields=fields)


def complete_writes(target: Connector, page_log: PageLog) -> None:
    """What the page's writes left pending reaches the target (a file is written) before their links are kept.

    When it cannot, the page's notes are dropped (its calls kept) and the failure raised: no link says a
    record reached a file that was never written, and the next run reads and writes the page again.
    """
    try:
        target.finish_writes()
    except Exception:
        page_log.discard()
        raise


def until_text(moment: datetime, now: datetime) -> str:
    """``14:02`` in the portal's time zone when ``moment`` is on today's date there, else ``2024-11-15 14:02``."""
    tz = portal_zone()
    local = moment.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"{local:%H:%M}"
    return format_local(moment, tz, with_zone=False)


def retry_errors(errors: list[RecordError], user=None, connectors: ConnectorFactory | None = None) -> SyncRun:
    """Send failed records of one integration through the pipeline again, from their stored payloads."""
    integration = errors[0].table.integration
    run = queue_run(integration, Trigger.RETRY, user)
    run.start()
    sync = IntegrationSync(run, connectors=connectors)
    status = RunStatus.SUCCEEDED
    try:
        with ExitStack() as stack:
            connectors = {
                Direction.ERP_TO_CRM: stack.enter_context(sync.connector(integration.crm_connection)),
                Direction.CRM_TO_ERP: stack.enter_context(sync.connector(integration.erp_connection)),
            }
            for table in {error.table for error in errors}:
                plan = TablePlan.load(table)
                table_run = TableRun.objects.create(run=run, table=table)
                loader = sync.start_table(plan, table_run, connectors[table.direction])
                rekeyed = {}  # a record queued under another key (its key was fixed since) closes that entry too
                with loader.in_flight():
                    for error in (e for e in errors if e.table_id == table.pk):
                        # A record still without a key fails again on its own entry.
                        if not isinstance(error.payload, dict):
                            loader.fail_unreadable(error.payload, key=error.record_key)
                            continue
                        key = key_text(get_path(error.payload, table.record_key))
                        if not key:
                            loader.fail_keyless(error.payload, key=error.record_key)
                            continue
                        link = RecordLink.objects.filter(table=table, source_key=key).first()
                        loader.load(key, error.payload, loader.link_of(key, link), find_first=True)
                        if key != error.record_key:
                            rekeyed[error.record_key] = key
                complete_writes(connectors[table.direction], sync.page_log)
                succeeded = set(sync.page_log.succeeded_keys)
                sync.page_log.succeeded_keys += [queued for queued, key in rekeyed.items() if key in succeeded]
                sync.page_log.flush()
                sync.finish_table(table_run, RunStatus.PARTIAL if table_run.failed else RunStatus.SUCCEEDED)
                if table_run.failed:
                    status = RunStatus.PARTIAL
    except ConnectorError as exc:
        run.finish(RunStatus.FAILED, exc.message)
        return run
    except Exception as exc:
        run.finish(RunStatus.FAILED, stored.gettext("Unexpected error: %(error)s", error=exc))
        raise
    run.finish(status)
    return run
