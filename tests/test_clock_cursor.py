"""A table's cursor from the clock (``cursor_clock_format``): for sources whose lists filter by a change date the
records do not carry (Bling's ``dataAlteracaoInicial``). Runs against Bling are in test_preset_bling_ploomes.py."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from sync.models import Connection, Integration, SyncTable
from sync.steps.keys import cursor_at_start

NOW = datetime(2026, 12, 5, 10, 0, 30, tzinfo=UTC)
ZONE_REFUSED = "Unknown time zone: write one such as America/Sao_Paulo."
FORMAT_REFUSED = "Write the format with codes such as %Y-%m-%d %H:%M:%S."


def table(**fields) -> SyncTable:
    values = {
        "name": "Company",
        "source_object": "/contatos",
        "target_object": "/Contacts",
        "record_key": "id",
        "incremental_filter": "dataAlteracaoInicial={cursor}",
        "cursor_clock_format": "%Y-%m-%d %H:%M:%S",
        "cursor_clock_zone": "America/Sao_Paulo",
        **fields,
    }
    return SyncTable(**values)


def test_the_clock_cursor_is_the_read_s_start_less_the_overlap_in_the_source_s_zone_and_format():
    assert cursor_at_start(table(), NOW) == "2026-12-05 06:55:30"
    assert cursor_at_start(table(cursor_clock_overlap=timedelta(0), cursor_clock_zone=""), NOW) == "2026-12-05 10:00:30"
    assert cursor_at_start(table(cursor_clock_format="%d/%m/%Y %H:%M"), NOW) == "05/12/2026 06:55"


def test_without_a_clock_the_cursor_starts_from_the_committed_one():
    committed = table(cursor_clock_format="", cursor_field="DTALTER", cursor_value="05/12/2026 10:20:30")
    assert cursor_at_start(committed, NOW) == "05/12/2026 10:20:30"
    assert committed.reads_changes_only and table().reads_changes_only
    assert not table(cursor_clock_format="", incremental_filter="").reads_changes_only


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cursor_field": "alteracao"}, "cursor_field", "Choose one cursor: a record field or the clock, not both."),
        (
            {"incremental_filter": ""},
            "incremental_filter",
            "A cursor from the clock needs an incremental filter with {cursor}, or every run reads everything.",
        ),
        ({"cursor_clock_zone": "Brasilia"}, "cursor_clock_zone", ZONE_REFUSED),
        ({"cursor_clock_format": "YYYY-MM-DD"}, "cursor_clock_format", FORMAT_REFUSED),
        ({"cursor_clock_overlap": timedelta(days=2)}, "cursor_clock_overlap", None),
    ],
)
def test_a_clock_cursor_that_cannot_work_is_refused_in_words(fields, field, message):
    connection = Connection.objects.create(name="Bling", kind="rest", base_url="https://api.bling.com.br/Api/v3")
    integration = Integration.objects.create(
        name="Bling", integration_type="rest", erp_name="Bling", crm_name="Ploomes",
        erp_connection=connection, crm_connection=connection,
    )  # fmt: skip
    table(integration=integration).full_clean()  # the table as the preset writes it is fine
    with pytest.raises(ValidationError) as refused:
        table(integration=integration, **fields).full_clean()
    assert field in refused.value.message_dict
    if message:
        assert refused.value.message_dict[field] == [message]


@pytest.mark.django_db
def test_changing_the_clock_s_format_or_zone_starts_the_reading_over():
    connection = Connection.objects.create(name="Bling", kind="rest", base_url="https://api.bling.com.br/Api/v3")
    integration = Integration.objects.create(
        name="Bling", integration_type="rest", erp_name="Bling", crm_name="Ploomes",
        erp_connection=connection, crm_connection=connection,
    )  # fmt: skip
    saved = table(integration=integration, cursor_value="2026-12-05 06:55:00")
    saved.save()
    saved = SyncTable.objects.get(pk=saved.pk)
    saved.cursor_clock_overlap = timedelta(minutes=10)
    saved.save()
    assert SyncTable.objects.get(pk=saved.pk).cursor_value == "2026-12-05 06:55:00"
    saved.cursor_clock_zone = "UTC"
    saved.save()
    assert SyncTable.objects.get(pk=saved.pk).cursor_value == ""
