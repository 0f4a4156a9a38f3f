"""Match and load: find a mapped record in the target (by its link, else by its key), then create or update it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from core import stored_messages as stored
from core.storable import repaired_text
from monitoring.choices import RecordAction
from monitoring.recorder import PageLog

from ..choices import WriteMode
from ..connectors.base import Connector, ConnectorError
from ..mapping import MISSING, MappingResult, get_path, is_empty
from ..writes import changed_fields, conflicts, written
from .keys import key_text
from .plan import TablePlan


@dataclass
class Create:
    """A create ready to send: its body, and what its link will keep."""

    key: str
    body: dict
    digest: str
    written: dict
    key_value: object = None


@dataclass
class Update:
    """An update ready to send to the record ``target_key``, and what its link will keep."""

    key: str
    target_key: str
    body: dict
    digest: str
    kept: dict
    overwritten: list = field(default_factory=list)
    note: object = None
    key_value: object = None


class TargetWriter:
    """Writes one table's mapped records to its target, noting each outcome and link on the page log."""

    def __init__(self, plan: TablePlan, page_log: PageLog, target: Connector, still_alive: Callable[[], None]):
        self.plan = plan
        self.table = plan.table
        self.log = page_log
        self.target = target
        self.still_alive = still_alive

    def noting_on(self, log) -> TargetWriter:
        """This writer noting outcomes and links on ``log`` (a write in flight notes on its own)."""
        writer = copy.copy(self)
        writer.log = log
        return writer

    def write(self, key: str, mapped: MappingResult, update_view: dict, digest: str, link, find_first: bool) -> None:
        """Update the linked record, else the one found by key, else create one (as the table's write mode allows)."""
        self.still_alive()
        table, log = self.table, self.log
        if link is not None:
            if table.write_mode == WriteMode.CREATE_ONLY:
                log.outcome(
                    RecordAction.SKIPPED,
                    key,
                    target_key=link.target_key,
                    message=stored.gettext("Changed in the source, but this table only creates records."),
                )
                return
            self._update(key, link.target_key, mapped, update_view, digest, link.written_values or {})
            return
        existing = self._find_existing(mapped.values, find_first)
        if existing is not None:
            target_key = key_text(get_path(existing, table.target_key))
            matched = stored.gettext("Matched an existing record by its key.")
            if table.write_mode == WriteMode.CREATE_ONLY:
                log.link(key, target_key, digest, written(mapped.fields))
                log.outcome(RecordAction.UNCHANGED, key, target_key=target_key, message=matched)
                return
            self._update(key, target_key, mapped, update_view, digest, None, note=matched)
            return
        if table.write_mode == WriteMode.UPDATE_ONLY:
            log.outcome(
                RecordAction.SKIPPED,
                key,
                message=stored.gettext("No matching record in the target, and this table never creates."),
            )
            return
        self._create(key, mapped, digest)

    def _create(self, key: str, mapped: MappingResult, digest: str) -> None:
        fields = {name: mapped.fields[name] for name in mapped.create_fields}
        self.send_create(Create(key, mapped.create_body(), digest, written(fields), self._key_value(mapped)))

    def send_create(self, create: Create) -> None:
        """Create the record in the target, then note its link and outcome."""
        self.still_alive()
        answer = self.target.create(
            self.table.target_object,
            create.body,
            key_field=self.plan.key_target_field,
            envelope=self.table.write_body or None,
        )
        self.note_created(create, answer)

    def note_created(self, create: Create, answer: dict, action=RecordAction.CREATED, message="") -> None:
        """Link the record the target answered for ``create`` (its key read from the answer) and note it."""
        target_key = key_text(get_path(answer, self.table.target_key))
        if not target_key:
            raise ConnectorError(
                stored.gettext(
                    'The target created the record but its answer has no "%(field)s" to link it by.',
                    field=self.table.target_key,
                )
            )
        self.log.link(create.key, target_key, create.digest, create.written)
        self.log.outcome(action, create.key, target_key=target_key, message=message)

    def _update(self, key, target_key, mapped, update_view, digest, last_written, note=None) -> None:
        """Send what an update may change (only what changed, when the table says so); journal overwritten edits.

        ``last_written`` is what the portal last wrote to this record (None when it was matched, not linked).
        """
        table, log, target = self.table, self.log, self.target
        sending = update_view
        if table.update_changed_fields_only and last_written is not None:
            sending = {name: update_view[name] for name in changed_fields(update_view, last_written)}
        kept = {**(last_written or {}), **written(sending)}
        if not sending:
            log.link(key, target_key, digest, kept)
            log.outcome(RecordAction.UNCHANGED, key, target_key=target_key, message=note or "")
            return
        overwritten = []
        if last_written:
            found = repaired_text(target.get(table.update_object or table.target_object, target_key))[0]
            current = self.current_values(found)
            overwritten = conflicts(current, sending, last_written) if current is not None else []
        body = mapped.body(set(sending))
        self.send_update(Update(key, target_key, body, digest, kept, overwritten, note, self._key_value(mapped)))

    def send_update(self, update: Update) -> None:
        """Update the record in the target, then note its link, outcome and overwritten fields."""
        self.still_alive()
        self.target.update(
            self.table.update_object or self.table.target_object,
            update.target_key,
            update.body,
            envelope=self.table.write_body or None,
        )
        self.note_updated(update)

    def note_updated(self, update: Update, note=None) -> None:
        key, target_key, log = update.key, update.target_key, self.log
        note = note or update.note
        for conflict in update.overwritten:
            log.conflict(key, target_key, conflict)
        log.link(key, target_key, update.digest, update.kept)
        if update.overwritten:
            note = stored.join(
                *([note] if note else []),
                stored.ngettext(
                    "Overwrote %(fields)s, changed in the target since the portal last wrote it "
                    "(the lost value is in the conflict journal).",
                    "Overwrote %(fields)s, changed in the target since the portal last wrote them "
                    "(the lost values are in the conflict journal).",
                    len(update.overwritten),
                    fields=", ".join(conflict.field for conflict in update.overwritten),
                ),
            )
        log.outcome(RecordAction.UPDATED, key, target_key=target_key, message=note or "")

    def current_values(self, record: dict | None) -> dict | None:
        """The fields of a record as the target answered it, by the target paths the mappings write."""
        return record

    def _key_value(self, mapped: MappingResult):
        """The record's value in the target's key field (how a create is looked up), None without one."""
        key_field = self.plan.key_target_field
        value = get_path(mapped.values, key_field) if key_field else MISSING
        return None if value is MISSING or is_empty(value) else value

    def _find_existing(self, values, find_first: bool):
        """The target's record with this key, when the table matches existing records (or a run resumes)."""
        table, key_field = self.table, self.plan.key_target_field
        matches_existing = table.match_existing or table.write_mode == WriteMode.UPDATE_ONLY
        if not (find_first or matches_existing):
            return None
        key_value = get_path(values, key_field) if key_field else MISSING
        if key_value is MISSING or is_empty(key_value):
            return None
        if key_field == table.target_key:
            return {table.target_key: key_value}  # the source carries the target's own id (e.g. status back)
        if not matches_existing and not self.target.can_find(table.target_object, key_field):
            return None  # nothing to look it up with: the create checks for itself where it can
        return self.target.find(table.target_object, key_field, key_value)
