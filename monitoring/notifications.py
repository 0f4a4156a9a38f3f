"""Notifications of alert state changes: one email and one webhook POST per change, from an outbox.

Each :class:`~monitoring.models.AlertEvent` (opened, acknowledged, resolved) is an outbox
entry. :func:`deliver_due` sends the entries that are due, in order per alert: one email
to the integration's recipients (Django's mail backend) and, when the integration has a
webhook URL, one POST of JSON with a Slack-compatible ``text``. An entry is claimed
atomically before sending, so two evaluations running at once do not send it twice.
A failure is recorded on the entry (error, attempts, next attempt) and retried later with
backoff; a channel that already succeeded is not repeated. Nothing here stops the others.
The recorded error is a stored message (:mod:`core.stored_messages`): an evaluation run from
someone's web request does not write it in that person's language.

Notifications carry the integration's name, the alert's kind and message, and times in
the portal's time zone; never a connection's secrets, nor the webhook's own address
(which is a credential for services such as Slack). Their words are templates in the
portal's language (``templates/notifications/alert_*.txt``): the subject, the plain-text
email and the webhook's text.
"""

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Exists, F, OuterRef
from django.template.loader import render_to_string
from django.utils import translation

from core import outbound
from core import stored_messages as stored
from core.local_time import format_local, portal_zone

from .choices import NotificationStatus
from .models import AlertEvent

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10  # seconds
# A claimed entry is not tried again before this, even if its sender died mid-way.
CLAIM_LEASE = timedelta(minutes=5)
FIRST_RETRY, LONGEST_RETRY = timedelta(minutes=1), timedelta(hours=1)
ERROR_LIMIT = 1000


def max_attempts() -> int:
    return getattr(settings, "ALERT_NOTIFICATION_MAX_ATTEMPTS", 12)


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after the ``attempts``-th failure, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


# ---------------------------------------------------------------- words (templates/notifications)


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    text: str  # for the webhook (Slack mrkdwn)


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def compose(event: AlertEvent, tz=None) -> Message:
    """The subject, body and webhook text of one state change, in the portal's language and time zone."""
    tz = tz or portal_zone()
    alert = event.alert
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "state": event.state,
            "integration": alert.integration,
            "kind": alert.get_kind_display(),
            "table": alert.table.name if alert.table is not None else "",
            "message": alert.message,
            "note": event.note,
            "person": _person(event.by),
            "opened_at": format_local(alert.opened_at, tz),
            "at": format_local(event.at, tz),
        }
        context["headline"] = render_to_string("notifications/alert_headline.txt", context).strip()
        subject = render_to_string("notifications/alert_subject.txt", context)
        body = render_to_string("notifications/alert_body.txt", context)
        text = render_to_string("notifications/alert_webhook.txt", context)
    return Message(subject=" ".join(subject.split()), body=body.rstrip("\n"), text=text.rstrip("\n"))


# ---------------------------------------------------------------- the two outside seams


def send_email(message: Message, recipients: list[str]) -> None:
    EmailMessage(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, recipients).send(fail_silently=False)


def post_webhook(url: str, text: str) -> None:
    """POST under the outbound policy (no metadata address, loopback only when allowed, bounded answer)."""
    posting = _posting_to.set(url)
    try:
        with outbound.session() as session:
            response = session.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT)
            response.raise_for_status()
    finally:
        _posting_to.reset(posting)


_posting_to: ContextVar[str] = ContextVar("webhook_being_posted_to", default="")


class _HideWebhookAddress(logging.Filter):
    """urllib3 logs each request's path at DEBUG: while a webhook is posted, that path is its secret."""

    def filter(self, record):
        url = _posting_to.get()
        if url and isinstance(record.args, tuple):
            record.args = tuple(_text_without_address(arg, url) if isinstance(arg, str) else arg for arg in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HideWebhookAddress())


def _without_address(message: str, url: str) -> str:
    """``message`` with the webhook's path and query (its secret part) replaced by an ellipsis."""
    return stored.change_outside_data(message, lambda text: _text_without_address(text, url))


def _text_without_address(text: str, url: str) -> str:
    # As sent first (requests re-quotes the path and query, lowercases the host), then as stored.
    for address in dict.fromkeys([_as_sent(url), url]):
        text = _text_without_one_address(text, address)
    return text


def _as_sent(url: str) -> str:
    try:
        return requests.Request("POST", url).prepare().url
    except (requests.RequestException, ValueError):
        return url


