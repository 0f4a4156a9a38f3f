"""How data moves: integrations, connections, tables, mappings, links and staged records.

One module per family: :mod:`.connections` (how a system is reached), :mod:`.integrations`
(an ERP ↔ CRM pair and when it runs), :mod:`.tables` (a kind of record moving one way),
:mod:`.mappings` (a table's fields), :mod:`.records` (what is kept of each record moved), :mod:`.budgets`
(the rate budget a connection's callers share), :mod:`.webhooks` (where a system sends its webhooks).
"""

from .budgets import ConnectionBudget
from .connections import AUTH_REQUIREMENTS, OUTBOUND_URL_FIELDS, RETRIES, SECRET_FIELDS, TIMEOUT_SECONDS, Connection
from .integrations import LONGEST_INTERVAL_MINUTES, LONGEST_MAX_TIME_WITHOUT_SUCCESS, Integration
from .mappings import FieldMapping
from .records import RecordLink, StagedRecord
from .tables import LONGEST_WAIT_FOR_PARENT, SyncTable
from .webhooks import WebhookReceiver, WebhookRegistration

__all__ = [
    "AUTH_REQUIREMENTS",
    "LONGEST_INTERVAL_MINUTES",
    "LONGEST_MAX_TIME_WITHOUT_SUCCESS",
    "LONGEST_WAIT_FOR_PARENT",
    "OUTBOUND_URL_FIELDS",
    "RETRIES",
    "SECRET_FIELDS",
    "TIMEOUT_SECONDS",
    "Connection",
    "ConnectionBudget",
    "FieldMapping",
    "Integration",
    "RecordLink",
    "StagedRecord",
    "SyncTable",
    "WebhookReceiver",
    "WebhookRegistration",
]
