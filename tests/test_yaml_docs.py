"""docs/integration-yaml.md keeps up with the importer: every key, choice and option documented, every example valid.

The document is read as the importer would read it: its ```yaml blocks are parsed, and each
example is imported (dry run) into an empty database, so an example that drifts from the
schema or the models' rules fails here, as does a key the importer accepts that the document
does not show.
"""

import re
from pathlib import Path

import pytest
import yaml

from sync.choices import AuthKind, FieldOwner, SendOn, Transform, ValueType, WriteMode
from sync.config_io import import_text, schema
from sync.config_io.problems import Problems
from sync.config_io.text import from_yaml
from sync.config_schema.values import file_value
from sync.models import AUTH_REQUIREMENTS, SECRET_FIELDS
from sync.transforms import TRANSFORM_OPTIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "integration-yaml.md"
TEXT = DOC.read_text(encoding="utf-8")
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
ANY_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^(#+) (.*)$", re.MULTILINE)
# The complete example references these; the import reads them from the environment.
EXAMPLE_ENV = {"SANKHYA_PASSWORD": "example-password", "PLOOMES_API_KEY": "example-key"}


# Reading the document ----------------------------------------------------------------------------------------------


def section(title: str, text: str = TEXT) -> str:
    """The text under the heading that starts with ``title``, down to the next heading of its level or above."""
    headings = list(HEADING.finditer(text))
    for index, heading in enumerate(headings):
        if heading.group(2).startswith(title):
            level = len(heading.group(1))
            end = next((h.start() for h in headings[index + 1 :] if len(h.group(1)) <= level), len(text))
            return text[heading.end() : end]
    raise AssertionError(f'docs/integration-yaml.md has no section "{title}"')


def yaml_blocks(text: str = TEXT) -> list[str]:
    return YAML_BLOCK.findall(text)


def prose(text: str) -> str:
    """``text`` without its fenced blocks (headings are outside blocks, so ``#`` comments never count)."""
    return ANY_BLOCK.sub("", text)


def table_rows(text: str) -> list[str]:
    """The first cell of each row of the Markdown tables in ``text`` (header and rule rows left out)."""
    cells = [line.split("|")[1].strip() for line in prose(text).splitlines() if line.startswith("|")]
    return [cell for cell in cells if cell and not set(cell) <= {"-", " "}]


def documented(rows: list[str], value: str) -> bool:
    """Whether a row starts with the value in backticks (quoted or not: `'null'`), e.g. "`none` (default)"."""
    return any(re.match(rf"`'?{re.escape(value)}'?`(\s|$)", row) for row in rows)


def complete_example() -> dict:
    return yaml.safe_load(yaml_blocks(section("A complete example"))[0])


def dicts_in(value):
    """Every mapping in a parsed YAML value, however deep."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from dicts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from dicts_in(item)


def mappings_in(text: str) -> list[dict]:
    """The field mappings written in the ```yaml blocks of ``text``."""
    return [item for block in yaml_blocks(text) for item in dicts_in(yaml.safe_load(block)) if "target_field" in item]


def missing(expected, found) -> list[str]:
    return [key for key in expected if key not in found]


# Every key the importer reads is shown -----------------------------------------------------------------------------


def test_the_document_has_its_yaml_examples_and_each_parses():
    blocks = yaml_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        # The importer's own reading: yaml.safe_load, and a key written twice in one mapping is refused.
        assert from_yaml(block, "integration-yaml.md") is not None, block[:200]


def test_the_complete_example_shows_every_integration_key():
    assert missing(schema.INTEGRATION, complete_example()) == []


def test_the_complete_example_shows_every_connection_key_and_the_secrets_section_the_others():
    connections = complete_example()["connections"]
    assert set(connections) == set(schema.CONNECTION_ROLES)
    fullest = max(connections.values(), key=len)
    # One connection shows every key but the secrets its authentication does not use.
    assert missing([key for key in schema.CONNECTION if key not in SECRET_FIELDS], fullest) == []
    by_auth = [item for block in yaml_blocks(section("Secrets")) for item in yaml.safe_load(block)]
    for kind in AuthKind.values:
        entries = [entry for entry in by_auth if entry.get("auth_kind") == kind]
        assert entries, f"the Secrets section shows no auth_kind: {kind}"
        assert missing(AUTH_REQUIREMENTS[kind], entries[0]) == [], kind
    for entry in by_auth:
        assert missing(entry, schema.CONNECTION) == [], "unknown connection keys in the Secrets section"
    shown = {key for entry in [*connections.values(), *by_auth] for key in entry}
    assert missing(schema.CONNECTION, shown) == []


def test_one_table_of_the_complete_example_shows_every_table_key_and_each_has_a_row():
    tables = complete_example()["tables"]
    fullest = max(tables, key=len)
    assert missing([*schema.TABLE, "mappings"], fullest) == []
    rows = table_rows(section("Table keys"))
    assert [key for key in [*schema.TABLE, "mappings"] if not documented(rows, key)] == []


def test_one_mapping_of_the_complete_example_shows_every_mapping_key_and_each_has_a_row():
    mappings = [mapping for table in complete_example()["tables"] for mapping in table["mappings"]]
    fullest = max(mappings, key=len)
    assert missing(schema.MAPPING, fullest) == []
    rows = table_rows(section("Mapping keys"))
    assert [key for key in schema.MAPPING if not documented(rows, key)] == []


def test_every_schedule_kind_is_shown_with_its_keys():
    cells = re.findall(r"`(\{kind: [^`]*\})`", prose(section("Schedules")))
    shown = {}
    for cell in cells:
        written = yaml.safe_load(cell)
        shown[written["kind"]] = set(written) - {"kind"}
    for kind, keys in schema.SCHEDULE_KEYS.items():
        assert shown.get(kind) == set(keys), f"the Schedules table lacks {{kind: {kind}, {', '.join(keys)}}}"


# Every choice and option is explained ------------------------------------------------------------------------------


def test_every_transform_has_an_example():
    shown = {mapping.get("transform") for mapping in mappings_in(section("Transforms"))}
    assert missing([file_value(value) for value in Transform.values], shown) == []


def test_every_transform_option_is_in_the_options_table():
    options = prose(section("Transform options"))
    rows = {row.split("|")[1].strip(): row for row in options.splitlines() if row.startswith("| `")}
    without = options.split("The other transforms", 1)[1] if "The other transforms" in options else ""
    for transform, allowed in TRANSFORM_OPTIONS.items():
        name = f"`{file_value(transform)}`"
        if not allowed:
            assert name in without, f"{name} is not listed among the transforms without options"
            continue
        assert name in rows, f"the Transform options table has no row for {name}"
        assert [option for option in allowed if f"`{option}`" not in rows[name]] == [], name


def test_every_value_type_has_a_row_and_an_example():
    part = section("Value types")
    rows = table_rows(part)
    values = [file_value(value) for value in ValueType.values]
    assert [value for value in values if not documented(rows, value)] == []
    shown = {mapping.get("value_type") for mapping in mappings_in(part)}
    assert missing(values, shown) == []


@pytest.mark.parametrize(
    ("title", "choices"),
    [("When a field is sent", SendOn), ("Write modes", WriteMode)],
)
def test_every_choice_has_a_row(title, choices):
    rows = table_rows(section(title))
    assert [value for value in choices.values if not documented(rows, value)] == []


def test_every_owner_is_explained():
    part = section("Who owns a field")
    assert [value for value in FieldOwner.values if not re.search(rf"^- `{value}`", part, re.MULTILINE)] == []


# Every example is accepted by the importer -------------------------------------------------------------------------


def test_the_complete_example_is_read_without_problems():
    problems = Problems(order=schema.path_order)
    document = schema.read_document(complete_example(), problems)
    assert problems.messages() == []
    assert document is not None and document.connections["erp"].secrets["password"].name == "SANKHYA_PASSWORD"


def _example_blocks():
    """Each ```yaml block after the complete example, with where it is (for the test's id)."""
    found = []
    for match in YAML_BLOCK.finditer(TEXT):
        line = TEXT.count("\n", 0, match.start()) + 1
        found.append(pytest.param(match.group(1), id=f"line-{line}"))
    return found[1:]


def _as_document(block: str) -> dict | None:
    """The complete example with the block's tables (or a table of its mappings) added; None for other blocks."""
    data, document = yaml.safe_load(block), complete_example()
    if isinstance(data, dict) and set(data) == {"tables"}:
        document["tables"] += data["tables"]
    elif isinstance(data, list) and all("target_field" in item for item in data):
        document["tables"].append(
            {
                "name": "Example",
                "source_object": "ListExamples",
                "target_object": "/Examples",
                "record_key": data[0]["source_path"],
                "mappings": data,
            }
        )
    elif isinstance(data, list) and all("auth_kind" in item for item in data):
        return None  # connection fragments: checked with the Secrets section above
    else:
        raise AssertionError(f"an example of an unknown shape (tables: … or a list of mappings):\n{block[:300]}")
    return document


@pytest.mark.django_db
def test_the_complete_example_imports(monkeypatch):
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    outcomes = import_text(yaml_blocks(section("A complete example"))[0], "integration-yaml.md", dry_run=True)
    assert [(outcome.kind, outcome.action) for outcome in outcomes] == [
        ("connection", "created"),
        ("connection", "created"),
        ("integration", "created"),
        ("table", "created"),
        ("table", "created"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("block", _example_blocks())
def test_every_other_example_imports(block, monkeypatch):
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    document = _as_document(block)
    if document is None:
        return
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    outcomes = import_text(text, "integration-yaml.md", dry_run=True)
    assert len([outcome for outcome in outcomes if outcome.kind == "table"]) == len(document["tables"])


@pytest.mark.django_db
def test_the_demo_tables_are_what_the_demo_configures():
    from demo.integration import DEMO_NAME, configure_demo
    from sync.config_io import export_text

    configure_demo("http://127.0.0.1:8000")
    exported = export_text(DEMO_NAME).text
    (block,) = yaml_blocks(section("The demo integration"))
    assert block.startswith("tables:\n")
    assert block.removeprefix("tables:\n") in exported
