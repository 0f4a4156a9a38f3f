"""Test connection tells the truth: green only when a sync would authenticate and read.

Every verdict here comes from a real local server (tests/servers/, the demo systems); nothing
of requests or zeep is mocked. Each test names what the user would see on the connection page.
"""

import dataclasses
import html
import re
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import IT
from core.redaction import MASK
from demo import seed
from demo.choices import SandboxSystem
from demo.integration import configure_demo
from sync.choices import AuthKind, ConnectionKind, Direction, IntegrationType
from sync.connection_check import sample_read, verdict_for
from sync.connectors import soap
from sync.connectors.base import ConnectionConfig, ReadRequest, SampleRead
from sync.connectors.pages import WebPage, web_page
from sync.connectors.rest import RestConnector
from sync.connectors.soap import SoapConnector
from sync.forms import ConnectionForm
from sync.models import Connection, Integration, SyncTable
from tests.servers import hostile
from tests.servers.nav_soap import NavSoapServer, customer_wsdl_text
from tests.servers.rest_api import FakeRestApi

API_KEY = "crm-key-71c0d2"
WRONG_KEY = "wrong-key-0b9e44"
PASSWORD = "nav-pass-3e8a51"
WRONG_PASSWORD = "wrong-pass-c5d107"
CUSTOMERS = [{"No": str(10000 + 10 * i), "Name": f"Customer {i}", "City": ("Porto", "Lisbon")[i % 2]} for i in range(6)]
CONTACTS_TABLE = SampleRead(table="Contacts", request=ReadRequest(source_object="/Contacts"))
NAV_TABLE = SampleRead(
    table="Customers",
    request=ReadRequest(source_object="ReadMultiple", arguments={"filter": [{"Field": "City", "Criteria": "Porto"}]}),
)
MILLISECONDS = r"\d+ ms"


def verdict_pattern(*parts: str) -> str:
    """A regular expression for a verdict: the literal parts, with a duration in ms where ``…`` stands."""
    return MILLISECONDS.join(re.escape(part) for part in "".join(parts).split("…"))


# What a web page is ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "page"),
    [
        ("<!DOCTYPE html><html><head><title>Sign in</title></head></html>", "", WebPage("Sign in", login=False)),
        ("<html><form><input type=password></form></html>", "", WebPage("", login=True)),
        ('{"error": {"message": "Unauthorized"}}', "text/html", None),  # JSON served as text/html: words to read
        ("<p>Gateway <b>timeout</b></p>", "text/html", WebPage("", login=False)),
        ('<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]><html/>', "", None),  # entities: not a page
        ('<?xml version="1.0"?><definitions name="Customer"/>', "text/html", None),  # a WSDL served as text/html
    ],
    ids=["doctype", "login-form", "json-as-html", "markup-as-html", "html-with-entities", "wsdl-as-html"],
)
def test_a_web_page_is_told_from_data_and_from_a_dtd(body, content_type, page):
    assert web_page(body, content_type) == page


# REST ------------------------------------------------------------------------------------------


@pytest.fixture
def crm():
    with FakeRestApi(auth="api_key", api_key=API_KEY, client_id="portal", client_secret="the-secret") as api:
        api.add_contacts(3)
        yield api


def rest_config(api, **overrides) -> ConnectionConfig:
    values = {
        "name": "CRM",
        "kind": "rest",
        "base_url": api.url,
        "auth_kind": "api_key",
        "api_key_header": "User-Key",
        "api_key": API_KEY,
        "pagination": "odata",
        "page_size": 100,
        "records_path": "value",
        "timeout_seconds": 2,
        "max_retries": 2,
    }
    return ConnectionConfig(**{**values, **overrides})


def rest_verdict(api, sample=CONTACTS_TABLE, **overrides):
    with RestConnector(rest_config(api, **overrides)) as connector:
        return connector.test_connection(sample)


def test_rest_wrong_api_key_is_red_with_the_apis_own_words(crm):
    verdict = rest_verdict(crm, api_key=WRONG_KEY)

    assert not verdict.ok
    assert verdict.message == (
        "Refused: GET /Contacts?$top=1&$skip=0 answered 401 Unauthorized — check the API key. "
        f"The server said: “Invalid credentials: {MASK}”."  # the API echoed the key: its words, the key masked
    )
    assert len(crm.requests_to("/Contacts")) == 1  # once, not retried


