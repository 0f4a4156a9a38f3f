"""What every sender's registration shares: its refusal, its outcome, and its calls kept as request logs.

Every call goes through the connection's connector (outbound policy, timeouts, retries, rate budget,
redaction) and is kept as a request log of the connection, the receiver's secrets masked in it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from django.db import transaction

from core.redaction import MASK
from monitoring.models import RequestLog
from monitoring.recorder import request_log

from ...connectors.base import CallRecord, ConnectorError, ReadRequest
from ...engine import connector_for_connection
from ...models import WebhookReceiver, WebhookRegistration

LISTED_AT_MOST = 300  # the sender's subscriptions read to find those already registered (one page)


class RegistrationError(Exception):
    """The registration could not be made; ``message`` says why in words (the sender's own when it refused)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Outcome:
    added: list[str] = field(default_factory=list)  # subscriptions registered now (their labels)
    kept: list[str] = field(default_factory=list)  # already registered
    removed: list[str] = field(default_factory=list)
    replaced_address: str = ""  # the address the sender sent to before, when registering replaced it


def receiver_secrets(receiver: WebhookReceiver) -> list[str]:
    """The receiver's values no request log or message may show."""
    return [value for value in (receiver.secret, receiver.hubspot_developer_key) if value]


class Calls:
    """The connection's connector, its calls kept as request logs of the connection (the receiver's secrets masked).

    ``overrides``: settings of the connection's configuration the sender's API needs instead (see
    :func:`sync.engine.connector_for_connection`).
    """

    def __init__(self, receiver: WebhookReceiver, **overrides):
        self.receiver = receiver
        self.overrides = overrides
        self.secrets = receiver_secrets(receiver)
        self.records: list[CallRecord] = []

    def __enter__(self):
        self.connector = connector_for_connection(self.receiver.connection, self.records.append, **self.overrides)
        return self

    def __exit__(self, *exc_info):
        self.connector.close()
        connection_id = self.receiver.connection_id
        RequestLog.objects.bulk_create(
            [request_log(masked(call, self.secrets), connection_id=connection_id) for call in self.records]
        )
        return False

    def read(self, path: str) -> list[dict]:
        page = self.connector.read_page(ReadRequest(source_object=path))
        return [record for record in page.records if isinstance(record, dict)][:LISTED_AT_MOST]

    def hide(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def refused(self, error: ConnectorError) -> RegistrationError:
        return RegistrationError(self.hide(str(error.message)))


def masked(call: CallRecord, secrets: list[str]) -> CallRecord:
    if not secrets:
        return call

    def hide(text):
        if not isinstance(text, str):
            return text
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    return dataclasses.replace(
        call,
        url=hide(call.url),
        request_body=hide(call.request_body),
        response_body=hide(call.response_body),
        error=hide(call.error),
        request_headers={name: hide(value) for name, value in call.request_headers.items()},
    )


def keep(receiver: WebhookReceiver, event_type: str, sender_id, address: str, property_name: str = "") -> None:
    """Remember the subscription the sender knows by ``sender_id`` (registered now, or found there)."""
    with transaction.atomic():
        WebhookRegistration.objects.update_or_create(
            receiver=receiver,
            event_type=event_type,
            property_name=property_name,
            defaults={"sender_id": str(sender_id), "address": address},
        )
