"""The demo integration, with every new kind of setting, as a YAML file: exported, imported, exported again."""

import io
from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from django.utils.translation import gettext

from demo.choices import SandboxSystem
from demo.integration import DEMO_NAME, DOCUMENT, FILE, FILE_ORIGIN, TABLES, configure_demo, configure_table
from demo.models import ERP_USERNAME
from demo.seed import ensure_knobs
from demo.words import WORDS
from sync.choices import SendOn, ValueType
from sync.models import Connection, Integration

pytestmark = pytest.mark.django_db


def command(*args) -> str:
    out = io.StringIO()
    call_command("integration", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def import_file(tmp_path, text) -> str:
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return command("import", str(path))


@pytest.fixture
def exported(monkeypatch):
    configure_demo("http://127.0.0.1:8000")
    text = command("export", DEMO_NAME, "--secrets-from-env")
    monkeypatch.setenv("DEMO_ERP_PASSWORD", "p")
    monkeypatch.setenv("DEMO_CRM_API_KEY", "k")
    return text


def test_the_demo_integration_round_trips_with_its_typed_keyed_and_linked_settings(tmp_path, exported):
    document = yaml.safe_load(exported)
    tables = {table["name"]: table for table in document["tables"]}
    assert tables["Order status"]["read_per_link_of"] == "Order"
    assert tables["Company"]["match_field"] == "CNPJ"
    assert tables["Company"]["update_changed_fields_only"] is True
    code, *_rest, type_id = tables["Company"]["mappings"]
    assert (code["target_field"], code["value_type"]) == (
        "OtherProperties[FieldKey=contact_ERP_CODE].StringValue",
        "text",
    )
    assert (type_id["target_field"], type_id["send_on"]) == ("TypeId", "create")
    lines = [m for m in tables["Order"]["mappings"] if m["target_field"].startswith("lines[]")]
    assert [m["source_path"] for m in lines] == ["Products[].ProductId", "Products[].Quantity", "Products[].UnitPrice"]

    Integration.objects.all().delete()
    Connection.objects.all().delete()
    import_file(tmp_path, exported)
    assert command("export", DEMO_NAME, "--secrets-from-env") == exported
    integration = Integration.objects.get(name=DEMO_NAME)
    status = integration.tables.get(name="Order status")
    assert status.read_per_link_of == integration.tables.get(name="Order")
    price = integration.tables.get(name="Product").mappings.get(target_field="Price")
    assert price.value_type == ValueType.DECIMAL
    assert integration.tables.get(name="Product").mappings.get(target_field="Code").send_on == SendOn.CREATE


def test_a_table_read_per_link_of_an_unknown_table_is_refused_with_its_path(tmp_path, exported):
    text = exported.replace("read_per_link_of: Order\n", "read_per_link_of: Orders\n")
    with pytest.raises(CommandError) as refused:
        import_file(tmp_path, text)
    assert 'tables[4].read_per_link_of: no table named "Orders" in this file' in str(refused.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("send_on: create", "send_on: later", 'unknown send_on "later"'),
        ("value_type: decimal", "value_type: money", 'unknown value_type "money"'),
        (
            "target_field: lines[].quantity",
            "target_field: quantity",
            "A source path with [] maps each item of a list: the target needs [] too",
        ),
    ],
)
def test_bad_new_settings_are_refused_with_a_message(tmp_path, exported, old, new, message):
    assert old in exported
    with pytest.raises(CommandError) as refused:
        import_file(tmp_path, exported.replace(old, new, 1))
    assert message in str(refused.value)


def test_the_shipped_file_imported_as_it_is_configures_what_the_demo_sets_up(monkeypatch):
    configure_demo(FILE_ORIGIN)
    set_up = command("export", DEMO_NAME, "--secrets-from-env")
    knobs = ensure_knobs()
    Integration.objects.all().delete()
    Connection.objects.all().delete()
    monkeypatch.setenv("DEMO_ERP_PASSWORD", knobs[SandboxSystem.ERP].password)
    monkeypatch.setenv("DEMO_CRM_API_KEY", knobs[SandboxSystem.CRM].api_key)

    command("import", str(FILE))

    assert command("export", DEMO_NAME, "--secrets-from-env") == set_up
    assert Connection.objects.get(name="Demo ERP").password == knobs[SandboxSystem.ERP].password


def test_the_demo_points_at_the_portals_origin_with_the_demo_systems_credentials():
    integration = configure_demo("http://localhost:9000/", schedule_minutes=15)
    knobs = ensure_knobs()
    erp, crm = integration.erp_connection, integration.crm_connection
    assert erp.wsdl_url == "http://localhost:9000/sandbox/erp/soap?wsdl"
    assert crm.base_url == "http://localhost:9000/sandbox/crm"
    assert integration.schedule_interval_minutes == 15
    assert (erp.username, erp.password) == (ERP_USERNAME, knobs[SandboxSystem.ERP].password)
    assert crm.api_key == knobs[SandboxSystem.CRM].api_key


def test_every_word_of_the_file_is_marked_for_translation_and_translated():
    words = [DOCUMENT["description"], DOCUMENT["business_rule"]]
    for table in DOCUMENT["tables"]:
        words += [table["description"], *(rule["name"] for rule in table.get("filter_rules", []))]
    assert sorted(words) == sorted(WORDS)
    with translation.override("pt-br"):
        assert [word for word in WORDS if gettext(word) == word] == []


def test_a_table_of_the_demo_joins_another_integration_through_the_import():
    demo = configure_demo(FILE_ORIGIN)
    other = Integration.objects.create(
        name="Contacts only",
        integration_type=demo.integration_type,
        erp_name="Demo ERP",
        crm_name="Demo CRM",
        erp_connection=demo.erp_connection,
        crm_connection=demo.crm_connection,
    )
    contact = next(table for table in TABLES if table["name"] == "Contact")
    alone = {**contact, "mappings": [m for m in contact["mappings"] if m.get("transform") != "lookup"]}

    table = configure_table(other, 3, alone)
    again = configure_table(other, 1, alone)

    assert again.pk == table.pk and other.tables.count() == 1
    assert (again.order, again.max_wait_for_parent) == (1, timedelta(days=30))
    targets = list(again.mappings.order_by("position").values_list("target_field", flat=True))
    assert targets == ["Email", "Name", "CPF", "TypeId"]
    assert Connection.objects.get(name="Demo ERP").password == ensure_knobs()[SandboxSystem.ERP].password
    assert demo.tables.count() == 5
