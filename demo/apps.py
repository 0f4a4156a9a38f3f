from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo ERP and CRM; its label stays ``sandbox``, the name of its tables, permissions and URLs."""

    name = "demo"
    label = "sandbox"
    verbose_name = _("Demo ERP and CRM")
    # IT turns the demo systems' knobs (the README's way to show failures); accounts.roles grants these.
    role_permissions = {"IT": ["sandbox.view_sandboxknobs", "sandbox.change_sandboxknobs"]}

    def ready(self):
        from . import crm_deliveries

        crm_deliveries.connect()
