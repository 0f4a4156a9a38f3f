"""Each integration's django-q2 wake-up Schedule follows its configuration."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django_q.models import Schedule

from sync.slots import MAINTENANCE_NAME, schedule_name

pytestmark = pytest.mark.django_db
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def schedule_of(integration):
    return Schedule.objects.filter(name=schedule_name(integration.pk)).first()


@pytest.fixture
def monday_morning():
    """Monday 23 November 2026, 10:00 in São Paulo: requested before ``integration``, which schedules on save."""
    with time_machine.travel(datetime(2026, 11, 23, 10, 0, tzinfo=SAO_PAULO), tick=False) as traveller:
        yield traveller


def test_a_daily_integration_gets_a_cron_schedule_at_its_local_time(monday_morning, integration):
    schedule = schedule_of(integration)
    assert schedule.schedule_type == Schedule.CRON and schedule.cron == "0 0 * * *"
    assert schedule.func == "sync.tasks.run_scheduled"
    assert schedule.args == f"({integration.pk},)"  # the primary key only
    assert schedule.next_run == datetime(2026, 11, 24, 0, 0, tzinfo=SAO_PAULO)


def test_changing_the_schedule_changes_it_and_pausing_removes_it(monday_morning, integration):
    integration.schedule_kind, integration.schedule_interval_minutes = "interval", 15
    integration.save()
    schedule = schedule_of(integration)
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 15)
    integration.schedule_kind, integration.schedule_cron = "cron", "*/30 8-18 * * 1-5"
    integration.save()
    assert schedule_of(integration).cron == "*/30 8-18 * * 1-5"
    assert Schedule.objects.filter(name=schedule_name(integration.pk)).count() == 1
    integration.active = False
    integration.save()
    assert schedule_of(integration) is None
    integration.active = True
    integration.save()
    assert schedule_of(integration) is not None
    integration.schedule_kind = "none"
    integration.save()
    assert schedule_of(integration) is None


def test_deleting_an_integration_removes_its_schedule(integration):
    pk = integration.pk
    integration.delete()
    assert not Schedule.objects.filter(name=schedule_name(pk)).exists()


def test_the_maintenance_schedule_runs_every_minute():
    schedule = Schedule.objects.get(name=MAINTENANCE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("monitoring.tasks.maintenance", "I", 1)


def test_an_invalid_cron_saved_around_the_form_schedules_nothing(integration):
    integration.schedule_kind, integration.schedule_cron = "cron", "not a cron"
    integration.save()
    assert schedule_of(integration) is None
