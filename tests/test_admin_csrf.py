"""Every state-changing endpoint needs a CSRF token and its permission; a GET changes nothing.

The endpoints come from the URL resolver. The standard views of each registered admin (list,
add, change, delete, history) are checked for every model the admin registers; every other
endpoint (the monitoring screens, custom admin views, the language switch, the demo systems)
must be listed in :data:`CUSTOM_CASES` or :data:`READ_ONLY` — a new endpoint without a case
fails :func:`test_every_endpoint_of_the_resolver_has_a_case`.

For each POST case, with a database snapshot (every row of every table but the sessions)
taken before and after the request:

- without a CSRF token (``enforce_csrf_checks``), the user who may do it gets 403 and nothing changes;
- with the token, a signed-in user without the permission (the Supervisor role, read-only) is
  refused and nothing changes;
- with the token, the user who may do it does change something (or gets what the case says),
  which shows that the request would have worked: the refusals above are the checks' doing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import lxml.html
import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import OrmQ, Task

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from demo import seed
from monitoring.choices import AlertKind, RunStatus, Trigger, WebhookEventStatus
from monitoring.models import Alert, ExportJob, ExportStatus, HeldDelete, RecordError, SyncRun, WebhookEvent
from sync.choices import AuthKind, ConnectionKind, IntegrationType, ScheduleKind, WebhookScheme
from sync.models import Connection, FieldMapping, Integration, SyncTable, WebhookReceiver

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"
ANONYMOUS = "anonymous"
CSRF_SECRET = "a" * 16 + "B" * 16  # a well-formed CSRF secret (32 characters), set as the cookie and sent back
CSRF_REFUSED = "CSRF verification failed"
# Signing in and out changes sessions and django-axes' log of them, nothing else.
NOT_SNAPSHOTTED = {"django_session", "axes_accesslog"}


# ---------------------------------------------------------------- the world the requests act on


@dataclass
class World:
    users: dict[str, User]
    connection: Connection
    spare_connection: Connection
    integration: Integration
    table: SyncTable
    run: SyncRun
    error: RecordError
    held: HeldDelete
    alert: Alert
    export: ExportJob
    spare_user: User
    spare_group: Group

    def pk(self, model) -> int:
        """The object whose change, delete and history pages a case opens."""
        special = {
            Connection: self.spare_connection,
            User: self.spare_user,
            Group: self.spare_group,
            RecordError: self.error,
            HeldDelete: self.held,
            Alert: self.alert,
        }
        if model in special:
            return special[model].pk
        return model._default_manager.order_by("-pk").values_list("pk", flat=True).first()


def unreachable() -> str:
    from .processes import free_port

    return f"http://127.0.0.1:{free_port()}"


# A preset for "New integration from a preset": no secrets, its systems unreachable (importing calls neither).
PRESET = """\
version: 1
name: Preset
integration_type: rest
erp_name: E
crm_name: C
connections:
  erp: {name: Preset ERP, kind: rest, base_url: 'https://erp.example'}
  crm: {name: Preset CRM, kind: rest, base_url: 'https://crm.example'}
tables:
  - {name: Contact, source_object: /People, target_object: /Contacts, record_key: Id,
     mappings: [{source_path: Id, target_field: ErpId}]}