@pytest.mark.parametrize(
    ("pagination", "source", "records_path", "size_param", "query"),
    [
        ("odata", "/Contacts", "value", "$top", "$top=1&$skip=0"),
        ("page", "/paged/contacts", "data.items", "size", "page=1&size=1"),
        ("offset", "/offset/contacts", "", "limit", "offset=0&limit=1"),
        ("cursor", "/cursor/contacts", "items", "limit", "limit=1"),
    ],
)
def test_rest_right_key_reads_one_record_of_the_first_table(crm, pagination, source, records_path, size_param, query):
    sample = SampleRead(table="Contacts", request=ReadRequest(source_object=source, arguments={"Name": "Contact 2"}))

    verdict = rest_verdict(crm, sample, pagination=pagination, records_path=records_path)

    assert verdict.ok, verdict.message
    (received,) = crm.requests_to(source)
    assert received.headers["User-Key"] == API_KEY
    assert received.query[size_param] == "1"  # a page of one record, by the connection's own paging
    assert received.query["Name"] == "Contact 2"  # with the table's read arguments
    assert re.fullmatch(
        verdict_pattern(
            f"Connected: GET {source}?Name=Contact%202&{query} (the first read of the table “Contacts”, "
            "one record asked) answered 200 in … with 1 record."
        ),
        verdict.message,
    )


def test_rest_a_table_read_whose_records_are_not_where_the_path_says_is_red(crm):
    verdict = rest_verdict(crm, records_path="data")

    assert not verdict.ok
    assert verdict.message.startswith(
        "Reached the server, but GET /Contacts?$top=1&$skip=0 answered: "
        "The response has no data: check the records path"
    )


def test_rest_redirect_to_a_login_page_is_red(crm):
    crm.redirect_next("/login?next=/Contacts", path="/Contacts")

    verdict = rest_verdict(crm)

    assert not verdict.ok
    assert verdict.message == (
        f"GET /Contacts?$top=1&$skip=0 was redirected to {crm.url}/login and landed on a login page instead of "
        "the API — check the base URL and the API key."
    )
    assert [request.path for request in crm.received] == ["/Contacts", "/login"]  # followed, under the policy


def test_rest_redirect_to_a_single_sign_on_page_elsewhere_is_red(crm):
    with hostile.HostileServer() as sso:
        start = sso.answer("/sso/start", hostile.body("<html><body>Taking you to sign in…</body></html>", "text/html"))
        crm.redirect_next(start, path="/Contacts")

        verdict = rest_verdict(crm)

    assert not verdict.ok
    assert verdict.message == (
        f"GET /Contacts?$top=1&$skip=0 was redirected to {start} and landed on a login page instead of the API — "
        "check the base URL and the API key."
    )
    assert len(sso.requests_to("/sso/start")) == 1


def test_rest_a_login_form_answered_with_200_is_red(crm):
    crm.fail_next(status=200, body="<html><body><form><input type='password' name='p'></form></body></html>")

    verdict = rest_verdict(crm)

    assert not verdict.ok
    assert verdict.message == (
        "GET /Contacts?$top=1&$skip=0 landed on a login page (a form asking for a password) instead of the API — "
        "check the base URL and the API key."
    )


def test_rest_another_web_page_where_json_was_expected_is_red(crm):
    crm.fail_next(status=200, body="<!DOCTYPE html><html><title>Maintenance</title></html>", content_type="text/html")

    verdict = rest_verdict(crm)

    assert not verdict.ok
    assert verdict.message == (
        "GET /Contacts?$top=1&$skip=0 answered a web page (“Maintenance”) instead of the API's JSON — "
        "check the source object of the table “Contacts”."
    )


def test_rest_a_test_path_not_found_is_red_naming_the_path(crm):
    verdict = rest_verdict(crm, test_path="/v2/Contacts")

    assert not verdict.ok
    assert verdict.message == (
        "Not found: GET /v2/Contacts answered 404 Not Found — check the test path. "
        "The server said: “No route for GET /v2/Contacts”."
    )


