"""The demo systems enforce the real APIs' contracts, refusals included.

The demo CRM (Ploomes-shaped): JSON types checked strictly and every violation of
a body answered at once (422 ``ValidationFailed`` with ``details``), fields fixed
at creation, custom fields in ``OtherProperties`` (typed, merged on PATCH,
filtered with ``any()``), ``/Fields``, and ``$top`` capped at 300. The demo ERP
(SOAP): every argument checked against the WSDL's XSD types.
"""

import base64
from urllib.parse import parse_qsl

import pytest
from django.utils import timezone
from lxml import etree

from demo import seed
from demo.choices import CrmContactType, SandboxSystem
from demo.integration import TABLES
from demo.models import CrmContact, CrmField, CrmOrder, CrmProduct, ErpCustomer, ErpOrder, ErpProduct

pytestmark = pytest.mark.django_db

VALIDATION_FAILED = {"code": "ValidationFailed", "message": "The request is not valid."}


@pytest.fixture
def knobs():
    seed.populate(seed.SeedSizes(), timezone.now())
    return seed.ensure_knobs()


@pytest.fixture
def crm(client, knobs):
    headers = {"User-Key": knobs[SandboxSystem.CRM].api_key}

    def call(method, path, body=None, params=None):
        url = f"/sandbox/crm{path}"
        if method == "GET":
            return client.get(url, params or {}, headers=headers)
        send = getattr(client, method.lower())
        return send(url, body, content_type="application/json", headers=headers)

    return call


def details_of(response) -> list[dict]:
    """The violations of a 422 answer, after checking the answer's exact shape."""
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert {key: error[key] for key in ("code", "message")} == VALIDATION_FAILED
    for detail in error["details"]:
        assert set(detail) == {"code", "target", "message"}
    return error["details"]


def targets(response) -> dict[str, str]:
    return {detail["target"]: detail["code"] for detail in details_of(response)}


def a_company() -> CrmContact:
    return CrmContact.objects.filter(type_id=CrmContactType.COMPANY).first()


# --- typed fields -------------------------------------------------------------------------------


def test_a_price_in_text_is_refused_with_a_detail_on_price(crm):
    response = crm("POST", "/Products", {"Name": "Cimento CP II 50 kg", "Code": "P90001", "Price": "39.90"})
    assert response.json() == {
        "error": {
            **VALIDATION_FAILED,
            "details": [{"code": "InvalidType", "target": "Price", "message": "Price must be a number."}],
        }
    }
    assert not CrmProduct.objects.filter(code="P90001").exists()


def test_every_violation_of_a_body_is_listed_not_only_the_first(crm):
    body = {"Name": 7, "Code": 90002, "Price": True, "Active": "yes", "Colour": "blue"}
    assert targets(crm("POST", "/Products", body)) == {
        "Name": "InvalidType",
        "Code": "InvalidType",
        "Price": "InvalidType",
        "Active": "InvalidType",
        "Colour": "UnknownField",
    }


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({"Name": "X", "TypeId": "1"}, "TypeId"),
        ({"Name": "X", "TypeId": 1.0}, "TypeId"),
        ({"Name": "X", "TypeId": True}, "TypeId"),
        ({"Name": "X", "CompanyId": "12"}, "CompanyId"),
        ({"Name": "X", "City": 5}, "City"),
        ({"Name": "X", "Phones": {"PhoneNumber": "1"}}, "Phones"),
        ({"Name": "X", "Phones": ["(11) 3333-4444"]}, "Phones[0]"),
    ],
)
def test_contact_fields_must_have_their_json_type(crm, body, target):
    assert targets(crm("POST", "/Contacts", body)) == {target: "InvalidType"}


def test_a_text_field_takes_null_and_numbers_take_ints_and_floats(crm):
    created = crm("POST", "/Products", {"Name": "Areia 20 kg", "Code": None, "Price": 12})
    assert created.status_code == 200, created.content
    assert created.json()["value"][0]["Price"] == 12.0
    updated = crm("PATCH", f"/Products({created.json()['value'][0]['Id']})", {"Price": 12.345})
    assert updated.json()["value"][0]["Price"] == 12.35


