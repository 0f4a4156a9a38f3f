"""The demo CRM's resources in Ploomes' shape: PascalCase JSON in and out, with strict validation.

Each :class:`Resource` says which JSON field maps to which column, how a row is
written out, and how a request body becomes column values. A body is checked
whole: every violation found goes back together, as a 422 answer::

    {"error": {"code": "ValidationFailed", "message": "The request is not valid.",
               "details": [{"code": "InvalidType", "target": "Price", "message": "Price must be a number."}]}}

Detail codes: ``InvalidType`` (a JSON value of the wrong type, or a custom field's
value under the wrong value key), ``InvalidValue`` (the right type, a refused
value), ``Required``, ``UnknownField`` (a field, or a custom FieldKey, the
resource does not have) and ``ReadOnly`` (a field fixed at creation, sent in a
PATCH). ``target`` is the field's path in the body, e.g. ``Products[1].UnitPrice``
or ``OtherProperties[0].IntegerValue`` (0-based, like the JSON arrays).

Types are JSON's, as the real API reads them: a number is a JSON number (never
a numeric string), an integer a JSON integer, a text a string (or null), a yes/no
``true`` or ``false``.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import documents
from .choices import CrmContactType, CrmEntity, CrmOrderStage
from .models import CrmContact, CrmField, CrmOrder, CrmProduct
from .odata import FieldSpec

CENTS = Decimal("0.01")
# Sent back by every resource, ignored when a client sends them.
READ_ONLY = frozenset({"Id", "CreateDate", "LastUpdateDate"})
# The largest value of the integer columns (PositiveIntegerField fits every database).
MAX_INT = 2_147_483_647
MAX_TEXT_VALUE = 4000

INVALID_TYPE = "InvalidType"
INVALID_VALUE = "InvalidValue"
REQUIRED = "Required"
UNKNOWN_FIELD = "UnknownField"
READ_ONLY_FIELD = "ReadOnly"


@dataclass(frozen=True)
class Violation:
    code: str
    target: str
    message: str

    def as_json(self) -> dict:
        return {"code": self.code, "target": self.target, "message": self.message}


class BodyError(ValueError):
    """A request the demo CRM refuses.

    ``status`` 400 (unreadable body, code ``BadRequest``), 409 (conflict, code
    ``Conflict``) or 422 (code ``ValidationFailed``, with every violation in ``details``).
    """

    def __init__(self, message, status: int = 400, code: str = "BadRequest", details: tuple[Violation, ...] = ()):
        super().__init__(str(message))
        self.message = str(message)
        self.status = status
        self.code = code
        self.details = tuple(details)


def validation_failed(details) -> BodyError:
    return BodyError(_("The request is not valid."), status=422, code="ValidationFailed", details=details)


def conflict(message) -> BodyError:
    return BodyError(message, status=409, code="Conflict")


class Problems:
    """The violations found in one body, in the order they were found."""

    def __init__(self):
        self.found: list[Violation] = []

    def add(self, code: str, target: str, message) -> None:
        self.found.append(Violation(code, target, str(message)))

    def wrong_type(self, target: str, message) -> None:
        self.add(INVALID_TYPE, target, message)

    def invalid(self, target: str, message) -> None:
        self.add(INVALID_VALUE, target, message)

    def raise_if_any(self) -> None:
        if self.found:
            raise validation_failed(self.found)


# Returned by the converters for a value that was refused (and added to the problems).
REFUSED = object()


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds kept, so ``LastUpdateDate gt <last seen>`` is exact."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


# --- JSON values ------------------------------------------------------------------------------


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # json.loads reads NaN and Infinity, which JSON does not have
    return is_integer(value)


def as_text(value, target: str, problems: Problems):
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.wrong_type(target, _("%(field)s must be a text.") % {"field": target})
        return REFUSED
    return value.strip()


def as_integer(value, target: str, problems: Problems, nullable: bool = True):
    if value is None and nullable:
        return None
    if not is_integer(value):
        problems.wrong_type(target, _("%(field)s must be a whole number.") % {"field": target})
        return REFUSED
    if value < 0:
        problems.invalid(target, _("%(field)s cannot be negative.") % {"field": target})
        return REFUSED
    if value > MAX_INT:
        problems.invalid(target, _("%(field)s must be at most %(max)d.") % {"field": target, "max": MAX_INT})
        return REFUSED
    return value


def as_decimal(value, target: str, problems: Problems, max_digits: int = 28):
    """A JSON number as a Decimal to the cent; ``max_digits`` counts the digits before and after the point."""
    if not is_number(value):
        problems.wrong_type(target, _("%(field)s must be a number.") % {"field": target})
        return REFUSED
    try:
        number = Decimal(str(value)).quantize(CENTS, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # beyond Decimal's precision
        number = None
    if number is None or abs(number) >= Decimal(10) ** (max_digits - 2):
        problems.invalid(target, _("%(field)s is too large.") % {"field": target})
        return REFUSED
    if number < 0:
        problems.invalid(target, _("%(field)s cannot be negative.") % {"field": target})
        return REFUSED
    return number


def as_bool(value, target: str, problems: Problems):
    if not isinstance(value, bool):
        problems.wrong_type(target, _("%(field)s must be true or false.") % {"field": target})
        return REFUSED
    return value


def as_objects(value, target: str, problems: Problems):
    """A list of JSON objects; null is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.wrong_type(target, _("%(field)s must be a list of objects.") % {"field": target})
        return REFUSED
    ok = True
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            where = f"{target}[{index}]"
            problems.wrong_type(where, _("%(field)s must be an object.") % {"field": where})
            ok = False
    return value if ok else REFUSED