def test_rest_the_configured_test_path_is_read_instead_of_the_table(crm):
    verdict = rest_verdict(crm, test_path="Contacts?$top=2")

    assert verdict.ok, verdict.message
    assert re.fullmatch(
        verdict_pattern(
            "Connected: GET /Contacts?$top=2 (the connection's test path) answered 200 in … with 2 records."
        ),
        verdict.message,
    )
    assert [(request.path, request.query) for request in crm.received] == [("/Contacts", {"$top": "2"})]


def test_rest_an_absolute_test_path_is_refused_before_anything_is_sent(crm):
    verdict = rest_verdict(crm, test_path=f"{crm.url}/Contacts")

    assert not verdict.ok
    assert "is an address of its own: write it relative to the connection's base URL" in verdict.message
    assert crm.received == []


def test_rest_without_table_or_test_path_reads_the_base_url_and_says_so(crm):
    verdict = rest_verdict(crm, sample=None)

    assert verdict.ok
    assert re.fullmatch(
        verdict_pattern(
            "Connected: GET / (the base URL: no active table reads from this connection and no test path is set) "
            "answered 200 in …."
        ),
        verdict.message,
    )
    assert crm.requests_to("/")[0].headers["User-Key"] == API_KEY


def test_rest_a_refused_oauth2_client_is_red_with_the_token_endpoints_words(crm):
    crm.auth = "oauth2"
    oauth = {"auth_kind": "oauth2", "oauth_token_url": f"{crm.url}/oauth/token", "client_id": "portal"}

    refused = rest_verdict(crm, **oauth, client_secret="not-the-secret")
    accepted = rest_verdict(crm, **oauth, client_secret="the-secret")

    assert not refused.ok
    assert refused.message == (
        "The OAuth2 token endpoint answered 401 Unauthorized: check the client id and secret. "
        "The server said: “Unknown client portal”."
    )
    assert accepted.ok and "with 1 record" in accepted.message


# The test path in the admin form ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"test_path": "/Contacts?$top=1"}, None),
        (
            {"test_path": "https://elsewhere.example/Contacts"},
            '"https://elsewhere.example/Contacts" is an address of its own: write it relative to the '
            "connection's base URL, e.g. /Contacts?$top=1 (the connection's credentials go only to its own server).",
        ),
        ({"test_path": "//elsewhere.example/Contacts"}, '"//elsewhere.example/Contacts" is an address of its own'),
    ],
    # A SOAP connection's form drops a test path (tests/test_forms_people_can_use.py).
    ids=["relative", "absolute", "scheme-relative"],
)
def test_the_connection_form_takes_a_relative_test_path_only(values, error):
    data = {
        "name": "CRM",
        "kind": "rest",
        "base_url": "https://api.example",
        "pagination": "odata",
        "page_size": "100",
        "auth_kind": "none",
        "timeout_seconds": "30",
        "max_retries": "3",
        "max_retry_after_seconds": "60",
        "max_in_flight": "1",
        **values,
    }
    form = ConnectionForm(data=data)

    if error is None:
        assert form.is_valid(), form.errors
        assert form.save().test_path == values["test_path"]
    else:
        assert not form.is_valid()
        assert list(form.errors) == ["test_path"] and form.errors["test_path"][0].startswith(error)


# The first table reading from a connection -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_sample_is_the_first_active_table_reading_from_the_connection():
    erp = Connection.objects.create(name="ERP", kind=ConnectionKind.REST, base_url="https://erp.example")
    crm = Connection.objects.create(name="CRM", kind=ConnectionKind.REST, base_url="https://crm.example")
    integration = Integration.objects.create(
        name="ERP ↔ CRM",
        integration_type=IntegrationType.REST,
        erp_name="ERP",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=crm,
    )

    def table(name, order, direction, **fields):
        return SyncTable.objects.create(
            integration=integration,
            name=name,
            order=order,
            direction=direction,
            source_object=f"/{name}",
            target_object="/Somewhere",
            record_key="Id",
            **fields,
        )

    order = table("Orders", 0, Direction.CRM_TO_ERP, read_arguments={"status": "open"})
    table("Stale", 1, Direction.ERP_TO_CRM, active=False)
    table("Companies", 2, Direction.ERP_TO_CRM)
    table("Statuses", 0, Direction.ERP_TO_CRM, read_per_link_of=order)  # reads need a key: never a sample
    table("Contacts", 3, Direction.ERP_TO_CRM)

    assert sample_read(erp) == SampleRead("Companies", ReadRequest(source_object="/Companies", record_key="Id"))
    assert sample_read(crm) == SampleRead(
        "Orders", ReadRequest(source_object="/Orders", arguments={"status": "open"}, record_key="Id")
    )
    SyncTable.objects.filter(name="Orders").update(active=False)
    assert sample_read(crm) is None


