"""Limits on what people and files can ask: each refusal is a clear message, never a traceback or a 500.

A YAML import refuses aliases (a billion laughs), deep nesting, lone surrogates, huge numbers,
too many values and too large a file; JSON typed in the admin refuses deep nesting, NaN and
Infinity and huge numbers; every number people set has a range, a cron expression must fire,
and a number stored out of range before the ranges existed cannot make a page fail.
"""

import html
import time
import tracemalloc
from datetime import timedelta

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.roles import IT
from monitoring.models import IntegrationState
from sync import config_io
from sync.choices import ScheduleKind
from sync.json_input import MAX_DEPTH, JSONInputField
from sync.models import Connection, FieldMapping, Integration, SyncTable
from sync.schedules import Timing
from sync.validators import check_cron

from .test_config_io import ENV, build_integration, import_text, run
from .test_validation import post_connection, post_integration, table_post_data

pytestmark = pytest.mark.django_db

SECONDS = 5  # every refusal answers within this


def refused(text: str) -> list[str]:
    """The messages an import of ``text`` answers with, checking it answers quickly."""
    started = time.monotonic()
    with pytest.raises(config_io.ConfigError) as excinfo:
        config_io.import_text(text, "integration.yaml", environ=ENV)
    assert time.monotonic() - started < SECONDS
    return excinfo.value.messages


def exported() -> dict:
    """A valid integration file (the one ``build_integration`` saves), as parsed YAML, the database emptied."""
    build_integration()
    text, _err = run("export", "Demo", "--secrets-from-env")
    Integration.objects.all().delete()
    Connection.objects.all().delete()
    return yaml.safe_load(text)


def as_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False)


# YAML files ----------------------------------------------------------------------------------------------------------

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_a_billion_laughs_is_refused_at_its_first_alias_without_expanding_it():
    tracemalloc.start()
    try:
        messages = refused(BILLION_LAUGHS)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert messages == ["integration.yaml, line 2, column 8: aliases (*a) are not allowed: write the value out in full"]
    assert peak < 50 * 1024 * 1024


def test_the_command_refuses_a_billion_laughs_with_a_message(tmp_path):
    with pytest.raises(CommandError) as excinfo:
        import_text(tmp_path, BILLION_LAUGHS)
    assert "aliases (*a) are not allowed" in str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a: " + "[" * 5000 + "]" * 5000, "line 1, column 53: nested more than 50 levels deep", id="flow"),
        pytest.param(
            "".join("  " * level + f"k{level}:\n" for level in range(60)) + "  " * 60 + "x",
            "line 50, column 99: nested more than 50 levels deep",
            id="block",
        ),
    ],
)
def test_deep_nesting_is_refused(text, message):
    assert refused(text) == [f"integration.yaml, {message}"]


def test_a_lone_surrogate_is_refused_with_its_line():
    document = exported()
    text = as_yaml(document).replace("description: Sankhya to Ploomes for ACME", 'description: "ACME \\ud800"')
    assert refused(text) == [
        "integration.yaml, line 3, column 14: the text holds a lone surrogate "
        "(an escape from \\ud800 to \\udfff), which is not a character"
    ]


def test_an_integer_of_5000_digits_is_refused():
    assert refused("version: 1\npage_size: " + "9" * 5000) == [
        "integration.yaml, line 2, column 12: a number longer than 100 characters"
    ]


