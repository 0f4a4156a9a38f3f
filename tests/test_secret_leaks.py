"""Known secrets never leak: not into the database, django-q2's rows, logs, pages, notifications or exports.

Every kind of secret a connection can hold is stored with a known, unique value (REST: API-key
header, bearer token, basic password, OAuth2 client secret; SOAP: basic password, WS-Security
password) and so is the token in an alert webhook's address. Syncs then succeed against real
local servers, fail once the servers stop accepting those credentials (the fake CRM echoes the
credentials it refused, as some real APIs do), and fail against an address where nothing
listens; alerts open and notifications go out (the first webhook delivery fails); IT tests the
connections from the admin, opens the pages and exports the 7-day history workbook.

Then each secret is searched for, in every form it could take (plain, URL-quoted, XML- and
JSON-escaped, base64 of itself and of ``user:secret``), in:

- the whole database: every column of every row of every table, and on SQLite the raw bytes of
  the database (the file and its WAL after a checkpoint, or the in-memory image);
- django-q2's rows, unpickled: tasks (``args``, ``kwargs``, ``result``), queued packages, schedules;
- the log, with every logger at DEBUG (zeep, urllib3, SQL included) — or, with real processes,
  the web server's and the workers' output at ``LOG_LEVEL=DEBUG``;
- the emails and webhook posts, the pages IT sees, and every XML part of the workbook.

Every count must be zero, the webhook's token included: its address is a credential, stored
encrypted like the connections' secrets and never shown back.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import threading
import zipfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from secrets import token_hex
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import pytest
import requests

from .processes import free_port, wait_until

WEBHOOK_TOKEN = "alert webhook token"
SNIPPET = 60

INTEGRATIONS = {
    "nav_basic": "NAV (HTTP basic) → CRM (API key)",
    "nav_wsse": "NAV (WS-Security) → CRM (bearer token)",
    "rest_oauth": "ERP REST (HTTP basic) → CRM (OAuth2)",
    "unreachable": "Unreachable ERP → unreachable CRM",
}
CUSTOMERS = [
    {"No": str(10000 + 10 * n), "Name": f"Cliente {n:02d} Ltda", "Last_Date_Modified": f"2024-02-{n + 1:02d}"}
    for n in range(12)
]


# ---------------------------------------------------------------- the secrets and their forms


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    user: str = ""  # who presents it with HTTP basic: base64("user:secret") is one of its forms

    def forms(self) -> dict[str, str]:
        """Every way the value could be written down, by the name of the encoding."""
        forms = {
            "plain": self.value,
            "URL-quoted": quote(self.value, safe=""),
            "form-quoted": quote_plus(self.value),
            "XML-escaped": html.escape(self.value),
            "JSON-escaped": json.dumps(self.value)[1:-1],
            "base64": base64.b64encode(self.value.encode()).decode(),
        }
        if self.user:
            forms["base64 user:secret"] = base64.b64encode(f"{self.user}:{self.value}".encode()).decode()
        unique = {}
        for kind, text in forms.items():
            if text not in unique.values():
                unique[kind] = text
        return unique


def make_secrets() -> dict[str, Secret]:
    """Unique values, with the characters that quoting and escaping change."""
    tag = token_hex(5)
    secrets = [
        Secret("REST API key", f"apikey-{tag}-Q7v"),
        Secret("REST bearer token", f"bearer-{tag}-Z3k"),
        Secret("REST basic password", f"restpw-{tag}+/=&<'", user="rest-reader"),
        Secret("OAuth2 client secret", f"oauth-{tag}+/=&", user="portal-client"),
        Secret("SOAP basic password", f"navpw-{tag}&<>'", user="nav-reader"),
        Secret("WS-Security password", f"wssepw-{tag}&<'\"", user="nav-wsse"),
        Secret(WEBHOOK_TOKEN, f"hook{tag}T0k3n"),
    ]
    return {secret.name: secret for secret in secrets}


def secrets_to_params(secrets: dict[str, Secret]) -> dict:
    return {name: {"value": secret.value, "user": secret.user} for name, secret in secrets.items()}


def secrets_from_params(params: dict) -> dict[str, Secret]:
    return {name: Secret(name, item["value"], item["user"]) for name, item in params.items()}


class LeakScan:
    """Counts every form of every secret, per place; keeps where the first hits were."""

    def __init__(self, secrets: dict[str, Secret]):
        self.secrets = dict(secrets)
        self.counts: dict[str, dict[str, int]] = {}
        self.sizes: dict[str, int] = {}
        self.hits: list[str] = []

    def add_secret(self, secret: Secret) -> None:
        self.secrets[secret.name] = secret

    def search(self, place: str, haystack, *, where: str = "") -> None:
        """Count the secrets in ``haystack`` (text or bytes)."""
        counts = self.counts.setdefault(place, dict.fromkeys(self.secrets, 0))
        raw = isinstance(haystack, bytes | bytearray | memoryview)
        haystack = bytes(haystack) if raw else str(haystack or "")
        self.sizes[place] = self.sizes.get(place, 0) + len(haystack)
        for name, secret in self.secrets.items():
            counts.setdefault(name, 0)
            for kind, text in secret.forms().items():
                needle = text.encode() if raw else text
                found = haystack.count(needle)
                if not found:
                    continue
                counts[name] += found
                if len(self.hits) < 40:
                    at = haystack.find(needle)
                    context = haystack[max(at - SNIPPET, 0) : at + len(needle) + SNIPPET]
                    context = context.decode("utf-8", "replace") if raw else context
                    self.hits.append(f"{place}{f' ({where})' if where else ''}: {name}, {kind}: …{context!r}…")

    def as_params(self) -> dict:
        return {"counts": self.counts, "sizes": self.sizes, "hits": self.hits}

    def merge(self, other: dict) -> None:
        for place, counts in other["counts"].items():
            mine = self.counts.setdefault(place, dict.fromkeys(self.secrets, 0))
            for name, count in counts.items():
                mine[name] = mine.get(name, 0) + count
        for place, size in other["sizes"].items():
            self.sizes[place] = self.sizes.get(place, 0) + size
        self.hits.extend(other["hits"])

    def total(self) -> int:
        return sum(count for counts in self.counts.values() for count in counts.values())

    def report(self) -> str:
        names = list(self.secrets)
        lines = ["hits per place (columns: " + " | ".join(names) + ")"]
        for place, counts in self.counts.items():
            cells = " ".join(f"{counts.get(name, 0):>3}" for name in names)
            lines.append(f"  {place:<58} {self.sizes.get(place, 0):>11,} bytes  {cells}")
        lines += [f"  LEAK {hit}" for hit in self.hits]
        return "\n".join(lines)


def assert_nothing_leaked(scan: LeakScan) -> None:
    print(scan.report())
    assert scan.total() == 0, scan.report()


# ---------------------------------------------------------------- the outside systems


class WebhookReceiver:
    """A chat service's incoming webhook on 127.0.0.1: keeps every POST; the first ``fail_first`` answer 500."""

    def __init__(self, fail_first: int = 1):
        self.fail_first = fail_first
        self.posts: list[tuple[str, dict, bytes]] = []
        self._lock = threading.Lock()

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.posts.append((self.path, dict(self.headers), body))
                    failing = len(receiver.posts) <= receiver.fail_first
                # A careless service names the address it could not serve: the portal must not keep it.
                answer = f"no hook at {self.path}".encode() if failing else b"ok"
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [body for _path, _headers, body in self.posts]


