"""The SOAP connector (:mod:`.connector`) and its parts: the cached zeep clients (:mod:`.clients`), the
service and its calls (:mod:`.service`), argument templates (:mod:`.templates`), paging (:mod:`.paging`),
NAV specifics (:mod:`.nav`), answers as plain data (:mod:`.answers`) and faults in words (:mod:`.faults`)."""

from .clients import _clients, clear_caches
from .connector import SoapConnector
from .faults import SoapFault, fault_name
from .nav import nav_literal
from .templates import incremental_arguments, merge_arguments, render_template

__all__ = [
    "SoapConnector",
    "SoapFault",
    "_clients",
    "clear_caches",
    "fault_name",
    "incremental_arguments",
    "merge_arguments",
    "nav_literal",
    "render_template",
]