# The admin's page ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_a_red_verdict_for_a_wrong_key_and_a_green_one_for_the_right_key(login_as, crm):
    erp = Connection.objects.create(name="ERP", kind=ConnectionKind.REST, base_url="https://erp.example")
    connection = Connection.objects.create(
        name="CRM",
        kind=ConnectionKind.REST,
        base_url=crm.url,
        auth_kind=AuthKind.API_KEY,
        api_key_header="User-Key",
        api_key=WRONG_KEY,
        pagination="odata",
        records_path="value",
        timeout_seconds=5,
    )
    integration = Integration.objects.create(
        name="ERP ↔ CRM",
        integration_type=IntegrationType.REST,
        erp_name="ERP",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=connection,
    )
    SyncTable.objects.create(
        integration=integration,
        name="Orders",
        direction=Direction.CRM_TO_ERP,
        source_object="/Contacts",
        target_object="/orders",
        record_key="Id",
    )
    client = login_as(IT)
    test_url = reverse("admin:sync_connection_test", args=[connection.pk])

    response = client.post(test_url, follow=True)

    page = html.unescape(response.content.decode())
    assert response.redirect_chain == [(reverse("admin:sync_connection_change", args=[connection.pk]), 302)]
    refused = (
        "Refused: GET /Contacts?$top=1&$skip=0 answered 401 Unauthorized — check the API key. "
        f"The server said: “Invalid credentials: {MASK}”."
    )
    assert re.search(r'<li class="error">\s*' + re.escape(refused), page), page[page.find("messagelist") :][:800]
    assert WRONG_KEY not in page and "Connected" not in page

    connection.api_key = API_KEY
    connection.save()
    page = html.unescape(client.post(test_url, follow=True).content.decode())
    assert re.search(
        r'<li class="success">\s*'
        + verdict_pattern(
            "Connected: GET /Contacts?$top=1&$skip=0 (the first read of the table “Orders”, one record asked) "
            "answered 200 in … with 1 record."
        ),
        page,
    )
    assert API_KEY not in page


# SOAP ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_soap_clients():
    soap.clear_caches()
    yield
    for entry in list(soap._clients.values()):  # keep-alive sessions to servers that are stopping
        entry.transport.session.close()
    soap.clear_caches()


@pytest.fixture
def nav():
    with NavSoapServer(records=CUSTOMERS, basic_auth=("integration", PASSWORD), today=date(2024, 3, 1)) as server:
        yield server


def nav_config(server, **overrides) -> ConnectionConfig:
    values = {
        "name": "Dynamics NAV",
        "kind": "soap",
        "wsdl_url": server.wsdl_url,
        "auth_kind": "basic",
        "username": "integration",
        "password": PASSWORD,
        "pagination": "bookmark",
        "page_size": 50,
        "records_path": "ReadMultiple_Result.Customer",
        "timeout_seconds": 2,
        "max_retries": 2,
    }
    return ConnectionConfig(**{**values, **overrides})


def soap_verdict(config, sample=NAV_TABLE, calls=None):
    with SoapConnector(config, calls.append if calls is not None else None) as connector:
        return connector.test_connection(sample)


def uploaded_wsdl(server, **overrides) -> ConnectionConfig:
    """The WSDL uploaded, not downloaded: nothing is asked of the service before the read itself."""
    values = {"wsdl_url": "", "wsdl_document": customer_wsdl_text(), "endpoint_url": server.endpoint_url}
    return nav_config(server, **{**values, **overrides})


