"""OAuth2 authorization code with a rotating refresh token, as Bling API v3 does it, end to end.

Against a real local server that answers as Bling does (``tests/servers/bling_api.py``): the Authorize
step through the admin, a sync reading Bling contacts with the access token, refreshes that rotate the
refresh token (stored before the new access token is used), one refresh for callers that need one at
the same time, a revoked authorization in words, and no token in request logs, pages or the YAML export.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
import requests
from django.contrib.auth.models import Group
from django.db import connection as db_connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import IT, SUPERVISOR
from monitoring.choices import RunStatus, Trigger
from monitoring.models import RequestLog
from sync.admin.authorize import redeem
from sync.choices import AuthKind, ConnectionKind, IntegrationType
from sync.config_io import export_text
from sync.connectors import connector_for
from sync.connectors.base import ConnectionConfig, ReadRequest
from sync.connectors.rest.oauth_code import AuthorizationRevoked, NotAuthorized
from sync.engine import execute_run, queue_run
from sync.models import Connection, FieldMapping, Integration, SyncTable
from sync.oauth_tokens import ConnectionTokens, store_authorization

from .processes import running
from .servers.bling_api import FakeBling
from .servers.rest_api import FakeRestApi

CRM_KEY = "crm-key-oauth-5e1b"
CLIENT_SECRET = "bling-secret-9a4f7c"
SIX_HOURS = 21600


class SlowTokenBling(FakeBling):
    """Bling whose token endpoint takes ``token_latency`` seconds to answer (a busy authorization server)."""

    token_latency: float = 0.0

    def token(self, authorization, form):
        if self.token_latency:
            threading.Event().wait(self.token_latency)
        return super().token(authorization, form)


@pytest.fixture
def bling():
    with SlowTokenBling(client_secret=CLIENT_SECRET, rate_limit=0) as api:
        api.redirect_uri = callback_url()  # the app's registered redirect link
        yield api


def callback_path() -> str:
    return reverse("admin:sync_connection_oauth_callback")


def callback_url() -> str:
    return f"http://testserver{callback_path()}"


def bling_connection(bling, **fields) -> Connection:
    values = {
        "name": "Bling",
        "kind": ConnectionKind.REST,
        "base_url": f"{bling.url}/Api/v3",
        "auth_kind": AuthKind.OAUTH2_CODE,
        "oauth_authorize_url": bling.authorize_url,
        "oauth_token_url": bling.token_url,
        "client_id": bling.client_id,
        "client_secret": bling.client_secret,
        "records_path": "data",
        "timeout_seconds": 5,
        "max_retries": 0,
        **fields,
    }
    return Connection.objects.create(**values)


def authorized(bling, connection: Connection) -> Connection:
    """The connection after the code exchange the callback makes, with a code the consent step gave."""
    answer = redeem(connection, bling.issue_code(), bling.redirect_uri)
    store_authorization(connection, answer, timezone.now())
    connection.refresh_from_db()
    return connection


def expire_access_token(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(access_token_expires_at=timezone.now() - timedelta(seconds=1))


def read_contacts(connection: Connection, calls=None) -> list[dict]:
    connection.refresh_from_db()
    config = ConnectionConfig.from_model(connection)
    with connector_for(config, call_log=calls, tokens=ConnectionTokens(connection.pk)) as connector:
        return connector.read_page(ReadRequest(source_object="/contatos", arguments={"limite": "100"})).records


def seed_people(bling) -> None:
    bling.seed_contact(nome="Ana Souza", codigo="C-1", numeroDocumento="52998224725", tipo="F")
    bling.seed_contact(nome="Acme Ltda", codigo="C-2", numeroDocumento="11222333000181", tipo="J")


# ---------------------------------------------------------------- the Authorize step


def start_authorize(client, connection):
    """Press Authorize: the portal's redirect to the provider, and the query it carries."""
    response = client.post(reverse("admin:sync_connection_authorize", args=[connection.pk]))
    assert response.status_code == 302
    location = response["Location"]
    return location, {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def provider_redirect(location: str) -> str:
    """Follow the portal's redirect to the (real, local) provider; the path and query it sends the browser back to."""
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"http://{back.netloc}{back.path}" == callback_url()
    return f"{back.path}?{back.query}"


def messages_of(response) -> list[str]:
    return [
        item.text_content().strip()
        for item in lxml.html.fromstring(response.content).xpath("//ul[@class='messagelist']/li")
    ]


@pytest.mark.django_db
def test_authorize_round_trip_through_the_admin_stores_the_tokens(bling, login_as):
    connection = bling_connection(bling)
    client = login_as(IT)
    page = client.get(reverse("admin:sync_connection_change", args=[connection.pk])).content.decode()
    assert "Not authorized yet" in page
    assert callback_url() in page  # the redirect URL to register at Bling

    location, query = start_authorize(client, connection)
    assert location.startswith(bling.authorize_url + "?")
    assert query["response_type"] == "code"
    assert query["client_id"] == bling.client_id
    assert query["redirect_uri"] == callback_url()
    assert len(query["state"]) >= 32
    back = provider_redirect(location)
    response = client.get(back, follow=True)

    assert messages_of(response) == ["Authorized: the portal holds a refresh token (refreshed automatically)."]
    connection.refresh_from_db()
    assert connection.refresh_token == bling.newest_refresh_token
    assert connection.access_token in bling.access_tokens
    assert connection.authorized_at is not None
    assert (
        timezone.now() + timedelta(hours=5) < connection.access_token_expires_at < timezone.now() + timedelta(hours=6)
    )
    code_exchange = [r for r in bling.received if r.path.endswith("/oauth/token")]
    assert len(code_exchange) == 1
    form = parse_qs(code_exchange[0].body)
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [callback_url()]  # the same one the authorize step sent
    client_auth = base64.b64encode(f"{bling.client_id}:{CLIENT_SECRET}".encode()).decode()
    assert code_exchange[0].headers["Authorization"] == f"Basic {client_auth}"

    page = response.content.decode()
    assert "Authorized since" in page
    for secret in (connection.refresh_token, connection.access_token, CLIENT_SECRET):
        assert secret not in page


@pytest.mark.django_db
def test_a_reused_missing_or_foreign_state_is_refused_and_stores_nothing(bling, login_as):
    connection = bling_connection(bling)
    client = login_as(IT)
    location, _query = start_authorize(client, connection)
    back = provider_redirect(location)
    assert client.get(back).status_code == 302
    connection.refresh_from_db()
    stored = connection.refresh_token

    again = client.get(back)  # the same state a second time
    assert again.status_code == 400
    assert "unknown, was already used or has expired" in again.content.decode()
    code = bling.issue_code()
    for path in (f"{callback_path()}?code={code}", f"{callback_path()}?code={code}&state=made-up-state"):
        refused = client.get(path)
        assert refused.status_code == 400
        assert "Nothing was stored" in refused.content.decode()
    connection.refresh_from_db()
    assert connection.refresh_token == stored
    assert bling.refreshes == 0 and len([r for r in bling.received if r.path.endswith("/oauth/token")]) == 1


@pytest.mark.django_db
def test_a_state_handed_out_in_another_session_does_nothing(bling, login_as, django_user_model):
    connection = bling_connection(bling)
    location, _query = start_authorize(login_as(IT), connection)
    back = provider_redirect(location)
    colleague = django_user_model.objects.create_user(username="it-colleague", password="pw", is_staff=True)
    colleague.groups.add(Group.objects.get(name=IT))
    other = Client()
    other.force_login(colleague)
    response = other.get(back)
    assert response.status_code == 400
    connection.refresh_from_db()
    assert connection.refresh_token == ""


@pytest.mark.django_db
def test_a_state_expires_after_ten_minutes(bling, login_as, time_machine):
    connection = bling_connection(bling)
    client = login_as(IT)
    time_machine.move_to(timezone.now(), tick=False)
    location, _query = start_authorize(client, connection)
    back = provider_redirect(location)
    time_machine.shift(timedelta(minutes=10, seconds=1))
    response = client.get(back)
    assert response.status_code == 400
    connection.refresh_from_db()
    assert connection.refresh_token == ""


@pytest.mark.django_db
def test_a_denied_consent_says_so_and_stores_nothing(bling, login_as):
    connection = bling_connection(bling)
    bling.deny_consent = True
    client = login_as(IT)
    location, _query = start_authorize(client, connection)
    response = client.get(provider_redirect(location), follow=True)
    assert messages_of(response) == [
        "The authorization was denied at the provider: nothing was stored. The user denied access"
    ]
    connection.refresh_from_db()
    assert (connection.refresh_token, connection.access_token, connection.authorized_at) == ("", "", None)


@pytest.mark.django_db
def test_authorize_is_for_it_only(bling, login_as):
    connection = bling_connection(bling)
    client = login_as(SUPERVISOR)
    page = client.get(reverse("admin:sync_connection_change", args=[connection.pk])).content.decode()
    assert 'data-action="authorize"' not in page
    assert client.post(reverse("admin:sync_connection_authorize", args=[connection.pk])).status_code == 403


# ---------------------------------------------------------------- tokens during syncs


@pytest.mark.django_db
def test_an_expired_access_token_is_refreshed_once_and_the_rotated_refresh_token_is_kept(bling):
    seed_people(bling)
    connection = authorized(bling, bling_connection(bling))
    first_refresh = connection.refresh_token
    expire_access_token(connection)

    records = read_contacts(connection)
    assert [(r["nome"], r["codigo"]) for r in records] == [("Ana Souza", "C-1"), ("Acme Ltda", "C-2")]
    assert bling.refreshes == 1
    connection.refresh_from_db()
    assert connection.refresh_token == bling.newest_refresh_token != first_refresh
    assert connection.access_token in bling.access_tokens
    assert connection.access_token_expires_at > timezone.now() + timedelta(hours=5)
    refresh = [r for r in bling.received if r.path.endswith("/oauth/token")][-1]
    assert parse_qs(refresh.body) == {"grant_type": ["refresh_token"], "refresh_token": [first_refresh]}
    assert refresh.headers["Authorization"].startswith("Basic ")

    read_contacts(connection)  # the stored access token serves the next connector: no refresh
    assert bling.refreshes == 1


@pytest.mark.django_db
def test_a_401_to_the_access_token_refreshes_once(bling):
    seed_people(bling)
    connection = authorized(bling, bling_connection(bling))
    first_refresh = connection.refresh_token
    bling.advance(SIX_HOURS + 1)  # Bling's clock: the stored token expired there, the portal does not know yet

    records = read_contacts(connection)
    assert [r["nome"] for r in records] == ["Ana Souza", "Acme Ltda"]
    assert bling.refreshes == 1
    connection.refresh_from_db()
    assert connection.refresh_token == bling.newest_refresh_token != first_refresh
    statuses = [r.path for r in bling.received if r.path.endswith("/contatos")]
    assert len(statuses) == 2  # refused once, then answered


@pytest.mark.django_db(transaction=True)
def test_two_callers_needing_a_refresh_at_once_refresh_once_and_both_read(bling):
    seed_people(bling)
    connection = authorized(bling, bling_connection(bling))
    expire_access_token(connection)
    bling.token_latency = 0.5  # the first refresh is still out when the second caller asks
    config = ConnectionConfig.from_model(Connection.objects.get(pk=connection.pk))
    start = threading.Barrier(2)
    results, errors = {}, []

    def worker(name):
        # Each caller its own connector and database connection, as two workers of one process.
        try:
            with connector_for(config, tokens=ConnectionTokens(connection.pk)) as connector:
                start.wait(timeout=10)
                page = connector.read_page(ReadRequest(source_object="/contatos", arguments={"limite": "100"}))
                results[name] = [record["nome"] for record in page.records]
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert results == {"one": ["Ana Souza", "Acme Ltda"], "two": ["Ana Souza", "Acme Ltda"]}
    assert bling.refreshes == 1
    connection.refresh_from_db()
    assert connection.refresh_token == bling.newest_refresh_token


@pytest.mark.django_db
def test_a_connection_never_authorized_says_to_press_authorize(bling):
    connection = bling_connection(bling)
    with pytest.raises(NotAuthorized) as raised:
        read_contacts(connection)
    assert str(raised.value) == (
        "Not authorized yet: open the connection and press Authorize (Bling holds no refresh token)."
    )
    assert bling.received == []


@pytest.mark.django_db
def test_a_revoked_authorization_says_so_and_clears_nothing(bling):
    connection = authorized(bling, bling_connection(bling))
    bling.revoke_all()
    expire_access_token(connection)
    connection.refresh_from_db()
    before = (connection.refresh_token, connection.access_token, connection.authorized_at)
    with pytest.raises(AuthorizationRevoked) as raised:
        read_contacts(connection)
    assert str(raised.value) == (
        "The authorization was revoked or has expired: press Authorize again on the connection."
    )
    connection.refresh_from_db()
    assert (connection.refresh_token, connection.access_token, connection.authorized_at) == before


# ---------------------------------------------------------------- a sync, and where secrets never go


@pytest.fixture
def crm():
    with FakeRestApi(auth="api_key", api_key=CRM_KEY) as api:
        yield api


def bling_to_crm(bling, crm) -> Integration:
    erp = bling_connection(bling)
    target = Connection.objects.create(
        name="CRM",
        kind=ConnectionKind.REST,
        base_url=crm.url,
        auth_kind=AuthKind.API_KEY,
        api_key_header="User-Key",
        api_key=CRM_KEY,
        pagination="odata",
        records_path="value",
        timeout_seconds=5,
    )
    integration = Integration.objects.create(
        name="Bling ↔ CRM",
        integration_type=IntegrationType.REST,
        erp_name="Bling",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=target,
    )
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/contatos",
        read_arguments={"limite": "100"},
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="codigo",
        target_key="Id",
    )
    FieldMapping.objects.create(table=table, position=1, source_path="codigo", target_field="Code")
    FieldMapping.objects.create(table=table, position=2, source_path="nome", target_field="Name")
    FieldMapping.objects.create(table=table, position=3, source_path="numeroDocumento", target_field="Document")
    return integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


