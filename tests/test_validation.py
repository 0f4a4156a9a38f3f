"""Invalid configuration is refused in the admin form with a message that says what to fix."""

import html

import pytest
from django.urls import reverse

from accounts.roles import IT
from sync.models import Connection, FieldMapping, Integration, SyncTable

pytestmark = pytest.mark.django_db


def post_integration(client, erp_connection, crm_connection, **overrides):
    data = {
        "name": "New integration",
        "integration_type": "soap",
        "erp_name": "TOTVS",
        "crm_name": "HubSpot",
        "erp_connection": erp_connection.pk,
        "crm_connection": crm_connection.pk,
        "deployment_status": "in_progress",
        "active": "on",
        "schedule_kind": "none",
        "max_time_without_success": "24h",
        "tables-TOTAL_FORMS": "0",
        "tables-INITIAL_FORMS": "0",
        **overrides,
    }
    return client.post(reverse("admin:sync_integration_add"), data)


def form_errors(response):
    assert response.status_code == 200, "the form was accepted"
    return str(response.context["adminform"].form.errors) + str(response.context.get("inline_admin_formsets", ""))


def test_a_valid_integration_is_saved_with_a_human_duration(login_as, erp_connection, crm_connection):
    client = login_as(IT)
    response = post_integration(client, erp_connection, crm_connection, max_time_without_success="1d 12h")
    assert response.status_code == 302
    saved = Integration.objects.get(name="New integration")
    assert saved.max_time_without_success.total_seconds() == 36 * 3600
    assert saved.activated_at is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule_kind": "cron", "schedule_cron": "every day"}, "is not a valid cron expression"),
        ({"schedule_kind": "cron", "schedule_cron": "61 * * * *"}, "is not a valid cron expression"),
        ({"schedule_kind": "daily", "schedule_daily_time": "24:00"}, "is not a valid time: use HH:MM"),
        ({"schedule_kind": "daily", "schedule_daily_time": "7:5"}, "is not a valid time: use HH:MM"),
        ({"schedule_kind": "interval"}, "Say every how many minutes"),
        ({"max_time_without_success": "0m"}, "The max time without success must be positive"),
        ({"max_time_without_success": "soon"}, "is not a duration"),
        ({"alert_emails": "ops@example.com, not-an-email"}, "&quot;not-an-email&quot; is not a valid email address"),
    ],
)
def test_invalid_integration_settings_are_refused(login_as, erp_connection, crm_connection, overrides, message):
    client = login_as(IT)
    response = post_integration(client, erp_connection, crm_connection, **overrides)
    assert message in form_errors(response)
    assert not Integration.objects.filter(name="New integration").exists()


def test_a_valid_cron_is_accepted(login_as, erp_connection, crm_connection):
    response = post_integration(
        login_as(IT), erp_connection, crm_connection, schedule_kind="cron", schedule_cron="*/15 8-18 * * 1-5"
    )
    assert response.status_code == 302


def test_the_erp_and_crm_need_different_connections(login_as, erp_connection, crm_connection):
    response = post_integration(login_as(IT), erp_connection, erp_connection)
    assert "The ERP and the CRM need different connections." in form_errors(response)


def post_connection(client, **overrides):
    data = {
        "name": "Connection",
        "kind": "rest",
        "pagination": "none",
        "page_size": "100",
        "auth_kind": "none",
        "timeout_seconds": "30",
        "max_retries": "3",
        "max_retry_after_seconds": "60",
        "max_in_flight": "1",
        "verify_tls": "on",
        **overrides,
    }
    return client.post(reverse("admin:sync_connection_add"), data)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "rest"}, "A REST connection needs a base URL."),
        ({"kind": "soap"}, "A SOAP connection needs a WSDL"),
        ({"base_url": "https://x.example", "auth_kind": "basic"}, "HTTP basic authentication needs the password."),
        (
            {"base_url": "https://x.example", "auth_kind": "api_key", "api_key": "k"},
            "API key header authentication needs the API key header.",
        ),
        (
            {"base_url": "https://x.example", "auth_kind": "oauth2", "client_id": "c"},
            "OAuth2 client credentials authentication needs the OAuth2 token URL.",
        ),
        ({"base_url": "https://x.example", "auth_kind": "wsse"}, "WS-Security applies to SOAP connections only."),
        ({"kind": "soap", "wsdl_url": "https://erp.example/?wsdl", "auth_kind": "bearer"}, "supports HTTP basic"),
    ],
)
def test_invalid_connections_are_refused(login_as, overrides, message):
    response = post_connection(login_as(IT), **overrides)
    assert message in form_errors(response)


