"""Whether a webhook delivery comes from its sender: one function per scheme, every comparison in constant time.

Pure: a plain :class:`VerifyConfig`, the :class:`Delivery` as received (headers with lower-case names) and
``now``; no models, no HTTP. A refusal says why in words kept for the inbox (a stored message) and in one
short word for the sender's answer (:class:`Refusal`).

- Standard Webhooks: checked by the ``standardwebhooks`` library (``Webhook.verify``) once the headers and
  the timestamp have been read here, so that the inbox can say which of them was wrong.
- HubSpot v3: base64 HMAC-SHA256 of method + URI + body + timestamp (milliseconds), with the app's client
  secret. The URI is the one HubSpot called, with the characters HubSpot decodes before signing decoded.
- Bling: ``X-Bling-Signature-256: sha256=<hex HMAC-SHA256 of the body>``, with the app's client secret.
- A shared key (Ploomes' validation key) in a named header, or at a path of the JSON body (Ploomes sends its
  ``ValidationKey`` in the body), compared in constant time.
- A hex HMAC-SHA256 of the body in a named header, with an optional ``sha256=`` prefix (GitHub style).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from core import stored_messages as stored

from ..choices import WebhookScheme
from ..paths import MISSING, get_path
from .identity import parsed_body

TOLERANCE = timedelta(minutes=5)  # a signed timestamp further than this from now is refused

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
HUBSPOT_SIGNATURE = "x-hubspot-signature-v3"
HUBSPOT_TIMESTAMP = "x-hubspot-request-timestamp"
BLING_SIGNATURE = "x-bling-signature-256"
# The headers whose values prove the sender (never stored): besides the receiver's own named header.
SIGNATURE_HEADERS = {
    WebhookScheme.STANDARD: ("webhook-signature",),
    WebhookScheme.HUBSPOT_V3: (HUBSPOT_SIGNATURE,),
    WebhookScheme.BLING: (BLING_SIGNATURE,),
    WebhookScheme.SHARED_KEY: (),
    WebhookScheme.HMAC_SHA256: (),
}
# The schemes whose header is named by the receiver.
NAMED_HEADER_SCHEMES = (WebhookScheme.SHARED_KEY, WebhookScheme.HMAC_SHA256)
# What HubSpot decodes in the URI before signing it (its v3 documentation's table).
HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


@dataclass(frozen=True)
class VerifyConfig:
    scheme: str
    secret: str
    signature_header: str = ""  # the named header of the shared-key and plain-HMAC schemes
    key_path: str = ""  # shared key: where the JSON body carries it, when no header is named


@dataclass(frozen=True)
class Delivery:
    method: str
    uri: str  # the full URI the sender called, query included
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Refusal:
    word: str  # the short word the sender is answered with
    reason: stored.StoredMessage  # why, in words, for the inbox


@dataclass(frozen=True)
class Verdict:
    refusal: Refusal | None = None
    sent_at: datetime | None = None  # the sender's signed timestamp, when the scheme has one

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def verify(config: VerifyConfig, delivery: Delivery, now: datetime) -> Verdict:
    """The verdict on ``delivery`` for a receiver configured by ``config``, at ``now`` (aware)."""
    check = {
        WebhookScheme.STANDARD: _standard,
        WebhookScheme.HUBSPOT_V3: _hubspot_v3,
        WebhookScheme.BLING: _bling,
        WebhookScheme.SHARED_KEY: _shared_key,
        WebhookScheme.HMAC_SHA256: _plain_hmac,
    }[WebhookScheme(config.scheme)]
    if not config.secret:
        return _refused("secret", stored.gettext("The receiver has no secret: set it on the connection's page."))
    return check(config, delivery, now)


def secret_problems(scheme: str, secret: str) -> list[str]:
    """What is wrong with ``secret`` for ``scheme`` (an empty list when nothing is)."""
    if scheme != WebhookScheme.STANDARD or not secret:
        return []
    try:
        Webhook(secret)
    except (ValueError, EmptyWebhookSecretError):  # binascii.Error is a ValueError
        return [stored.gettext("A Standard Webhooks secret is whsec_ followed by base64 text, as the sender shows it.")]
    return []


def header_names_to_hide(config: VerifyConfig) -> tuple[str, ...]:
    """The headers of a delivery whose values are never stored or shown."""
    named = (config.signature_header.lower(),) if config.signature_header else ()
    return (*SIGNATURE_HEADERS[WebhookScheme(config.scheme)], *named)


# ---------------------------------------------------------------- the schemes


def _standard(config, delivery, now) -> Verdict:
    message_id, timestamp, signatures = (delivery.headers.get(name, "") for name in STANDARD_HEADERS)
    if not (message_id and timestamp and signatures):
        return _missing(", ".join(STANDARD_HEADERS))
    sent_at, refusal = _signed_time(timestamp, 1, now)
    if refusal:
        return Verdict(refusal, sent_at)
    try:
        Webhook(config.secret).verify(delivery.body, dict(delivery.headers), json_parse=False)
    except (WebhookVerificationError, ValueError, binascii.Error):
        # ValueError: a body that is no UTF-8 text (Standard Webhooks signs text) or a malformed signature list.
        return Verdict(_bad_signature().refusal, sent_at)
    return Verdict(sent_at=sent_at)


def _hubspot_v3(config, delivery, now) -> Verdict:
    signature = delivery.headers.get(HUBSPOT_SIGNATURE, "")
    timestamp = delivery.headers.get(HUBSPOT_TIMESTAMP, "")
    if not (signature and timestamp):
        return _missing(f"{HUBSPOT_SIGNATURE}, {HUBSPOT_TIMESTAMP}")
    sent_at, refusal = _signed_time(timestamp, 1000, now)
    if refusal:
        return Verdict(refusal, sent_at)
    signed = (delivery.method.upper() + hubspot_uri(delivery.uri)).encode() + delivery.body + timestamp.encode()
    expected = base64.b64encode(_hmac(config.secret, signed))
    if not hmac.compare_digest(expected, signature.strip().encode()):
        return Verdict(_bad_signature().refusal, sent_at)
    return Verdict(sent_at=sent_at)


def hubspot_uri(uri: str) -> str:
    """``uri`` with the percent-escapes HubSpot decodes before it signs (either case of hex digits)."""
    result, index = [], 0
    while index < len(uri):
        escape = uri[index : index + 3].upper()
        if escape in HUBSPOT_DECODED:
            result.append(HUBSPOT_DECODED[escape])
            index += 3
        else:
            result.append(uri[index])
            index += 1
    return "".join(result)


def _bling(config, delivery, now) -> Verdict:
    value = delivery.headers.get(BLING_SIGNATURE, "")
    if not value:
        return _missing(BLING_SIGNATURE)
    return _hex_hmac_matches(config.secret, delivery.body, value, prefix_required=True)


def _shared_key(config, delivery, now) -> Verdict:
    if not config.signature_header and config.key_path:
        return _shared_key_in_body(config, delivery)
    value = delivery.headers.get(config.signature_header.lower(), "") if config.signature_header else ""
    if not value:
        return _missing(config.signature_header or "?")
    if not hmac.compare_digest(value.encode(), config.secret.encode()):
        return _refused(
            "signature", stored.gettext("The key in the %(header)s header is wrong.", header=config.signature_header)
        )
    return Verdict()


def _shared_key_in_body(config, delivery) -> Verdict:
    document = parsed_body(delivery.body)
    value = get_path(document, config.key_path) if isinstance(document, dict) else MISSING
    if value is MISSING or value in (None, "") or isinstance(value, dict | list):
        return _refused("headers", stored.gettext("The body carries no key at %(path)s.", path=config.key_path))
    if not hmac.compare_digest(str(value).encode(), config.secret.encode()):
        return _refused("signature", stored.gettext("The key at %(path)s of the body is wrong.", path=config.key_path))
    return Verdict()


def _plain_hmac(config, delivery, now) -> Verdict:
    value = delivery.headers.get(config.signature_header.lower(), "") if config.signature_header else ""
    if not value:
        return _missing(config.signature_header or "?")
    return _hex_hmac_matches(config.secret, delivery.body, value, prefix_required=False)


# ---------------------------------------------------------------- shared steps


def _hmac(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def _hex_hmac_matches(secret: str, body: bytes, value: str, *, prefix_required: bool) -> Verdict:
    value = value.strip()
    has_prefix = value[:7].lower() == "sha256="
    if prefix_required and not has_prefix:
        return _refused("signature", stored.gettext("The signature does not start with sha256=."))
    given = value[7:] if has_prefix else value
    expected = _hmac(secret, body).hex()
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        return _bad_signature()
    return Verdict()


def _signed_time(value: str, per_second: int, now: datetime) -> tuple[datetime | None, Refusal | None]:
    """The sender's timestamp (``per_second`` units in a second) and a refusal when it is unreadable or stale."""
    value = value.strip()
    try:
        if not (value.isascii() and value.isdigit()):
            raise ValueError(value)
        sent_at = datetime.fromtimestamp(int(value) / per_second, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None, Refusal("timestamp", stored.gettext("The timestamp %(value)s is not a time.", value=value[:40]))
    if sent_at < now - TOLERANCE:
        reason = stored.gettext("The timestamp is older than 5 minutes: signed at %(sent)s.", sent=sent_at.isoformat())
        return sent_at, Refusal("stale", reason)
    if sent_at > now + TOLERANCE:
        reason = stored.gettext(
            "The timestamp is more than 5 minutes ahead: signed at %(sent)s.", sent=sent_at.isoformat()
        )
        return sent_at, Refusal("stale", reason)
    return sent_at, None


def _missing(headers: str) -> Verdict:
    return _refused("headers", stored.gettext("A header the scheme needs is missing (%(headers)s).", headers=headers))


def _bad_signature() -> Verdict:
    return _refused("signature", stored.gettext("The signature does not match the body and the secret."))


def _refused(word: str, reason) -> Verdict:
    return Verdict(Refusal(word, reason))