@pytest.mark.django_db
def test_a_sync_reads_bling_contacts_refreshing_the_token_and_no_secret_is_logged(bling, crm, login_as):
    seed_people(bling)
    integration = bling_to_crm(bling, crm)
    connection = authorized(bling, integration.erp_connection)
    first = (connection.refresh_token, connection.access_token)
    expire_access_token(connection)

    finished = run(integration)

    assert finished.status == RunStatus.SUCCEEDED, finished.error
    held = sorted((row["Code"], row["Name"], row["Document"]) for row in crm.contacts())
    assert held == [("C-1", "Ana Souza", "52998224725"), ("C-2", "Acme Ltda", "11222333000181")]
    assert bling.refreshes == 1
    connection.refresh_from_db()
    assert connection.refresh_token == bling.newest_refresh_token != first[0]

    secrets = [*first, connection.refresh_token, connection.access_token, CLIENT_SECRET]
    secrets.append(base64.b64encode(f"{bling.client_id}:{CLIENT_SECRET}".encode()).decode())
    logs = list(RequestLog.objects.all())
    assert {log.operation for log in logs} >= {"token", "read"}
    for log in logs:
        text = " ".join([log.url, str(log.request_headers), log.request_body, log.response_body, str(log.error)])
        assert not [secret for secret in secrets if secret in text], log.operation

    client = login_as(IT)
    page = client.get(reverse("admin:sync_connection_change", args=[connection.pk])).content.decode()
    exported = export_text(integration.name).text
    for secret in secrets:
        assert secret not in page
        assert secret not in exported
    assert f"oauth_authorize_url: {bling.authorize_url}" in exported
    assert "refresh_token" not in exported.split("left out")[0]