def test_soap_right_password_reads_one_record_with_the_tables_read(nav):
    verdict = soap_verdict(nav_config(nav))

    assert verdict.ok, verdict.message
    assert re.fullmatch(
        verdict_pattern(
            f"Connected to {nav.endpoint_url} (Customer_Service/Customer_Port): ReadMultiple answered in … "
            "with 1 record — the first read of the table “Customers”, one record asked."
        ),
        verdict.message,
    )
    (read,) = [request for request in nav.requests if request.method == "POST"]
    assert read.operation == "ReadMultiple"
    body = read.body.decode()
    assert "<ns0:setSize>1</ns0:setSize>" in body  # one record, not the page size of 50
    assert "<ns0:Field>City</ns0:Field><ns0:Criteria>Porto</ns0:Criteria>" in body  # the table's own arguments


def test_soap_wrong_password_is_red_credentials_refused(nav):
    verdict = soap_verdict(uploaded_wsdl(nav, password=WRONG_PASSWORD))

    assert not verdict.ok
    assert verdict.message == (
        f"{nav.endpoint_url} refused the credentials (HTTP 401) calling ReadMultiple. The server said: “Unauthorized”."
    )
    assert nav.rejected_auth == 1 and nav.calls("ReadMultiple") == 1


def test_soap_wrong_password_is_red_even_when_the_wsdl_is_already_cached(nav):
    assert soap_verdict(nav_config(nav)).ok  # the WSDL is now cached: the wrong password loads nothing

    verdict = soap_verdict(nav_config(nav, password=WRONG_PASSWORD))

    assert not verdict.ok
    assert "refused the credentials (HTTP 401) calling ReadMultiple" in verdict.message
    assert nav.wsdl_gets == 1 and WRONG_PASSWORD not in verdict.message


def test_soap_a_refusal_answered_as_an_html_page_is_refused_credentials_not_a_dtd(nav):
    iis_page = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        "<title>401 - Unauthorized: Access is denied due to invalid credentials.</title></head><body/></html>"
    )
    with hostile.HostileServer() as gateway:
        endpoint = gateway.answer("/Page/Customer", hostile.body(iis_page, "text/html", status=401))
        verdict = soap_verdict(uploaded_wsdl(nav, endpoint_url=endpoint))

    assert not verdict.ok
    assert verdict.message == (
        f"{endpoint} refused the credentials (HTTP 401) calling ReadMultiple. "
        "The server said: “401 - Unauthorized: Access is denied due to invalid credentials.”."
    )


def test_soap_an_endpoint_answering_a_login_page_is_red(nav):
    sign_in = "<html><body><form><input name=user><input name=pass type=password></form></body></html>"
    with hostile.HostileServer() as gateway:
        endpoint = gateway.answer("/Page/Customer", hostile.body(sign_in, "text/html"))
        verdict = soap_verdict(uploaded_wsdl(nav, endpoint_url=endpoint))

    assert not verdict.ok
    assert verdict.message == (
        f"{endpoint} answered ReadMultiple with a login page instead of SOAP: check the endpoint URL and the "
        "credentials."
    )


def test_soap_a_fault_on_the_read_is_red_with_the_fault_string(nav):
    nav.fault_next("a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideException", "The field Citty does not exist.")

    verdict = soap_verdict(nav_config(nav))

    assert not verdict.ok
    assert verdict.message == (
        "The SOAP service “Dynamics NAV” answered a fault to ReadMultiple: NavCSideException — "
        "The field Citty does not exist."
    )


def test_soap_without_a_table_reading_from_it_reads_one_record_with_readmultiple(nav):
    verdict = soap_verdict(nav_config(nav), sample=None)

    assert verdict.ok
    assert verdict.message.endswith(
        "with 1 record — no active table reads from this connection, so ReadMultiple was asked for one record."
    )
    assert nav.calls("ReadMultiple") == 1


def test_soap_a_service_with_nothing_to_read_is_not_called_connected(nav):
    read_only_create = re.sub(r'<operation name="ReadMultiple">.*?</operation>', "", customer_wsdl_text(), flags=re.S)
    config = uploaded_wsdl(nav, wsdl_document=read_only_create, password=WRONG_PASSWORD)

    verdict = soap_verdict(config, sample=None)

    assert not verdict.ok
    assert verdict.message.startswith("The WSDL loaded and Customer_Service/Customer_Port offers ")
    assert "but nothing was read, so the credentials are untested" in verdict.message