def test_order_fields_and_lines_are_typed_and_targeted_by_their_path(crm):
    product = CrmProduct.objects.first()
    body = {
        "ContactId": str(a_company().pk),
        "StageId": 1.5,
        "ErpOrderNumber": "50001",
        "Amount": "10.00",
        "Products": [
            {"ProductId": product.pk, "Quantity": 1, "UnitPrice": 10.5},
            {"ProductId": str(product.pk), "Quantity": "2", "UnitPrice": "10.50"},
            {"ProductId": 999999, "Quantity": 0, "Discount": 1},
        ],
    }
    assert targets(crm("POST", "/Orders", body)) == {
        "ContactId": "InvalidType",
        "StageId": "InvalidType",
        "ErpOrderNumber": "InvalidType",
        "Amount": "InvalidType",
        "Products[1].ProductId": "InvalidType",
        "Products[1].Quantity": "InvalidType",
        "Products[1].UnitPrice": "InvalidType",
        "Products[2].Discount": "UnknownField",
        "Products[2].Quantity": "InvalidValue",
        "Products[2].ProductId": "InvalidValue",
    }
    assert not CrmOrder.objects.filter(erp_order_number=50001).exists()


def test_value_refusals_are_422_with_their_target_too(crm):
    assert targets(crm("POST", "/Contacts", {"Name": "X", "CNPJ": "11.111.111/1111-11"})) == {"CNPJ": "InvalidValue"}
    assert targets(crm("POST", "/Contacts", {"TypeId": 1})) == {"Name": "Required"}
    assert targets(crm("POST", "/Contacts", {"Name": "X", "TypeId": 7})) == {"TypeId": "InvalidValue"}
    assert targets(crm("POST", "/Products", {"Name": "Bad", "Price": -1})) == {"Price": "InvalidValue"}
    assert targets(crm("POST", "/Products", {"Name": "Big", "Price": 1e12})) == {"Price": "InvalidValue"}
    assert targets(crm("POST", "/Contacts", ["Name"])) == {"": "InvalidType"}


def test_null_cannot_clear_a_number_that_always_has_a_value(crm):
    order = CrmOrder.objects.first()
    response = crm("PATCH", f"/Orders({order.pk})", {"OrderNumber": None, "ErpOrderNumber": None})
    assert targets(response) == {"OrderNumber": "Required"}  # ErpOrderNumber may be cleared
    assert crm("PATCH", f"/Orders({order.pk})", {"ErpOrderNumber": None}).status_code == 200


def test_conflicts_stay_409_and_unreadable_json_stays_400(crm):
    existing = CrmContact.objects.exclude(cnpj="").first()
    conflict = crm("POST", "/Contacts", {"Name": "Copy", "CNPJ": existing.cnpj})
    assert conflict.status_code == 409
    assert set(conflict.json()["error"]) == {"code", "message"}
    assert conflict.json()["error"]["code"] == "Conflict"
    unreadable = crm("POST", "/Contacts", "{not json")
    assert unreadable.status_code == 400
    assert unreadable.json()["error"]["code"] == "BadRequest"


# --- fields fixed at creation -------------------------------------------------------------------


def test_patch_of_type_id_is_refused_even_with_the_same_value(crm):
    company = a_company()
    response = crm("PATCH", f"/Contacts({company.pk})", {"TypeId": company.type_id, "City": "Natal"})
    assert details_of(response) == [
        {"code": "ReadOnly", "target": "TypeId", "message": "TypeId cannot be changed after creation."}
    ]
    company.refresh_from_db()
    assert company.city != "Natal"  # nothing of a refused body is applied


def test_patch_of_a_product_code_is_refused_and_post_accepts_it(crm):
    created = crm("POST", "/Products", {"Name": "Brita 1", "Code": "P90003", "Price": 9.9})
    assert created.status_code == 200
    product_id = created.json()["value"][0]["Id"]
    response = crm("PATCH", f"/Products({product_id})", {"Code": "P90003"})
    assert targets(response) == {"Code": "ReadOnly"}
    assert crm("PATCH", f"/Products({product_id})", {"Name": "Brita 1 (20 kg)"}).status_code == 200
    person = crm("POST", "/Contacts", {"Name": "Ana Lima", "TypeId": 2})
    assert person.json()["value"][0]["TypeId"] == 2


