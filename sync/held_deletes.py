"""Deciding on held deletes: approve (apply the delete in the target) or reject (keep the record).

A run holds the deletes of a table that exceed its threshold instead of applying them.
IT then approves them, and each approved delete goes through the table's target
connector (``connector.delete(table.update_object or table.target_object, target_key)``);
only once the target confirms are the record's link and staged payload removed and the
held delete marked approved. A connector error leaves it pending, with the error's words
in the outcome; an error that is not about this one record (the target is down, the
credentials are refused) stops the batch. A rejected delete keeps its link.

No database transaction is held open while the target is called; each decision is
claimed with a conditional update, so two people deciding at once cannot both win.
Every call made is kept as a ``RequestLog`` of the table (without a run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.alerts import resolve_alert
from monitoring.choices import AlertKind, HeldDeleteStatus
from monitoring.models import HeldDelete, RequestLog
from monitoring.recorder import request_log

from .choices import Direction
from .connectors.base import CallRecord, Connector, ConnectorError
from .engine import connector_for_connection
from .models import RecordLink, StagedRecord, SyncTable

ConnectorFactory = Callable[..., Connector]


@dataclass
class Decisions:
    """What became of a batch of held deletes."""

    approved: list[HeldDelete] = field(default_factory=list)
    rejected: list[HeldDelete] = field(default_factory=list)
    failed: list[tuple[HeldDelete, str]] = field(default_factory=list)  # still pending, with the reason
    already_decided: int = 0  # decided by someone else in the meantime


def approve(
    held_deletes: Iterable[HeldDelete], user, *, now=None, connectors: ConnectorFactory | None = None
) -> Decisions:
    """Apply the pending ones of ``held_deletes`` in their target systems, table by table."""
    make_connector = connectors or connector_for_connection
    now = now or timezone.now()
    decisions = Decisions()
    for table, batch in _pending_by_table(held_deletes, decisions).items():
        _approve_table(table, batch, user, now, make_connector, decisions)
    return decisions


def reject(held_deletes: Iterable[HeldDelete], user, *, now=None) -> Decisions:
    """Mark the pending ones of ``held_deletes`` rejected: nothing is deleted, the links stay."""
    now = now or timezone.now()
    decisions = Decisions()
    for table, batch in _pending_by_table(held_deletes, decisions).items():
        for held in batch:
            if _decide(held, HeldDeleteStatus.REJECTED, user, now):
                decisions.rejected.append(held)
            else:
                decisions.already_decided += 1
        _resolve_alert_when_released(table, now)
    return decisions


# ---------------------------------------------------------------- steps


def _pending_by_table(held_deletes, decisions: Decisions) -> dict[SyncTable, list[HeldDelete]]:
    wanted = {held.pk for held in held_deletes}
    pending = list(
        HeldDelete.objects.filter(pk__in=wanted, status=HeldDeleteStatus.PENDING)
        .select_related("table__integration__erp_connection", "table__integration__crm_connection")
        .order_by("table__order", "table_id", "held_at", "pk")
    )
    decisions.already_decided += len(wanted) - len(pending)
    by_table: dict[SyncTable, list[HeldDelete]] = defaultdict(list)
    for held in pending:
        by_table[held.table].append(held)
    return by_table


def target_connection(table: SyncTable):
    """The connection a table writes to (and so deletes from)."""
    integration = table.integration
    return integration.crm_connection if table.direction == Direction.ERP_TO_CRM else integration.erp_connection


def _approve_table(table, batch, user, now, make_connector, decisions: Decisions) -> None:
    connection = target_connection(table)
    calls: list[CallRecord] = []
    back_in_source = _received_since_held(table, batch)
    target_object = table.update_object or table.target_object
    remaining = list(batch)
    try:
        with make_connector(connection, calls.append) as connector:
            while remaining:
                held = remaining.pop(0)
                if held.pk in back_in_source:
                    decisions.failed.append((held, back_in_source[held.pk]))
                    continue
                try:
                    connector.delete(target_object, held.target_key)
                except ConnectorError as exc:
                    if not exc.record_level:
                        remaining.insert(0, held)
                        raise
                    decisions.failed.append((held, exc.message))
                    continue
                if _decide(held, HeldDeleteStatus.APPROVED, user, now, unlink=True):
                    decisions.approved.append(held)
                else:
                    decisions.already_decided += 1
    except ConnectorError as exc:
        # The target is unreachable or refuses us: the rest would fail the same way.
        decisions.failed.extend((held, exc.message) for held in remaining)
    finally:
        _keep_calls(table, connection, calls)
    _resolve_alert_when_released(table, now)


def _received_since_held(table, batch) -> dict[int, str]:
    """Held deletes whose record came back to the source after being held: deleting it would lose it."""
    received = dict(
        StagedRecord.objects.filter(table=table, source_key__in=[held.source_key for held in batch]).values_list(
            "source_key", "received_at"
        )
    )
    return {
        held.pk: _("The record is back in the source since its delete was held; reject this delete instead.")
        for held in batch
        if received.get(held.source_key) is not None and received[held.source_key] > held.held_at
    }


def _decide(held: HeldDelete, status, user, now, *, unlink=False) -> bool:
    """Claim the decision (only a pending delete can be decided) and, for an approval, forget the record."""
    with transaction.atomic():
        claimed = HeldDelete.objects.filter(pk=held.pk, status=HeldDeleteStatus.PENDING).change(
            status=status, decided_by=user, decided_at=now
        )
        if not claimed:
            return False
        if unlink:
            RecordLink.objects.filter(table_id=held.table_id, source_key=held.source_key).delete()
            StagedRecord.objects.filter(table_id=held.table_id, source_key=held.source_key).delete()
    held.status, held.decided_by, held.decided_at = status, user, now
    return True


def _keep_calls(table, connection, calls: list[CallRecord]) -> None:
    RequestLog.objects.bulk_create(
        [request_log(call, table=table, connection_id=connection.pk if connection else None) for call in calls]
    )


def _resolve_alert_when_released(table, now) -> None:
    if not HeldDelete.objects.filter(table=table, status=HeldDeleteStatus.PENDING).exists():
        resolve_alert(table.integration, AlertKind.DELETES_HELD, table=table, now=now)