def as_date_time(value, target: str, problems: Problems):
    """An ISO 8601 date and time in a JSON string, as UTC ISO text; without an offset it is UTC."""
    if not isinstance(value, str):
        problems.wrong_type(target, _("%(field)s must be an ISO 8601 date and time in a text.") % {"field": target})
        return REFUSED
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.invalid(target, _("%(field)s must be an ISO 8601 date and time.") % {"field": target})
        return REFUSED
    return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


# --- custom fields (OtherProperties) ----------------------------------------------------------

# How each value key's value is checked; None (no value) is allowed under the right key.
VALUE_CHECKS = {
    "StringValue": "str",
    "IntegerValue": "int",
    "DecimalValue": "decimal",
    "DateTimeValue": "datetime",
    "BoolValue": "bool",
}
FIELD_TYPE_NAMES = {
    "StringValue": gettext_lazy("a text field"),
    "IntegerValue": gettext_lazy("a whole-number field"),
    "DecimalValue": gettext_lazy("a decimal field"),
    "DateTimeValue": gettext_lazy("a date-and-time field"),
    "BoolValue": gettext_lazy("a yes/no field"),
}


def _property_value(value_key: str, value, target: str, problems: Problems):
    if value is None:
        return None
    kind = VALUE_CHECKS[value_key]
    if kind == "str":
        if not isinstance(value, str):
            problems.wrong_type(target, _("%(field)s must be a text.") % {"field": target})
            return REFUSED
        if len(value) > MAX_TEXT_VALUE:
            problems.invalid(
                target, _("%(field)s is longer than %(max)d characters.") % {"field": target, "max": MAX_TEXT_VALUE}
            )
            return REFUSED
        return value
    if kind == "int":
        if not is_integer(value):
            problems.wrong_type(target, _("%(field)s must be a whole number.") % {"field": target})
            return REFUSED
        if abs(value) >= 2**63:
            problems.invalid(target, _("%(field)s is too large.") % {"field": target})
            return REFUSED
        return value
    if kind == "decimal":
        if not is_number(value):
            problems.wrong_type(target, _("%(field)s must be a number.") % {"field": target})
            return REFUSED
        return value
    if kind == "datetime":
        return as_date_time(value, target, problems)
    return as_bool(value, target, problems)


def clean_other_properties(elements: list[dict], entity: int, resource: str, problems: Problems) -> list[dict]:
    """Each element as ``{"FieldKey": key, <its type's value key>: value}``; violations go to ``problems``."""
    value_keys = CrmField.value_keys(entity)
    cleaned, seen = [], set()
    for index, element in enumerate(elements):
        where = f"OtherProperties[{index}]"
        field_key = element.get("FieldKey")
        if field_key is None:
            problems.add(REQUIRED, f"{where}.FieldKey", _("%(field)s is required.") % {"field": f"{where}.FieldKey"})
            continue
        if not isinstance(field_key, str):
            problems.wrong_type(f"{where}.FieldKey", _("%(field)s must be a text.") % {"field": f"{where}.FieldKey"})
            continue
        value_key = value_keys.get(field_key)
        if value_key is None:
            problems.add(
                UNKNOWN_FIELD,
                f"{where}.FieldKey",
                _("%(key)s is not a field of %(entity)s.") % {"key": field_key, "entity": resource},
            )
            continue
        if field_key in seen:
            problems.invalid(f"{where}.FieldKey", _("%(key)s appears more than once.") % {"key": field_key})
            continue
        seen.add(field_key)
        ok = True
        for key in element:
            if key in ("FieldKey", value_key):
                continue
            target = f"{where}.{key}"
            if key in VALUE_CHECKS:
                problems.wrong_type(
                    target,
                    _("%(key)s is %(type)s: its value goes in %(value_key)s, not %(wrong)s.")
                    % {"key": field_key, "type": FIELD_TYPE_NAMES[value_key], "value_key": value_key, "wrong": key},
                )
            else:
                problems.add(
                    UNKNOWN_FIELD, target, _("%(field)s is not a key of a custom field value.") % {"field": target}
                )
            ok = False
        if value_key not in element:
            if not ok:
                continue  # the value under a wrong key is the one violation
            problems.add(
                REQUIRED,
                where,
                _("%(field)s needs %(value_key)s: %(key)s is %(type)s.")
                % {"field": where, "value_key": value_key, "key": field_key, "type": FIELD_TYPE_NAMES[value_key]},
            )
            continue
        value = _property_value(value_key, element[value_key], f"{where}.{value_key}", problems)
        if ok and value is not REFUSED:
            cleaned.append({"FieldKey": field_key, value_key: value})
    return cleaned