# --- custom fields ------------------------------------------------------------------------------


def test_fields_lists_the_custom_fields_like_other_resources(crm, client):
    response = crm("GET", "/Fields", params={"$filter": "EntityId eq 1", "$select": "Key,TypeId"})
    assert response.status_code == 200
    keys = {field["Key"]: field["TypeId"] for field in response.json()["value"]}
    assert keys["contact_ERP_CODE"] == 1
    everything = crm("GET", "/Fields", params={"$count": "true"}).json()
    assert everything["@odata.count"] == CrmField.objects.count() >= 4
    assert set(everything["value"][0]) == {"Id", "Key", "Name", "EntityId", "TypeId"}
    by_key = {field["Key"]: field for field in everything["value"]}
    assert {"contact_ERP_CODE", "product_ERP_CODE", "order_ERP_NUMBER", "order_ERP_STATUS"} <= set(by_key)
    assert by_key["order_ERP_NUMBER"]["TypeId"] == 2 and by_key["order_ERP_NUMBER"]["EntityId"] == 4
    assert crm("POST", "/Fields", {"Key": "x"}).status_code == 405
    assert crm("DELETE", f"/Fields({by_key['contact_ERP_CODE']['Id']})").status_code == 405
    assert client.get("/sandbox/crm/Fields").status_code == 401


