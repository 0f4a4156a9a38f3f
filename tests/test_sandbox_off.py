"""The demo is an app of its own, there only when SANDBOX_ENABLED is on.

Off (a production portal), ``manage.py migrate`` makes none of its tables, the admin lists none of its
models and no /sandbox/ URL exists. On (the test suite, ``make run``), all three are there.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.urls import get_resolver, resolve, reverse

ROOT = Path(__file__).resolve().parent.parent
DEMO_TABLES = {
    "sandbox_crmcontact",
    "sandbox_crmfield",
    "sandbox_crmorder",
    "sandbox_crmproduct",
    "sandbox_erpcontact",
    "sandbox_erpcustomer",
    "sandbox_erporder",
    "sandbox_erpproduct",
    "sandbox_sandboxknobs",
}
DEMO_PATHS = ("/sandbox/erp/soap", "/sandbox/crm/Contacts", "/sandbox/crm/Orders(1)")

# What a migrated portal holds, as JSON: its tables, the apps of its admin pages, its URL namespaces, the views
# the demo's paths reach, and the demo's permissions and commands.
PROBE_BODY = """
import json
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.management import get_commands
from django.db import connection
from django.urls import Resolver404, get_resolver, resolve


def view_of(path):
    try:
        return resolve(path).func.__module__
    except Resolver404:
        return None


print(json.dumps({
    "installed": apps.is_installed("demo"),
    "tables": sorted(connection.introspection.table_names()),
    "admin_apps": sorted({model._meta.app_label for model in admin.site._registry}),
    "namespaces": sorted(get_resolver().namespace_dict),
    "views": [view_of(path) for path in PATHS],
    "permissions": Permission.objects.filter(content_type__app_label="sandbox").count(),
    "commands": sorted(name for name in ("demo", "sandbox_seed") if name in get_commands()),
}))
"""
PROBE = f"PATHS = {DEMO_PATHS!r}\n{PROBE_BODY}"


def manage(folder: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
        "DEBUG": "1",  # the sandbox would be on by default: the variable alone switches it off
        "SANDBOX_ENABLED": "0",
        "PORTAL_DATA_DIR": str(folder),  # a fresh SQLite file there (no DATABASE_URL)
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=180
    )


# Two short Django processes (2-3 s): kept in the fast suite, it is what keeps the demo out of production.
def test_with_the_sandbox_off_the_demo_has_no_table_no_admin_page_and_no_url(tmp_path):
    migrated = manage(tmp_path, "migrate", "--no-input", "-v0")
    assert migrated.returncode == 0, migrated.stderr

    probe = manage(tmp_path, "shell", "--no-imports", "-v0", "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    portal = json.loads(probe.stdout.strip().splitlines()[-1])

    assert portal["installed"] is False
    assert {"sync_integration", "monitoring_syncrun", "django_migrations"} <= set(portal["tables"])
    assert [table for table in portal["tables"] if table.startswith("sandbox_")] == []
    assert {"sync", "monitoring"} <= set(portal["admin_apps"])
    assert "sandbox" not in portal["admin_apps"]
    assert "sandbox" not in portal["namespaces"]
    assert not any((module or "").startswith("demo") for module in portal["views"])
    assert portal["permissions"] == 0
    assert portal["commands"] == []


@pytest.mark.django_db
def test_with_the_sandbox_on_the_demo_has_its_tables_admin_pages_and_urls():
    assert apps.is_installed("demo")
    assert set(connection.introspection.table_names()) >= DEMO_TABLES
    assert {model._meta.db_table for model in admin.site._registry if model._meta.app_label == "sandbox"} == DEMO_TABLES
    assert "sandbox" in get_resolver().namespace_dict
    assert reverse("sandbox:erp-soap") == "/sandbox/erp/soap"
    assert {resolve(path).func.__module__ for path in DEMO_PATHS} == {"demo.views_erp", "demo.views_crm"}
