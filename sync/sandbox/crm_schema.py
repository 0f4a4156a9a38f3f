"""The demo CRM's resources in Ploomes' shape: PascalCase JSON in and out, with validation.

Each :class:`Resource` says which JSON field maps to which column, how a row is
written out, and how a request body becomes column values (or a
:class:`BodyError` whose message goes back to the caller).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from . import documents
from .choices import CrmContactType, CrmOrderStage
from .models import CrmContact, CrmOrder, CrmProduct
from .odata import FieldSpec

CENTS = Decimal("0.01")
# Sent back by every resource, ignored when a client sends them.
READ_ONLY = frozenset({"Id", "CreateDate", "LastUpdateDate"})


class BodyError(ValueError):
    """A request body the demo CRM refuses; ``status`` is 400, or 409 for a conflict."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds kept, so ``LastUpdateDate gt <last seen>`` is exact."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


@dataclass(frozen=True)
class Resource:
    name: str  # the URL segment, e.g. "Contacts"
    model: type
    fields: dict[str, FieldSpec]
    writable: frozenset[str]
    required: frozenset[str]
    to_json: Callable
    validate: Callable  # (values: dict, instance | None) -> dict of extra column values
    select_related: tuple[str, ...] = field(default=())

    def serialize(self, obj, select: list[str] | None = None) -> dict:
        data = self.to_json(obj)
        return {name: data[name] for name in select} if select else data

    def clean(self, body, instance=None) -> dict:
        """Column values from a JSON body; ``instance`` is None for a create."""
        if not isinstance(body, dict):
            raise BodyError(_("The body must be a JSON object."))
        values = {}
        for name, value in body.items():
            if name in self.fields and name not in self.writable:
                continue  # read-only fields a client echoes back are ignored
            if name not in self.writable:
                raise BodyError(_("Unknown field %(field)r on %(resource)s.") % {"field": name, "resource": self.name})
            values[name] = _convert(self, name, value)
        if instance is None:
            missing = sorted(name for name in self.required if values.get(name) in (None, ""))
            if missing:
                raise BodyError(_("%(field)s is required.") % {"field": missing[0]})
        else:
            blank = sorted(name for name in self.required if name in values and values[name] in (None, ""))
            if blank:
                raise BodyError(_("%(field)s cannot be empty.") % {"field": blank[0]})
        columns = {self.fields[name].lookup: value for name, value in values.items()}
        columns.update(self.validate(values, instance))
        self._check_lengths(columns)
        return columns

    def _check_lengths(self, columns: dict) -> None:
        """After normalisation (a formatted CNPJ is stored as its 14 digits)."""
        names = {spec.lookup: name for name, spec in self.fields.items()}
        for column, value in columns.items():
            max_length = getattr(self.model._meta.get_field(column), "max_length", None)
            if isinstance(value, str) and max_length and len(value) > max_length:
                raise BodyError(
                    _("%(field)s is longer than %(max)d characters.") % {"field": names[column], "max": max_length}
                )


def _convert(resource: Resource, name: str, value):
    kind = resource.fields[name].kind
    wrong = BodyError(_("%(field)s has a value of the wrong type.") % {"field": name})
    if kind == "str":
        if value is None:
            return ""
        if not isinstance(value, str):
            raise wrong
        return value.strip()
    if kind == "int":
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        raise BodyError(_("%(field)s must be a whole number of 0 or more.") % {"field": name})
    if kind == "decimal":
        return _decimal(value, name)
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind == "json":
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise BodyError(_("%(field)s must be a list of objects.") % {"field": name})
        return value
    raise wrong


