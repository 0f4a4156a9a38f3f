"""Lookups through another table's record links: an ERP customer code ↔ a CRM company id.

A table that moves the other way than the referenced one reads that table's target keys
(a CRM order's ``ContactId`` is the target key of the Company table's links, and becomes
its source key, the ERP code); a table moving the same way reads its source keys. The
same rule says which key of a linked record a per-link read sends to the source.
"""

from __future__ import annotations

from decimal import Decimal

from core import stored_messages as stored

from .mapping import LookupFailed
from .models import RecordLink, SyncTable


def key_text(value) -> str:
    """A key as the links store it: 40001002 and 40001002.0 are both "40001002"."""
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value)


def reads_target_keys(table: SyncTable, referenced: SyncTable) -> bool:
    """Whether ``table``'s source system is ``referenced``'s target (they move opposite ways)."""
    return table.direction != referenced.direction


class LinkLookups:
    """Resolves ``lookup`` mappings of one table during a run (one query per key, remembered per run)."""

    def __init__(self, table: SyncTable):
        self.table = table
        self._tables: dict[str, SyncTable] | None = None
        self._found: dict[tuple[int, str], str | None] = {}

    def referenced(self, name: str) -> SyncTable:
        if self._tables is None:
            self._tables = {
                table.name: table for table in SyncTable.objects.filter(integration=self.table.integration_id)
            }
        table = self._tables.get(name)
        if table is None:
            raise LookupFailed(
                stored.gettext('no table named "%(table)s" in this integration to look keys up in', table=name)
            )
        return table

    def __call__(self, table_name: str, value) -> str | None:
        referenced = self.referenced(table_name)
        key = key_text(value)
        remembered = (referenced.pk, key)
        if remembered not in self._found:
            links = RecordLink.objects.filter(table=referenced)
            if reads_target_keys(self.table, referenced):
                found = links.filter(target_key=key).values_list("source_key", flat=True).first()
            else:
                found = links.filter(source_key=key).values_list("target_key", flat=True).first()
            self._found[remembered] = found
        return self._found[remembered]
