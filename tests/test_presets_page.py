"""New integration from a preset: the list of presets, one preset's form, what submitting it creates.

The presets folder is a temporary one (``PRESETS_DIR``) holding a small preset whose systems are a real
local REST server behind an API key, and a broken file; the real ``presets/`` folder is checked too. What
is checked is what IT sees and gets: the presets with what they bring (the broken one with its problem),
the inputs asked by system, the import's own message under the input it is about with nothing saved,
and on a right submit the integration, its connections (the key stored and working, never shown) and
tables, field by field.
"""

import html
from pathlib import Path

import lxml.html
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from sync.models import Connection, FieldMapping, Integration, SyncTable
from sync.presets import list_presets, read_preset

from .servers.rest_api import FakeRestApi
from .test_browser import CHROMIUM, CHROMIUM_ARGS

KEY = "preset-key-5b9d21"
PRESET = """\
# A small preset for the tests: a legacy system and a CRM, both REST behind a User-Key.
version: 1
name: Legacy ↔ CRM
description: Contacts of the legacy system become CRM contacts; orders come back.
integration_type: rest
erp_name: Legacy
crm_name: CRM
active: false
connections:
  erp:
    name: Legacy
    kind: rest
    base_url: https://YOUR-SERVER.legacy.example:8180
    auth_kind: api_key
    api_key_header: User-Key
    api_key: {env: LEGACY_API_KEY}
    pagination: odata
    records_path: value
    max_retries: 0
  crm:
    name: CRM
    kind: rest
    base_url: https://api.crm.example
    auth_kind: api_key
    api_key_header: User-Key
    api_key: {env: CRM_API_KEY}
    pagination: odata
    records_path: value
    max_retries: 0
tables:
  - name: Contact
    description: Legacy contacts
    order: 1
    source_object: /Contacts
    target_object: /Contacts
    update_object: /Contacts({id})
    record_key: Email
    mappings:
      - {source_path: Email, target_field: Email, transform: lower}
      - {source_path: Name, target_field: Name, transform: trim}
  - name: Order
    direction: crm_to_erp
    order: 2
    source_object: /Orders
    target_object: /Orders
    record_key: Id
    mappings:
      - {source_path: Id, target_field: CrmId}
"""
BROKEN = "version: 1\nname: Broken\nconnections: [\n"
DOCUMENTATION = "# Legacy ↔ CRM\n\nSet LEGACY_API_KEY <and> CRM_API_KEY.\n"
REAL_PRESETS = Path(settings.BASE_DIR) / "presets"


@pytest.fixture
def presets(settings, tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "legacy-crm.yaml").write_text(PRESET, encoding="utf-8")
    (folder / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    (folder / "notes.txt").write_text("not a preset", encoding="utf-8")
    docs = tmp_path / "docs" / "presets"
    docs.mkdir(parents=True)
    (docs / "legacy-crm.md").write_text(DOCUMENTATION, encoding="utf-8")
    settings.PRESETS_DIR = folder
    return folder


@pytest.fixture
def api():
    with FakeRestApi(auth="api_key", api_key=KEY) as server:
        server.add_contact(Email="ana@example.com", Name="Ana")
        yield server


def page_of(response):
    assert response.status_code == 200, response.content[:500]
    return lxml.html.fromstring(response.content.decode())


def words(element) -> str:
    return " ".join(element.text_content().split())


def form_url(slug="legacy-crm"):
    return reverse("admin:sync_integration_from_preset", args=[slug])


def right_values(api) -> dict:
    return {
        "name": "ACME: Legacy ↔ CRM",
        "erp_name": "ACME Legacy",
        "erp_base_url": api.url,
        "crm_name": "ACME CRM",
        "crm_base_url": api.url,
        "secret_LEGACY_API_KEY": KEY,
        "secret_CRM_API_KEY": KEY,
    }


def every_row_count() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label not in ("sessions.Session", "admin.LogEntry")
    }


