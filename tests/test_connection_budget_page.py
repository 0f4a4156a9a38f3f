"""The "Rate budget" panel on a connection's page: today's calls against the limits, the last minute, the hold,
and how long the next run of each integration using it would take at the current budget.

The portal's time zone in the tests is America/Sao_Paulo (UTC-3, no DST).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import lxml.html
import pytest
import time_machine
from django.urls import reverse

from accounts.roles import IT
from monitoring.choices import RunStatus, Trigger
from monitoring.models import RequestLog, SyncRun
from sync.models import ConnectionBudget

from .builders import build_integration

pytestmark = pytest.mark.django_db
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=SAO_PAULO)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SAO_PAULO)


@pytest.fixture(autouse=True)
def budget_in_the_database(settings):
    """The panel reads the budget wherever it is kept; these tests keep it in its database row (the Redis store
    has its own tests in test_daily_quota)."""
    settings.REDIS_URL = ""


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def finished_run(integration, status, at) -> SyncRun:
    return SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.SCHEDULE,
        status=status,
        queued_at=at,
        started_at=at,
        finished_at=at + timedelta(minutes=30),
    )


def calls(connection, count, *, run=None, at=NOW - timedelta(hours=2)) -> None:
    """``count`` calls made to ``connection`` (by ``run``) at ``at``, as the page log stores them."""
    RequestLog.objects.bulk_create(
        RequestLog(run=run, connection=connection, started_at=at, method="POST", url="https://crm.example/Contacts")
        for _ in range(count)
    )


@pytest.fixture
def crm(frozen, erp_connection, crm_connection):
    """A CRM allowing 120 calls a minute and 5,000 a day, 1,204 spent today; three integrations write to it."""
    crm_connection.rate_limit_per_minute, crm_connection.daily_call_limit = 120, 5000
    crm_connection.save()
    ConnectionBudget.objects.create(
        connection=crm_connection, next_call_at=NOW, updated_at=NOW, day=NOW.date(), day_calls=1204
    )
    switched_on = local(2026, 11, 1, 8, 0)
    contacts = build_integration(erp_connection, crm_connection, name="Contacts", activated_at=switched_on)
    orders = build_integration(erp_connection, crm_connection, name="Orders", activated_at=switched_on)
    build_integration(erp_connection, crm_connection, name="Products", activated_at=switched_on)  # never succeeded
    # Contacts: its last success made 4,000 calls to the CRM (an older one made 10, a failed one since made 7).
    calls(crm_connection, 10, run=finished_run(contacts, RunStatus.SUCCEEDED, local(2026, 12, 1, 2, 0)))
    last = finished_run(contacts, RunStatus.PARTIAL, local(2026, 12, 2, 2, 0))
    calls(crm_connection, 4000, run=last)
    calls(erp_connection, 50, run=last)  # calls to the ERP are not the CRM's
    calls(crm_connection, 7, run=finished_run(contacts, RunStatus.FAILED, local(2026, 12, 3, 2, 0)))
    # Orders: 600 calls.
    calls(crm_connection, 600, run=finished_run(orders, RunStatus.SUCCEEDED, local(2026, 12, 3, 3, 0)))
    # The last minute: 17 calls to the CRM, 3 to the ERP; one a second too old.
    calls(crm_connection, 17, at=NOW - timedelta(seconds=30))
    calls(erp_connection, 3, at=NOW - timedelta(seconds=30))
    calls(crm_connection, 1, at=NOW - timedelta(seconds=61))
    return crm_connection


def panel(client, connection, language="en") -> dict:
    """What the panel says: its facts by name, and each forecast's cells by integration."""
    url = reverse("admin:sync_connection_change", args=[connection.pk])
    response = client.get(url, headers={"accept-language": language})
    assert response.status_code == 200
    page = lxml.html.fromstring(response.content.decode())
    [box] = page.xpath('//*[@data-panel="rate-budget"]')

    def text(element) -> str:
        return " ".join(element.text_content().split())

    return {
        "title": text(box.xpath(".//h2")[0]),
        **{element.get("data-budget"): text(element) for element in box.xpath(".//*[@data-budget]")},
        "forecasts": {
            text(row.xpath("./th")[0]): [text(cell) for cell in row.xpath("./td")]
            for row in box.xpath(".//tr[@data-forecast]")
        },
    }


