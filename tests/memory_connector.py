"""An in-memory system behind the connector interface, for engine tests of logic (not of HTTP)."""

import itertools

from sync.connectors.base import CallRecord, Connector, ConnectorError, Page, Verdict


class MemorySystem:
    """Records by object name; fault knobs per operation."""

    def __init__(self):
        self.tables: dict[str, dict[str, dict]] = {}
        self.ids = itertools.count(1)
        self.fail_next: dict[str, list[ConnectorError]] = {}
        self.calls: list[tuple[str, str]] = []
        self.crash_after_writes: int | None = None
        self.writes = 0

    def rows(self, name):
        return self.tables.setdefault(name, {})

    def connector(self, page_size=2):
        return MemoryConnector(self, page_size)


class Crash(BaseException):
    """Simulates the process dying (not an Exception: nothing may catch it)."""


class MemoryConnector(Connector):
    def __init__(self, system: MemorySystem, page_size: int, call_log=None):
        super().__init__(config=None, call_log=call_log)
        self.system, self.page_size = system, page_size

    def _call(self, operation, target):
        self.system.calls.append((operation, target))
        self.call_log(CallRecord(method=operation, url=f"memory://{target}"))
        errors = self.system.fail_next.get(operation)
        if errors:
            raise errors.pop(0)

    def _wrote(self):
        self.system.writes += 1
        if self.system.crash_after_writes is not None and self.system.writes >= self.system.crash_after_writes:
            raise Crash

    def read_page(self, request):
        self._call("read", request.source_object)
        rows = sorted(self.system.rows(request.source_object).values(), key=lambda row: str(row.get("Code")))
        if request.cursor:
            rows = [row for row in rows if str(row.get("Updated", "")) > request.cursor]
        start = int(request.page_token or 0)
        chunk = rows[start : start + self.page_size]
        more = start + self.page_size < len(rows)
        return Page(records=[dict(row) for row in chunk], next_token=str(start + self.page_size) if more else None)

    def find(self, target_object, key_field, key_value):
        self._call("find", target_object)
        return next(
            (dict(r) for r in self.system.rows(target_object).values() if str(r.get(key_field)) == key_value), None
        )

    def create(self, target_object, values, *, key_field="", envelope=None):
        self._call("create", target_object)
        record = {**values, "Id": next(self.system.ids)}
        self.system.rows(target_object)[str(record["Id"])] = record
        self._wrote()
        return dict(record)

    def update(self, target_object, key, values, *, envelope=None):
        self._call("update", target_object)
        rows = self.system.rows(target_object)
        if key not in rows:
            raise ConnectorError(f"{key} not found", record_level=True, status_code=404)
        rows[key].update(values)
        self._wrote()
        return dict(rows[key])

    def delete(self, target_object, key):
        self._call("delete", target_object)
        self.system.rows(target_object).pop(key, None)

    def test_connection(self, sample=None):
        return Verdict(True, "memory")
