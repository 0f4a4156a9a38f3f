"""Refusals say why: a record the target refuses shows the API's own reasons, every field it named.

The pure reader (:mod:`sync.connectors.refusals`) on the error shapes real APIs answer, then the
connectors against real local servers (tests/servers/), no mocks: a REST create refused with 422
and an RFC 7807 or an OData body, a SOAP fault with a ``detail`` element; and a whole run, whose
review queue, run page and history workbook show those reasons in each reader's language.
"""

import html
import io
from datetime import date

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import translation
from lxml import etree

from accounts.roles import IT
from core.redaction import MASK, truncate
from monitoring.choices import RunStatus, Trigger
from monitoring.models import RecordError
from sync.connectors import soap
from sync.connectors.base import ConnectionConfig, ConnectorError
from sync.connectors.refusals import (
    MAX_PIECE,
    explain_json,
    reason_from_json,
    reason_from_text,
    reason_from_xml,
)
from sync.connectors.rest import RestConnector
from sync.connectors.soap import SoapConnector
from sync.engine import connector_for_connection, execute_run, queue_run
from sync.models import Connection
from tests.conftest import CRM_API_KEY
from tests.memory_connector import MemoryConnector, MemorySystem
from tests.servers.nav_soap import NavSoapServer
from tests.servers.rest_api import FakeRestApi

PRICE_AND_TYPE = "Price: Price must be a number; TypeId: TypeId cannot be changed after creation."

# What real APIs answer when they refuse a record.
PROBLEM_DETAILS = {  # RFC 9457, errors as a list of pointers
    "type": "https://example.com/probs/validation",
    "title": "Your request is not valid.",
    "status": 422,
    "detail": "2 values were refused.",
    "errors": [
        {"detail": "Price must be a number", "pointer": "#/Price"},
        {"detail": "TypeId cannot be changed after creation.", "pointer": "#/TypeId"},
    ],
}
ASPNET_VALIDATION_PROBLEM = {  # ASP.NET Core's ValidationProblemDetails: errors as field → messages
    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    "title": "One or more validation errors occurred.",
    "status": 400,
    "traceId": "00-84c1fd4063c38d9f3900d06e56542d48-85d1d4-00",
    "errors": {"Price": ["Price must be a number"], "TypeId": ["TypeId cannot be changed after creation."]},
}
ODATA_DETAILS = {  # OData v4 JSON
    "error": {
        "code": "BadArgument",
        "message": "The request is not valid.",
        "details": [
            {"code": "NotANumber", "target": "Price", "message": "Price must be a number"},
            {"code": "Immutable", "target": "TypeId", "message": "TypeId cannot be changed after creation."},
        ],
        "innererror": {"message": "ModelStateException", "stacktrace": "at Ploomes.Api.Validate()"},
    }
}


def refuse(api: FakeRestApi, body, status=422, **options) -> None:
    api.fail_next(1, status, method="POST", path="/Contacts", body=body, **options)