@pytest.mark.django_db
def test_a_run_of_a_revoked_connection_fails_with_the_reason(bling, crm):
    integration = bling_to_crm(bling, crm)
    connection = authorized(bling, integration.erp_connection)
    bling.revoke_all()
    expire_access_token(connection)

    finished = run(integration)

    assert finished.status == RunStatus.FAILED
    assert str(finished.error) == (
        "Contact: The authorization was revoked or has expired: press Authorize again on the connection."
    )
    assert crm.contacts() == []


@pytest.mark.django_db
def test_saving_the_form_keeps_tokens_rotated_meanwhile_and_another_auth_kind_drops_them(bling):
    connection = authorized(bling, bling_connection(bling))
    stale = Connection.objects.get(pk=connection.pk)  # a form opened before a refresh
    expire_access_token(connection)
    read_contacts(connection)
    rotated = Connection.objects.get(pk=connection.pk).refresh_token

    stale.timeout_seconds = 9
    stale.save()
    saved = Connection.objects.get(pk=connection.pk)
    assert (saved.timeout_seconds, saved.refresh_token) == (9, rotated)

    saved.auth_kind = AuthKind.OAUTH2
    saved.save()
    saved.refresh_from_db()
    assert (saved.refresh_token, saved.access_token, saved.access_token_expires_at, saved.authorized_at) == (
        "",
        "",
        None,
        None,
    )


