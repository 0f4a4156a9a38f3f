"""What a dry run notes instead of writing: each record's fate and the body that would be sent.

:class:`DryLog` stands in for the page log (:class:`monitoring.recorder.PageLog`) and keeps everything
in memory: nothing reaches the database. :class:`DryWriter` decides as the real writer does (a linked
record is updated, an unlinked one looked up when the table matches existing records, else created;
reads of the target are real) and stops where a create or an update would be sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from core import stored_messages as stored
from monitoring.choices import RecordAction

from ..connectors.templates import enveloped
from ..models import RecordLink, SyncTable
from .write import Create, TargetWriter, Update

# A dry run's own words for what a run would do.
WOULD_CREATE, WOULD_UPDATE, WOULD_DELETE, WOULD_HOLD = "would_create", "would_update", "would_delete", "would_hold"


@dataclass
class Planned:
    """One record's fate in a dry run."""

    key: str
    action: str  # a RecordAction value, or one of the WOULD_* words
    message: str = ""
    target_key: str = ""
    body: dict | None = None  # what a create or an update would send
    field_errors: dict = field(default_factory=dict)


class DryLog:
    """The page log of a dry run: the records' fates in memory, at most ``keep`` of them listed."""

    def __init__(self, table: SyncTable, keep: int):
        self.table = table
        self.keep = keep
        self.counts: Counter = Counter()
        self.planned: list[Planned] = []
        self.links: dict[str, RecordLink] = {}
        self.conflicts: dict[str, list[str]] = {}
        self.repaired_keys: set[str] = set()
        self.calls = 0

    def note(self, planned: Planned) -> None:
        self.counts[planned.action] += 1
        if len(self.planned) < self.keep:
            self.planned.append(planned)

    # --- the page log's interface ------------------------------------------------------------

    def stage(self, key: str, payload, size: int) -> None:
        """Nothing is staged."""

    def repaired(self, key: str) -> None:
        self.repaired_keys.add(key)

    def outcome(self, action, key: str, *, target_key="", message="", http_status=None) -> None:
        self.note(Planned(key, str(action), message, str(target_key or "")))

    def fail(self, key: str, payload, reason: str, *, field_errors=None, http_status=None) -> None:
        errors = {name: stored.parse(message) for name, message in (field_errors or {}).items()}
        self.note(Planned(key, str(RecordAction.FAILED), reason, field_errors=errors))

    def wait(self, key: str, payload, reason: str, waiting_for: str) -> None:
        self.note(Planned(key, str(RecordAction.WAITING), reason))

    def link(self, key: str, target_key: str, mapped_hash: str, written_values: dict | None = None) -> None:
        """Kept for the page only: a key met again is updated, not created twice."""
        self.links[key] = RecordLink(
            table=self.table, source_key=key, target_key=str(target_key), mapped_hash=mapped_hash, written_values={}
        )

    def conflict(self, key: str, target_key: str, conflict) -> None:
        self.conflicts.setdefault(key, []).append(conflict.field)

    def call(self, connection_id, record) -> None:
        self.calls += 1


class DryWriter(TargetWriter):
    """The writer's decisions, with a create or an update noted (and its body kept) instead of sent."""

    def send_create(self, create: Create) -> None:
        self.log.link(create.key, "", create.digest)
        self.log.note(Planned(create.key, WOULD_CREATE, body=enveloped(self.table.write_body, create.body, None)))

    def send_update(self, update: Update) -> None:
        self.log.link(update.key, update.target_key, update.digest)
        message = update.note or ""
        if update.overwritten:
            message = stored.join(
                *([message] if message else []),
                stored.gettext(
                    "Would overwrite %(fields)s, changed in the target since the portal last wrote it.",
                    fields=", ".join(conflict.field for conflict in update.overwritten),
                ),
            )
        body = enveloped(self.table.write_body, update.body, update.target_key)
        self.log.note(Planned(update.key, WOULD_UPDATE, message, update.target_key, body=body))