"""


@pytest.fixture
def world(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.PRESETS_DIR = tmp_path / "presets"
    settings.PRESETS_DIR.mkdir()
    (settings.PRESETS_DIR / "csrf-preset.yaml").write_text(PRESET, encoding="utf-8")
    (tmp_path / "docs" / "presets").mkdir(parents=True)
    (tmp_path / "docs" / "presets" / "csrf-preset.md").write_text("# Preset\n", encoding="utf-8")
    now = timezone.now()
    users = {SUPERUSER: User.objects.create_superuser("root", "root@example.com", "pw")}
    for role in (IT, SUPERVISOR, ONBOARDING):
        users[role] = User.objects.create_user(username=role.lower(), password="pw", is_staff=True)
        users[role].groups.add(Group.objects.get(name=role))
    limits = {"timeout_seconds": 1, "max_retries": 0}
    erp = Connection.objects.create(name="ERP", kind=ConnectionKind.REST, base_url=unreachable(), **limits)
    crm = Connection.objects.create(name="CRM", kind=ConnectionKind.REST, base_url=unreachable(), **limits)
    spare = Connection.objects.create(
        name="Spare", kind=ConnectionKind.REST, base_url=unreachable(), auth_kind=AuthKind.NONE, **limits
    )
    integration = Integration.objects.create(
        name="ERP ↔ CRM",
        integration_type=IntegrationType.REST,
        erp_name="ERP",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=crm,
        schedule_kind=ScheduleKind.INTERVAL,
        schedule_interval_minutes=60,
    )
    table = SyncTable.objects.create(
        integration=integration,
        name="Company",
        source_object="/Companies",
        target_object="/Contacts",
        record_key="Id",
        cursor_value="2026-11-20T10:00:00Z",  # it has run before: "read again from the beginning" has work to do
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Id", target_field="ErpId")
    run = SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.MANUAL,
        status=RunStatus.FAILED,
        queued_at=now - timedelta(minutes=2),
        started_at=now - timedelta(minutes=2),
        finished_at=now - timedelta(minutes=1),
        error="The CRM did not answer.",
    )
    error = RecordError.objects.create(table=table, run=run, record_key="42", payload={"Id": 42}, reason="refused")
    held = HeldDelete.objects.create(table=table, run=run, source_key="7", target_key="70")
    alert = Alert.objects.create(integration=integration, kind=AlertKind.CONSECUTIVE_FAILURES, message="3 failed")
    # The webhook inbox holds one delivery (its pages are read-only for everyone).
    receiver = WebhookReceiver.objects.create(connection=crm, scheme=WebhookScheme.BLING, secret="bling-secret")
    event, _replayed = WebhookEvent.accept(
        receiver, delivery_id="d-1", event_type="order.created", headers={}, body=b"{}", sent_at=None, now=now
    )
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEventStatus.FAILED)  # IT may process it again
    # Created after it, so that the generic cases change and delete this one (its inbox protects the other).
    WebhookReceiver.objects.create(connection=erp, scheme=WebhookScheme.BLING, secret="another-secret")
    exports_dir = tmp_path / "exports"
    exports_dir.mkdir()
    (exports_dir / "history-1.xlsx").write_bytes(b"PK workbook")
    export = ExportJob.objects.create(
        integration=integration,
        requested_by=users[IT],
        table_ids=[table.pk],
        start_date=now.date(),
        end_date=now.date(),
        status=ExportStatus.DONE,
        file_name="history-1.xlsx",
        finished_at=now,
    )
    seed.populate(seed.SeedSizes(2, 2, 2, 1, 1, 1, 1, 1), now)
    Task.objects.create(id="a" * 32, name="ok", func="time.time", started=now, stopped=now, success=True)
    Task.objects.create(id="b" * 32, name="failed", func="time.time", started=now, stopped=now, success=False)
    OrmQ.objects.create(key="integration-portal", payload="queued", lock=now)
    # Created last, so that the generic cases change and delete these (history and links protect the others).
    spare_integration = Integration.objects.create(
        name="Spare",
        integration_type=IntegrationType.REST,
        erp_name="E",
        crm_name="C",
        erp_connection=erp,
        crm_connection=crm,
    )
    spare_table = SyncTable.objects.create(
        integration=spare_integration,
        name="Spare",
        source_object="/S",
        target_object="/T",
        record_key="Id",
        cursor_value="2026-11-20T10:00:00Z",
    )
    FieldMapping.objects.create(table=spare_table, position=1, source_path="Id", target_field="ErpId")
    spare_user = User.objects.create_user(username="spare", password="pw")
    spare_group = Group.objects.create(name="Spare")
    TOTPDevice.objects.create(user=spare_user, name="authenticator", confirmed=True)
    # A lockout, and the failures that made it.
    AccessAttempt.objects.create(
        username="spare", ip_address="203.0.113.7", failures_since_start=10, user_agent="test", path_info="/login/"
    )
    AccessFailureLog.objects.create(username="spare", ip_address="203.0.113.7", user_agent="test", path_info="/login/")
    return World(
        users=users,
        connection=erp,
        spare_connection=spare,
        integration=integration,
        table=table,
        run=run,
        error=error,
        held=held,
        alert=alert,
        export=export,
        spare_user=spare_user,
        spare_group=spare_group,
    )


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table (but the sessions), as the database returns them."""
    quote = connection.ops.quote_name
    rows = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in NOT_SNAPSHOTTED:
                continue
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 (names from introspection)
            rows[table] = sorted(map(repr, cursor.fetchall()))
    return rows


