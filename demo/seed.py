"""Fill the demo ERP and CRM with realistic Brazilian data (idempotent).

The records come from :mod:`demo.seed_records`, reproducible for a seed. Seeding inserts only
what is missing by natural key (customer code, product code, order number, CNPJ, email), so
running it twice creates nothing the second time. Inserts are bulk: thousands of rows take
well under a second or two.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from . import documents
from .choices import CrmContactType, SandboxSystem
from .models import (
    CrmContact,
    CrmField,
    CrmOrder,
    CrmProduct,
    ErpContact,
    ErpCustomer,
    ErpOrder,
    ErpProduct,
    SandboxKnobs,
)
from .seed_records import (
    crm_companies,
    crm_orders,
    crm_people,
    crm_products,
    erp_contacts,
    erp_customers,
    erp_orders,
    erp_products,
)

DEFAULT_SEED = 2024
BATCH_SIZE = 500


@dataclass(frozen=True)
class SeedSizes:
    customers: int = 40
    contacts: int = 80
    products: int = 30
    orders: int = 10
    crm_companies: int = 12
    crm_people: int = 12
    crm_products: int = 8
    crm_orders: int = 6


def _insert_missing(model, rows: list, key, existing: set) -> int:
    """Bulk-insert the rows whose ``key(row)`` is not in ``existing``; returns how many."""
    missing, seen = [], set(existing)
    for row in rows:
        row_key = key(row)
        if row_key not in seen:
            seen.add(row_key)
            missing.append(row)
    model.objects.bulk_create(missing, batch_size=BATCH_SIZE)
    return len(missing)


def ensure_knobs() -> dict[str, SandboxKnobs]:
    """One knobs row per demo system, with random credentials the first time."""
    return {system: SandboxKnobs.for_system(system) for system in SandboxSystem.values}


def seed_erp(sizes: SeedSizes, now: datetime, seed: int = DEFAULT_SEED) -> dict[str, int]:
    created = {}
    customers = erp_customers(seed, sizes.customers, now)
    created["erp_customers"] = _insert_missing(
        ErpCustomer, customers, lambda c: c.code, set(ErpCustomer.objects.values_list("code", flat=True))
    )
    customer_ids = dict(ErpCustomer.objects.values_list("code", "pk"))

    contacts = []
    for code, contact in erp_contacts(seed, sizes.contacts, sizes.customers, now):
        if code in customer_ids:
            contact.customer_id = customer_ids[code]
            contacts.append(contact)
    created["erp_contacts"] = _insert_missing(
        ErpContact,
        contacts,
        lambda c: (c.customer_id, c.email),
        set(ErpContact.objects.values_list("customer_id", "email")),
    )

    products = erp_products(seed, sizes.products, now)
    created["erp_products"] = _insert_missing(
        ErpProduct, products, lambda p: p.code, set(ErpProduct.objects.values_list("code", flat=True))
    )

    orders = []
    for code, order in erp_orders(seed, sizes.orders, customers, products, now):
        if code in customer_ids:
            order.customer_id = customer_ids[code]
            orders.append(order)
    created["erp_orders"] = _insert_missing(
        ErpOrder, orders, lambda o: o.number, set(ErpOrder.objects.values_list("number", flat=True))
    )
    return created


def seed_crm(sizes: SeedSizes, now: datetime, seed: int = DEFAULT_SEED) -> dict[str, int]:
    created = {}
    companies = crm_companies(seed, sizes.crm_companies, sizes.customers, now)
    created["crm_companies"] = _insert_missing(
        CrmContact, companies, lambda c: c.cnpj, set(CrmContact.objects.exclude(cnpj="").values_list("cnpj", flat=True))
    )
    company_ids = dict(CrmContact.objects.filter(type_id=CrmContactType.COMPANY).values_list("cnpj", "pk"))

    people = []
    for cnpj, person in crm_people(seed, sizes.crm_people, companies, now):
        person.company_id = company_ids.get(cnpj)
        people.append(person)
    created["crm_people"] = _insert_missing(
        CrmContact,
        people,
        lambda p: p.email,
        set(CrmContact.objects.filter(type_id=CrmContactType.PERSON).values_list("email", flat=True)),
    )

    catalog = erp_products(seed, max(sizes.products, sizes.crm_products), now)
    products = crm_products(seed, sizes.crm_products, catalog, now)
    created["crm_products"] = _insert_missing(
        CrmProduct, products, lambda p: p.code, set(CrmProduct.objects.exclude(code="").values_list("code", flat=True))
    )

    created["crm_orders"] = _seed_crm_orders(seed, sizes.crm_orders, companies, catalog, now)
    return created


def _seed_crm_orders(seed: int, count: int, companies: list[CrmContact], catalog, now: datetime) -> int:
    """Orders closed by salespeople, waiting to be sent to the ERP (one of them for a lead)."""
    if not companies or not catalog:
        return 0
    company_ids = dict(CrmContact.objects.filter(type_id=CrmContactType.COMPANY).values_list("cnpj", "pk"))
    product_ids = dict(CrmProduct.objects.exclude(code="").values_list("code", "pk"))
    # A CRM order line always names a CRM product (Ploomes' ProductId): salespeople sell what the CRM lists.
    sellable = [p for p in catalog if p.active and p.code in product_ids] or [
        p for p in catalog if p.code in product_ids
    ]
    erp_cnpjs = {documents.digits(cnpj) for cnpj in ErpCustomer.objects.values_list("cnpj", flat=True)}
    customers = [company for company in companies if company.cnpj in erp_cnpjs]
    orders = []
    for cnpj, order in crm_orders(seed, count, companies, customers, sellable, product_ids, now):
        if cnpj in company_ids:
            order.contact_id = company_ids[cnpj]
            orders.append(order)
    return _insert_missing(
        CrmOrder, orders, lambda o: o.order_number, set(CrmOrder.objects.values_list("order_number", flat=True))
    )


def reset() -> None:
    """Delete every demo record and put the knobs back to a well-behaved system (credentials kept)."""
    with transaction.atomic():
        for model in (CrmOrder, CrmContact, CrmProduct, ErpOrder, ErpContact, ErpCustomer, ErpProduct):
            model.objects.all().delete()
        for knobs in SandboxKnobs.objects.all():
            knobs.reset_behaviour()


def populate(sizes: SeedSizes, now: datetime, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Fill both demo systems; returns how many rows each table gained."""
    with transaction.atomic():
        ensure_knobs()
        CrmField.ensure_defaults()
        return {**seed_erp(sizes, now, seed), **seed_crm(sizes, now, seed)}
