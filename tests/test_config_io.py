"""Configuration as code: ``manage.py integration export / import``."""

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from sync.choices import (
    AuthKind,
    ConnectionKind,
    DeletePolicy,
    Direction,
    IntegrationType,
    Pagination,
    ScheduleKind,
    Transform,
)
from sync.config_io.secrets import env_var_name
from sync.models import Connection, FieldMapping, Integration, RecordLink, SyncTable

ERP_PASSWORD = "erp-secret-5f1c9a"
CRM_API_KEY = "crm-secret-77b0e2"
ENV = {"DEMO_ERP_PASSWORD": ERP_PASSWORD, "DEMO_CRM_API_KEY": CRM_API_KEY}


# Builders and helpers ----------------------------------------------------------------------------------------------


def saved(instance):
    instance.full_clean()
    instance.save()
    return instance


def build_integration(name="Demo"):
    """A SOAP ERP with basic auth, a REST CRM with an API key, three tables, a daily schedule."""
    erp = saved(
        Connection(
            name="Demo ERP",
            kind=ConnectionKind.SOAP,
            wsdl_url="https://erp.example/ws?wsdl",
            endpoint_url="https://erp.example/ws",
            auth_kind=AuthKind.BASIC,
            username="integration",
            password=ERP_PASSWORD,
            pagination=Pagination.BOOKMARK,
            page_size=200,
            timeout_seconds=60,
        )
    )
    crm = saved(
        Connection(
            name="Demo CRM",
            kind=ConnectionKind.REST,
            base_url="https://api2.ploomes.example",
            auth_kind=AuthKind.API_KEY,
            api_key_header="User-Key",
            api_key=CRM_API_KEY,
            pagination=Pagination.ODATA,
            records_path="value",
            rate_limit_per_minute=120,
        )
    )
    integration = saved(
        Integration(
            name=name,
            description="Sankhya to Ploomes for ACME",
            integration_type=IntegrationType.SOAP,
            erp_name="Sankhya",
            erp_version="4.2",
            crm_name="Ploomes",
            erp_connection=erp,
            crm_connection=crm,
            business_rule="Only customers with approved credit.\nOnly active products.",
            schedule_kind=ScheduleKind.DAILY,
            schedule_daily_time="00:00",
            max_time_without_success=timedelta(days=1, hours=12),
            alert_emails="ops@acme.example, it@acme.example",
        )
    )
    company = saved(
        SyncTable(
            integration=integration,
            name="Company",
            description="Customers with approved credit",
            order=1,
            source_object="ListCustomers",
            target_object="/Contacts",
            update_object="/Contacts({id})",
            record_key="CNPJ",
            filter_rules=[{"name": "approved credit", "field": "CreditStatus", "op": "eq", "value": "A"}],
        )
    )
    contact = saved(
        SyncTable(
            integration=integration,
            name="Contact",
            order=2,
            source_object="ListContacts",
            target_object="/Contacts",
            record_key="Code",
            cursor_field="ChangedAt",
            incremental_filter="changedSince={cursor}",
        )
    )
    product = saved(
        SyncTable(
            integration=integration,
            name="Product",
            order=3,
            direction=Direction.ERP_TO_CRM,
            source_object="ListProducts",
            target_object="/Products",
            record_key="Code",
            delete_policy=DeletePolicy.DELETE,
            delete_threshold=20,
            max_time_without_success=timedelta(hours=2),
        )
    )
    mappings = [
        (company, "CNPJ", "CNPJ", Transform.CNPJ, {}, True),
        (company, "Name", "Name", Transform.TRIM, {}, False),
        (company, "State", "StateName", Transform.VALUE_MAP, {"map": {"SP": "São Paulo", "CA": "California"}}, False),
        (company, "", "TypeId", Transform.CONSTANT, {"value": 1}, False),
        (contact, "Code", "ExternalId", Transform.NONE, {}, True),
        (contact, "Email", "Email", Transform.LOWER, {}, False),
        (contact, "", "Name", Transform.TEMPLATE, {"template": "{FirstName} {LastName}"}, False),
        (product, "Code", "Code", Transform.NONE, {}, True),
        (product, "Price", "Price", Transform.DECIMAL, {"places": 2}, False),
    ]
    for position, (table, source, target, transform, options, required) in enumerate(mappings):
        saved(
            FieldMapping(
                table=table,
                position=position * 10,
                source_path=source,
                target_field=target,
                transform=transform,
                transform_options=options,
                required=required,
            )
        )
    return integration