def merge_other_properties(stored: list[dict], sent: list[dict]) -> list[dict]:
    """Ploomes' PATCH: an element sent replaces the stored one of its FieldKey; the others stay as they were."""
    by_key = {element["FieldKey"]: element for element in sent}
    merged = [by_key.pop(element.get("FieldKey"), element) for element in stored]
    return merged + [element for element in sent if element["FieldKey"] in by_key]


def other_properties_json(elements) -> list[dict]:
    return [dict(element) for element in elements or []]


# --- resources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    name: str  # the URL segment, e.g. "Contacts"
    model: type
    fields: dict[str, FieldSpec]
    writable: frozenset[str]
    required: frozenset[str]
    to_json: Callable
    validate: Callable  # (values, instance | None, problems) -> dict of extra column values
    select_related: tuple[str, ...] = field(default=())
    fixed: frozenset[str] = frozenset()  # set at creation, refused in a PATCH
    entity: int | None = None  # the CRM entity whose custom fields go in OtherProperties
    read_only: bool = False  # GET only

    def serialize(self, obj, select: list[str] | None = None) -> dict:
        data = self.to_json(obj)
        return {name: data[name] for name in select} if select else data

    def custom_fields(self) -> dict[str, str]:
        """``{FieldKey: value key}`` of this resource's custom fields (one query)."""
        return CrmField.value_keys(self.entity) if self.entity is not None else {}

    def clean(self, body, instance=None) -> dict:
        """Column values from a JSON body; ``instance`` is None for a create. Raises a 422 :class:`BodyError`."""
        if not isinstance(body, dict):
            raise validation_failed([Violation(INVALID_TYPE, "", _("The body must be a JSON object."))])
        problems = Problems()
        values, refused = {}, set()
        for name, value in body.items():
            if name in self.fields and name not in self.writable:
                continue  # read-only fields a client echoes back are ignored
            if name not in self.writable:
                problems.add(
                    UNKNOWN_FIELD,
                    name,
                    _("%(field)s is not a field of %(resource)s.") % {"field": name, "resource": self.name},
                )
                continue
            if instance is not None and name in self.fixed:
                problems.add(READ_ONLY_FIELD, name, _("%(field)s cannot be changed after creation.") % {"field": name})
                continue
            converted = self._convert(name, value, problems)
            if converted is REFUSED:
                refused.add(name)
            else:
                values[name] = converted
        self._check_required(values, refused, instance, problems)
        if "OtherProperties" in values:
            sent = clean_other_properties(values["OtherProperties"], self.entity, self.name, problems)
            values["OtherProperties"] = merge_other_properties(instance.other_properties, sent) if instance else sent
        columns = {self.fields[name].lookup: value for name, value in values.items()}
        columns.update(self.validate(values, instance, problems))
        self._check_lengths(columns, problems)
        problems.raise_if_any()
        return columns

    def _convert(self, name: str, value, problems: Problems):
        spec = self.fields[name]
        if spec.kind == "str":
            return as_text(value, name, problems)
        if spec.kind == "int":
            return as_integer(value, name, problems)
        if spec.kind == "decimal":
            column = self.model._meta.get_field(spec.lookup)
            return as_decimal(value, name, problems, max_digits=column.max_digits)
        if spec.kind == "bool":
            return as_bool(value, name, problems)
        if spec.kind in ("json", "properties"):
            return as_objects(value, name, problems)
        raise AssertionError(f"{self.name}.{name} has no converter for {spec.kind!r}")

    def _check_required(self, values: dict, refused: set, instance, problems: Problems) -> None:
        for name in sorted(self.required - refused):
            if instance is None and values.get(name) in (None, ""):
                problems.add(REQUIRED, name, _("%(field)s is required.") % {"field": name})
            elif instance is not None and name in values and values[name] in (None, ""):
                problems.add(REQUIRED, name, _("%(field)s cannot be empty.") % {"field": name})
        if instance is not None:  # null cannot clear a column that always has a value (e.g. OrderNumber)
            for name, value in values.items():
                column = self.model._meta.get_field(self.fields[name].lookup)
                if value is None and name not in self.required and not column.null:
                    problems.add(REQUIRED, name, _("%(field)s cannot be empty.") % {"field": name})

    def _check_lengths(self, columns: dict, problems: Problems) -> None:
        """After normalisation (a formatted CNPJ is stored as its 14 digits)."""
        names = {spec.lookup: name for name, spec in self.fields.items()}
        for column, value in columns.items():
            max_length = getattr(self.model._meta.get_field(column), "max_length", None)
            if isinstance(value, str) and max_length and len(value) > max_length:
                name = names.get(column, column)
                problems.invalid(
                    name, _("%(field)s is longer than %(max)d characters.") % {"field": name, "max": max_length}
                )


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
    "OtherProperties": FieldSpec("other_properties", "properties"),
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
        "OtherProperties": other_properties_json(contact.other_properties),
        "CreateDate": iso(contact.created_at),
        "LastUpdateDate": iso(contact.updated_at),
    }


