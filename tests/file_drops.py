"""A file connection reading a local folder, its table writing products to the demo CRM (served by the live server)."""

from __future__ import annotations

from pathlib import Path

from demo.choices import CrmEntity, CrmFieldType
from demo.models import CrmField
from sync.choices import Direction, IntegrationType, Transform, ValueType, WriteMode
from sync.models import Connection, FieldMapping, Integration, SyncTable
from tests.demo_crm import served_demo_crm

LAUNCHED = "product_LAUNCHED"
HEADER = "codigo;descricao;preco;lancamento\r\n"
ROWS_OF_PRODUCTS = [
    "P-001;Café torrado 500 g;1.234,56;05/03/2024",
    "P-002;Açúcar cristal;7,90;10/03/2024",
    "P-003;Pão de queijo;12,00;31/12/2023",
]


def latin1_csv(folder: Path, name: str, lines: list[str], header: str = HEADER) -> Path:
    """A CSV as old ERPs write it: Latin-1, ``;`` separated, decimal commas, dates dd/mm/yyyy."""
    path = folder / name
    path.write_bytes((header + "".join(line + "\r\n" for line in lines)).encode("latin-1"))
    return path


def demo_crm_with_launch_date(live_server) -> tuple[str, str]:
    """The demo CRM's address and key, its products given a date field (as a CRM admin would add one)."""
    url, key = served_demo_crm(live_server)
    CrmField.objects.get_or_create(
        key=LAUNCHED,
        defaults={"name": "Lançado em", "entity_id": CrmEntity.PRODUCTS, "type_id": CrmFieldType.DATE_TIME},
    )
    return url, key


def files_to_crm(
    inbox: Path, crm_url: str, api_key: str, *, name: str = "ERP files", files: Connection | None = None, **file_fields
) -> Integration:
    """An integration reading PROD_*.csv from ``inbox`` (or through ``files``) and creating the CRM's products."""
    files = files or Connection.objects.create(
        name=f"{name} folder",
        kind="file",
        file_folder=str(inbox),
        file_number_columns="preco",
        file_decimal_comma=True,
        page_size=2,
        **file_fields,
    )
    crm = Connection.objects.create(
        name=f"{name} CRM",
        kind="rest",
        base_url=crm_url,
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key=api_key,
        pagination="odata",
        records_path="value",
        timeout_seconds=10,
    )
    integration = Integration.objects.create(
        name=f"{name} → Demo CRM",
        integration_type=IntegrationType.FILE,
        erp_name="ERP",
        crm_name="Demo CRM",
        erp_connection=files,
        crm_connection=crm,
    )
    table = SyncTable.objects.create(
        integration=integration,
        name="Product",
        source_object="PROD_*.csv",
        target_object="/Products",
        record_key="codigo",
        write_mode=WriteMode.CREATE_ONLY,
        match_existing=False,
    )
    mappings = [
        ("codigo", "Code", "", {}, ValueType.TEXT),
        ("descricao", "Name", Transform.TRIM, {}, ValueType.TEXT),
        ("preco", "Price", "", {}, ValueType.DECIMAL),
        (
            "lancamento",
            f"OtherProperties[FieldKey={LAUNCHED}].DateTimeValue",
            Transform.DATETIME,
            {"input_format": "%d/%m/%Y"},
            ValueType.DATETIME,
        ),
    ]
    for position, (source, target, transform, options, value_type) in enumerate(mappings):
        FieldMapping.objects.create(
            table=table,
            position=position,
            source_path=source,
            target_field=target,
            transform=transform,
            transform_options=options,
            value_type=value_type,
        )
    return integration


def products_to_files(integration: Integration, target_object: str = "produtos_{time}.csv") -> SyncTable:
    """The CRM's products written to the ERP's files (the integration's other tables made inactive)."""
    table = SyncTable.objects.create(
        integration=integration,
        name="Products for the ERP",
        direction=Direction.CRM_TO_ERP,
        source_object="/Products",
        target_object=target_object,
        record_key="Code",
        write_mode=WriteMode.CREATE_ONLY,
        match_existing=False,
        order=2,
    )
    integration.tables.exclude(pk=table.pk).update(active=False)
    for position, (source, target, value_type) in enumerate(
        [
            ("Code", "codigo", ValueType.TEXT),
            ("Name", "descricao", ValueType.TEXT),
            ("Price", "preco", ValueType.DECIMAL),
        ]
    ):
        FieldMapping.objects.create(
            table=table, position=position, source_path=source, target_field=target, value_type=value_type
        )
    return table
