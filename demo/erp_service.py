"""The demo ERP's operations: each reads its SOAP arguments and returns the answer as a dict.

Dict keys follow the WSDL's sequences in order (zeep checks the order); a
list value repeats its element, None leaves it out. Business refusals raise
:class:`~.soap.SoapFault` with a ``Client.*`` code and a readable message.
"""

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError
from django.db.models import Q
from django.utils.translation import gettext as _

from . import documents
from .choices import CreditStatus, ErpOrderStatus
from .models import ErpContact, ErpCustomer, ErpOrder, ErpProduct, SandboxKnobs, next_number
from .soap import SoapFault, child, children, date_time, decimal, integer, text
from .workflow import advance_orders

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_ORDER_LINES = 500
FIRST_ORDER_NUMBER = 50001
CENTS = Decimal("0.01")


def _blank_to_none(value: str) -> str | None:
    return value or None


def customer_record(customer: ErpCustomer) -> dict:
    return {
        "code": customer.code,
        "legal_name": customer.legal_name,
        "trade_name": customer.trade_name,
        "cnpj": customer.cnpj,
        "email": _blank_to_none(customer.email),
        "phone": _blank_to_none(customer.phone),
        "street_address": _blank_to_none(customer.street_address),
        "zip_code": _blank_to_none(customer.zip_code),
        "city": customer.city,
        "state": customer.state,
        "credit_status": customer.credit_status,
        "active": customer.active,
        "updated_at": customer.updated_at,
    }


def contact_record(contact: ErpContact) -> dict:
    return {
        "id": contact.pk,
        "customer_code": contact.customer.code,
        "name": contact.name,
        "email": _blank_to_none(contact.email),
        "phone": _blank_to_none(contact.phone),
        "cpf": _blank_to_none(contact.cpf),
        "role": _blank_to_none(contact.role),
        "updated_at": contact.updated_at,
    }


def product_record(product: ErpProduct) -> dict:
    return {
        "code": product.code,
        "description": product.description,
        "unit": product.unit,
        "unit_price": product.unit_price,
        "active": product.active,
        "updated_at": product.updated_at,
    }


