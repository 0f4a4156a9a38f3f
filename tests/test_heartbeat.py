"""A slow but living run keeps its heartbeat; a run the reaper gave up on stops without writing.

The source is a real local server whose answers are delayed past the stale limit: before, the
heartbeat was written only between records, so one slow call got a living run marked abandoned
while its worker went on writing beside the next run.
"""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun
from monitoring.reaper import reap
from sync.engine import execute_run, queue_run
from sync.models import FieldMapping, SyncTable

from .builders import rest_to_rest, two_rest_apis
from .processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "heartbeat-key-19ab"


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


@pytest.fixture
def integration(systems, settings):
    settings.RUN_HEARTBEAT_STALE_AFTER, settings.RUN_HEARTBEAT_INTERVAL = 2, 0.3
    source, target = systems

    integration = rest_to_rest(source, target, api_key=KEY, name="Slow ERP ↔ CRM", timeout_seconds=10)
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/Contacts",
        record_key="Email",
    )
    FieldMapping.objects.create(table=table, source_path="Email", target_field="Email")
    source.add_contacts(3)
    return integration


class Worker(threading.Thread):
    """Runs one sync as a worker process would, on its own database connection."""

    def __init__(self, integration):
        super().__init__(daemon=True)
        self.run_id = queue_run(integration, Trigger.MANUAL).pk

    def run(self):
        try:
            execute_run(self.run_id)
        finally:
            connection.close()


def test_a_slow_call_does_not_get_a_living_run_reaped(integration, systems):
    source, target = systems
    source.delay_next(1, seconds=4.0, method="GET")  # the first page takes twice the stale limit
    worker = Worker(integration)
    worker.start()
    try:
        wait_until(lambda: source.requests_to("/Contacts", "GET"), timeout=10, message="the slow call to start")
        started = timezone.now()
        wait_until(lambda: (timezone.now() - started).total_seconds() > 3, timeout=10, message="the stale limit")
        assert reap(timezone.now(), requeue=lambda run: None).abandoned == []  # its heartbeat is fresh
    finally:
        worker.join(timeout=30)
    run = SyncRun.objects.get(pk=worker.run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sorted(contact["Email"] for contact in target.contacts()) == [
        "c1@example.com",
        "c2@example.com",
        "c3@example.com",
    ]


def test_a_run_the_reaper_gave_up_on_stops_without_writing(integration, systems):
    source, target = systems
    source.delay_next(1, seconds=3.0, method="GET")
    worker = Worker(integration)
    worker.start()
    try:
        wait_until(lambda: source.requests_to("/Contacts", "GET"), timeout=10, message="the slow call to start")
        SyncRun.objects.get(pk=worker.run_id).finish(RunStatus.ABANDONED, "reaped")  # as the reaper would
    finally:
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert SyncRun.objects.get(pk=worker.run_id).status == RunStatus.ABANDONED
    assert target.requests_to("/Contacts", "POST") == []  # its page came back, and nothing was written

    again = execute_run(queue_run(integration, Trigger.MANUAL).pk)
    assert again.status == RunStatus.SUCCEEDED
    assert len(target.requests_to("/Contacts", "POST")) == 3  # each once, by the next run
