"""What a batch answer says about one record, in words: the target's refusal, a missing result."""

from __future__ import annotations

import json

from core import stored_messages as stored

from .. import refusals
from ..base import ConnectorError
from ..retries import retryable_status

_HUBSPOT_INVALID = "Property values were not valid:"


def refused(connector, reason: str, *, status: int) -> ConnectorError:
    """One record's refusal, in the target's own words."""
    name = connector.config.name or "?"
    if status:
        message = stored.gettext(
            "%(name)s refused the record (%(status)s): %(reason)s", name=name, status=status, reason=reason
        )
    else:
        message = stored.gettext("%(name)s refused the record: %(reason)s", name=name, reason=reason)
    retryable = bool(status) and retryable_status(status)
    return connector.transport.error(
        message, retryable=retryable, record_level=not retryable, status_code=status or None
    )


def no_answer(connector) -> ConnectorError:
    return connector.transport.error(
        stored.gettext(
            "%(name)s answered the batch without a result for this record: whether it was written is not known.",
            name=connector.config.name or "?",
        ),
        retryable=True,
    )


def unexpected(connector, data) -> ConnectorError:
    shown = connector.transport.redact(json.dumps(data)[:200])
    return connector.transport.error(
        stored.gettext("The batch answer is not what was expected: %(answer)s", answer=shown)
    )


def reason_in(body) -> str:
    """The target's own words in an error body (``error.message``, violations…), or the body itself."""
    reason = refusals.reason_from_json(body) if body is not None else None
    if reason:
        return reason
    return json.dumps(body)[:300] if body not in (None, "", {}) else stored.gettext("no details given")


def hubspot_reason(error) -> str:
    """A HubSpot error in words; "Property values were not valid: [json]" is read as one violation per property."""
    if not isinstance(error, dict):
        return reason_in(error)
    message = error.get("message")
    if isinstance(message, str) and message.startswith(_HUBSPOT_INVALID):
        try:
            problems = json.loads(message[len(_HUBSPOT_INVALID) :])
        except ValueError:
            problems = None
        if isinstance(problems, list):
            violations = [
                {"name": item.get("name", ""), "message": item.get("localizedErrorMessage") or item.get("message")}
                for item in problems
                if isinstance(item, dict)
            ]
            return reason_in({"message": _HUBSPOT_INVALID.rstrip(":"), "errors": violations})
    return reason_in({key: value for key, value in error.items() if key != "context"})