def run(*args, stdin=None, monkeypatch=None):
    """Call the command; return (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command("integration", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_text(tmp_path, text, *args):
    path = tmp_path / "integration.yaml"
    path.write_text(text, encoding="utf-8")
    return run("import", str(path), *args)


def refused(tmp_path, text) -> str:
    with pytest.raises(CommandError) as excinfo:
        import_text(tmp_path, text)
    return str(excinfo.value)


def delete_everything():
    Integration.objects.all().delete()
    Connection.objects.all().delete()


def counts():
    return [model.objects.count() for model in (Integration, Connection, SyncTable, FieldMapping, RecordLink)]


@pytest.fixture
def secrets_env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


# Round trip --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_import_into_an_empty_database_and_export_again_gives_the_same_text(tmp_path, secrets_env):
    build_integration()
    first, _err = run("export", "Demo", "--secrets-from-env")
    delete_everything()

    out, _err = import_text(tmp_path, first)
    second, _err = run("export", "Demo", "--secrets-from-env")

    assert second == first
    assert "6 created, 0 updated, 0 deactivated, 0 unchanged." in out  # 2 connections, 1 integration, 3 tables
    integration = Integration.objects.get(name="Demo")
    assert integration.schedule_kind == ScheduleKind.DAILY
    assert integration.schedule_daily_time == "00:00"
    assert integration.max_time_without_success == timedelta(days=1, hours=12)
    assert integration.alert_recipients == ["ops@acme.example", "it@acme.example"]
    assert integration.business_rule == "Only customers with approved credit.\nOnly active products."
    assert integration.erp_connection.name == "Demo ERP"
    assert integration.erp_connection.password == ERP_PASSWORD
    assert integration.crm_connection.api_key == CRM_API_KEY
    assert integration.crm_connection.rate_limit_per_minute == 120
    assert [table.name for table in integration.tables.all()] == ["Company", "Contact", "Product"]
    company = integration.tables.get(name="Company")
    state, constant = company.mappings.all()[2:4]
    assert (state.transform, state.transform_options) == (
        Transform.VALUE_MAP,
        {"map": {"CA": "California", "SP": "São Paulo"}},
    )
    assert (constant.source_path, constant.transform, constant.transform_options) == ("", "constant", {"value": 1})
    assert company.filter_rules == [{"name": "approved credit", "field": "CreditStatus", "op": "eq", "value": "A"}]
    assert integration.tables.get(name="Product").max_time_without_success == timedelta(hours=2)


@pytest.mark.django_db
def test_the_file_is_readable(tmp_path):
    build_integration()
    text, _err = run("export", "Demo")
    assert text.startswith("version: 1\nname: Demo\n")
    assert "schedule: {kind: daily, at: '00:00'}" in text
    assert "max_time_without_success: 1d 12h" in text
    assert "alert_emails:\n  - ops@acme.example\n  - it@acme.example\n" in text
    assert "business_rule: |-\n  Only customers with approved credit.\n  Only active products.\n" in text
    assert "transform: none" in text


@pytest.mark.django_db
def test_awkward_texts_survive_the_round_trip(tmp_path, secrets_env):
    integration = build_integration()
    wsdl = '<?xml version="1.0"?>\n<definitions name="ERP">  \n\t<service name="Customers"/>\n</definitions>\n\n'
    Connection.objects.filter(name="Demo ERP").update(wsdl_url="", wsdl_document=wsdl)
    Integration.objects.filter(pk=integration.pk).update(
        description="  leading spaces: and a colon # not a comment", business_rule="ends with a newline\n"
    )
    awkward_map = {"ON": "Ontario", "yes": "Sim", "1": 1.5, "null": "nothing", "": "empty"}
    FieldMapping.objects.filter(target_field="StateName").update(transform_options={"map": awkward_map})
    first, _err = run("export", "Demo", "--secrets-from-env")
    delete_everything()

    import_text(tmp_path, first)

    assert run("export", "Demo", "--secrets-from-env")[0] == first
    assert Connection.objects.get(name="Demo ERP").wsdl_document == wsdl
    integration = Integration.objects.get(name="Demo")
    assert integration.description == "  leading spaces: and a colon # not a comment"
    assert integration.business_rule == "ends with a newline\n"
    assert FieldMapping.objects.get(target_field="StateName").transform_options == {"map": awkward_map}


# Secrets -----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_default_export_leaves_secrets_out_and_says_so():
    build_integration()
    text, err = run("export", "Demo")
    assert ERP_PASSWORD not in text
    assert CRM_API_KEY not in text
    document = yaml.safe_load(text)
    assert "password" not in document["connections"]["erp"]
    assert "api_key" not in document["connections"]["crm"]
    assert document["connections"]["crm"]["api_key_header"] == "User-Key"
    assert "connections.erp.password" in err
    assert "--secrets-from-env" in err


@pytest.mark.django_db
def test_secrets_from_env_writes_references_and_lists_the_variables():
    build_integration()
    text, err = run("export", "Demo", "--secrets-from-env")
    assert ERP_PASSWORD not in text
    assert CRM_API_KEY not in text
    assert "password: {env: DEMO_ERP_PASSWORD}" in text
    assert "api_key: {env: DEMO_CRM_API_KEY}" in text
    assert "DEMO_ERP_PASSWORD  (connections.erp.password)" in err
    assert "DEMO_CRM_API_KEY  (connections.crm.api_key)" in err


@pytest.mark.django_db
def test_import_reads_referenced_secrets_from_the_environment(tmp_path, monkeypatch):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    delete_everything()
    monkeypatch.setenv("DEMO_ERP_PASSWORD", "production-erp-password")
    monkeypatch.setenv("DEMO_CRM_API_KEY", "production-crm-key")

    import_text(tmp_path, text)

    assert Connection.objects.get(name="Demo ERP").password == "production-erp-password"
    assert Connection.objects.get(name="Demo CRM").api_key == "production-crm-key"


@pytest.mark.django_db
def test_a_missing_environment_variable_names_the_path_and_the_variable(tmp_path, monkeypatch):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    delete_everything()
    monkeypatch.setenv("DEMO_CRM_API_KEY", "set")
    monkeypatch.delenv("DEMO_ERP_PASSWORD", raising=False)

    message = refused(tmp_path, text)

    assert "connections.erp.password: the environment variable DEMO_ERP_PASSWORD is not set" in message
    assert counts() == [0, 0, 0, 0, 0]


@pytest.mark.django_db
def test_import_without_references_keeps_the_stored_secrets(tmp_path):
    build_integration()
    text, _err = run("export", "Demo")
    out, _err = import_text(tmp_path, text.replace("timeout_seconds: 60", "timeout_seconds: 90"))
    erp = Connection.objects.get(name="Demo ERP")
    assert erp.timeout_seconds == 90
    assert erp.password == ERP_PASSWORD
    assert Connection.objects.get(name="Demo CRM").api_key == CRM_API_KEY
    assert 'connection "Demo ERP": updated' in out
    assert 'connection "Demo CRM": unchanged' in out


@pytest.mark.django_db
def test_a_new_connection_needing_a_secret_the_file_lacks_is_refused(tmp_path):
    build_integration()
    text, _err = run("export", "Demo")
    delete_everything()
    message = refused(tmp_path, text)
    assert "connections.erp.password: HTTP basic authentication needs the password, and the file does not" in message
    assert "e.g. password: {env: DEMO_ERP_PASSWORD}" in message
    assert "connections.crm.api_key: API key header authentication needs the API key" in message
    assert counts() == [0, 0, 0, 0, 0]


@pytest.mark.django_db
def test_a_secret_written_in_the_file_is_refused(tmp_path, secrets_env):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    message = refused(tmp_path, text.replace("{env: DEMO_ERP_PASSWORD}", "hunter2"))
    assert "connections.erp.password: secrets are not written in the file" in message
    assert Connection.objects.get(name="Demo ERP").password == ERP_PASSWORD


def test_environment_variable_names_come_from_the_connection_and_the_field():
    assert env_var_name("Demo ERP", "password") == "DEMO_ERP_PASSWORD"
    assert env_var_name("Integração - CRM", "client_secret") == "INTEGRACAO_CRM_CLIENT_SECRET"
    assert env_var_name("1st ERP", "token") == "_1ST_ERP_TOKEN"


# Refusing invalid files whole --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_invalid_file_is_refused_whole_with_every_problem_named_by_its_path(tmp_path, secrets_env):
    integration = build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    document = yaml.safe_load(text)
    document["schedule"] = {"kind": "cron", "cron": "61 * * * *"}
    document["tables"][0]["record_key"] = "Document"
    document["tables"][0]["colour"] = "red"
    document["tables"][1]["name"] = "Company"
    document["tables"][2]["mappings"][0]["transform"] = "uper"
    document["connections"]["crm"]["auth_kind"] = "apikey"
    document["tables"][2]["delete_threshold"] = "many"
    document["description"] = "Changed, but must not be saved"
    before = counts()

    message = refused(tmp_path, yaml.safe_dump(document, sort_keys=False))

    assert 'tables[2].mappings[0].transform: unknown transform "uper" (did you mean "upper"?)' in message
    assert "allowed: none, trim, upper, lower" in message
    assert 'schedule.cron: "61 * * * *" is not a valid cron expression' in message
    assert 'tables[0].record_key: the record key "Document" must be mapped' in message
    assert 'tables[1].name: two tables cannot share a name: "Company" is already used by tables[0]' in message
    assert "tables[0].colour: unknown key" in message
    assert 'connections.crm.auth_kind: unknown auth_kind "apikey"' in message
    assert "tables[2].delete_threshold: expected a whole number, got text" in message
    in_file_order = ["schedule.cron", "connections.crm", "tables[0].record_key", "tables[0].colour", "tables[1].name"]
    assert [message.index(path) for path in in_file_order] == sorted(message.index(path) for path in in_file_order)
    assert counts() == before
    integration.refresh_from_db()
    assert integration.description == "Sankhya to Ploomes for ACME"
    assert integration.schedule_kind == ScheduleKind.DAILY


@pytest.mark.django_db
def test_the_models_own_rules_are_reported_at_their_path(tmp_path, secrets_env):
    build_integration()
    document = yaml.safe_load(run("export", "Demo", "--secrets-from-env")[0])
    document["connections"]["crm"]["base_url"] = ""
    document["alert_emails"] = ["ops@acme.example", "not an address"]
    document["max_time_without_success"] = "soon"
    document["tables"][0]["mappings"][2]["transform_options"] = {}
    document["tables"][0]["filter_rules"] = [{"field": "CreditStatus", "op": "like", "value": "A"}]
    document["tables"][1]["mappings"][0]["source_path"] = ""
    del document["tables"][2]["target_object"]

    message = refused(tmp_path, yaml.safe_dump(document, sort_keys=False))

    assert "connections.crm.base_url: A REST connection needs a base URL." in message
    assert 'alert_emails: "not an address" is not a valid email address' in message
    assert 'max_time_without_success: "soon" is not a duration' in message
    assert 'tables[0].mappings[2].transform_options: transform "value_map" needs the option "map"' in message
    assert 'tables[0].filter_rules: rule 1: unknown operator "like"' in message
    assert "tables[1].mappings[0].source_path: A source path is required" in message
    assert "tables[2].target_object: required key is missing" in message


@pytest.mark.django_db
def test_a_connections_test_path_round_trips_and_an_address_of_its_own_is_refused(tmp_path, secrets_env):
    build_integration()
    Connection.objects.filter(name="Demo CRM").update(test_path="/Contacts?$top=1")
    document = yaml.safe_load(run("export", "Demo", "--secrets-from-env")[0])
    assert document["connections"]["crm"]["test_path"] == "/Contacts?$top=1"
    assert document["connections"]["erp"]["test_path"] == ""

    document["connections"]["crm"]["test_path"] = "https://elsewhere.example/Contacts"
    document["connections"]["erp"]["test_path"] = "/ws?op=ReadMultiple"
    message = refused(tmp_path, yaml.safe_dump(document, sort_keys=False))

    assert (
        'connections.crm.test_path: "https://elsewhere.example/Contacts" is an address of its own: write it '
        "relative to the connection's base URL, e.g. /Contacts?$top=1 (the connection's credentials go only to "
        "its own server)."
    ) in message
    assert "connections.erp.test_path: A test path applies to REST connections only: clear it." in message
    assert Connection.objects.get(name="Demo CRM").test_path == "/Contacts?$top=1"


@pytest.mark.django_db
def test_schedules_and_versions_are_checked(tmp_path, secrets_env):
    build_integration()
    document = yaml.safe_load(run("export", "Demo", "--secrets-from-env")[0])
    document["schedule"] = {"kind": "interval", "at": "08:00"}
    message = refused(tmp_path, yaml.safe_dump(document))
    assert 'schedule.every_minutes: required key for a "interval" schedule is missing' in message
    assert 'schedule.at: unknown key for a "interval" schedule' in message

    document["version"] = 2
    assert "version: unsupported version 2 (this portal reads version 1)" in refused(tmp_path, yaml.safe_dump(document))


@pytest.mark.django_db
def test_malformed_yaml_gets_a_message_with_the_line(tmp_path):
    message = refused(tmp_path, "version: 1\nname: Demo\ntables:\n  - name: Company\n    mappings: [\n")
    assert "line 6" in message
    assert "not valid YAML" in message


def test_a_refused_file_makes_the_command_exit_non_zero(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nname: [\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "manage.py", "integration", "import", str(path)],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "line 3, column 1: not valid YAML" in result.stderr


@pytest.mark.django_db
def test_a_key_written_twice_is_refused(tmp_path):
    message = refused(tmp_path, "version: 1\nname: Demo\nname: Other\n")
    assert "name: written twice in the same mapping (lines 2 and 3)" in message


@pytest.mark.django_db
def test_an_empty_file_and_a_missing_file_are_refused(tmp_path):
    assert "the file is empty" in refused(tmp_path, "")
    with pytest.raises(CommandError, match="cannot read"):
        run("import", str(tmp_path / "missing.yaml"))


# Updating in place -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reimport_updates_in_place_and_deactivates_tables_missing_from_the_file(tmp_path, secrets_env):
    integration = build_integration()
    company = integration.tables.get(name="Company")
    link = RecordLink.objects.create(table=company, source_key="123", target_key="9", mapped_hash="h")
    document = yaml.safe_load(run("export", "Demo", "--secrets-from-env")[0])
    document["tables"][0]["description"] = "All customers"
    document["tables"][0]["mappings"] = document["tables"][0]["mappings"][:2]
    document["tables"] = [document["tables"][0], document["tables"][1]]  # Product is gone
    document["tables"][1]["mappings"][1]["transform"] = "trim"

    out, _err = import_text(tmp_path, yaml.safe_dump(document, sort_keys=False))

    company_after = SyncTable.objects.get(integration=integration, name="Company")
    assert company_after.pk == company.pk
    assert company_after.description == "All customers"
    assert list(company_after.mappings.values_list("source_path", flat=True)) == ["CNPJ", "Name"]
    assert RecordLink.objects.filter(pk=link.pk).exists()
    product = SyncTable.objects.get(integration=integration, name="Product")
    assert product.active is False
    assert product.mappings.count() == 2  # deactivated, never deleted
    assert 'table "Product": deactivated' in out
    assert 'table "Company": updated' in out
    assert 'integration "Demo": unchanged' in out
    assert "0 created, 2 updated, 1 deactivated, 3 unchanged." in out


@pytest.mark.django_db
def test_importing_the_same_file_twice_changes_nothing(tmp_path, secrets_env):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    mapping_pks = sorted(FieldMapping.objects.values_list("pk", flat=True))
    out, _err = import_text(tmp_path, text)
    assert "0 created, 0 updated, 0 deactivated, 6 unchanged." in out
    assert sorted(FieldMapping.objects.values_list("pk", flat=True)) == mapping_pks


@pytest.mark.django_db
def test_a_new_integration_can_reuse_existing_connections(tmp_path, secrets_env, monkeypatch):
    build_integration()
    document = yaml.safe_load(run("export", "Demo")[0])
    document["name"] = "Demo copy"
    out, _err = run("import", "-", stdin=yaml.safe_dump(document, allow_unicode=True), monkeypatch=monkeypatch)
    assert 'integration "Demo copy": created' in out
    copy = Integration.objects.get(name="Demo copy")
    assert copy.erp_connection == Integration.objects.get(name="Demo").erp_connection
    assert copy.tables.count() == 3


@pytest.mark.django_db
def test_dry_run_checks_and_saves_nothing(tmp_path, secrets_env):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    delete_everything()
    out, _err = import_text(tmp_path, text, "--dry-run")
    assert "Dry run" in out
    assert 'integration "Demo": created' in out
    assert counts() == [0, 0, 0, 0, 0]


@pytest.mark.django_db
def test_the_documented_example_imports(tmp_path, monkeypatch):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "integration-yaml.md").read_text(encoding="utf-8")
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("SANKHYA_PASSWORD", "p")
    monkeypatch.setenv("PLOOMES_API_KEY", "k")
    out, _err = import_text(tmp_path, example)
    assert "5 created, 0 updated, 0 deactivated, 0 unchanged." in out
    assert Integration.objects.get().tables.get(name="Contact").mappings.count() == 3


@pytest.mark.django_db
def test_export_reads_a_fixed_number_of_queries(django_assert_max_num_queries):
    integration = build_integration()
    for number in range(5):
        table = SyncTable.objects.create(
            integration=integration, name=f"Extra {number}", source_object="x", target_object="y", record_key="k"
        )
        FieldMapping.objects.create(table=table, source_path="k", target_field="k")
    with django_assert_max_num_queries(3):
        run("export", "Demo")


@pytest.mark.django_db
def test_exporting_an_unknown_integration_names_the_known_ones():
    build_integration()
    with pytest.raises(CommandError, match=r'no integration is called "Nope" \(known: Demo\)'):
        run("export", "Nope")


# The alert webhook URL: a secret of the integration --------------------------------------------------------------

WEBHOOK = "https://hooks.slack.example/services/T0001/B0002/w3bh00kT0k3n"


@pytest.mark.django_db
def test_the_webhook_url_is_exported_as_a_reference_and_imported_from_the_environment(tmp_path, monkeypatch):
    integration = build_integration()
    integration.alert_webhook_url = WEBHOOK
    integration.save()

    text, err = run("export", "Demo", "--secrets-from-env")
    assert "w3bh00kT0k3n" not in text and "hooks.slack.example" not in text
    assert "alert_webhook_url: {env: DEMO_ALERT_WEBHOOK_URL}\n" in text
    assert "DEMO_ALERT_WEBHOOK_URL  (alert_webhook_url)" in err

    delete_everything()
    for name, value in {**ENV, "DEMO_ALERT_WEBHOOK_URL": WEBHOOK}.items():
        monkeypatch.setenv(name, value)
    import_text(tmp_path, text)
    assert Integration.objects.get(name="Demo").alert_webhook_url == WEBHOOK
    assert run("export", "Demo", "--secrets-from-env")[0] == text


@pytest.mark.django_db
def test_a_plain_export_leaves_the_webhook_out_and_an_import_keeps_the_stored_one(tmp_path):
    integration = build_integration()
    integration.alert_webhook_url = WEBHOOK
    integration.save()

    text, err = run("export", "Demo")
    assert "alert_webhook_url" not in yaml.safe_load(text) and "w3bh00kT0k3n" not in text
    assert "alert_webhook_url" in err.split("Secrets were left out", 1)[1]

    out, _err = import_text(tmp_path, text.replace("erp_version: '4.2'", "erp_version: '4.3'"))
    assert 'integration "Demo": updated' in out
    stored = Integration.objects.get(name="Demo")
    assert (stored.erp_version, stored.alert_webhook_url) == ("4.3", WEBHOOK)


@pytest.mark.django_db
def test_an_empty_webhook_url_in_the_file_removes_the_stored_one(tmp_path, secrets_env):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    assert "alert_webhook_url: ''\n" in text  # none set
    Integration.objects.filter(name="Demo").update(alert_webhook_url=WEBHOOK)  # encrypted by the field

    out, _err = import_text(tmp_path, text)
    assert 'integration "Demo": updated' in out
    assert Integration.objects.get(name="Demo").alert_webhook_url == ""


@pytest.mark.django_db
def test_a_webhook_url_written_in_the_file_or_missing_from_the_environment_is_refused(tmp_path, monkeypatch):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DEMO_HOOK", raising=False)

    written = refused(tmp_path, text.replace("alert_webhook_url: ''", f"alert_webhook_url: {WEBHOOK}"))
    assert "alert_webhook_url: secrets are not written in the file" in written
    missing = refused(tmp_path, text.replace("alert_webhook_url: ''", "alert_webhook_url: {env: DEMO_HOOK}"))
    assert "alert_webhook_url: the environment variable DEMO_HOOK is not set (or is empty)" in missing
    assert Integration.objects.get(name="Demo").alert_webhook_url == ""


@pytest.mark.django_db
def test_a_refused_webhook_url_from_the_environment_is_named_by_its_host_only(tmp_path, monkeypatch):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    for name, value in {**ENV, "DEMO_HOOK": "http://169.254.169.254/latest/w3bh00kT0k3n?sig=1"}.items():
        monkeypatch.setenv(name, value)

    message = refused(tmp_path, text.replace("alert_webhook_url: ''", "alert_webhook_url: {env: DEMO_HOOK}"))
    assert (
        'alert_webhook_url: Alert webhook URL: "http://169.254.169.254/…" is refused: '
        "169.254.169.254 is the cloud metadata address." in message
    )
    assert "w3bh00kT0k3n" not in message and "latest" not in message


@pytest.mark.django_db
def test_a_connection_whose_one_call_could_outlast_a_background_run_is_refused_in_the_file(tmp_path, secrets_env):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    document = yaml.safe_load(text)
    document["connections"]["erp"]["timeout_seconds"] = 3000
    before = counts()
    message = refused(tmp_path, yaml.safe_dump(document, sort_keys=False))
    assert "connections.erp.max_retries: One call could take up to" in message
    assert "longer than a background run may last (1 hour, SYNC_TASK_TIMEOUT)" in message
    assert counts() == before


@pytest.mark.django_db
def test_the_longest_wait_between_attempts_is_read_written_and_counted_in_the_worst_case(tmp_path, secrets_env):
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    document = yaml.safe_load(text)
    assert document["connections"]["erp"]["max_retry_after_seconds"] == 60  # the default, written out

    document["connections"]["erp"].update(timeout_seconds=30, max_retries=10, max_retry_after_seconds=900)
    message = refused(tmp_path, yaml.safe_dump(document, sort_keys=False))
    assert "connections.erp.max_retries: One call could take up to" in message
    assert "and up to 900 s between them" in message

    document["connections"]["erp"].update(max_retry_after_seconds=0)
    message = refused(tmp_path, yaml.safe_dump(document, sort_keys=False))
    assert "connections.erp.max_retry_after_seconds:" in message

    document["connections"]["erp"].update(max_retries=3, max_retry_after_seconds=120)
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    run("import", str(path))
    assert Connection.objects.get(name=document["connections"]["erp"]["name"]).max_retry_after_seconds == 120
