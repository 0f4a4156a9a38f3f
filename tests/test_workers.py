"""Real ``qcluster`` processes against the demo ERP and CRM served by the portal.

1. Two clusters, twenty integrations due at once: every integration runs exactly
   once, never twice at the same time, and the CRM gets each record once.
2. A worker killed with SIGKILL in the middle of a sync: the reaper marks the run
   abandoned, the next run resumes and finishes, and the CRM holds exactly the
   expected records (nothing missing, no duplicates).

Each test has a portal of its own: its own SQLite file and the ORM broker, or,
under ``.ci/with-services``, its own PostgreSQL database and Redis namespace
(see ``cluster_harness``). On Redis a killed worker's task is simply gone; on
the ORM broker it would come back only after ``retry`` (an hour), so in both
cases it is the portal's reaper that frees the integration. Figures the project
reports are printed (``pytest -s`` shows them).
"""

import itertools
import statistics
import time
from datetime import datetime

import pytest

from .cluster_harness import Portal
from .processes import settled, wait_until

pytestmark = pytest.mark.slow  # starts processes: `make test-fast` leaves it out

# The demo seeds 40 ERP customers and 80 contacts; contact j belongs to customer (j - 1) mod 40 + 1,
# so customers C000001…C000020 have two contacts each, and ListContacts filters by customer_code.
INTEGRATIONS = 20
DUE_DELAY_BOUND = 90  # seconds; the scheduler wakes every ~30 s (the target is ≤ 40 s)
SCHEDULER_PERIOD = 30

COMMON = """
import copy
from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from monitoring.choices import RunStatus, Trigger
from monitoring.models import IntegrationState, SyncRun, TableRun
from sync.choices import ScheduleKind
from sync.models import Connection, Integration, RecordLink, SyncTable
from demo.choices import SandboxSystem
from demo.integration import DEMO_NAME, TABLES, configure_table
from demo.invoice_files import FILES_NAME
from demo.models import CrmContact, ErpContact, SandboxKnobs
from sync.slots import MAINTENANCE_NAME, schedule_name

CONTACT_TABLE = next(table for table in TABLES if table["name"] == "Contact")
# Alone in an integration, people have no Company table to find their company through.
CONTACT_TABLE = {**CONTACT_TABLE, "mappings": [m for m in CONTACT_TABLE["mappings"] if m.get("transform") != "lookup"]}


def set_due(ids, moment):
    # The slot due of these integrations (their state) and their django-q2 wake-up, at ``moment``.
    IntegrationState.objects.filter(pk__in=ids).update(next_run_at=moment)
    return Schedule.objects.filter(name__in=[schedule_name(pk) for pk in ids]).update(next_run=moment)


def new_integration(name, demo, **fields):
    return Integration.objects.create(
        name=name,
        integration_type=demo.integration_type,
        erp_name="Demo ERP",
        crm_name="Demo CRM",
        erp_connection=demo.erp_connection,
        crm_connection=demo.crm_connection,
        active=True,
        **fields,
    )


def switch_off_the_demo():
    # The demo's integrations are due at once; the main one would write the same contacts to the CRM.
    for integration in Integration.objects.filter(name__in=[DEMO_NAME, FILES_NAME]):
        integration.active = False
        integration.save()
    return Integration.objects.get(name=DEMO_NAME)


def crm_emails():
    return [email.lower() for email in CrmContact.objects.values_list("email", flat=True)]
"""

# --- 1. two clusters, twenty integrations due at once ----------------------------------------

