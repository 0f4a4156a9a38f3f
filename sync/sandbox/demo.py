"""Configures the integration "Demo ERP ↔ Demo CRM" against the demo systems served by the portal.

Company, Contact and Product flow ERP → CRM; Order flows CRM → ERP (created in the
ERP once); Order status flows back ERP → CRM (updating the CRM's orders only).
"""

from django.db import transaction

from sync.choices import (
    AuthKind,
    ConnectionKind,
    DeletePolicy,
    DeploymentStatus,
    Direction,
    IntegrationType,
    Pagination,
    ScheduleKind,
    WriteMode,
)
from sync.models import Connection, FieldMapping, Integration, SyncTable

from .choices import SandboxSystem
from .seed import ensure_knobs

DEMO_NAME = "Demo ERP ↔ Demo CRM"
ERP_PAGING = {"page": "{page_token}", "page_size": "{page_size}"}
ERP_SINCE = '{"updated_since": "{cursor}"}'
CRM_SINCE = "$filter=LastUpdateDate gt {cursor}"

# name, description, direction, source, read arguments, incremental filter, cursor field,
# target, update object, write mode, record key, target key, filter rules, mappings
TABLES = [
    {
        "name": "Company",
        "description": "ERP customers with approved credit become CRM companies",
        "source_object": "ListCustomers",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Contacts",
        "update_object": "/Contacts({id})",
        "record_key": "cnpj",
        "filter_rules": [
            {"name": "approved credit", "field": "credit_status", "op": "eq", "value": "approved"},
            {"name": "active customers", "field": "active", "op": "eq", "value": True},
        ],
        "mappings": [
            ("cnpj", "CNPJ", "digits", {}),
            ("legal_name", "LegalName", "trim", {}),
            ("trade_name", "Name", "trim", {}),
            ("email", "Email", "lower", {}),
            ("street_address", "StreetAddress", "trim", {}),
            ("city", "City", "trim", {}),
            ("state", "State", "upper", {}),
            ("", "TypeId", "constant", {"value": 1}),
        ],
    },
    {
        "name": "Contact",
        "description": "ERP contacts become CRM people",
        "source_object": "ListContacts",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Contacts",
        "update_object": "/Contacts({id})",
        "record_key": "email",
        "mappings": [
            ("email", "Email", "lower", {}),
            ("name", "Name", "trim", {}),
            ("cpf", "CPF", "digits", {}),
            ("", "TypeId", "constant", {"value": 2}),
        ],
    },
    {
        "name": "Product",
        "description": "Active ERP products and their prices",
        "source_object": "ListProducts",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Products",
        "update_object": "/Products({id})",
        "record_key": "code",
        "filter_rules": [{"name": "active products", "field": "active", "op": "eq", "value": True}],
        "mappings": [
            ("code", "Code", "trim", {}),
            ("description", "Name", "trim", {}),
            ("unit_price", "Price", "decimal", {"places": 2}),
            ("active", "Active", "boolean", {}),
        ],
    },
    {
        "name": "Order",
        "description": "CRM orders are created in the ERP",
        "direction": Direction.CRM_TO_ERP,
        "source_object": "/Orders",
        "read_arguments": {"$filter": "ErpOrderNumber eq null"},
        "incremental_filter": CRM_SINCE,
        "cursor_field": "LastUpdateDate",
        "target_object": "CreateOrder",
        "write_mode": WriteMode.CREATE_ONLY,
        "match_existing": False,
        "record_key": "Id",
        "target_key": "order_number",
        "mappings": [
            ("Id", "external_id", "template", {"template": "{Id}"}),
            ("ContactCNPJ", "customer_cnpj", "digits", {}),
            (
                "Products",
                "lines",
                "list_map",
                {"fields": {"product_code": "ProductCode", "quantity": "Quantity", "unit_price": "UnitPrice"}},
            ),
        ],
    },
    {
        "name": "Order status",
        "description": "The ERP's order number and status go back to the CRM order",
        "source_object": "ListOrders",
        "read_arguments": ERP_PAGING,
        "incremental_filter": ERP_SINCE,
        "cursor_field": "updated_at",
        "target_object": "/Orders",
        "update_object": "/Orders({id})",
        "write_mode": WriteMode.UPDATE_ONLY,
        "record_key": "external_id",
        "filter_rules": [{"name": "orders from the CRM", "field": "external_id", "op": "not_empty"}],
        "mappings": [
            ("external_id", "Id", "integer", {}),
            ("order_number", "ErpOrderNumber", "integer", {}),
            ("status", "Status", "trim", {}),
        ],
    },
]


@transaction.atomic
def configure_demo(origin: str, *, schedule_minutes: int = 5) -> Integration:
    """Create or refresh the demo connections, integration, tables and mappings; returns the integration."""
    origin = origin.rstrip("/")
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
            "description": "The demo ERP (SOAP) and demo CRM (Ploomes-shaped REST) served by this portal.",
            "integration_type": IntegrationType.SOAP,
            "erp_name": "Demo ERP",
            "erp_version": "1.0",
            "crm_name": "Demo CRM",
            "erp_connection": erp,
            "crm_connection": crm,
            "deployment_status": DeploymentStatus.IN_PROGRESS,
            "active": True,
            "business_rule": "Only customers with approved credit; only active products. "
            "CRM orders are created in the ERP once; their ERP number and status come back.",
            "schedule_kind": ScheduleKind.INTERVAL,
            "schedule_interval_minutes": schedule_minutes,
        },
    )
    for order, spec in enumerate(TABLES, start=1):
        configure_table(integration, order, dict(spec))
    return integration


def configure_table(integration: Integration, order: int, spec: dict) -> SyncTable:
    mappings = spec.pop("mappings")
    defaults = {
        "description": "",
        "direction": Direction.ERP_TO_CRM,
        "order": order,
        "active": True,
        "update_object": "",
        "write_mode": WriteMode.UPSERT,
        "match_existing": True,
        "target_key": "Id",
        "filter_rules": [],
        "delete_policy": DeletePolicy.IGNORE,
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
        )
        for position, (source, target, transform, options) in enumerate(mappings, start=1)
    )
    return table