def changed_tables(before, after) -> list[str]:
    return sorted(table for table in before if before[table] != after.get(table))


def client_for(world: World, who: str, *, csrf: bool) -> Client:
    client = Client(enforce_csrf_checks=True)
    if who != ANONYMOUS:
        client.force_login(world.users[who])
    if csrf:
        client.cookies["csrftoken"] = CSRF_SECRET
    return client


# ---------------------------------------------------------------- payloads a browser would send


def form_values(client: Client, path: str, form_id: str | None = None) -> dict:
    """The values of the page's POST form (as a browser submits it unchanged), without the CSRF token."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    document = lxml.html.fromstring(response.content)
    forms = [form for form in document.forms if (form.method or "").upper() == "POST"]
    if form_id:
        forms = [form for form in forms if form.get("id") == form_id]
    form = max(forms, key=lambda form: len(form.inputs))
    values: dict[str, list[str]] = {}
    for element in form.inputs:
        name = element.name
        if not name or name == "csrfmiddlewaretoken" or "disabled" in element.attrib:
            continue
        if element.tag == "select":
            chosen = list(element.value) if element.multiple else [element.value]
        elif element.tag == "textarea":
            chosen = [element.value or ""]
        elif element.type in ("submit", "image", "reset", "file", "button") or (
            element.checkable and not element.checked
        ):
            continue
        else:
            chosen = [element.value or ""]  # a browser sends an empty field as ""
        values.setdefault(name, []).extend(value for value in chosen if value is not None)
    return {name: items[0] if len(items) == 1 else items for name, items in values.items()}


def superuser_client(world: World) -> Client:
    client = Client()
    client.force_login(world.users[SUPERUSER])
    return client


# Fields an add form needs beyond its initial values, per model.
ADD_FORM_VALUES: dict[str, Callable[[World], dict]] = {
    "sync.connection": lambda w: {
        "name": "New",
        "kind": "rest",
        "base_url": "https://new.example",
        "auth_kind": "none",
    },
    "sync.integration": lambda w: {
        "name": "New integration",
        "integration_type": "rest",
        "erp_name": "ERP",
        "crm_name": "CRM",
        "erp_connection": str(w.connection.pk),
        "crm_connection": str(w.spare_connection.pk),
        "max_time_without_success": "24h",
    },
    "sync.synctable": lambda w: {
        "integration": str(w.integration.pk),
        "name": "Contact",
        "source_object": "/People",
        "target_object": "/Contacts",
        "record_key": "Id",
        "mappings-0-position": "1",
        "mappings-0-source_path": "Id",
        "mappings-0-target_field": "ErpId",
    },
    "sync.webhookreceiver": lambda w: {
        "connection": str(w.spare_connection.pk),
        "scheme": "shared_key",
        "secret": "a-shared-key",
        "signature_header": "X-Key",
    },
    "auth.user": lambda w: {"username": "newcomer", "password1": "A-long-pass-9921", "password2": "A-long-pass-9921"},
    "auth.group": lambda w: {"name": "New group"},
    "django_q.schedule": lambda w: {"name": "new", "func": "math.floor", "schedule_type": "O"},
}


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One POST to one endpoint: who may, who may not, and what the permitted request does."""

    key: str  # the endpoint, as :func:`resolver_endpoints` names it
    label: str
    path: Callable[[World], str]
    data: Callable[[World], dict] = lambda world: {}
    allowed: str = SUPERUSER  # who may (a role, the superuser, or anonymous)
    denied: str | None = SUPERVISOR  # a signed-in user without the permission; None: open to everyone signed in
    effect: str = "changes"  # what the permitted request does: "changes", "nothing" or "download"
    locked: bool = False  # nobody may, the superuser included
    denied_codes: tuple[int, ...] = (403,)

    @property
    def id(self) -> str:
        return f"{self.key} {self.label}".strip()


def _admin_url(name: str, *args):
    return lambda world: reverse(f"admin:{name}", args=[arg(world) if callable(arg) else arg for arg in args])


