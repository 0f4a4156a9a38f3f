"""Admin of the configuration: IT edits here, supervisors and onboarding look."""

from .connections import ConnectionAdmin
from .integrations import IntegrationAdmin
from .records import RecordLinkAdmin, StagedRecordAdmin
from .tables import SyncTableAdmin
from .webhook_receivers import WebhookReceiverAdmin

__all__ = [
    "ConnectionAdmin",
    "IntegrationAdmin",
    "RecordLinkAdmin",
    "StagedRecordAdmin",
    "SyncTableAdmin",
    "WebhookReceiverAdmin",
]