# ---------------------------------------------------------------- the shapes, one by one


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            PROBLEM_DETAILS,
            f"Your request is not valid. 2 values were refused. {PRICE_AND_TYPE}",
            id="rfc7807-errors-list",
        ),
        pytest.param(
            ASPNET_VALIDATION_PROBLEM, f"One or more validation errors occurred. {PRICE_AND_TYPE}", id="aspnet-dict"
        ),
        pytest.param(
            {
                "type": "https://example.net/validation-error",
                "title": "Your request parameters didn't validate.",
                "invalid-params": [
                    {"name": "age", "reason": "must be a positive integer"},
                    {"name": "color", "reason": "must be 'green', 'red' or 'blue'"},
                ],
            },
            "Your request parameters didn't validate. age: must be a positive integer; "
            "color: must be 'green', 'red' or 'blue'",
            id="rfc7807-invalid-params",
        ),
        pytest.param(
            {"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "detail": "Price must be a number"},
            "Price must be a number",
            id="rfc7807-title-that-only-repeats-the-status",
        ),
        pytest.param({"title": "Conflict", "status": 409}, "Conflict", id="rfc7807-nothing-but-the-status-title"),
        pytest.param(ODATA_DETAILS, f"The request is not valid. {PRICE_AND_TYPE}", id="odata-v4-details"),
        pytest.param(
            {"error": {"code": "-10", "message": {"lang": "en-us", "value": "Invalid value [OITM.ItemCode]"}}},
            "Invalid value [OITM.ItemCode]",
            id="odata-v3-sap-b1-message-value",
        ),
        pytest.param(
            {"odata.error": {"code": "", "message": {"lang": "en-US", "value": "Price must be a number."}}},
            "Price must be a number.",
            id="odata-v3-json-light",
        ),
        pytest.param(
            {
                "error": {
                    "code": "SY/530",
                    "message": {"lang": "en", "value": "The order was refused."},
                    "innererror": {
                        "errordetails": [
                            {"code": "V1/001", "message": "Quantity must be positive", "propertyref": "Quantity"}
                        ]
                    },
                }
            },
            "The order was refused. Quantity: Quantity must be positive",
            id="sap-gateway-errordetails",
        ),
        pytest.param(
            {
                "error": {
                    "code": "",
                    "message": "Price must be a number",
                    "details": [{"target": "Price", "message": "Price must be a number"}],
                }
            },
            "Price: Price must be a number",
            id="odata-message-that-repeats-its-only-detail",
        ),
        pytest.param(
            {"message": "Validation failed", "errors": [{"field": "email", "message": "email: is invalid"}]},
            "Validation failed: email: is invalid",
            id="message-that-already-names-its-field",
        ),
        pytest.param(
            {"errors": [{"field": "Name", "message": "is required"}, {"field": "Name", "message": "is required"}]},
            "Name: is required",
            id="duplicates-once",
        ),
        pytest.param(
            {"validationErrors": [{"propertyPath": "lines[2].quantity", "description": "must be a decimal"}]},
            "lines[2].quantity: must be a decimal",
            id="validationErrors",
        ),
        pytest.param(
            {"violations": [{"propertyPath": "price", "title": "This value should be positive."}]},
            "price: This value should be positive.",
            id="symfony-violations",
        ),
        pytest.param(
            {"validation": [{"property": "Email", "msg": "not an e-mail address"}]},
            "Email: not an e-mail address",
            id="validation",
        ),
        pytest.param(
            {"detail": [{"loc": ["body", "price"], "msg": "Input should be a valid number", "type": "float_parsing"}]},
            "body.price: Input should be a valid number",
            id="fastapi-loc",
        ),
        pytest.param(
            {
                "errors": [
                    {
                        "source": {"pointer": "/data/attributes/firstName"},
                        "title": "Invalid Attribute",
                        "detail": "First name must contain at least two characters.",
                    }
                ]
            },
            "data/attributes/firstName: First name must contain at least two characters.",
            id="json-api-source-pointer",
        ),
        pytest.param(
            {"Message": "The request is invalid.", "ModelState": {"contact.Price": ["The Price field is required."]}},
            "The request is invalid. contact.Price: The Price field is required.",
            id="aspnet-web-api-modelstate",
        ),
        pytest.param(
            {"errors": {"email": ["has already been taken"], "address": {"city": ["can't be blank"]}}},
            "email: has already been taken; address.city: can't be blank",
            id="rails-nested",
        ),
        pytest.param(
            {"price": ["A valid number is required."], "non_field_errors": ["Name and CNPJ must make a unique set."]},
            "price: A valid number is required.; Name and CNPJ must make a unique set.",
            id="django-rest-framework",
        ),
        pytest.param(
            [
                {
                    "message": "Required fields are missing: [LastName]",
                    "errorCode": "REQUIRED_FIELD_MISSING",
                    "fields": ["LastName"],
                }
            ],
            "LastName: Required fields are missing: [LastName]",
            id="salesforce-list",
        ),
        pytest.param(
            {"error": "invalid_client", "error_description": "Unknown client portal"},
            "Unknown client portal",
            id="oauth2-error-description",
        ),
        pytest.param({"error": "invalid_grant"}, "invalid_grant", id="error-as-a-string"),
        pytest.param({"message": "Contact not found"}, "Contact not found", id="plain-message"),
        pytest.param(
            {
                "status": "error",
                "message": "Property values were not valid",
                "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
                "category": "VALIDATION_ERROR",
                "errors": [
                    {
                        "message": 'Property "favorite_color" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": ["favorite_color"]},
                    }
                ],
            },
            'Property values were not valid: favorite_color: Property "favorite_color" does not exist',
            id="hubspot",
        ),
        pytest.param(
            {"faultstring": "ERROR: A tag [CODIGO_CLIENTE_OMIE] não foi informada!", "faultcode": "SOAP-ENV:Client-8"},
            "ERROR: A tag [CODIGO_CLIENTE_OMIE] não foi informada!",
            id="omie-faultstring",
        ),
        pytest.param(
            {
                "error": {
                    "code": 400,
                    "message": "Invalid value",
                    "errors": [{"message": "Invalid value", "reason": "invalid", "location": "price"}],
                }
            },
            "price: Invalid value",
            id="google-errors-with-location",
        ),
        pytest.param(
            {"errors": [{"message": "Cannot set price", "path": ["createContact", "price"]}]},
            "createContact.price: Cannot set price",
            id="graphql-path",
        ),
    ],
)
def test_each_shape_gives_its_reason(body, reason):
    assert reason_from_json(body) == reason


