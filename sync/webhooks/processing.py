"""Webhook events processed: claimed by a *webhook* run and written through the same pipeline as polled records.

A run of trigger *webhook* claims the integration's waiting events (``received``, or ``processing`` under a
run that ended without settling them) by a conditional update — ``status = processing, run = <run>`` where
the status is still the one read — so two workers never process one event. Only the tables the events
route to run, each reading its records from the events (:class:`.reader.WebhookReader`): staging, rules,
typed mappings, lookups (a record whose parent is not synced waits), links (an unchanged record is
written once however often it comes), the review queue and the ledger are the polled records' own. A
webhook run moves no cursor, judges no deletes from records it did not see
(only delete events delete) and checks no source total.

When the run ends each claimed event is settled: *processed* with what its records became, *failed* with
the reason when it could not be read or the run failed, back to *received* when the run paused for a
quota (the run that resumes picks it up). An event no table takes is *ignored*, with the reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from core import stored_messages as stored
from monitoring.choices import (
    SUCCESS_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    RecordAction,
    RunStatus,
    Trigger,
    WebhookEventStatus,
    WebhookVerdict,
)
from monitoring.models import SyncRun, WebhookEvent

from ..choices import Direction
from ..engine import AlreadyRunning, ConnectorFactory, IntegrationSync, queue_run
from ..models import Integration, SyncTable, WebhookReceiver
from ..steps.deletes import apply_named_deletes
from .reader import WebhookReader
from .routing import Unreadable, integration_of, route, webhook_tables

EVENTS_PER_RUN = 500  # the rest wait for the run that the end of this one queues
# Outcomes of a record that reached its end in the target (its latency counts); waiting or failed ones did not.
WENT_THROUGH = (
    RecordAction.CREATED,
    RecordAction.UPDATED,
    RecordAction.UNCHANGED,
    RecordAction.SKIPPED,
    RecordAction.DELETED,
)

# Outcome words of an event's result, by record action.
OUTCOME_WORDS = {
    RecordAction.CREATED: lambda n: stored.ngettext("%(count)d created", "%(count)d created", n, count=n),
    RecordAction.UPDATED: lambda n: stored.ngettext("%(count)d updated", "%(count)d updated", n, count=n),
    RecordAction.UNCHANGED: lambda n: stored.ngettext("%(count)d unchanged", "%(count)d unchanged", n, count=n),
    RecordAction.SKIPPED: lambda n: stored.ngettext("%(count)d skipped", "%(count)d skipped", n, count=n),
    RecordAction.DELETED: lambda n: stored.ngettext("%(count)d deleted", "%(count)d deleted", n, count=n),
    RecordAction.HELD: lambda n: stored.ngettext(
        "%(count)d delete held for approval", "%(count)d deletes held for approval", n, count=n
    ),
    RecordAction.WAITING: lambda n: stored.ngettext(
        "%(count)d waiting for a referenced record", "%(count)d waiting for a referenced record", n, count=n
    ),
    RecordAction.FAILED: lambda n: stored.ngettext(
        "%(count)d failed (in the review queue)", "%(count)d failed (in the review queue)", n, count=n
    ),
}


def waiting_events():
    """Accepted events nothing is processing: received, or claimed by a run that ended without settling them."""
    stale = Q(status=WebhookEventStatus.PROCESSING) & (Q(run__isnull=True) | Q(run__status__in=TERMINAL_RUN_STATUSES))
    return WebhookEvent.objects.filter(Q(status=WebhookEventStatus.RECEIVED) | stale, verdict=WebhookVerdict.ACCEPTED)


def webhook_connections(integration: Integration) -> set[int]:
    """The connections whose webhooks the integration's active tables take."""
    tables = SyncTable.objects.filter(integration=integration, active=True).exclude(
        webhook_event_types="", webhook_delete_types=""
    )
    return {
        integration.erp_connection_id if direction == Direction.ERP_TO_CRM else integration.crm_connection_id
        for direction in tables.values_list("direction", flat=True)
    }


def pending(integration: Integration):
    """The integration's events waiting to be processed."""
    return waiting_events().filter(receiver__connection__in=webhook_connections(integration))


def close(event: WebhookEvent, status: WebhookEventStatus, result: str, *, was=WebhookEventStatus.RECEIVED) -> bool:
    """Settle an event nothing claimed (ignored, or failed before any run); False when it was not waiting."""
    now = timezone.now()
    return bool(
        WebhookEvent.objects.filter(pk=event.pk, status=was).update(status=status, result=result, processed_at=now)
    )