def _decimal(value, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BodyError(_("%(field)s must be a number.") % {"field": name})
    try:
        number = Decimal(str(value)).quantize(CENTS)
    except InvalidOperation:
        raise BodyError(_("%(field)s must be a number.") % {"field": name})
    if not number.is_finite():
        raise BodyError(_("%(field)s must be a number.") % {"field": name})
    if number < 0:
        raise BodyError(_("%(field)s cannot be negative.") % {"field": name})
    return number


# --- Contacts ---------------------------------------------------------------------------------

CONTACT_FIELDS = {
    "Id": FieldSpec("pk", "int"),
    "TypeId": FieldSpec("type_id", "int"),
    "Name": FieldSpec("name", "str"),
    "LegalName": FieldSpec("legal_name", "str"),
    "CNPJ": FieldSpec("cnpj", "str"),
    "CPF": FieldSpec("cpf", "str"),
    "CompanyId": FieldSpec("company_id", "int"),
    "Email": FieldSpec("email", "str"),
    "Phones": FieldSpec("phones", "json", filterable=False),
    "StreetAddress": FieldSpec("street_address", "str"),
    "City": FieldSpec("city", "str"),
    "State": FieldSpec("state", "str"),
    "OtherProperties": FieldSpec("other_properties", "json", filterable=False),
    "CreateDate": FieldSpec("created_at", "datetime"),
    "LastUpdateDate": FieldSpec("updated_at", "datetime"),
}


def contact_json(contact: CrmContact) -> dict:
    return {
        "Id": contact.pk,
        "TypeId": contact.type_id,
        "Name": contact.name,
        "LegalName": contact.legal_name or None,
        "CNPJ": contact.cnpj or None,
        "CPF": contact.cpf or None,
        "CompanyId": contact.company_id,
        "Email": contact.email or None,
        "Phones": contact.phones,
        "StreetAddress": contact.street_address or None,
        "City": contact.city or None,
        "State": contact.state or None,
        "OtherProperties": contact.other_properties,
        "CreateDate": iso(contact.created_at),
        "LastUpdateDate": iso(contact.updated_at),
    }


def validate_contact(values: dict, instance: CrmContact | None) -> dict:
    extra = {}
    type_id = values.get("TypeId", instance.type_id if instance else CrmContactType.COMPANY)
    if type_id not in CrmContactType.values:
        raise BodyError(_("TypeId must be 1 (company) or 2 (person)."))
    extra["type_id"] = type_id
    if values.get("CNPJ"):
        if not documents.is_valid_cnpj(values["CNPJ"]):
            raise BodyError(_("CNPJ %(value)s is not valid.") % {"value": values["CNPJ"]})
        extra["cnpj"] = documents.digits(values["CNPJ"])
    if values.get("CPF"):
        if not documents.is_valid_cpf(values["CPF"]):
            raise BodyError(_("CPF %(value)s is not valid.") % {"value": values["CPF"]})
        extra["cpf"] = documents.digits(values["CPF"])
    if values.get("Email"):
        try:
            validate_email(values["Email"])
        except ValidationError:
            raise BodyError(_("Email %(value)s is not a valid address.") % {"value": values["Email"]})
    if values.get("State") and len(values["State"]) != 2:
        raise BodyError(_("State must be the two-letter code, e.g. SP."))
    company_id = values.get("CompanyId")
    if company_id is not None:
        is_company = CrmContact.objects.filter(pk=company_id, type_id=CrmContactType.COMPANY).exists()
        if not is_company or (instance is not None and instance.pk == company_id):
            raise BodyError(_("CompanyId %(id)s is not a company.") % {"id": company_id})
    for phone in values.get("Phones", []):
        if not isinstance(phone.get("PhoneNumber"), str) or not phone["PhoneNumber"].strip():
            raise BodyError(_("Each of Phones needs a PhoneNumber."))
    return extra


CONTACTS = Resource(
    name="Contacts",
    model=CrmContact,
    fields=CONTACT_FIELDS,
    writable=frozenset(CONTACT_FIELDS) - READ_ONLY,
    required=frozenset({"Name"}),
    to_json=contact_json,
    validate=validate_contact,
)

# --- Products ---------------------------------------------------------------------------------

PRODUCT_FIELDS = {
    "Id": FieldSpec("pk", "int"),
    "Name": FieldSpec("name", "str"),
    "Code": FieldSpec("code", "str"),
    "Price": FieldSpec("price", "decimal"),
    "Active": FieldSpec("active", "bool"),
    "CreateDate": FieldSpec("created_at", "datetime"),
    "LastUpdateDate": FieldSpec("updated_at", "datetime"),
}


def product_json(product: CrmProduct) -> dict:
    return {
        "Id": product.pk,
        "Name": product.name,
        "Code": product.code or None,
        "Price": money(product.price),
        "Active": product.active,
        "CreateDate": iso(product.created_at),
        "LastUpdateDate": iso(product.updated_at),
    }


PRODUCTS = Resource(
    name="Products",
    model=CrmProduct,
    fields=PRODUCT_FIELDS,
    writable=frozenset(PRODUCT_FIELDS) - READ_ONLY,
    required=frozenset({"Name"}),
    to_json=product_json,
    validate=lambda values, instance: {},
)

# --- Orders -----------------------------------------------------------------------------------

ORDER_FIELDS = {
    "Id": FieldSpec("pk", "int"),
    "OrderNumber": FieldSpec("order_number", "int"),
    "ContactId": FieldSpec("contact_id", "int"),
    "ContactName": FieldSpec("contact__name", "str"),
    "ContactCNPJ": FieldSpec("contact__cnpj", "str"),
    "Amount": FieldSpec("amount", "decimal"),
    "Products": FieldSpec("products", "json", filterable=False),
    "StageId": FieldSpec("stage_id", "int"),
    "Status": FieldSpec("status", "str"),
    "ErpOrderNumber": FieldSpec("erp_order_number", "int"),
    "CreateDate": FieldSpec("created_at", "datetime"),
    "LastUpdateDate": FieldSpec("updated_at", "datetime"),
}
ORDER_LOOKED_UP = frozenset({"ContactName", "ContactCNPJ"})


def order_json(order: CrmOrder) -> dict:
    return {
        "Id": order.pk,
        "OrderNumber": order.order_number,
        "ContactId": order.contact_id,
        "ContactName": order.contact.name,
        "ContactCNPJ": order.contact.cnpj or None,
        "Amount": money(order.amount),
        "Products": order.products,
        "StageId": order.stage_id,
        "Status": order.status or None,
        "ErpOrderNumber": order.erp_order_number,
        "CreateDate": iso(order.created_at),
        "LastUpdateDate": iso(order.updated_at),
    }


def clean_order_lines(lines: list[dict]) -> list[dict]:
    """Each line as ``ProductId, ProductCode, Quantity, UnitPrice, Total``; ProductCode filled from ProductId."""
    known = {"ProductId", "ProductCode", "Quantity", "UnitPrice", "Total"}
    product_ids = {line.get("ProductId") for line in lines if line.get("ProductId") is not None}
    codes = dict(CrmProduct.objects.filter(pk__in=product_ids).values_list("pk", "code"))
    cleaned = []
    for position, line in enumerate(lines, start=1):
        unknown = set(line) - known
        if unknown:
            raise BodyError(
                _("Products line %(n)d: unknown field %(field)r.") % {"n": position, "field": sorted(unknown)[0]}
            )
        product_id = line.get("ProductId")
        if product_id is not None and product_id not in codes:
            raise BodyError(
                _("Products line %(n)d: product %(id)s does not exist.") % {"n": position, "id": product_id}
            )
        code = line.get("ProductCode") or (codes.get(product_id) if product_id is not None else "")
        if not code:
            raise BodyError(_("Products line %(n)d needs a ProductId or a ProductCode.") % {"n": position})
        quantity = _decimal(line.get("Quantity"), "Quantity")
        unit_price = _decimal(line.get("UnitPrice", 0), "UnitPrice")
        if quantity <= 0:
            raise BodyError(_("Products line %(n)d: Quantity must be more than 0.") % {"n": position})
        cleaned.append(
            {
                "ProductId": product_id,
                "ProductCode": str(code),
                "Quantity": float(quantity),
                "UnitPrice": float(unit_price),
                "Total": float((quantity * unit_price).quantize(CENTS)),
            }
        )
    return cleaned


def validate_order(values: dict, instance: CrmOrder | None) -> dict:
    extra = {}
    contact_id = values.get("ContactId")
    if contact_id is not None and not CrmContact.objects.filter(pk=contact_id).exists():
        raise BodyError(_("ContactId %(id)s does not exist.") % {"id": contact_id})
    if "StageId" in values and values["StageId"] not in CrmOrderStage.values:
        raise BodyError(_("StageId must be one of %(values)s.") % {"values": ", ".join(map(str, CrmOrderStage.values))})
    if "Products" in values:
        lines = clean_order_lines(values["Products"])
        extra["products"] = lines
        if lines and "Amount" not in values:
            extra["amount"] = sum(Decimal(str(line["Total"])) for line in lines).quantize(CENTS)
    return extra


ORDERS = Resource(
    name="Orders",
    model=CrmOrder,
    fields=ORDER_FIELDS,
    writable=frozenset(ORDER_FIELDS) - READ_ONLY - ORDER_LOOKED_UP,
    required=frozenset({"ContactId"}),
    to_json=order_json,
    validate=validate_order,
    select_related=("contact",),
)

RESOURCES = {resource.name: resource for resource in (CONTACTS, PRODUCTS, ORDERS)}