# ---------------------------------------------------------------- two worker processes

WORKER = """
import json, pathlib, sys, time
import django
django.setup()
from django.utils import timezone
from datetime import timedelta
from sync.admin.authorize import redeem
from sync.connectors import connector_for
from sync.connectors.base import ConnectionConfig, ReadRequest
from sync.models import Connection
from sync.oauth_tokens import ConnectionTokens, store_authorization

mode = sys.argv[1]
if mode == "setup":  # the connection, authorized with the code given, its access token expired
    url, client_id, secret, code, redirect = sys.argv[2:7]
    connection = Connection.objects.create(
        name="Bling", kind="rest", base_url=url + "/Api/v3", auth_kind="oauth2_code",
        oauth_authorize_url=url + "/Api/v3/oauth/authorize", oauth_token_url=url + "/Api/v3/oauth/token",
        client_id=client_id, client_secret=secret, records_path="data", timeout_seconds=5, max_retries=0,
    )
    store_authorization(connection, redeem(connection, code, redirect), timezone.now())
    Connection.objects.filter(pk=connection.pk).update(access_token_expires_at=timezone.now() - timedelta(seconds=1))
    print(connection.pk, flush=True)
elif mode == "read":  # ready, then wait for the go file, then read one page
    connection = Connection.objects.get(name="Bling")
    go = pathlib.Path(sys.argv[2])
    with connector_for(ConnectionConfig.from_model(connection), tokens=ConnectionTokens(connection.pk)) as connector:
        print("ready", flush=True)
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        page = connector.read_page(ReadRequest(source_object="/contatos", arguments={"limite": "100"}))
    print(json.dumps([record["nome"] for record in page.records]), flush=True)
else:  # the refresh token the row holds
    print(Connection.objects.get(name="Bling").refresh_token, flush=True)
"""


