"""Three ``qcluster`` processes on the Redis broker against PostgreSQL, as with several worker hosts.

1. Fifty integrations scheduled every minute, each syncing the contacts of its own
   demo ERP customer to the demo CRM, for three slots: every slot of every
   integration runs exactly once (one run, succeeded), no integration ever has two
   runs at the same time, and the CRM gets each contact once.
2. Then one cluster is killed with SIGKILL while it is in the middle of a sync.
   Redis does not give the task back, so it is the portal's own records that must
   notice: the every-minute housekeeping marks the run abandoned, the integration's
   next slot runs it again from the last committed page, and the CRM ends with
   exactly the expected contacts.

Every scheduled run records its slot (``SyncRun.scheduled_for``, the time django-q2's
scheduler intended); runs are matched to slots by it.

Only under ``.ci/with-services`` (PostgreSQL and Redis); figures are printed
(``pytest -s`` shows them).
"""

import itertools
import os
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest

from .cluster_harness import Portal, uses_postgresql
from .processes import settled, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (uses_postgresql(os.environ.get("DATABASE_URL")) and os.environ.get("REDIS_URL")),
        reason="needs PostgreSQL (DATABASE_URL=postgres://…) and Redis (REDIS_URL): run it under .ci/with-services",
    ),
]

CLUSTERS = ("cluster-1", "cluster-2", "cluster-3")
INTEGRATIONS = 50
SLOTS = 3
SLOT = timedelta(minutes=1)
# The demo ERP reseeded with 51 customers and 3 contacts each (contact j belongs to customer (j - 1) mod 51 + 1):
# customers C000001…C000050 feed the fifty integrations; C000051, given more contacts, feeds the one killed mid-sync.
CUSTOMERS = 51
CONTACTS_PER_CUSTOMER = 3
BIG_CUSTOMER = "C000051"
BIG_EXTRA_CONTACTS = 27
PAGE_SIZE = 5
CRM_LATENCY_MS = 200  # a find and a create per record: about half a second each, a page in ~2.5 s
STALE_AFTER = 20  # seconds without a heartbeat; a page beats well within it
LOST_AFTER = 30
SCHEDULER_PERIOD = 30  # a cluster's scheduler wakes every ~30 s
HOUSEKEEPING_PERIOD = 60  # the maintenance schedule (reaper and alerts) runs every minute

COMMON = """
import copy
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from monitoring.models import IntegrationState, SyncRun, TableRun
from sync.choices import ScheduleKind
from sync.models import Connection, Integration, RecordLink
from demo.choices import SandboxSystem
from demo.integration import DEMO_NAME, TABLES, configure_table
from demo.invoice_files import FILES_NAME
from demo.models import CrmContact, ErpContact, ErpCustomer, SandboxKnobs
from sync.slots import schedule_name

CONTACT_TABLE = next(table for table in TABLES if table["name"] == "Contact")
# Alone in an integration, people have no Company table to find their company through.
CONTACT_TABLE = {**CONTACT_TABLE, "mappings": [m for m in CONTACT_TABLE["mappings"] if m.get("transform") != "lookup"]}


def set_due(ids, moment):
    # The slot due of these integrations (their state) and their django-q2 wake-up, at ``moment``.
    IntegrationState.objects.filter(pk__in=ids).update(next_run_at=moment)
    return Schedule.objects.filter(name__in=[schedule_name(pk) for pk in ids]).update(next_run=moment)


def contacts_integration(name, demo, customer_code):
    integration = Integration.objects.create(
        name=name,
        integration_type=demo.integration_type,
        erp_name="Demo ERP",
        crm_name="Demo CRM",
        erp_connection=demo.erp_connection,
        crm_connection=demo.crm_connection,
        active=True,
        schedule_kind=ScheduleKind.INTERVAL,
        schedule_interval_minutes=1,
    )
    spec = copy.deepcopy(CONTACT_TABLE)
    spec["read_arguments"] = {**spec["read_arguments"], "customer_code": customer_code}
    table = configure_table(integration, 1, spec)
    emails = ErpContact.objects.filter(customer__code=customer_code).values_list("email", flat=True)
    expected = sorted(email.lower() for email in emails)
    return integration, table, expected


def runs_of(ids):
    return [
        {
            "id": run.pk,
            "integration": run.integration_id,
            "trigger": run.trigger,
            "scheduled_for": run.scheduled_for and run.scheduled_for.isoformat(),
            "status": run.status,
            "queued": run.queued_at.isoformat(),
            "started": run.started_at and run.started_at.isoformat(),
            "finished": run.finished_at and run.finished_at.isoformat(),
            "error": run.error,
        }
        for run in SyncRun.objects.filter(integration_id__in=ids).order_by("pk")
    ]


def crm_emails():
    return [email.lower() for email in CrmContact.objects.values_list("email", flat=True)]
"""