@dataclass
class OutsideSystems:
    """Real local servers that accept exactly the scenario's secrets, and a port where nothing listens."""

    secrets: dict[str, Secret]
    stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> OutsideSystems:
        from .servers.nav_soap import NavSoapServer
        from .servers.rest_api import FakeRestApi

        s = self.secrets
        basic, wsse = s["SOAP basic password"], s["WS-Security password"]
        self.nav_basic = self.stack.enter_context(
            NavSoapServer(records=CUSTOMERS, basic_auth=(basic.user, basic.value))
        )
        self.nav_wsse = self.stack.enter_context(NavSoapServer(records=CUSTOMERS, wsse_auth=(wsse.user, wsse.value)))
        rest_basic, oauth = s["REST basic password"], s["OAuth2 client secret"]
        self.crm_api_key = self.stack.enter_context(FakeRestApi(auth="api_key", api_key=s["REST API key"].value))
        self.crm_bearer = self.stack.enter_context(FakeRestApi(auth="bearer", token=s["REST bearer token"].value))
        self.erp_rest = self.stack.enter_context(
            FakeRestApi(auth="basic", username=rest_basic.user, password=rest_basic.value)
        )
        self.erp_rest.add_contacts(8)
        self.crm_oauth = self.stack.enter_context(
            FakeRestApi(auth="oauth2", client_id=oauth.user, client_secret=oauth.value)
        )
        self.webhook = self.stack.enter_context(WebhookReceiver(fail_first=1))
        return self

    def __exit__(self, *exc_info):
        self.stack.close()

    def endpoints(self) -> dict[str, str]:
        return {
            "nav_basic": self.nav_basic.wsdl_url,
            "nav_wsse": self.nav_wsse.wsdl_url,
            "crm_api_key": self.crm_api_key.url,
            "crm_bearer": self.crm_bearer.url,
            "erp_rest": self.erp_rest.url,
            "crm_oauth": self.crm_oauth.url,
            "unreachable": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "webhook": self.webhook.url,
        }

    def refuse_the_stored_credentials(self) -> None:
        """Every server now expects other credentials (rotated on their side, not in the portal)."""
        self.nav_basic.basic_auth = (self.nav_basic.basic_auth[0], "rotated-elsewhere")
        self.nav_wsse.wsse_auth = (self.nav_wsse.wsse_auth[0], "rotated-elsewhere")
        self.crm_api_key.api_key = "rotated-elsewhere"
        self.crm_bearer.token = "rotated-elsewhere"
        self.erp_rest.password = "rotated-elsewhere"
        self.crm_oauth.client_secret = "rotated-elsewhere"
        self.crm_oauth.revoke_tokens()

    def issued_tokens(self) -> list[Secret]:
        """The OAuth2 access tokens the CRM handed out: secrets too."""
        return [Secret(f"OAuth2 access token {n}", token) for n, token in enumerate(self.crm_oauth.all_tokens, 1)]


