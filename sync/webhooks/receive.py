"""``POST /hooks/<token>/``: a sender's delivery checked, written to the inbox, answered at once.

Store first, answer fast: the body is read (never more than the receiver's cap), verified, and written in
one short transaction; the processing comes after, from the inbox (a task sent once the event is committed,
:mod:`sync.webhooks.processing`). No login and no CSRF token: the
unguessable token finds the receiver and the sender's signature proves the delivery.

Answers (a short JSON word, the reason stays in the inbox):

- 200 ``{"received": true}``: accepted and stored, or a delivery id already accepted (a replay is counted
  on the first row, not stored again: the sender stops retrying);
- 401: refused (signature, stale timestamp, a missing header), stored with its reason;
- 411 without a Content-Length, 413 over the cap (the body is not read), both stored as refusals;
- 404: no active receiver has this token (nothing stored); 405 for any method but POST.
"""

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import stored_messages as stored
from core.redaction import MASK, redact_headers
from monitoring.models import WebhookEvent
from sync.models import WebhookReceiver
from sync.tasks import enqueue_webhook

from . import identity
from .addresses import called_uri
from .verification import Delivery, header_names_to_hide, verify


@csrf_exempt
@require_POST
def receive(request, token: str):
    receiver = WebhookReceiver.objects.filter(token=token, active=True).first()
    if receiver is None:
        return JsonResponse({"error": "not found"}, status=404)
    now = timezone.now()
    config = receiver.verify_config()
    headers = {name.lower(): value for name, value in request.headers.items()}
    kept_headers = stored_headers(headers, header_names_to_hide(config), receiver.secret)
    refusal = {"receiver": receiver, "headers": kept_headers, "sent_at": None, "now": now}

    length = content_length(request)
    if length is None:
        reason = stored.gettext("The delivery has no Content-Length: its size cannot be checked before reading it.")
        WebhookEvent.refuse(**refusal, delivery_id="", reason=reason, body=b"", body_bytes=0)
        return JsonResponse({"error": "length required"}, status=411)
    cap = receiver.max_body_bytes
    body = b"" if length > cap else request.read(cap + 1)
    if length > cap or len(body) > cap:
        reason = stored.gettext(
            "The body of %(size)s bytes is larger than the receiver's cap of %(cap)s bytes: it was not read.",
            size=max(length, len(body)),
            cap=cap,
        )
        WebhookEvent.refuse(**refusal, delivery_id="", reason=reason, body=b"", body_bytes=max(length, len(body)))
        return JsonResponse({"error": "too large"}, status=413)

    delivery_id = identity.delivery_id(config.scheme, headers, body, receiver.delivery_id_header)
    verdict = verify(config, Delivery(request.method, called_uri(request), headers, body), now)
    if not verdict.accepted:
        refusal["sent_at"] = verdict.sent_at
        WebhookEvent.refuse(
            **refusal, delivery_id=delivery_id, reason=verdict.refusal.reason, body=body, body_bytes=len(body)
        )
        return JsonResponse({"error": verdict.refusal.word}, status=401)
    event, replayed = WebhookEvent.accept(
        receiver,
        delivery_id=delivery_id,
        event_type=identity.event_type(config.scheme, body, receiver.event_type_path),
        headers=kept_headers,
        body=body,
        sent_at=verdict.sent_at,
        now=now,
    )
    if not replayed:
        transaction.on_commit(lambda: enqueue_webhook(event.pk))  # processed after, by the workers
    return JsonResponse({"received": True, "replay": replayed})


def content_length(request) -> int | None:
    """The announced body size, or None when the request has none (or an unreadable one)."""
    value = request.META.get("CONTENT_LENGTH", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def stored_headers(headers: dict[str, str], hidden: tuple[str, ...], secret: str) -> dict[str, str]:
    """The headers as the inbox keeps them: signatures, credentials and the secret's value masked."""
    redacted = redact_headers(headers, extra_secret_names=hidden)
    if secret:
        redacted = {name: value.replace(secret, MASK) for name, value in redacted.items()}
    return redacted
