"""Configuration forms people can use: only the fields that apply, rows instead of raw JSON, links to monitoring."""

import html
import json
import re

import pytest
from django.forms import inlineformset_factory
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from sync.forms import FieldMappingForm
from sync.models import Connection, FieldMapping, Integration, SyncTable
from sync.row_editors import cell_text, cell_value

from .test_validation import form_errors, post_connection, post_integration, table_post_data

pytestmark = pytest.mark.django_db


def errors_of(response) -> str:
    return html.unescape(form_errors(response))


def page_text(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


# ---------------------------------------------------------------- the connection form


def test_a_rest_connection_keeps_no_soap_field_nor_another_authentication_s_fields(login_as):
    response = post_connection(
        login_as(IT),
        base_url="https://api.example",
        test_path="/Contacts?$top=1",
        wsdl_url="https://erp.example/ws?wsdl",
        wsdl_document="<definitions/>",
        soap_service="CustomerService",
        soap_port="CustomerPort",
        endpoint_url="https://erp.example/ws",
        auth_kind="bearer",
        token="the-token",
        username="left-from-basic",
        password="left-from-basic",
        api_key_header="User-Key",
        oauth_token_url="https://login.example/token",
        client_id="left-from-oauth",
        oauth_scope="read",
    )
    assert response.status_code == 302, form_errors(response)
    saved = Connection.objects.get(name="Connection")
    assert (saved.base_url, saved.test_path, saved.token) == ("https://api.example", "/Contacts?$top=1", "the-token")
    assert (saved.wsdl_url, saved.wsdl_document, saved.soap_service, saved.soap_port, saved.endpoint_url) == (
        "", "", "", "", ""
    )  # fmt: skip
    assert (saved.username, saved.password, saved.api_key_header) == ("", "", "")
    assert (saved.oauth_token_url, saved.client_id, saved.oauth_scope) == ("", "", "")


def test_a_soap_connection_keeps_no_rest_address_nor_test_path(login_as):
    """A test path typed while the kind was REST was refused once SOAP was chosen ("clear it"): now it is dropped."""
    response = post_connection(
        login_as(IT),
        kind="soap",
        wsdl_url="https://erp.example/ws?wsdl",
        base_url="https://api.example",
        test_path="/Contacts?$top=1",
        pagination="bookmark",
        records_path="Customers",
        auth_kind="wsse",
        username="integration",
        password="secret",
        token="left-from-bearer",
    )
    assert response.status_code == 302, form_errors(response)
    saved = Connection.objects.get(name="Connection")
    assert (saved.wsdl_url, saved.base_url, saved.test_path) == ("https://erp.example/ws?wsdl", "", "")
    assert (saved.pagination, saved.records_path) == ("bookmark", "Customers")  # reading applies to both kinds
    assert (saved.username, saved.password, saved.token) == ("integration", "secret", "")


def test_switching_to_oauth2_drops_the_basic_credentials(login_as, crm_connection):
    data = {
        "name": crm_connection.name,
        "kind": "rest",
        "base_url": crm_connection.base_url,
        "pagination": "odata",
        "page_size": "100",
        "records_path": "value",
        "auth_kind": "oauth2",
        "api_key_header": "User-Key",
        "oauth_token_url": "https://login.example/token",
        "client_id": "portal",
        "client_secret": "s3cret",
        "timeout_seconds": "30",
        "max_retries": "3",
        "max_retry_after_seconds": "60",
        "max_in_flight": "1",
        "verify_tls": "on",
    }
    response = login_as(IT).post(reverse("admin:sync_connection_change", args=[crm_connection.pk]), data)
    assert response.status_code == 302, form_errors(response)
    crm_connection.refresh_from_db()
    assert (crm_connection.auth_kind, crm_connection.client_id, crm_connection.client_secret) == (
        "oauth2", "portal", "s3cret"
    )  # fmt: skip
    assert (crm_connection.api_key_header, crm_connection.api_key) == ("", "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"base_url": "https://x.example", "auth_kind": "oauth2", "oauth_token_url": "https://l.example/t"},
            "OAuth2 client credentials authentication needs the OAuth2 client id.",
        ),
        ({"kind": "soap", "wsdl_url": "https://erp.example/?wsdl", "auth_kind": "oauth2"}, "supports HTTP basic"),
        ({"kind": "soap", "base_url": "https://x.example"}, "A SOAP connection needs a WSDL"),
    ],
)
def test_what_is_missing_for_the_chosen_kind_and_authentication_is_still_said(login_as, overrides, message):
    assert message in form_errors(post_connection(login_as(IT), **overrides))
    assert not Connection.objects.filter(name="Connection").exists()


