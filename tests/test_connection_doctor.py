"""The connection doctor: authentication, a page of data, the incremental field, the clock and the rate limits.

Against a real local REST server (``FakeRestApi``) whose clock and headers the tests choose.
"""

import lxml.html
import pytest
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from sync.doctor import NOT_CHECKED, OK, PROBLEM, WARNING, examine
from sync.models import FieldMapping, SyncTable

from .builders import rest_to_rest, two_rest_apis

pytestmark = pytest.mark.django_db
KEY = "doctor-key-7d1e"


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


@pytest.fixture
def integration(systems):
    source, target = systems
    integration = rest_to_rest(source, target, api_key=KEY, name="ERP ↔ CRM", page_size=10, max_retries=0)
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/Contacts",
        record_key="Email",
        cursor_field="UpdatedAt",
        incremental_filter="$filter=UpdatedAt gt '{cursor}'",
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Email", target_field="Email")
    return integration


def by_check(findings):
    return {finding.check: finding for finding in findings}


def test_a_healthy_source_passes_every_check(integration, systems):
    source, _target = systems
    source.add_contact(Email="a@example.com", UpdatedAt="2026-12-01T10:00:00Z")
    source.add_contact(Email="b@example.com", UpdatedAt="2026-12-02T10:00:00Z")
    source.headers = {"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "118"}
    integration.erp_connection.rate_limit_per_minute = 100
    integration.erp_connection.save()

    findings = by_check(examine(integration.erp_connection))

    assert [finding.status for finding in findings.values()] == [OK] * 5, findings
    assert "2 records" in findings["One page of data: Contact"].says
    assert "2026-12-02T10:00:00Z" in findings["Incremental field: Contact"].says
    assert "X-RateLimit-Limit".lower() in findings["Rate limits"].says.lower() and "120" in findings["Rate limits"].says
    incremental = [r for r in source.received if "$filter" in r.query]
    assert incremental and "2026-12-02T10:00:00Z" in incremental[-1].query["$filter"]  # the next run's read


def test_it_says_what_to_fix(integration, systems):
    source, _target = systems
    source.add_contact(Name="Sem e-mail", UpdatedAt="")  # no key, no cursor value
    source.clock_offset = 600  # the server's clock is ten minutes ahead
    source.headers = {"X-HubSpot-RateLimit-Daily-Remaining": "250000"}

    findings = by_check(examine(integration.erp_connection))

    page = findings["One page of data: Contact"]
    assert page.status == PROBLEM and "record key Email" in page.says and "Email" in page.fix
    cursor = findings["Incremental field: Contact"]
    assert cursor.status == PROBLEM and "would never move" in cursor.says
    clock = findings["Clock"]
    assert clock.status == WARNING and "10 minutes ahead" in clock.says and "NTP" in clock.fix
    limits = findings["Rate limits"]
    assert limits.status == WARNING and "x-hubspot-ratelimit-daily-remaining: 250000" in limits.says.lower()
    assert "rate limit" in limits.fix


def test_a_refused_login_stops_the_other_checks(integration):
    integration.erp_connection.api_key = "wrong-key"
    integration.erp_connection.save()

    findings = examine(integration.erp_connection)

    assert findings[0].status == PROBLEM and "401" in findings[0].says
    assert "wrong-key" not in " ".join(f.says + f.fix for f in findings)
    assert {finding.status for finding in findings[1:]} == {NOT_CHECKED}


def test_it_is_on_the_connection_page_for_it_only(integration, systems, login_as):
    source, _target = systems
    source.add_contact(Email="tela@example.com", UpdatedAt="2026-12-01T10:00:00Z")
    url = reverse("admin:connection_doctor", args=[integration.erp_connection_id])
    client = login_as(IT)
    change = client.get(reverse("admin:sync_connection_change", args=[integration.erp_connection_id]))
    assert url in change.content.decode()

    page = client.post(url, HTTP_ACCEPT_LANGUAGE="pt-br")

    html = lxml.html.fromstring(page.content.decode())
    statuses = [row.get("data-status") for row in html.xpath('//table[@data-list="findings"]//tbody/tr')]
    assert len(statuses) == 5 and PROBLEM not in statuses
    assert "Relógio" in page.content.decode()
    client.logout()
    assert login_as(SUPERVISOR).post(url).status_code == 403


def test_an_answer_that_is_not_a_list_points_at_the_records_path(integration, systems):
    source, _target = systems
    source.add_contact(Email="a@example.com", UpdatedAt="2026-12-01T10:00:00Z")
    integration.erp_connection.records_path = ""  # the OData answer {"value": [...]} is then one record
    integration.erp_connection.save()

    first, *others = examine(integration.erp_connection)

    assert first.status == PROBLEM and "check the records path (it holds: @odata.context, value)" in first.says
    assert {finding.status for finding in others} == {NOT_CHECKED}


def test_a_clock_cursor_table_is_checked_with_the_read_the_next_run_would_make(integration, systems, time_machine):
    source, _target = systems
    source.add_contact(Email="a@example.com", UpdatedAt="2026-12-01T10:00:00Z")
    time_machine.move_to("2026-12-05 13:00:00+00:00", tick=False)
    SyncTable.objects.filter(integration=integration).update(
        cursor_field="",
        cursor_clock_format="%Y-%m-%d %H:%M:%S",
        cursor_clock_zone="America/Sao_Paulo",
        incremental_filter="$filter=UpdatedAt gt '{cursor}'",
    )

    findings = by_check(examine(integration.erp_connection))

    clock_cursor = findings["Incremental read from the clock: Contact"]
    assert clock_cursor.status == OK
    assert clock_cursor.says == "The read of what changed since 2026-12-05 09:55:00 works."  # 5 minutes earlier
    assert source.received[-1].query["$filter"] == "UpdatedAt gt '2026-12-05 09:55:00'"
    assert "Incremental field: Contact" not in findings
