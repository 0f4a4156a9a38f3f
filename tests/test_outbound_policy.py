"""The outbound URL policy: refused in the configuration, and again on the address actually connected to.

http(s) only; never the cloud metadata address nor the link-local ranges; loopback only when
``OUTBOUND_ALLOW_LOOPBACK`` is on (the test settings have it on, like the demo); private
networks allowed. Connect-time checks run against real local servers: a refused call never
reaches them.
"""

import socket
import ssl
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.roles import IT
from core import outbound
from monitoring.alerts import open_alert
from monitoring.choices import AlertKind, RunStatus, Trigger
from monitoring.models import AlertEvent, RequestLog
from monitoring.notifications import deliver_due
from sync.connectors import soap
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.connectors.rest import RestConnector
from sync.connectors.soap import SoapConnector
from sync.engine import execute_run, queue_run
from sync.forms import ConnectionForm
from sync.models import Connection, FieldMapping, Integration, SyncTable

from .builders import build_integration
from .servers import hostile
from .servers.hostile import HostileServer
from .servers.nav_soap import NavSoapServer
from .servers.rest_api import FakeRestApi
from .test_config_io import build_integration as build_configured_integration
from .test_config_io import refused as refused_import
from .test_config_io import run as run_command
from .test_config_io import secrets_env  # noqa: F401 - a fixture
from .test_roles import integration_form

LOOPBACK_OFF = "which the portal calls only when OUTBOUND_ALLOW_LOOPBACK is on"
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def loopback_off(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False


@pytest.fixture
def api():
    with FakeRestApi() as server:
        server.add_contacts(3)
        yield server


@pytest.fixture
def source():
    with HostileServer() as server:
        yield server


def rest_config(base_url: str, **overrides) -> ConnectionConfig:
    values = {"name": "CRM", "kind": "rest", "base_url": base_url, "pagination": "odata", "records_path": "value"}
    return ConnectionConfig(**{**values, "timeout_seconds": 5, "max_retries": 0, **overrides})


def read(config: ConnectionConfig, calls=None):
    with RestConnector(config, (calls if calls is not None else []).append) as connector:
        return connector.read_page(ReadRequest(source_object="/Contacts"))


# ---------------------------------------------------------------- the policy on a URL's text


@pytest.mark.parametrize(
    ("url", "loopback_allowed", "reason"),
    [
        ("ftp://erp.example/export", True, "only http and https addresses can be called"),
        ("file:///etc/passwd", True, "only http and https addresses can be called"),
        ("gopher://127.0.0.1:6379/_INFO", True, "only http and https addresses can be called"),
        ("http://169.254.169.254/latest/meta-data/", True, "169.254.169.254 is the cloud metadata address"),
        ("http://[fd00:ec2::254]/latest", True, "fd00:ec2::254 is the cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", True, "::ffff:169.254.169.254 is the cloud metadata address"),
        ("http://169.254.10.20/", True, "169.254.10.20 is a link-local address"),
        ("http://[fe80::1]/", True, "fe80::1 is a link-local address"),
        ("http://127.0.0.1:8000/sandbox/", False, f"127.0.0.1 is this machine (loopback), {LOOPBACK_OFF}"),
        ("http://127.9.9.9/", False, "127.9.9.9 is this machine (loopback)"),
        ("http://[::1]:8000/", False, "::1 is this machine (loopback)"),
        ("http://0.0.0.0:8000/", False, "0.0.0.0 is this machine (loopback)"),
        ("http://localhost:8000/", False, f"localhost is this machine (loopback), {LOOPBACK_OFF}"),
        ("http://erp.localhost/", False, "erp.localhost is this machine (loopback)"),
        ("http://127.0.0.1:8000/sandbox/", True, None),
        ("http://localhost:8000/", True, None),
        ("http://10.1.2.3:8080/ws", False, None),
        ("https://192.168.0.10/api", False, None),
        ("http://172.16.5.4/", False, None),
        ("https://api2.ploomes.com", False, None),
    ],
)
def test_a_url_is_judged_by_its_scheme_and_address(url, loopback_allowed, reason):
    refusal = outbound.url_refusal(url, loopback_allowed=loopback_allowed)
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.startswith(reason)


# ---------------------------------------------------------------- validation: admin form, model, YAML import


def connection_form(**values) -> ConnectionForm:
    data = {
        "name": "ERP",
        "kind": "rest",
        "pagination": "none",
        "page_size": "100",
        "auth_kind": "none",
        "timeout_seconds": "30",
        "max_retries": "3",
        "max_retry_after_seconds": "60",
        "max_in_flight": "1",
        **values,
    }
    return ConnectionForm(data=data)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://erp.example/export", 'Base URL: "ftp://erp.example/export" is refused: only http and https'),
        ("file:///etc/passwd", 'Base URL: "file:///etc/passwd" is refused: only http and https'),
        (
            "http://169.254.169.254/latest/meta-data/",
            'Base URL: "http://169.254.169.254/latest/meta-data/" is refused: '
            "169.254.169.254 is the cloud metadata address.",
        ),
        ("http://[fd00:ec2::254]/", 'Base URL: "http://[fd00:ec2::254]/" is refused: fd00:ec2::254 is the cloud'),
        (
            "http://169.254.0.1/",
            'Base URL: "http://169.254.0.1/" is refused: 169.254.0.1 is a link-local address (169.254.0.0/16, '
            "fe80::/10), where cloud metadata services answer.",
        ),
        ("http://exa mple.com/", 'Base URL: "http://exa mple.com/" is not a valid URL.'),
    ],
)
def test_the_connection_form_refuses_a_url_the_portal_must_not_call(url, message):
    form = connection_form(base_url=url)

    assert not form.is_valid()
    assert len(form.errors["base_url"]) == 1
    assert form.errors["base_url"][0].startswith(message)
    assert not Connection.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "label"),
    [("wsdl_url", "WSDL URL"), ("endpoint_url", "Endpoint URL override"), ("oauth_token_url", "OAuth2 token URL")],
)
def test_every_url_the_portal_calls_is_checked(field, label):
    values = {"kind": "soap", "wsdl_url": "https://erp.example/ws?wsdl", field: "http://169.254.169.254/x"}
    if field == "oauth_token_url":
        values = {"base_url": "https://api.example", "auth_kind": "oauth2", "client_id": "c", "client_secret": "s"}
        values[field] = "http://169.254.169.254/x"

    form = connection_form(**values)

    assert not form.is_valid()
    assert form.errors[field] == [
        f'{label}: "http://169.254.169.254/x" is refused: 169.254.169.254 is the cloud metadata address.'
    ]