TWENTY_SETUP = (
    COMMON
    + """
demo = switch_off_the_demo()
SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(latency_ms=PARAMS["crm_latency_ms"])
expected = {}
for n in range(1, PARAMS["count"] + 1):
    code = f"C{n:06d}"
    integration = new_integration(
        f"Contacts of {code}", demo, schedule_kind=ScheduleKind.INTERVAL, schedule_interval_minutes=60
    )
    spec = copy.deepcopy(CONTACT_TABLE)
    spec["read_arguments"] = {**spec["read_arguments"], "customer_code": code}
    configure_table(integration, 1, spec)
    expected[integration.pk] = sorted(
        email.lower() for email in ErpContact.objects.filter(customer__code=code).values_list("email", flat=True)
    )
# An interval schedule is first due at once; hold them until the clusters are up.
held = set_due(list(expected), timezone.now() + timedelta(hours=1))
result({
    "expected": expected,
    "held": held,
    "integration_schedules": Schedule.objects.filter(func="sync.tasks.run_scheduled").count(),
    "crm_contacts": CrmContact.objects.count(),
    "already_in_crm": CrmContact.objects.filter(
        email__in=[email for emails in expected.values() for email in emails]
    ).count(),
})
"""
)

MAKE_DUE = (
    COMMON
    + """
now = timezone.now()
due = set_due(PARAMS["ids"], now)
result({"due": now.isoformat(), "updated": due})
"""
)

TWENTY_RESULTS = (
    COMMON
    + """
from collections import Counter
from django_q.models import Task

ids = PARAMS["ids"]
runs = [
    {
        "id": run.pk,
        "integration": run.integration_id,
        "trigger": run.trigger,
        "status": run.status,
        "queued": run.queued_at.isoformat(),
        "started": run.started_at and run.started_at.isoformat(),
        "finished": run.finished_at and run.finished_at.isoformat(),
        "error": run.error,
    }
    for run in SyncRun.objects.filter(integration_id__in=ids).order_by("pk")
]
tasks = Counter(task.args[0] for task in Task.objects.filter(func="sync.tasks.run_scheduled"))
created = {
    table_run.run.integration_id: table_run.created
    for table_run in TableRun.objects.filter(run__integration_id__in=ids).select_related("run")
}
links = Counter(RecordLink.objects.filter(table__integration_id__in=ids).values_list("target_key", flat=True))
result({
    "runs": runs,
    "tasks": tasks,
    "created": created,
    "crm": Counter(crm_emails()),
    "crm_contacts": CrmContact.objects.count(),
    "links": len(links),
    "linked_twice": [key for key, count in links.items() if count > 1],
    "next_runs": [state.next_run_at.isoformat() for state in IntegrationState.objects.filter(pk__in=ids)],
})
"""
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_two_clusters_run_twenty_due_integrations_exactly_once_each(tmp_path):
    with Portal(tmp_path, Q_WORKERS=2) as portal:
        portal.serve()
        setup = portal.script(TWENTY_SETUP, count=INTEGRATIONS, crm_latency_ms=50)
        expected = {int(pk): emails for pk, emails in setup["expected"].items()}
        ids = sorted(expected)
        assert len(ids) == INTEGRATIONS and setup["held"] == INTEGRATIONS
        assert setup["integration_schedules"] == INTEGRATIONS, "only our twenty integrations are scheduled"
        assert all(len(emails) == 2 for emails in expected.values())
        assert setup["already_in_crm"] == 0

        # Two clusters started together, so their schedulers wake at about the same moments.
        portal.start("cluster-a", "qcluster")
        portal.start("cluster-b", "qcluster")
        for name in ("cluster-a", "cluster-b"):
            wait_until(lambda name=name: "running." in portal.log(name), timeout=60, message=f"{name} to start")
        due_run = portal.script(MAKE_DUE, ids=ids)
        assert due_run["updated"] == INTEGRATIONS
        due = at(due_run["due"])
        due_clock = time.monotonic()

        def all_finished():
            finished = portal.value(
                "SELECT COUNT(*) FROM monitoring_syncrun "
                "WHERE trigger = 'schedule' AND status NOT IN ('queued', 'running')"
            )
            return finished >= INTEGRATIONS

        wait_until(all_finished, timeout=DUE_DELAY_BOUND + 60, interval=0.2, message="twenty scheduled runs")
        # A slot fired twice would show up by the time every scheduler has looked again after the due time.
        wait_until(
            lambda: (
                time.monotonic() - due_clock > SCHEDULER_PERIOD + 5
                and portal.queued_tasks() == 0
                and portal.value("SELECT COUNT(*) FROM monitoring_syncrun WHERE status IN ('queued', 'running')") == 0
            ),
            timeout=SCHEDULER_PERIOD + 60,
            interval=0.2,
            message="both schedulers to have passed and the queue to be empty",
        )
        outcome = portal.script(TWENTY_RESULTS, ids=ids)
        logs = {name: portal.log(name) for name in ("cluster-a", "cluster-b")}

    runs = outcome["runs"]
    by_integration = {pk: [run for run in runs if run["integration"] == pk] for pk in ids}
    twice = {pk: integration_runs for pk, integration_runs in by_integration.items() if len(integration_runs) != 1}
    assert not twice, f"integrations that did not run exactly once: {twice}"
    assert all(run["trigger"] == "schedule" for run in runs)
    failed = [run for run in runs if run["status"] != "succeeded"]
    assert not failed, f"runs that did not succeed: {failed}"

    # Never twice at the same time (one run each, so this also holds for any skipped duplicate).
    for integration_runs in by_integration.values():
        spans = sorted((at(run["started"]), at(run["finished"])) for run in integration_runs if run["started"])
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))

    # Each schedule slot became exactly one django-q2 task, and every schedule moved to its next slot.
    assert {int(pk): count for pk, count in outcome["tasks"].items()} == dict.fromkeys(ids, 1)
    assert all(at(next_run) > due for next_run in outcome["next_runs"])
    fired = {pk: sum(log.count(f"from schedule [integration:{pk}]") for log in logs.values()) for pk in ids}
    assert fired == dict.fromkeys(ids, 1), fired
    processed = {name: log.count("Processed 'sync.tasks.run_scheduled'") for name, log in logs.items()}
    assert sum(processed.values()) == INTEGRATIONS
    assert all(count > 0 for count in processed.values()), f"both clusters should have run some: {processed}"

    # The CRM got each integration's two contacts once, and nothing else.
    crm = outcome["crm"]
    wanted = [email for emails in expected.values() for email in emails]
    assert {email: crm.get(email, 0) for email in wanted} == dict.fromkeys(wanted, 1)
    assert outcome["crm_contacts"] == setup["crm_contacts"] + len(wanted)
    assert {int(pk): count for pk, count in outcome["created"].items()} == dict.fromkeys(ids, 2)
    assert outcome["links"] == len(wanted) and not outcome["linked_twice"]

    delays = sorted((at(run["started"]) - due).total_seconds() for run in runs)
    last_finished = max(at(run["finished"]) for run in runs)
    print(
        f"\n[workers, {portal.backends}] {INTEGRATIONS} integrations due at once, 2 clusters × 2 workers: "
        f"runs started {statistics.median(delays):.1f} s (median) / {min(delays):.1f}–{max(delays):.1f} s "
        f"(range) after their due time; all finished {(last_finished - due).total_seconds():.1f} s after it; "
        f"tasks per cluster {processed}"
    )
    assert max(delays) <= DUE_DELAY_BOUND