def validate_contact(values: dict, instance: CrmContact | None, problems: Problems) -> dict:
    extra = {}
    if instance is None:
        type_id = values.get("TypeId")
        if type_id is None:
            type_id = CrmContactType.COMPANY
        if type_id not in CrmContactType.values:
            problems.invalid("TypeId", _("TypeId must be 1 (company) or 2 (person)."))
        extra["type_id"] = type_id
    if values.get("CNPJ"):
        if not documents.is_valid_cnpj(values["CNPJ"]):
            problems.invalid("CNPJ", _("CNPJ %(value)s is not valid.") % {"value": values["CNPJ"]})
        extra["cnpj"] = documents.digits(values["CNPJ"])
    if values.get("CPF"):
        if not documents.is_valid_cpf(values["CPF"]):
            problems.invalid("CPF", _("CPF %(value)s is not valid.") % {"value": values["CPF"]})
        extra["cpf"] = documents.digits(values["CPF"])
    if values.get("Email"):
        try:
            validate_email(values["Email"])
        except ValidationError:
            problems.invalid("Email", _("Email %(value)s is not a valid address.") % {"value": values["Email"]})
    if values.get("State") and len(values["State"]) != 2:
        problems.invalid("State", _("State must be the two-letter code, e.g. SP."))
    company_id = values.get("CompanyId")
    if company_id is not None:
        is_company = CrmContact.objects.filter(pk=company_id, type_id=CrmContactType.COMPANY).exists()
        if not is_company or (instance is not None and instance.pk == company_id):
            problems.invalid("CompanyId", _("CompanyId %(id)s is not a company.") % {"id": company_id})
    for index, phone in enumerate(values.get("Phones", [])):
        number = phone.get("PhoneNumber")
        if not isinstance(number, str) or not number.strip():
            where = f"Phones[{index}].PhoneNumber"
            problems.add(REQUIRED, where, _("%(field)s must be a phone number in a text.") % {"field": where})
    return extra


CONTACTS = Resource(
    name="Contacts",
    model=CrmContact,
    fields=CONTACT_FIELDS,
    writable=frozenset(CONTACT_FIELDS) - READ_ONLY,
    required=frozenset({"Name"}),
    to_json=contact_json,
    validate=validate_contact,
    fixed=frozenset({"TypeId"}),
    entity=CrmEntity.CONTACTS,
)

# --- Products ---------------------------------------------------------------------------------

PRODUCT_FIELDS = {
    "Id": FieldSpec("pk", "int"),
    "Name": FieldSpec("name", "str"),
    "Code": FieldSpec("code", "str"),
    "Price": FieldSpec("price", "decimal"),
    "Active": FieldSpec("active", "bool"),
    "OtherProperties": FieldSpec("other_properties", "properties"),
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
        "OtherProperties": other_properties_json(product.other_properties),
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
    validate=lambda values, instance, problems: {},
    fixed=frozenset({"Code"}),
    entity=CrmEntity.PRODUCTS,
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
    "OtherProperties": FieldSpec("other_properties", "properties"),
    "CreateDate": FieldSpec("created_at", "datetime"),
    "LastUpdateDate": FieldSpec("updated_at", "datetime"),
}
ORDER_LOOKED_UP = frozenset({"ContactName", "ContactCNPJ"})
ORDER_LINE_FIELDS = ("ProductId", "ProductCode", "Quantity", "UnitPrice", "Total")


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
        "OtherProperties": other_properties_json(order.other_properties),
        "CreateDate": iso(order.created_at),
        "LastUpdateDate": iso(order.updated_at),
    }