def test_a_soap_connection_accepts_an_uploaded_wsdl(login_as, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    wsdl = (settings.BASE_DIR.parent / "shared/fixtures/wsdl/nav2016_Customer_Kencert.wsdl").read_bytes()
    response = post_connection(
        login_as(IT), name="NAV", kind="soap", wsdl_upload=SimpleUploadedFile("customer.wsdl", wsdl)
    )
    assert response.status_code == 302
    from sync.models import Connection

    assert "urn:microsoft-dynamics-schemas/page/customer" in Connection.objects.get(name="NAV").wsdl_document


def table_post_data(integration, mappings, **overrides):
    data = {
        "integration": integration.pk,
        "name": "Contact",
        "direction": "erp_to_crm",
        "order": "2",
        "active": "on",
        "source_object": "ListContacts",
        "target_object": "/Contacts",
        "record_key": "Email",
        "target_key": "Id",
        "filter_rules": "[]",
        "delete_policy": "ignore",
        "delete_threshold": "50",
        "max_wait_for_parent": "24h",
        "cursor_clock_overlap": "5m",
        "write_mode": "upsert",
        "batch_kind": "",
        "batch_size": "100",
        "batch_path": "",
        "match_existing": "on",
        "mappings-TOTAL_FORMS": str(len(mappings)),
        "mappings-INITIAL_FORMS": "0",
        **overrides,
    }
    for index, mapping in enumerate(mappings):
        row = {
            "position": index,
            "owner": "source",
            "send_on": "both",
            "value_type": "",
            "transform": "",
            "transform_options": "{}",
            **mapping,
        }
        data.update({f"mappings-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_table_with_its_mapped_record_key_is_saved(login_as, integration):
    data = table_post_data(integration, [{"source_path": "Email", "target_field": "Email", "transform": "lower"}])
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 302
    table = SyncTable.objects.get(integration=integration, name="Contact")
    assert list(table.mappings.values_list("source_path", "transform")) == [("Email", "lower")]


def test_a_table_record_key_must_be_mapped(login_as, integration):
    data = table_post_data(integration, [{"source_path": "Name", "target_field": "Name"}])
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 200
    assert 'the record key "Email" must be mapped' in response.content.decode().replace("&quot;", '"')
    assert not SyncTable.objects.filter(name="Contact").exists()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"transform": "value_map", "transform_options": "{}"}, 'transform "value_map" needs the option "map"'),
        (
            {"transform": "value_map", "transform_options": '{"map": {}}'},
            "a value map needs at least one entry",
        ),
        (
            {"transform": "value_map", "transform_options": '{"map": {"CA": ["California"]}}'},
            "value map entries must map text to a text or number value",
        ),
        ({"transform": "template", "transform_options": '{"template": "{}"}'}, "template placeholders must name"),
        ({"transform": "trim", "transform_options": '{"places": 2}'}, 'unknown option "places"'),
    ],
)
def test_invalid_transform_options_are_refused(login_as, integration, mapping, message):
    mappings = [
        {"source_path": "Email", "target_field": "Email"},
        {"source_path": "State", "target_field": "State", **mapping},
    ]
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), table_post_data(integration, mappings))
    assert response.status_code == 200
    assert message in response.content.decode().replace("&quot;", '"')


def test_invalid_filter_rules_are_refused(login_as, integration):
    data = table_post_data(
        integration,
        [{"source_path": "Email", "target_field": "Email"}],
        filter_rules='[{"field": "Credit", "op": "approx", "value": "A"}]',
    )
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert 'rule 1: unknown operator "approx"' in response.content.decode().replace("&quot;", '"')


