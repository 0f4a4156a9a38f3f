"""Connection secrets and the alert webhook URL are encrypted at rest, never shown back; a wrong key fails loudly."""

import re
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from core.fields import SecretDecryptionError, decrypt
from sync.models import Connection, Integration

from .conftest import CRM_API_KEY, ERP_PASSWORD
from .test_roles import integration_form

pytestmark = pytest.mark.django_db


def raw_row(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM sync_connection WHERE id = %s", [pk])
        return " ".join(str(value) for value in cursor.fetchone())


def test_the_raw_database_row_does_not_contain_the_secret(erp_connection, crm_connection):
    assert ERP_PASSWORD not in raw_row(erp_connection.pk)
    assert CRM_API_KEY not in raw_row(crm_connection.pk)
    assert Connection.objects.get(pk=erp_connection.pk).password == ERP_PASSWORD
    assert Connection.objects.get(pk=crm_connection.pk).api_key == CRM_API_KEY


def test_a_wrong_key_raises_instead_of_returning_ciphertext(erp_connection, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptionError, match=r"Cannot decrypt Connection\.password"):
        Connection.objects.get(pk=erp_connection.pk)


def test_keys_rotate_old_values_stay_readable(erp_connection, settings):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]
    loaded = Connection.objects.get(pk=erp_connection.pk)
    assert loaded.password == ERP_PASSWORD
    loaded.save()  # re-encrypted with the new first key
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert Connection.objects.get(pk=erp_connection.pk).password == ERP_PASSWORD


@pytest.mark.parametrize("role", [IT, SUPERVISOR, ONBOARDING])
def test_the_connection_page_never_shows_a_secret(login_as, erp_connection, crm_connection, role):
    client = login_as(role)
    for conn in (erp_connection, crm_connection):
        page = client.get(reverse("admin:sync_connection_change", args=[conn.pk])).content.decode()
        assert ERP_PASSWORD not in page and CRM_API_KEY not in page
    page = client.get(reverse("admin:sync_connection_change", args=[erp_connection.pk])).content.decode()
    if role == IT:
        assert "A value is stored. Leave blank to keep it." in page
    else:
        assert '<div class="readonly">password</div>' in page  # which secrets are set, not their values
        assert 'type="password"' not in page


def edit_data(conn, **overrides):
    data = {
        "name": conn.name,
        "kind": conn.kind,
        "base_url": conn.base_url,
        "wsdl_url": conn.wsdl_url,
        "pagination": conn.pagination,
        "page_size": conn.page_size,
        "records_path": conn.records_path,
        "auth_kind": conn.auth_kind,
        "username": conn.username,
        "api_key_header": conn.api_key_header,
        "timeout_seconds": "15",
        "max_retries": conn.max_retries,
        "max_retry_after_seconds": conn.max_retry_after_seconds,
        "max_in_flight": conn.max_in_flight,
        "verify_tls": "on",
        **overrides,
    }
    return data


def test_a_blank_secret_keeps_the_stored_one(login_as, erp_connection):
    response = login_as(IT).post(
        reverse("admin:sync_connection_change", args=[erp_connection.pk]), edit_data(erp_connection)
    )
    assert response.status_code == 302
    stored = Connection.objects.get(pk=erp_connection.pk)
    assert stored.timeout_seconds == 15
    assert stored.password == ERP_PASSWORD


def test_a_new_secret_replaces_the_stored_one(login_as, erp_connection):
    client = login_as(IT)
    response = client.post(
        reverse("admin:sync_connection_change", args=[erp_connection.pk]),
        edit_data(erp_connection, password="n3w-pass"),
    )
    assert response.status_code == 302
    assert Connection.objects.get(pk=erp_connection.pk).password == "n3w-pass"


def test_a_secret_the_authentication_no_longer_uses_is_dropped(erp_connection):
    erp_connection.auth_kind = "none"
    erp_connection.save()
    assert Connection.objects.get(pk=erp_connection.pk).password == ""
    assert ERP_PASSWORD not in raw_row(erp_connection.pk)


# ---------------------------------------------------------------- the alert webhook URL is a secret too

WEBHOOK = "https://hooks.slack.example/services/T0001/B0002/w3bh00kT0k3n"
WEBHOOK_TOKEN = "w3bh00kT0k3n"


