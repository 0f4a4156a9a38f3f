"""The demo ERP (SOAP) and demo CRM (REST), mounted under /sandbox/ where the demo is installed."""

from django.urls import path, re_path

from . import crm_webhooks, views_crm, views_erp
from .crm_schema import RESOURCES

app_name = "sandbox"

_RESOURCE = "(?P<resource>{})".format("|".join(RESOURCES))

urlpatterns = [
    path("erp/soap", views_erp.endpoint, name="erp-soap"),
    path("crm/Webhooks", crm_webhooks.webhooks, name="crm-webhooks"),
    path("crm/Webhooks@Actions", crm_webhooks.actions, name="crm-webhook-actions"),
    re_path(r"^crm/Webhooks\((?P<pk>[0-9]{1,18})\)$", crm_webhooks.webhook, name="crm-webhook"),
    re_path(rf"^crm/{_RESOURCE}$", views_crm.collection, name="crm-collection"),
    re_path(rf"^crm/{_RESOURCE}\((?P<pk>[0-9]{{1,18}})\)$", views_crm.item, name="crm-item"),
]
