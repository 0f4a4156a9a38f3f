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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core import stored_messages as stored
from core.storable import repaired_text, storable
from monitoring.alerts import open_alert
from monitoring.choices import AlertKind, ErrorStatus, HeldDeleteStatus, RecordAction, RunStatus, Trigger
from monitoring.heartbeat import Heartbeat
from monitoring.models import HeldDelete, RecordError, SyncRun, TableRun
from monitoring.recorder import PageLog

from .choices import DeletePolicy, Direction, Reprocess, WriteMode
from .connectors import connector_for
from .connectors.base import ConnectionConfig, Connector, ConnectorError, ReadRequest
from .lookups import LinkLookups
from .mapping import (
    MISSING,
    FieldSpec,
    FilterRule,
    MappingResult,
    first_rejecting_rule,
    get_path,
    is_empty,
    map_record,
    values_hash,
)
from .models import Integration, RecordLink, StagedRecord, SyncTable
from .per_link import PerLinkReader
from .target_count import TargetCount, count_target, follow_up
from .writes import changed_fields, conflicts, written

Progress = Callable[[SyncTable, TableRun], None]
ConnectorFactory = Callable[..., Connector]


def connector_for_connection(connection, call_log) -> Connector:
    """The connector of a ``Connection`` row, its calls reported to ``call_log``."""
    config = ConnectionConfig.from_model(connection, body_limit=settings.REQUEST_LOG_BODY_LIMIT)
    return connector_for(config, call_log=call_log)


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


def _key_text(value) -> str:
    return "" if value is MISSING or is_empty(value) else str(value)


KEY_LENGTH = 200  # RecordError.record_key, RecordEvent.record_key
REPROCESS_BATCH = 200  # staged records gone through again per committed page
IGNORED_NOTE = stored.gettext_noop("Ignored in the review queue: it comes back when its data changes.")
PAYLOAD_DIGEST_LENGTH = 8


def _placeholder_key(table: SyncTable, key: str, record) -> str:
    """The key a record is logged under when its own cannot be one (none, or too long)."""
    if not key:
        return bad_record_key(stored.gettext("(no %(field)s)", field=table.record_key).text, record)
    return bad_record_key(key[:40] + "…", record)


def bad_record_key(placeholder: str, payload) -> str:
    """The review-queue key of a record that has no key of its own: ``(no CNPJ) 3f2a9c1b``.

    The placeholder says why; a short hash of the payload tells such records apart (each keeps its
    own entry and payload) and finds the same entry again when the same record fails on a later run.
    A key, not a message: the same words whoever runs it (the portal's language).
    """
    digest = values_hash(payload)[:PAYLOAD_DIGEST_LENGTH]
    return f"{placeholder[: KEY_LENGTH - PAYLOAD_DIGEST_LENGTH - 1]} {digest}"


@dataclass
class TablePlan:
    """A table's configuration, read once per run."""

    table: SyncTable
    specs: list[FieldSpec]
    rules: list[FilterRule]
    key_target_field: str
    lookups: LinkLookups

    @classmethod
    def load(cls, table: SyncTable) -> TablePlan:
        specs = [FieldSpec.from_model(mapping) for mapping in table.mappings.all()]
        key_target = table.match_field.strip() or next(
            (spec.target_field for spec in specs if spec.source_path == table.record_key), ""
        )
        return cls(table, specs, FilterRule.from_json(table.filter_rules), key_target, LinkLookups(table))

    def update_view(self, mapped: MappingResult) -> dict:
        """The fields an update may send. It addresses the record by its key in the URL: the key is not a change."""
        return {name: value for name, value in mapped.update_view().items() if name != self.table.target_key}