def test_two_tables_of_one_integration_cannot_share_a_name(login_as, integration):
    data = table_post_data(
        integration, [{"source_path": "CNPJ", "target_field": "CNPJ"}], name="Company", record_key="CNPJ"
    )
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 200
    assert "Two tables of one integration cannot share a name." in response.content.decode()
    assert SyncTable.objects.filter(name="Company").count() == 1


def test_two_new_tables_with_one_name_are_refused_in_the_integration_form(login_as, erp_connection, crm_connection):
    rows = {}
    for index in range(2):
        rows.update(
            {
                f"tables-{index}-order": str(index),
                f"tables-{index}-name": "Company",
                f"tables-{index}-direction": "erp_to_crm",
                f"tables-{index}-active": "on",
                f"tables-{index}-source_object": "ListCustomers",
                f"tables-{index}-target_object": "/Contacts",
                f"tables-{index}-record_key": "CNPJ",
            }
        )
    response = post_integration(login_as(IT), erp_connection, crm_connection, **{"tables-TOTAL_FORMS": "2", **rows})
    assert response.status_code == 200
    assert "Please correct the duplicate data for name." in response.content.decode()
    assert not Integration.objects.filter(name="New integration").exists()
    assert FieldMapping.objects.count() == 0


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"source_path": "Products[].ProductId", "target_field": "lines"},
            "A source path with [] maps each item of a list: the target needs [] too, e.g. lines[].sku.",
        ),
        (
            {"source_path": "Email", "target_field": "OtherProperties[FieldKey=ERP_CODE]"},
            "Write a keyed list element through one of its fields, e.g. OtherProperties[FieldKey=ERP_CODE].StringValue",
        ),
        (
            {"source_path": "Email", "target_field": "Email", "owner": "target", "send_on": "update"},
            "A field the target owns is written on create only: it cannot be sent on update.",
        ),
        (
            {"source_path": "Email", "target_field": "Email", "transform": "lookup", "transform_options": "{}"},
            'transform "lookup" needs the option "table"',
        ),
    ],
)
def test_the_table_form_refuses_mappings_the_engine_could_not_carry_out(login_as, integration, mapping, message):
    data = table_post_data(integration, [{"source_path": "Email", "target_field": "Email"}, mapping])
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert not SyncTable.objects.filter(name="Contact").exists()


def test_the_table_form_saves_typed_keyed_and_create_only_mappings(login_as, integration):
    mappings = [
        {
            "source_path": "Email",
            "target_field": "OtherProperties[FieldKey=ERP_CODE].StringValue",
            "value_type": "text",
        },
        {
            "source_path": "",
            "target_field": "TypeId",
            "transform": "constant",
            "transform_options": '{"value": 2}',
            "send_on": "create",
        },
        {"source_path": "Limit", "target_field": "CreditLimit", "value_type": "decimal", "default_value": "0"},
    ]
    data = table_post_data(integration, mappings, update_changed_fields_only="on", match_field="Email")
    assert login_as(IT).post(reverse("admin:sync_synctable_add"), data).status_code == 302
    table = SyncTable.objects.get(name="Contact")
    assert (table.update_changed_fields_only, table.match_field) == (True, "Email")
    assert list(table.mappings.values_list("value_type", "send_on", "default_value")) == [
        ("text", "both", None),
        ("", "create", None),
        ("decimal", "both", 0),
    ]


def test_a_connection_whose_one_call_could_outlast_a_background_run_is_refused(login_as, settings):
    """Every attempt timing out, with the longest wait between them: past SYNC_TASK_TIMEOUT the worker is stopped."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 3600}
    client = login_as(IT)
    response = post_connection(client, base_url="https://x.example", timeout_seconds="600", max_retries="5")
    assert (
        "One call could take up to 1 hour 5 minutes (600 s × 6 attempts, and up to 60 s between them), longer "
        "than a background run may last (1 hour, SYNC_TASK_TIMEOUT)" in form_errors(response)
    )
    assert not Connection.objects.exists()
    response = post_connection(client, base_url="https://x.example", timeout_seconds="540", max_retries="5")
    assert response.status_code == 302 and Connection.objects.get().max_retries == 5  # 54 + 5 min: fits