def test_the_list_shows_each_preset_and_the_broken_one_with_its_problem(presets, login_as):
    client = login_as(IT)
    changelist = page_of(client.get(reverse("admin:sync_integration_changelist")))
    link = changelist.xpath('//a[@data-action="presets"]')[0]
    assert words(link) == "New integration from a preset"
    assert link.get("href") == reverse("admin:sync_integration_presets")

    page = page_of(client.get(reverse("admin:sync_integration_presets")))
    rows = {row.get("data-preset"): row for row in page.xpath("//tr[@data-preset]")}
    assert list(rows) == ["broken", "legacy-crm"]  # files by name; notes.txt is no preset

    good = rows["legacy-crm"]
    assert good.get("data-usable") == "yes"
    assert words(good.xpath('.//a[@data-action="use-preset"]')[0]) == "Legacy ↔ CRM"
    assert good.xpath('.//a[@data-action="use-preset"]')[0].get("href") == form_url()
    assert words(good.xpath(".//*[@data-description]")[0]) == (
        "Contacts of the legacy system become CRM contacts; orders come back."
    )
    assert words(good.xpath(".//*[@data-systems]")[0]) == "Legacy ↔ CRM"
    assert [words(item) for item in good.xpath(".//li[@data-table]")] == ["Contact (ERP → CRM)", "Order (CRM → ERP)"]
    documentation = good.xpath('.//a[@data-action="preset-documentation"]')[0].get("href")
    shown = page_of(client.get(documentation))
    assert shown.xpath("//pre[@data-documentation]")[0].text_content() == DOCUMENTATION

    broken = rows["broken"]
    assert broken.get("data-usable") == "no"
    assert words(broken.xpath(".//td")[0]) == "broken.yaml"
    problems = [words(item) for item in broken.xpath(".//ul[@data-problems]/li")]
    assert len(problems) == 1 and problems[0].startswith("broken.yaml, line 4, column 1: not valid YAML:")
    assert not broken.xpath('.//a[@data-action="use-preset"]')

    # The broken preset's own page says the same, and offers no form.
    page = page_of(client.get(form_url("broken")))
    assert [words(item) for item in page.xpath("//ul[@data-problems]/li")] == problems
    assert not page.xpath('//form[@id="preset-form"]')


def test_the_form_asks_for_the_preset_s_inputs_by_system(presets, login_as):
    page = page_of(login_as(IT).get(form_url()))
    groups = {}
    for fieldset in page.xpath('//form[@id="preset-form"]//fieldset'):
        inputs = fieldset.xpath(".//input")
        groups[words(fieldset.xpath("./h2")[0])] = [
            (element.get("name"), element.get("type"), element.get("value")) for element in inputs
        ]
    assert groups == {
        "Integration": [("name", "text", "Legacy ↔ CRM")],
        "ERP: Legacy": [
            ("erp_name", "text", "Legacy"),
            ("erp_base_url", "text", "https://YOUR-SERVER.legacy.example:8180"),
            ("secret_LEGACY_API_KEY", "password", None),
        ],
        "CRM: CRM": [
            ("crm_name", "text", "CRM"),
            ("crm_base_url", "text", "https://api.crm.example"),
            ("secret_CRM_API_KEY", "password", None),
        ],
    }
    labels = [words(label) for label in page.xpath('//form[@id="preset-form"]//label')]
    assert labels == ["Name:", "Name:", "Base URL:", "API key:", "Name:", "Base URL:", "API key:"]
    assert "The variable LEGACY_API_KEY of the file" in words(page)
    assert "The preset creates the integration inactive" in words(page)


def test_every_preset_in_the_presets_folder_loads_and_lists_its_inputs(settings):
    settings.PRESETS_DIR = REAL_PRESETS
    for preset in list_presets():
        assert preset.problems == [], preset.file.name
        keys = [item.key for item in preset.inputs]
        assert keys[:1] == ["name"] and "erp_name" in keys and "crm_name" in keys, preset.file.name