@pytest.mark.parametrize("body", [{}, {"value": []}, {"code": 17}, [], None, 42, {"errors": []}])
def test_a_body_without_words_gives_no_reason(body):
    assert reason_from_json(body) is None


def test_at_most_ten_violations_are_shown_then_how_many_more():
    body = {"title": "Invalid contact.", "errors": {f"Field{n}": [f"bad {n}"] for n in range(1, 14)}}

    shown = "; ".join(f"Field{n}: bad {n}" for n in range(1, 11))
    assert reason_from_json(body) == f"Invalid contact. {shown} … and 3 more"
    assert reason_from_json(body, limit=2) == "Invalid contact. Field1: bad 1; Field2: bad 2 … and 11 more"
    reason = explain_json(body)
    assert reason.hidden() == 3 and len(reason.violations) == 13


def test_every_piece_is_bounded():
    reason = reason_from_json({"errors": [{"field": "Notes", "message": "x" * 10_000}]})
    assert len(reason) == len("Notes: ") + MAX_PIECE and reason.endswith("x…")


def test_the_text_of_a_body_as_it_came():
    assert reason_from_text('{"error": {"message": "Injected failure 500"}}') == "Injected failure 500"
    assert reason_from_text("<html><body>Bad Gateway</body></html>") is None
    assert reason_from_text("") is None


@pytest.mark.parametrize(
    ("detail", "known", "reason"),
    [
        pytest.param(
            "<errors><error><path>lines/line[2]/quantity</path><message>must be an xsd:decimal</message></error>"
            "<error><path>lines/line[3]/price</path><message>must be positive</message></error></errors>",
            (),
            "lines/line[2]/quantity: must be an xsd:decimal; lines/line[3]/price: must be positive",
            id="field-and-message-pairs",
        ),
        pytest.param(
            '<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">Customer 10000 is blocked.</string>',
            ("Customer 10000 is blocked.",),
            None,
            id="nav-repeats-the-fault-string",
        ),
        pytest.param(
            '<e:error xmlns:e="urn:erp">CreditBlocked</e:error>',
            ("Customer C1 has its credit blocked", "soap:Client.CreditBlocked"),
            None,
            id="the-fault-code-again",
        ),
        pytest.param(
            "<reason>Stock is 0 at warehouse 02</reason>",
            ("Not enough stock",),
            "Stock is 0 at warehouse 02",
            id="leaf",
        ),
        pytest.param(
            "<login><user>portal</user><Password>hunter2</Password></login>", (), f"portal {MASK}", id="secret-element"
        ),
        pytest.param("", (), None, id="empty"),
    ],
)
def test_the_detail_of_a_soap_fault(detail, known, reason):
    element = etree.fromstring(f"<detail>{detail}</detail>")
    assert reason_from_xml(element, known=known) == reason


# ---------------------------------------------------------------- the REST connector, a real server


@pytest.fixture
def api():
    with FakeRestApi(auth="api_key", api_key=CRM_API_KEY) as server:
        yield server


def rest(api, calls=None) -> RestConnector:
    config = ConnectionConfig(
        name="CRM",
        kind="rest",
        base_url=api.url,
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key=CRM_API_KEY,
        pagination="odata",
        records_path="value",
        timeout_seconds=2,
        max_retries=2,
        backoff_seconds=0.01,
    )
    return RestConnector(config, (calls if calls is not None else []).append)


def refused_create(api, calls=None) -> ConnectorError:
    connector = rest(api, calls)
    try:
        with pytest.raises(ConnectorError) as caught:
            connector.create("/Contacts", {"Name": "Acme", "Price": "ten", "TypeId": 2}, key_field="Name")
    finally:
        connector.close()
    assert api.contacts() == [] and len(api.requests_to("/Contacts", "POST")) == 1  # refused once, not retried
    return caught.value


