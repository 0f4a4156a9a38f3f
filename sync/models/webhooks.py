"""Where a system sends its webhooks: a connection's receiver, its secret address and how its sender is checked."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField

from .. import validators
from ..choices import WebhookScheme
from ..webhooks.verification import NAMED_HEADER_SCHEMES, VerifyConfig, secret_problems
from .cleaning import raise_errors
from .connections import Connection

MAX_BODY_BYTES = (1024, 20 * 1024 * 1024)  # the range IT may set a body cap in
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def new_token() -> str:
    """An unguessable address part: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


class WebhookReceiver(models.Model):
    """A connection's webhook endpoint, ``/hooks/<token>/``: the token is the address, the secret the proof."""

    connection = models.OneToOneField(
        Connection, models.CASCADE, related_name="webhook_receiver", verbose_name=_("connection")
    )
    token = models.CharField(_("address token"), max_length=64, unique=True, default=new_token, editable=False)
    scheme = models.CharField(_("verification"), max_length=20, choices=WebhookScheme.choices)
    secret = EncryptedTextField(
        _("secret"),
        help_text=_(
            "Standard Webhooks: the whsec_… secret; HubSpot and Bling: the app's client secret; shared key: the "
            "key the sender sends; HMAC: the signing secret"
        ),
    )
    signature_header = models.CharField(
        _("header"),
        max_length=100,
        blank=True,
        help_text=_(
            "Shared key and HMAC: the header the sender puts the key or the signature in, e.g. X-Hub-Signature-256"
        ),
    )
    delivery_id_header = models.CharField(
        _("delivery id header"),
        max_length=100,
        blank=True,
        help_text=_(
            "A header holding the sender's own delivery id, e.g. X-GitHub-Delivery: a delivery with an id already "
            "received is answered without being stored again. Blank: the scheme's id (webhook-id, HubSpot's event "
            "ids) or a hash of the body"
        ),
    )
    event_type_path = models.CharField(
        _("event type path"),
        max_length=200,
        blank=True,
        help_text=_(
            "Where the JSON body names the event type, e.g. Action; blank: type (Standard Webhooks), "
            "subscriptionType (HubSpot), event (Bling)"
        ),
    )
    max_body_bytes = models.PositiveIntegerField(
        _("largest body (bytes)"),
        default=DEFAULT_MAX_BODY_BYTES,
        validators=validators.number_range(*MAX_BODY_BYTES),
        help_text=_("A larger delivery is refused (413) without being read"),
    )
    active = models.BooleanField(_("active"), default=True, help_text=_("Inactive: every delivery is answered 404"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    token_changed_at = models.DateTimeField(_("address given"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook receiver")
        verbose_name_plural = _("webhook receivers")

    def __str__(self):
        return str(_("Webhooks from %(connection)s") % {"connection": self.connection})

    def clean(self):
        errors = {"secret": secret_problems(self.scheme, self.secret)}
        if self.scheme in NAMED_HEADER_SCHEMES and not self.signature_header.strip():
            errors["signature_header"] = [_("This verification reads a header: name it.")]
        raise_errors(errors)

    def new_address(self, now=None):
        """A new token (the old address stops working at once), saved with the time it was given."""
        self.token = new_token()
        self.token_changed_at = now or timezone.now()
        self.save(update_fields=["token", "token_changed_at"])

    def verify_config(self) -> VerifyConfig:
        return VerifyConfig(scheme=self.scheme, secret=self.secret, signature_header=self.signature_header.strip())
