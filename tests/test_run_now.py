"""Run now from the admin, and triggers while a run is active."""

import pytest
from django.urls import reverse

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun
from sync.engine import queue_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue_only(monkeypatch):
    """Keep queued runs queued: the test is about triggering, not executing."""
    sent = []
    monkeypatch.setattr("sync.tasks.async_task", lambda *args, **kwargs: sent.append(args) or "task-1")
    return sent


def test_it_runs_an_integration_from_its_page(login_as, integration, queue_only):
    client = login_as(IT)
    page = client.get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert 'data-action="run-now"' in page
    response = client.post(reverse("admin:sync_integration_run", args=[integration.pk]), follow=True)
    assert "is queued to run now." in response.content.decode()
    run = SyncRun.objects.get()
    assert (run.status, run.trigger, run.triggered_by.username, run.task_id) == (
        RunStatus.QUEUED,
        Trigger.MANUAL,
        "it",
        "task-1",
    )
    assert queue_only == [("sync.tasks.run_queued", run.pk)]


def test_a_trigger_while_running_is_recorded_as_skipped(login_as, integration, queue_only):
    queue_run(integration, Trigger.SCHEDULE)
    client = login_as(IT)
    response = client.post(reverse("admin:sync_integration_run", args=[integration.pk]), follow=True)
    assert "already queued or running" in response.content.decode()
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert "already queued or running" in skipped.error and skipped.trigger == Trigger.MANUAL
    assert queue_only == []


def test_the_list_action_runs_several(login_as, integration, queue_only):
    client = login_as(IT)
    response = client.post(
        reverse("admin:sync_integration_changelist"),
        {"action": "run_now", "_selected_action": [integration.pk]},
        follow=True,
    )
    assert "is queued to run now." in response.content.decode()
    assert SyncRun.objects.filter(status=RunStatus.QUEUED).count() == 1


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_only_it_can_run(login_as, integration, queue_only, role):
    client = login_as(role)
    page = client.get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert 'data-action="run-now"' not in page
    assert client.post(reverse("admin:sync_integration_run", args=[integration.pk])).status_code == 403
    listing = client.get(reverse("admin:sync_integration_changelist")).content.decode()
    assert 'value="run_now"' not in listing
    assert not SyncRun.objects.exists()