def test_a_create_refused_with_a_problem_details_body_says_why(api):
    refuse(api, PROBLEM_DETAILS, content_type="application/problem+json")

    error = refused_create(api)

    assert error.record_level and not error.retryable and error.status_code == 422
    assert error.message == (
        "CRM answered 422 Unprocessable Entity to POST /Contacts: "
        f"Your request is not valid. 2 values were refused. {PRICE_AND_TYPE}"
    )


def test_a_create_refused_with_odata_details_says_why(api):
    refuse(api, ODATA_DETAILS, status=400)

    error = refused_create(api)

    assert error.record_level and not error.retryable
    assert (
        error.message == f"CRM answered 400 Bad Request to POST /Contacts: The request is not valid. {PRICE_AND_TYPE}"
    )
    assert "stacktrace" not in error.message and "Ploomes.Api" not in error.message


def test_a_conflict_says_why(api):
    refuse(
        api,
        {"message": "A contact with this CNPJ already exists.", "errors": [{"field": "CNPJ", "message": "duplicate"}]},
        status=409,
    )

    error = refused_create(api)

    assert error.record_level
    assert error.message.endswith(
        "409 Conflict to POST /Contacts: A contact with this CNPJ already exists. CNPJ: duplicate"
    )


def test_many_violations_are_cut_and_counted_in_the_readers_language(api):
    refuse(api, {"title": "Invalid contact.", "errors": {f"Field{n}": [f"bad {n}"] for n in range(1, 14)}})

    error = refused_create(api)

    shown = "; ".join(f"Field{n}: bad {n}" for n in range(1, 11))
    assert (
        error.message
        == f"CRM answered 422 Unprocessable Entity to POST /Contacts: Invalid contact. {shown} … and 3 more"
    )
    with translation.override("pt-br"):
        assert (
            str(error.message)
            == f"CRM respondeu 422 Unprocessable Entity para POST /Contacts: Invalid contact. {shown} … e mais 3"
        )


def test_a_long_reason_is_cut_to_500_characters(api):
    refuse(api, {"errors": [{"field": f"Field{n}", "message": "y" * 250} for n in range(6)]})

    error = refused_create(api)

    whole = "; ".join(f"Field{n}: {'y' * 250}" for n in range(6))
    assert error.message == f"CRM answered 422 Unprocessable Entity to POST /Contacts: {truncate(whole, 500)}"
    assert error.message.endswith(f"… [{len(whole) - 500} more characters cut]")


def test_secrets_in_a_refusal_are_redacted(api):
    refuse(api, {"errors": [{"field": "User-Key", "message": f"{CRM_API_KEY} is not allowed to write Price"}]})
    calls = []

    error = refused_create(api, calls)

    assert error.message.endswith(f"User-Key: {MASK} is not allowed to write Price")
    assert CRM_API_KEY not in error.message and all(CRM_API_KEY not in call.response_body for call in calls)


def test_a_body_that_is_not_json_is_shown_as_it_came(api):
    refuse(api, "Price must be a number", content_type="text/plain")

    assert refused_create(api).message.endswith("POST /Contacts: Price must be a number")


# ---------------------------------------------------------------- the SOAP connector, a real server


@pytest.fixture
def nav():
    soap.clear_caches()
    with NavSoapServer(records=[{"No": "10000", "Name": "Adatum"}], today=date(2024, 3, 1)) as server:
        yield server
    soap.clear_caches()


def nav_config(nav) -> ConnectionConfig:
    return ConnectionConfig(
        name="Dynamics NAV",
        kind="soap",
        wsdl_url=nav.wsdl_url,
        pagination="bookmark",
        page_size=10,
        records_path="ReadMultiple_Result.Customer",
        timeout_seconds=2,
        max_retries=2,
        backoff_seconds=0.01,
    )


def test_a_fault_with_a_detail_element_says_what_the_detail_adds(nav):
    nav.fault_next(
        "soap11env:Client.InvalidValue",
        "The customer was refused: 2 values are not valid.",
        detail=(
            '<errors xmlns="urn:erp:errors">'
            "<error><path>Credit_Limit_LCY</path><message>must be an xsd:decimal</message></error>"
            "<error><path>Country_Region_Code</path><message>ZZ is not a country</message></error>"
            "</errors>"
        ),
    )
    calls = []

    with pytest.raises(ConnectorError) as caught:
        SoapConnector(nav_config(nav), calls.append).create("Create", {"Name": "Contoso"})

    error = caught.value
    assert error.record_level and not error.retryable
    expected_detail = "Credit_Limit_LCY: must be an xsd:decimal; Country_Region_Code: ZZ is not a country"
    assert error.message == (
        "The SOAP service “Dynamics NAV” answered a fault to Create: InvalidValue — "
        f"The customer was refused: 2 values are not valid. (detail: {expected_detail})"
    )
    assert nav.calls("Create") == 1 and nav.record_count == 1
    with translation.override("pt-br"):
        assert str(error.message) == (
            "O serviço SOAP “Dynamics NAV” respondeu com uma falha (fault) a Create: InvalidValue — "
            f"The customer was refused: 2 values are not valid. (detalhe: {expected_detail})"
        )


