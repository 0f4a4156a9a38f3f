"""The typed description of an integration file: its JSON Schema published and current, one set of messages.

The filter rules and the transform options are checked by the same models in the admin's JSON
fields and in a YAML import, so a mistake inside them reads the same in both.
"""

import html
import io
import json
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

from accounts.roles import IT
from demo.integration import FILE as DEMO_FILE
from sync import config_io
from sync.config_schema.document import IntegrationFile, json_schema, json_schema_text

from .test_config_io import ENV, build_integration, run
from .test_validation import table_post_data
from .test_yaml_docs import complete_example

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "docs" / "integration.schema.json"


def test_the_published_schema_is_what_the_models_describe():
    """When a key, a choice or an option changes, regenerate it: manage.py integration schema > docs/…"""
    assert PUBLISHED.read_text(encoding="utf-8") == json_schema_text()


def test_the_command_prints_the_schema():
    out = io.StringIO()
    call_command("integration", "schema", stdout=out)
    assert json.loads(out.getvalue()) == json_schema()


def test_the_schema_describes_the_keys_choices_and_options_of_the_file():
    schema = json_schema()
    assert schema["required"] == [
        "version",
        "name",
        "integration_type",
        "erp_name",
        "crm_name",
        "connections",
        "tables",
    ]
    assert schema["properties"]["version"] == {"const": 1, "title": "Version", "type": "integer"}
    table = schema["$defs"]["TableFile"]
    assert table["additionalProperties"] is False
    assert table["properties"]["direction"]["enum"] == ["erp_to_crm", "crm_to_erp"]
    rule = schema["$defs"]["FilterRule"]
    assert rule["required"] == ["field", "op"] and "approx" not in rule["properties"]["op"]["enum"]
    password = schema["$defs"]["ConnectionFile"]["properties"]["password"]
    assert {"$ref": "#/$defs/EnvReference"} in password["anyOf"]
    value_map = next(
        condition["then"]["properties"]["transform_options"]["anyOf"][0]
        for condition in schema["$defs"]["MappingFile"]["allOf"]
        if condition["if"].get("properties", {}).get("transform", {}).get("enum") == ["value_map"]
    )
    assert value_map["required"] == ["map"] and value_map["additionalProperties"] is False


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("demo/integration.yaml", DEMO_FILE.read_text(encoding="utf-8")),
        ("docs/integration-yaml.md", yaml.safe_dump(complete_example(), allow_unicode=True)),
    ],
)
def test_the_demo_file_and_the_documented_example_fit_the_schema(where, text):
    """What an editor checks against the schema, checked through the models it is generated from."""
    IntegrationFile.model_validate(yaml.safe_load(text))


def test_the_demo_file_and_the_documentation_point_editors_at_the_schema():
    first_line = DEMO_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../docs/integration.schema.json"
    assert (DEMO_FILE.parent / first_line.split("=", 1)[1]).resolve() == PUBLISHED
    assert "# yaml-language-server: $schema=" in (ROOT / "docs" / "integration-yaml.md").read_text(encoding="utf-8")


# The same message in the import and in the admin ---------------------------------------------------------------------

RULE = {"field": "CreditStatus", "op": "eq", "value": "A"}
KNOWN_OPERATORS = "eq, ne, in, gt, lt, empty, not_empty, matches"

FILTER_RULE_MISTAKES = [
    pytest.param(
        {**RULE, "name": 5}, 'rule 1: name: expected text, got the number 5: put it in quotes, e.g. "5"', id="type"
    ),
    pytest.param({**RULE, "colour": "red"}, "rule 1: unknown key colour", id="unknown-key"),
    pytest.param(
        {**RULE, "op": "approx"}, f'rule 1: unknown operator "approx" (known: {KNOWN_OPERATORS})', id="choice"
    ),
    pytest.param(
        {**RULE, "op": "matches", "value": "^(\\d{14}$"},
        'rule 1: operator "matches" needs a regular expression of at most 200 characters, e.g. ^\\d{14}$ '
        "(missing ), unterminated subpattern at position 1)",
        id="pattern",
    ),
    pytest.param(
        {**RULE, "op": "matches", "value": 14},
        'rule 1: operator "matches" needs a regular expression of at most 200 characters, e.g. ^\\d{14}$ (none given)',
        id="pattern-type",
    ),
]
OPTION_MISTAKES = [
    pytest.param("decimal", {"places": "2"}, 'option "places" of transform "decimal" has the wrong type', id="type"),
    pytest.param("trim", {"places": 2}, 'unknown option "places" for transform "trim" (known: none)', id="unknown-key"),
    pytest.param("decimal", {"decimal_separator": ";"}, 'option "decimal_separator" must be "." or ","', id="choice"),
]


def imported(change) -> list[str]:
    """The messages an import of the exported test integration answers with, once ``change`` is made to it."""
    build_integration()
    document = yaml.safe_load(run("export", "Demo", "--secrets-from-env")[0])
    change(document)
    with pytest.raises(config_io.ConfigError) as refused:
        config_io.import_text(yaml.safe_dump(document, sort_keys=False), "integration.yaml", environ=ENV)
    return refused.value.messages


def admin_page(client, integration, mapping=None, **table) -> str:
    mappings = [{"source_path": "Email", "target_field": "Email", **(mapping or {})}]
    response = client.post(reverse("admin:sync_synctable_add"), table_post_data(integration, mappings, **table))
    assert response.status_code == 200, "the form was accepted"
    return html.unescape(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(("rule", "message"), FILTER_RULE_MISTAKES)
def test_a_mistake_in_a_filter_rule_reads_the_same_in_the_import_and_in_the_admin(login_as, integration, rule, message):
    page = admin_page(login_as(IT), integration, filter_rules=json.dumps([rule]))
    assert message in page

    messages = imported(lambda document: document["tables"][0].update(filter_rules=[rule]))
    assert f"tables[0].filter_rules: {message}" in messages


@pytest.mark.django_db
@pytest.mark.parametrize(("transform", "options", "message"), OPTION_MISTAKES)
def test_a_mistake_in_transform_options_reads_the_same_in_the_import_and_in_the_admin(
    login_as, integration, transform, options, message
):
    page = admin_page(login_as(IT), integration, {"transform": transform, "transform_options": json.dumps(options)})
    assert message in page

    def change(document):
        document["tables"][0]["mappings"][1].update(transform=transform, transform_options=options)

    assert imported(change) == [f"tables[0].mappings[1].transform_options: {message}"]