def raw_integration_row(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM sync_integration WHERE id = %s", [pk])
        return " ".join(str(value) for value in cursor.fetchone())


def with_webhook(integration, url=WEBHOOK):
    integration.alert_webhook_url = url
    integration.save()
    return integration


def test_the_webhook_url_is_stored_encrypted_and_read_back(integration):
    with_webhook(integration)
    assert WEBHOOK_TOKEN not in raw_integration_row(integration.pk)
    assert "hooks.slack.example" not in raw_integration_row(integration.pk)
    assert Integration.objects.get(pk=integration.pk).alert_webhook_url == WEBHOOK


def test_a_wrong_key_for_the_webhook_url_raises(integration, settings):
    with_webhook(integration)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptionError, match=r"Cannot decrypt Integration\.alert_webhook_url"):
        Integration.objects.get(pk=integration.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_stored_webhook_urls_and_reverses(erp_connection, crm_connection):
    before, after = ("sync", "0004_write_mode_list_transforms"), ("sync", "0005_encrypt_alert_webhook_url")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO sync_integration (name, description, integration_type, erp_name, erp_version, crm_name,"
                " erp_connection_id, crm_connection_id, deployment_status, active, business_rule, schedule_kind,"
                " schedule_daily_time, schedule_cron, max_time_without_success, alert_emails, alert_webhook_url,"
                " created_at, updated_at) VALUES ('Old', '', 'rest', 'ERP', '', 'CRM', %s, %s, 'in_progress', %s, '',"
                " 'none', '', '', %s, '', %s, '2026-01-01', '2026-01-01')",
                [
                    erp_connection.pk,
                    crm_connection.pk,
                    False,
                    Integration._meta.get_field("max_time_without_success").get_db_prep_value(
                        timedelta(hours=24), connection
                    ),
                    WEBHOOK,
                ],
            )
            cursor.execute("SELECT id FROM sync_integration WHERE name = 'Old'")
            pk = cursor.fetchone()[0]
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        assert WEBHOOK_TOKEN not in raw_integration_row(pk)
        assert decrypt(raw_column(pk)) == WEBHOOK

        executor = MigrationExecutor(connection)
        executor.migrate([before])
        assert raw_column(pk) == WEBHOOK
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert Integration.objects.get(name="Old").alert_webhook_url == WEBHOOK


def raw_column(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT alert_webhook_url FROM sync_integration WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_sees_that_a_webhook_is_stored_never_the_url(login_as, integration):
    with_webhook(integration)
    page = login_as(IT).get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert WEBHOOK_TOKEN not in page and "hooks.slack.example" not in page
    assert '<input type="password" name="alert_webhook_url"' in page
    assert "A value is stored. Leave blank to keep it." in page
    assert 'name="clear_alert_webhook_url"' in page


def test_without_a_stored_webhook_there_is_nothing_to_remove(login_as, integration):
    page = login_as(IT).get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert '<input type="password" name="alert_webhook_url"' in page
    assert 'name="clear_alert_webhook_url"' not in page
    assert "A value is stored" not in page


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_read_only_roles_see_only_whether_a_webhook_is_set(login_as, integration, role):
    client = login_as(role)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    page = client.get(change_url).content.decode()
    assert '<div class="readonly">not set</div>' in page

    with_webhook(integration)
    page = client.get(change_url).content.decode()
    assert WEBHOOK_TOKEN not in page and "hooks.slack.example" not in page
    assert '<div class="readonly">set</div>' in page
    assert 'name="alert_webhook_url"' not in page and 'name="clear_alert_webhook_url"' not in page


def test_a_blank_webhook_field_keeps_the_stored_url(login_as, integration):
    with_webhook(integration)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    response = login_as(IT).post(change_url, integration_form(integration, erp_version="4.3"))
    assert response.status_code == 302
    stored = Integration.objects.get(pk=integration.pk)
    assert (stored.erp_version, stored.alert_webhook_url) == ("4.3", WEBHOOK)


def test_a_typed_webhook_url_replaces_the_stored_one(login_as, integration):
    with_webhook(integration)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    new = "https://hooks.slack.example/services/T0001/B0002/n3wT0k3n"
    response = login_as(IT).post(change_url, integration_form(integration, alert_webhook_url=new))
    assert response.status_code == 302
    assert Integration.objects.get(pk=integration.pk).alert_webhook_url == new


def test_the_remove_box_deletes_the_stored_url(login_as, integration):
    with_webhook(integration)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    response = login_as(IT).post(change_url, integration_form(integration, clear_alert_webhook_url="on"))
    assert response.status_code == 302
    assert Integration.objects.get(pk=integration.pk).alert_webhook_url == ""


def test_removing_and_typing_a_new_url_at_once_is_refused(login_as, integration):
    with_webhook(integration)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    data = integration_form(integration, clear_alert_webhook_url="on", alert_webhook_url="https://hooks.example/x")
    response = login_as(IT).post(change_url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["clear_alert_webhook_url"] == [
        "Either type a new webhook URL or remove the stored one, not both."
    ]
    assert Integration.objects.get(pk=integration.pk).alert_webhook_url == WEBHOOK


def test_a_stored_webhook_the_policy_now_refuses_is_explained_without_its_path(login_as, integration, settings):
    with_webhook(integration, "http://127.0.0.1:9/hooks/" + WEBHOOK_TOKEN)
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    response = login_as(IT).post(change_url, integration_form(integration))
    assert response.status_code == 200
    page = response.content.decode()
    assert WEBHOOK_TOKEN not in page
    errors = response.context["adminform"].form.errors["alert_webhook_url"]
    assert errors == [
        'Alert webhook URL: "http://127.0.0.1/…" is refused: 127.0.0.1 is this machine (loopback), '
        "which the portal calls only when OUTBOUND_ALLOW_LOOPBACK is on."
    ]


def test_the_add_form_starts_with_the_default_max_time(login_as, erp_connection, crm_connection):
    client = login_as(IT)
    page = client.get(reverse("admin:sync_integration_add")).content.decode()
    shown = re.search(r'<input type="text" name="max_time_without_success" value="([^"]*)"', page)
    assert shown and shown.group(1) == "1d"

    data = {
        "name": "New one",
        "integration_type": "rest",
        "erp_name": "ERP",
        "crm_name": "CRM",
        "erp_connection": erp_connection.pk,
        "crm_connection": crm_connection.pk,
        "deployment_status": "in_progress",
        "active": "on",
        "schedule_kind": "none",
        "max_time_without_success": shown.group(1),
        "tables-TOTAL_FORMS": "0",
        "tables-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:sync_integration_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = Integration.objects.get(name="New one")
    assert created.max_time_without_success == timedelta(hours=24)
    assert created.alert_webhook_url == ""


@pytest.mark.parametrize(
    "suffix",
    [
        "/hooks/T0k|3n%20ä/" + WEBHOOK_TOKEN + "?sig=a b",  # requests re-quotes it
        "/hooks/" + WEBHOOK_TOKEN + "?sig=x{y}",
        "/hooks/" + WEBHOOK_TOKEN,
    ],
)
def test_a_failed_webhook_post_is_recorded_with_the_host_only(integration, suffix):
    from monitoring.alerts import open_alert
    from monitoring.choices import AlertKind
    from monitoring.models import AlertEvent
    from monitoring.notifications import deliver_due

    from .test_secret_leaks import WebhookReceiver

    now = timezone.now()
    with WebhookReceiver(fail_first=1) as receiver:  # answers 500, naming the path it could not serve
        base = receiver.url.replace("http://127.0.0.1", "HTTP://LOCALHOST")
        with_webhook(integration, base + suffix)
        open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=now)
        assert deliver_due(now).failed == 1
        assert deliver_due(now + timedelta(minutes=1)).sent == 1  # the same, decrypted address
        paths = [path for path, _headers, _body in receiver.posts]

    assert len(paths) == 2 and paths[0] == paths[1] and WEBHOOK_TOKEN in paths[0]
    error = str(AlertEvent.objects.get().last_error)
    assert error.startswith("Webhook: HTTPError: 500 Server Error") and "localhost" in error
    assert WEBHOOK_TOKEN not in error and "hooks" not in error and "sig" not in error
