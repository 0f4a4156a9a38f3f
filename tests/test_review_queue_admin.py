"""The review queue in the admin: who may retry or ignore, and what ignoring does."""

import pytest
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from monitoring.choices import ErrorStatus
from monitoring.models import RecordError

pytestmark = pytest.mark.django_db


@pytest.fixture
def errors(integration):
    table = integration.tables.get()
    return [
        RecordError.objects.create(table=table, record_key=key, payload={"CNPJ": key}, reason="CNPJ is invalid")
        for key in ("1", "2")
    ]


def test_supervisor_sees_the_queue_without_retry_or_ignore(login_as, errors):
    client = login_as(SUPERVISOR)
    page = client.get(reverse("admin:monitoring_recorderror_changelist")).content.decode()
    assert "CNPJ is invalid" in page
    assert 'value="retry"' not in page and 'value="ignore"' not in page
    response = client.post(
        reverse("admin:monitoring_recorderror_changelist"),
        {"action": "ignore", "_selected_action": [e.pk for e in errors]},
    )
    assert RecordError.objects.filter(status=ErrorStatus.OPEN).count() == 2
    assert response.status_code in (200, 302)


def test_it_ignores_records_and_they_leave_the_open_queue(login_as, errors):
    client = login_as(IT)
    page = client.get(reverse("admin:monitoring_recorderror_changelist")).content.decode()
    assert 'value="retry"' in page and 'value="ignore"' in page
    response = client.post(
        reverse("admin:monitoring_recorderror_changelist"),
        {"action": "ignore", "_selected_action": [errors[0].pk]},
        follow=True,
    )
    assert "1 record ignored." in response.content.decode()
    ignored = RecordError.objects.get(pk=errors[0].pk)
    assert ignored.status == ErrorStatus.IGNORED and ignored.closed_by.username == "it"
    assert ignored.payload == {"CNPJ": "1"}  # nothing is lost
