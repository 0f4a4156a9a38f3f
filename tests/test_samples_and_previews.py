"""Sample a table's source and preview its mapping, from the table's admin page.

The source and the target are real local REST servers. What is checked is what IT sees: the paths
with their examples and kinds (and that each path reads back its example), the mapping editor
offering them, for each record the rule that skips it in its words, a field's own message, the
record it waits for, or the create and update bodies with typed values; that nothing is written (no
row anywhere but the session, no cursor moved, no request to the target); that a supervisor is
refused; that a broken source says what broke; and the page in Portuguese.
"""

import json
from decimal import Decimal
from pathlib import Path

import lxml.html
import pytest
from django.apps import apps
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from accounts.roles import IT, SUPERVISOR
from sync.mapping import get_path
from sync.models import FieldMapping, RecordLink, SyncTable
from sync.samples import sampled_fields

from .builders import rest_to_rest, two_rest_apis
from .cluster_harness import Portal
from .processes import free_port
from .test_browser import CHROMIUM, CHROMIUM_ARGS

KEY = "sample-key-7c1e40"
CURSOR = "2024-01-05T00:00:00Z"
BROWSER_PASSWORD = "samples-test-Pa55word"


@pytest.fixture
def systems():
    with two_rest_apis(KEY) as both:
        yield both


@pytest.fixture
def table(db, systems):
    """The Contact table of "Legacy ↔ CRM": a rule, typed fields, a custom field, a lookup through Company."""
    source, target = systems
    integration = rest_to_rest(source, target, api_key=KEY, name="Legacy ↔ CRM", max_retries=0)
    company = SyncTable.objects.create(
        integration=integration, name="Company", order=1, source_object="/Companies", target_object="/Companies"
    )
    RecordLink.objects.create(table=company, source_key="C1", target_key="501", mapped_hash="synced before")
    contact = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        order=2,
        source_object="/Contacts",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Email",
        cursor_field="LastUpdateDate",
        incremental_filter="$filter=LastUpdateDate gt {cursor}",
        cursor_value=CURSOR,  # it has run before: the sample still reads from the beginning
        filter_rules=[{"name": "Only customers", "field": "Kind", "op": "eq", "value": "customer"}],
    )
    mappings = [
        ("Email", "Email", {}),
        ("Name", "Name", {"transform": "trim"}),
        ("Price", "Price", {"value_type": "decimal"}),
        ("Employees", "Employees", {"value_type": "integer"}),
        ("Address.City", "City", {}),
        ("Code", "OtherProperties[FieldKey=contact_ERP_CODE].StringValue", {}),
        ("CompanyCode", "CompanyId", {"transform": "lookup", "transform_options": {"table": "Company"}}),
        ("Origin", "Origin", {"send_on": "create"}),  # fixed at creation: never in an update
    ]
    for position, (source_path, target_field, options) in enumerate(mappings):
        FieldMapping.objects.create(
            table=contact, position=position, source_path=source_path, target_field=target_field, **options
        )
    source.add_contact(
        Email="ana@example.com",
        Name="  Ana Lima ",
        Kind="customer",
        Price="129.90",
        Employees="12",
        Address={"City": "Recife", "State": "PE"},
        Code="E-1",
        CompanyCode="C1",
        Origin="ERP",
        LastUpdateDate="2024-01-02T10:00:00Z",
        OtherProperties=[
            {"FieldKey": "contact_SEGMENT", "StringValue": "Retail"},
            {"FieldKey": "contact_SIZE", "IntegerValue": 40},
        ],
        Lines=[{"Sku": "P1", "Qty": 2}, {"Sku": "P2", "Qty": 1}],
        ApiToken="tok-91f3",  # a secret-looking field: never shown
        Notes=f"the CRM key is {KEY}",  # a connection's secret inside a value: never shown
    )
    source.add_contact(Email="bia@example.com", Name="Bia", Kind="customer", Price="abc", Employees="3", Origin="ERP")
    source.add_contact(Email="caio@example.com", Name="Caio", Kind="lead", Price="5", Employees="1")
    source.add_contact(
        Email="duda@example.com", Name="Duda", Kind="customer", Price="10", Employees="2", CompanyCode="C9"
    )
    return contact


