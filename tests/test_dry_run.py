"""A dry run reads, filters, maps and looks up as a run would, says what it would write, and writes nothing.

Against real local servers: the target must receive no create, update or delete, and the portal's
database must hold nothing new (no run, link, staged record, event or request log; no cursor moved).
"""

import io
import json
from decimal import Decimal

import lxml.html
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from core import json_text
from monitoring.models import RecordEvent, RequestLog, SyncRun
from sync.choices import BatchKind, DeletePolicy
from sync.dry_run import dry_run
from sync.models import Connection, FieldMapping, RecordLink, StagedRecord, SyncTable
from sync.writes import written

from .builders import rest_to_rest, two_rest_apis

pytestmark = pytest.mark.django_db

KEY = "dry-run-key-0c3a"


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


@pytest.fixture
def integration(systems):
    source, target = systems
    integration = rest_to_rest(source, target, api_key=KEY, name="ERP ↔ CRM", page_size=2, max_retries=0)
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Email",
        target_key="Id",
        cursor_field="",
        filter_rules=[{"name": "customers only", "field": "Kind", "op": "eq", "value": "customer"}],
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Email", target_field="Email")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name", required=True)
    FieldMapping.objects.create(
        table=table, position=3, source_path="Limit", target_field="CreditLimit", value_type="decimal"
    )
    return integration


def linked(table, target, **values):
    """A record the portal wrote before: in the target, and linked with what was written."""
    row = target.add_contact(**values)
    fields = {"Email": values["Email"], "Name": values["Name"], "CreditLimit": values["CreditLimit"]}
    RecordLink.objects.create(
        table=table,
        source_key=values["Email"],
        target_key=str(row["Id"]),
        mapped_hash="old",
        written_values=written(fields),
    )
    return row


def stored_rows() -> dict[str, int]:
    return {
        "runs": SyncRun.objects.count(),
        "links": RecordLink.objects.count(),
        "staged": StagedRecord.objects.count(),
        "events": RecordEvent.objects.count(),
        "request logs": RequestLog.objects.count(),
    }


def test_it_says_what_a_run_would_write_and_writes_nothing(integration, systems):
    source, target = systems
    table = integration.tables.get()
    source.add_contact(Email="nova@example.com", Name="Nova Ltda", Limit="1500.50", Kind="customer")
    source.add_contact(Email="sem.nome@example.com", Name="", Limit="10", Kind="customer")
    source.add_contact(Email="fornecedor@example.com", Name="Fornecedor", Limit="1", Kind="supplier")
    source.add_contact(Email="antiga@example.com", Name="Antiga Renomeada", Limit="20", Kind="customer")
    old = linked(table, target, Email="antiga@example.com", Name="Antiga", CreditLimit=20)
    before, cursor_before = stored_rows(), table.cursor_value
    target.received.clear()

    report = dry_run(integration, limit=10)

    [preview] = report.tables
    assert (preview.read, preview.error, preview.whole_source) == (4, "", True)
    assert preview.counts == {"would_create": 1, "failed": 1, "skipped": 1, "would_update": 1}
    fates = {planned.key: planned for planned in preview.planned}
    create = fates["nova@example.com"]
    assert create.body == {"Email": "nova@example.com", "Name": "Nova Ltda", "CreditLimit": Decimal("1500.50")}
    assert json_text.dumps(create.body).endswith('"CreditLimit":1500.50}')  # sent as a number, as the API requires
    failed = fates["sem.nome@example.com"]
    assert "Name" in failed.field_errors and str(failed.field_errors["Name"])
    assert "customers only" in str(fates["fornecedor@example.com"].message)
    update = fates["antiga@example.com"]
    assert (update.target_key, update.body) == (str(old["Id"]), {"Name": "Antiga Renomeada"} | update.body)
    assert update.body["Name"] == "Antiga Renomeada"

    assert {request.method for request in target.received} <= {"GET"}  # lookups at most: nothing written
    assert stored_rows() == before
    assert SyncTable.objects.get(pk=table.pk).cursor_value == cursor_before
    assert [contact["Email"] for contact in target.contacts()] == ["antiga@example.com"]