@pytest.mark.slow
def test_two_worker_processes_needing_a_refresh_at_once_refresh_once(bling, tmp_path):
    """Two processes on one SQLite file, as two django-q2 workers: the row's lock lets one refresh."""
    seed_people(bling)
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PORTAL_DATA_DIR": str(tmp_path),
    }
    python, root = sys.executable, Path(__file__).resolve().parent.parent
    subprocess.run([python, "manage.py", "migrate", "--noinput"], env=env, cwd=root, check=True, capture_output=True)
    setup = [bling.url, bling.client_id, CLIENT_SECRET, bling.issue_code(), bling.redirect_uri]
    subprocess.run([python, "-c", WORKER, "setup", *setup], env=env, cwd=root, check=True, capture_output=True)
    bling.token_latency = 0.5  # the first refresh is still out when the other process asks
    go = tmp_path / "go"
    with (
        running([python, "-c", WORKER, "read", str(go)], env=env, cwd=root) as one,
        running([python, "-c", WORKER, "read", str(go)], env=env, cwd=root) as two,
    ):
        for process in (one, two):
            assert process.stdout.readline().strip() == "ready"
        go.touch()
        outputs = [process.communicate(timeout=60)[0] for process in (one, two)]
    assert [process.returncode for process in (one, two)] == [0, 0], outputs
    assert [json.loads(output.strip().splitlines()[-1]) for output in outputs] == [["Ana Souza", "Acme Ltda"]] * 2
    assert bling.refreshes == 1
    shown = subprocess.run(
        [python, "-c", WORKER, "show"], env=env, cwd=root, check=True, capture_output=True, text=True
    )
    assert shown.stdout.strip() == bling.newest_refresh_token