def test_too_many_values_are_refused():
    text = "version: 1\ntables: [" + ", ".join(["1"] * 100_001) + "]"
    assert refused(text) == ["integration.yaml, line 2, column 299995: the file holds more than 100000 values"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(settings):
    text = "# " + "x" * (5 * 1024 * 1024) + "\nversion: 1\n"
    message = "integration.yaml is larger than 5.0\xa0MB, the most an import reads (setting CONFIG_IMPORT_MAX_BYTES)"
    assert refused(text) == [message]
    settings.CONFIG_IMPORT_MAX_BYTES = 1000
    assert refused("é" * 501) == [message.replace("5.0\xa0MB", "1000\xa0bytes")]  # bytes, not characters


def nested(levels: int):
    value = 1
    for _level in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("tables[0].read_arguments", {"since": float("nan")}, "NaN and Infinity are not JSON numbers"),
        ("tables[0].filter_rules", [{"field": "Credit", "op": "gt", "value": float("inf")}], "NaN and Infinity"),
        ("tables[0].mappings[3].transform_options", {"value": 10**60}, "A number has more than 50 digits."),
        ("tables[0].mappings[3].default_value", nested(MAX_DEPTH + 1), "It is nested too deeply"),
    ],
)
def test_json_values_of_a_file_that_cannot_be_stored_are_refused_at_their_path(where, value, message):
    document = exported()
    table = document["tables"][0]
    if "mappings" in where:
        table["mappings"][3][where.rsplit(".", 1)[1]] = value
    else:
        table[where.rsplit(".", 1)[1]] = value
    messages = refused(as_yaml(document))
    assert len(messages) == 1 and messages[0].startswith(f"{where}: ") and message in messages[0], messages


# Numbers of the configuration ----------------------------------------------------------------------------------------


def test_numbers_out_of_range_in_a_file_are_refused_at_their_path_and_the_edges_are_accepted():
    document = exported()
    document["schedule"] = {"kind": "interval", "every_minutes": 43_200}
    document["connections"]["erp"]["timeout_seconds"] = 10**9
    document["connections"]["crm"]["rate_limit_per_minute"] = 10**12
    document["tables"][0]["delete_threshold"] = 10**30
    assert refused(as_yaml(document)) == [
        "schedule.every_minutes: Enter from 1 to 10080 minutes (7 days); to run less often, "
        "choose a daily or a cron schedule.",
        "connections.erp.timeout_seconds: Enter a whole number from 1 to 3600.",
        "connections.crm.rate_limit_per_minute: Enter a whole number from 1 to 60000.",
        "tables[0].delete_threshold: Enter a whole number from 0 to 1000000.",
    ]
    document["schedule"]["every_minutes"] = 10_080
    document["connections"]["erp"]["timeout_seconds"] = 600
    document["connections"]["crm"]["rate_limit_per_minute"] = 60_000
    document["tables"][0]["delete_threshold"] = 1_000_000
    config_io.import_text(as_yaml(document), "integration.yaml", environ=ENV)
    assert Integration.objects.get().schedule_interval_minutes == 10_080


@pytest.fixture
def instances(integration):
    table = integration.tables.get()
    return {
        Connection: integration.crm_connection,
        Integration: integration,
        SyncTable: table,
        FieldMapping: table.mappings.first(),
    }


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("model", "field", "refused_values", "edges", "message"),
    [
        (Connection, "timeout_seconds", [0, 3601, 10**9], [1, 3600], "Enter a whole number from 1 to 3600."),
        (Connection, "max_retries", [11, 10**6], [0, 10], "Enter a whole number from 0 to 10."),
        (Connection, "max_retry_after_seconds", [0, 3601, 10**9], [1, 3600], "Enter a whole number from 1 to 3600."),
        (Connection, "page_size", [0, 10_001, 10**9], [1, 10_000], "Enter a whole number from 1 to 10000."),
        (Connection, "rate_limit_per_minute", [0, 10**12], [1, 60_000], "Enter a whole number from 1 to 60000."),
        (
            Integration,
            "schedule_interval_minutes",
            [10_081, 43_200, 10**12],
            [1, 10_080],
            "Enter from 1 to 10080 minutes (7 days); to run less often, choose a daily or a cron schedule.",
        ),
        (Integration, "max_time_without_success", [366 * DAY], [365 * DAY], "Enter at most 365 days."),
        (SyncTable, "order", [10_001, 10**9], [0, 10_000], "Enter a whole number from 0 to 10000."),
        (SyncTable, "delete_threshold", [10**6 + 1], [0, 10**6], "Enter a whole number from 0 to 1000000."),
        (SyncTable, "max_time_without_success", [366 * DAY], [365 * DAY, None], "Enter at most 365 days."),
        (SyncTable, "max_wait_for_parent", [91 * DAY], [timedelta(0), 90 * DAY], "Enter at most 90 days."),
        (FieldMapping, "position", [10_001, 10**9], [0, 10_000], "Enter a whole number from 0 to 10000."),
    ],
)
def test_every_number_people_set_has_a_range(instances, model, field, refused_values, edges, message):
    instance = instances[model]
    if field == "schedule_interval_minutes":
        instance.schedule_kind = ScheduleKind.INTERVAL
    for value in refused_values:
        setattr(instance, field, value)
        with pytest.raises(ValidationError) as excinfo:
            instance.full_clean()
        assert excinfo.value.message_dict[field] == [message], value
    for value in edges:
        setattr(instance, field, value)
        try:
            instance.full_clean()
        except ValidationError as exc:
            assert field not in exc.message_dict, (value, exc.message_dict)