def order_record(order: ErpOrder) -> dict:
    return {
        "order_number": order.number,
        "customer_code": order.customer.code,
        "customer_cnpj": order.customer.cnpj,
        "status": order.status,
        "external_id": _blank_to_none(order.external_id),
        "total": order.total,
        "lines": [
            {
                "product_code": line["product_code"],
                "description": line.get("description") or None,
                "quantity": line["quantity"],
                "unit_price": line["unit_price"],
                "total": line["total"],
            }
            for line in order.lines
        ],
        "notes": _blank_to_none(order.notes),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


# --- lists ------------------------------------------------------------------------------------


def _page(element, queryset, to_record) -> dict:
    """One page of ``queryset`` (1-based ``page``, ``page_size`` up to 500), filtered by ``updated_since``.

    Every list answers its records under the same name, ``records``, so that one
    connection-wide records path fits every table read from this service.
    """
    page = integer(element, "page", 1)
    page_size = integer(element, "page_size", DEFAULT_PAGE_SIZE)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise SoapFault(
            "Client.InvalidRequest",
            _("page starts at 1 and page_size goes from 1 to %(max)d.") % {"max": MAX_PAGE_SIZE},
        )
    updated_since = date_time(element, "updated_since")
    if updated_since is not None:
        queryset = queryset.filter(updated_at__gte=updated_since)
    start = (page - 1) * page_size
    rows = list(queryset.order_by("pk")[start : start + page_size + 1])
    return {
        "records": [to_record(row) for row in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "total": queryset.count(),
        "has_more": len(rows) > page_size,
    }


def list_customers(element, now: datetime, knobs: SandboxKnobs) -> dict:
    return _page(element, ErpCustomer.objects.all(), customer_record)


def list_contacts(element, now: datetime, knobs: SandboxKnobs) -> dict:
    contacts = ErpContact.objects.select_related("customer")
    customer_code = text(element, "customer_code")
    if customer_code:
        contacts = contacts.filter(customer__code=customer_code)
    return _page(element, contacts, contact_record)


def list_products(element, now: datetime, knobs: SandboxKnobs) -> dict:
    return _page(element, ErpProduct.objects.all(), product_record)


def list_orders(element, now: datetime, knobs: SandboxKnobs) -> dict:
    advance_orders(now, knobs.order_step_seconds)
    orders = ErpOrder.objects.select_related("customer")
    status = text(element, "status")
    if status:
        orders = orders.filter(status=status)
    return _page(element, orders, order_record)


# --- single records ---------------------------------------------------------------------------


def _find_customer(code: str | None, cnpj: str | None) -> ErpCustomer:
    if not code and not cnpj:
        raise SoapFault("Client.InvalidRequest", _("Give the customer's code or CNPJ."))
    lookup = Q(code=code) if code else Q(cnpj=documents.format_cnpj(cnpj))
    customer = ErpCustomer.objects.filter(lookup).first()
    if customer is None:
        raise SoapFault(
            "Client.UnknownCustomer", _("There is no customer with code or CNPJ %(key)s.") % {"key": code or cnpj}
        )
    return customer


def get_customer(element, now: datetime, knobs: SandboxKnobs) -> dict:
    return {"customer": customer_record(_find_customer(text(element, "code"), text(element, "cnpj")))}


def _find_order(number: int | None, external_id: str | None) -> ErpOrder:
    if number is None and not external_id:
        raise SoapFault("Client.InvalidRequest", _("Give the order number or its external id."))
    lookup = Q(number=number) if number is not None else Q(external_id=external_id)
    order = ErpOrder.objects.select_related("customer").filter(lookup).first()
    if order is None:
        key = number if number is not None else external_id
        raise SoapFault("Client.UnknownOrder", _("There is no order %(key)s.") % {"key": key})
    return order


def get_order(element, now: datetime, knobs: SandboxKnobs) -> dict:
    advance_orders(now, knobs.order_step_seconds)
    order = _find_order(integer(element, "order_number"), text(element, "external_id"))
    return {"order": order_record(order)}


def get_order_status(element, now: datetime, knobs: SandboxKnobs) -> dict:
    advance_orders(now, knobs.order_step_seconds)
    order = _find_order(integer(element, "order_number"), None)
    return {"order_number": order.number, "status": order.status, "updated_at": order.updated_at}


# --- create order -----------------------------------------------------------------------------


def _orderable_customer(code: str | None, cnpj: str | None) -> ErpCustomer:
    if not code and not cnpj:
        raise SoapFault("Client.InvalidOrder", _("The order needs the customer's code or CNPJ."))
    customer = _find_customer(code, cnpj)
    if not customer.active:
        raise SoapFault(
            "Client.InactiveCustomer",
            _("Customer %(code)s is inactive and cannot place orders.") % {"code": customer.code},
        )
    if customer.credit_status == CreditStatus.BLOCKED:
        raise SoapFault(
            "Client.CreditBlocked", _("Customer %(code)s has its credit blocked.") % {"code": customer.code}
        )
    return customer


def _order_lines(line_elements) -> list[dict]:
    if not line_elements:
        raise SoapFault("Client.InvalidOrder", _("An order needs at least one line."))
    if len(line_elements) > MAX_ORDER_LINES:
        raise SoapFault("Client.InvalidOrder", _("An order has at most %(max)d lines.") % {"max": MAX_ORDER_LINES})
    codes = {text(line, "product_code") for line in line_elements}
    products = {product.code: product for product in ErpProduct.objects.filter(code__in=codes)}
    lines = []
    for position, line in enumerate(line_elements, start=1):
        code = text(line, "product_code")
        product = products.get(code)
        if product is None:
            raise SoapFault(
                "Client.InvalidOrder",
                _("Line %(n)d: product %(code)s does not exist.") % {"n": position, "code": code or "—"},
            )
        if not product.active:
            raise SoapFault(
                "Client.InvalidOrder", _("Line %(n)d: product %(code)s is inactive.") % {"n": position, "code": code}
            )
        quantity = decimal(line, "quantity")
        if quantity is None or quantity <= 0:
            raise SoapFault("Client.InvalidOrder", _("Line %(n)d: the quantity must be more than 0.") % {"n": position})
        unit_price = decimal(line, "unit_price")
        unit_price = product.unit_price if unit_price is None else unit_price.quantize(CENTS)
        if unit_price < 0:
            raise SoapFault(
                "Client.InvalidOrder", _("Line %(n)d: the unit price cannot be negative.") % {"n": position}
            )
        lines.append(
            {
                "product_code": product.code,
                "description": product.description,
                "quantity": format(quantity.normalize(), "f"),
                "unit_price": str(unit_price),
                "total": str((quantity * unit_price).quantize(CENTS)),
            }
        )
    return lines


def _created(order: ErpOrder, created: bool) -> dict:
    return {"order_number": order.number, "status": order.status, "total": order.total, "created": created}


def create_order(element, now: datetime, knobs: SandboxKnobs) -> dict:
    """Create an order; the same ``external_id`` twice answers the first order (``created`` false)."""
    order_element = child(element, "order")
    if order_element is None:
        raise SoapFault("Client.InvalidOrder", _("The request has no order."))
    external_id = text(order_element, "external_id") or ""
    if external_id:
        existing = ErpOrder.objects.filter(external_id=external_id).first()
        if existing is not None:
            return _created(existing, created=False)
    customer = _orderable_customer(text(order_element, "customer_code"), text(order_element, "customer_cnpj"))
    lines = _order_lines(children(order_element, "lines"))
    total = sum((Decimal(line["total"]) for line in lines), Decimal("0.00"))
    values = {
        "customer": customer,
        "status": ErpOrderStatus.RECEIVED,
        "external_id": external_id,
        "lines": lines,
        "total": total,
        "notes": (text(order_element, "notes") or "")[:500],
        "created_at": now,
        "updated_at": now,
    }
    try:
        order = next_number(
            ErpOrder, "number", lambda number: ErpOrder.objects.create(number=number, **values), FIRST_ORDER_NUMBER
        )
    except IntegrityError:
        existing = ErpOrder.objects.filter(external_id=external_id).first() if external_id else None
        if existing is None:
            raise
        return _created(existing, created=False)
    return _created(order, created=True)


OPERATIONS = {
    "ListCustomers": list_customers,
    "ListContacts": list_contacts,
    "ListProducts": list_products,
    "ListOrders": list_orders,
    "GetCustomer": get_customer,
    "GetOrder": get_order,
    "GetOrderStatus": get_order_status,
    "CreateOrder": create_order,
}