def test_the_kind_and_authentication_selects_say_which_fields_they_show(login_as):
    response = login_as(IT).get(reverse("admin:sync_connection_add"))
    page = page_text(response)
    assert "portal/shown_fields.js" in page and "portal/forms.css" in page
    kind = json.loads(_attribute(response, "id_kind", "data-shows"))
    assert kind["wsdl_url"] == ["soap"] and kind["base_url"] == ["rest"] and "pagination" not in kind
    auth = json.loads(_attribute(response, "id_auth_kind", "data-shows"))
    assert auth["client_id"] == ["oauth2", "oauth2_code", "body"]
    assert auth["username"] == ["basic", "wsse", "session", "body", "ssh_key"]
    assert auth["login_body"] == ["session"] and auth["body_credentials"] == ["body"]
    assert auth["oauth_authorize_url"] == ["oauth2_code"]
    assert auth["token_headers"] == ["oauth2", "oauth2_code"]  # Sankhya's gateway X-Token
    assert json.loads(_attribute(response, "id_auth_kind", "data-options"))["soap"] == ["none", "basic", "wsse"]
    for heading in ("REST", "SOAP", "Reading", "Authentication"):
        assert f">{heading}</h2>" in page


def _attribute(response, element_id: str, name: str) -> str:
    """The value of the attribute ``name`` on the element of id ``element_id``."""
    page = response.content.decode()
    at = page.index(f'id="{element_id}"')
    tag = page[page.rindex("<", 0, at) : page.index(">", at)]
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    return html.unescape(match.group(1))


# ---------------------------------------------------------------- the integration form


def test_only_the_chosen_schedule_s_input_is_kept(login_as, erp_connection, crm_connection):
    response = post_integration(
        login_as(IT),
        erp_connection,
        crm_connection,
        schedule_kind="daily",
        schedule_daily_time="06:30",
        schedule_interval_minutes="15",
        schedule_cron="not a cron",
    )
    assert response.status_code == 302, form_errors(response)
    saved = Integration.objects.get(name="New integration")
    assert (saved.schedule_kind, saved.schedule_daily_time) == ("daily", "06:30")
    assert (saved.schedule_interval_minutes, saved.schedule_cron) == (None, "")


def test_the_chosen_schedule_s_input_is_still_required(login_as, erp_connection, crm_connection):
    client = login_as(IT)
    response = post_integration(client, erp_connection, crm_connection, schedule_kind="interval")
    assert "Say every how many minutes the integration runs." in form_errors(response)
    shows = json.loads(_attribute(client.get(reverse("admin:sync_integration_add")), "id_schedule_kind", "data-shows"))
    assert shows == {
        "schedule_interval_minutes": ["interval"],
        "schedule_daily_time": ["daily"],
        "schedule_cron": ["cron"],
    }


# ---------------------------------------------------------------- filter rules, read arguments, transform options


def rows_post(field: str, columns: dict[str, list[str]]) -> dict:
    return {f"{field}__editor": "rows", **{f"{field}__{key}": values for key, values in columns.items()}}


def test_filter_rule_rows_and_read_argument_rows_are_stored_as_their_json(login_as, integration):
    data = table_post_data(
        integration,
        [{"source_path": "Email", "target_field": "Email"}],
        filter_rules="[]",
        read_arguments="{}",
        **rows_post(
            "filter_rules",
            {
                "name": ["approved credit", "", "", ""],
                "field": ["CreditStatus", "State", "Email", ""],
                "op": ["eq", "in", "not_empty", ""],
                "value": ["A", "SP, RJ", "ignored", ""],  # the last row is the blank one the page offers
            },
        ),
        **rows_post("read_arguments", {"key": ["setSize", "active", "code"], "value": ["{page_size}", "true", '"10"']}),
    )
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 302, form_errors(response)
    table = SyncTable.objects.get(name="Contact")
    assert table.filter_rules == [
        {"name": "approved credit", "field": "CreditStatus", "op": "eq", "value": "A"},
        {"field": "State", "op": "in", "value": ["SP", "RJ"]},
        {"field": "Email", "op": "not_empty"},
    ]
    assert table.read_arguments == {"setSize": "{page_size}", "active": True, "code": "10"}


