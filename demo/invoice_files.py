"""The demo ERP's invoice files: each day it drops a CSV of its invoices in a folder, as older ERPs do.

The file is what such an ERP writes: Latin-1, ``;`` separated, numbers with a decimal comma, dates as
dd/mm/yyyy, named ``NF_<yyyymmdd>.csv``. It lists the invoices of the ERP's invoiced and shipped orders:
the invoice number, the ERP's order number, the CRM order it came from (blank for orders entered in the
ERP), the customer, the issue date and the total. A django-q2 schedule drops one a day
(:func:`ensure_daily_drop`); ``manage.py demo_invoices`` drops one now.

The integration "Demo ERP files → Demo CRM" (``integration_files.yaml``, imported like a customer's file)
reads that folder and writes each invoice onto the CRM order it belongs to, in custom fields the demo CRM
is given here (:func:`ensure_invoice_fields`), as a CRM admin adds them.
"""

from __future__ import annotations

import copy
from datetime import datetime, time, timedelta
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_noop
from django_q.models import Schedule

from sync.config_io import import_text
from sync.config_io.text import to_yaml
from sync.connectors.files import write_csv
from sync.models import Integration

from .choices import CrmEntity, CrmFieldType, ErpOrderStatus
from .integration import credentials, for_portal, in_active_language
from .models import CrmField, ErpOrder

FILE = Path(__file__).with_name("integration_files.yaml")
DOCUMENT = yaml.safe_load(FILE.read_text(encoding="utf-8"))
FILES_NAME = DOCUMENT["name"]
FILE_FOLDER = "/srv/demo-erp/invoices"  # where the file's inbox points: the data directory's folder replaces it
HEADER = ("nota", "pedido", "pedido_crm", "cliente", "emissao", "total")
INVOICED = (ErpOrderStatus.INVOICED, ErpOrderStatus.SHIPPED)
SCHEDULE_NAME = "Demo ERP: daily invoice file"
DROP_AT = time(6, 0)
INVOICE_FIELDS = (
    ("order_INVOICE_NUMBER", "Nota fiscal", CrmFieldType.TEXT),
    ("order_INVOICE_DATE", "Emissão da nota", CrmFieldType.DATE_TIME),
    ("order_INVOICE_TOTAL", "Total da nota", CrmFieldType.DECIMAL),
)
# The words of integration_files.yaml people read, marked for translation (demo.words does the same for the
# main demo integration's file).
WORDS = (
    gettext_noop("The demo ERP's daily invoice files (Latin-1 CSV) read from a folder, written onto the CRM's orders."),
    gettext_noop(
        "Each day the ERP drops NF_<date>.csv with its invoices. The invoice of an order placed in the CRM is written "
        "onto that CRM order: its number, issue date and total in the custom fields order_INVOICE_NUMBER, "
        "order_INVOICE_DATE and order_INVOICE_TOTAL. Invoices of orders entered in the ERP are skipped. Each file is "
        "read once and moved to processed/; a file that cannot be read goes to failed/."
    ),
    gettext_noop("Each invoice of a CRM order is written onto that order"),
    gettext_noop("orders placed in the CRM"),
)


def invoice_folder() -> Path:
    """The folder the demo ERP drops its invoice files in (created when missing)."""
    folder = Path(settings.DATA_DIR) / "demo-erp" / "invoices"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def invoice_number(order: ErpOrder) -> str:
    return f"NF-{order.number}"


def invoice_rows(day) -> list[tuple]:
    """One row per invoice of the orders invoiced by the end of ``day`` (their issue date: when invoiced)."""
    zone = timezone.get_current_timezone()
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    orders = ErpOrder.objects.filter(status__in=INVOICED, updated_at__lt=end).select_related("customer")
    return [
        (
            invoice_number(order),
            order.number,
            order.external_id,
            order.customer.legal_name,
            timezone.localtime(order.updated_at, zone).date(),
            order.total,
        )
        for order in orders.order_by("number")
    ]


def drop_invoices(now: datetime | None = None) -> Path:
    """Write today's invoice file (``NF_<yyyymmdd>.csv``) in the invoice folder; returns its path."""
    day = timezone.localtime(now or timezone.now()).date()
    path = invoice_folder() / f"NF_{day:%Y%m%d}.csv"
    write_csv(path, HEADER, invoice_rows(day), delimiter=";", encoding="latin-1", decimal_point=",")
    return path


def ensure_invoice_fields() -> None:
    """The demo CRM's order fields the invoices are written to."""
    CrmField.ensure_defaults()
    for key, name, type_id in INVOICE_FIELDS:
        CrmField.objects.get_or_create(
            key=key, defaults={"name": name, "entity_id": CrmEntity.ORDERS, "type_id": type_id}
        )


def ensure_daily_drop(now: datetime | None = None) -> Schedule:
    """The django-q2 schedule that drops an invoice file every day at 06:00 (the portal's time)."""
    now = timezone.localtime(now or timezone.now())
    first = datetime.combine(now.date(), DROP_AT, tzinfo=now.tzinfo)
    if first <= now:
        first += timedelta(days=1)
    schedule, _created = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "demo.invoice_files.drop_invoices",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": first,
        },
    )
    return schedule


def configure_files_demo(origin: str, *, schedule_minutes: int = 5, language: str | None = None) -> Integration:
    """Import "Demo ERP files → Demo CRM" reading the invoice folder; returns it (``ConfigError`` if refused)."""
    ensure_invoice_fields()
    document = copy.deepcopy(DOCUMENT)
    document["connections"]["erp"]["file_folder"] = str(invoice_folder())
    with translation.override(language or settings.LANGUAGE_CODE), transaction.atomic():
        document = in_active_language(for_portal(document, origin.rstrip("/"), schedule_minutes))
        import_text(to_yaml(document), FILE.name, environ=credentials())
        return Integration.objects.get(name=document["name"])