class IntegrationSync:
    """One run of one integration."""

    def __init__(self, run: SyncRun, progress: Progress | None = None, connectors: ConnectorFactory | None = None):
        self.run = run
        self.integration = run.integration
        self.progress = progress or (lambda table, table_run: None)
        self.make_connector = connectors or connector_for_connection
        self.page_log: PageLog | None = None
        self.heartbeat: Heartbeat | None = None
        # Records the current table already retried from the queue, by key, with their payload's hash.
        self.retried: dict[str, str] = {}

    # ------------------------------------------------------------ the run

    def execute(self) -> SyncRun:
        any_failed = False
        try:
            with ExitStack() as stack:
                self.heartbeat = stack.enter_context(Heartbeat(self.run.pk))
                erp = stack.enter_context(self._connector(self.integration.erp_connection))
                crm = stack.enter_context(self._connector(self.integration.crm_connection))
                for table in self.integration.tables.filter(active=True).prefetch_related("mappings"):
                    source, target = (erp, crm) if table.direction == Direction.ERP_TO_CRM else (crm, erp)
                    table_run = self.sync_table(table, source, target)
                    any_failed = any_failed or table_run.failed > 0
        except ConnectorError as exc:
            self.run.finish(RunStatus.FAILED, exc.message)
            return self.run
        except RunAbandoned:
            self.run.refresh_from_db()  # abandoned by the reaper: its verdict stands
            return self.run
        except Exception as exc:
            self.run.finish(RunStatus.FAILED, stored.gettext("Unexpected error: %(error)s", error=exc))
            raise
        self.run.finish(RunStatus.PARTIAL if any_failed else RunStatus.SUCCEEDED)
        return self.run

    def still_alive(self) -> None:
        """Raise ``RunAbandoned`` when the reaper gave up on this run: nothing more is written."""
        if self.heartbeat is not None and self.heartbeat.lost.is_set():
            raise RunAbandoned

    def _connector(self, connection) -> Connector:
        return self.make_connector(connection, lambda call, pk=connection.pk: self._log_call(pk, call))

    def _log_call(self, connection_id, call) -> None:
        if self.page_log is not None:
            self.page_log.call(connection_id, call)

    # ------------------------------------------------------------ one table

    def sync_table(self, table: SyncTable, source: Connector, target: Connector) -> TableRun:
        plan = TablePlan.load(table)
        interrupted = TableRun.objects.filter(table=table, finished_at__isnull=True).exclude(run=self.run)
        resuming = bool(table.resume_token) or interrupted.exists()
        for stopped in interrupted:
            stopped.status, stopped.finished_at = RunStatus.ABANDONED, timezone.now()
            stopped.save(update_fields=["status", "finished_at"])
        table_run = TableRun.objects.create(run=self.run, table=table, cursor_before=table.cursor_value)
        self.page_log = PageLog(self.run, table, table_run)
        page_token = table.resume_token or None
        cursor = table.resume_cursor or table.cursor_value
        per_link = table.read_per_link_of_id is not None
        seen_keys: set[str] | None = None if (table.resume_token or table.cursor_field or per_link) else set()
        reader = PerLinkReader(table, source, self.page_log) if per_link else source
        from_source = 0  # records the pages brought, to hold against the total the source reports
        whole_read = not table.resume_token
        try:
            self._retry_pending(plan, target)
            self._reprocess(plan, target)
            while True:
                request = ReadRequest(
                    source_object=table.source_object,
                    cursor=table.cursor_value or None,
                    page_token=page_token,
                    incremental_filter=table.incremental_filter,
                    arguments=table.read_arguments or {},
                )
                page = reader.read_page(request)
                if page.total is not None and table_run.source_total is None:
                    table_run.source_total = page.total
                    TableRun.objects.filter(pk=table_run.pk).update(source_total=page.total)
                from_source += len(page.records)
                cursor = self._load_records(plan, page.records, target, resuming, seen_keys, cursor)
                page_token = page.next_token
                self.page_log.flush(resume_token=page_token or "", resume_cursor=cursor)
                self.run.beat()
                self.progress(table, table_run)
                if page_token is None:
                    break
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
                self._apply_deletes(table, seen_keys, target)
                self.page_log.flush()
        except ConnectorError as exc:
            self.page_log.flush()
            self._finish_table(table_run, RunStatus.FAILED)
            raise ConnectorError(
                stored.gettext("%(table)s: %(error)s", table=table.name, error=exc.message),
                retryable=exc.retryable,
                status_code=exc.status_code,
            ) from exc
        except Exception:
            self.page_log.flush()
            self._finish_table(table_run, RunStatus.FAILED)
            raise
        SyncTable.objects.filter(pk=table.pk).update(cursor_value=cursor or "", resume_token="", resume_cursor="")
        table.cursor_value, table.resume_token, table.resume_cursor = cursor or "", "", ""
        table_run.cursor_after = cursor or ""
        counted = self._count_target(table, target)
        self._finish_table(table_run, RunStatus.PARTIAL if table_run.failed else RunStatus.SUCCEEDED, counted)
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

    def _finish_table(self, table_run: TableRun, status: RunStatus, counted: TargetCount | None = None) -> None:
        table_run.status, table_run.finished_at = status, timezone.now()
        fields = ["status", "finished_at", "cursor_after"]
        if counted is not None:
            fields += counted.store_on(table_run)
        table_run.save(update_fields=fields)

    # ------------------------------------------------------------ records

    def _load_records(self, plan, records, target, resuming, seen_keys, cursor):
        table = plan.table
        records = [repaired_text(record) for record in records]  # storable from here on: keys included
        keys = [_key_text(get_path(record, table.record_key)) for record, _ in records if isinstance(record, dict)]
        links = {link.source_key: link for link in RecordLink.objects.filter(table=table, source_key__in=keys)}
        ignored = {
            error.record_key: values_hash(error.payload)
            for error in RecordError.objects.filter(table=table, status=ErrorStatus.IGNORED, record_key__in=keys)
        }
        for record, repaired in records:
            if not isinstance(record, dict):
                self.fail_unreadable(record)
                continue
            key = _key_text(get_path(record, table.record_key))
            if repaired:
                self.page_log.repaired(key)
            if seen_keys is not None and key:
                seen_keys.add(key)
            if table.cursor_field:
                cursor = _later(cursor, get_path(record, table.cursor_field))
            self.still_alive()
            if key in self.retried and self.retried[key] == values_hash(storable(record)):
                continue  # retried from the queue at the start of this table, as it is: not twice in one run
            if key in ignored and ignored[key] == values_hash(storable(record)):
                self.page_log.outcome(RecordAction.SKIPPED, key, message=IGNORED_NOTE)
                continue
            self.load_record(plan, key, record, links.get(key), target, find_first=resuming)
        return cursor

    def fail_unreadable(self, record, key: str = "") -> None:
        """A record that is not an object goes to the review queue with its payload (under ``key`` when retried)."""
        self.page_log.fail(
            key or bad_record_key(stored.gettext("(unreadable record)").text, record),
            record,
            stored.gettext("The source sent a record that is not an object."),
        )

    def fail_keyless(self, table: SyncTable, record: dict, key: str = "") -> None:
        """A record without a value in its key field goes to the review queue (under ``key`` when retried)."""
        self.page_log.fail(
            key or bad_record_key(stored.gettext("(no %(field)s)", field=table.record_key).text, record),
            record,
            stored.gettext('The record has no value in its key field "%(field)s".', field=table.record_key),
        )

    def load_record(
        self, plan: TablePlan, key: str, record: dict, link, target: Connector, *, find_first=False, waiting_since=None
    ):
        """Carry one source record to the target and note what happened on the page log.

        ``waiting_since`` is when a record retried from the queue started waiting for a referenced one.
        """
        table, log = plan.table, self.page_log
        payload = storable(record)
        if key and len(key) <= KEY_LENGTH:
            log.stage(key, payload, len(json.dumps(payload, ensure_ascii=False, default=str).encode()))
        rule = first_rejecting_rule(record, plan.rules)  # rules first: a record they skip is never a failure
        if rule is not None:
            shown_key = key if key and len(key) <= KEY_LENGTH else _placeholder_key(table, key, record)
            log.outcome(RecordAction.SKIPPED, shown_key, message=rule.explain(record))
            return
        if not key:
            self.fail_keyless(table, record)
            return
        if len(key) > KEY_LENGTH:
            log.fail(
                _placeholder_key(table, key, record),
                payload,
                stored.gettext(
                    'The value of the key field "%(field)s" is longer than %(limit)d characters: it cannot be a key.',
                    field=table.record_key,
                    limit=KEY_LENGTH,
                ),
            )
            return
        mapped = map_record(record, plan.specs, plan.lookups)
        if mapped.errors:
            log.fail(key, payload, mapped.message, field_errors=mapped.errors_for_json())
            return
        if mapped.waiting:
            self._wait(plan, key, payload, mapped, waiting_since)
            return
        update_view = plan.update_view(mapped)
        digest = values_hash(update_view)
        if link is not None and link.mapped_hash == digest:
            log.outcome(RecordAction.UNCHANGED, key, target_key=link.target_key)
            return
        try:
            self._write(plan, key, mapped, update_view, digest, link, target, find_first)
        except ConnectorError as exc:
            if not exc.record_level:
                raise
            log.fail(key, payload, exc.message, http_status=exc.status_code)

    def _wait(self, plan: TablePlan, key: str, payload, mapped: MappingResult, waiting_since) -> None:
        """A record whose referenced record is not synced yet waits; past the table's limit it fails."""
        waited = timezone.now() - waiting_since if waiting_since is not None else None
        if waited is not None and waited > plan.table.max_wait_for_parent:
            self.page_log.fail(
                key,
                payload,
                stored.gettext(
                    "Still %(waiting)s after %(waited)s: sync that record first, then retry this one.",
                    waiting=mapped.waiting_message,
                    waited=waited,
                ),
            )
            return
        waiting_for = "; ".join(f"{waiting.table} {waiting.key}" for waiting in mapped.waiting)
        self.page_log.wait(key, payload, mapped.waiting_message, waiting_for)

    def _retry_pending(self, plan: TablePlan, target: Connector) -> None:
        """The table's records that wait for a referenced one, and its failed ones whose retry is due, go again.

        From their stored payloads, with the table's current configuration: a cursor that moved past a
        failed record (or a mapping fixed since) never leaves it behind.
        """
        due = Q(status=ErrorStatus.WAITING) | Q(status=ErrorStatus.OPEN, next_retry_at__lte=timezone.now())
        pending = list(RecordError.objects.filter(due, table=plan.table).order_by("first_failed_at", "pk"))
        self.retried = {}
        if not pending:
            return
        keys = [error.record_key for error in pending]
        links = {link.source_key: link for link in RecordLink.objects.filter(table=plan.table, source_key__in=keys)}
        self.retried = {error.record_key: values_hash(error.payload) for error in pending}
        for error in pending:
            if isinstance(error.payload, dict):
                key = error.record_key
                waited = error.first_failed_at if error.status == ErrorStatus.WAITING else None
                self.load_record(
                    plan, key, error.payload, links.get(key), target, find_first=True, waiting_since=waited
                )
        self.page_log.flush()

    def _reprocess(self, plan: TablePlan, target: Connector) -> None:
        """What IT asked to go through the mapping again: every staged record, or the failed ones (now).

        Nothing is extracted again: the staged payloads are the records as last received.
        """
        table = plan.table
        if table.reprocess == Reprocess.ALL:
            rows = StagedRecord.objects.filter(table=table).order_by("pk")
            fields = ("pk", "source_key", "payload")
        elif table.reprocess == Reprocess.FAILED:
            rows = RecordError.objects.filter(table=table, status=ErrorStatus.OPEN).order_by("pk")
            fields = ("pk", "record_key", "payload")
        else:
            return
        last = 0
        while batch := list(rows.filter(pk__gt=last).values_list(*fields)[:REPROCESS_BATCH]):
            last = batch[-1][0]
            links = RecordLink.objects.filter(table=table, source_key__in=[key for _pk, key, _payload in batch])
            linked = {link.source_key: link for link in links}
            for _pk, key, payload in batch:
                if isinstance(payload, dict):
                    self.still_alive()
                    self.load_record(plan, key, payload, linked.get(key), target, find_first=True)
            self.page_log.flush()
        SyncTable.objects.filter(pk=table.pk).update(reprocess=Reprocess.NOTHING)
        table.reprocess = Reprocess.NOTHING

    def _write(self, plan, key, mapped: MappingResult, update_view: dict, digest, link, target, find_first):
        self.still_alive()
        table, log = plan.table, self.page_log
        if link is not None:
            if table.write_mode == WriteMode.CREATE_ONLY:
                log.outcome(
                    RecordAction.SKIPPED,
                    key,
                    target_key=link.target_key,
                    message=stored.gettext("Changed in the source, but this table only creates records."),
                )
                return
            self._update(plan, key, link.target_key, mapped, update_view, digest, link.written_values or {}, target)
            return
        existing = self._find_existing(plan, mapped.values, target, find_first)
        if existing is not None:
            target_key = _key_text(get_path(existing, table.target_key))
            matched = stored.gettext("Matched an existing record by its key.")
            if table.write_mode == WriteMode.CREATE_ONLY:
                log.link(key, target_key, digest, written(mapped.fields))
                log.outcome(RecordAction.UNCHANGED, key, target_key=target_key, message=matched)
                return
            self._update(plan, key, target_key, mapped, update_view, digest, None, target, note=matched)
            return
        if table.write_mode == WriteMode.UPDATE_ONLY:
            log.outcome(
                RecordAction.SKIPPED,
                key,
                message=stored.gettext("No matching record in the target, and this table never creates."),
            )
            return
        values = mapped.create_body()
        self.still_alive()
        answer = target.create(table.target_object, values, key_field=plan.key_target_field)
        target_key = _key_text(get_path(answer, table.target_key))
        if not target_key:
            raise ConnectorError(
                stored.gettext(
                    'The target created the record but its answer has no "%(field)s" to link it by.',
                    field=table.target_key,
                )
            )
        log.link(key, target_key, digest, written({name: mapped.fields[name] for name in mapped.create_fields}))
        log.outcome(RecordAction.CREATED, key, target_key=target_key)

    def _update(self, plan, key, target_key, mapped, update_view, digest, last_written, target, note=None):
        """Send what an update may change (only what changed, when the table says so); journal overwritten edits.

        ``last_written`` is what the portal last wrote to this record (None when it was matched, not linked).
        """
        table, log = plan.table, self.page_log
        sending = update_view
        if table.update_changed_fields_only and last_written is not None:
            sending = {name: update_view[name] for name in changed_fields(update_view, last_written)}
        kept = {**(last_written or {}), **written(sending)}
        if not sending:
            log.link(key, target_key, digest, kept)
            log.outcome(RecordAction.UNCHANGED, key, target_key=target_key, message=note or "")
            return
        update_object = table.update_object or table.target_object
        overwritten = []
        if last_written:
            current = repaired_text(target.get(update_object, target_key))[0]
            overwritten = conflicts(current, sending, last_written) if current is not None else []
        self.still_alive()
        target.update(update_object, target_key, mapped.body(set(sending)))
        for conflict in overwritten:
            log.conflict(key, target_key, conflict)
        log.link(key, target_key, digest, kept)
        if overwritten:
            note = stored.join(
                *([note] if note else []),
                stored.ngettext(
                    "Overwrote %(fields)s, changed in the target since the portal last wrote it "
                    "(the lost value is in the conflict journal).",
                    "Overwrote %(fields)s, changed in the target since the portal last wrote them "
                    "(the lost values are in the conflict journal).",
                    len(overwritten),
                    fields=", ".join(conflict.field for conflict in overwritten),
                ),
            )
        log.outcome(RecordAction.UPDATED, key, target_key=target_key, message=note or "")

    def _find_existing(self, plan, values, target, find_first):
        """The target's record with this key, when the table matches existing records (or a run resumes)."""
        table = plan.table
        matches_existing = table.match_existing or table.write_mode == WriteMode.UPDATE_ONLY
        if not (find_first or matches_existing):
            return None
        key_value = get_path(values, plan.key_target_field) if plan.key_target_field else MISSING
        if key_value is MISSING or is_empty(key_value):
            return None
        if plan.key_target_field == table.target_key:
            return {table.target_key: key_value}  # the source carries the target's own id (e.g. status back)
        if not matches_existing and not target.can_find(table.target_object, plan.key_target_field):
            return None  # nothing to look it up with: the create checks for itself where it can
        return target.find(table.target_object, plan.key_target_field, key_value)

    # ------------------------------------------------------------ deletes

    def _apply_deletes(self, table: SyncTable, seen_keys: set[str], target: Connector) -> None:
        rejected = HeldDelete.objects.filter(table=table, status=HeldDeleteStatus.REJECTED).values("source_key")
        links = RecordLink.objects.filter(table=table).exclude(source_key__in=seen_keys)
        gone = list(links.exclude(source_key__in=rejected))  # IT rejected these deletes: keep them
        if not gone:
            return
        log = self.page_log
        if len(gone) > table.delete_threshold:
            for link in gone:
                log.hold(link.source_key, link.target_key)
            open_alert(
                self.integration,
                AlertKind.DELETES_HELD,
                stored.ngettext(
                    "%(count)d delete in %(table)s exceeds the threshold of %(threshold)d and waits for approval.",
                    "%(count)d deletes in %(table)s exceed the threshold of %(threshold)d and wait for approval.",
                    len(gone),
                    count=len(gone),
                    table=table.name,
                    threshold=table.delete_threshold,
                ),
                table=table,
            )
            return
        for link in gone:
            try:
                target.delete(table.update_object or table.target_object, link.target_key)
            except ConnectorError as exc:
                if not exc.record_level:
                    raise
                log.fail(link.source_key, {"target_key": link.target_key}, exc.message, http_status=exc.status_code)
                continue
            log.unlink(link.source_key)
            log.outcome(RecordAction.DELETED, link.source_key, target_key=link.target_key)