def test_the_json_is_still_accepted_when_chosen(login_as, integration):
    rules = [{"field": "Total", "op": "gt", "value": 100}]
    data = table_post_data(
        integration,
        [{"source_path": "Email", "target_field": "Email"}],
        filter_rules=json.dumps(rules),
        filter_rules__editor="json",
        **{"filter_rules__field": ["ignored"], "filter_rules__op": ["eq"], "filter_rules__value": ["x"]},
    )
    response = login_as(IT).post(reverse("admin:sync_synctable_add"), data)
    assert response.status_code == 302, form_errors(response)
    assert SyncTable.objects.get(name="Contact").filter_rules == rules


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"field": [""], "op": ["eq"], "value": ["A"]}, "rule 1: needs the source field to test"),
        ({"field": ["Status"], "op": ["eq"], "value": [""]}, 'rule 1: operator "eq" needs a value'),
        ({"field": ["Status"], "op": [""], "value": ["A"]}, 'rule 1: unknown operator "" (known: eq, ne, in'),
    ],
)
def test_rows_with_a_problem_get_the_same_messages_as_the_json(login_as, integration, columns, message):
    data = table_post_data(
        integration, [{"source_path": "Email", "target_field": "Email"}], **rows_post("filter_rules", columns)
    )
    assert message in errors_of(login_as(IT).post(reverse("admin:sync_synctable_add"), data))
    assert not SyncTable.objects.filter(name="Contact").exists()


@pytest.mark.parametrize("field", ["filter_rules", "read_arguments"])
def test_a_python_style_quote_is_told_what_and_where(login_as, integration, field):
    data = table_post_data(
        integration,
        [{"source_path": "Email", "target_field": "Email"}],
        **{field: "{'a': 1}", f"{field}__editor": "json"},
    )
    page = errors_of(login_as(IT).post(reverse("admin:sync_synctable_add"), data))
    assert (
        'This is not valid JSON (line 1, column 2): write names and texts in double quotes ("name"), not single quotes.'
    ) in page
    assert "Enter a valid JSON." not in page


def test_the_table_page_shows_the_stored_rules_as_rows(login_as, integration):
    table = integration.tables.get()
    table.filter_rules = [{"name": "approved", "field": "CreditStatus", "op": "in", "value": ["A", "B"]}]
    table.read_arguments = {"filter": [], "setSize": "{page_size}"}
    table.save()
    response = login_as(IT).get(reverse("admin:sync_synctable_change", args=[table.pk]))
    page = response.content.decode()
    assert 'name="filter_rules__field" value="CreditStatus"' in page
    assert 'name="filter_rules__value" value="A, B"' in page
    assert '<option value="in" selected>is one of</option>' in page
    assert 'name="read_arguments__key" value="setSize"' in page
    assert 'name="read_arguments__value" value="[]"' in page
    assert 'name="filter_rules__editor" value="rows" checked' in page
    assert "portal/row_editor.js" in page


def test_json_that_rows_cannot_show_opens_as_json(login_as, integration):
    table = integration.tables.get()
    SyncTable.objects.filter(pk=table.pk).update(filter_rules=[{"field": "A", "op": "eq", "value": 1, "extra": 2}])
    page = login_as(IT).get(reverse("admin:sync_synctable_change", args=[table.pk])).content.decode()
    assert 'name="filter_rules__editor" value="json" checked' in page
    assert "&quot;extra&quot;: 2" in page


def test_transform_option_rows_are_stored_as_their_json(integration):
    table = integration.tables.get()
    formset_class = inlineformset_factory(
        SyncTable,
        FieldMapping,
        form=FieldMappingForm,
        fields=["position", "source_path", "target_field", "transform", "transform_options", "send_on", "owner"],
        extra=1,
    )
    data = {
        "mappings-TOTAL_FORMS": "1",
        "mappings-INITIAL_FORMS": "0",
        "mappings-0-position": "3",
        "mappings-0-source_path": "State",
        "mappings-0-target_field": "StateName",
        "mappings-0-transform": "value_map",
        "mappings-0-send_on": "both",
        "mappings-0-owner": "source",
        "mappings-0-transform_options": "{}",
        "mappings-0-transform_options__editor": "rows",
        "mappings-0-transform_options__key": ["map", "default", ""],
        "mappings-0-transform_options__value": ['{"CA": "California"}', "Unknown", ""],
    }
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for key, value in data.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    formset = formset_class(query, instance=table, prefix="mappings")
    assert formset.is_valid(), formset.errors
    formset.save()
    saved = table.mappings.get(target_field="StateName")
    assert saved.transform_options == {"map": {"CA": "California"}, "default": "Unknown"}


