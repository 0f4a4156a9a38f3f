"""An IT user builds a Sankhya → Ploomes integration from its preset in Chromium, and runs it.

The portal runs as people run it (``runserver`` and, for the real run, a ``qcluster``); the ERP is
:class:`~tests.servers.sankhya_api.FakeSankhya` (session login, ``loadRecords`` rows named by their metadata) and the
CRM is the portal's own Ploomes-shaped demo CRM. In the browser: the preset's form, a sample of the source, a
mapping made wrong on purpose whose preview names the field and its error, the fix, a dry run that writes
nothing and moves no cursor, then *Run now*. What is checked is what IT and the customer notice: the pages'
words, and the companies the CRM holds afterwards, field by field.
"""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from demo.documents import format_cnpj, make_cnpj

from .cluster_harness import Portal
from .processes import wait_until
from .servers.sankhya_api import FakeSankhya
from .test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]

PASSWORD = "ploomes-preset-Pa55word"
NAME = "ACME: Sankhya → Ploomes"
ACME_CNPJ = make_cnpj(81234567)  # numbers the demo CRM's own companies do not use
ORION_CNPJ = make_cnpj(87654321)

IT_USER = """
from django.contrib.auth.models import Group, User
user = User.objects.create_user(username="it", password=PARAMS["password"], is_staff=True)
user.groups.add(Group.objects.get(name="IT"))
result(True)
"""
# The demo integration stays off: the cluster started for the real run runs only what this test asks.
DEMO_OFF = """
from sync.models import Integration
result(Integration.objects.exclude(name=PARAMS["name"]).update(active=False))
"""


@pytest.fixture
def sankhya():
    with FakeSankhya() as server:
        server.add_partner(
            CODPARC=1, NOMEPARC=" ACME Ferragens ", RAZAOSOCIAL="ACME FERRAGENS LTDA", TIPPESSOA="J",
            CGC_CPF=format_cnpj(ACME_CNPJ), EMAIL="Compras@ACME.example", ATIVO="S", CLIENTE="S",
        )  # fmt: skip
        server.add_partner(
            CODPARC=2, NOMEPARC="Órion Distribuidora", RAZAOSOCIAL="ORION DISTRIBUIDORA SA", TIPPESSOA="J",
            CGC_CPF=ORION_CNPJ, ATIVO="S", CLIENTE="S",
        )  # fmt: skip
        server.add_partner(CODPARC=3, NOMEPARC="Fornecedor", TIPPESSOA="J", ATIVO="S", CLIENTE="N")
        server.add_product(CODPROD=10, DESCRPROD="Parafuso sextavado 8mm", CODVOL="UN", ATIVO="S")
        yield server


@pytest.fixture
def portal(tmp_path):
    with Portal(tmp_path) as running:
        running.serve()
        running.script(IT_USER, password=PASSWORD)
        yield running


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def from_json(value):
    """A JSON column as SQLite (text) or PostgreSQL (decoded) hands it over."""
    return json.loads(value) if isinstance(value, str) else value


def crm_companies(portal) -> dict[str, dict]:
    rows = portal.sql(
        "select cnpj, type_id, name, legal_name, email, other_properties from sandbox_crmcontact where cnpj in (?, ?)",
        (ACME_CNPJ, ORION_CNPJ),
    )
    return {
        cnpj: {"TypeId": kind, "Name": name, "LegalName": legal, "Email": email, "OtherProperties": from_json(other)}
        for cnpj, kind, name, legal, email, other in rows
    }


def everything_the_crm_holds(portal) -> list:
    return portal.sql("select id, name, updated_at from sandbox_crmcontact order by id") + portal.sql(
        "select id, name from sandbox_crmproduct order by id"
    )