# --- 2. a worker killed in the middle of a sync ----------------------------------------------

PAGE_SIZE = 10
CRM_LATENCY_MS = 100  # a find and a create per record: about a quarter of a second each
STALE_AFTER = 3

KILL_SETUP = (
    COMMON
    + """
demo = switch_off_the_demo()
Connection.objects.filter(pk=demo.erp_connection_id).update(page_size=PARAMS["page_size"])
SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(latency_ms=PARAMS["crm_latency_ms"])
# Housekeeping runs only when the test sends it.
Schedule.objects.filter(name=MAINTENANCE_NAME).update(next_run=timezone.now() + timedelta(hours=1))
integration = new_integration("All contacts", demo, schedule_kind=ScheduleKind.NONE)
table = configure_table(integration, 1, copy.deepcopy(CONTACT_TABLE))
expected = sorted(email.lower() for email in ErpContact.objects.values_list("email", flat=True))
result({
    "integration": integration.pk,
    "table": table.pk,
    "expected": expected,
    "crm_contacts": CrmContact.objects.count(),
    "already_in_crm": CrmContact.objects.filter(email__in=expected).count(),
})
"""
)

RUN_NOW = (
    COMMON
    + """
from sync.tasks import trigger

SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(latency_ms=PARAMS["crm_latency_ms"])
run = trigger(Integration.objects.get(pk=PARAMS["integration"]), Trigger.MANUAL)
result({"run": run.pk, "status": run.status, "task": run.task_id})
"""
)