def _later(current: str | None, value) -> str | None:
    """The later of two cursor values (ISO timestamps and zero-padded numbers compare as text)."""
    if value is MISSING or is_empty(value):
        return current
    text = str(value)
    return text if not current or text > current else current


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
                Direction.ERP_TO_CRM: stack.enter_context(sync._connector(integration.crm_connection)),
                Direction.CRM_TO_ERP: stack.enter_context(sync._connector(integration.erp_connection)),
            }
            for table in {error.table for error in errors}:
                plan = TablePlan.load(table)
                table_run = TableRun.objects.create(run=run, table=table)
                sync.page_log = PageLog(run, table, table_run)
                for error in (e for e in errors if e.table_id == table.pk):
                    # A record still without a key fails again on its own entry.
                    if not isinstance(error.payload, dict):
                        sync.fail_unreadable(error.payload, key=error.record_key)
                        continue
                    key = _key_text(get_path(error.payload, table.record_key))
                    if not key:
                        sync.fail_keyless(table, error.payload, key=error.record_key)
                        continue
                    link = RecordLink.objects.filter(table=table, source_key=key).first()
                    target = connectors[table.direction]
                    sync.load_record(plan, key, error.payload, link, target, find_first=True)
                    if key != error.record_key and key in sync.page_log.succeeded_keys:
                        sync.page_log.succeeded_keys.append(error.record_key)
                sync.page_log.flush()
                sync._finish_table(table_run, RunStatus.PARTIAL if table_run.failed else RunStatus.SUCCEEDED)
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