def test_a_detail_that_repeats_the_fault_string_is_not_shown_twice(nav):
    nav.fault_next("soap11env:Client.UnknownCustomer", "Customer 10000 does not exist")  # NAV repeats it in detail

    with pytest.raises(ConnectorError) as caught:
        SoapConnector(nav_config(nav)).create("Create", {"Name": "Contoso"})

    assert caught.value.message == (
        "The SOAP service “Dynamics NAV” answered a fault to Create: UnknownCustomer — Customer 10000 does not exist"
    )


def test_a_fault_detail_keeps_secrets_out(nav):
    nav.fault_next(
        "soap11env:Client.InvalidLogin",
        "The values were refused.",
        detail="<credentials><user>portal</user><Password>hunter2</Password></credentials>",
    )

    with pytest.raises(ConnectorError) as caught:
        SoapConnector(nav_config(nav)).create("Create", {"Name": "Contoso"})

    assert caught.value.message.endswith(f"The values were refused. (detail: portal {MASK})")
    assert "hunter2" not in caught.value.message


# ---------------------------------------------------------------- a run: the review queue, the run page, the workbook


@pytest.fixture
def reader(django_user_model):
    def sign_in(language):
        user = django_user_model.objects.create_user(username=f"reader-{language}", is_staff=True)
        user.groups.add(Group.objects.get(name=IT))
        client = Client()
        client.force_login(user)
        assert client.post(reverse("set_language"), {"language": language, "next": "/"}).status_code == 302
        return client

    return sign_in


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def workbook_messages(client, integration) -> set:
    today = date.today().isoformat()
    form = {"start": today, "end": today, "tables": [integration.tables.get().pk]}
    response = client.post(reverse("admin:integration_history", args=[integration.pk]), form)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    rows = [[cell.value for cell in row] for row in openpyxl.load_workbook(io.BytesIO(content))["Company"].iter_rows()]
    column = rows[0].index("Mensagem") if "Mensagem" in rows[0] else rows[0].index("Message")
    return {row[column] for row in rows[1:] if row[column]}


@pytest.mark.django_db
def test_a_runs_refused_record_shows_the_apis_reasons_everywhere(reader, integration, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    table = integration.tables.get()
    table.source_object = "customers"
    table.save()
    erp = MemorySystem()
    erp.rows("customers")["1"] = {"CNPJ": "11222333000181", "Name": "Acme"}
    with FakeRestApi(auth="api_key", api_key=CRM_API_KEY) as crm:
        Connection.objects.filter(pk=integration.crm_connection_id).update(base_url=crm.url)
        refuse(crm, ASPNET_VALIDATION_PROBLEM)

        def connectors(connection, call_log):
            if connection.pk == integration.erp_connection_id:
                return MemoryConnector(erp, page_size=10, call_log=call_log)
            return connector_for_connection(connection, call_log)

        run = execute_run(queue_run(integration, Trigger.MANUAL).pk, connectors=connectors)

    assert run.status == RunStatus.PARTIAL
    reason = f"One or more validation errors occurred. {PRICE_AND_TYPE}"
    english = f"Ploomes answered 422 Unprocessable Entity to POST /Contacts: {reason}"
    portuguese = f"Ploomes respondeu 422 Unprocessable Entity para POST /Contacts: {reason}"
    assert RecordError.objects.get().reason.endswith(english)

    en, pt = reader("en"), reader("pt-br")
    queue = reverse("admin:integration_queue", args=[integration.pk])
    assert english in page(en, queue) and portuguese in page(pt, queue)
    run_page = reverse("admin:run", args=[run.pk])
    assert english in page(en, run_page) and portuguese in page(pt, run_page)
    assert any(english in message for message in workbook_messages(en, integration))
    assert any(portuguese in message for message in workbook_messages(pt, integration))