def standard_admin_cases() -> list[Case]:
    """List (actions), add, change and delete of every registered model, for whoever the admin lets in."""
    cases = []
    for model, model_admin in admin.site._registry.items():
        label, base = model._meta.label_lower, f"{model._meta.app_label}_{model._meta.model_name}"

        def pk(world, model=model):
            return world.pk(model)

        locked = {what: not may_static(model_admin, what) for what in ("add", "change", "delete")}
        cases += [
            Case(
                f"admin:{base}_add",
                "",
                _admin_url(f"{base}_add"),
                data=_nothing if locked["add"] else (lambda world, label=label: _add_data(world, label)),
                locked=locked["add"],
            ),
            Case(
                f"admin:{base}_change",
                "",
                _admin_url(f"{base}_change", pk),
                # The form as the superuser's browser would send it back; Django's admin saves (and logs) it.
                data=_nothing if locked["change"] else (lambda world, base=base, pk=pk: _change_data(world, base, pk)),
                locked=locked["change"],
            ),
            Case(
                f"admin:{base}_delete",
                "",
                _admin_url(f"{base}_delete", pk),
                data=lambda world: {"post": "yes"},
                locked=locked["delete"],
            ),
        ]
        cases += changelist_cases(model, model_admin, base, pk)
    return cases


def superuser_request_without_database():
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return request


def may_static(model_admin, what: str) -> bool:
    """Whether a superuser may ``what`` on this admin (the read-only admins refuse everyone)."""
    request = superuser_request_without_database()
    return {
        "add": model_admin.has_add_permission,
        "change": model_admin.has_change_permission,
        "delete": model_admin.has_delete_permission,
    }[what](request)


def _nothing(world: World) -> dict:
    return {}


def _change_data(world: World, base: str, pk) -> dict:
    return form_values(superuser_client(world), reverse(f"admin:{base}_change", args=[pk(world)]))


def _add_data(world: World, label: str) -> dict:
    base = label.replace(".", "_")
    values = form_values(superuser_client(world), reverse(f"admin:{base}_add"))
    values.update(ADD_FORM_VALUES.get(label, lambda w: {})(world))
    return values


# Who may run a list action, when it is not the superuser alone: (model label, action) → role.
ACTION_ROLES = {
    ("sync.integration", "run_now"): IT,
    ("monitoring.recorderror", "retry"): IT,
    ("monitoring.recorderror", "ignore"): IT,
    ("monitoring.webhookevent", "process_again"): IT,
    ("axes.accessattempt", "delete_selected"): IT,  # unlocking an account
}
NOT_OFFERED = (403, 302, 200)  # an action the user may not run is not offered: the list comes back, nothing happens


def changelist_cases(model, model_admin, base, pk) -> list[Case]:
    """One case per action the list offers (every one, so that a new action is checked too), or its editing."""
    label = model._meta.label_lower
    path = _admin_url(f"{base}_changelist")
    actions = list(model_admin.get_actions(superuser_request_without_database()))
    cases = [
        Case(
            f"admin:{base}_changelist",
            action,
            path,
            data=lambda world, action=action: {"action": action, "_selected_action": [pk(world)], "post": "yes"},
            allowed=ACTION_ROLES.get((label, action), SUPERUSER),
            denied_codes=NOT_OFFERED,
        )
        for action in actions
    ]
    if model_admin.list_editable:
        cases.append(
            Case(
                f"admin:{base}_changelist",
                "list_editable",
                path,
                data=lambda world: _edited_list(world, base, model_admin.list_editable),
            )
        )
    if not cases:
        cases.append(
            Case(
                f"admin:{base}_changelist",
                "no action",
                path,
                data=lambda world: {"action": "delete_selected", "_selected_action": [pk(world)], "post": "yes"},
                effect="nothing",
                denied_codes=NOT_OFFERED,
            )
        )
    return cases


def _edited_list(world: World, base: str, editable) -> dict:
    values = form_values(superuser_client(world), reverse(f"admin:{base}_changelist"), form_id="changelist-form")
    numeric = next(name for name in values if name.startswith("form-0-") and name.endswith(editable[-1]))
    values[numeric] = str(int(values[numeric] or 0) + 1)
    return {**values, "_save": "Save"}