@pytest.mark.parametrize(
    "answer",
    [
        hostile.body("<!DOCTYPE html><html><head><title>404 Not Found</title></head></html>", "text/html", status=404),
        hostile.body("Not found", "text/plain", status=404),
    ],
    ids=["html-page", "plain-text"],
)
def test_a_wsdl_url_answering_404_is_not_found_and_never_a_dtd(answer):
    with hostile.HostileServer() as server:
        url = server.answer("/Page/Custmer", answer) + "?wsdl"
        verdict = soap_verdict(ConnectionConfig(name="NAV", kind="soap", wsdl_url=url, timeout_seconds=2))

    assert not verdict.ok
    assert verdict.message == f"WSDL not found at {url} (HTTP 404): check the WSDL URL."
    assert "DTD" not in verdict.message


def test_a_wsdl_url_answering_a_web_page_is_a_web_page_and_never_a_dtd():
    soft_404 = "<!DOCTYPE html>\n<html><head><title>Page not found</title></head><body>Sorry.</body></html>"
    with hostile.HostileServer() as server:
        url = server.answer("/ws", hostile.body(soft_404, "text/html"))
        verdict = soap_verdict(ConnectionConfig(name="NAV", kind="soap", wsdl_url=url, timeout_seconds=2))

    assert not verdict.ok
    assert verdict.message == f"{url} answered a web page (“Page not found”), not a WSDL: check the WSDL URL."


@pytest.mark.parametrize(
    "prologue",
    [
        '<!DOCTYPE definitions [<!ENTITY secret SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE html [<!ENTITY secret SYSTEM "file:///etc/passwd">]>',  # entities behind an HTML name
    ],
    ids=["definitions", "html-name"],
)
def test_a_wsdl_with_a_dtd_is_still_refused_as_a_dtd(nav, prologue):
    document = customer_wsdl_text(nav.endpoint_url).replace("<definitions", f"{prologue}\n<definitions", 1)
    url = nav.serve("/dtd.wsdl", document)

    verdict = soap_verdict(nav_config(nav, wsdl_url=url))

    assert not verdict.ok
    assert verdict.message == (
        f"The WSDL ({url}) declares a DTD or XML entities (<!DOCTYPE>/<!ENTITY>), which are refused."
    )
    assert nav.calls("ReadMultiple") == 0


# The demo systems, served by the portal ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_demo_connections_are_tested_by_their_first_tables_reads(live_server):
    seed.populate(seed.SeedSizes(), timezone.now())
    integration = configure_demo(live_server.url)
    erp, crm = integration.erp_connection, integration.crm_connection

    erp_verdict, crm_verdict = verdict_for(erp), verdict_for(crm)
    knobs = seed.ensure_knobs()
    erp.password, crm.api_key = WRONG_PASSWORD, WRONG_KEY
    erp.save()
    crm.save()
    erp_refused, crm_refused = verdict_for(erp), verdict_for(crm)

    assert erp_verdict.ok, erp_verdict.message
    assert re.fullmatch(
        verdict_pattern(
            f"Connected to {live_server.url}/sandbox/erp/soap (DemoErpService/DemoErpPort): ListCustomers answered "
            "in … with 1 record — the first read of the table “Company”, one record asked."
        ),
        erp_verdict.message,
    )
    assert crm_verdict.ok, crm_verdict.message
    assert crm_verdict.message.startswith(
        "Connected: GET /sandbox/crm/Orders?$top=1&$skip=0 (the first read of the table “Order”, one record asked)"
    )
    # The demo ERP's WSDL is public: only the read itself can tell that the password is wrong.
    assert erp_refused == dataclasses.replace(
        erp_refused,
        ok=False,
        message=f"{live_server.url}/sandbox/erp/soap refused the credentials (HTTP 401) calling ListCustomers. "
        "The server said: “Authentication required.”.",
    )
    assert crm_refused == dataclasses.replace(
        crm_refused,
        ok=False,
        message="Refused: GET /sandbox/crm/Orders?$top=1&$skip=0 answered 401 Unauthorized — check the API key. "
        "The server said: “A valid User-Key header is required.”.",
    )
    assert knobs[SandboxSystem.ERP].password not in erp_verdict.message + erp_refused.message
