"""Admin lists cost the same number of queries for 2 rows as for 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import IT
from monitoring.choices import RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, SyncRun, TableRun
from sync.models import Connection, Integration, SyncTable

pytestmark = pytest.mark.django_db

LISTS = [
    "sync_integration",
    "sync_synctable",
    "sync_connection",
    "monitoring_syncrun",
    "monitoring_recordevent",
    "monitoring_requestlog",
    "monitoring_recorderror",
    "monitoring_alert",
]


def add_integrations(count, start=0):
    for number in range(start, start + count):
        erp = Connection.objects.create(name=f"ERP {number}", kind="rest", base_url="https://erp.example")
        crm = Connection.objects.create(name=f"CRM {number}", kind="rest", base_url="https://crm.example")
        integration = Integration.objects.create(
            name=f"Integration {number}",
            integration_type="rest",
            erp_name="ERP",
            crm_name="CRM",
            erp_connection=erp,
            crm_connection=crm,
        )
        table = SyncTable.objects.create(
            integration=integration, name="Company", source_object="/c", target_object="/c", record_key="id"
        )
        run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.SUCCEEDED)
        TableRun.objects.create(run=run, table=table, read=1, created=1)
        RecordEvent.objects.create(run=run, table=table, record_key=str(number), action="created")
        RequestLog.objects.create(run=run, table=table, connection=crm, method="POST", url="https://crm.example/c")
        RecordError.objects.create(table=table, run=run, record_key=str(number), payload={"id": number}, reason="bad")


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("name", LISTS)
def test_admin_lists_do_not_query_per_row(login_as, name):
    client = login_as(IT)
    url = reverse(f"admin:{name}_changelist")
    add_integrations(2)
    client.get(url)  # warm the content-type cache
    few = count_queries(client, url)
    add_integrations(28, start=2)
    many = count_queries(client, url)
    assert many == few, f"{name}: {few} queries for 2 rows, {many} for 30"


def test_the_run_page_does_not_query_per_table(login_as):
    client = login_as(IT)
    add_integrations(1)
    run = SyncRun.objects.get()
    integration = run.integration
    url = reverse("admin:monitoring_syncrun_change", args=[run.pk])
    client.get(url)  # warm the content-type cache
    few = count_queries(client, url)
    for number in range(10):
        table = SyncTable.objects.create(
            integration=integration, name=f"T{number}", source_object="/t", target_object="/t", record_key="id"
        )
        TableRun.objects.create(run=run, table=table)
    assert count_queries(client, url) == few