@pytest.mark.parametrize(
    "path",
    sorted(path for pattern in ("*.yaml", "*.yml") for path in REAL_PRESETS.glob(pattern)),
    ids=lambda path: path.name,
)
def test_a_real_preset_loads_and_lists_its_inputs(path):
    preset = read_preset(path)
    assert preset.problems == []
    assert preset.title and preset.erp_name and preset.crm_name
    groups = {item.group for item in preset.inputs}
    assert {"integration", "erp", "crm"} <= groups
    for item in preset.inputs:
        assert item.secret == bool(item.variable)
        assert item.secret or item.example  # every plain input shows the preset's own value


def test_a_bad_address_shows_the_import_s_message_and_saves_nothing(presets, api, login_as):
    client = login_as(IT)
    before = every_row_count()
    response = client.post(form_url(), {**right_values(api), "crm_base_url": "not an address"})
    page = page_of(response)
    assert every_row_count() == before
    row = page.xpath('//div[contains(@class, "field-crm_base_url")]')[0]
    assert [words(item) for item in row.xpath('.//ul[@class="errorlist"]/li')] == [
        'connections.crm.base_url: Base URL: "not an address" is refused: only http and https addresses can be called.'
    ]
    assert page.xpath('//input[@name="crm_base_url"]')[0].get("value") == "not an address"  # kept to be fixed
    assert KEY not in response.content.decode()  # the secrets typed are not sent back
    assert page.xpath('//input[@name="secret_CRM_API_KEY"]')[0].get("value") is None


def test_a_missing_secret_names_its_variable_and_saves_nothing(presets, api, login_as):
    client = login_as(IT)
    before = every_row_count()
    page = page_of(client.post(form_url(), {**right_values(api), "secret_LEGACY_API_KEY": ""}))
    assert every_row_count() == before
    row = page.xpath('//div[contains(@class, "field-secret_LEGACY_API_KEY")]')[0]
    assert [words(item) for item in row.xpath('.//ul[@class="errorlist"]/li')] == [
        "connections.erp.api_key: the environment variable LEGACY_API_KEY is not set (or is empty)"
    ]
    assert "nothing was saved" in words(page)


def test_a_right_submit_creates_the_integration_its_connections_and_tables(presets, api, login_as):
    client = login_as(IT)
    response = client.post(form_url(), right_values(api))
    integration = Integration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:sync_integration_change", args=[integration.pk])

    assert (integration.name, integration.erp_name, integration.crm_name) == ("ACME: Legacy ↔ CRM", "Legacy", "CRM")
    assert integration.active is False  # the preset says active: false
    assert integration.description == "Contacts of the legacy system become CRM contacts; orders come back."
    erp, crm = integration.erp_connection, integration.crm_connection
    for connection, name in ((erp, "ACME Legacy"), (crm, "ACME CRM")):
        assert (connection.name, connection.kind, connection.base_url) == (name, "rest", api.url)
        assert (connection.auth_kind, connection.api_key_header, connection.api_key) == ("api_key", "User-Key", KEY)
        assert (connection.pagination, connection.records_path) == ("odata", "value")
    tables = list(integration.tables.order_by("order"))
    assert [(t.name, t.direction, t.source_object, t.target_object, t.record_key) for t in tables] == [
        ("Contact", "erp_to_crm", "/Contacts", "/Contacts", "Email"),
        ("Order", "crm_to_erp", "/Orders", "/Orders", "Id"),
    ]
    assert [
        (m.source_path, m.target_field, m.transform)
        for m in FieldMapping.objects.filter(table=tables[0]).order_by("position")
    ] == [("Email", "Email", "lower"), ("Name", "Name", "trim")]

    page = client.get(response["Location"])
    text = html.unescape(page.content.decode())
    assert (
        'The integration "ACME: Legacy ↔ CRM" was created from the preset "Legacy ↔ CRM", with the connections '
        '"ACME Legacy" and "ACME CRM" and 2 tables.'
    ) in text
    assert "It is inactive, as the preset says" in text
    assert KEY not in text
    # The stored key is the one typed: the connection's test reads the local server with it.
    tested = client.post(reverse("admin:sync_connection_test", args=[erp.pk]), follow=True)
    assert "Connected: GET /Contacts" in html.unescape(tested.content.decode())
    assert KEY not in tested.content.decode()