def test_the_limit_stops_the_read_and_deletes_are_judged_only_on_a_whole_read(integration, systems):
    source, target = systems
    table = integration.tables.get()
    table.delete_policy, table.delete_threshold = DeletePolicy.DELETE, 1
    table.save()
    for number in range(5):
        source.add_contact(Email=f"p{number}@example.com", Name=f"P {number}", Limit="1", Kind="customer")
    gone = linked(table, target, Email="saiu@example.com", Name="Saiu", CreditLimit=1)

    partial = dry_run(integration, limit=3)
    whole = dry_run(integration, limit=100)

    assert (partial.tables[0].read, partial.tables[0].whole_source) == (3, False)
    assert "would_delete" not in partial.tables[0].counts
    assert whole.tables[0].counts["would_delete"] == 1
    [deleted] = [planned for planned in whole.tables[0].planned if planned.action == "would_delete"]
    assert (deleted.key, deleted.target_key) == ("saiu@example.com", str(gone["Id"]))
    linked(table, target, Email="saiu2@example.com", Name="Saiu 2", CreditLimit=1)
    held = dry_run(integration, limit=100)  # two deletes pass the threshold of one: held for approval
    assert held.tables[0].counts["would_hold"] == 2
    assert len(target.contacts()) == 2 and not any(r.method == "DELETE" for r in target.received)


def test_a_table_that_writes_in_flight_or_in_batches_sends_nothing_either(integration, systems):
    source, target = systems
    Connection.objects.filter(pk=integration.crm_connection_id).update(max_in_flight=8)
    integration.tables.update(batch_kind=BatchKind.JSON_ARRAY)
    for number in range(4):
        source.add_contact(Email=f"lote{number}@example.com", Name=f"Lote {number}", Limit="2", Kind="customer")
    target.received.clear()

    report = dry_run(integration)

    assert report.tables[0].counts == {"would_create": 4}
    assert {request.method for request in target.received} <= {"GET"}
    assert not target.contacts()


def test_the_command_prints_the_report_and_fails_with_a_broken_source(integration, systems):
    source, _target = systems
    source.add_contact(Email="cmd@example.com", Name="Pelo Terminal", Limit="3.5", Kind="customer")
    out = io.StringIO()

    call_command("sync_now", "ERP ↔ CRM", "--dry-run", "--limit", "5", stdout=out)

    text = out.getvalue()
    assert "dry run" in text and "nothing written" in text
    assert "Contact cmd@example.com: would create" in text
    assert '{"Email": "cmd@example.com", "Name": "Pelo Terminal", "CreditLimit": 3.5}' in text
    assert not SyncRun.objects.exists()

    source.fail_next(5, status=401, body={"error": {"message": "Bad key"}})
    with pytest.raises(CommandError, match="The dry run stopped: Contact: "):
        call_command("sync_now", "ERP ↔ CRM", "--dry-run", stdout=io.StringIO())


def test_it_runs_it_from_the_integration_page_and_a_supervisor_cannot(integration, systems, login_as):
    source, target = systems
    source.add_contact(Email="tela@example.com", Name="Pela Tela", Limit="7.25", Kind="customer")
    url = reverse("admin:integration_dry_run", args=[integration.pk])
    client = login_as(IT)
    general = client.get(reverse("admin:integration", args=[integration.pk])).content.decode()
    assert url in general  # the button, next to Run now

    page = client.post(url, {"limit": "10"}, HTTP_ACCEPT_LANGUAGE="pt-br")

    assert page.status_code == 200
    html = lxml.html.fromstring(page.content.decode())
    [row] = html.xpath('//tr[@data-record="tela@example.com"]')
    assert row.get("data-action") == "would_create"
    assert "criaria" in row.text_content()
    assert json.loads(row.xpath(".//pre[@data-body]")[0].text) == {
        "Email": "tela@example.com",
        "Name": "Pela Tela",
        "CreditLimit": 7.25,
    }
    assert not target.contacts() and not SyncRun.objects.exists()
    assert client.post(url, {"limit": "0"}).status_code == 200  # refused in the form, with its message

    client.logout()
    assert login_as(SUPERVISOR).post(url, {"limit": "10"}).status_code == 403