# ---------------------------------------------------------------- the scenario (runs inside a portal process too)


def build_scenario(secret_params: dict, endpoints: dict, it_password: str = "") -> dict:
    """Connections holding every kind of secret and integrations between them; returns their primary keys."""
    from django.contrib.auth.models import Group, User

    from accounts.roles import IT
    from sync.choices import AuthKind, ConnectionKind, IntegrationType, Pagination, ScheduleKind
    from sync.models import Connection, FieldMapping, Integration, SyncTable

    secrets = secrets_from_params(secret_params)
    limits = {"timeout_seconds": 5, "max_retries": 1}

    def nav(name, url, auth, secret):
        return Connection.objects.create(
            name=name,
            kind=ConnectionKind.SOAP,
            wsdl_url=url,
            auth_kind=auth,
            username=secret.user,
            password=secret.value,
            pagination=Pagination.BOOKMARK,
            page_size=10,
            records_path="ReadMultiple_Result.Customer",
            **limits,
        )

    def rest(name, url, auth, **credentials):
        return Connection.objects.create(
            name=name,
            kind=ConnectionKind.REST,
            base_url=url,
            auth_kind=auth,
            pagination=Pagination.ODATA,
            page_size=50,
            records_path="value",
            **credentials,
            **limits,
        )

    api_key = {"api_key_header": "User-Key", "api_key": secrets["REST API key"].value}
    bearer = {"token": secrets["REST bearer token"].value}
    basic = {"username": secrets["REST basic password"].user, "password": secrets["REST basic password"].value}
    oauth = {
        "oauth_token_url": f"{endpoints['crm_oauth']}/oauth/token",
        "client_id": secrets["OAuth2 client secret"].user,
        "client_secret": secrets["OAuth2 client secret"].value,
    }
    unreachable = endpoints["unreachable"]
    pairs = {
        "nav_basic": (
            nav("NAV basic", endpoints["nav_basic"], AuthKind.BASIC, secrets["SOAP basic password"]),
            rest("CRM API key", endpoints["crm_api_key"], AuthKind.API_KEY, **api_key),
        ),
        "nav_wsse": (
            nav("NAV WS-Security", endpoints["nav_wsse"], AuthKind.WSSE, secrets["WS-Security password"]),
            rest("CRM bearer", endpoints["crm_bearer"], AuthKind.BEARER, **bearer),
        ),
        "rest_oauth": (
            rest("ERP REST basic", endpoints["erp_rest"], AuthKind.BASIC, **basic),
            rest("CRM OAuth2", endpoints["crm_oauth"], AuthKind.OAUTH2, **oauth),
        ),
        "unreachable": (
            rest("Unreachable ERP", unreachable, AuthKind.API_KEY, **api_key),
            rest("Unreachable CRM", unreachable, AuthKind.OAUTH2, **{**oauth, "oauth_token_url": f"{unreachable}/t"}),
        ),
    }
    webhook = f"{endpoints['webhook']}/hooks/{secrets[WEBHOOK_TOKEN].value}"
    ids = {"integrations": {}, "tables": {}, "connections": []}
    for key, (erp, crm) in pairs.items():
        soap = erp.kind == ConnectionKind.SOAP
        integration = Integration.objects.create(
            name=INTEGRATIONS[key],
            integration_type=IntegrationType.SOAP if soap else IntegrationType.REST,
            erp_name="Dynamics NAV" if soap else "REST ERP",
            crm_name="CRM",
            erp_connection=erp,
            crm_connection=crm,
            schedule_kind=ScheduleKind.INTERVAL,
            schedule_interval_minutes=60,
            alert_emails="ops@example.com",
            alert_webhook_url=webhook,
        )
        source_key, target_key = ("No", "ErpNo") if soap else ("Id", "ErpId")
        table = SyncTable.objects.create(
            integration=integration,
            name="Customer",
            source_object="ReadMultiple" if soap else "/Contacts",
            target_object="/Contacts",
            update_object="/Contacts({id})",
            record_key=source_key,
        )
        FieldMapping.objects.create(table=table, position=1, source_path=source_key, target_field=target_key)
        FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name", transform="trim")
        ids["integrations"][key] = integration.pk
        ids["tables"][key] = table.pk
        ids["connections"] += [erp.pk, crm.pk]
    if it_password:
        user = User.objects.create_user(username="it-leaks", password=it_password, is_staff=True)
        user.groups.add(Group.objects.get(name=IT))
    return ids


