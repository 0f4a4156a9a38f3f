"""Configures the integration "Demo ERP ↔ Demo CRM" against the demo systems served by the portal.

Company, Contact and Product flow ERP → CRM; Order flows CRM → ERP (created in the
ERP once); Order status flows back ERP → CRM (updating the CRM's orders only). After each
run, Company and Product count their records in the CRM against the portal's links.

The words people read in the portal (the description, the business rule, the tables'
descriptions, the filter rules' names) are stored as an IT person would have typed them, in
one language: the one the demo is set up in (``settings.LANGUAGE_CODE`` unless told).
Names stay names (the integration, its systems and tables are looked up by them).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from sync.choices import (
    AuthKind,
    ConnectionKind,
    DeletePolicy,
    DeploymentStatus,
    Direction,
    IntegrationType,
    Pagination,
    ScheduleKind,
    SendOn,
    ValueType,
    WriteMode,
)
from sync.models import Connection, FieldMapping, Integration, SyncTable

from .choices import SandboxSystem
from .seed import ensure_knobs

DEMO_NAME = "Demo ERP ↔ Demo CRM"
DESCRIPTION = _("The demo ERP (SOAP) and demo CRM (Ploomes-shaped REST) served by this portal.")
BUSINESS_RULE = _(
    "ERP → CRM: customers with approved credit that are active become CRM companies (matched by CNPJ with the "
    "companies already in the CRM; the ERP code is kept in the custom field contact_ERP_CODE); ERP contacts become "
    "people under their company (a person whose company is not synced waits for it, 30 days at most); active "
    "products with their prices as numbers. CRM → ERP: each CRM order is "
    "created in the ERP once, with the customer's ERP code and the products' ERP codes found through the links; "
    "an order whose customer or product is not synced yet waits for it (24 h at most). ERP → CRM: each order's "
    "ERP number and status go back to the CRM order's custom fields order_ERP_NUMBER and order_ERP_STATUS."
)
ERP_PAGING = {"page": "{page_token}", "page_size": "{page_size}"}
ERP_SINCE = '{"updated_since": "{cursor}"}'
CRM_SINCE = "$filter=LastUpdateDate gt {cursor}"

ERP_CODE = "OtherProperties[FieldKey=contact_ERP_CODE].StringValue"
ERP_CODE_SET = "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE')"

# Each table as the YAML import reads it; a mapping is (source, target, transform, options, extra settings).
TABLES = [
    {
        "name": "Company",
        "description": _("ERP customers with approved credit become CRM companies, their ERP code in a custom field"),
        "source_object": "ListCustomers",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Contacts",
        "update_object": "/Contacts({id})",
        "record_key": "code",
        "match_field": "CNPJ",  # companies the salespeople already have are linked by CNPJ, not created twice
        "update_changed_fields_only": True,
        # The CRM's companies that carry an ERP code: the portal's, not the salespeople's leads.
        "target_count_query": f"/Contacts?$filter=TypeId eq 1 and {ERP_CODE_SET}&$count=true&$top=0",
        "filter_rules": [
            {"name": _("approved credit"), "field": "credit_status", "op": "eq", "value": "approved"},
            {"name": _("active customers"), "field": "active", "op": "eq", "value": True},
        ],
        "mappings": [
            ("code", ERP_CODE, "", {}, {"value_type": ValueType.TEXT}),
            ("cnpj", "CNPJ", "digits", {}, {}),
            ("legal_name", "LegalName", "trim", {}, {}),
            ("trade_name", "Name", "trim", {}, {}),
            ("email", "Email", "lower", {}, {}),
            ("street_address", "StreetAddress", "trim", {}, {}),
            ("city", "City", "trim", {}, {}),
            ("state", "State", "upper", {}, {}),
            ("", "TypeId", "constant", {"value": 1}, {"send_on": SendOn.CREATE}),
        ],
    },
    {
        "name": "Contact",
        "description": _("ERP contacts become CRM people, each under its company"),
        "source_object": "ListContacts",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Contacts",
        "update_object": "/Contacts({id})",
        "record_key": "email",
        "update_changed_fields_only": True,
        "max_wait_for_parent": timedelta(days=30),  # people of a customer not synced yet wait for it
        "mappings": [
            ("email", "Email", "lower", {}, {}),
            ("name", "Name", "trim", {}, {}),
            ("cpf", "CPF", "digits", {}, {}),
            ("customer_code", "CompanyId", "lookup", {"table": "Company"}, {"value_type": ValueType.INTEGER}),
            ("", "TypeId", "constant", {"value": 2}, {"send_on": SendOn.CREATE}),
        ],
    },
    {
        "name": "Product",
        "description": _("Active ERP products and their prices"),
        "source_object": "ListProducts",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Products",
        "update_object": "/Products({id})",
        "record_key": "code",
        "update_changed_fields_only": True,
        "filter_rules": [{"name": _("active products"), "field": "active", "op": "eq", "value": True}],
        "mappings": [
            ("code", "Code", "trim", {}, {"send_on": SendOn.CREATE}),
            ("description", "Name", "trim", {}, {}),
            ("unit_price", "Price", "decimal", {"places": 2}, {"value_type": ValueType.DECIMAL}),
            ("active", "Active", "boolean", {}, {}),
        ],
    },
    {
        "name": "Order",
        "description": _("CRM orders are created in the ERP once, with the ERP's customer code and SKUs"),
        "direction": Direction.CRM_TO_ERP,
        "source_object": "/Orders",
        "read_arguments": {},
        "incremental_filter": CRM_SINCE,
        "cursor_field": "LastUpdateDate",
        "target_object": "CreateOrder",
        "write_mode": WriteMode.CREATE_ONLY,
        "match_existing": False,
        "record_key": "Id",
        "target_key": "order_number",
        "mappings": [
            ("Id", "external_id", "", {}, {"value_type": ValueType.TEXT}),
            ("ContactId", "customer_code", "lookup", {"table": "Company"}, {"required": True}),
            ("Products[].ProductId", "lines[].product_code", "lookup", {"table": "Product"}, {"required": True}),
            ("Products[].Quantity", "lines[].quantity", "", {}, {"value_type": ValueType.DECIMAL, "required": True}),
            ("Products[].UnitPrice", "lines[].unit_price", "", {}, {"value_type": ValueType.DECIMAL}),
        ],
    },
    {
        "name": "Order status",
        "description": _("The ERP's number and status of each order go back to the CRM order, one order at a time"),
        "source_object": "GetOrderStatus",
        "read_per_link_of": "Order",
        "read_arguments": {"order_number": "{key}"},
        "target_object": "/Orders",
        "update_object": "/Orders({id})",
        "write_mode": WriteMode.UPDATE_ONLY,
        "update_changed_fields_only": True,
        "record_key": "order_number",
        "mappings": [
            ("order_number", "Id", "lookup", {"table": "Order"}, {"value_type": ValueType.INTEGER}),
            (
                "order_number",
                "OtherProperties[FieldKey=order_ERP_NUMBER].IntegerValue",
                "",
                {},
                {"value_type": ValueType.INTEGER},
            ),
            (
                "status",
                "OtherProperties[FieldKey=order_ERP_STATUS].StringValue",
                "",
                {},
                {"value_type": ValueType.TEXT},
            ),
        ],
    },
]


def configure_demo(origin: str, *, schedule_minutes: int = 5, language: str | None = None) -> Integration:
    """Create or refresh the demo connections, integration, tables and mappings; returns the integration.

    Its texts are written in ``language`` (default ``settings.LANGUAGE_CODE``); configuring it again in
    another language rewrites them in that one.
    """
    with translation.override(language or settings.LANGUAGE_CODE), transaction.atomic():
        return _configure(origin.rstrip("/"), schedule_minutes)


def _configure(origin: str, schedule_minutes: int) -> Integration:
    knobs = ensure_knobs()
    erp_knobs, crm_knobs = knobs[SandboxSystem.ERP], knobs[SandboxSystem.CRM]
    erp, _ = Connection.objects.update_or_create(
        name="Demo ERP",
        defaults={
            "kind": ConnectionKind.SOAP,
            "wsdl_url": f"{origin}/sandbox/erp/soap?wsdl",
            "auth_kind": AuthKind.BASIC,
            "username": erp_knobs.username,
            "password": erp_knobs.password,
            "pagination": Pagination.PAGE,
            "page_size": 100,
            "records_path": "records",
            "timeout_seconds": 30,
        },
    )
    crm, _ = Connection.objects.update_or_create(
        name="Demo CRM",
        defaults={
            "kind": ConnectionKind.REST,
            "base_url": f"{origin}/sandbox/crm",
            "auth_kind": AuthKind.API_KEY,
            "api_key_header": "User-Key",
            "api_key": crm_knobs.api_key,
            "pagination": Pagination.ODATA,
            "page_size": 100,
            "records_path": "value",
            "timeout_seconds": 30,
        },
    )
    integration, _ = Integration.objects.update_or_create(
        name=DEMO_NAME,
        defaults={
            "description": str(DESCRIPTION),
            "integration_type": IntegrationType.SOAP,
            "erp_name": "Demo ERP",
            "erp_version": "1.0",
            "crm_name": "Demo CRM",
            "erp_connection": erp,
            "crm_connection": crm,
            "deployment_status": DeploymentStatus.IN_PROGRESS,
            "active": True,
            "business_rule": str(BUSINESS_RULE),
            "schedule_kind": ScheduleKind.INTERVAL,
            "schedule_interval_minutes": schedule_minutes,
        },
    )
    for order, spec in enumerate(TABLES, start=1):
        configure_table(integration, order, in_active_language(spec))
    return integration


def in_active_language(spec: dict) -> dict:
    """A copy of a table's spec whose words (description, filter rules' names) are text in the active language."""
    words = {"description": str(spec.get("description", ""))}
    if "filter_rules" in spec:
        words["filter_rules"] = [{**rule, "name": str(rule["name"])} for rule in spec["filter_rules"]]
    return {**spec, **words}


def configure_table(integration: Integration, order: int, spec: dict) -> SyncTable:
    mappings = spec.pop("mappings")
    linked_name = spec.pop("read_per_link_of", "")
    spec["read_per_link_of"] = integration.tables.get(name=linked_name) if linked_name else None
    defaults = {
        "description": "",
        "direction": Direction.ERP_TO_CRM,
        "order": order,
        "active": True,
        "update_object": "",
        "write_mode": WriteMode.UPSERT,
        "match_existing": True,
        "match_field": "",
        "update_changed_fields_only": False,
        "max_wait_for_parent": timedelta(hours=24),
        "target_key": "Id",
        "filter_rules": [],
        "delete_policy": DeletePolicy.IGNORE,
        "target_count_query": "",
        **spec,
    }
    name = defaults.pop("name")
    table, _ = SyncTable.objects.update_or_create(integration=integration, name=name, defaults=defaults)
    table.mappings.all().delete()
    FieldMapping.objects.bulk_create(
        FieldMapping(
            table=table,
            position=position,
            source_path=source,
            target_field=target,
            transform=transform,
            transform_options=options,
            **extra,
        )
        for position, (source, target, transform, options, extra) in enumerate(mappings, start=1)
    )
    return table
