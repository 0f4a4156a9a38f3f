"""Realistic Brazilian demo data for the demo ERP and CRM.

Every record is drawn from its own ``random.Random`` seeded by (seed, table,
position), so the data set is reproducible and the first N records are the
same whatever the sizes. Seeding inserts only what is missing by natural key
(customer code, product code, order number, CNPJ, email), so running it twice
creates nothing the second time. Inserts are bulk: thousands of rows take
well under a second or two.
"""

import functools
import math
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from . import documents
from .choices import CreditStatus, CrmContactType, CrmOrderStage, ErpOrderStatus, SandboxSystem
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
from .seed_data import (
    CITIES,
    COMPANY_CORES,
    COMPANY_SEGMENTS,
    FIRST_NAMES,
    LEGAL_SUFFIXES,
    PRODUCT_LINES,
    PRODUCTS,
    ROLES,
    STREETS,
    SURNAMES,
)

DEFAULT_SEED = 2024
BATCH_SIZE = 500
CENTS = Decimal("0.01")
FIRST_SEEDED_ERP_ORDER = 10001
FIRST_SEEDED_CRM_ORDER = 1001
# Share of CRM companies that are also ERP customers (same CNPJ); the rest are leads.
CRM_COMPANIES_IN_ERP = 0.75


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


# --- helpers ----------------------------------------------------------------------------------


def _rng(seed: int, table: str, position: int) -> random.Random:
    return random.Random(f"{seed}:{table}:{position}")


def _ascii_slug(text: str, separator: str = "") -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = "".join(ch if ch.isalnum() else " " for ch in folded).split()
    return separator.join(words)


def _recent(rng: random.Random, now: datetime, days: int = 30) -> datetime:
    return now - timedelta(seconds=rng.randint(60, days * 86400))


def _landline(rng: random.Random, area: str) -> str:
    return f"({area}) 3{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}"


def _mobile(rng: random.Random, area: str) -> str:
    return f"({area}) 9{rng.randint(6000, 9999):04d}-{rng.randint(0, 9999):04d}"


def _weighted(rng: random.Random, choices: Iterable[tuple]):
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def _cnpj_for_customer(position: int) -> str:
    # A bijection on 8 digits (the multiplier is prime to 10): distinct roots, no collisions.
    return documents.make_cnpj((position * 7_919_333 + 12_345_678) % 10**8)


def _cnpj_for_lead(position: int) -> str:
    return documents.make_cnpj((position * 3_141_593 + 55_555_555) % 10**8, branch=1 + position % 3)


def _cpf_for_person(table: str, position: int) -> str:
    offset = 98_765_432 if table == "erp" else 123_456_789
    return documents.make_cpf((position * 48_271 + offset) % 10**9)


def _person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"


def _unique_email(local: str, domain: str, taken: set[str]) -> str:
    email, suffix = f"{local}@{domain}", 2
    while email in taken:
        email, suffix = f"{local}{suffix}@{domain}", suffix + 1
    taken.add(email)
    return email


# --- generated records (unsaved) --------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    """One generated company, shared by the ERP customer and its CRM copy."""

    position: int
    code: str
    trade_name: str
    legal_name: str
    cnpj: str  # 14 digits
    domain: str
    city: str
    state: str
    area_code: str
    street_address: str
    zip_code: str
    phone: str


@functools.lru_cache(maxsize=8192)
def company(seed: int, position: int, *, lead: bool = False) -> Company:
    rng = _rng(seed, "lead" if lead else "company", position)
    short, long = rng.choice(COMPANY_SEGMENTS)
    core = rng.choice(COMPANY_CORES)
    city, state, area = rng.choice(CITIES)
    trade_name = f"{short} {core}"
    return Company(
        position=position,
        code=f"C{position:06d}",
        trade_name=trade_name,
        legal_name=f"{long} {core} {rng.choice(LEGAL_SUFFIXES)}",
        cnpj=_cnpj_for_lead(position) if lead else _cnpj_for_customer(position),
        domain=f"{_ascii_slug(trade_name)}.com.br",
        city=city,
        state=state,
        area_code=area,
        street_address=f"{rng.choice(STREETS)} {rng.randint(10, 3999)}",
        zip_code=f"{rng.randint(1000, 99999):05d}-{rng.randint(0, 999):03d}",
        phone=_landline(rng, area),
    )


