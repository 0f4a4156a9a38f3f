"""The integration "Demo ERP ↔ Demo CRM": demo/integration.yaml, imported like any customer's file.

Company, Contact and Product flow ERP → CRM; Order flows CRM → ERP (created in the ERP once); Order status
flows back ERP → CRM (updating the CRM's orders only). After each run, Company counts its records in the CRM
against the portal's links.

Before the import, three values known only when the demo is set up replace the file's: its URLs, written for
the portal at :data:`FILE_ORIGIN`, move to the portal's actual origin; the schedule's interval; and the words
people read (description, business rule, tables' descriptions, filter rules' names), translated into the
language the demo is set up in, as an IT person would have typed them. Names stay names. The demo systems'
credentials reach the import as the environment variables the file references.
"""

import copy
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from sync.config_io import export_text, import_text
from sync.config_io.text import to_yaml
from sync.models import Integration, SyncTable

from .choices import SandboxSystem
from .seed import ensure_knobs

FILE = Path(__file__).with_name("integration.yaml")
FILE_ORIGIN = "http://127.0.0.1:8000"  # where the file's URLs point: the portal as `make run` serves it
URL_KEYS = ("base_url", "wsdl_url")

DOCUMENT = yaml.safe_load(FILE.read_text(encoding="utf-8"))
DEMO_NAME = DOCUMENT["name"]
TABLES = DOCUMENT["tables"]  # each as the file writes it: to build other integrations from the demo's tables


def configure_demo(origin: str, *, schedule_minutes: int = 5, language: str | None = None) -> Integration:
    """Import the demo integration (connections, tables, mappings) for the portal at ``origin``; returns it.

    Its words are written in ``language`` (default ``settings.LANGUAGE_CODE``); configuring it again in
    another language rewrites them in that one. Raises ``ConfigError`` if the import refuses the file.
    """
    with translation.override(language or settings.LANGUAGE_CODE), transaction.atomic():
        document = in_active_language(for_portal(DOCUMENT, origin.rstrip("/"), schedule_minutes))
        import_text(to_yaml(document), FILE.name, environ=credentials())
        return Integration.objects.get(name=document["name"])


def for_portal(document: dict, origin: str, schedule_minutes: int) -> dict:
    """A copy of ``document`` whose connections point at ``origin`` and whose schedule runs every N minutes."""
    document = copy.deepcopy(document)
    for connection in document["connections"].values():
        for key in URL_KEYS:
            url = connection.get(key, "")
            if url.startswith(FILE_ORIGIN + "/"):
                connection[key] = origin + url.removeprefix(FILE_ORIGIN)
    document["schedule"] = {**document["schedule"], "every_minutes": schedule_minutes}
    return document


def in_active_language(document: dict) -> dict:
    """A copy of ``document`` whose words (see :mod:`demo.words`) are in the active language."""
    document = copy.deepcopy(document)
    for key in ("description", "business_rule"):
        document[key] = _translated(document.get(key))
    for table in document["tables"]:
        table["description"] = _translated(table.get("description"))
        for rule in table.get("filter_rules", []):
            rule["name"] = _translated(rule["name"])
    return document


def _translated(text: str | None) -> str:
    return gettext(text) if text else ""  # gettext("") is the catalogue's header


def credentials() -> dict[str, str]:
    """The demo systems' credentials, by the names of the environment variables the file references."""
    knobs = ensure_knobs()
    return {
        "DEMO_ERP_PASSWORD": knobs[SandboxSystem.ERP].password,
        "DEMO_CRM_API_KEY": knobs[SandboxSystem.CRM].api_key,
    }


def configure_table(integration: Integration, order: int, table: dict) -> SyncTable:
    """Give ``integration`` the table ``table`` (as the file writes it) at ``order``, through the import.

    The integration is exported, the table added (or put in place of its namesake) and the whole imported
    again: its connections keep the secrets they have.
    """
    document = yaml.safe_load(export_text(integration.name).text)
    others = [existing for existing in document["tables"] if existing["name"] != table["name"]]
    document["tables"] = [*others, {**table, "order": order}]
    import_text(to_yaml(document), integration.name)
    return integration.tables.get(name=table["name"])