def trigger_every_integration() -> dict[str, int]:
    """Run now, through django-q2 (inline in sync mode, queued for the workers otherwise); run ids by key."""
    from monitoring.choices import Trigger
    from sync.models import Integration
    from sync.tasks import trigger

    keys = {name: key for key, name in INTEGRATIONS.items()}
    return {keys[i.name]: trigger(i, Trigger.MANUAL).pk for i in Integration.objects.filter(name__in=keys)}


def evaluate_alerts_now_and_later() -> dict:
    """Open the alerts and notify; a few minutes later, deliver what failed the first time."""
    from django.utils import timezone

    from monitoring.alerts import evaluate_all
    from monitoring.models import Alert, AlertEvent

    now = timezone.now()
    evaluate_all(now)
    evaluate_all(now + timedelta(minutes=5))
    return {
        "alerts": Alert.objects.count(),
        "events": AlertEvent.objects.count(),
        "failed_deliveries": AlertEvent.objects.exclude(last_error="").count(),
    }


def scan_database(scan: LeakScan) -> None:
    """Every column of every row of every table; on SQLite also the raw bytes; django-q2's rows unpickled."""
    from django.db import connection

    if connection.vendor == "sqlite":
        scan.search("database: SQLite raw bytes (file + WAL)", sqlite_bytes(connection))
    for table, column, text in database_cells(connection):
        scan.search("database: every row, every column", text, where=f"{table}.{column}")
    scan_django_q(scan)