def test_it_sees_todays_use_the_last_minute_and_each_next_run_at_the_current_budget(crm, login_as):
    shown = panel(login_as(IT), crm)

    assert shown == {
        "title": "Rate budget",
        "today": "1,204 of 5,000 today",
        "rate": "120 calls a minute",
        "last-minute": "17 calls",
        "held": "no: calls go as the rate allows",
        "forecasts": {
            # 4,000 calls at 120 a minute: 33 minutes; 3,796 remain today.
            "Contacts": ["4,000 calls", "about 33 minutes", "would exceed today's quota: pauses after ~3,796 calls"],
            "Orders": ["600 calls", "about 5 minutes", "fits in what remains of today's quota"],
            "Products": ["no successful run yet", "—", "—"],
        },
    }


def test_the_panel_speaks_portuguese(crm, login_as):
    shown = panel(login_as(IT), crm, "pt-br")

    assert shown == {
        "title": "Orçamento de chamadas",
        "today": "1.204 de 5.000 hoje",
        "rate": "120 chamadas por minuto",
        "last-minute": "17 chamadas",
        "held": "não: as chamadas seguem no ritmo permitido",
        "forecasts": {
            "Contacts": [
                "4.000 chamadas",
                "cerca de 33 minutos",
                "excederia a cota de hoje: pausa após ~3.796 chamadas",
            ],
            "Orders": ["600 chamadas", "cerca de 5 minutos", "cabe no que resta da cota de hoje"],
            "Products": ["nenhuma execução bem-sucedida ainda", "—", "—"],
        },
    }


def test_a_spent_quota_says_until_when_and_every_run_would_pause(crm, login_as):
    ConnectionBudget.objects.filter(pk=crm.pk).update(day_calls=5000, held_until=NOW + timedelta(seconds=40))

    shown = panel(login_as(IT), crm)

    assert shown["today"] == "5,000 of 5,000 today"
    assert shown["held"] == "paused until 12/04/2026 midnight: today's quota is spent"
    assert shown["forecasts"]["Orders"][2] == "today's quota is spent: it would pause at its first call"


def test_a_hold_the_system_asked_for_says_until_when(crm, login_as):
    ConnectionBudget.objects.filter(pk=crm.pk).update(held_until=local(2026, 12, 3, 10, 2))

    client = login_as(IT)
    assert panel(client, crm)["held"] == "held until 12/03/2026 10:02 a.m.: the system asked to wait"
    assert panel(client, crm, "pt-br")["held"] == "retida até 03/12/2026 10:02: o sistema pediu para esperar"


def test_a_connection_without_limits_counts_nothing_and_forecasts_no_wait(frozen, erp_connection, login_as):
    integration = build_integration(erp_connection, erp_connection, name="Loop", activated_at=local(2026, 11, 1, 8))
    calls(erp_connection, 12, run=finished_run(integration, RunStatus.SUCCEEDED, local(2026, 12, 3, 3, 0)))

    shown = panel(login_as(IT), erp_connection)

    assert shown["today"] == "not counted: this connection has no limit"
    assert shown["rate"] == "no limit"
    assert shown["forecasts"] == {
        "Loop": ["12 calls", "no rate limit: as fast as the system answers", "no daily limit"]
    }


def test_the_panel_costs_the_same_queries_for_many_integrations(crm, login_as, django_assert_max_num_queries):
    client = login_as(IT)
    url = reverse("admin:sync_connection_change", args=[crm.pk])
    client.get(url)  # sessions, permissions and the like warmed up
    with django_assert_max_num_queries(40) as few:
        client.get(url)
    for number in range(10):
        build_integration(crm, crm, name=f"More {number}", activated_at=local(2026, 11, 1, 8))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)
