"""What each role sees and does, in a real headless Chromium against a whole running portal.

The portal runs as it does for `make run`: web server, one django-q2 cluster, the demo ERP and CRM.
"""

import shutil
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect, sync_playwright

from .cluster_harness import Portal
from .processes import wait_until

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
DEMO = "Demo ERP ↔ Demo CRM"
PASSWORD = "browser-test-Pa55word"
STATUS_WORDS = {
    "Healthy", "Running", "Late", "Failing", "Needs attention", "Alert", "Paused", "Never run", "Not configured"
}  # fmt: skip

USERS = """
from django.contrib.auth.models import Group, User
for username, role in (("supervisor", "Supervisor"), ("it", "IT"), ("onboarding", "Onboarding")):
    user = User.objects.create_user(username=username, password=PARAMS["password"], is_staff=True)
    user.groups.add(Group.objects.get(name=role))
result(True)
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    with Portal(tmp_path_factory.mktemp("browser")) as portal:
        portal.serve()
        portal.script(USERS, password=PASSWORD)
        portal.start_cluster("workers")
        # the demo is due at once: wait for its first scheduled run to end
        wait_until(
            lambda: portal.value("select count(*) from monitoring_syncrun where status not in ('queued', 'running')"),
            timeout=120,
            interval=0.5,
            message="the demo's first run",
        )
        yield portal


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def login(portal, browser):
    contexts = []

    def log_in(username):
        context = browser.new_context(accept_downloads=True, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{portal.origin}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text(username)
        return page

    yield log_in
    for context in contexts:
        context.close()


def demo_row(page):
    return page.locator("tr[data-integration]", has_text=DEMO)


def test_the_supervisor_sees_the_integrations_and_no_action_buttons(login):
    page = login("supervisor")
    row = demo_row(page)
    expect(row).to_be_visible()
    status = row.locator('[data-field="status"]').inner_text().strip()
    assert status in STATUS_WORDS
    expect(row.locator('[data-field="last-success"]')).not_to_have_text("")
    assert page.locator('[data-action="run-now"]').count() == 0

    row.locator('[data-field="name"]').click()
    expect(page.locator("h1")).to_have_text(DEMO)
    expect(page.get_by_role("link", name="General information")).to_have_attribute("aria-current", "page")
    assert page.locator('[data-action="run-now"]').count() == 0
    assert page.locator('[data-field="max-time"]').count() == 0
    assert page.locator('[data-field="deployment-status"]').count() == 0


def test_the_dashboard_and_the_general_tab_say_the_same_status_and_reason(login, portal):
    page = login("supervisor")

    def both():
        page.goto(f"{portal.origin}/")
        row = demo_row(page)
        on_dashboard = (
            row.locator('[data-field="status"]').inner_text().strip(),
            row.locator('[data-field="reason"]').inner_text().strip(),
            row.locator('[data-field="last-success"]').inner_text().strip(),
        )
        row.locator('[data-field="name"]').click()
        expect(page.locator("h1")).to_have_text(DEMO)
        head = page.locator(".portal-integration-head")
        on_general = (
            head.locator(".portal-badge").inner_text().strip(),
            head.locator('[data-field="reason"]').inner_text().strip(),
            on_dashboard[2],
        )
        return on_dashboard, on_general

    on_dashboard, on_general = both()
    if "Running" in (on_dashboard[0], on_general[0]):  # a scheduled run started in between: look again once
        wait_until(
            lambda: not portal.value("select count(*) from monitoring_syncrun where status in ('queued', 'running')"),
            timeout=120,
            interval=0.5,
            message="the run to finish",
        )
        on_dashboard, on_general = both()
    assert on_dashboard == on_general
    assert on_dashboard[0] in STATUS_WORDS and on_dashboard[1]
    # The demo is green from its first run; its lead's order waits for its company, which the reason says.
    assert on_dashboard[0] == "Healthy", on_dashboard
    assert on_dashboard[1].startswith("Last success ")


def test_it_runs_an_integration_and_sees_it_finish_without_reloading(login, portal):
    page = login("it")
    finished_before = portal.value("select count(*) from monitoring_syncrun where finished_at is not null")
    row = demo_row(page)
    row.locator('[data-action="run-now"]').click()  # a POST; the dashboard comes back
    row = demo_row(page)
    expect(row).to_be_visible()
    page.evaluate("window.__sameDashboard = true")
    wait_until(
        lambda: portal.value("select count(*) from monitoring_syncrun where finished_at is not null") > finished_before,
        timeout=120,
        interval=0.5,
        message="the run to finish",
    )
    finished = portal.sql(
        "select status, finished_at from monitoring_syncrun where finished_at is not null order by id desc limit 1"
    )[0]
    # the row shows the finished run by itself (polling), on the very same page
    expect(row).not_to_have_attribute("data-status", "running", timeout=30_000)
    expect(row.locator('[data-field="status"]')).not_to_have_text("Running", timeout=30_000)
    assert page.evaluate("window.__sameDashboard") is True
    assert finished[0] in ("succeeded", "partial")


def test_the_onboarding_lead_downloads_the_history(login, tmp_path):
    page = login("onboarding")
    demo_row(page).locator('[data-field="name"]').click()
    page.get_by_role("link", name="History").click()
    form = page.locator("#history-form")
    expect(form).to_be_visible()
    for box in form.locator('input[name="tables"]').all():
        box.check()
    with page.expect_download() as download:
        form.locator('input[type="submit"]').click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".xlsx"

    workbook = openpyxl.load_workbook(path, read_only=True)
    names = workbook.sheetnames
    assert names[0] == "Summary"
    for table in ("Company", "Contact", "Product", "Order"):
        assert any(name.startswith(table) for name in names), names
    company = workbook[next(name for name in names if name.startswith("Company"))]
    rows = list(company.iter_rows(values_only=True))
    assert len(rows) > 2  # a header and the demo's record events and requests
    header = [str(cell).lower() for cell in rows[0] if cell]
    assert any("record key" in cell for cell in header) and any("time" in cell for cell in header)


OPEN_DELETES_ALERT = """
from monitoring.alerts import open_alert
from monitoring.choices import AlertKind
from monitoring.models import HeldDelete
from sync.models import SyncTable
table = SyncTable.objects.get(integration__name=PARAMS["integration"], name="Product")
HeldDelete.objects.create(table=table, source_key="P99999", target_key="99999")
alert, opened = open_alert(table.integration, AlertKind.DELETES_HELD, "1 delete held in Product", table=table)
result(alert.pk)
"""
RELEASE_DELETES = """
from django.utils import timezone
from monitoring.alerts import resolve_released_deletes
from monitoring.models import HeldDelete
HeldDelete.objects.filter(source_key="P99999").delete()
result(len(resolve_released_deletes(timezone.now())))
"""


def test_it_acknowledges_an_alert_from_the_dashboard_and_the_row_says_so(login, portal):
    page = login("it")
    row = demo_row(page)
    expect(row).to_be_visible()
    alert = portal.script(OPEN_DELETES_ALERT, integration=DEMO)
    try:
        # The refresh brings the alert and its control into the open page, no reload.
        control = row.locator('[data-action="acknowledge"]')
        expect(control).to_be_visible(timeout=30_000)
        expect(row.locator('[data-field="alerts"]')).to_have_text("1 open")
        control.locator("summary").click()
        control.get_by_label("Note (what is being done about it)").fill("Checking the product deletes")
        control.get_by_role("button", name="Acknowledge 1 alert").click()

        expect(page.locator(".messagelist")).to_contain_text(f"{DEMO}: 1 alert acknowledged.")
        row = demo_row(page)
        expect(row.locator('[data-field="alerts"]')).to_have_text("1 acknowledged")
        expect(row.locator('[data-action="acknowledge"]')).to_have_count(0)
        stored = portal.sql("select status, acknowledgement_note from monitoring_alert where id = ?", (alert,))
        assert stored == [("acknowledged", "Checking the product deletes")]
    finally:
        portal.script(RELEASE_DELETES)


CSP_WATCH = """
window.portalCspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.portalCspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline") + " at " +
    (event.sourceFile || document.location.pathname) + ":" + event.lineNumber);
});
"""


def test_no_screen_breaks_the_content_security_policy(portal, browser):
    """Every screen IT opens runs under a CSP without 'unsafe-inline', and nothing on it is refused."""
    ids = {
        "integration": portal.value("select min(id) from sync_integration"),
        "connection": portal.value("select min(id) from sync_connection"),
        "table": portal.value("select min(id) from sync_synctable"),
        "run": portal.value("select max(id) from monitoring_syncrun"),
    }
    screens = [
        "/",
        f"/integrations/{ids['integration']}/",
        f"/integrations/{ids['integration']}/history/",
        f"/integrations/{ids['integration']}/deletes/",
        f"/integrations/{ids['integration']}/queue/",
        f"/runs/{ids['run']}/",
        "/sync/integration/",
        f"/sync/integration/{ids['integration']}/change/",
        "/sync/connection/",
        f"/sync/connection/{ids['connection']}/change/",
        "/sync/connection/add/",
        f"/sync/synctable/{ids['table']}/change/",
        "/monitoring/syncrun/",
        "/monitoring/alert/",
        "/monitoring/recorderror/",
        "/django_q/schedule/",
        "/axes/accessattempt/",
        "/password_change/",
    ]
    context = browser.new_context(locale="en-US")
    context.add_init_script(CSP_WATCH)
    console = []
    try:
        page = context.new_page()
        page.on("console", lambda message: console.append(message.text) if "Content Security" in message.text else None)
        login_page = page.goto(f"{portal.origin}/login/")
        assert "unsafe-inline" not in login_page.headers["content-security-policy"]
        page.fill("#id_username", "it")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("it")
        refused = {}
        for path in screens:
            answer = page.goto(f"{portal.origin}{path}")
            assert answer.status == 200, path
            assert "script-src 'self'" in answer.headers["content-security-policy"], path
            page.wait_for_load_state("load")
            found = page.evaluate("window.portalCspViolations")
            if found:
                refused[path] = found
        # The language chooser works without an inline handler.
        page.goto(f"{portal.origin}/")
        page.select_option("#portal-language", "pt-br")
        expect(page.locator("#site-name")).to_contain_text("Portal de Integrações")
        page.select_option("#portal-language", "en")  # IT's choice is kept: back to English for the other tests
        expect(page.locator("#site-name")).to_contain_text("Integration Portal")
        assert refused == {} and console == [], (refused, console)
    finally:
        context.close()
