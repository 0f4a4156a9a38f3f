"""The demo CRM (Ploomes-shaped) as the preset tests use it: served by the live server, its custom fields in place."""

from demo import seed
from demo.choices import SandboxSystem
from demo.models import CrmContact, CrmField


def served_demo_crm(live_server, *, lead_cnpj: str = "") -> tuple[str, str]:
    """The demo CRM's address and User-Key, its default custom fields created and, given ``lead_cnpj``, one
    company the salespeople created with that CNPJ (Beta, the lead a sync must find rather than duplicate)."""
    knobs = seed.ensure_knobs()
    CrmField.ensure_defaults()
    if lead_cnpj:
        CrmContact.objects.create(type_id=1, name="Beta (lead)", cnpj=lead_cnpj)
    return f"{live_server.url}/sandbox/crm", knobs[SandboxSystem.CRM].api_key