REAP_WHEN_STALE = (
    COMMON
    + """
import time
from django.conf import settings
from django_q.tasks import async_task
from monitoring.reaper import stale_after

assert settings.RUN_HEARTBEAT_STALE_AFTER == PARAMS["stale"], settings.RUN_HEARTBEAT_STALE_AFTER
run = SyncRun.objects.get(pk=PARAMS["run"])
wait = (run.heartbeat_at + stale_after() - timezone.now()).total_seconds() + 0.1
time.sleep(max(0, wait))
# The minute-by-minute housekeeping, sent to the workers now instead of at its next slot.
result({"task": async_task("monitoring.tasks.maintenance"), "heartbeat": run.heartbeat_at.isoformat()})
"""
)

KILL_RESULTS = (
    COMMON
    + """
from collections import Counter
from django_q.models import Task

first, second = SyncRun.objects.get(pk=PARAMS["first"]), SyncRun.objects.get(pk=PARAMS["second"])
table_runs = {
    run.pk: [
        {"status": tr.status, "read": tr.read, "created": tr.created, "updated": tr.updated,
         "unchanged": tr.unchanged, "failed": tr.failed, "finished": bool(tr.finished_at)}
        for tr in TableRun.objects.filter(run=run)
    ]
    for run in (first, second)
}
wanted = set(PARAMS["expected"])
before_second = CrmContact.objects.filter(created_at__lt=second.started_at)
links = Counter(RecordLink.objects.filter(table_id=PARAMS["table"]).values_list("target_key", flat=True))
result({
    "first": {"status": first.status, "error": first.error, "finished": first.finished_at.isoformat()},
    "second": {"status": second.status, "error": second.error, "trigger": second.trigger},
    "table_runs": table_runs,
    "crm": Counter(crm_emails()),
    "crm_contacts": CrmContact.objects.count(),
    "created_by_first": sum(1 for email in before_second.values_list("email", flat=True) if email.lower() in wanted),
    "links": sum(links.values()),
    "linked_twice": [key for key, count in links.items() if count > 1],
    "resume_token": SyncTable.objects.get(pk=PARAMS["table"]).resume_token,
    "active_runs": SyncRun.objects.filter(status__in=["queued", "running"]).count(),
    "maintenance": [task.result for task in Task.objects.filter(func="monitoring.tasks.maintenance", success=True)],
})
"""
)