# --- 1. fifty integrations, every minute ------------------------------------------------------

FIFTY_SETUP = (
    COMMON
    + """
for demo in Integration.objects.filter(name__in=[DEMO_NAME, FILES_NAME]):
    demo.active = False  # the main one would write contacts too
    demo.save()
demo = Integration.objects.get(name=DEMO_NAME)
SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(latency_ms=0)
expected = {}
with transaction.atomic():
    for n in range(1, PARAMS["count"] + 1):
        code = f"C{n:06d}"
        integration, _table, emails = contacts_integration(f"Contacts of {code}", demo, code)
        expected[integration.pk] = emails
    # Held until the three clusters are up; the test then sets the first slot.
    held = set_due(list(expected), timezone.now() + timedelta(hours=1))
schedules = Schedule.objects.filter(name__in=[schedule_name(pk) for pk in expected])
result({
    "expected": expected,
    "held": held,
    "every_minute": schedules.filter(schedule_type=Schedule.MINUTES, minutes=1, repeats=-1).count(),
    "integration_schedules": Schedule.objects.filter(func="sync.tasks.run_scheduled").count(),
    "crm_contacts": CrmContact.objects.count(),
    "already_in_crm": CrmContact.objects.filter(
        email__in=[email for emails in expected.values() for email in emails]
    ).count(),
})
"""
)

FIRST_SLOT = (
    COMMON
    + """
first = timezone.now().replace(microsecond=0) + timedelta(seconds=2)
updated = set_due(PARAMS["ids"], first)
result({"first": first.isoformat(), "updated": updated})
"""
)

# Ends the window: every integration must still wait for the slot after the window (none ran early or late).
END_WINDOW = (
    COMMON
    + """
with transaction.atomic():
    states = list(IntegrationState.objects.select_for_update().filter(pk__in=PARAMS["ids"]))
    now = timezone.now()
    waiting_for = sorted({state.next_run_at.isoformat() for state in states})
    set_due(PARAMS["ids"], now + timedelta(days=1))
result({"at": now.isoformat(), "waiting_for": waiting_for, "schedules": len(states)})
"""
)

FIFTY_RESULTS = (
    COMMON
    + """
from collections import Counter

ids = PARAMS["ids"]
links = Counter(RecordLink.objects.filter(table__integration_id__in=ids).values_list("target_key", flat=True))
result({
    "runs": runs_of(ids),
    "crm": Counter(crm_emails()),
    "crm_contacts": CrmContact.objects.count(),
    "links": len(links),
    "linked_twice": [key for key, count in links.items() if count > 1],
})
"""
)

# --- 2. one cluster killed mid-sync ----------------------------------------------------------

BIG_SETUP = (
    COMMON
    + """
demo = Integration.objects.get(name=DEMO_NAME)
Connection.objects.filter(pk=demo.erp_connection_id).update(page_size=PARAMS["page_size"])
SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(latency_ms=PARAMS["crm_latency_ms"])
customer = ErpCustomer.objects.get(code=PARAMS["customer"])
domain = customer.email.partition("@")[2]
ErpContact.objects.bulk_create(
    ErpContact(customer=customer, name=f"Pessoa de Teste {n:02d}", email=f"pessoa.teste{n:02d}@{domain}")
    for n in range(1, PARAMS["extra"] + 1)
)
with transaction.atomic():
    integration, table, expected = contacts_integration(f"Contacts of {customer.code}", demo, customer.code)
    # Due at the next scheduler wake, then every minute.
    set_due([integration.pk], timezone.now())
result({
    "integration": integration.pk,
    "table": table.pk,
    "expected": expected,
    "crm_contacts": CrmContact.objects.count(),
    "already_in_crm": CrmContact.objects.filter(email__in=expected).count(),
})
"""
)