CUSTOM_CASES = [
    Case(
        "admin:sync_connection_test",
        "",
        _admin_url("sync_connection_test", lambda w: w.connection.pk),
        allowed=IT,
        effect="nothing",  # it reaches the system and says what happened; it stores nothing
    ),
    Case(
        "admin:sync_connection_authorize",
        "",
        _admin_url("sync_connection_authorize", lambda w: w.connection.pk),
        allowed=IT,
        effect="nothing",  # it sends the browser to the provider; only the session keeps the state
    ),
    Case(
        "admin:sync_webhookreceiver_register",
        "",
        _admin_url("sync_webhookreceiver_register", lambda w: w.pk(WebhookReceiver)),
        allowed=IT,
        effect="nothing",  # a Bling receiver: the portal cannot register it, and says why
    ),
    Case(
        "admin:sync_webhookreceiver_unregister",
        "",
        _admin_url("sync_webhookreceiver_unregister", lambda w: w.pk(WebhookReceiver)),
        allowed=IT,
        effect="nothing",
    ),
    Case("admin:sync_integration_run", "", _admin_url("sync_integration_run", lambda w: w.integration.pk), allowed=IT),
    Case(
        "admin:sync_synctable_sample",
        "",
        _admin_url("sync_synctable_sample", lambda w: w.table.pk),
        allowed=IT,
        effect="nothing",  # it reads the source and shows what it read; only the session keeps the paths
    ),
    Case(
        "admin:sync_synctable_preview",
        "",
        _admin_url("sync_synctable_preview", lambda w: w.table.pk),
        allowed=IT,
        effect="nothing",  # it maps what it read and shows it; nothing is written, nothing sent to the target
    ),
    Case(
        "admin:connection_doctor",
        "",
        _admin_url("connection_doctor", lambda w: w.connection.pk),
        allowed=IT,
        effect="nothing",  # it reads from the system and says what it found; it stores nothing
    ),
    Case(
        "admin:integration_dry_run",
        "",
        _admin_url("integration_dry_run", lambda w: w.integration.pk),
        data=lambda w: {"limit": "5"},
        allowed=IT,
        effect="nothing",  # it reads and says what a run would write; nothing is written
    ),
    Case(
        "admin:monitoring_alert_acknowledge",
        "",
        _admin_url("monitoring_alert_acknowledge", lambda w: w.alert.pk),
        data=lambda w: {"note": "looking"},
        allowed=IT,
    ),
    Case(
        "admin:dashboard_acknowledge",
        "",
        _admin_url("dashboard_acknowledge", lambda w: w.integration.pk),
        data=lambda w: {"note": "looking"},
        allowed=IT,
    ),
    Case(
        "admin:integration",
        "max time",
        _admin_url("integration", lambda w: w.integration.pk),
        data=lambda w: {"action": "max_time", "max_time_without_success": "36h"},
        allowed=IT,
    ),
    Case(
        "admin:integration",
        "deployment status",
        _admin_url("integration", lambda w: w.integration.pk),
        data=lambda w: {"action": "deployment_status", "deployment_status": "completed"},
        allowed=ONBOARDING,
    ),
    Case(
        "admin:integration_history",
        "download",
        _admin_url("integration_history", lambda w: w.integration.pk),
        data=lambda w: {
            "start": timezone.localdate().isoformat(),
            "end": timezone.localdate().isoformat(),
            "tables": [w.table.pk],
        },
        allowed=ONBOARDING,
        effect="download",
    ),
    Case(
        "admin:integration_deletes",
        "reject",
        _admin_url("integration_deletes", lambda w: w.integration.pk),
        data=lambda w: {"action": "reject", "selected": [w.held.pk]},
        allowed=IT,
    ),
    Case(
        "admin:integration_deletes",
        "approve",
        _admin_url("integration_deletes", lambda w: w.integration.pk),
        data=lambda w: {"action": "approve", "selected": [w.held.pk]},
        allowed=IT,  # the target cannot be reached here: the delete stays held and the failed call is logged
    ),
    Case(
        "admin:integration_queue",
        "ignore",
        _admin_url("integration_queue", lambda w: w.integration.pk),
        data=lambda w: {"action": "ignore", "selected": [w.error.pk]},
        allowed=IT,
    ),
    Case(
        "admin:integration_queue",
        "retry",
        _admin_url("integration_queue", lambda w: w.integration.pk),
        data=lambda w: {"action": "retry", "selected": [w.error.pk]},
        allowed=IT,
    ),
    Case(
        "admin:sync_integration_from_preset",
        "",
        _admin_url("sync_integration_from_preset", "csrf-preset"),
        data=lambda w: {
            "name": "From a preset",
            "erp_name": "Preset ERP",
            "erp_base_url": unreachable(),
            "crm_name": "Preset CRM",
            "crm_base_url": unreachable(),
        },
        allowed=IT,
    ),
    Case("set_language", "", lambda w: reverse("set_language"), data=lambda w: {"language": "pt-br"}, denied=None),
    # Two-factor logins are off here: the set-up page sends everyone on to the dashboard (tests/test_two_factor.py).
    Case(
        "two_factor_setup",
        "",
        lambda w: reverse("two_factor_setup"),
        data=lambda w: {"otp_token": "000000"},
        allowed=IT,
        denied=None,
        effect="nothing",
    ),
    Case(
        "admin:login",
        "",
        _admin_url("login"),
        data=lambda w: {"username": "it", "password": "pw"},
        allowed=ANONYMOUS,
        denied=None,
    ),
    Case("admin:logout", "", _admin_url("logout"), allowed=IT, denied=None, effect="nothing"),
    Case(
        "admin:password_change",
        "",
        _admin_url("password_change"),
        data=lambda w: {"old_password": "pw", "new_password1": "N3w-long-pass-77", "new_password2": "N3w-long-pass-77"},
        allowed=IT,
        denied=None,
    ),
    Case(
        "admin:auth_user_password_change",
        "",
        _admin_url("auth_user_password_change", lambda w: w.spare_user.pk),
        data=lambda w: {"password1": "N3w-long-pass-77", "password2": "N3w-long-pass-77", "usable_password": "true"},
    ),
]