def erp_customers(seed: int, count: int, now: datetime) -> list[ErpCustomer]:
    customers = []
    for position in range(1, count + 1):
        data = company(seed, position)
        rng = _rng(seed, "customer", position)
        updated_at = _recent(rng, now)
        customers.append(
            ErpCustomer(
                code=data.code,
                legal_name=data.legal_name,
                trade_name=data.trade_name,
                cnpj=documents.format_cnpj(data.cnpj),
                email=f"compras@{data.domain}",
                phone=data.phone,
                street_address=data.street_address,
                zip_code=data.zip_code,
                city=data.city,
                state=data.state,
                credit_status=_weighted(
                    rng, ((CreditStatus.APPROVED, 75), (CreditStatus.PENDING, 15), (CreditStatus.BLOCKED, 10))
                ),
                active=rng.random() >= 0.08,
                created_at=updated_at - timedelta(days=rng.randint(0, 720)),
                updated_at=updated_at,
            )
        )
    return customers


def erp_contacts(seed: int, count: int, customer_count: int, now: datetime) -> list[tuple[str, ErpContact]]:
    """``(customer code, contact)`` pairs; contact ``j`` belongs to customer ``j mod customer_count``."""
    if customer_count < 1:
        return []
    contacts, taken = [], set()
    for position in range(1, count + 1):
        rng = _rng(seed, "contact", position)
        owner = company(seed, (position - 1) % customer_count + 1)
        name = _person_name(rng)
        first, *_middle, last = _ascii_slug(name, " ").split()
        cpf = _cpf_for_person("erp", position) if rng.random() < 0.7 else ""
        contact = ErpContact(
            name=name,
            email=_unique_email(f"{first}.{last}", owner.domain, taken),
            phone=_mobile(rng, owner.area_code),
            cpf=documents.format_cpf(cpf) if cpf else "",
            role=rng.choice(ROLES),
            updated_at=_recent(rng, now),
        )
        contacts.append((owner.code, contact))
    return contacts


def erp_products(seed: int, count: int, now: datetime) -> list[ErpProduct]:
    products = []
    for position in range(1, count + 1):
        rng = _rng(seed, "product", position)
        description, unit, low, high = PRODUCTS[(position - 1) % len(PRODUCTS)]
        generation = (position - 1) // len(PRODUCTS)
        if generation:
            description = f"{description} – {PRODUCT_LINES[(generation - 1) % len(PRODUCT_LINES)]}"
            if generation > len(PRODUCT_LINES):
                description = f"{description} {generation // len(PRODUCT_LINES) + 1}"
        price = Decimal(str(rng.uniform(float(low), float(high)))).quantize(CENTS)
        products.append(
            ErpProduct(
                code=f"P{position:05d}",
                description=description,
                unit=unit,
                unit_price=price,
                active=rng.random() >= 0.1,
                updated_at=_recent(rng, now),
            )
        )
    return products


def _lines(rng: random.Random, products: list[ErpProduct]) -> list[dict]:
    lines = []
    for product in rng.sample(products, k=min(len(products), rng.randint(1, 5))):
        quantity = Decimal(rng.randint(1, 50))
        lines.append(
            {
                "product_code": product.code,
                "description": product.description,
                "quantity": str(quantity),
                "unit_price": str(product.unit_price),
                "total": str((quantity * product.unit_price).quantize(CENTS)),
            }
        )
    return lines


def erp_orders(
    seed: int, count: int, customers: list[ErpCustomer], products: list[ErpProduct], now: datetime
) -> list[tuple[str, ErpOrder]]:
    """``(customer code, order)`` pairs for customers that can buy (active, credit approved)."""
    buyers = [c for c in customers if c.active and c.credit_status == CreditStatus.APPROVED]
    sellable = [p for p in products if p.active]
    if not buyers or not sellable:
        return []
    orders = []
    for position in range(1, count + 1):
        rng = _rng(seed, "order", position)
        lines = _lines(rng, sellable)
        created_at = _recent(rng, now, days=60)
        status = _weighted(
            rng,
            (
                (ErpOrderStatus.RECEIVED, 20),
                (ErpOrderStatus.APPROVED, 25),
                (ErpOrderStatus.INVOICED, 25),
                (ErpOrderStatus.SHIPPED, 25),
                (ErpOrderStatus.CANCELLED, 5),
            ),
        )
        order = ErpOrder(
            number=FIRST_SEEDED_ERP_ORDER + position - 1,
            status=status,
            lines=lines,
            total=sum((Decimal(line["total"]) for line in lines), Decimal("0.00")),
            created_at=created_at,
            updated_at=min(now, created_at + timedelta(hours=rng.randint(0, 72))),
        )
        orders.append((rng.choice(buyers).code, order))
    return orders