def test_it_builds_the_integration_from_the_preset_previews_dry_runs_and_runs_it(portal, sankhya, browser):
    user_key = portal.value("select api_key from sandbox_sandboxknobs where system = 'crm'")
    context = browser.new_context(locale="en-US", viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{portal.origin}/login/")
        page.fill("#id_username", "it")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")

        # The preset, filled in as its form asks.
        page.goto(f"{portal.origin}/sync/integration/")
        page.click('a[data-action="presets"]')
        page.click('tr[data-preset="sankhya-ploomes"] a[data-action="use-preset"]')
        fields = {
            "name": NAME,
            "erp_name": "Sankhya ACME",
            "erp_base_url": sankhya.url,
            "erp_username": sankhya.user,
            "secret_SANKHYA_PASSWORD": sankhya.password,
            "crm_name": "Ploomes ACME",
            "crm_base_url": f"{portal.origin}/sandbox/crm",
            "secret_PLOOMES_USER_KEY": user_key,
        }
        for name, value in fields.items():
            page.fill(f'input[name="{name}"]', value)
        page.click('input[data-action="create-from-preset"]')
        expect(page.locator(".messagelist")).to_contain_text(f'The integration "{NAME}" was created')
        integration = portal.value("select id from sync_integration where name = ?", (NAME,))
        company = portal.value(
            "select id from sync_synctable where integration_id = ? and name = 'Company'", (integration,)
        )
        portal.script(DEMO_OFF, name=NAME)

        # Sample the source: Sankhya's columns, named by its metadata, with their examples.
        page.goto(f"{portal.origin}/sync/synctable/{company}/change/")
        page.click('[data-action="sample-source"]')
        expect(page.locator("h1")).to_have_text("Sample of Company")
        expect(page.locator('tr[data-path="RAZAOSOCIAL"]')).to_contain_text("ACME FERRAGENS LTDA")
        expect(page.locator('tr[data-path="CGC_CPF"]')).to_contain_text(format_cnpj(ACME_CNPJ))
        page.click("text=Back to the table")

        # The deliberate error: the company's name sent as a decimal number.
        name_row = page.locator("tr.form-row", has=page.locator('input[name$="-source_path"][value="NOMEPARC"]'))
        name_row.locator('select[name$="-value_type"]').select_option("decimal")
        page.click('input[name="_continue"]')
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
        page.click('[data-action="preview-mapping"]')
        expect(page.locator("h1")).to_have_text("Preview of the mapping of Company")
        expect(page.locator('section[data-outcome="fails"]').first.locator('li[data-field="Name"]')).to_contain_text(
            "is not a number"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366

        # The fix, and the preview now shows the body a create would send.
        page.goto(f"{portal.origin}/sync/synctable/{company}/change/")
        name_row.locator('select[name$="-value_type"]').select_option("text")
        page.click('input[name="_continue"]')
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
        page.click('[data-action="preview-mapping"]')
        expect(page.locator('section[data-outcome="fails"]')).to_have_count(0)
        created = json.loads(page.locator('section[data-outcome="create"] pre[data-body="create"]').first.inner_text())
        assert (created["Name"], created["TypeId"], created["CNPJ"]) == ("ACME Ferragens", 1, ACME_CNPJ)

        # The dry run says what the run would do, and writes nothing.
        crm_before = everything_the_crm_holds(portal)
        page.goto(f"{portal.origin}/sync/integration/{integration}/change/")
        page.click('a[data-action="monitoring"]')
        page.click('a[data-action="dry-run"]')
        page.click('button[data-action="dry-run"]')
        would = page.locator('section[data-table="Company"] tr[data-action="would_create"]')
        expect(would).to_have_count(2)
        expect(page.locator('section[data-table="Company"] tr[data-record="1"]')).to_contain_text("ACME FERRAGENS LTDA")
        expect(page.locator('section[data-table="Product"] tr[data-action="would_create"]')).to_have_count(1)
        assert everything_the_crm_holds(portal) == crm_before
        assert portal.sql(
            "select name, cursor_value from sync_synctable where integration_id = ? order by name", (integration,)
        ) == [
            ("Company", ""),
            ("Person", ""),
            ("Product", ""),
        ]
        assert portal.value("select count(*) from monitoring_syncrun where integration_id = ?", (integration,)) == 0

        # Run now, with a worker: the CRM holds the two customers, field by field.
        portal.start_cluster("cluster")
        page.goto(f"{portal.origin}/sync/integration/{integration}/change/")
        page.click('a[data-action="monitoring"]')
        page.click('button[data-action="run-now"]')
        finished = (
            "select status from monitoring_syncrun where integration_id = ? and status not in ('queued', 'running')"
        )
        status = wait_until(lambda: portal.value(finished, (integration,)), timeout=120, message="the run to finish")
        assert status == "succeeded", portal.sql("select reason, payload from monitoring_recorderror")
        page.reload()
        expect(page.locator("body")).to_contain_text("Healthy")
    finally:
        context.close()

    assert crm_companies(portal) == {
        ACME_CNPJ: {
            "TypeId": 1,
            "Name": "ACME Ferragens",
            "LegalName": "ACME FERRAGENS LTDA",
            "Email": "compras@acme.example",
            "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "1"}],
        },
        ORION_CNPJ: {
            "TypeId": 1,
            "Name": "Órion Distribuidora",
            "LegalName": "ORION DISTRIBUIDORA SA",
            "Email": "",
            "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "2"}],
        },
    }
    assert portal.value("select name from sandbox_crmproduct where code = '10'") == "Parafuso sextavado 8mm"
    assert portal.value("select cursor_value from sync_synctable where id = ?", (company,)) != ""