def every_row_count() -> dict[str, int]:
    """How many rows each table holds, sessions left out (the sample keeps its paths in the user's session)."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label != "sessions.Session"
    }


def post(client, name, table, **headers):
    return client.post(reverse(f"admin:sync_synctable_{name}", args=[table.pk]), headers=headers)


def page_of(response):
    assert response.status_code == 200
    return lxml.html.fromstring(response.content.decode())


def text(element) -> str:
    return " ".join(element.text_content().split())


def paths_shown(page) -> dict[str, list[str]]:
    rows = page.xpath("//tr[@data-path]")
    return {row.get("data-path"): [text(cell) for cell in row.xpath("./td")[1:]] for row in rows}


def previews_shown(page) -> dict[str, dict]:
    shown = {}
    for section in page.xpath("//section[@data-record]"):
        bodies = {pre.get("data-body"): pre.text_content() for pre in section.xpath(".//pre[@data-body]")}
        shown[section.get("data-record")] = {
            "outcome": section.get("data-outcome"),
            "heading": text(section.xpath(".//h3")[0]),
            "message": " ".join(text(p) for p in section.xpath(".//p[@data-message]")),
            "errors": {li.get("data-field"): text(li) for li in section.xpath(".//li[@data-field]")},
            "bodies": bodies,
        }
    return shown


def body(shown: str) -> dict:
    return json.loads(shown, parse_float=Decimal)


def test_the_sample_lists_the_source_paths_with_examples(table, systems, login_as):
    source, target = systems
    client = login_as(IT)
    before = every_row_count()

    page = page_of(post(client, "sample", table))

    paths = paths_shown(page)
    assert paths["Email"] == ['"ana@example.com"', "text", "4 / 4"]
    assert paths["Id"] == ["1", "number", "4 / 4"]
    assert paths["Address.City"] == ['"Recife"', "text", "1 / 4"]
    assert paths["CompanyCode"] == ['"C1"', "text", "2 / 4"]
    # A list of objects told apart by a "…Key" field: each custom field by its key, and every item.
    assert paths["OtherProperties[FieldKey=contact_SEGMENT].StringValue"] == ['"Retail"', "text", "1 / 4"]
    assert paths["OtherProperties[FieldKey=contact_SIZE].IntegerValue"] == ["40", "number", "1 / 4"]
    assert paths["OtherProperties[].FieldKey"] == ['"contact_SEGMENT"', "text", "1 / 4"]
    assert paths["Lines[].Sku"] == ['"P1"', "text", "1 / 4"]
    assert paths["Lines[].Qty"] == ["2", "number", "1 / 4"]
    # Secrets: a secret-looking field and a connection's secret are masked.
    assert paths["ApiToken"][0] == '"[redacted]"'
    assert paths["Notes"][0] == '"the CRM key is [redacted]"'
    assert KEY not in page.text_content() and "tok-91f3" not in page.text_content()
    assert text(page.xpath("//h2")[0]) == "4 records read"

    # One read of the source's first page, without the cursor; nothing sent to the target, nothing stored.
    [read] = source.requests_to("/Contacts")
    assert read.method == "GET" and read.query["$top"] == "10" and "$filter" not in read.query
    assert target.received == []
    assert every_row_count() == before
    table.refresh_from_db()
    assert table.cursor_value == CURSOR


def test_each_path_reads_back_its_example():
    records = [
        {
            "Id": 7,
            "Address": {"City": "Recife", "Geo": {"Lat": -8.05}},
            "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "E-7"}],
            "Tags": ["a", "b"],
            "Empty": None,
        }
    ]
    fields = {field.path: field for field in sampled_fields(records)}

    assert sorted(fields) == [
        "Address.City",
        "Address.Geo.Lat",
        "Empty",
        "Id",
        "OtherProperties[FieldKey=contact_ERP_CODE].StringValue",
        "OtherProperties[].FieldKey",
        "OtherProperties[].StringValue",
        "Tags",
    ]
    for path, field in fields.items():
        if "[]" not in path:
            assert json.loads(field.example) == get_path(records[0], path)


def test_the_mapping_editor_offers_the_sampled_paths(table, login_as):
    client = login_as(IT)
    change = reverse("admin:sync_synctable_change", args=[table.pk])
    assert lxml.html.fromstring(client.get(change).content).xpath("//datalist/option") == []

    post(client, "sample", table)

    page = lxml.html.fromstring(client.get(change).content.decode())
    [datalist] = page.xpath("//datalist")
    offered = [option.get("value") for option in datalist.xpath("./option")]
    assert {"Email", "Address.City", "Lines[].Sku", "OtherProperties[FieldKey=contact_SEGMENT].StringValue"} <= set(
        offered
    )
    inputs = page.xpath('//input[starts-with(@name, "mappings-") and contains(@name, "-source_path")]')
    assert inputs and all(field.get("list") == datalist.get("id") for field in inputs)


def test_the_preview_shows_what_a_sync_would_do_with_each_record(table, systems, login_as):
    source, target = systems
    client = login_as(IT)
    before = every_row_count()

    page = page_of(post(client, "preview", table))

    previews = previews_shown(page)
    assert list(previews) == ["ana@example.com", "bia@example.com", "caio@example.com", "duda@example.com"]

    ana = previews["ana@example.com"]
    assert ana["outcome"] == "create"
    assert ana["message"] == (  # the table matches existing records (by where its key is mapped) before creating
        "Not linked yet: it would be looked for in the target by Email, updated when found, "
        "else created with the create body."
    )
    created = body(ana["bodies"]["create"])
    assert created == {
        "Email": "ana@example.com",
        "Name": "Ana Lima",
        "Price": Decimal("129.90"),
        "Employees": 12,
        "City": "Recife",
        "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "E-1"}],
        "CompanyId": "501",  # looked up through the Company table's links
        "Origin": "ERP",
    }
    assert '"Price": 129.90' in ana["bodies"]["create"]  # a number with its digits, not text
    assert isinstance(created["Employees"], int)
    updated = body(ana["bodies"]["update"])
    assert updated == {name: value for name, value in created.items() if name != "Origin"}  # fixed at creation
    assert KEY not in ana["bodies"]["source"] and "[redacted]" in ana["bodies"]["source"]

    bia = previews["bia@example.com"]
    assert (bia["outcome"], bia["errors"], bia["bodies"].keys()) == (
        "fails",
        {"Price": 'Price: "abc" is not a number'},
        {"source"},
    )
    caio = previews["caio@example.com"]
    assert caio["outcome"] == "skipped"
    assert caio["message"] == 'skipped by the rule "Only customers": Kind is "lead"'
    duda = previews["duda@example.com"]
    assert (duda["outcome"], duda["message"]) == ("waits", "waiting for Company C9")

    assert target.received == []
    assert len(source.requests_to("/Contacts")) == 1
    assert every_row_count() == before
    table.refresh_from_db()
    assert table.cursor_value == CURSOR


def test_a_linked_record_previews_its_update(table, login_as):
    RecordLink.objects.create(table=table, source_key="ana@example.com", target_key="88", mapped_hash="older values")

    ana = previews_shown(page_of(post(login_as(IT), "preview", table)))["ana@example.com"]

    assert ana["outcome"] == "update"
    assert ana["message"] == "Linked to 88 in the target: the update body would be sent."
    assert "Origin" not in body(ana["bodies"]["update"])


def test_a_table_read_per_link_samples_the_records_of_the_first_links(table, systems, login_as):
    source, target = systems
    company = SyncTable.objects.get(name="Company")
    for key in ("1", "99", "3"):  # 99: linked, but the source has no such record
        RecordLink.objects.create(table=company, source_key=key, target_key=f"7{key}", mapped_hash="synced before")
    status = SyncTable.objects.create(
        integration=table.integration,
        name="Status",
        order=3,
        source_object="/Contacts({key})",
        read_per_link_of=company,
        target_object="/Contacts",
        record_key="Id",
    )

    page = page_of(post(login_as(IT), "sample", status))

    assert text(page.xpath("//h2")[0]) == "2 records read"
    assert paths_shown(page)["Email"] == ['"ana@example.com"', "text", "2 / 2"]
    assert "reads one record per link of Company" in page.text_content()
    asked = [request.path for request in source.received]
    assert asked == ["/Contacts(C1)", "/Contacts(1)", "/Contacts(99)", "/Contacts(3)"]  # in the order linked
    assert target.received == []


def test_a_supervisor_sees_none_of_it(table, systems, login_as):
    source, _target = systems
    client = login_as(SUPERVISOR)

    assert post(client, "sample", table).status_code == 403
    assert post(client, "preview", table).status_code == 403
    page = client.get(reverse("admin:sync_synctable_change", args=[table.pk])).content.decode()
    assert 'data-action="sample-source"' not in page and "<datalist" not in page
    assert source.received == []


def test_a_broken_source_says_what_broke(table, systems, login_as):
    source, _target = systems
    client = login_as(IT)
    connection = table.integration.erp_connection

    connection.api_key = "not-the-key"
    connection.save()
    refused = page_of(post(client, "preview", table))
    [note] = refused.xpath('//*[@data-error="source"]')
    assert text(note) == "Legacy answered 401 Unauthorized: check the API key."
    assert refused.xpath("//section[@data-record]") == []

    connection.api_key = KEY
    connection.save()
    source.malformed_next()
    [note] = page_of(post(client, "sample", table)).xpath('//*[@data-error="source"]')
    assert text(note).startswith("The response is not JSON:")

    connection.base_url = unreachable = f"http://127.0.0.1:{free_port()}"
    connection.save()
    [note] = page_of(post(client, "sample", table)).xpath('//*[@data-error="source"]')
    assert text(note) == f"Could not connect to {unreachable}/Contacts: check the address and that the server is up."
    assert "not-the-key" not in text(note) and KEY not in text(note)


def test_the_preview_in_portuguese(table, login_as):
    page = page_of(post(login_as(IT), "preview", table, accept_language="pt-br"))

    assert text(page.xpath("//h1")[0]) == "Prévia do mapeamento de Contact"
    assert text(page.xpath("//h2")[0]) == "4 registros lidos"
    previews = previews_shown(page)
    assert previews["ana@example.com"]["heading"] == "ana@example.com — seria criado"
    assert previews["bia@example.com"]["errors"] == {"Price": 'Price: "abc" não é um número'}
    assert previews["caio@example.com"]["message"] == 'ignorado pela regra "Only customers": Kind é "lead"'
    assert previews["duda@example.com"]["message"] == "aguardando Company C9"
    assert paths_shown(page)["Email"] == ['"ana@example.com"', "texto", "4 / 4"]


# ---------------------------------------------------------------- in a browser, on the demo's SOAP ERP

IT_USER = """
from django.contrib.auth.models import Group, User
user = User.objects.create_user(username="it", password=PARAMS["password"], is_staff=True)
user.groups.add(Group.objects.get(name="IT"))
result(True)
"""


@pytest.fixture(scope="module")
def demo_portal(tmp_path_factory):
    """The portal serving the demo ERP (SOAP) and CRM, its integration configured; no workers: nothing runs."""
    with Portal(tmp_path_factory.mktemp("samples")) as portal:
        portal.serve()
        portal.script(IT_USER, password=BROWSER_PASSWORD)
        yield portal


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_it_samples_the_soap_source_and_previews_a_mapping_with_an_error(demo_portal, chromium):
    """IT samples the demo's Company table, picks a sampled path, sees a deliberate error's message in the preview."""
    portal = demo_portal
    table_id = portal.value("select id from sync_synctable where name = 'Company'")
    crm_contacts = portal.value("select count(*) from sandbox_crmcontact")
    context = chromium.new_context(locale="en-US", viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{portal.origin}/login/")
        page.fill("#id_username", "it")
        page.fill("#id_password", BROWSER_PASSWORD)
        page.click("input[type=submit]")
        page.goto(f"{portal.origin}/sync/synctable/{table_id}/change/")

        page.click('[data-action="sample-source"]')
        expect(page.locator("h1")).to_have_text("Sample of Company")
        expect(page.locator('tr[data-path="credit_status"] td').nth(3)).to_have_text("10 / 10")
        expect(page.locator('tr[data-path="legal_name"] td').nth(2)).to_have_text("text")

        page.click("text=Back to the table")
        city = page.locator('input[name$="-source_path"][value="city"]')
        assert city.get_attribute("list") == "sampled-source-paths"
        assert "legal_name" in page.locator("datalist#sampled-source-paths option").evaluate_all(
            "options => options.map(option => option.value)"
        )
        # The deliberate error: the city sent as a decimal number.
        row = page.locator("tr.form-row", has=city)
        row.locator('select[name$="-value_type"]').select_option("decimal")
        page.click('input[name="_continue"]')
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

        page.click('[data-action="preview-mapping"]')
        expect(page.locator("h1")).to_have_text("Preview of the mapping of Company")
        failing = page.locator('section[data-outcome="fails"]').first
        expect(failing.locator('li[data-field="City"]')).to_contain_text("is not a number")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # nothing overflows the screen
        product = portal.value("select id from sync_synctable where name = 'Product'")
        page.goto(f"{portal.origin}/sync/synctable/{product}/change/")
        page.click('[data-action="preview-mapping"]')
        created = page.locator('section[data-outcome="create"] pre[data-body="create"]').first.inner_text()
        assert isinstance(body(created)["Price"], Decimal)  # an xsd:decimal of the ERP sent as a JSON number
    finally:
        context.close()

    assert portal.value("select count(*) from sync_recordlink") == 0
    assert portal.value("select count(*) from sync_stagedrecord") == 0
    assert portal.value("select count(*) from monitoring_requestlog") == 0
    assert portal.value("select count(*) from sandbox_crmcontact") == crm_contacts
    assert portal.value("select cursor_value from sync_synctable where id = ?", (table_id,)) == ""
