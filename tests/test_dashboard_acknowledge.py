"""IT acknowledges an integration's open alerts from its dashboard row; a supervisor only looks."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from monitoring.choices import AlertKind, AlertStatus, RunStatus
from monitoring.models import Alert
from sync.models import Integration

from .builders import build_integration, make_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
DASHBOARD = "admin:index"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def watched(erp_connection, crm_connection):
    """An integration that ran well half an hour ago."""
    integration = build_integration(
        erp_connection, crm_connection, name="Sankhya ↔ Ploomes", activated_at=NOW - timedelta(days=3), table="Company"
    )
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(minutes=30))
    return integration


def open_alert(integration, kind=AlertKind.RUN_STUCK, message="Run #9 is stuck") -> Alert:
    return Alert.objects.create(integration=integration, kind=kind, message=message, opened_at=NOW)


def acknowledge_url(integration) -> str:
    return reverse("admin:dashboard_acknowledge", args=[integration.pk])


def row_of(html: str, integration: Integration) -> str:
    match = re.search(rf'<tr class="dash-row" data-integration="{integration.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {integration}"
    return match.group(0)


def alerts_words(row: str) -> str:
    """What the row says about its alerts ("1 open", "1 acknowledged"), tags left out."""
    match = re.search(r'<span data-field="alerts">(.*?)</span>\s*(?:<details|</td>)', row, re.S)
    assert match, "no alerts cell"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def digest_of(row: str) -> str:
    return re.search(r'data-digest="(\w+)"', row).group(1)


def dashboard(client) -> str:
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------- what IT sees and does


def test_it_acknowledges_the_open_alerts_of_a_row_with_a_note(login_as, watched):
    stuck = open_alert(watched)
    failures = open_alert(watched, AlertKind.CONSECUTIVE_FAILURES, "3 failed runs")
    client = login_as(IT)
    row = row_of(dashboard(client), watched)
    assert alerts_words(row) == "2 open"
    assert 'data-action="acknowledge"' in row and f'action="{acknowledge_url(watched)}"' in row
    assert "Acknowledge 2 alerts" in row

    response = client.post(acknowledge_url(watched), {"note": "  Restarting the ERP's web service  "}, follow=True)

    assert response.redirect_chain == [(reverse(DASHBOARD), 302)]
    html = response.content.decode()
    assert "Sankhya ↔ Ploomes: 2 alerts acknowledged." in html
    row = row_of(html, watched)
    assert alerts_words(row) == "2 acknowledged"
    assert 'data-action="acknowledge"' not in row  # nothing left to acknowledge
    for alert in (stuck, failures):
        alert.refresh_from_db()
        assert (alert.status, alert.acknowledged_by.username) == (AlertStatus.ACKNOWLEDGED, "it")
        assert (alert.acknowledgement_note, alert.acknowledged_at) == ("Restarting the ERP's web service", NOW)


def test_one_open_alert_reads_acknowledged_after_the_click_and_the_general_tab_says_by_whom(login_as, watched):
    alert = open_alert(watched)
    client = login_as(IT)
    assert alerts_words(row_of(dashboard(client), watched)) == "1 open"

    response = client.post(acknowledge_url(watched), {"note": "On it"}, follow=True)

    html = response.content.decode()
    assert "Sankhya ↔ Ploomes: 1 alert acknowledged." in html
    assert alerts_words(row_of(html, watched)) == "1 acknowledged"
    general = client.get(reverse("admin:integration", args=[watched.pk])).content.decode()
    assert f'data-alert="{alert.pk}" data-state="acknowledged"' in general
    assert "by it at 03/10/2026 noon: On it" in " ".join(general.split())


def test_only_open_alerts_of_that_integration_are_acknowledged(login_as, watched, erp_connection, crm_connection):
    other = build_integration(erp_connection, crm_connection, name="Other", activated_at=NOW - timedelta(days=3))
    mine = open_alert(watched)
    theirs = open_alert(other)
    resolved = open_alert(watched, AlertKind.NO_SUCCESS, "No success")
    Alert.objects.filter(pk=resolved.pk).update(status=AlertStatus.RESOLVED, resolved_at=NOW)

    login_as(IT).post(acknowledge_url(watched), {"note": ""})

    statuses = dict(Alert.objects.values_list("pk", "status"))
    assert statuses == {
        mine.pk: AlertStatus.ACKNOWLEDGED,
        theirs.pk: AlertStatus.OPEN,
        resolved.pk: AlertStatus.RESOLVED,
    }


def test_a_second_click_after_someone_else_acknowledged_says_so(login_as, watched):
    open_alert(watched)
    client = login_as(IT)
    client.post(acknowledge_url(watched))

    response = client.post(acknowledge_url(watched), follow=True)

    assert "Sankhya ↔ Ploomes has no open alert any more." in response.content.decode()


def test_the_control_shows_only_while_alerts_wait_for_a_person(login_as, watched):
    client = login_as(IT)
    assert 'data-action="acknowledge"' not in row_of(dashboard(client), watched)  # no alert at all


# ---------------------------------------------------------------- the refresh in place


def test_a_refreshed_row_changes_digest_and_carries_a_working_form(login_as, watched):
    open_alert(watched)
    client = login_as(IT)
    before = row_of(dashboard(client), watched)
    known = f"{watched.pk}:{digest_of(before)}"

    client.post(acknowledge_url(watched), {"note": "Checked"})  # in another tab, say
    poll = client.get(reverse("admin:dashboard_rows"), HTTP_X_DASHBOARD_ROWS=known).content.decode()

    after = row_of(poll, watched)  # sent again: its content changed
    assert digest_of(after) != digest_of(before)
    assert alerts_words(after) == "1 acknowledged"


def test_the_form_in_a_refreshed_row_has_its_csrf_token(login_as, watched):
    open_alert(watched)
    client = login_as(IT)
    client.get(reverse(DASHBOARD))
    poll = client.get(reverse("admin:dashboard_rows")).content.decode()
    row = row_of(poll, watched)
    assert f'action="{acknowledge_url(watched)}"' in row
    token = re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', row).group(1)

    client.handler.enforce_csrf_checks = True  # as a browser posting the refreshed form would
    response = client.post(acknowledge_url(watched), {"csrfmiddlewaretoken": token, "note": "From the refresh"})

    assert response.status_code == 302
    assert Alert.objects.get().acknowledgement_note == "From the refresh"


def test_without_the_csrf_token_nothing_is_acknowledged(login_as, watched):
    open_alert(watched)
    client = login_as(IT)
    client.handler.enforce_csrf_checks = True
    assert client.post(acknowledge_url(watched), {"note": "forged"}).status_code == 403
    assert Alert.objects.get().status == AlertStatus.OPEN


# ---------------------------------------------------------------- who may, and how not


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_read_only_roles_see_no_control_and_are_refused(login_as, watched, role):
    open_alert(watched)
    client = login_as(role)
    row = row_of(dashboard(client), watched)
    assert alerts_words(row) == "1 open"
    assert 'data-action="acknowledge"' not in row and acknowledge_url(watched) not in row

    assert client.post(acknowledge_url(watched), {"note": "me too"}).status_code == 403
    assert Alert.objects.get().status == AlertStatus.OPEN


def test_a_get_is_refused_and_changes_nothing(login_as, watched):
    open_alert(watched)
    response = login_as(IT).get(acknowledge_url(watched))
    assert response.status_code == 405
    assert Alert.objects.get().status == AlertStatus.OPEN


def test_an_unknown_integration_is_not_found(login_as, watched):
    response = login_as(IT).post(reverse("admin:dashboard_acknowledge", args=[watched.pk + 1000]))
    assert response.status_code == 404


def test_a_signed_out_person_is_sent_to_sign_in(client, watched):
    open_alert(watched)
    response = client.post(acknowledge_url(watched))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert Alert.objects.get().status == AlertStatus.OPEN


def test_in_portuguese(login_as, watched):
    open_alert(watched)
    client = login_as(IT)
    html = client.get(reverse(DASHBOARD), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "Reconhecer 1 alerta" in row_of(html, watched)
    response = client.post(acknowledge_url(watched), HTTP_ACCEPT_LANGUAGE="pt-br", follow=True)
    assert "Sankhya ↔ Ploomes: 1 alerta reconhecido." in response.content.decode()