def test_other_properties_are_stored_answered_and_merged_on_patch(crm):
    created = crm(
        "POST",
        "/Contacts",
        {
            "Name": "Mercado Boa Safra",
            "OtherProperties": [
                {"FieldKey": "contact_ERP_CODE", "StringValue": "40001002"},
                {"FieldKey": "contact_CREDIT_LIMIT", "DecimalValue": 15000.5},
            ],
        },
    )
    assert created.status_code == 200, created.content
    [record] = created.json()["value"]
    assert record["OtherProperties"] == [
        {"FieldKey": "contact_ERP_CODE", "StringValue": "40001002"},
        {"FieldKey": "contact_CREDIT_LIMIT", "DecimalValue": 15000.5},
    ]
    patched = crm(
        "PATCH",
        f"/Contacts({record['Id']})",
        {
            "OtherProperties": [
                {"FieldKey": "contact_CREDIT_LIMIT", "DecimalValue": 20000},
                {"FieldKey": "contact_ERP_ACTIVE", "BoolValue": True},
            ]
        },
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["value"][0]["OtherProperties"] == [
        {"FieldKey": "contact_ERP_CODE", "StringValue": "40001002"},  # not sent: untouched
        {"FieldKey": "contact_CREDIT_LIMIT", "DecimalValue": 20000},  # replaced
        {"FieldKey": "contact_ERP_ACTIVE", "BoolValue": True},  # added
    ]
    untouched = crm("PATCH", f"/Contacts({record['Id']})", {"City": "Londrina"})
    assert len(untouched.json()["value"][0]["OtherProperties"]) == 3


def test_orders_and_products_take_their_own_custom_fields(crm):
    order = CrmOrder.objects.first()
    response = crm(
        "PATCH",
        f"/Orders({order.pk})",
        {
            "OtherProperties": [
                {"FieldKey": "order_ERP_NUMBER", "IntegerValue": 50012},
                {"FieldKey": "order_ERP_STATUS", "StringValue": "approved"},
                {"FieldKey": "order_ERP_UPDATED", "DateTimeValue": "2026-03-10T09:00:00-03:00"},
            ]
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["value"][0]["OtherProperties"][2] == {
        "FieldKey": "order_ERP_UPDATED",
        "DateTimeValue": "2026-03-10T12:00:00Z",
    }
    product = CrmProduct.objects.first()
    response = crm("PATCH", f"/Products({product.pk})", {"OtherProperties": [{"FieldKey": "contact_ERP_CODE"}]})
    assert targets(response) == {"OtherProperties[0].FieldKey": "UnknownField"}  # a field of Contacts


@pytest.mark.parametrize(
    ("element", "target", "code"),
    [
        ({"FieldKey": "contact_ERP_CODE", "IntegerValue": 40001002}, "OtherProperties[0].IntegerValue", "InvalidType"),
        ({"FieldKey": "contact_ERP_CODE", "StringValue": 40001002}, "OtherProperties[0].StringValue", "InvalidType"),
        (
            {"FieldKey": "contact_CREDIT_LIMIT", "DecimalValue": "15000.50"},
            "OtherProperties[0].DecimalValue",
            "InvalidType",
        ),
        ({"FieldKey": "contact_ERP_ACTIVE", "BoolValue": "true"}, "OtherProperties[0].BoolValue", "InvalidType"),
        ({"FieldKey": "contact_ERP_CODE"}, "OtherProperties[0]", "Required"),
        ({"FieldKey": "contact_NOPE", "StringValue": "x"}, "OtherProperties[0].FieldKey", "UnknownField"),
        ({"StringValue": "x"}, "OtherProperties[0].FieldKey", "Required"),
        (
            {"FieldKey": "contact_ERP_CODE", "StringValue": "x", "Colour": "x"},
            "OtherProperties[0].Colour",
            "UnknownField",
        ),
    ],
)
def test_a_custom_field_value_of_the_wrong_kind_is_refused(crm, element, target, code):
    response = crm("POST", "/Contacts", {"Name": "X", "OtherProperties": [element]})
    assert targets(response) == {target: code}
    assert not CrmContact.objects.filter(name="X").exists()


def test_a_string_in_integer_value_is_refused_on_orders(crm):
    order = CrmOrder.objects.first()
    response = crm(
        "PATCH",
        f"/Orders({order.pk})",
        {"OtherProperties": [{"FieldKey": "order_ERP_NUMBER", "IntegerValue": "50012"}]},
    )
    assert details_of(response) == [
        {
            "code": "InvalidType",
            "target": "OtherProperties[0].IntegerValue",
            "message": "OtherProperties[0].IntegerValue must be a whole number.",
        }
    ]


def _with_erp_code(crm, name: str, code: str) -> int:
    response = crm(
        "POST", "/Contacts", {"Name": name, "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": code}]}
    )
    assert response.status_code == 200, response.content
    return response.json()["value"][0]["Id"]


def test_filter_on_a_custom_field_with_any(crm):
    wanted = _with_erp_code(crm, "Mercado Boa Safra", "40001002")
    _with_erp_code(crm, "Mercado Boa Colheita", "40001003")
    # The same value in another field must not match.
    crm(
        "POST",
        "/Contacts",
        {"Name": "Decoy", "OtherProperties": [{"FieldKey": "contact_ERP_ACTIVE", "BoolValue": True}]},
    )
    text = "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/StringValue eq '40001002')"
    response = crm("GET", "/Contacts", params={"$filter": text, "$count": "true"})
    assert response.status_code == 200, response.content
    assert [record["Id"] for record in response.json()["value"]] == [wanted]
    assert response.json()["@odata.count"] == 1

    both = crm("GET", "/Contacts", params={"$filter": f"{text} and TypeId eq 1 and startswith(Name,'Mercado')"})
    assert [record["Id"] for record in both.json()["value"]] == [wanted]
    none = crm("GET", "/Contacts", params={"$filter": f"{text} and TypeId eq 2"})
    assert none.json()["value"] == []
    with_code = crm("GET", "/Contacts", params={"$filter": "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE')"})
    assert len(with_code.json()["value"]) == 2
    without = crm("GET", "/Contacts", params={"$filter": "not OtherProperties/any()", "$count": "true"})
    assert without.json()["@odata.count"] == CrmContact.objects.count() - 3


def test_filter_on_an_integer_custom_field_and_paging_stays_right(crm):
    orders = list(CrmOrder.objects.order_by("pk"))
    for order in orders[:4]:
        body = {"OtherProperties": [{"FieldKey": "order_ERP_NUMBER", "IntegerValue": 50012}]}
        assert crm("PATCH", f"/Orders({order.pk})", body).status_code == 200
    text = "OtherProperties/any(o: o/FieldKey eq 'order_ERP_NUMBER' and o/IntegerValue eq 50012)"
    first = crm("GET", "/Orders", params={"$filter": text, "$top": 3, "$count": "true"}).json()
    rest = crm("GET", "/Orders", params={"$filter": text, "$top": 3, "$skip": 3}).json()
    assert first["@odata.count"] == 4
    assert [o["Id"] for o in first["value"] + rest["value"]] == [order.pk for order in orders[:4]]
    as_text = "OtherProperties/any(o: o/FieldKey eq 'order_ERP_NUMBER' and o/IntegerValue eq 50013)"
    assert crm("GET", "/Orders", params={"$filter": as_text}).json()["value"] == []


def test_the_demo_count_queries_answer_the_count_of_the_filtered_set_whatever_top_and_skip(crm):
    queries = {table["name"]: table["target_count_query"] for table in TABLES if table.get("target_count_query")}
    assert set(queries) == {"Company"}
    for number in range(3):  # companies from the ERP carry its code; the seeded ones are leads of the CRM
        _with_erp_code(crm, f"Mercado {number}", f"4000100{number}")
    person = {"Name": "Ana", "TypeId": 2, "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "9"}]}
    assert crm("POST", "/Contacts", person).status_code == 200  # a person, not a company: not counted
    expected = {"Company": 3}
    for name, query in queries.items():
        path, _question, text = query.partition("?")
        params = dict(parse_qsl(text))
        answer = crm("GET", path, params=params)
        assert answer.status_code == 200, answer.content
        assert answer.json() == {"value": [], "@odata.count": expected[name]}, name
        paged = crm("GET", path, params={**params, "$top": "1", "$skip": "2"}).json()  # OData: the set, not the page
        assert paged["@odata.count"] == expected[name] and len(paged["value"]) == 1, name


@pytest.mark.parametrize(
    "text",
    [
        "OtherProperties/any(o: o/FieldKey eq 'contact_NOPE' and o/StringValue eq 'x')",
        "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/IntegerValue eq 40001002)",
        "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/StringValue eq 40001002)",
        "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/StringValue ne 'x')",
        "OtherProperties eq 'x'",
        "Name/any(o: o/FieldKey eq 'x')",
    ],
)
def test_a_filter_on_custom_fields_that_cannot_match_is_a_400(crm, text):
    response = crm("GET", "/Contacts", params={"$filter": text})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"


# --- paging -------------------------------------------------------------------------------------


def test_top_is_capped_at_300_and_skip_reaches_every_record(crm):
    now = timezone.now()
    CrmProduct.objects.bulk_create(
        CrmProduct(name=f"Parafuso {n}", code=f"PF{n:05d}", price=1, created_at=now, updated_at=now) for n in range(650)
    )
    total = CrmProduct.objects.count()
    response = crm("GET", "/Products", params={"$top": 500, "$count": "true"})
    body = response.json()
    assert len(body["value"]) == 300
    assert body["@odata.count"] == total
    assert "@odata.nextLink" not in body
    seen, skip = [], 0
    while True:
        page = crm("GET", "/Products", params={"$top": 500, "$skip": skip}).json()["value"]
        seen += [record["Id"] for record in page]
        if not page:
            break
        skip += len(page)
    assert seen == list(CrmProduct.objects.order_by("pk").values_list("pk", flat=True))
    assert len(seen) == total > 600


# --- demo ERP: XSD types on input ---------------------------------------------------------------

ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:erp="urn:demo-erp:v1">'
    "<soap:Body>{body}</soap:Body></soap:Envelope>"
)


@pytest.fixture
def erp(client, knobs):
    credentials = knobs[SandboxSystem.ERP]
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()

    def call(body: str):
        response = client.post(
            "/sandbox/erp/soap",
            ENVELOPE.format(body=body),
            content_type="text/xml; charset=utf-8",
            headers={"Authorization": f"Basic {token}"},
        )
        return response, etree.fromstring(response.content)

    return call


def fault_of(answer) -> tuple[str, str]:
    response, document = answer
    assert response.status_code == 500, response.content
    return document.findtext(".//faultcode").removeprefix("soap:"), document.findtext(".//faultstring")


def new_order(quantities: list[str], extra: str = "") -> str:
    customer = ErpCustomer.objects.filter(active=True, credit_status="approved").first()
    product = ErpProduct.objects.filter(active=True).first()
    lines = "".join(
        f"<erp:lines><erp:product_code>{product.code}</erp:product_code>"
        f"<erp:quantity>{quantity}</erp:quantity></erp:lines>"
        for quantity in quantities
    )
    return (
        f"<erp:CreateOrder><erp:order><erp:customer_code>{customer.code}</erp:customer_code>"
        f"{extra}{lines}</erp:order></erp:CreateOrder>"
    )


def test_a_quantity_that_is_not_an_xsd_decimal_is_an_invalid_value_fault(erp):
    orders = ErpOrder.objects.count()
    assert fault_of(erp(new_order(["1", "abc"]))) == (
        "Client.InvalidValue",
        "order/lines[2]/quantity must be an xsd:decimal, got 'abc'.",
    )
    for wrong in ("1e3", "1,5", "NaN", "", "2 kg"):
        code, message = fault_of(erp(new_order([wrong])))
        assert code == "Client.InvalidValue" and "xsd:decimal" in message
    assert ErpOrder.objects.count() == orders


def test_valid_lexical_values_are_accepted(erp):
    response, document = erp(new_order([" 2.50 ", "+1", ".5"]))
    assert response.status_code == 200, response.content
    assert document.findtext(".//{urn:demo-erp:v1}created") == "true"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<erp:ListProducts><erp:page>two</erp:page></erp:ListProducts>", "page must be an xsd:int, got 'two'."),
        (
            "<erp:ListProducts><erp:page_size>99999999999</erp:page_size></erp:ListProducts>",
            "page_size must be an xsd:int, got '99999999999'.",
        ),
        (
            "<erp:ListCustomers><erp:updated_since>2026-13-01T00:00:00Z</erp:updated_since></erp:ListCustomers>",
            "updated_since must be an xsd:dateTime, got '2026-13-01T00:00:00Z'.",
        ),
        (
            "<erp:ListCustomers><erp:updated_since>2026-01-01</erp:updated_since></erp:ListCustomers>",
            "updated_since must be an xsd:dateTime, got '2026-01-01'.",
        ),
        (
            "<erp:GetOrderStatus><erp:order_number>5001a</erp:order_number></erp:GetOrderStatus>",
            "order_number must be an xsd:long, got '5001a'.",
        ),
        (
            "<erp:ListOrders><erp:status>open</erp:status></erp:ListOrders>",
            "status must be one of approved, cancelled, invoiced, received, shipped, got 'open'.",
        ),
    ],
)
def test_arguments_follow_their_xsd_types(erp, body, message):
    assert fault_of(erp(body)) == ("Client.InvalidValue", message)


def test_an_element_the_wsdl_does_not_declare_is_refused(erp):
    code, message = fault_of(erp(new_order(["1"], extra="<erp:discount>5</erp:discount>")))
    assert code == "Client.InvalidRequest"
    assert "order/discount" in message
    code, message = fault_of(erp("<erp:ListProducts><erp:page>1</erp:page><erp:page>2</erp:page></erp:ListProducts>"))
    assert (code, message) == ("Client.InvalidRequest", "page appears more than once.")


def test_date_times_with_an_offset_or_fraction_are_accepted(erp):
    since = "<erp:ListCustomers><erp:updated_since>{}</erp:updated_since></erp:ListCustomers>"
    for value in ("2030-01-01T00:00:00Z", "2030-01-01T00:00:00.123456-03:00", "2030-01-01T00:00:00"):
        response, _document = erp(since.format(value))
        assert response.status_code == 200, (value, response.content)