def unreadable_body() -> str:
    return stored.gettext("The body is not JSON: no record can be read from it.")


def untaken(event: WebhookEvent, types: list[str], integration: Integration | None) -> str:
    named = " ".join(dict.fromkeys(kind or "-" for kind in types))
    if integration is None:
        return stored.gettext(
            "No table takes webhooks from %(connection)s (event type: %(type)s).",
            connection=event.receiver.connection.name,
            type=named,
        )
    return stored.gettext(
        "No table of %(integration)s takes events of type %(type)s.", integration=integration.name, type=named
    )


def triage(event: WebhookEvent) -> Integration | None:
    """The integration that processes ``event``; None when it was settled here (no table takes it, no JSON)."""
    integration = integration_of(event.receiver)
    tables = webhook_tables(integration, event.receiver) if integration is not None else []
    try:
        routed = route(event.receiver, event.body, tables)
    except Unreadable:
        close(event, WebhookEventStatus.FAILED, unreadable_body())
        return None
    if routed.untaken:
        close(event, WebhookEventStatus.IGNORED, untaken(event, routed.types, integration))
        return None
    return integration


def process_event(event_id: int, connectors: ConnectorFactory | None = None) -> tuple[str, SyncRun | None]:
    """A received event: ignored when no table takes it, else processed by a webhook run of its integration.

    While the integration has an active run the event stays *received*: that run's end picks it up.
    Returns what became of it in a word, and the webhook run when one ran.
    """
    event = WebhookEvent.objects.select_related("receiver__connection").filter(pk=event_id).first()
    if event is None or event.status != WebhookEventStatus.RECEIVED:
        return "not waiting", None
    integration = triage(event)
    if integration is None:
        return "settled", None
    run = run_webhooks(integration, connectors)
    return (run.status, run) if run is not None else ("left for the active run", None)


def run_webhooks(integration: Integration, connectors: ConnectorFactory | None = None) -> SyncRun | None:
    """Queue and carry out a webhook run for the integration's waiting events; None when none wait or it is busy."""
    if not pending(integration).exists():
        return None
    try:
        run = queue_run(integration, Trigger.WEBHOOK)
    except AlreadyRunning:
        return None
    intake = WebhookIntake.claim(run, integration)
    run.start()
    if not intake.tables:
        run.finish(RunStatus.SKIPPED, stored.gettext("No webhook event was left to process."))
        return run
    try:
        IntegrationSync(run, connectors=connectors, webhooks=intake).execute()
    finally:
        intake.settle(run)
    return run


