"""The SOAP service a connection reaches: its port and operations as the WSDL says, and one call to it.

Each call waits for the connection's rate limit, is one :class:`CallRecord` (method ``SOAP``, the
endpoint, the operation, the HTTP status, the redacted and truncated envelopes), and answers the
operation's output element as plain data, read from the raw answer rather than from zeep's return
value (which unwraps single-child elements unevenly: ``ReadMultiple`` would come back as a bare
list), so that ``records_path`` follows the answer as written in the WSDL. Each WSDL or XSD
download is a ``CallRecord`` too (method ``GET``, operation ``WSDL``, no bodies).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree
from zeep.helpers import serialize_object
from zeep.loader import parse_xml
from zeep.proxy import ServiceProxy

from core import outbound
from core import stored_messages as stored

from ..base import ConnectorError
from ..failures import Place
from ..transport import Transport
from .answers import descend, plain, records_from, resolve_path, unwrapped_records
from .clients import DocumentLoad, Exchange, SoapClient, cached_client
from .faults import call_failure, wsdl_error
from .templates import omit_empty_lists

SOAP_METHOD = "SOAP"
WSDL_OPERATION = "WSDL"


class Service:
    """The service and port of one connection (its configured ones, else the WSDL's first)."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.config = transport.config
        self._soap: SoapClient | None = None
        self._proxy: ServiceProxy | None = None
        self.port_name = ""
        self.address = ""

    # The client, the port, the operations -----------------------------------------------

    def client(self) -> SoapClient:
        if self._soap is None:
            try:
                self._soap = cached_client(self.config, on_load=self._record_loads)
            except ConnectorError:
                raise
            except Exception as exc:
                raise wsdl_error(self.transport, exc) from None
        return self._soap

    def proxy(self) -> ServiceProxy:
        if self._proxy is None:
            client = self.client().client
            service = self._pick(client.wsdl.services, self.config.soap_service, stored.gettext("service"))
            port = self._pick(service.ports, self.config.soap_port, stored.gettext("port"))
            address = self.config.endpoint_url or (port.binding_options or {}).get("address") or ""
            if outbound.scheme_refusal(address):
                raise self.transport.error(
                    stored.gettext(
                        'The SOAP endpoint "%(address)s" is not an http(s) address: set the endpoint URL.',
                        address=self.transport.redact_url(address),
                    )
                )
            self._proxy = ServiceProxy(client, port.binding, address=address)
            self.port_name = f"{service.name}/{port.name}"
            self.address = address
        return self._proxy

    def _pick(self, options: dict, wanted: str, what: stored.StoredMessage):
        if not options:
            raise ConnectorError(stored.gettext("The WSDL defines no %(what)s.", what=what))
        if not wanted:
            return next(iter(options.values()))
        if wanted not in options:
            raise ConnectorError(
                stored.gettext(
                    'The WSDL has no %(what)s "%(name)s"; it offers: %(options)s.',
                    what=what,
                    name=wanted,
                    options=", ".join(options),
                )
            )
        return options[wanted]

    def operation_names(self) -> list[str]:
        return sorted(self.proxy()._binding.all())

    def operation(self, name: str):
        operations = self.proxy()._binding.all()
        if name not in operations:
            raise ConnectorError(
                stored.gettext(
                    'The SOAP service has no operation "%(name)s"; it offers: %(operations)s.',
                    name=name,
                    operations=", ".join(sorted(operations)),
                )
            )
        return operations[name]

    def input_elements(self, name: str) -> list[tuple[str, Any]]:
        body = getattr(self.operation(name).input, "body", None)
        return list(getattr(getattr(body, "type", None), "elements", None) or [])

    def input_names(self, name: str) -> list[str]:
        return [element_name for element_name, _element in self.input_elements(name)]

    def records(self, operation: str, body, records_path: str = "") -> list[dict]:
        """The records of ``operation``'s answer, at the records path (blank: down to the first list or record).

        ``records_path`` is the read's own (a table's); blank: the connection's.
        """
        path = records_path.strip() or self.config.records_path
        if not path:
            return records_from(unwrapped_records(descend(body)))
        output = getattr(self.operation(operation).output, "body", None)
        wrapper = etree.QName(output.qname).localname if getattr(output, "qname", None) is not None else ""
        return records_from(resolve_path(body, path, wrapper))

    # One call ------------------------------------------------------------------------------

    def call(self, operation: str, arguments: dict, attempt: int, *, write: bool = False):
        """Call ``operation`` once and return its answer as plain data; a CallRecord either way.

        A failure is raised as :class:`~sync.connectors.retries.AttemptFailed`, for the retry policy.
        """
        proxy = self.proxy()
        operation_object = self.operation(operation)
        soap = self.client()
        self.transport.wait_turn()
        soap.transport.begin()
        started = _now()
        error = ""
        try:
            proxy[operation](**self._envelope_arguments(operation, arguments))
            return self._answer(operation_object, soap.transport.current())
        except Exception as exc:
            place = Place(self.transport.redact_url(self.address or self.config.endpoint_url), operation)
            failure = call_failure(self.transport, exc, place, soap.transport.current(), write=write)
            if failure is None:  # a bug, not the service: keep its traceback
                error = type(exc).__name__
                raise
            error = failure.error.message
            raise failure from None
        finally:
            exchange = soap.transport.end()
            self.transport.heard(exchange.status_code, exchange.response_headers)
            self._record_call(operation, exchange, started, attempt, error)

    def _envelope_arguments(self, operation: str, arguments: dict) -> dict:
        """Empty or missing repeated elements are left out (NAV: no ``filter`` reads every record)."""
        arguments = dict(arguments)
        for name, element in self.input_elements(operation):
            if name not in arguments and getattr(element, "accepts_multiple", False):
                arguments[name] = []
        return omit_empty_lists(arguments)

    def _answer(self, operation_object, exchange: Exchange):
        """The answer's wrapper element as plain data (zeep's own return value unwraps unevenly)."""
        output = getattr(operation_object.output, "body", None)
        if not exchange.response_body:
            return None
        soap = self.client()
        document = parse_xml(exchange.response_body, soap.transport, settings=soap.client.settings)
        envelope_ns = operation_object.binding.nsmap["soap-env"]
        element = document.find(f"{{{envelope_ns}}}Body/*")
        if output is None or element is None:
            return None
        return plain(serialize_object(output.parse(element, soap.client.wsdl.types), dict))

    # Call records --------------------------------------------------------------------------

    def _record_call(self, operation: str, exchange: Exchange, started: datetime, attempt: int, error: str) -> None:
        self.transport.record(
            SOAP_METHOD,
            self.address or self.config.endpoint_url,
            operation,
            started,
            _now(),
            attempt=attempt,
            status_code=exchange.status_code,
            headers=exchange.request_headers,
            response_headers=exchange.response_headers,
            request_body=exchange.request_body,
            response_body=exchange.response_body,
            error=error,
        )

    def _record_loads(self, loads: list[DocumentLoad]) -> None:
        for load in loads:
            self.transport.record(
                "GET", load.url, WSDL_OPERATION, load.started_at, load.finished_at, status_code=load.status_code
            )


def _now() -> datetime:
    return datetime.now(UTC)
