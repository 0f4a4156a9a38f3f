"""The webhook inbox: every delivery a receiver got, accepted or refused, written before it is answered.

An accepted delivery holds its body (up to the receiver's cap) and waits, *received*, for the processing
that maps it; one delivery id is accepted once per receiver (a partial unique constraint), and a replay
only counts on the row already there. A refused delivery is kept with its reason so the inbox can show
it, but only the first :data:`REFUSED_BODY_KEPT` bytes of its body: a flood of forged deliveries cannot
fill the database with bodies. Signature headers and the receiver's secret are never stored.
"""

from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.redaction import MASK
from core.storable import repaired_text
from core.stored_messages import StoredMessageField
from sync.models import WebhookReceiver

from ..choices import WebhookEventStatus, WebhookVerdict
from .runs import SyncRun

REFUSED_BODY_KEPT = 4 * 1024  # bytes of a refused delivery's body kept for the inbox


class WebhookEvent(models.Model):
    """One delivery received by a webhook receiver, and (later) what its processing made of it."""

    receiver = models.ForeignKey(WebhookReceiver, models.CASCADE, related_name="events", verbose_name=_("receiver"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    sent_at = models.DateTimeField(
        _("signed at"), null=True, blank=True, help_text=_("The time the sender signed, when its scheme has one")
    )
    delivery_id = models.CharField(_("delivery id"), max_length=200)
    event_type = models.CharField(_("event type"), max_length=200, blank=True)
    verdict = models.CharField(_("verdict"), max_length=10, choices=WebhookVerdict.choices)
    refusal = StoredMessageField(_("why it was refused"), blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.TextField(_("body"), blank=True)
    body_bytes = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    replays = models.PositiveIntegerField(
        _("replays"), default=0, help_text=_("How many times the sender delivered it again (answered, not stored)")
    )
    last_replay_at = models.DateTimeField(_("last replay"), null=True, blank=True)

    status = models.CharField(
        _("status"), max_length=10, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED
    )
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    written_at = models.DateTimeField(
        _("written"),
        null=True,
        blank=True,
        help_text=_("When its records went through to the target: received to written is the webhook's latency"),
    )
    run = models.ForeignKey(
        SyncRun, models.SET_NULL, null=True, blank=True, related_name="webhook_events", verbose_name=_("run")
    )
    result = StoredMessageField(_("result"), blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook inbox")
        permissions = [
            ("view_webhook_payload", _("Can see the headers and bodies of webhook events")),
            ("process_webhook_event", _("Can process webhook events again")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["receiver", "delivery_id"],
                condition=Q(verdict=WebhookVerdict.ACCEPTED),
                name="webhook_event_one_accepted_per_delivery",
            ),
        ]
        indexes = [
            models.Index(fields=["receiver", "-received_at"], name="webhook_event_receiver_time"),
            models.Index(fields=["status", "received_at"], name="webhook_event_status_time"),
        ]

    def __str__(self):
        return f"{self.event_type or self.delivery_id} ({self.received_at:%Y-%m-%d %H:%M:%S})"

    @classmethod
    def accept(cls, receiver, *, delivery_id, event_type, headers, body: bytes, sent_at, now):
        """Store an accepted delivery; a delivery id already accepted only counts a replay.

        Returns ``(event, replayed)``; one short transaction either way.
        """
        fields = {
            "receiver": receiver,
            "received_at": now,
            "sent_at": sent_at,
            "delivery_id": delivery_id,
            "event_type": event_type,
            "verdict": WebhookVerdict.ACCEPTED,
            "headers": headers,
            "body": stored_body(body, receiver.secret),
            "body_bytes": len(body),
        }
        try:
            with transaction.atomic():
                return cls.objects.create(**fields), False
        except IntegrityError:
            first = cls.objects.filter(receiver=receiver, delivery_id=delivery_id, verdict=WebhookVerdict.ACCEPTED)
            if not first.update(replays=F("replays") + 1, last_replay_at=now):
                raise  # not a replay: some other constraint refused the row
            return first.get(), True

    @classmethod
    def refuse(cls, receiver, *, delivery_id, reason, headers, body: bytes, body_bytes: int, sent_at, now):
        """Store a refused delivery with its reason and at most the first bytes of its body."""
        return cls.objects.create(
            receiver=receiver,
            received_at=now,
            sent_at=sent_at,
            delivery_id=delivery_id,
            verdict=WebhookVerdict.REFUSED,
            refusal=reason,
            headers=headers,
            body=stored_body(body[:REFUSED_BODY_KEPT], receiver.secret),
            body_bytes=body_bytes,
            status=WebhookEventStatus.IGNORED,
        )

    def settle(self, status: str, result: str, now=None, written_at=None) -> bool:
        """End this event's processing by its run: *processed*, *failed* or back to *received*; False if not its.

        ``written_at``: when a processed event's records went through to the target.
        """
        now = now or timezone.now()
        fields = {"status": status, "result": result, "processed_at": now}
        if status == WebhookEventStatus.PROCESSED:
            fields["written_at"] = written_at
        if status == WebhookEventStatus.RECEIVED:
            fields |= {"run": None, "processed_at": None}
        claimed = WebhookEvent.objects.filter(pk=self.pk, status=WebhookEventStatus.PROCESSING, run_id=self.run_id)
        return bool(claimed.update(**fields))


def stored_body(body: bytes, secret: str) -> str:
    """The body as storable text (NUL removed, undecodable bytes replaced), the receiver's secret masked."""
    text = body.decode("utf-8", errors="replace")
    if secret:
        text = text.replace(secret, MASK)
    return repaired_text(text)[0]
