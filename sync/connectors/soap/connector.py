"""The SOAP connector (zeep), built for Dynamics NAV page web services and usable for others.

**Reading** (``read_page``): ``ReadRequest.source_object`` is the read operation's name (e.g.
``ReadMultiple``), ``ReadRequest.arguments`` its argument template (:mod:`.templates`), paged as
:mod:`.paging` says; the records are read from the answer as :mod:`.answers` says.

**Writing**:

- ``create(target_object="Create", values, key_field=…)`` wraps ``values`` in the single
  element the operation expects (NAV: ``Create(Customer={...})``) and returns the created
  record as a dict (NAV returns it with its ``No`` and ``Key``). A create is never blindly
  retried (:meth:`Transport.create`): the record is first looked up (``ReadMultiple``, else
  ``Read``, by ``key_field``) and returned if the failed attempt did create it; without a key
  field or such an operation, the first failure is final.
- ``update(target_object="Update", key, values)``: NAV's Update needs the record's *current*
  ``Key`` (it changes on every modification). When ``values`` holds ``Key`` it is sent as
  given (a stale one is NAV's concurrency fault, a record error). Otherwise ``key`` is the
  record's primary key (what the table's target key holds, e.g. ``No``): the connector
  reads the record with the WSDL's ``Read`` operation, takes its ``Key`` and sends
  ``Update(Customer={**values, "Key": key})``; a retried update re-reads the Key. Pages with
  a composite key (a journal line) need the ``Key`` in ``values``. Operations whose record
  has no ``Key`` element get ``values`` as they are.
- ``delete(target_object="Delete", key)``: ``key`` is the primary key; NAV's Delete takes the
  current ``Key`` found the same way. A record already gone counts as deleted.
- ``find(target_object, key_field, value)``: see :func:`.nav.find_arguments`. No answer or a
  "not found" fault means None.

**test_connection** loads the WSDL, then reads as a sync would, once: the read operation of the
first active table reading from the connection, with its read arguments, or else ``ReadMultiple``,
asking for one record (``setSize`` 1, ``{page_size}`` 1) where the operation allows it. Nothing
else is called: nothing destructive. Green only when that read answered; a service that offers
nothing to read leaves the credentials untested, and says so in red.

Clients and documents are cached per process (:mod:`.clients`); retries, the rate limit, the
outbound policy and call records are the connector transport's (:mod:`sync.connectors.transport`);
faults and other failures are worded by :mod:`.faults`. ``ConnectionConfig.endpoint_url``
overrides the address written in the WSDL. Auth: HTTP basic (on the WSDL download too) or
WS-Security UsernameToken.
"""

from __future__ import annotations

import time

from zeep import xsd

from core import stored_messages as stored
from sync.choices import Pagination

from .. import verdicts
from ..base import ConnectionConfig, Connector, ConnectorError, Page, ReadRequest, SampleRead, Verdict
from ..retries import AttemptFailed
from ..transport import Transport
from .answers import first_record
from .faults import SoapFault
from .nav import find_arguments
from .paging import first_token, next_token, read_arguments
from .service import Service
from .templates import render_template