def sqlite_bytes(connection) -> bytes:
    """The database as stored: the file and its WAL after a checkpoint, or the in-memory image."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(FULL)")
    if connection.is_in_memory_db():
        return connection.connection.serialize()
    path = Path(connection.settings_dict["NAME"])
    return b"".join(part.read_bytes() for part in (path, path.with_name(f"{path.name}-wal")) if part.exists())


def database_cells(connection):
    """``(table, column, text)`` for every cell of every table, as the database renders it as text."""
    quote_name = connection.ops.quote_name
    cast = "CAST({} AS TEXT)" if connection.vendor == "postgresql" else "{}"
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [column.name for column in connection.introspection.get_table_description(cursor, table)]
            selected = ", ".join(cast.format(quote_name(column)) for column in columns)
            cursor.execute(f"SELECT {selected} FROM {quote_name(table)}")  # noqa: S608 (names from introspection)
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    yield table, column, str(value)


def scan_django_q(scan: LeakScan) -> None:
    """django-q2 pickles task arguments and results: unpickle them and search what they hold."""
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    for task in Task.objects.all():
        text = repr((task.func, task.name, task.group, task.args, task.kwargs, task.result))
        scan.search("django-q2 tasks (unpickled)", text, where=f"task {task.name}")
    for queued in OrmQ.objects.all():
        scan.search("django-q2 queue (unpickled)", repr(SignedPackage.loads(queued.payload)), where="ormq")
    broker = get_broker()
    if hasattr(broker.connection, "lrange"):  # the Redis broker: its list of packages
        for package in broker.connection.lrange(broker.list_key, 0, -1):
            scan.search("django-q2 queue (unpickled)", repr(SignedPackage.loads(package)), where="redis")
    for schedule in Schedule.objects.all():
        text = repr((schedule.name, schedule.func, schedule.args, schedule.kwargs))
        scan.search("django-q2 schedules", text, where=schedule.name)


def queued_packages() -> int:
    from django_q.brokers import get_broker

    return get_broker().queue_size()


# ---------------------------------------------------------------- what a user opens


def page_paths(ids: dict, run_ids, alert_ids, task_ids) -> list[str]:
    from django.urls import reverse

    paths = [reverse("admin:index"), reverse("admin:dashboard_data")]
    for pk in ids["integrations"].values():
        for name in ("integration", "integration_history", "integration_queue", "integration_deletes"):
            paths.append(reverse(f"admin:{name}", args=[pk]))
        paths.append(reverse("admin:sync_integration_change", args=[pk]))
    paths += [reverse("admin:sync_connection_change", args=[pk]) for pk in ids["connections"]]
    paths += [reverse("admin:run", args=[pk]) for pk in run_ids]
    paths += [reverse("admin:monitoring_alert_change", args=[pk]) for pk in alert_ids]
    for name in (
        "monitoring_requestlog",
        "monitoring_alert",
        "monitoring_syncrun",
        "django_q_success",
        "django_q_failure",
    ):
        paths.append(reverse(f"admin:{name}_changelist"))
    for model, pk in task_ids:
        paths.append(reverse(f"admin:django_q_{model}_change", args=[pk]))
    return paths


def history_form(table_ids, today=None) -> dict:
    """The last two days of ``table_ids``; ``today`` as the portal serving the form sees it (its own clock)."""
    from django.conf import settings
    from django.utils import timezone

    today = today or timezone.now().astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    return {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat(), "tables": list(table_ids)}


def workbook_parts(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as workbook:
        return {name: workbook.read(name) for name in workbook.namelist()}


def search_workbook(scan: LeakScan, content: bytes) -> None:
    parts = workbook_parts(content)
    assert any(name.startswith("xl/worksheets/") for name in parts)
    for name, data in parts.items():
        scan.search("history workbook (every XML part)", data, where=name)


# ---------------------------------------------------------------- logs at DEBUG, in this process


@contextmanager
def every_logger_at_debug():
    """Send every logger's records, at DEBUG, to one buffer (the SQL log included); restore afterwards."""
    from django.db import connection

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    named = set(logging.root.manager.loggerDict) | {
        "zeep",
        "zeep.transports",
        "urllib3",
        "requests",
        "django",
        "django.db.backends",
        "django-q",
        "sync",
        "monitoring",
    }
    loggers = [root, *(logging.getLogger(name) for name in sorted(named))]
    saved = [(logger, logger.level, logger.disabled, logger.handlers[:]) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        # Only the buffer receives records: the root, and every logger that does not pass them on.
        logger.handlers = [handler] if logger is root or not logger.propagate else []
    was_debug_cursor, connection.force_debug_cursor = connection.force_debug_cursor, True
    try:
        yield buffer
    finally:
        connection.force_debug_cursor = was_debug_cursor
        for logger, level, disabled, handlers in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.handlers = handlers


# ---------------------------------------------------------------- in this process (SQLite or PostgreSQL)


@pytest.fixture
def secrets():
    return make_secrets()


@pytest.fixture
def outside(secrets):
    from sync.connectors import soap

    soap.clear_caches()
    with OutsideSystems(secrets) as systems:
        yield systems
    soap.clear_caches()


@pytest.mark.django_db(transaction=True)
def test_no_secret_leaks_from_syncs_alerts_pages_or_exports(secrets, outside, settings, client, django_user_model):
    from django.contrib.auth.models import Group
    from django.core import mail
    from django.urls import reverse
    from django_q.models import Schedule, Task

    from accounts.roles import IT
    from monitoring.choices import RunStatus
    from monitoring.models import Alert, RequestLog, SyncRun

    settings.ALERT_CONSECUTIVE_FAILURES = 1
    assert settings.Q_CLUSTER.get("sync"), "these tasks run inline through django-q2's sync mode"
    it = django_user_model.objects.create_user(username="it", password="pw", is_staff=True)
    it.groups.add(Group.objects.get(name=IT))
    client.force_login(it)
    pages, workbooks = [], []

    with every_logger_at_debug() as log:
        ids = build_scenario(secrets_to_params(secrets), outside.endpoints())
        first = trigger_every_integration()
        statuses = dict(SyncRun.objects.filter(pk__in=first.values()).values_list("pk", "status"))
        assert [statuses[first[key]] for key in ("nav_basic", "nav_wsse", "rest_oauth")] == [RunStatus.SUCCEEDED] * 3
        assert statuses[first["unreachable"]] == RunStatus.FAILED
        assert len(outside.crm_api_key.records) == len(outside.crm_bearer.records) == len(CUSTOMERS)

        outside.refuse_the_stored_credentials()
        second = trigger_every_integration()
        failed = SyncRun.objects.filter(pk__in=second.values(), status=RunStatus.FAILED)
        assert failed.count() == len(INTEGRATIONS), list(SyncRun.objects.values_list("status", "error"))
        assert outside.crm_api_key.requests_to("/Contacts")  # the refused key reached the CRM, which echoed it

        notified = evaluate_alerts_now_and_later()
        assert notified["alerts"] >= len(INTEGRATIONS) and notified["failed_deliveries"] >= 1
        assert len(outside.webhook.posts) >= len(INTEGRATIONS) + 1 and mail.outbox
        # Sent to the stored address, decrypted: the token is in the path the chat service received.
        assert all(path == f"/hooks/{secrets[WEBHOOK_TOKEN].value}" for path, _h, _b in outside.webhook.posts)

        for pk in ids["connections"]:  # IT tests each connection: every one fails now, with a message
            response = client.post(reverse("admin:sync_connection_test", args=[pk]), follow=True)
            assert response.status_code == 200
            pages.append(response.content)
        tasks = [("success", pk) for pk in Task.objects.filter(success=True).values_list("pk", flat=True)[:3]]
        tasks += [("failure", pk) for pk in Task.objects.filter(success=False).values_list("pk", flat=True)[:3]]
        alert_ids = Alert.objects.values_list("pk", flat=True)
        for path in page_paths(ids, [*first.values(), *second.values()], alert_ids, tasks):
            response = client.get(path)
            assert response.status_code == 200, path
            pages.append(response.content)
        for pk in ids["integrations"].values():
            table_ids = [ids["tables"][key] for key, value in ids["integrations"].items() if value == pk]
            response = client.post(reverse("admin:integration_history", args=[pk]), history_form(table_ids))
            assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxml")
            workbooks.append(b"".join(response.streaming_content))

    scan = LeakScan(secrets)
    for token in outside.issued_tokens():
        scan.add_secret(token)
    assert len(scan.secrets) > len(secrets), "the OAuth2 CRM issued no token"
    scan.search("log: every logger at DEBUG, SQL included", log.getvalue())
    for message in mail.outbox:
        scan.search("alert emails", f"{message.subject}\n{message.body}\n{message.to}")
    for body in outside.webhook.bodies():
        scan.search("alert webhook posts", body)
    for page in pages:
        scan.search("pages IT opens (and test connection's answers)", page)
    for content in workbooks:
        search_workbook(scan, content)
    scan_database(scan)

    # Each place held what it should, so that finding nothing there means something.
    assert Task.objects.count() >= 2 * len(INTEGRATIONS)
    assert Schedule.objects.filter(name__startswith="integration:").count() == len(INTEGRATIONS)
    assert RequestLog.objects.filter(status_code=401).exists()
    assert all(word in log.getvalue() for word in ("zeep", "urllib3", "SELECT"))
    assert all(scan.sizes[place] > 0 for place in scan.counts)
    assert_nothing_leaked(scan)


# ---------------------------------------------------------------- with real processes: web server and workers


class ShellRun:
    """``manage.py shell -c`` in the portal, keeping its output (it is searched too)."""

    MARK = "LEAK-SCAN-RESULT:"

    def __init__(self, portal):
        self.portal = portal
        self.outputs: list[str] = []

    def __call__(self, code: str, **params):
        prologue = (
            "import json\n"
            f"PARAMS = json.loads({json.dumps(params)!r})\n"
            f"def result(value):\n    print({self.MARK!r} + json.dumps(value, default=str))\n"
            "from tests.test_secret_leaks import *\n"
        )
        completed = self.portal.manage("shell", "--no-imports", "-c", prologue + code, timeout=180)
        self.outputs.append(completed.stdout + completed.stderr)
        lines = [line for line in completed.stdout.splitlines() if line.startswith(self.MARK)]
        return json.loads(lines[-1][len(self.MARK) :]) if lines else None


class PortalBrowser:
    """IT in a browser: signs in, opens pages, posts forms with the CSRF token."""

    def __init__(self, origin: str):
        self.origin = origin
        self.session = requests.Session()

    def sign_in(self, username: str, password: str) -> None:
        self.session.get(f"{self.origin}/login/", timeout=10)
        answer = self.post("/login/", {"username": username, "password": password}, allow_redirects=False)
        assert answer.status_code == 302, answer.text[:1000]

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.origin}{path}", timeout=30)

    def post(self, path: str, data: dict, **options) -> requests.Response:
        data = {**data, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]}
        return self.session.post(f"{self.origin}{path}", data=data, timeout=60, **options)


