"""The demo ERP's and CRM's records as generated, not saved yet (see :mod:`demo.seed` for the writing)."""

import math
import random
from datetime import datetime, timedelta
from decimal import Decimal

from . import documents
from .choices import CreditStatus, CrmContactType, CrmOrderStage, ErpOrderStatus
from .models import CrmContact, CrmOrder, CrmProduct, ErpContact, ErpCustomer, ErpOrder, ErpProduct
from .seed_data import CITIES, PRODUCT_LINES, PRODUCTS, ROLES
from .seed_random import (
    ascii_slug,
    company,
    cpf_for_person,
    mobile,
    person_name,
    recent,
    rng_for,
    unique_email,
    weighted,
)

CENTS = Decimal("0.01")
FIRST_SEEDED_ERP_ORDER = 10001
FIRST_SEEDED_CRM_ORDER = 1001
# Share of CRM companies that are also ERP customers (same CNPJ); the rest are leads.
CRM_COMPANIES_IN_ERP = 0.75


def erp_customers(seed: int, count: int, now: datetime) -> list[ErpCustomer]:
    customers = []
    for position in range(1, count + 1):
        data = company(seed, position)
        rng = rng_for(seed, "customer", position)
        updated_at = recent(rng, now)
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
                credit_status=weighted(
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
        rng = rng_for(seed, "contact", position)
        owner = company(seed, (position - 1) % customer_count + 1)
        name = person_name(rng)
        first, *_middle, last = ascii_slug(name, " ").split()
        cpf = cpf_for_person("erp", position) if rng.random() < 0.7 else ""
        contact = ErpContact(
            name=name,
            email=unique_email(f"{first}.{last}", owner.domain, taken),
            phone=mobile(rng, owner.area_code),
            cpf=documents.format_cpf(cpf) if cpf else "",
            role=rng.choice(ROLES),
            updated_at=recent(rng, now),
        )
        contacts.append((owner.code, contact))
    return contacts


def erp_products(seed: int, count: int, now: datetime) -> list[ErpProduct]:
    products = []
    for position in range(1, count + 1):
        rng = rng_for(seed, "product", position)
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
                updated_at=recent(rng, now),
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
        rng = rng_for(seed, "order", position)
        lines = _lines(rng, sellable)
        created_at = recent(rng, now, days=60)
        status = weighted(
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
        rng = rng_for(seed, "crm-company", position)
        updated_at = recent(rng, now)
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
        rng = rng_for(seed, "crm-person", position)
        employer = companies[(position - 1) % len(companies)] if companies else None
        name = person_name(rng)
        first, *_middle, last = ascii_slug(name, " ").split()
        domain = employer.email.partition("@")[2] if employer else "gmail.com"
        # The employer's area code, read back from its phone "(11) 3…".
        area = employer.phones[0]["PhoneNumber"][1:3] if employer else rng.choice(CITIES)[2]
        updated_at = recent(rng, now)
        person = CrmContact(
            type_id=CrmContactType.PERSON,
            name=name,
            cpf=cpf_for_person("crm", position) if rng.random() < 0.5 else "",
            email=unique_email(f"{first}.{last}", domain, taken),
            phones=[{"PhoneNumber": mobile(rng, area), "TypeId": 2}],
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
        rng = rng_for(seed, "crm-product", position)
        updated_at = recent(rng, now, days=90)
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


def crm_orders(
    seed: int,
    count: int,
    companies: list[CrmContact],
    customers: list[CrmContact],
    sellable: list[ErpProduct],
    product_ids: dict[str, int],
    now: datetime,
) -> list[tuple[str, CrmOrder]]:
    """``(company CNPJ, order)`` pairs: orders closed by salespeople, waiting to be sent to the ERP.

    Salespeople sell to ``customers`` (the companies the ERP knows) the ``sellable`` products, each line
    naming the CRM product of its code (``product_ids``, Ploomes' ProductId). The last order belongs to
    the last company, a lead unknown to the ERP when there are leads, on purpose.
    """
    orders = []
    for position in range(1, count + 1):
        rng = rng_for(seed, "crm-order", position)
        buyer = companies[-1] if position == count else rng.choice(customers or companies)
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
        updated_at = recent(rng, now, days=7)
        order = CrmOrder(
            order_number=FIRST_SEEDED_CRM_ORDER + position - 1,
            amount=sum((Decimal(str(p["Total"])) for p in products), Decimal("0.00")).quantize(CENTS),
            products=products,
            stage_id=CrmOrderStage.NEW,
            created_at=updated_at,
            updated_at=updated_at,
        )
        orders.append((buyer.cnpj, order))
    return orders