BIG_RESULTS = (
    COMMON
    + """
from collections import Counter
from django_q.models import Task

table_runs = {
    table_run.run_id: {
        "status": table_run.status, "read": table_run.read, "created": table_run.created,
        "updated": table_run.updated, "unchanged": table_run.unchanged, "failed": table_run.failed,
    }
    for table_run in TableRun.objects.filter(table_id=PARAMS["table"])
}
links = Counter(RecordLink.objects.filter(table_id=PARAMS["table"]).values_list("target_key", flat=True))
result({
    "runs": runs_of([PARAMS["integration"]]),
    "other_runs_since": SyncRun.objects.exclude(integration_id=PARAMS["integration"]).filter(
        queued_at__gt=PARAMS["since"]
    ).count(),
    "table_runs": table_runs,
    "crm": Counter(crm_emails()),
    "crm_contacts": CrmContact.objects.count(),
    "links": sum(links.values()),
    "linked_twice": [key for key, count in links.items() if count > 1],
    "abandoned_by_housekeeping": [
        pk
        for task in Task.objects.filter(func="monitoring.tasks.maintenance", success=True)
        for pk in task.result["abandoned"]
    ],
})
"""
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(moment.tzinfo)).total_seconds()


def overlapping(runs) -> list:
    """Pairs of runs of one integration whose [started, finished] spans overlap."""
    spans = sorted((at(run["started"]), at(run["finished"]), run["id"]) for run in runs if run["started"])
    return [(a[2], b[2]) for a, b in itertools.pairwise(spans) if a[1] > b[0]]