# Endpoints a POST must not change anything through (views that answer GET only, or pages).
READ_ONLY = {
    "admin:index": lambda w: reverse("admin:index"),
    "admin:app_list": lambda w: reverse("admin:app_list", args=["sync"]),
    "admin:jsi18n": lambda w: reverse("admin:jsi18n"),
    "admin:autocomplete": lambda w: reverse("admin:autocomplete"),
    "admin:view_on_site": lambda w: reverse("admin:view_on_site", args=[1, 1]),
    "admin:password_change_done": lambda w: reverse("admin:password_change_done"),
    "admin:dashboard_data": lambda w: reverse("admin:dashboard_data"),
    "admin:dashboard_rows": lambda w: reverse("admin:dashboard_rows"),
    "admin:run": lambda w: reverse("admin:run", args=[w.run.pk]),
    # The provider's redirect back (GET, no CSRF token): it acts only for a state the session holds.
    "admin:sync_connection_oauth_callback": lambda w: reverse("admin:sync_connection_oauth_callback"),
    "admin:export": lambda w: reverse("admin:export", args=[w.export.pk]),
    "admin:export_download": lambda w: reverse("admin:export_download", args=[w.export.pk]),
    "admin:sync_integration_presets": lambda w: reverse("admin:sync_integration_presets"),
    "admin:sync_integration_preset_documentation": lambda w: reverse(
        "admin:sync_integration_preset_documentation", args=["csrf-preset"]
    ),
    "admin:(?P<url>.*)$": lambda w: "/no-such-page/",
}
# The demo ERP and CRM: outside systems' APIs, exempt from CSRF, each call authenticated by its credentials.
SANDBOX = {
    "sandbox:erp-soap": lambda w: reverse("sandbox:erp-soap"),
    "sandbox:crm-collection": lambda w: reverse("sandbox:crm-collection", args=["Contacts"]),
    "sandbox:crm-item": lambda w: reverse("sandbox:crm-item", args=["Contacts", 1]),
    "sandbox:crm-webhooks": lambda w: reverse("sandbox:crm-webhooks"),
    "sandbox:crm-webhook": lambda w: reverse("sandbox:crm-webhook", args=[1]),
    "sandbox:crm-webhook-actions": lambda w: reverse("sandbox:crm-webhook-actions"),
}


# Webhooks in: senders post without a session or a CSRF token; the address's token and the sender's signature are
# the proof (tests/test_webhooks_receive.py). A GET is refused (405) and changes nothing.
CSRF_EXEMPT = {"webhook_receive": lambda w: reverse("webhook_receive", args=["no-such-token"])}


def object_routes() -> dict[str, Callable]:
    """The admin's unnamed ``<app>/<model>/<id>/`` redirect to the change page, one per model: GET only."""
    routes = {}
    for model in admin.site._registry:
        route = f"admin:{model._meta.app_label}/{model._meta.model_name}/<path:object_id>/"
        routes[route] = lambda w, model=model: f"/{model._meta.app_label}/{model._meta.model_name}/{w.pk(model)}/"
    return routes


