"""The configuration forms in a real headless Chromium: fields that follow the choices, rows instead of JSON,
and no page wider than a 1366-px screen."""

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from .cluster_harness import Portal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-forms-Pa55word"
USERS = """
from django.contrib.auth.models import Group, User
user = User.objects.create_user(username="it", password=PARAMS["password"], is_staff=True)
user.groups.add(Group.objects.get(name="IT"))
result(True)
"""
CSP_WATCH = """
window.portalCspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.portalCspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    with Portal(tmp_path_factory.mktemp("browser-forms")) as portal:
        portal.serve()
        portal.script(USERS, password=PASSWORD)
        yield portal


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def it_page(portal, browser):
    context = browser.new_context(locale="en-US", viewport={"width": 1366, "height": 768})
    context.add_init_script(CSP_WATCH)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{portal.origin}/login/")
        page.fill("#id_username", "it")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("it")
        yield page
        assert page.evaluate("window.portalCspViolations") == []
    finally:
        context.close()


def row(page, field):
    return page.locator(f".form-row.field-{field}")


def test_the_connection_form_shows_the_fields_of_the_chosen_kind_and_authentication(it_page, portal):
    page = it_page
    page.goto(f"{portal.origin}/sync/connection/add/")
    page.select_option("#id_kind", "rest")
    expect(row(page, "base_url")).to_be_visible()
    expect(row(page, "wsdl_url")).to_be_hidden()
    expect(page.locator("fieldset", has=page.locator("h2", has_text="SOAP"))).to_be_hidden()

    page.select_option("#id_kind", "soap")
    for field in ("wsdl_url", "wsdl_upload", "wsdl_document", "soap_service", "soap_port", "endpoint_url"):
        expect(row(page, field)).to_be_visible()
    expect(row(page, "base_url")).to_be_hidden()
    expect(row(page, "test_path")).to_be_hidden()
    expect(row(page, "pagination")).to_be_visible()  # reading applies to both kinds
    expect(page.locator("#id_auth_kind option[value=oauth2]")).to_be_disabled()  # SOAP has no OAuth2

    page.select_option("#id_kind", "rest")
    page.select_option("#id_auth_kind", "oauth2")
    # The API key holds what the token call's headers may name (Sankhya's gateway X-Token).
    for field in ("client_id", "client_secret", "oauth_token_url", "oauth_scope", "token_headers", "api_key"):
        expect(row(page, field)).to_be_visible()
    for field in ("username", "password", "token", "api_key_header"):
        expect(row(page, field)).to_be_hidden()

    page.select_option("#id_auth_kind", "none")
    expect(row(page, "client_id")).to_be_hidden()
    expect(row(page, "auth_kind")).to_be_visible()


def test_the_integration_form_shows_only_the_chosen_schedule_s_input(it_page, portal):
    page = it_page
    integration = portal.value("select min(id) from sync_integration")
    page.goto(f"{portal.origin}/sync/integration/{integration}/change/")
    page.select_option("#id_schedule_kind", "cron")
    expect(row(page, "schedule_cron")).to_be_visible()
    expect(row(page, "schedule_interval_minutes")).to_be_hidden()
    expect(row(page, "schedule_daily_time")).to_be_hidden()
    page.select_option("#id_schedule_kind", "interval")
    expect(row(page, "schedule_interval_minutes")).to_be_visible()
    expect(row(page, "schedule_cron")).to_be_hidden()


def test_two_filter_rules_added_as_rows_are_saved(it_page, portal):
    page = it_page
    table = portal.value("select min(id) from sync_synctable")
    page.goto(f"{portal.origin}/sync/synctable/{table}/change/")
    editor = page.locator(".field-filter_rules [data-rows-editor]")
    editor.locator("input[type=radio][value=rows]").check()
    rows = editor.locator("tr[data-row]")
    for _ in range(rows.count() - 1):  # start from one blank row
        editor.locator("[data-remove-row]").first.click()
    first = rows.nth(0)
    first.locator("[data-key=name]").fill("approved credit")
    first.locator("[data-key=field]").fill("CreditStatus")
    first.locator("[data-key=op]").select_option("eq")
    first.locator("[data-key=value]").fill("A")
    editor.locator("[data-add-row]").click()
    second = rows.nth(1)
    second.locator("[data-key=field]").fill("Email")
    second.locator("[data-key=op]").select_option("not_empty")
    expect(second.locator("[data-key=value]")).to_be_hidden()

    editor.locator("input[type=radio][value=json]").check()  # the same rules, as JSON
    expected = [
        {"name": "approved credit", "field": "CreditStatus", "op": "eq", "value": "A"},
        {"field": "Email", "op": "not_empty"},
    ]
    assert json.loads(editor.locator("textarea").input_value()) == expected
    editor.locator("input[type=radio][value=rows]").check()
    expect(rows).to_have_count(3)  # the two rules and a blank row

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    stored = portal.value("select filter_rules from sync_synctable where id = ?", (table,))
    assert stored_json(stored) == expected


def test_json_typed_in_the_json_view_shows_as_rows(it_page, portal):
    page = it_page
    table = portal.value("select min(id) from sync_synctable")
    page.goto(f"{portal.origin}/sync/synctable/{table}/change/")
    editor = page.locator(".field-read_arguments [data-rows-editor]")
    editor.locator("input[type=radio][value=json]").check()
    editor.locator("textarea").fill('{"setSize": "{page_size}", "active": true}')
    editor.locator("input[type=radio][value=rows]").check()
    keys = editor.locator("[data-key=key]")
    values = editor.locator("[data-key=value]")
    assert [keys.nth(i).input_value() for i in range(2)] == ["setSize", "active"]
    assert [values.nth(i).input_value() for i in range(2)] == ["{page_size}", "true"]

    editor.locator("input[type=radio][value=json]").check()
    editor.locator("textarea").fill("{'a': 1}")  # rows cannot show it: the JSON view stays, saying why
    editor.locator("input[type=radio][value=rows]").click()
    expect(editor.locator("[data-problem]")).to_have_text("This JSON cannot be shown as rows; edit it as JSON.")
    expect(editor.locator("input[type=radio][value=json]")).to_be_checked()
    page.click("input[name=_continue]")
    expect(page.locator(".errorlist")).to_contain_text(
        'This is not valid JSON (line 1, column 2): write names and texts in double quotes ("name"), not single quotes.'
    )


def test_no_configuration_page_overflows_a_1366_px_screen(it_page, portal):
    page = it_page
    ids = {
        "integration": portal.value("select min(id) from sync_integration"),
        "connection": portal.value("select min(id) from sync_connection"),
        "table": portal.value("select min(id) from sync_synctable"),
    }
    paths = [
        "/sync/connection/add/",
        f"/sync/connection/{ids['connection']}/change/",
        "/sync/integration/add/",
        f"/sync/integration/{ids['integration']}/change/",
        "/sync/synctable/add/",
        f"/sync/synctable/{ids['table']}/change/",
        f"/integrations/{ids['integration']}/",
    ]
    wide = {}
    for path in paths:
        page.goto(f"{portal.origin}{path}")
        page.wait_for_load_state("load")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > 1366:
            wide[path] = width
    assert wide == {}


def test_a_mapping_added_on_the_page_keeps_its_transform_option_rows_and_goes_last(it_page, portal):
    page = it_page
    table = portal.value("select min(id) from sync_synctable")
    last = portal.value("select max(position) from sync_fieldmapping where table_id = ?", (table,))
    page.goto(f"{portal.origin}/sync/synctable/{table}/change/")
    shown = page.locator("#mappings-group tr.form-row:not(.empty-form)").count()
    page.locator("#mappings-group .add-row a").click()
    added = page.locator(f"#mappings-{shown}")
    added.locator(f"#id_mappings-{shown}-source_path").fill("state")
    added.locator(f"#id_mappings-{shown}-target_field").fill("StateName")
    added.locator(f"#id_mappings-{shown}-transform").select_option("value_map")
    editor = added.locator("[data-rows-editor]")
    editor.locator("[data-key=key]").first.fill("map")
    editor.locator("[data-key=value]").first.fill('{"SP": "São Paulo"}')
    editor.locator("[data-add-row]").click()
    editor.locator("[data-key=key]").nth(1).fill("default")
    editor.locator("[data-key=value]").nth(1).fill("Other")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    position, options = portal.sql(
        "select position, transform_options from sync_fieldmapping where table_id = ? and target_field = 'StateName'",
        (table,),
    )[0]
    assert position == last + 1
    assert stored_json(options) == {"map": {"SP": "São Paulo"}, "default": "Other"}


def stored_json(value):
    """A JSON column as the database hands it back: text on SQLite, already decoded on PostgreSQL (jsonb)."""
    return json.loads(value) if isinstance(value, str) else value