def form_errors(response) -> str:
    assert response.status_code == 200, "the form was accepted"
    return html.unescape(response.content.decode())


def test_the_admin_forms_refuse_numbers_out_of_range(login_as, erp_connection, crm_connection, integration):
    client = login_as(IT)
    response = post_integration(
        client, erp_connection, crm_connection, schedule_kind="interval", schedule_interval_minutes="43200"
    )
    assert "Enter from 1 to 10080 minutes (7 days); to run less often, choose a daily or a cron schedule." in (
        form_errors(response)
    )
    response = post_integration(client, erp_connection, crm_connection, max_time_without_success="400d")
    assert "Enter at most 365 days." in form_errors(response)
    assert not Integration.objects.filter(name="New integration").exists()

    response = post_connection(client, base_url="https://x.example", timeout_seconds=str(10**9))
    assert "Enter a whole number from 1 to 3600." in form_errors(response)
    response = post_connection(client, base_url="https://x.example", page_size=str(10**9), max_retries=str(10**6))
    page = form_errors(response)
    assert "Enter a whole number from 1 to 10000." in page and "Enter a whole number from 0 to 10." in page
    assert not Connection.objects.filter(name="Connection").exists()

    data = table_post_data(
        integration,
        [{"source_path": "Email", "target_field": "Email", "position": str(10**9)}],
        delete_threshold=str(10**9),
        max_wait_for_parent="1000d",
    )
    page = form_errors(client.post(reverse("admin:sync_synctable_add"), data))
    assert "Enter a whole number from 0 to 1000000." in page
    assert "Enter at most 90 days." in page
    assert "Enter a whole number from 0 to 10000." in page
    assert not SyncTable.objects.filter(name="Contact").exists()


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_cron_expression_that_never_fires_is_refused(login_as, erp_connection, crm_connection, cron):
    started = time.monotonic()
    assert check_cron(cron) == [f'"{cron}" never runs: no date matches it (e.g. the 31st of February).']
    assert time.monotonic() - started < 1
    response = post_integration(login_as(IT), erp_connection, crm_connection, schedule_kind="cron", schedule_cron=cron)
    assert "never runs: no date matches it" in form_errors(response)


def test_a_cron_expression_that_fires_rarely_is_accepted():
    assert check_cron("0 0 29 2 *") == []  # every leap year
    assert check_cron("*/15 8-18 * * 1-5") == []


@pytest.mark.parametrize("minutes", [10**12, 2**31 - 1], ids=["past-year-9999", "largest-postgresql-integer"])
def test_an_interval_stored_out_of_range_does_not_break_any_page(login_as, integration, minutes):
    """Stored before the ranges existed: 10^12 minutes is past the calendar's end (year 9999), on SQLite; PostgreSQL's
    integer column refuses it by itself, and takes at most 2^31 - 1 minutes (four thousand years)."""
    if minutes > 2**31 - 1 and connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's integer column refuses it by itself")
    IntegrationState.objects.filter(pk=integration.pk).update(last_queued_at=timezone.now() - timedelta(hours=1))
    Integration.objects.filter(pk=integration.pk).update(
        schedule_kind=ScheduleKind.INTERVAL, schedule_interval_minutes=minutes
    )
    integration.refresh_from_db()
    assert not Timing.of(integration).is_scheduled  # no slot within a century: not scheduled
    integration.save()  # the schedule follows the configuration (it raised OverflowError)
    assert IntegrationState.objects.get(pk=integration.pk).next_run_at is None
    client = login_as(IT)
    for url in (
        reverse("admin:index"),
        reverse("admin:integration", args=[integration.pk]),
        reverse("admin:sync_integration_change", args=[integration.pk]),
        reverse("admin:sync_integration_changelist"),
    ):
        assert client.get(url).status_code == 200, url