class SoapConnector(Connector):
    """See the module docstring for how reads, writes, faults and retries work."""

    def __init__(self, config: ConnectionConfig, call_log=None, budget=None):
        super().__init__(config, call_log)
        self.transport = Transport(config, self.call_log, budget)
        self.service = Service(self.transport)

    # Interface ---------------------------------------------------------------------------

    def read_page(self, request: ReadRequest) -> Page:
        pagination = self.config.pagination or Pagination.NONE
        token = first_token(pagination, request.page_token)
        arguments = self._read_arguments(request, pagination, token)
        body = self.transport.run(lambda attempt: self.service.call(request.source_object, arguments, attempt))
        records = self.service.records(request.source_object, body, request.records_path)
        return Page(records=records, next_token=next_token(pagination, token, records))

    def find(self, target_object: str, key_field: str, key_value: str) -> dict | None:
        if key_value in (None, ""):
            return None
        arguments = self._find_arguments(target_object, key_field, str(key_value))
        if arguments is None:
            raise ConnectorError(
                stored.gettext(
                    "Cannot look a record up with %(operation)s: it takes neither %(field)s nor a filter.",
                    operation=target_object,
                    field=key_field,
                )
            )
        return self._lookup(target_object, arguments)

    def can_find(self, target_object: str, key_field: str) -> bool:
        return self._find_arguments(target_object, key_field, "") is not None

    def create(self, target_object: str, values: dict, *, key_field: str = "", envelope: dict | None = None) -> dict:
        arguments = self._wrap_record(target_object, values)
        key_value = values.get(key_field) if key_field else None
        lookup = self._create_lookup(key_field, key_value)
        return self.transport.create(
            lambda attempt: first_record(self.service.call(target_object, arguments, attempt, write=True)) or {},
            key_field=key_field,
            key_value=key_value,
            find=(lambda: self._lookup(*lookup)) if lookup is not None else None,
        )

    def update(self, target_object: str, key: str, values: dict, *, envelope: dict | None = None) -> dict:
        return self.transport.run(lambda attempt: self._update_once(target_object, key, values, attempt))

    def get(self, target_object: str, key: str) -> dict | None:
        if "Read" not in self.service.operation_names() or len(self.service.input_names("Read")) != 1:
            return None  # no way to read one record: no conflict can be seen
        return self.transport.run(lambda attempt: self._read_by_primary_key(key, attempt))

    def read_one(self, request: ReadRequest, key: str) -> dict | None:
        values = {"key": key, "cursor": None, "page_token": None, "page_size": self.config.page_size}
        arguments = render_template(dict(request.arguments or {}), values)
        return self._lookup(request.source_object, arguments)

    def delete(self, target_object: str, key: str) -> None:
        self.transport.run(lambda attempt: self._delete_once(target_object, key, attempt))

    def test_connection(self, sample: SampleRead | None = None) -> Verdict:
        try:
            operations = self.service.operation_names()
            read = self._test_read(sample, operations)
            if read is None:
                return verdicts.soap_nothing_read(self.service.port_name, len(operations))
            operation, arguments, why = read
            started = time.monotonic()
            body = self.service.call(operation, arguments, attempt=1)  # one attempt: answer fast
            milliseconds = round((time.monotonic() - started) * 1000)
            table_read = sample is not None and operation == sample.request.source_object
            count = len(self.service.records(operation, body, sample.request.records_path if table_read else ""))
        except AttemptFailed as failure:
            return verdicts.failed(failure.error)
        except ConnectorError as exc:
            return verdicts.failed(exc)
        address = self.transport.redact_url(self.service.address)
        return verdicts.soap_connected(address, self.service.port_name, operation, why, milliseconds, count)

    def _test_read(self, sample: SampleRead | None, operations: list[str]):
        """(operation, arguments, why) of the read "test connection" calls, asking for one record where the
        operation allows it: the first table's read, else ReadMultiple; None when there is neither."""
        if sample is not None:
            operation = sample.request.source_object
            pagination = self.config.pagination or Pagination.NONE
            token = first_token(pagination, None)
            arguments = self._read_arguments(sample.request, pagination, token, size=1)
            why = verdicts.table_read(sample.table)
        elif "ReadMultiple" in operations and "setSize" in self.service.input_names("ReadMultiple"):
            operation, arguments, why = "ReadMultiple", {}, verdicts.no_table_read("ReadMultiple")
        else:
            return None
        if "setSize" in self.service.input_names(operation) and "setSize" not in arguments:
            arguments = {**arguments, "setSize": 1}
        return operation, arguments, why

    def _read_arguments(self, request: ReadRequest, pagination: str, token, size: int | None = None) -> dict:
        """The read's arguments for one page; ``size`` records instead of the connection's page size when given."""
        return read_arguments(request, pagination, token, self.config.page_size, self.service.input_names, size)

    # Writing -------------------------------------------------------------------------------

    def _record_element(self, operation: str):
        """(name, element) of the single complex element a write operation takes, e.g. Customer."""
        elements = self.service.input_elements(operation)
        if len(elements) == 1 and isinstance(elements[0][1].type, xsd.ComplexType):
            return elements[0]
        return None

    def _wrap_record(self, operation: str, values: dict) -> dict:
        record = self._record_element(operation)
        if record is None or record[0] in values:
            return dict(values)
        return {record[0]: dict(values)}

    def _record_takes_key(self, operation: str) -> bool:
        record = self._record_element(operation)
        names = [name for name, _element in getattr(record[1].type, "elements", [])] if record else []
        return "Key" in names

    def _update_once(self, operation: str, key: str, values: dict, attempt: int) -> dict:
        values = dict(values)
        if self._record_takes_key(operation) and not values.get("Key"):
            values["Key"] = self._current_key(key, attempt, operation)
        body = self.service.call(operation, self._wrap_record(operation, values), attempt, write=True)
        return first_record(body) or {}

    def _delete_once(self, operation: str, key: str, attempt: int) -> None:
        names = self.service.input_names(operation)
        if names == ["Key"] and "Read" in self.service.operation_names():
            current = self._read_by_primary_key(key, attempt)
            if current is None:
                return  # already gone
            key = current.get("Key") or key
        if len(names) != 1:
            raise ConnectorError(
                stored.gettext(
                    "%(operation)s takes %(count)s arguments; the connector can only pass the record key.",
                    operation=operation,
                    count=len(names),
                )
            )
        body = self.service.call(operation, {names[0]: key}, attempt, write=True)
        if isinstance(body, dict) and list(body.values()) == [False]:
            raise ConnectorError(
                stored.gettext("The SOAP service refused to delete the record %(key)s.", key=str(key)),
                record_level=True,
            )

    def _current_key(self, key: str, attempt: int, operation: str) -> str:
        if "Read" not in self.service.operation_names():
            raise ConnectorError(
                stored.gettext(
                    "%(operation)s needs the record's current Key and the service has no Read operation to find it.",
                    operation=operation,
                )
            )
        current = self._read_by_primary_key(key, attempt)
        if current is None or not current.get("Key"):
            raise ConnectorError(
                stored.gettext(
                    "The record %(key)s to update does not exist in %(name)s.", key=str(key), name=self.config.name
                ),
                record_level=True,
            )
        return current["Key"]

    def _read_by_primary_key(self, key: str, attempt: int) -> dict | None:
        names = self.service.input_names("Read")
        if len(names) != 1:  # e.g. a journal line, keyed by template, batch and line number
            raise ConnectorError(
                stored.gettext(
                    "Read takes a composite key (%(names)s): pass the record's current Key in the values.",
                    names=", ".join(names),
                )
            )
        try:
            body = self.service.call("Read", {names[0]: key}, attempt)
        except AttemptFailed as failure:
            if isinstance(failure.error, SoapFault) and failure.error.not_found:
                return None
            raise
        return first_record(body)

    def _lookup(self, operation: str, arguments: dict) -> dict | None:
        """The first record ``operation`` answers, None for none or a "not found" fault."""
        try:
            body = self.transport.run(lambda attempt: self.service.call(operation, arguments, attempt))
        except SoapFault as fault:
            if fault.not_found:
                return None
            raise
        return first_record(body)

    def _create_lookup(self, key_field: str, key_value) -> tuple[str, dict] | None:
        """How to find a record a failed create may have made: ReadMultiple, else Read; None: no way."""
        if not key_field or key_value in (None, ""):
            return None
        operations = self.service.operation_names()
        for operation in ("ReadMultiple", "Read"):
            arguments = self._find_arguments(operation, key_field, str(key_value)) if operation in operations else None
            if arguments is not None:
                return operation, arguments
        return None

    def _find_arguments(self, operation: str, key_field: str, value: str) -> dict | None:
        return find_arguments(self.service.input_names(operation), key_field, value)