def test_an_untouched_blank_mapping_row_is_not_a_change(integration):
    form = FieldMappingForm(
        data={
            "initial-transform_options": "{}",  # as the page writes it (the field's default is callable)
            "transform_options__editor": "rows",
            "transform_options__key": [""],
            "transform_options__value": [""],
        },
    )
    assert "transform_options" not in form.changed_data


@pytest.mark.parametrize(
    ("value", "op", "text"),
    [
        ("A", "", "A"),
        ("10", "", '"10"'),
        (10, "", "10"),
        (" A ", "", '" A "'),
        ("", "", '""'),
        (True, "", "true"),
        (None, "", "null"),
        ({"CA": "California"}, "", '{"CA": "California"}'),
        (["A", "B"], "in", "A, B"),
        (["A,B", "C"], "in", '["A,B", "C"]'),
        (["1", "B"], "in", '["1", "B"]'),
        ([1, 2], "in", "[1, 2]"),
    ],
)
def test_a_value_cell_reads_back_as_the_value_it_shows(value, op, text):
    assert cell_text(value, op) == text
    assert cell_value(text, op) == value


# ---------------------------------------------------------------- order and links


def test_mapping_rows_are_listed_by_position(login_as, integration):
    table = integration.tables.get()
    FieldMapping.objects.create(table=table, position=0, source_path="Id", target_field="ErpId")
    page = login_as(IT).get(reverse("admin:sync_synctable_change", args=[table.pk])).content.decode()
    rows = re.findall(r'name="mappings-(\d+)-target_field" value="([^"]*)"', page)
    assert rows == [("0", "ErpId"), ("1", "CNPJ"), ("2", "Name")]


def test_configuration_pages_link_to_monitoring_and_back(login_as, integration):
    client = login_as(IT)
    monitoring = reverse("admin:integration", args=[integration.pk])
    integration_page = client.get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert f'href="{monitoring}" data-action="monitoring"' in integration_page
    table = integration.tables.get()
    table_page = page_text(client.get(reverse("admin:sync_synctable_change", args=[table.pk])))
    assert f'href="{monitoring}" data-action="monitoring">Monitoring: Sankhya ↔ Ploomes</a>' in table_page
    connection_page = page_text(
        client.get(reverse("admin:sync_connection_change", args=[integration.crm_connection_id]))
    )
    assert f'href="{monitoring}" data-action="monitoring">Monitoring: Sankhya ↔ Ploomes</a>' in connection_page
    general = client.get(monitoring).content.decode()
    change = reverse("admin:sync_integration_change", args=[integration.pk])
    assert f'href="{change}" data-action="edit-configuration">Edit the configuration</a>' in general


def test_new_mappings_without_a_position_go_after_the_last_in_the_order_typed(integration):
    table = integration.tables.get()  # positions 1 and 2
    formset_class = inlineformset_factory(
        SyncTable, FieldMapping, form=FieldMappingForm, fields=["position", "source_path", "target_field"], extra=3
    )
    data = {"mappings-TOTAL_FORMS": "3", "mappings-INITIAL_FORMS": "0"}
    for index, name in enumerate(["Email", "Phone"]):
        data.update({f"mappings-{index}-source_path": name, f"mappings-{index}-target_field": name})
    data.update({"mappings-2-position": "", "mappings-2-source_path": "", "mappings-2-target_field": ""})  # untouched
    formset = formset_class(data, instance=table, prefix="mappings")
    assert 'placeholder="after the last"' in str(formset.forms[0]["position"])
    assert formset.is_valid(), formset.errors
    formset.save()
    listed = [(mapping.position, mapping.target_field) for mapping in table.mappings.all()]
    assert listed == [(1, "CNPJ"), (2, "Name"), (3, "Email"), (3, "Phone")]


def test_a_read_only_page_shows_only_the_fields_that_apply(login_as, integration):
    client = login_as(SUPERVISOR)
    soap = client.get(reverse("admin:sync_connection_change", args=[integration.erp_connection_id])).content.decode()
    assert "field-wsdl_url" in soap and "field-username" in soap
    for field in ("base_url", "test_path", "client_id", "api_key_header", "oauth_token_url"):
        assert f"field-{field}" not in soap, field
    assert ">REST</h2>" not in soap and ">SOAP</h2>" in soap
    page = client.get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert "field-schedule_daily_time" in page
    assert "field-schedule_cron" not in page and "field-schedule_interval_minutes" not in page
