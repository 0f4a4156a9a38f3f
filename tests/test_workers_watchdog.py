"""Real processes: the cluster dies, the web server says so; the cluster comes back and resolves it.

A portal of its own (see ``cluster_harness``): ``runserver`` loads ``integration_portal.wsgi``,
which starts the web process's watchdog (here every second). A ``qcluster`` runs the minute
task that writes the workers' heartbeat; it is killed with SIGKILL, and the heartbeat is aged
past ``WORKERS_STALE_AFTER`` (the test does not wait three minutes). Only the web process is
alive then: it must open the *workers not seen* alert and show it on the dashboard.
"""

import pytest
import requests

from .cluster_harness import Portal
from .processes import wait_until

pytestmark = pytest.mark.slow  # starts processes: `make test-fast` leaves it out

AGE_THE_HEARTBEAT = """
from datetime import timedelta
from django.utils import timezone
from monitoring.models import WorkersHeartbeat

aged = WorkersHeartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=10))
result({"aged": aged})
"""

STAFF = """
from django.contrib.auth.models import Group
from django.contrib.auth import get_user_model
from accounts.roles import SUPERVISOR

user = get_user_model().objects.create_user("watcher", password=PARAMS["password"], is_staff=True)
user.groups.add(Group.objects.get(name=SUPERVISOR))
result({"user": user.pk})
"""

OPEN_DOWN_ALERTS = "SELECT COUNT(*) FROM monitoring_alert WHERE kind = 'workers_down' AND status = 'open'"
RESOLVED_DOWN_ALERTS = "SELECT COUNT(*) FROM monitoring_alert WHERE kind = 'workers_down' AND status = 'resolved'"


def dashboard_workers(origin: str, password: str) -> dict:
    with requests.Session() as session:
        login = session.get(f"{origin}/login/", timeout=10)
        token = login.cookies["csrftoken"]
        session.post(
            f"{origin}/login/",
            data={"username": "watcher", "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{origin}/login/"},
            timeout=10,
        )
        return session.get(f"{origin}/dashboard.json", timeout=10).json()["workers"]


def test_the_web_server_alerts_when_the_cluster_dies_and_the_cluster_resolves_it_when_back(tmp_path):
    password = "a long watcher password"
    with Portal(tmp_path, WORKERS_WATCH_INTERVAL=1, WORKERS_STALE_AFTER=90) as portal:
        origin = portal.serve()
        portal.script(STAFF, password=password)
        portal.start_cluster("cluster-1")
        wait_until(
            lambda: portal.value("SELECT COUNT(*) FROM monitoring_workersheartbeat") == 1,
            timeout=90,
            interval=0.2,
            message="the workers' minute task to beat",
        )
        assert dashboard_workers(origin, password) == {"down": False, "text": ""}

        portal.kill("cluster-1")
        assert portal.script(AGE_THE_HEARTBEAT)["aged"] == 1
        wait_until(
            lambda: portal.value(OPEN_DOWN_ALERTS) >= 1, timeout=30, interval=0.2, message="the web server to alert"
        )
        active = portal.value("SELECT COUNT(*) FROM sync_integration WHERE active")
        assert portal.value(OPEN_DOWN_ALERTS) == active
        workers = dashboard_workers(origin, password)
        assert workers["down"] is True and "have not been seen since" in workers["text"]

        portal.start_cluster("cluster-2")
        wait_until(
            lambda: portal.value(OPEN_DOWN_ALERTS) == 0, timeout=120, interval=0.5, message="the workers to resolve it"
        )
        assert portal.value(RESOLVED_DOWN_ALERTS) == active
        assert dashboard_workers(origin, password) == {"down": False, "text": ""}
