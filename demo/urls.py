"""The demo ERP (SOAP) and demo CRM (REST), mounted under /sandbox/ where the demo is installed."""

from django.urls import path, re_path

from . import views_crm, views_erp
from .crm_schema import RESOURCES

app_name = "sandbox"

_RESOURCE = "(?P<resource>{})".format("|".join(RESOURCES))

urlpatterns = [
    path("erp/soap", views_erp.endpoint, name="erp-soap"),
    re_path(rf"^crm/{_RESOURCE}$", views_crm.collection, name="crm-collection"),
    re_path(rf"^crm/{_RESOURCE}\((?P<pk>[0-9]{{1,18}})\)$", views_crm.item, name="crm-item"),
]
