"""The words of demo/integration.yaml that people read, marked for translation (the file is in English).

``makemessages`` reads Python, not YAML: these are the file's texts as written there, so that the
portal's catalogues keep them. A test checks that every word of the file is here.
"""

from django.utils.translation import gettext_noop

WORDS = (
    # The integration's description and business rule.
    gettext_noop("The demo ERP (SOAP) and demo CRM (Ploomes-shaped REST) served by this portal."),
    gettext_noop(
        "ERP → CRM: customers with approved credit that are active become CRM companies (matched by CNPJ with the "
        "companies already in the CRM; the ERP code is kept in the custom field contact_ERP_CODE); ERP contacts become "
        "people under their company (a person whose company is not synced waits for it, 30 days at most); active "
        "products with their prices as numbers. CRM → ERP: each CRM order is "
        "created in the ERP once, with the customer's ERP code and the products' ERP codes found through the links; "
        "an order whose customer or product is not synced yet waits for it (24 h at most). ERP → CRM: each order's "
        "ERP number and status go back to the CRM order's custom fields order_ERP_NUMBER and order_ERP_STATUS."
    ),
    # The tables' descriptions and their filter rules' names.
    gettext_noop("ERP customers with approved credit become CRM companies, their ERP code in a custom field"),
    gettext_noop("approved credit"),
    gettext_noop("active customers"),
    gettext_noop("ERP contacts become CRM people, each under its company"),
    gettext_noop("Active ERP products and their prices"),
    gettext_noop("active products"),
    gettext_noop("CRM orders are created in the ERP once, with the ERP's customer code and SKUs"),
    gettext_noop("The ERP's number and status of each order go back to the CRM order, one order at a time"),
)