def clean_order_lines(lines: list[dict], problems: Problems) -> list[dict]:
    """Each line as ``ProductId, ProductCode, Quantity, UnitPrice, Total``; ProductCode filled from ProductId.

    ``Total`` is computed (a number sent there is checked for its type, then ignored);
    ``UnitPrice`` left out is 0.
    """
    product_ids = {line.get("ProductId") for line in lines if is_integer(line.get("ProductId"))}
    codes = dict(CrmProduct.objects.filter(pk__in=product_ids).values_list("pk", "code"))
    cleaned = []
    for index, line in enumerate(lines):
        where = f"Products[{index}]"
        before = len(problems.found)
        for name in sorted(set(line) - set(ORDER_LINE_FIELDS)):
            problems.add(
                UNKNOWN_FIELD,
                f"{where}.{name}",
                _("%(field)s is not a field of an order line.") % {"field": f"{where}.{name}"},
            )
        product_id = as_integer(line.get("ProductId"), f"{where}.ProductId", problems)
        code = as_text(line.get("ProductCode"), f"{where}.ProductCode", problems)
        if "Quantity" in line:
            quantity = as_decimal(line["Quantity"], f"{where}.Quantity", problems)
            if quantity is not REFUSED and quantity <= 0:
                problems.invalid(
                    f"{where}.Quantity", _("%(field)s must be more than 0.") % {"field": f"{where}.Quantity"}
                )
        else:
            quantity = REFUSED
            problems.add(REQUIRED, f"{where}.Quantity", _("%(field)s is required.") % {"field": f"{where}.Quantity"})
        unit_price = as_decimal(line.get("UnitPrice", 0), f"{where}.UnitPrice", problems)
        if line.get("Total") is not None:
            as_decimal(line["Total"], f"{where}.Total", problems)
        if product_id not in (None, REFUSED) and product_id not in codes:
            problems.invalid(f"{where}.ProductId", _("Product %(id)s does not exist.") % {"id": product_id})
        if product_id is None and code == "":
            problems.add(REQUIRED, where, _("%(field)s needs a ProductId or a ProductCode.") % {"field": where})
        if len(problems.found) > before:
            continue
        cleaned.append(
            {
                "ProductId": product_id,
                "ProductCode": code or codes.get(product_id, ""),
                "Quantity": float(quantity),
                "UnitPrice": float(unit_price),
                "Total": float((quantity * unit_price).quantize(CENTS)),
            }
        )
    return cleaned


def validate_order(values: dict, instance: CrmOrder | None, problems: Problems) -> dict:
    extra = {}
    contact_id = values.get("ContactId")
    if contact_id is not None and not CrmContact.objects.filter(pk=contact_id).exists():
        problems.invalid("ContactId", _("ContactId %(id)s does not exist.") % {"id": contact_id})
    if "StageId" in values and values["StageId"] not in CrmOrderStage.values:
        problems.invalid(
            "StageId",
            _("StageId must be one of %(values)s.") % {"values": ", ".join(map(str, CrmOrderStage.values))},
        )
    if "Products" in values:
        lines = clean_order_lines(values["Products"], problems)
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
    entity=CrmEntity.ORDERS,
)

# --- Fields (custom fields, read-only) --------------------------------------------------------

FIELD_FIELDS = {
    "Id": FieldSpec("pk", "int"),
    "Key": FieldSpec("key", "str"),
    "Name": FieldSpec("name", "str"),
    "EntityId": FieldSpec("entity_id", "int"),
    "TypeId": FieldSpec("type_id", "int"),
}


def field_json(custom_field: CrmField) -> dict:
    return {
        "Id": custom_field.pk,
        "Key": custom_field.key,
        "Name": custom_field.name,
        "EntityId": custom_field.entity_id,
        "TypeId": custom_field.type_id,
    }


FIELDS = Resource(
    name="Fields",
    model=CrmField,
    fields=FIELD_FIELDS,
    writable=frozenset(),
    required=frozenset(),
    to_json=field_json,
    validate=lambda values, instance, problems: {},
    read_only=True,
)

RESOURCES = {resource.name: resource for resource in (CONTACTS, PRODUCTS, ORDERS, FIELDS)}