class WebhookIntake:
    """The events one webhook run claimed, by table, and what each one's records became."""

    def __init__(self, run: SyncRun, integration: Integration):
        self.run = run
        self.integration = integration
        self.events: list[WebhookEvent] = []
        self.by_table: dict[int, list[tuple[WebhookEvent, list]]] = {}
        self.tables: list[SyncTable] = []
        self.readers: dict[int, WebhookReader] = {}
        self.outcomes: dict[int, Counter] = {}
        self.written: dict[int, datetime] = {}  # event pk -> when its records last went through to the target
        self.problems: dict[int, list[str]] = {}

    @classmethod
    def claim(cls, run: SyncRun, integration: Integration) -> WebhookIntake:
        """Claim the integration's waiting events (oldest first, at most ``EVENTS_PER_RUN``) and route them."""
        intake = cls(run, integration)
        waiting = pending(integration).order_by("received_at", "pk").values_list("pk", "status", "run_id")
        for pk, status, run_id in waiting[:EVENTS_PER_RUN]:
            WebhookEvent.objects.filter(pk=pk, status=status, run_id=run_id).update(
                status=WebhookEventStatus.PROCESSING, run=run, result="", processed_at=None, written_at=None
            )
        claimed = WebhookEvent.objects.filter(run=run, status=WebhookEventStatus.PROCESSING)
        intake.route(list(claimed.select_related("receiver__connection").order_by("received_at", "pk")))
        return intake

    def route(self, events: list[WebhookEvent]) -> None:
        tables: dict[int, list[SyncTable]] = {}
        for event in events:
            receiver: WebhookReceiver = event.receiver
            if receiver.pk not in tables:
                tables[receiver.pk] = webhook_tables(self.integration, receiver)
            try:
                routed = route(receiver, event.body, tables[receiver.pk])
            except Unreadable:
                event.settle(WebhookEventStatus.FAILED, unreadable_body())
                continue
            if routed.untaken:
                event.settle(WebhookEventStatus.IGNORED, untaken(event, routed.types, self.integration))
                continue
            self.events.append(event)
            self.outcomes[event.pk] = Counter()
            for table_pk, items in routed.items.items():
                self.by_table.setdefault(table_pk, []).append((event, items))
        every = {table.pk: table for group in tables.values() for table in group}
        self.tables = sorted((every[pk] for pk in self.by_table), key=lambda table: (table.order, table.pk))

    # ------------------------------------------------------------ what the engine asks

    def reader(self, table: SyncTable, source, page_log) -> WebhookReader:
        reader = WebhookReader(table, self.by_table[table.pk], source, page_log, self.unreadable)
        self.readers[table.pk] = reader
        return reader

    def delete_gone(self, table: SyncTable, target, page_log) -> None:
        """The records the page's delete events said were deleted in the source: the table's delete policy applies."""
        apply_named_deletes(table, self.readers[table.pk].gone, target, page_log)

    def loaded(self, table: SyncTable, page_log) -> None:
        """The page of the table's events was loaded: each outcome counts on the event that brought its record."""
        now = timezone.now()
        outcomes = [(event.record_key, event.action) for event in page_log.events]
        for event, action in self.readers[table.pk].attribute(outcomes):
            self.outcomes[event.pk][action] += 1
            if action in WENT_THROUGH:
                self.written[event.pk] = now

    def unreadable(self, event: WebhookEvent, reason: str) -> None:
        self.problems.setdefault(event.pk, []).append(reason)

    # ------------------------------------------------------------ the end of the run

    def settle(self, run: SyncRun) -> None:
        """Each claimed event's end, from the run's: processed or failed; back to received after a pause."""
        if run.status == RunStatus.ABANDONED or not run.is_terminal:
            return  # reaped: the events stay claimed by a finished run, and the next run takes them again
        for event in self.events:
            event.settle(*self.verdict(event, run), written_at=self.written.get(event.pk))

    def verdict(self, event: WebhookEvent, run: SyncRun) -> tuple[WebhookEventStatus, str]:
        if run.status == RunStatus.PAUSED:
            return WebhookEventStatus.RECEIVED, ""
        if run.status not in SUCCESS_RUN_STATUSES:
            return WebhookEventStatus.FAILED, stored.gettext("The run failed: %(error)s", error=run.error)
        made = outcome_words(self.outcomes[event.pk])
        problems = self.problems.get(event.pk)
        if problems:
            return WebhookEventStatus.FAILED, stored.join(*problems, made)
        return WebhookEventStatus.PROCESSED, made


def outcome_words(outcomes: Counter) -> str:
    """``2 records: 1 created, 1 unchanged``."""
    total = sum(outcomes.values())
    if not total:
        return stored.gettext("No record to write.")
    parts = [words(outcomes[action]) for action, words in OUTCOME_WORDS.items() if outcomes[action]]
    return stored.ngettext(
        "%(count)d record: %(outcomes)s",
        "%(count)d records: %(outcomes)s",
        total,
        count=total,
        outcomes=stored.join(*parts, separator=", "),
    )


def reopen(events) -> tuple[int, set[int]]:
    """IT's "process again": accepted events that ended go back to *received*.

    Returns how many did, and the integrations (pks) whose webhook runs are to process them; an event no
    table takes now is ignored again at once, with the reason.
    """
    from_statuses = (WebhookEventStatus.PROCESSED, WebhookEventStatus.FAILED, WebhookEventStatus.IGNORED)
    integrations, count = set(), 0
    for event in events.filter(verdict=WebhookVerdict.ACCEPTED, status__in=from_statuses).select_related(
        "receiver__connection"
    ):
        again = WebhookEvent.objects.filter(pk=event.pk, status=event.status)
        if not again.update(
            status=WebhookEventStatus.RECEIVED, run=None, result="", processed_at=None, written_at=None
        ):
            continue
        count += 1
        event.status = WebhookEventStatus.RECEIVED
        integration = triage(event)
        if integration is not None:
            integrations.add(integration.pk)
    return count, integrations


def stranded(now, older_than) -> set[int]:
    """Integrations with events waiting since before ``now - older_than`` and no active run (a safety net)."""
    waiting = waiting_events().filter(received_at__lt=now - older_than)
    connections = set(waiting.values_list("receiver__connection", flat=True).distinct())
    busy = SyncRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).values("integration")
    candidates = Integration.objects.filter(Q(erp_connection__in=connections) | Q(crm_connection__in=connections))
    return {
        integration.pk
        for integration in candidates.exclude(pk__in=busy)
        if webhook_connections(integration) & connections
    }