def history_routes() -> dict[str, Callable]:
    routes = {}
    for model in admin.site._registry:
        base = f"{model._meta.app_label}_{model._meta.model_name}"
        routes[f"admin:{base}_history"] = lambda w, base=base, model=model: reverse(
            f"admin:{base}_history", args=[w.pk(model)]
        )
    return routes


POST_CASES = standard_admin_cases() + CUSTOM_CASES
GET_ONLY = {**READ_ONLY, **CSRF_EXEMPT, **object_routes(), **history_routes()}


def resolver_endpoints() -> set[str]:
    """Every endpoint the portal serves: ``namespace:name``, or ``namespace:route`` when it has no name."""
    found = set()

    def walk(patterns, namespace, route):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = ":".join(part for part in (namespace, pattern.namespace) if part)
                walk(pattern.url_patterns, inner, route + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                name = pattern.name or f"{route}{pattern.pattern}"
                found.add(f"{namespace}:{name}" if namespace else name)

    walk(get_resolver().url_patterns, "", "")
    return found


# ---------------------------------------------------------------- the tests


def test_every_endpoint_of_the_resolver_has_a_case():
    known = {case.key for case in POST_CASES} | set(GET_ONLY) | set(SANDBOX)
    served = resolver_endpoints()
    assert served - known == set(), "endpoints without a CSRF and permission case: add them to this file"
    assert known - served == set(), "cases for endpoints that no longer exist"


@pytest.mark.parametrize("case", POST_CASES, ids=lambda case: case.id)
def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(world, case):
    client = client_for(world, case.allowed, csrf=False)
    data = case.data(world)
    before = snapshot()
    response = client.post(case.path(world), data)
    assert response.status_code == 403
    assert CSRF_REFUSED in response.content.decode()
    assert changed_tables(before, snapshot()) == []


# Known gaps: the action is offered to every role that may view the list.
@pytest.mark.parametrize("case", [c for c in POST_CASES if c.denied], ids=lambda case: case.id)
def test_a_user_without_the_permission_is_refused_and_changes_nothing(world, case):
    client = client_for(world, case.denied, csrf=True)
    data = {**case.data(world), "csrfmiddlewaretoken": CSRF_SECRET}
    before = snapshot()
    response = client.post(case.path(world), data)
    assert response.status_code in case.denied_codes, response.content[:500]
    assert changed_tables(before, snapshot()) == []


@pytest.mark.parametrize("case", POST_CASES, ids=lambda case: case.id)
def test_the_user_who_may_gets_it_done_with_the_token(world, case):
    client = client_for(world, case.allowed, csrf=True)
    data = {**case.data(world), "csrfmiddlewaretoken": CSRF_SECRET}
    before = snapshot()
    response = client.post(case.path(world), data)
    changed = changed_tables(before, snapshot())
    if case.locked:
        assert response.status_code == 403
        assert changed == []
    elif case.effect == "changes":
        assert response.status_code in (200, 302), response.content[:1000]
        assert changed, response.content[:2000]
    elif case.effect == "download":
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
        assert changed == []
    else:
        assert response.status_code in (200, 302), response.content[:1000]
        assert changed == []


@pytest.mark.parametrize("key", sorted(GET_ONLY), ids=str)
def test_a_get_changes_nothing(world, key):
    client = client_for(world, SUPERUSER, csrf=True)
    path = GET_ONLY[key](world)
    before = snapshot()
    response = client.get(path)
    assert response.status_code < 500
    assert changed_tables(before, snapshot()) == []
    post = client.post(path, {"csrfmiddlewaretoken": CSRF_SECRET})
    assert post.status_code < 500
    assert changed_tables(before, snapshot()) == []


@pytest.mark.parametrize("case", POST_CASES, ids=lambda case: case.id)
def test_opening_a_form_changes_nothing(world, case):
    client = client_for(world, SUPERUSER, csrf=True)
    before = snapshot()
    response = client.get(case.path(world))
    assert response.status_code < 500
    assert changed_tables(before, snapshot()) == []


@pytest.mark.parametrize("key", sorted(SANDBOX), ids=str)
def test_the_demo_systems_refuse_a_call_without_their_credentials(world, key):
    client = client_for(world, ANONYMOUS, csrf=False)
    before = snapshot()
    response = client.post(SANDBOX[key](world), b'{"Name": "x"}', content_type="application/json")
    assert response.status_code == 401
    assert changed_tables(before, snapshot()) == []