def test_three_clusters_on_redis_run_every_slot_once_and_recover_a_killed_sync(tmp_path):
    began = time.monotonic()
    environment = {"Q_WORKERS": 2, "RUN_HEARTBEAT_STALE_AFTER": STALE_AFTER, "QUEUED_RUN_LOST_AFTER": LOST_AFTER}
    with Portal(tmp_path, **environment) as portal:
        assert portal.backends == "PostgreSQL + Redis"
        portal.serve()
        contacts = CUSTOMERS * CONTACTS_PER_CUSTOMER
        portal.manage("sandbox_seed", "--reset", "--customers", str(CUSTOMERS), "--contacts", str(contacts))
        setup = portal.script(FIFTY_SETUP, count=INTEGRATIONS)
        expected = {int(pk): emails for pk, emails in setup["expected"].items()}
        ids = sorted(expected)
        assert len(ids) == INTEGRATIONS and setup["held"] == setup["every_minute"] == INTEGRATIONS
        assert setup["integration_schedules"] == INTEGRATIONS, "only our fifty integrations are scheduled"
        assert all(len(emails) == CONTACTS_PER_CUSTOMER for emails in expected.values())
        assert setup["already_in_crm"] == 0

        for name in CLUSTERS:
            portal.start(name, "qcluster")
        for name in CLUSTERS:
            wait_until(lambda name=name: "running." in portal.log(name), timeout=60, message=f"{name} to start")

        # --- three slots of fifty schedules
        first_slot = portal.script(FIRST_SLOT, ids=ids)
        assert first_slot["updated"] == INTEGRATIONS
        first = at(first_slot["first"])
        slots = [first + k * SLOT for k in range(SLOTS)]
        after_window = first + SLOTS * SLOT
        names = [f"integration:{pk}" for pk in ids]

        def waiting_for_the_slot_after_the_window():
            rows = portal.sql("SELECT integration_id, next_run_at FROM monitoring_integrationstate")
            return sorted(pk for pk, next_run_at in rows if next_run_at == after_window) == ids

        wait_until(
            waiting_for_the_slot_after_the_window,
            timeout=seconds_until(after_window) - 3,
            interval=0.5,
            message=f"all {SLOTS} slots to be fired by the schedulers",
        )
        window = portal.script(END_WINDOW, ids=ids)
        assert at(window["at"]) < after_window, "the window closed late; a fourth slot may have been due"
        assert window["schedules"] == INTEGRATIONS
        assert window["waiting_for"] == [after_window.isoformat()], window["waiting_for"]

        def active_runs():
            return portal.value("SELECT COUNT(*) FROM monitoring_syncrun WHERE status IN ('queued', 'running')")

        def processed():
            return {name: portal.log(name).count("Processed 'sync.tasks.run_scheduled'") for name in CLUSTERS}

        wait_until(
            lambda: (
                active_runs() == 0 and portal.queued_tasks() == 0 and sum(processed().values()) >= len(names) * SLOTS
            ),
            timeout=120,
            interval=0.5,
            message="the last slot's runs to finish",
        )
        fifty = portal.script(FIFTY_RESULTS, ids=ids)
        logs = {name: portal.log(name) for name in CLUSTERS}
        tasks_per_cluster = processed()

        # --- one cluster killed in the middle of a sync
        big = portal.script(
            BIG_SETUP,
            customer=BIG_CUSTOMER,
            extra=BIG_EXTRA_CONTACTS,
            page_size=PAGE_SIZE,
            crm_latency_ms=CRM_LATENCY_MS,
        )
        big_id, big_table, big_expected = big["integration"], big["table"], big["expected"]
        assert len(big_expected) == len(set(big_expected)) == CONTACTS_PER_CUSTOMER + BIG_EXTRA_CONTACTS
        assert big["already_in_crm"] == 0
        crm_before_big = big["crm_contacts"]

        def big_runs(*statuses):
            """Ids of the integration's runs in one of ``statuses``, oldest first."""
            rows = portal.sql(
                "SELECT id, status FROM monitoring_syncrun WHERE integration_id = ? ORDER BY id", (big_id,)
            )
            return [run_id for run_id, status in rows if status in statuses]

        def written():
            """Contacts the sync created in the CRM, and the links it committed (page by page)."""
            crm = portal.value("SELECT COUNT(*) FROM sandbox_crmcontact") - crm_before_big
            links = portal.value("SELECT COUNT(*) FROM sync_recordlink WHERE table_id = ?", (big_table,))
            return crm, links

        def in_the_middle_of_a_page():
            crm, links = written()
            # At least one page committed, and some records of the next one already in the CRM.
            return big_runs("running") and links >= PAGE_SIZE and 2 <= crm - links <= PAGE_SIZE - 2

        wait_until(
            in_the_middle_of_a_page, timeout=SCHEDULER_PERIOD + 60, interval=0.02, message="the sync to be mid-page"
        )
        (killed_run,) = big_runs("running")
        processing = f"'sync.tasks.run_scheduled' [integration:{big_id}]"
        (victim,) = [name for name in CLUSTERS if processing in portal.log(name)]
        killed_at = time.monotonic()
        portal.kill(victim)
        # A request the worker had in flight may still be answered by the CRM after the kill.
        wait_until(settled(written), timeout=10, interval=0.5, message="the CRM to settle")
        crm_at_kill, links_at_kill = written()
        assert big_runs("running") == [killed_run], "the killed worker's run is still marked running"
        assert links_at_kill < crm_at_kill < len(big_expected), (crm_at_kill, links_at_kill)

        wait_until(
            lambda: big_runs("abandoned") == [killed_run],
            timeout=STALE_AFTER + 2 * HOUSEKEEPING_PERIOD + SCHEDULER_PERIOD,
            interval=0.2,
            message="the housekeeping to mark the killed run abandoned",
        )
        abandoned_after = time.monotonic() - killed_at
        wait_until(
            lambda: big_runs("succeeded", "partial", "failed", "abandoned", "lost")[-1] != killed_run,
            timeout=SLOT.total_seconds() + SCHEDULER_PERIOD + 90,
            interval=0.2,
            message="the integration to run again and finish",
        )
        rerun_after = time.monotonic() - killed_at
        survivors = [name for name in CLUSTERS if name != victim and portal.processes[name][0].poll() is None]
        outcome = portal.script(BIG_RESULTS, integration=big_id, table=big_table, since=window["at"])
    wall = time.monotonic() - began

    # --- 1. every slot of every integration ran exactly once
    runs = fifty["runs"]
    slot_of = {}
    for run in runs:
        index = (at(run["scheduled_for"]) - first) // SLOT if run["scheduled_for"] else None
        slot_of[run["id"]] = index if index is not None and 0 <= index < SLOTS else None
    by_slot = Counter((run["integration"], slot_of[run["id"]]) for run in runs)
    ran_once = {
        (run["integration"], slot_of[run["id"]])
        for run in runs
        if run["status"] == "succeeded" and by_slot[(run["integration"], slot_of[run["id"]])] == 1
    }
    scheduled = {(pk, index) for pk in ids for index in range(SLOTS)}
    print(
        f"\n[many workers, {portal.backends}] {INTEGRATIONS} integrations every minute, {len(CLUSTERS)} clusters × 2 "
        f"workers, slots {slots[0]:%H:%M:%S}–{slots[-1]:%H:%M:%S}: "
        f"slots scheduled: {len(scheduled)}, slots run: {len(ran_once & scheduled)}"
    )
    # A slot whose wake-up came late may be claimed by the minute's housekeeping instead: still once, for that slot.
    assert all(run["trigger"] in ("schedule", "reaper") for run in runs)
    assert all(at(run["scheduled_for"]) == slots[slot_of[run["id"]]] for run in runs if slot_of[run["id"]] is not None)
    assert [run for run in runs if slot_of[run["id"]] is None] == [], "runs outside the window's slots"
    assert {key: count for key, count in by_slot.items() if count != 1} == {}, "slots run more than once"
    assert [run for run in runs if run["status"] != "succeeded"] == []
    assert ran_once == scheduled
    for pk in ids:
        assert overlapping([run for run in runs if run["integration"] == pk]) == []
    # Each slot became one django-q2 task, fired by one of the three schedulers (they share the schedules).
    fired = {pk: sum(log.count(f"from schedule [integration:{pk}]") for log in logs.values()) for pk in ids}
    assert fired == dict.fromkeys(ids, SLOTS)
    assert sum(tasks_per_cluster.values()) == INTEGRATIONS * SLOTS
    assert all(tasks_per_cluster.values()), f"every cluster should have run some: {tasks_per_cluster}"
    # The CRM got each integration's contacts once, and nothing else.
    crm = fifty["crm"]
    wanted = [email for emails in expected.values() for email in emails]
    assert {email: crm.get(email, 0) for email in wanted} == dict.fromkeys(wanted, 1)
    assert fifty["crm_contacts"] == setup["crm_contacts"] + len(wanted)
    assert fifty["links"] == len(wanted) and not fifty["linked_twice"]
    delays = sorted((at(run["queued"]) - slots[slot_of[run["id"]]]).total_seconds() for run in runs)

    # --- 2. the killed sync was reaped and run again to the end, without duplicates
    big_run_list = outcome["runs"]
    by_id = {run["id"]: run for run in big_run_list}
    killed = by_id[killed_run]
    later = [run for run in big_run_list if run["id"] > killed_run]
    rerun = next(run for run in later if run["status"] != "skipped")
    skipped = later[: later.index(rerun)]
    crm = outcome["crm"]
    found = sum(crm.get(email, 0) for email in big_expected)
    print(
        f"[many workers] SIGKILL of {victim} after {links_at_kill} committed + {crm_at_kill - links_at_kill} "
        f"uncommitted records; abandoned {abandoned_after:.1f} s after the kill (stale limit {STALE_AFTER} s), "
        f"run again by its {rerun['trigger']} and finished {rerun_after:.1f} s after the kill "
        f"({len(skipped)} slot(s) skipped before, while the killed run still counted as running); "
        f"records expected: {len(big_expected)}, found: {found}; test wall time {wall:.0f} s"
    )
    assert killed["status"] == "abandoned" and "No heartbeat" in killed["error"]
    # Abandoned by the minute's housekeeping, or on the spot by the next slot that found it dead.
    assert outcome["abandoned_by_housekeeping"] in ([killed_run], [])
    assert outcome["abandoned_by_housekeeping"] or rerun["trigger"] == "schedule"
    assert rerun["status"] == "succeeded", rerun
    assert rerun["trigger"] in ("schedule", "reaper")
    assert all("already queued or running" in run["error"] for run in skipped), skipped
    assert overlapping([run for run in big_run_list if run["status"] != "skipped"]) == []
    assert outcome["other_runs_since"] == 0, "the fifty stay held while the killed sync recovers"
    assert len(survivors) == len(CLUSTERS) - 1
    # The CRM holds each of the slice's contacts exactly once, and nothing else was added.
    assert {email: crm.get(email, 0) for email in big_expected} == dict.fromkeys(big_expected, 1)
    assert found == len(big_expected)
    assert outcome["crm_contacts"] == crm_before_big + len(big_expected)
    assert outcome["links"] == len(big_expected) and not outcome["linked_twice"]
    # The run that resumed read only the pages not committed before the kill, and wrote none twice.
    resumed = outcome["table_runs"][str(rerun["id"])]
    assert resumed["read"] == len(big_expected) - links_at_kill
    assert resumed["created"] + resumed["updated"] == resumed["read"] and resumed["failed"] == 0
    assert outcome["table_runs"][str(killed_run)]["status"] == "abandoned"
    print(
        f"[many workers] scheduled runs started {delays[len(delays) // 2]:.1f} s (median), "
        f"{delays[-1]:.1f} s (max) after their slot; tasks per cluster {tasks_per_cluster}"
    )
