"""A table's configuration, read once per run: its mappings, filter rules, match field and lookups."""

from __future__ import annotations

from dataclasses import dataclass

from ..lookups import LinkLookups
from ..mapping import FieldSpec, FilterRule, MappingResult
from ..models import SyncTable


@dataclass
class TablePlan:
    """A table's configuration, read once per run."""

    table: SyncTable
    specs: list[FieldSpec]
    rules: list[FilterRule]
    key_target_field: str
    lookups: LinkLookups

    @classmethod
    def load(cls, table: SyncTable) -> TablePlan:
        specs = [FieldSpec.from_model(mapping) for mapping in table.mappings.all()]
        key_target = table.match_field.strip() or next(
            (spec.target_field for spec in specs if spec.source_path == table.record_key), ""
        )
        return cls(table, specs, FilterRule.from_json(table.filter_rules), key_target, LinkLookups(table))

    def update_view(self, mapped: MappingResult) -> dict:
        """The fields an update may send. It addresses the record by its key in the URL: the key is not a change."""
        return {name: value for name, value in mapped.update_view().items() if name != self.table.target_key}
