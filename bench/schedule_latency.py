"""How late do scheduled runs start, and how soon after the max time without success does the alert open?

Run by hand: `.venv/bin/python bench/schedule_latency.py`. It makes a fresh data folder, starts one
real `qcluster` on the ORM broker, and measures with the portal's own records:

- schedule delay: SyncRun.queued_at of a scheduled run minus the slot it was due at (target ≤ 40 s);
- alert delay: Alert.opened_at minus the moment now - activation crossed the max time without
  success (target ≤ 90 s).

It takes about three minutes (the django-q2 scheduler wakes every 30 s, the alert check every minute).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETUP = """
from datetime import timedelta
from django.utils import timezone
from django_q.models import Schedule
from sync.models import Connection, Integration
from sync.slots import schedule_name

erp = Connection.objects.create(name="ERP", kind="rest", base_url="http://127.0.0.1:9/erp", timeout_seconds=1,
                                max_retries=0)
crm = Connection.objects.create(name="CRM", kind="rest", base_url="http://127.0.0.1:9/crm", timeout_seconds=1,
                                max_retries=0)
now = timezone.now()
results = {{}}
for number in range({count}):
    integration = Integration.objects.create(
        name=f"Scheduled {{number}}", integration_type="rest", erp_name="ERP", crm_name="CRM",
        erp_connection=erp, crm_connection=crm, schedule_kind="interval", schedule_interval_minutes=60,
    )
    due = now + timedelta(seconds=20 + 7 * number)
    Schedule.objects.filter(name=schedule_name(integration.pk)).update(next_run=due)
    results[integration.pk] = due.isoformat()
watched = Integration.objects.create(
    name="Watched", integration_type="rest", erp_name="ERP", crm_name="CRM", erp_connection=erp,
    crm_connection=crm, max_time_without_success=timedelta(seconds=90),
)
print(json.dumps({{"due": results, "watched": watched.pk,
                   "crossed": (watched.activated_at + watched.max_time_without_success).isoformat()}}))
"""

PROBE = """
from monitoring.models import Alert, SyncRun
runs = {{str(r.integration_id): r.queued_at.isoformat() for r in SyncRun.objects.filter(trigger="schedule")}}
alert = Alert.objects.filter(integration_id={watched}, kind="no_success").first()
print(json.dumps({{"runs": runs, "alert": alert.opened_at.isoformat() if alert else None}}))
"""


def manage(env, *args, capture=True):
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=capture, text=True, check=True
    )
    return result.stdout


def shell(env, code):
    out = manage(env, "shell", "-c", "import json\n" + code)
    return json.loads(out.strip().splitlines()[-1])


def seconds_between(later, earlier):
    from datetime import datetime

    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def stop(process):
    """SIGTERM the cluster's main process (it stops its workers); SIGKILL the group after 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=5, help="scheduled integrations (due 7 s apart)")
    parser.add_argument("--timeout", type=float, default=300)
    options = parser.parse_args()
    data = tempfile.mkdtemp(prefix="portal-bench-")
    env = {**os.environ, "DEBUG": "1", "PORTAL_DATA_DIR": data, "Q_WORKERS": "2", "LOG_LEVEL": "WARNING"}
    manage(env, "migrate", "--no-input", "-v0")
    plan = shell(env, SETUP.format(count=options.integrations))
    cluster = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            seen = shell(env, PROBE.format(watched=plan["watched"]))
            if len(seen["runs"]) >= len(plan["due"]) and seen["alert"]:
                break
            time.sleep(2)
        else:
            sys.exit(f"not everything happened within {options.timeout} s: {seen}")
    finally:
        stop(cluster)
    delays = sorted(seconds_between(seen["runs"][pk], due) for pk, due in plan["due"].items())
    alert_delay = seconds_between(seen["alert"], plan["crossed"])
    print(f"scheduled runs: {len(delays)}")
    print(f"schedule delay: min {delays[0]:.1f} s, median {delays[len(delays) // 2]:.1f} s, max {delays[-1]:.1f} s")
    print(f"alert delay after crossing the max time without success: {alert_delay:.1f} s")
    print(f"schedule_max_s: {delays[-1]:.1f} (target <= 40)")
    print(f"alert_s: {alert_delay:.1f} (target <= 90)")


if __name__ == "__main__":
    main()