@pytest.mark.django_db
def test_an_alert_webhook_the_portal_must_not_call_is_refused_when_the_integration_is_saved(integration):
    integration.alert_webhook_url = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(ValidationError) as refused:
        integration.full_clean()

    assert refused.value.message_dict["alert_webhook_url"] == [
        'Alert webhook URL: "http://169.254.169.254/latest/meta-data/" is refused: '
        "169.254.169.254 is the cloud metadata address."
    ]
    integration.alert_webhook_url = "https://hooks.example/portal"
    integration.full_clean()


@pytest.mark.django_db
def test_loopback_is_refused_when_the_setting_is_off_and_accepted_when_on(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    for url in ("http://127.0.0.1:8000/sandbox/crm", "http://localhost:8000/", "http://[::1]/"):
        form = connection_form(base_url=url)
        assert not form.is_valid()
        assert (
            "this machine (loopback), which the portal calls only when OUTBOUND_ALLOW_LOOPBACK is on"
            in (form.errors["base_url"][0])
        )

    settings.OUTBOUND_ALLOW_LOOPBACK = True
    form = connection_form(base_url="http://127.0.0.1:8000/sandbox/crm")
    assert form.is_valid(), form.errors
    form.save()
    assert Connection.objects.get().base_url == "http://127.0.0.1:8000/sandbox/crm"


@pytest.mark.django_db
def test_private_network_addresses_are_accepted():
    for number, url in enumerate(["http://10.0.0.5:7001/ws", "https://192.168.1.20/api", "http://172.20.0.3/"]):
        form = connection_form(name=f"ERP {number}", base_url=url)
        assert form.is_valid(), form.errors


@pytest.mark.django_db
def test_the_admin_page_shows_the_refusal_next_to_the_field(login_as):
    client = login_as(IT)
    data = {
        "name": "Metadata",
        "kind": "rest",
        "base_url": "http://169.254.169.254/latest/meta-data/iam",
        "pagination": "none",
        "page_size": "100",
        "auth_kind": "none",
        "timeout_seconds": "30",
        "max_retries": "3",
        "max_retry_after_seconds": "60",
        "max_in_flight": "1",
    }

    response = client.post(reverse("admin:sync_connection_add"), data)

    assert response.status_code == 200
    assert "169.254.169.254 is the cloud metadata address" in str(response.context["adminform"].form.errors)
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_integration_page_explains_a_refused_webhook_url_as_the_model_does(login_as, integration):
    client = login_as(IT)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])

    response = client.post(change_url, integration_form(integration, alert_webhook_url="file:///etc/passwd"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["alert_webhook_url"]
    assert len(errors) == 1 and "is refused: only http and https addresses can be called." in errors[0]
    assert "Enter a valid URL." not in str(response.context["adminform"].form.errors)
    integration.refresh_from_db()
    assert integration.alert_webhook_url == ""


@pytest.mark.django_db
def test_the_integration_page_names_a_refused_webhook_by_its_host_only(login_as, integration):
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    secret_url = "http://169.254.169.254/services/T0001/B0002/w3bh00kT0k3n?sig=1"

    response = login_as(IT).post(change_url, integration_form(integration, alert_webhook_url=secret_url))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["alert_webhook_url"] == [
        'Alert webhook URL: "http://169.254.169.254/…" is refused: 169.254.169.254 is the cloud metadata address.'
    ]
    page = response.content.decode()
    assert "w3bh00kT0k3n" not in page and "/services/T0001" not in page  # nor typed back into the field
    integration.refresh_from_db()
    assert integration.alert_webhook_url == ""


@pytest.mark.django_db
def test_a_model_saved_around_the_form_is_refused_by_full_clean(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    connection = Connection(name="ERP", kind="soap", wsdl_url="file:///etc/passwd", endpoint_url="http://localhost/")

    with pytest.raises(Exception) as refused:
        connection.full_clean()

    assert refused.value.message_dict == {
        "wsdl_url": ['WSDL URL: "file:///etc/passwd" is refused: only http and https addresses can be called.'],
        "endpoint_url": [
            'Endpoint URL override: "http://localhost/" is refused: localhost is this machine (loopback), '
            "which the portal calls only when OUTBOUND_ALLOW_LOOPBACK is on."
        ],
    }


@pytest.mark.django_db
def test_the_yaml_import_refuses_the_same_urls(tmp_path, secrets_env):  # noqa: F811 - the fixture
    build_configured_integration()
    document = yaml.safe_load(run_command("export", "Demo", "--secrets-from-env")[0])
    document["connections"]["crm"]["base_url"] = "http://169.254.169.254/latest"
    document["connections"]["erp"]["wsdl_url"] = "ftp://erp.example/ws.wsdl"

    message = refused_import(tmp_path, yaml.safe_dump(document, sort_keys=False))

    assert (
        'connections.crm.base_url: Base URL: "http://169.254.169.254/latest" is refused: '
        "169.254.169.254 is the cloud metadata address." in message
    )
    assert 'connections.erp.wsdl_url: WSDL URL: "ftp://erp.example/ws.wsdl" is refused: only http and https' in message


# ---------------------------------------------------------------- connect time: REST


def test_a_name_resolving_to_loopback_is_refused_when_loopback_is_off(api, loopback_off):
    config = rest_config(api.url.replace("127.0.0.1", "localhost"))
    calls = []

    with pytest.raises(ConnectorError) as refused:
        read(config, calls)

    port = api.url.rsplit(":", 1)[1]
    assert refused.value.message == (
        f"The call to http://localhost:{port}/Contacts was refused: localhost resolves to 127.0.0.1, "
        f"this machine (loopback), {LOOPBACK_OFF}."
    )
    assert not refused.value.retryable
    assert api.received == []  # never reached
    assert [call.error for call in calls] == [refused.value.message]


def test_a_loopback_address_is_refused_when_loopback_is_off_and_reached_when_on(api, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    with pytest.raises(ConnectorError) as refused:
        read(rest_config(api.url))
    assert "127.0.0.1 is this machine (loopback)" in refused.value.message
    assert api.received == []

    settings.OUTBOUND_ALLOW_LOOPBACK = True
    assert len(read(rest_config(api.url)).records) == 3
    assert len(api.received) == 1


def test_a_name_resolving_to_the_metadata_address_is_refused_before_connecting(api, monkeypatch):
    real = socket.getaddrinfo
    resolved = []

    def resolve(host, port, *args, **kwargs):
        resolved.append(host)
        if host == "erp.evil.test":
            return real("169.254.169.254", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(outbound, "getaddrinfo", resolve)
    connected = []
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: connected.append(address), raising=True)

    with pytest.raises(ConnectorError) as refused:
        read(rest_config("http://erp.evil.test/api"))

    assert refused.value.message == (
        "The call to http://erp.evil.test/api/Contacts was refused: "
        "erp.evil.test resolves to 169.254.169.254, the cloud metadata address."
    )
    assert resolved == ["erp.evil.test"] and connected == []


def test_a_redirect_to_the_metadata_address_is_refused(source):
    source.answer("/Contacts", hostile.redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/"))
    calls = []

    with pytest.raises(ConnectorError) as refused:
        read(rest_config(source.base_url), calls)

    assert refused.value.message == (
        "The call to http://169.254.169.254/latest/meta-data/iam/security-credentials/ was refused: "
        "169.254.169.254 is the cloud metadata address."
    )
    assert [seen.path for seen in source.seen][:1] == ["/Contacts?$top=100&$skip=0"]


def test_a_redirect_to_loopback_is_refused_when_loopback_is_off(api, source, settings, monkeypatch):
    # The first server stands for an allowed address (a resolver seam maps its name), the redirect goes to loopback.
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "crm.partner.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.200.0.1", port))]
        return real(host, port, *args, **kwargs)

    settings.OUTBOUND_ALLOW_LOOPBACK = False
    monkeypatch.setattr(outbound, "getaddrinfo", resolve)
    targets = []
    real_connect = socket.socket.connect

    def connect(sock, address):  # 10.200.0.1 is this test's server on 127.0.0.1
        targets.append(address[0])
        return real_connect(
            sock, (source._httpd.server_address[0], address[1]) if address[0] == "10.200.0.1" else address
        )

    monkeypatch.setattr(socket.socket, "connect", connect)
    source.answer("/Contacts", hostile.redirect(f"{api.url}/Contacts"))
    port = source.base_url.rsplit(":", 1)[1]

    with pytest.raises(ConnectorError) as refused:
        read(rest_config(f"http://crm.partner.test:{port}"))

    assert refused.value.message.startswith(f"The call to {api.url}/Contacts was refused: 127.0.0.1 is this machine")
    assert targets == ["10.200.0.1"]  # the loopback address was never connected to
    assert len(source.seen) == 1 and api.received == []


def test_the_oauth2_token_url_obeys_the_policy(api):
    config = rest_config(
        api.url,
        auth_kind="oauth2",
        client_id="portal",
        client_secret="s3cret-value",
        oauth_token_url="http://169.254.169.254/oauth/token",
    )

    with pytest.raises(ConnectorError) as refused:
        read(config)

    assert "The call to http://169.254.169.254/oauth/token was refused" in refused.value.message
    assert "s3cret-value" not in refused.value.message
    assert api.received == []


def test_an_environment_proxy_is_not_a_way_around_the_policy(api, source, monkeypatch, loopback_off):
    # A proxy would resolve and reach the name itself: the name is checked here before handing it over.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://proxy.example.test:{source.base_url.rsplit(':', 1)[1]}")

    with pytest.raises(ConnectorError) as refused:
        read(rest_config(api.url.replace("127.0.0.1", "localhost")))

    assert "localhost resolves to 127.0.0.1, this machine (loopback)" in refused.value.message
    assert source.seen == [] and api.received == []


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate names only ``localhost``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # OpenSSL checks the validity against the machine's clock: a wide window keeps the test
        # independent of the date, also when the suite runs with its clock moved (--clock-ahead-days).
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = tmp_path / "certificate.pem", tmp_path / "key.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with HostileServer() as server:
        server.answer("/Contacts", hostile.json_body({"value": [{"Id": 1}]}))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate_file, key_file)
        server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
        yield SimpleNamespace(port=server._httpd.server_address[1], ca_file=str(certificate_file), server=server)


def test_tls_is_verified_against_the_name_while_the_checked_address_is_connected_to(tls_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server.ca_file)

    page = read(rest_config(f"https://localhost:{tls_server.port}"))
    with pytest.raises(ConnectorError) as refused:
        read(rest_config(f"https://127.0.0.1:{tls_server.port}"))  # the certificate does not name 127.0.0.1

    assert page.records == [{"Id": 1}]
    assert refused.value.message.startswith(f"The TLS certificate of https://127.0.0.1:{tls_server.port}/Contacts")


# ---------------------------------------------------------------- connect time: SOAP


def test_soap_wsdl_and_service_calls_obey_the_policy(loopback_off):
    soap.clear_caches()
    try:
        with NavSoapServer(records=[{"No": "10000", "Name": "Adatum"}]) as nav:
            config = ConnectionConfig(name="NAV", kind="soap", wsdl_url=nav.wsdl_url, timeout_seconds=5)
            verdict = SoapConnector(config).test_connection()
            assert nav.requests == []
    finally:
        soap.clear_caches()

    assert not verdict.ok
    assert verdict.message == (
        f"The call to {nav.wsdl_url.split('?')[0]} was refused: 127.0.0.1 is this machine (loopback), {LOOPBACK_OFF}."
    )


def test_a_wsdl_whose_endpoint_is_the_metadata_address_is_refused_at_the_call():
    soap.clear_caches()
    try:
        with NavSoapServer(records=[{"No": "10000", "Name": "Adatum"}]) as nav:
            config = ConnectionConfig(
                name="NAV",
                kind="soap",
                wsdl_url=nav.wsdl_url,
                endpoint_url="http://169.254.169.254/Page/Customer",
                pagination="bookmark",
                timeout_seconds=5,
                max_retries=0,
            )
            with pytest.raises(ConnectorError) as refused:
                SoapConnector(config).read_page(ReadRequest(source_object="ReadMultiple"))
            assert [request.method for request in nav.requests] == ["GET"]  # the WSDL only
    finally:
        soap.clear_caches()

    assert refused.value.message == (
        "The call to http://169.254.169.254/Page/Customer was refused: 169.254.169.254 is the cloud metadata address."
    )


def test_a_wsdl_redirecting_to_the_metadata_address_is_refused(source):
    soap.clear_caches()
    try:
        config = ConnectionConfig(
            name="NAV", kind="soap", wsdl_url=source.answer("/ws", hostile.redirect("http://169.254.169.254/ws.wsdl"))
        )
        verdict = SoapConnector(config).test_connection()
    finally:
        soap.clear_caches()

    assert not verdict.ok
    assert verdict.message == (
        "The call to http://169.254.169.254/ws.wsdl was refused: 169.254.169.254 is the cloud metadata address."
    )


# ---------------------------------------------------------------- connect time: a run


@pytest.mark.django_db
def test_a_refused_call_ends_the_run_with_a_readable_error(api):
    source_connection = Connection.objects.create(
        name="ERP", kind="rest", base_url="http://169.254.169.254/api", records_path="value", max_retries=0
    )
    target = Connection.objects.create(name="CRM", kind="rest", base_url=api.url, records_path="value")
    integration = Integration.objects.create(
        name="ERP ↔ CRM",
        integration_type="rest",
        erp_name="ERP",
        crm_name="CRM",
        erp_connection=source_connection,
        crm_connection=target,
    )
    table = SyncTable.objects.create(
        integration=integration, name="Company", source_object="/companies", target_object="/Contacts", record_key="Id"
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Id", target_field="ErpNo")

    sync_run = execute_run(queue_run(integration, Trigger.MANUAL).pk)

    assert sync_run.status == RunStatus.FAILED
    assert sync_run.error == (
        "Company: The call to http://169.254.169.254/api/companies was refused: "
        "169.254.169.254 is the cloud metadata address."
    )
    assert RequestLog.objects.get(run=sync_run).error == sync_run.error.removeprefix("Company: ")


# ---------------------------------------------------------------- the alert webhook


@pytest.fixture
def webhook(source):
    source.answer("/services/T0001/B0002/s3cr3tT0k3n", hostile.body("ok", "text/plain"))
    return source


def notify(erp_connection, crm_connection, url) -> AlertEvent:
    integration = build_integration(
        erp_connection, crm_connection, activated_at=NOW, alert_emails="", alert_webhook_url=url
    )
    open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    deliver_due(NOW)
    return AlertEvent.objects.get()


@pytest.mark.django_db
def test_the_webhook_is_posted_when_the_policy_allows_it(webhook, erp_connection, crm_connection):
    event = notify(erp_connection, crm_connection, webhook.url("/services/T0001/B0002/s3cr3tT0k3n"))

    assert event.webhook_sent_at == NOW and event.last_error == ""
    assert [seen.method for seen in webhook.seen] == ["POST"]


@pytest.mark.django_db
def test_the_webhook_to_loopback_is_refused_when_loopback_is_off(webhook, erp_connection, crm_connection, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False

    event = notify(erp_connection, crm_connection, webhook.url("/services/T0001/B0002/s3cr3tT0k3n"))

    assert event.webhook_sent_at is None
    assert event.last_error == (
        f"Webhook: The call to {webhook.base_url}/… was refused: 127.0.0.1 is this machine (loopback), {LOOPBACK_OFF}."
    )
    assert "s3cr3tT0k3n" not in event.last_error
    assert webhook.seen == []


@pytest.mark.django_db
def test_a_webhook_redirecting_to_the_metadata_address_is_refused(source, erp_connection, crm_connection):
    url = source.answer("/hooks/s3cr3tT0k3n", hostile.redirect("http://169.254.169.254/latest/user-data"))

    event = notify(erp_connection, crm_connection, url)

    assert event.webhook_sent_at is None
    assert event.last_error == (
        "Webhook: The call to http://169.254.169.254/… was refused: 169.254.169.254 is the cloud metadata address."
    )
    assert [seen.path for seen in source.seen] == ["/hooks/s3cr3tT0k3n"]