def _text_without_one_address(text: str, url: str) -> str:
    parts = urlsplit(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    text = text.replace(url, f"{parts.scheme}://{parts.hostname}/…")
    if secret.strip("/"):
        text = text.replace(secret, "/…")
        if parts.path.strip("/"):
            text = text.replace(parts.path, "/…")
    if parts.query:
        text = text.replace(parts.query, "…")
    return text


def _describe(exc: Exception) -> str:
    """What went wrong, for ``AlertEvent.last_error``: the policy's words, or the exception's own (outside data)."""
    if isinstance(exc, outbound.OutboundError):
        parts = urlsplit(exc.url)  # the address (maybe a redirect's) without its path: that may be the secret
        return exc.explain(f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…")
    return f"{type(exc).__name__}: {exc}"


def _cut(message: str) -> str:
    """``message`` with its outside words cut to ``ERROR_LIMIT`` characters (a mail server may say a lot)."""
    return stored.change_outside_data(message, lambda text: text[:ERROR_LIMIT])


# ---------------------------------------------------------------- the outbox


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0
    nobody: int = 0  # no recipient and no webhook configured


def due(now: datetime):
    """Entries to send now, oldest first; an entry waits while an earlier one of its alert is pending."""
    earlier_pending = AlertEvent.objects.filter(
        alert=OuterRef("alert"), pk__lt=OuterRef("pk"), notification=NotificationStatus.PENDING
    )
    return (
        AlertEvent.objects.filter(notification=NotificationStatus.PENDING, next_attempt_at__lte=now)
        .exclude(Exists(earlier_pending))
        .select_related("alert__integration", "alert__table", "by")
        .order_by("at", "pk")
    )


def claim(event: AlertEvent, now: datetime) -> bool:
    """Take ``event`` for sending; False when another evaluation took it first."""
    claimed = AlertEvent.objects.filter(
        pk=event.pk, notification=NotificationStatus.PENDING, next_attempt_at=event.next_attempt_at
    ).update(next_attempt_at=now + CLAIM_LEASE, attempts=F("attempts") + 1)
    if claimed:
        event.next_attempt_at, event.attempts = now + CLAIM_LEASE, event.attempts + 1
    return bool(claimed)


def deliver(event: AlertEvent, now: datetime) -> bool:
    """Send a claimed entry on each channel not yet done; record the outcome. True when nothing failed."""
    integration = event.alert.integration
    recipients, url = integration.alert_recipients, integration.alert_webhook_url
    fields = ["notification", "next_attempt_at", "notified_at", "email_sent_at", "webhook_sent_at", "last_error"]
    if not recipients and not url:
        event.notification, event.next_attempt_at, event.notified_at = NotificationStatus.NOBODY, None, now
        event.save(update_fields=fields)
        return True
    message = compose(event)
    errors = []
    if recipients and event.email_sent_at is None:
        try:
            send_email(message, recipients)
        except Exception as exc:  # any failure of the mail server: recorded below and retried
            errors.append(stored.gettext("Email: %(error)s", error=_cut(_describe(exc))))
        else:
            event.email_sent_at = now
    if url and event.webhook_sent_at is None:
        try:
            post_webhook(url, message.text)
        except Exception as exc:  # any failure of the receiving service: recorded below and retried
            errors.append(stored.gettext("Webhook: %(error)s", error=_cut(_without_address(_describe(exc), url))))
        else:
            event.webhook_sent_at = now
    if errors:
        event.last_error = stored.join(*errors, separator="\n")
        if event.attempts >= max_attempts():
            event.notification, event.next_attempt_at = NotificationStatus.FAILED, None
        else:
            event.next_attempt_at = now + retry_delay(event.attempts)
        logger.warning(
            "Notification %s of %s failed (attempt %d): %s", event.pk, event.alert, event.attempts, event.last_error
        )
    else:
        event.notification, event.next_attempt_at, event.notified_at = NotificationStatus.SENT, None, now
    event.save(update_fields=fields)
    return not errors


def deliver_due(now: datetime) -> DeliveryResult:
    """Send every due entry once; a failure is recorded and never stops the others."""
    result = DeliveryResult()
    for event in due(now):
        if not claim(event, now):
            continue
        if not deliver(event, now):
            result.failed += 1
        elif event.notification == NotificationStatus.NOBODY:
            result.nobody += 1
        else:
            result.sent += 1
    return result