def crm_companies(seed: int, count: int, customer_count: int, now: datetime) -> list[CrmContact]:
    """Companies the salespeople already have: most are ERP customers (same CNPJ), the rest leads."""
    mirrored = min(customer_count, math.ceil(count * CRM_COMPANIES_IN_ERP))
    contacts = []
    for position in range(1, count + 1):
        data = company(seed, position) if position <= mirrored else company(seed, position, lead=True)
        rng = _rng(seed, "crm-company", position)
        updated_at = _recent(rng, now)
        contacts.append(
            CrmContact(
                type_id=CrmContactType.COMPANY,
                name=data.trade_name,
                legal_name=data.legal_name,
                cnpj=data.cnpj,
                email=f"contato@{data.domain}",
                phones=[{"PhoneNumber": data.phone, "TypeId": 1}],
                street_address=data.street_address,
                city=data.city,
                state=data.state,
                created_at=updated_at - timedelta(days=rng.randint(0, 365)),
                updated_at=updated_at,
            )
        )
    return contacts


def crm_people(seed: int, count: int, companies: list[CrmContact], now: datetime) -> list[tuple[str, CrmContact]]:
    """``(company CNPJ or "", person)`` pairs."""
    people, taken = [], set()
    for position in range(1, count + 1):
        rng = _rng(seed, "crm-person", position)
        employer = companies[(position - 1) % len(companies)] if companies else None
        name = _person_name(rng)
        first, *_middle, last = _ascii_slug(name, " ").split()
        domain = employer.email.partition("@")[2] if employer else "gmail.com"
        # The employer's area code, read back from its phone "(11) 3…".
        area = employer.phones[0]["PhoneNumber"][1:3] if employer else rng.choice(CITIES)[2]
        updated_at = _recent(rng, now)
        person = CrmContact(
            type_id=CrmContactType.PERSON,
            name=name,
            cpf=_cpf_for_person("crm", position) if rng.random() < 0.5 else "",
            email=_unique_email(f"{first}.{last}", domain, taken),
            phones=[{"PhoneNumber": _mobile(rng, area), "TypeId": 2}],
            city=employer.city if employer else "",
            state=employer.state if employer else "",
            created_at=updated_at - timedelta(days=rng.randint(0, 365)),
            updated_at=updated_at,
        )
        people.append((employer.cnpj if employer else "", person))
    return people


def crm_products(seed: int, count: int, erp_catalog: list[ErpProduct], now: datetime) -> list[CrmProduct]:
    """Products keyed in the CRM by hand some time ago: ERP codes, with prices that may be stale."""
    products = []
    for position, source in enumerate(erp_catalog[:count], start=1):
        rng = _rng(seed, "crm-product", position)
        updated_at = _recent(rng, now, days=90)
        products.append(
            CrmProduct(
                name=source.description,
                code=source.code,
                price=(source.unit_price * Decimal(str(rng.uniform(0.9, 1.0)))).quantize(CENTS),
                active=True,
                created_at=updated_at,
                updated_at=updated_at,
            )
        )
    return products


# --- writing ----------------------------------------------------------------------------------


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
    # Salespeople sell to the companies the ERP knows; the last order is a lead's, on purpose.
    erp_cnpjs = {documents.digits(cnpj) for cnpj in ErpCustomer.objects.values_list("cnpj", flat=True)}
    customers = [company for company in companies if company.cnpj in erp_cnpjs]
    orders = []
    for position in range(1, count + 1):
        rng = _rng(seed, "crm-order", position)
        # The last order belongs to the last company, a lead unknown to the ERP when there are leads.
        buyer = companies[-1] if position == count else rng.choice(customers or companies)
        if buyer.cnpj not in company_ids:
            continue
        products = []
        for product in rng.sample(sellable, k=min(len(sellable), rng.randint(1, 3))):
            quantity = Decimal(rng.randint(1, 20))
            products.append(
                {
                    "ProductId": product_ids.get(product.code),
                    "ProductCode": product.code,
                    "Quantity": float(quantity),
                    "UnitPrice": float(product.unit_price),
                    "Total": float((quantity * product.unit_price).quantize(CENTS)),
                }
            )
        updated_at = _recent(rng, now, days=7)
        orders.append(
            CrmOrder(
                order_number=FIRST_SEEDED_CRM_ORDER + position - 1,
                contact_id=company_ids[buyer.cnpj],
                amount=sum((Decimal(str(p["Total"])) for p in products), Decimal("0.00")).quantize(CENTS),
                products=products,
                stage_id=CrmOrderStage.NEW,
                created_at=updated_at,
                updated_at=updated_at,
            )
        )
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
