"""Where a system sends its webhooks: a connection's receiver, its secret address and how its sender is checked."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField

from .. import validators
from ..choices import WebhookScheme
from ..webhooks.identity import template_is_valid
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
    key_path = models.CharField(
        _("key path in the body"),
        max_length=200,
        blank=True,
        help_text=_("Shared key without a header: where the JSON body carries the key, e.g. ValidationKey (Ploomes)"),
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
            "Where the JSON body names the event type, e.g. Action, or a template of paths in braces, e.g. "
            "{Entity}.{Action} (Ploomes); blank: type (Standard Webhooks), subscriptionType (HubSpot), event (Bling)"
        ),
    )
    hubspot_app_id = models.CharField(
        _("HubSpot app id"),
        max_length=20,
        blank=True,
        help_text=_(
            "HubSpot: the public app whose webhooks these are, e.g. 1234567; with the developer API key, the "
            "portal registers its address and subscriptions at HubSpot"
        ),
    )
    hubspot_developer_key = EncryptedTextField(
        _("HubSpot developer API key"),
        blank=True,
        help_text=_("HubSpot: the developer account's API key, which HubSpot's webhooks API asks for (hapikey)"),
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
        header, key_path = self.signature_header.strip(), self.key_path.strip()
        if self.scheme == WebhookScheme.SHARED_KEY and not (header or key_path):
            errors["signature_header"] = [_("Name the header the key comes in, or its path in the body.")]
        elif self.scheme in NAMED_HEADER_SCHEMES and not header:
            errors["signature_header"] = [_("This verification reads a header: name it.")]
        errors |= self._hubspot_app_problems()
        if not template_is_valid(self.event_type_path):
            errors["event_type_path"] = [
                _("Write a template as paths in braces, e.g. {Entity}.{Action}: every brace closed, none empty.")
            ]
        raise_errors(errors)

    def _hubspot_app_problems(self) -> dict[str, list]:
        app_id, key = self.hubspot_app_id.strip(), self.hubspot_developer_key.strip()
        if app_id and not app_id.isdigit():
            return {"hubspot_app_id": [_("A HubSpot app id is a number, e.g. 1234567.")]}
        if app_id and not key:
            return {"hubspot_developer_key": [_("Fill in the developer API key with the app id, or neither.")]}
        if key and not app_id:
            return {"hubspot_app_id": [_("Fill in the app id with the developer API key, or neither.")]}
        return {}

    def new_address(self, now=None):
        """A new token (the old address stops working at once), saved with the time it was given."""
        self.token = new_token()
        self.token_changed_at = now or timezone.now()
        self.save(update_fields=["token", "token_changed_at"])

    def verify_config(self) -> VerifyConfig:
        return VerifyConfig(
            scheme=self.scheme,
            secret=self.secret,
            signature_header=self.signature_header.strip(),
            key_path=self.key_path.strip(),
        )


class WebhookRegistration(models.Model):
    """One subscription the portal made at the sender for a receiver, by the id the sender gave it.

    Kept so that registering again skips what is registered and *Remove* deletes exactly these.
    """

    receiver = models.ForeignKey(
        WebhookReceiver, models.CASCADE, related_name="registrations", verbose_name=_("receiver")
    )
    event_type = models.CharField(_("event type"), max_length=200)
    # HubSpot subscribes a property change one property at a time: the property, e.g. email; else blank.
    property_name = models.CharField(_("property"), max_length=200, blank=True)
    sender_id = models.CharField(_("id at the sender"), max_length=100)
    address = models.TextField(_("address registered"))
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)

    class Meta:
        ordering = ["event_type", "property_name", "pk"]
        verbose_name = _("webhook registration at the sender")
        verbose_name_plural = _("webhook registrations at the sender")
        constraints = [
            models.UniqueConstraint(
                fields=["receiver", "event_type", "property_name"], name="webhook_registration_one_per_subscription"
            )
        ]

    def __str__(self):
        return f"{self.label} ({self.sender_id})"

    @property
    def label(self) -> str:
        """The event type, and the property it watches when it watches one: ``contact.propertyChange (email)``."""
        return subscription_label(self.event_type, self.property_name)


def subscription_label(event_type: str, property_name: str = "") -> str:
    return f"{event_type} ({property_name})" if property_name else event_type