def test_an_existing_integration_or_connection_is_never_changed(presets, api, login_as):
    client = login_as(IT)
    assert client.post(form_url(), right_values(api)).status_code == 302
    before = every_row_count()
    stored = Connection.objects.get(name="ACME CRM").base_url
    page = page_of(client.post(form_url(), {**right_values(api), "crm_base_url": "https://other.example"}))
    assert every_row_count() == before
    assert Connection.objects.get(name="ACME CRM").base_url == stored
    errors = {
        name: [words(item) for item in page.xpath(f'//div[contains(@class, "field-{name}")]//ul/li')]
        for name in ("name", "erp_name", "crm_name")
    }
    assert errors["name"] == [
        'name: an integration called "ACME: Legacy ↔ CRM" already exists: choose another name '
        "(a preset never changes one)"
    ]
    assert errors["crm_name"] == [
        'connections.crm.name: a connection called "ACME CRM" already exists: choose another name '
        "(a preset never changes a connection other integrations may use)"
    ]
    assert len(errors["erp_name"]) == 1


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_the_pages_refuse_who_is_not_it(presets, api, login_as, role):
    client = login_as(role)
    changelist = client.get(reverse("admin:sync_integration_changelist")).content.decode()
    assert 'data-action="presets"' not in changelist
    assert client.get(reverse("admin:sync_integration_presets")).status_code == 403
    assert client.get(form_url()).status_code == 403
    assert client.get(reverse("admin:sync_integration_preset_documentation", args=["legacy-crm"])).status_code == 403
    before = every_row_count()
    assert client.post(form_url(), right_values(api)).status_code == 403
    assert every_row_count() == before


def test_an_unknown_preset_or_a_path_out_of_the_folder_is_not_found(presets, login_as):
    client = login_as(IT)
    assert client.get(form_url("no-such-preset")).status_code == 404
    assert client.get(form_url("..%2Fsecrets")).status_code == 404
    (presets / "a-large.yaml").write_text("# " + "x" * (settings.CONFIG_IMPORT_MAX_BYTES + 1), encoding="utf-8")
    page = page_of(client.get(form_url("a-large")))
    assert "a-large.yaml is larger than 5.0 MB" in words(page)


# ---------------------------------------------------------------- in a browser

BROWSER_PASSWORD = "presets-test-Pa55word"


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_it_fills_a_preset_in_a_browser_and_lands_on_the_integration(presets, api, live_server, django_user_model):
    user = django_user_model.objects.create_user(username="it", password=BROWSER_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=IT))
    values = right_values(api)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1366, "height": 768})
            page.set_default_timeout(30_000)
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", "it")
            page.fill("#id_password", BROWSER_PASSWORD)
            page.click("input[type=submit]")
            page.goto(f"{live_server.url}{reverse('admin:sync_integration_changelist')}")
            page.click('a[data-action="presets"]')
            page.click('tr[data-preset="legacy-crm"] a[data-action="use-preset"]')
            for name, value in values.items():
                page.fill(f'input[name="{name}"]', value)
            page.click('input[data-action="create-from-preset"]')
            expect(page.locator(".messagelist")).to_contain_text('The integration "ACME: Legacy ↔ CRM" was created')
            expect(page.locator("#id_name")).to_have_value("ACME: Legacy ↔ CRM")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        finally:
            browser.close()
    assert list(SyncTable.objects.order_by("order").values_list("name", flat=True)) == ["Contact", "Order"]