def test_a_long_interval_stored_before_the_ranges_still_runs():
    stored = Integration(schedule_kind=ScheduleKind.INTERVAL, schedule_interval_minutes=43_200)
    assert Timing.of(stored).interval == timedelta(days=30)


# JSON typed in the admin ---------------------------------------------------------------------------------------------

BAD_JSON = [
    pytest.param("[" * 5000 + "]" * 5000, "It is nested too deeply: at most 32 levels", id="5000 levels"),
    pytest.param('{"x": NaN}', "NaN and Infinity are not JSON numbers: write a number, or null.", id="NaN"),
    pytest.param("[Infinity, -Infinity]", "NaN and Infinity are not JSON numbers", id="Infinity"),
    pytest.param("1e999", "NaN and Infinity are not JSON numbers", id="overflowing float"),
    pytest.param('{"x": ' + "7" * 5000 + "}", "A number has more than 50 digits.", id="5000 digits"),
]


@pytest.mark.parametrize(("text", "message"), BAD_JSON)
@pytest.mark.parametrize("field", ["read_arguments", "filter_rules"])
def test_the_table_form_refuses_json_that_cannot_be_stored(login_as, integration, field, text, message):
    data = table_post_data(integration, [{"source_path": "Email", "target_field": "Email"}], **{field: text})
    page = form_errors(login_as(IT).post(reverse("admin:sync_synctable_add"), data))
    assert message in page
    assert not SyncTable.objects.filter(name="Contact").exists()


@pytest.mark.parametrize(("text", "message"), BAD_JSON)
@pytest.mark.parametrize("field", ["transform_options", "default_value"])
def test_the_mapping_rows_refuse_json_that_cannot_be_stored(login_as, integration, field, text, message):
    mappings = [{"source_path": "Email", "target_field": "Email", field: text}]
    page = form_errors(login_as(IT).post(reverse("admin:sync_synctable_add"), table_post_data(integration, mappings)))
    assert message in page
    assert not SyncTable.objects.filter(name="Contact").exists()


def test_the_table_change_form_refuses_deep_json_and_keeps_what_was_typed(login_as, integration):
    table = integration.tables.get()
    mappings = list(table.mappings.all())
    data = {
        **table_post_data(integration, [], name=table.name, record_key=table.record_key),
        "read_arguments": "[" * 5000 + "]" * 5000,
        "mappings-TOTAL_FORMS": str(len(mappings)),
        "mappings-INITIAL_FORMS": str(len(mappings)),
    }
    for index, mapping in enumerate(mappings):
        row = {
            "id": mapping.pk,
            "table": table.pk,
            "position": mapping.position,
            "source_path": mapping.source_path,
            "target_field": mapping.target_field,
            "transform": mapping.transform,
            "transform_options": "{}",
            "value_type": mapping.value_type,
            "send_on": mapping.send_on,
            "owner": mapping.owner,
            "default_value": '{"x": NaN}' if index == 0 else "",
        }
        data.update({f"mappings-{index}-{key}": value for key, value in row.items()})
    page = form_errors(login_as(IT).post(reverse("admin:sync_synctable_change", args=[table.pk]), data))
    assert "It is nested too deeply" in page and "NaN and Infinity are not JSON numbers" in page
    assert "[" * 5000 in page  # shown back as typed, to be corrected
    table.refresh_from_db()
    assert table.read_arguments == {}


def test_json_within_the_limits_is_accepted():
    field = JSONInputField()
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert field.clean(nested) is not None
    assert field.clean('{"x": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "n": 1.5, "big": ' + "9" * 50 + "}") == {
        "x": "[" * 44,
        "n": 1.5,
        "big": int("9" * 50),
    }
