"""Test connection and acknowledging alerts, from the admin."""

import html

import pytest
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from monitoring.choices import AlertKind, AlertStatus
from monitoring.models import Alert, AlertEvent
from sync.models import Connection

from .servers.rest_api import FakeRestApi

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm_api():
    api = FakeRestApi(auth="api_key", api_key="the-right-key").start()
    yield api
    api.stop()


def test_it_tests_a_connection_and_reads_the_verdict(login_as, crm_api):
    connection = Connection.objects.create(
        name="CRM",
        kind="rest",
        base_url=f"{crm_api.url}/Contacts",
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key="the-right-key",
        pagination="odata",
        records_path="value",
    )
    client = login_as(IT)
    page = client.get(reverse("admin:sync_connection_change", args=[connection.pk])).content.decode()
    assert 'data-action="test-connection"' in page
    response = client.post(reverse("admin:sync_connection_test", args=[connection.pk]), follow=True)
    text = html.unescape(response.content.decode())
    # No table reads from it and no test path is set: the base URL is read, and the verdict says so.
    assert (
        "Connected: GET /Contacts (the base URL: no active table reads from this connection and no test path is set) "
        "answered 200 in "
    ) in text
    assert text.count('class="success"') == 1

    connection.api_key = "a-wrong-key"
    connection.save()
    response = client.post(reverse("admin:sync_connection_test", args=[connection.pk]), follow=True)
    text = html.unescape(response.content.decode())
    assert "Refused: GET /Contacts answered 401 Unauthorized — check the API key." in text
    assert "a-wrong-key" not in text and "Connected" not in text


def test_a_supervisor_cannot_test_connections(login_as, crm_connection):
    client = login_as(SUPERVISOR)
    page = client.get(reverse("admin:sync_connection_change", args=[crm_connection.pk])).content.decode()
    assert 'data-action="test-connection"' not in page
    assert client.post(reverse("admin:sync_connection_test", args=[crm_connection.pk])).status_code == 403


def test_it_acknowledges_an_alert_with_a_note(login_as, integration):
    alert = Alert.objects.create(integration=integration, kind=AlertKind.NO_SUCCESS, message="No success for 25 h")
    client = login_as(IT)
    page = client.get(reverse("admin:monitoring_alert_change", args=[alert.pk])).content.decode()
    assert 'data-action="acknowledge"' in page
    response = client.post(
        reverse("admin:monitoring_alert_acknowledge", args=[alert.pk]),
        {"note": "ERP down for maintenance"},
        follow=True,
    )
    assert "Alert acknowledged." in response.content.decode()
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledgement_note, alert.acknowledged_by.username) == (
        AlertStatus.ACKNOWLEDGED,
        "ERP down for maintenance",
        "it",
    )
    assert AlertEvent.objects.filter(alert=alert, state=AlertStatus.ACKNOWLEDGED).count() == 1


def test_a_supervisor_cannot_acknowledge(login_as, integration):
    alert = Alert.objects.create(integration=integration, kind=AlertKind.NO_SUCCESS, message="late")
    client = login_as(SUPERVISOR)
    page = client.get(reverse("admin:monitoring_alert_change", args=[alert.pk])).content.decode()
    assert 'data-action="acknowledge"' not in page
    assert client.post(reverse("admin:monitoring_alert_acknowledge", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
