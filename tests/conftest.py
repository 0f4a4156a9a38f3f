import pytest
from django.contrib.auth.models import Group
from django.utils import translation

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from sync.choices import AuthKind, ConnectionKind, IntegrationType, ScheduleKind
from sync.models import Connection, FieldMapping, Integration, SyncTable

from . import webhook_shop
from .builders import two_rest_apis

CRM_API_KEY = "crm-key-3f9a1c7e5b"
ERP_PASSWORD = "erp-pass-8d2e4a6c0f"


@pytest.fixture
def crm_connection(db):
    return Connection.objects.create(
        name="Ploomes",
        kind=ConnectionKind.REST,
        base_url="https://api2.ploomes.example",
        auth_kind=AuthKind.API_KEY,
        api_key_header="User-Key",
        api_key=CRM_API_KEY,
        pagination="odata",
        records_path="value",
    )


@pytest.fixture
def erp_connection(db):
    return Connection.objects.create(
        name="Sankhya",
        kind=ConnectionKind.SOAP,
        wsdl_url="https://erp.example/ws?wsdl",
        auth_kind=AuthKind.BASIC,
        username="integration",
        password=ERP_PASSWORD,
    )


@pytest.fixture
def integration(erp_connection, crm_connection):
    integration = Integration.objects.create(
        name="Sankhya ↔ Ploomes",
        integration_type=IntegrationType.SOAP,
        erp_name="Sankhya",
        erp_version="4.2",
        crm_name="Ploomes",
        erp_connection=erp_connection,
        crm_connection=crm_connection,
        schedule_kind=ScheduleKind.DAILY,
        schedule_daily_time="00:00",
    )
    table = SyncTable.objects.create(
        integration=integration,
        name="Company",
        source_object="ListCustomers",
        target_object="/Contacts",
        record_key="CNPJ",
    )
    FieldMapping.objects.create(table=table, position=1, source_path="CNPJ", target_field="CNPJ", transform="cnpj")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="Name", transform="trim")
    return integration


@pytest.fixture
def shop_apis():
    """A source and a target REST server (tests/webhook_shop.py)."""
    with two_rest_apis(webhook_shop.API_KEY) as (source, target):
        yield source, target


@pytest.fixture
def shop(shop_apis):
    """Companies and contacts, source → target, taking the source's webhooks (tests/webhook_shop.py)."""
    return webhook_shop.build_shop(*shop_apis)


@pytest.fixture
def login_as(client, django_user_model):
    """Log the test client in as a staff user holding one role."""

    def login(role):
        user = django_user_model.objects.create_user(username=role.lower(), password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


ROLES = (SUPERVISOR, IT, ONBOARDING)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite the tests use a database file, as the portal does: each thread has its own connection.

    Django's in-memory test database is one connection that the live server's request threads share
    with the test's thread, so concurrent requests interleave their transactions (one demo system's
    insert rolled back with another request's savepoint), which no deployment ever does.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "portal-test.sqlite3")


def pytest_report_header(config):
    from django.conf import settings

    broker = "Redis" if settings.REDIS_URL else "ORM"
    return f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, task broker: {broker}"


@pytest.fixture(autouse=True)
def portal_language_after_each_test():
    """A request as a pt-BR user leaves its language active in the thread: every test starts in English."""
    yield
    translation.deactivate()


def pytest_addoption(parser):
    parser.addoption(
        "--clock-ahead-days",
        type=int,
        default=0,
        help="Run the suite with the clock moved this many days ahead (finds tests that depend on today's date).",
    )


def pytest_configure(config):
    days = config.getoption("--clock-ahead-days")
    if days:
        from datetime import timedelta

        import time_machine
        from django.utils import timezone as django_timezone

        config._clock_ahead = time_machine.travel(django_timezone.now() + timedelta(days=days), tick=True)
        config._clock_ahead.start()


def pytest_unconfigure(config):
    traveller = getattr(config, "_clock_ahead", None)
    if traveller is not None:
        traveller.stop()
