"""The demo CRM's resources in Ploomes' shape: Contacts, Products, Orders and (read-only) Fields.

PascalCase JSON in and out; each resource's own checks (a valid CNPJ, an existing
contact, order lines that name a product) add to the violations of
:meth:`Resource.clean <demo.crm_resource.Resource.clean>`.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from . import documents
from .choices import CrmContactType, CrmEntity, CrmOrderStage
from .crm_properties import other_properties_json
from .crm_resource import Resource
from .crm_values import (
    CENTS,
    REFUSED,
    REQUIRED,
    UNKNOWN_FIELD,
    Problems,
    as_decimal,
    as_integer,
    as_text,
    is_integer,
    iso,
    money,
)
from .models import CrmContact, CrmField, CrmOrder, CrmProduct
from .odata import FieldSpec

# Sent back by every resource, ignored when a client sends them.
READ_ONLY = frozenset({"Id", "CreateDate", "LastUpdateDate"})


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
