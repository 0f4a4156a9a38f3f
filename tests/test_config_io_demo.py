"""The demo integration, with every new kind of setting, as a YAML file: exported, imported, exported again."""

import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from sync.choices import SendOn, ValueType
from sync.models import Connection, Integration
from sync.sandbox.demo import DEMO_NAME, configure_demo

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