def wait_for_runs(portal, count: int) -> None:
    def finished():
        done = portal.value("SELECT COUNT(*) FROM monitoring_syncrun WHERE status NOT IN ('queued', 'running')")
        return done >= count

    wait_until(finished, timeout=120, interval=0.2, message=f"{count} runs to finish")


@pytest.mark.slow
def test_no_secret_leaks_from_the_web_server_and_the_workers(tmp_path, secrets, outside):
    from django.urls import reverse

    from .cluster_harness import Portal

    it_password = token_hex(12)
    scan = LeakScan(secrets)
    with Portal(tmp_path, LOG_LEVEL="DEBUG", ALERT_CONSECUTIVE_FAILURES="1") as portal:
        portal.data.mkdir(parents=True, exist_ok=True)
        portal.manage("migrate", "--no-input", "-v0")
        shell = ShellRun(portal)
        ids = shell(
            "result(build_scenario(PARAMS['secrets'], PARAMS['endpoints'], PARAMS['password']))",
            secrets=secrets_to_params(secrets),
            endpoints=outside.endpoints(),
            password=it_password,
        )

        # Queued, not yet taken by a worker: the broker's packages hold primary keys only.
        shell("result(trigger_every_integration())")
        queued = shell(
            "scan = LeakScan(secrets_from_params(PARAMS['secrets'])); scan_django_q(scan)\n"
            "result({'queued': queued_packages(), 'scan': scan.as_params()})",
            secrets=secrets_to_params(secrets),
        )
        assert queued["queued"] == len(INTEGRATIONS)
        scan.merge(queued["scan"])

        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        web = portal.start("web", "runserver", f"127.0.0.1:{port}", "--noreload")
        portal.start_cluster("workers")
        wait_for_runs(portal, len(INTEGRATIONS))
        wait_until(
            lambda: web.poll() is None and requests.get(f"{origin}/login/", timeout=2).status_code == 200,
            timeout=60,
            message="the portal to answer",
        )
        outside.refuse_the_stored_credentials()
        shell("result(trigger_every_integration())")
        wait_for_runs(portal, 2 * len(INTEGRATIONS))
        failed = portal.value("SELECT COUNT(*) FROM monitoring_syncrun WHERE status = 'failed'")
        assert failed == len(INTEGRATIONS) + 1  # the unreachable one twice, every other once
        notified = shell("result(evaluate_alerts_now_and_later())")
        assert notified["alerts"] >= len(INTEGRATIONS) and outside.webhook.posts
        assert all(path == f"/hooks/{secrets[WEBHOOK_TOKEN].value}" for path, _h, _b in outside.webhook.posts)
        for token in outside.issued_tokens():
            scan.add_secret(token)
        every_secret = secrets_to_params(scan.secrets)

        browser = PortalBrowser(origin)
        browser.sign_in("it-leaks", it_password)
        pages = [browser.post(reverse("admin:sync_connection_test", args=[pk]), {}) for pk in ids["connections"]]
        run_ids = [row[0] for row in portal.sql("SELECT id FROM monitoring_syncrun")]
        alert_ids = [row[0] for row in portal.sql("SELECT id FROM monitoring_alert")]
        tasks = [("success", row[0]) for row in portal.sql("SELECT id FROM django_q_task WHERE success")][:3]
        assert tasks, "the workers recorded no task"
        for path in page_paths(ids, run_ids, alert_ids, tasks):
            pages.append(browser.get(path))
        assert all(page.status_code == 200 for page in pages), [(p.url, p.status_code) for p in pages]
        for page in pages:
            scan.search("pages IT opens (and test connection's answers)", page.content)
        portal_today = date.fromisoformat(shell("from django.utils import timezone\nresult(str(timezone.localdate()))"))
        for key, pk in ids["integrations"].items():
            path = reverse("admin:integration_history", args=[pk])
            workbook = browser.post(path, history_form([ids["tables"][key]], portal_today))
            assert workbook.headers["Content-Type"].startswith("application/vnd.openxml"), workbook.text[:500]
            search_workbook(scan, workbook.content)

        scan.merge(
            shell(
                "scan = LeakScan(secrets_from_params(PARAMS['secrets'])); scan_database(scan)\n"
                "result(scan.as_params())",
                secrets=every_secret,
            )
        )
        portal.stop_all()
        logs = {name: portal.log(name) for name in ("web", "workers")}

    assert "run_queued" in logs["workers"]
    for name, text in logs.items():
        scan.search(f"log of the {name} process (LOG_LEVEL=DEBUG)", text)
    for output in shell.outputs:
        scan.search("output of manage.py commands (emails to the console)", output)
    for body in outside.webhook.bodies():
        scan.search("alert webhook posts", body)
    assert all(scan.sizes[place] > 0 for place in scan.counts)
    assert_nothing_leaked(scan)