def test_a_worker_killed_mid_sync_is_reaped_and_the_next_run_completes_without_duplicates(tmp_path):
    with Portal(tmp_path, Q_WORKERS=1) as portal:
        portal.serve()
        setup = portal.script(KILL_SETUP, page_size=PAGE_SIZE, crm_latency_ms=CRM_LATENCY_MS)
        expected, table = setup["expected"], setup["table"]
        assert len(expected) == len(set(expected)) == 80
        assert setup["already_in_crm"] == 0
        crm_before = setup["crm_contacts"]

        def status(run_id):
            return portal.value("SELECT status FROM monitoring_syncrun WHERE id = ?", (run_id,))

        def written():
            """Contacts the sync created in the CRM, and the links it committed (page by page)."""
            crm = portal.value("SELECT COUNT(*) FROM sandbox_crmcontact") - crm_before
            links = portal.value("SELECT COUNT(*) FROM sync_recordlink WHERE table_id = ?", (table,))
            return crm, links

        portal.start_cluster("cluster-1")
        first = portal.script(RUN_NOW, integration=setup["integration"], crm_latency_ms=CRM_LATENCY_MS)["run"]

        def in_the_middle_of_a_page():
            crm, links = written()
            # At least one page committed, and a few records of the next one already in the CRM.
            return status(first) == "running" and links >= PAGE_SIZE and 4 <= crm - links <= PAGE_SIZE - 2

        wait_until(in_the_middle_of_a_page, timeout=90, interval=0.02, message="the sync to be mid-page")
        killed_at = portal.kill("cluster-1")
        # A request the worker had in flight may still be answered by the CRM after the kill.
        wait_until(settled(written), timeout=10, interval=0.5, message="the CRM to settle")
        crm_at_kill, links_at_kill = written()
        assert status(first) == "running", "the killed worker's run is still marked running"
        assert links_at_kill < crm_at_kill < len(expected), (crm_at_kill, links_at_kill)
        assert links_at_kill % PAGE_SIZE == 0

        portal.start_cluster("cluster-2", env={"RUN_HEARTBEAT_STALE_AFTER": STALE_AFTER})
        portal.script(REAP_WHEN_STALE, run=first, stale=STALE_AFTER, env={"RUN_HEARTBEAT_STALE_AFTER": STALE_AFTER})
        wait_until(lambda: status(first) == "abandoned", timeout=60, interval=0.1, message="the run to be abandoned")
        abandoned_after = time.monotonic() - killed_at
        assert portal.value("SELECT COUNT(*) FROM monitoring_syncrun WHERE status IN ('queued', 'running')") == 0

        second = portal.script(RUN_NOW, integration=setup["integration"], crm_latency_ms=0)["run"]
        assert second != first
        started = time.monotonic()
        wait_until(
            lambda: status(second) not in ("queued", "running"), timeout=120, interval=0.1, message="the next run"
        )
        resumed_in = time.monotonic() - started
        outcome = portal.script(KILL_RESULTS, first=first, second=second, table=table, expected=expected)

    assert outcome["first"]["status"] == "abandoned"
    assert "No heartbeat" in outcome["first"]["error"]
    assert outcome["second"]["status"] == "succeeded", outcome["second"]
    assert outcome["active_runs"] == 0
    # It was the housekeeping task, run by a worker of the new cluster, that marked it abandoned.
    assert [result["abandoned"] for result in outcome["maintenance"]] == [[first]]
    # The killed run's table run was closed by the next run.
    assert [table_run["status"] for table_run in outcome["table_runs"][str(first)]] == ["abandoned"]

    # The CRM holds every ERP contact exactly once: nothing missing, no duplicates, nothing else.
    crm = outcome["crm"]
    assert {email: crm.get(email, 0) for email in expected} == dict.fromkeys(expected, 1)
    assert outcome["crm_contacts"] == crm_before + len(expected)
    assert outcome["links"] == len(expected) and not outcome["linked_twice"]
    assert outcome["resume_token"] == ""

    # The next run resumed at the page the worker was on: the records already created there were
    # found by their key and updated, the rest created; committed pages were not read again.
    created_by_first = outcome["created_by_first"]
    assert created_by_first >= crm_at_kill
    (resumed,) = outcome["table_runs"][str(second)]
    assert resumed["read"] == len(expected) - links_at_kill
    assert resumed["updated"] == created_by_first - links_at_kill
    assert resumed["created"] == len(expected) - created_by_first
    assert resumed["failed"] == 0

    print(
        f"\n[workers, {portal.backends}] SIGKILL after {links_at_kill} committed + "
        f"{crm_at_kill - links_at_kill} uncommitted records; "
        f"abandoned {abandoned_after:.1f} s after the kill (stale limit {STALE_AFTER} s); "
        f"the next run resumed and finished in {resumed_in:.1f} s "
        f"(created {resumed['created']}, matched {resumed['updated']}); "
        f"CRM: {len(expected)} expected, {sum(crm.get(email, 0) for email in expected)} found, "
        f"{sum(1 for email in expected if crm.get(email, 0) > 1)} duplicated"
    )
