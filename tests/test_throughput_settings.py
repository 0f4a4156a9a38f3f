"""A connection's calls in flight and daily call limit, a table's batch writes: checked, and kept in the file.

A table writes in batches only to a REST connection, and a HubSpot upsert only by a match field; the
five settings come back from an export as they were imported.
"""

import pytest
import yaml
from django.core.exceptions import ValidationError

from sync.choices import BatchKind, Direction
from sync.config_io import ConfigError, export_text, import_text
from sync.models import Connection, SyncTable


def company(integration) -> SyncTable:
    return integration.tables.get(name="Company")  # Sankhya (SOAP) → Ploomes (REST), its key CNPJ mapped


def batch_errors(table) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        table.full_clean()
    return refused.value.message_dict.get("batch_kind", [])


def test_a_table_writing_to_a_rest_connection_may_write_in_batches(integration):
    table = company(integration)
    table.batch_kind, table.batch_size, table.batch_path = BatchKind.JSON_ARRAY, 50, "Contacts/batch"

    table.full_clean()


def test_batches_to_a_soap_connection_are_refused_by_name(integration):
    table = company(integration)
    table.direction, table.batch_kind = Direction.CRM_TO_ERP, BatchKind.ODATA_BATCH

    assert batch_errors(table) == [
        "Batch writes need a REST connection to write to; Sankhya is not one: choose one record per call."
    ]


def test_a_hubspot_upsert_needs_a_field_to_find_records_by(integration):
    table = company(integration)
    table.batch_kind = BatchKind.HUBSPOT_UPSERT
    table.full_clean()  # the record key CNPJ is mapped to CNPJ

    table.mappings.filter(source_path="CNPJ").delete()
    table.record_key = "Name"  # mapped to Name: found by it
    table.full_clean()

    table.mappings.all().delete()
    assert batch_errors(table) == [
        "A HubSpot batch upsert finds records by a field: fill in “match existing records by”, "
        "or map the record key to a target field."
    ]

    table.match_field = "email"
    table.full_clean()


def test_calls_in_flight_and_batch_sizes_stay_within_their_ranges(integration):
    connection, table = integration.crm_connection, company(integration)
    connection.max_in_flight, table.batch_size = 33, 1

    with pytest.raises(ValidationError) as connection_refused:
        connection.full_clean()
    with pytest.raises(ValidationError) as table_refused:
        table.full_clean()

    assert connection_refused.value.message_dict["max_in_flight"] == ["Enter a whole number from 1 to 32."]
    assert table_refused.value.message_dict["batch_size"] == ["Enter a whole number from 2 to 100."]


def test_the_settings_round_trip_through_the_file(integration):
    document = yaml.safe_load(export_text(integration.name).text)
    document["connections"]["crm"].update(max_in_flight=4, daily_call_limit=120_000)
    document["tables"][0].update(batch_kind="hubspot_upsert", batch_size=50, batch_path="crm/v3/objects/batch/upsert")

    import_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "integration.yaml")

    crm, table = Connection.objects.get(name="Ploomes"), company(integration)
    assert (crm.max_in_flight, crm.daily_call_limit) == (4, 120_000)
    assert (table.batch_kind, table.batch_size, table.batch_path) == (
        BatchKind.HUBSPOT_UPSERT,
        50,
        "crm/v3/objects/batch/upsert",
    )
    again = yaml.safe_load(export_text(integration.name).text)
    assert again["connections"]["crm"]["daily_call_limit"] == 120_000
    assert again["connections"]["erp"]["max_in_flight"] == 1
    assert {key: again["tables"][0][key] for key in ("batch_kind", "batch_size", "batch_path")} == {
        "batch_kind": "hubspot_upsert",
        "batch_size": 50,
        "batch_path": "crm/v3/objects/batch/upsert",
    }


def test_a_file_whose_table_batches_to_a_soap_connection_is_refused_at_its_path(integration):
    document = yaml.safe_load(export_text(integration.name).text)
    document["name"] = "A new integration"  # its tables are new: no integration to look the connection up in
    document["tables"][0].update(direction="crm_to_erp", batch_kind="json_array")

    with pytest.raises(ConfigError) as refused:
        import_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "integration.yaml")

    assert (
        "tables[0].batch_kind: Batch writes need a REST connection to write to; Sankhya is not one: "
        "choose one record per call." in refused.value.messages
    )
