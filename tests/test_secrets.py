"""Connection secrets are encrypted at rest, never shown back, and a wrong key fails loudly."""

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.urls import reverse

from monitoring.roles import IT, ONBOARDING, SUPERVISOR
from sync.fields import SecretDecryptionError
from sync.models import Connection

from .conftest import CRM_API_KEY, ERP_PASSWORD

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
