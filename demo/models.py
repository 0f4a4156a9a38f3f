"""The demo systems' own tables: a small ERP, a small Ploomes-shaped CRM, and their knobs.

These rows belong to the *outside* systems the portal integrates with; the
portal's configuration never reads them (it reaches them over HTTP like any
other ERP or CRM).
"""

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import (
    VALUE_KEYS,
    CreditStatus,
    CrmContactType,
    CrmEntity,
    CrmFieldType,
    CrmOrderStage,
    CrmWebhookAction,
    ErpOrderStatus,
    SandboxSystem,
)

ERP_USERNAME = "portal-demo"


def next_number(model, field: str, create, start: int = 1, attempts: int = 5):
    """Create a row numbered max + 1, retrying when a concurrent writer took the number.

    ``create(number)`` saves and returns the row; the unique constraint on ``field``
    is what guarantees uniqueness.
    """
    for _attempt in range(attempts):
        current = model.objects.aggregate(top=Max(field))["top"]
        number = max(start, (current or 0) + 1)
        try:
            with transaction.atomic():
                return create(number)
        except IntegrityError:
            continue
    raise IntegrityError(f"Could not allocate a new {model.__name__}.{field} after {attempts} attempts.")


# --- Demo ERP ---------------------------------------------------------------------------------


class ErpCustomer(models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    legal_name = models.CharField(_("legal name"), max_length=150)
    trade_name = models.CharField(_("trade name"), max_length=100)
    cnpj = models.CharField(_("CNPJ"), max_length=18, unique=True, help_text=_("Formatted: 00.000.000/0000-00"))
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    street_address = models.CharField(_("street address"), max_length=150, blank=True)
    zip_code = models.CharField(_("CEP"), max_length=9, blank=True)
    city = models.CharField(_("city"), max_length=80)
    state = models.CharField(_("state"), max_length=2)
    credit_status = models.CharField(
        _("credit status"), max_length=10, choices=CreditStatus.choices, default=CreditStatus.PENDING
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("ERP customer")
        verbose_name_plural = _("ERP customers")

    def __str__(self):
        return f"{self.code} · {self.trade_name}"


class ErpContact(models.Model):
    customer = models.ForeignKey(ErpCustomer, models.CASCADE, related_name="contacts", verbose_name=_("customer"))
    name = models.CharField(_("name"), max_length=120)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    cpf = models.CharField(_("CPF"), max_length=14, blank=True, help_text=_("Formatted: 000.000.000-00"))
    role = models.CharField(_("role"), max_length=80, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("ERP contact")
        verbose_name_plural = _("ERP contacts")

    def __str__(self):
        return self.name


class ErpProduct(models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    description = models.CharField(_("description"), max_length=150)
    unit = models.CharField(_("unit"), max_length=6, default="UN")
    unit_price = models.DecimalField(_("unit price (BRL)"), max_digits=12, decimal_places=2)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("ERP product")
        verbose_name_plural = _("ERP products")

    def __str__(self):
        return f"{self.code} · {self.description}"


class ErpOrder(models.Model):
    number = models.PositiveIntegerField(_("number"), unique=True)
    customer = models.ForeignKey(ErpCustomer, models.PROTECT, related_name="orders", verbose_name=_("customer"))
    status = models.CharField(
        _("status"), max_length=10, choices=ErpOrderStatus.choices, default=ErpOrderStatus.RECEIVED
    )
    external_id = models.CharField(
        _("external (CRM) id"), max_length=64, blank=True, help_text=_("The order's id in the CRM that sent it")
    )
    lines = models.JSONField(
        _("lines"), default=list, help_text=_("product_code, description, quantity, unit_price, total")
    )
    total = models.DecimalField(_("total (BRL)"), max_digits=14, decimal_places=2, default=0)
    notes = models.CharField(_("notes"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("ERP order")
        verbose_name_plural = _("ERP orders")
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="sandbox_erp_order_unique_external_id"
            )
        ]

    def __str__(self):
        return str(self.number)


# --- Demo CRM (Ploomes-shaped) ----------------------------------------------------------------


class CrmContact(models.Model):
    """A Ploomes contact: a company (TypeId 1) or a person (TypeId 2)."""

    type_id = models.PositiveSmallIntegerField(
        _("type"), choices=CrmContactType.choices, default=CrmContactType.COMPANY
    )
    name = models.CharField(_("name"), max_length=150)
    legal_name = models.CharField(_("legal name"), max_length=150, blank=True)
    cnpj = models.CharField(_("CNPJ"), max_length=14, blank=True, help_text=_("Digits only"))
    cpf = models.CharField(_("CPF"), max_length=11, blank=True, help_text=_("Digits only"))
    company = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="people",
        limit_choices_to={"type_id": CrmContactType.COMPANY},
        verbose_name=_("company"),
    )
    email = models.EmailField(_("email"), blank=True)
    phones = models.JSONField(_("phones"), default=list, blank=True)
    street_address = models.CharField(_("street address"), max_length=150, blank=True)
    city = models.CharField(_("city"), max_length=80, blank=True)
    state = models.CharField(_("state"), max_length=2, blank=True)
    other_properties = models.JSONField(_("other properties"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last update"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("CRM contact")
        verbose_name_plural = _("CRM contacts")
        constraints = [
            models.UniqueConstraint(fields=["cnpj"], condition=~Q(cnpj=""), name="sandbox_crm_contact_unique_cnpj"),
        ]
        indexes = [models.Index(fields=["email"], name="sandbox_crm_contact_email")]

    def __str__(self):
        return self.name


class CrmProduct(models.Model):
    name = models.CharField(_("name"), max_length=150)
    code = models.CharField(_("code"), max_length=40, blank=True)
    price = models.DecimalField(_("price (BRL)"), max_digits=12, decimal_places=2, default=0)
    active = models.BooleanField(_("active"), default=True)
    other_properties = models.JSONField(_("other properties"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last update"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("CRM product")
        verbose_name_plural = _("CRM products")
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=~Q(code=""), name="sandbox_crm_product_unique_code"),
        ]

    def __str__(self):
        return self.name


class CrmOrder(models.Model):
    order_number = models.PositiveIntegerField(_("order number"), unique=True)
    contact = models.ForeignKey(CrmContact, models.PROTECT, related_name="orders", verbose_name=_("contact"))
    amount = models.DecimalField(_("amount (BRL)"), max_digits=14, decimal_places=2, default=0)
    products = models.JSONField(
        _("products"), default=list, blank=True, help_text=_("ProductId, ProductCode, Quantity, UnitPrice, Total")
    )
    stage_id = models.PositiveSmallIntegerField(_("stage"), choices=CrmOrderStage.choices, default=CrmOrderStage.NEW)
    status = models.CharField(_("status in the ERP"), max_length=30, blank=True)
    erp_order_number = models.PositiveIntegerField(_("ERP order number"), null=True, blank=True)
    other_properties = models.JSONField(_("other properties"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last update"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("CRM order")
        verbose_name_plural = _("CRM orders")

    def __str__(self):
        return str(self.order_number)


# Custom fields every demo CRM starts with: (key, name, entity, type).
DEFAULT_CRM_FIELDS = (
    ("contact_ERP_CODE", "Código no ERP", CrmEntity.CONTACTS, CrmFieldType.TEXT),
    ("contact_CREDIT_LIMIT", "Limite de crédito", CrmEntity.CONTACTS, CrmFieldType.DECIMAL),
    ("contact_ERP_ACTIVE", "Ativo no ERP", CrmEntity.CONTACTS, CrmFieldType.BOOLEAN),
    ("product_ERP_CODE", "Código no ERP", CrmEntity.PRODUCTS, CrmFieldType.TEXT),
    ("product_ERP_UNIT", "Unidade no ERP", CrmEntity.PRODUCTS, CrmFieldType.TEXT),
    ("order_ERP_NUMBER", "Número do pedido no ERP", CrmEntity.ORDERS, CrmFieldType.INTEGER),
    ("order_ERP_STATUS", "Status no ERP", CrmEntity.ORDERS, CrmFieldType.TEXT),
    ("order_ERP_UPDATED", "Atualizado no ERP em", CrmEntity.ORDERS, CrmFieldType.DATE_TIME),
)


class CrmField(models.Model):
    """A custom field of the demo CRM (Ploomes' ``/Fields``): records carry its value in ``OtherProperties``."""

    key = models.CharField(_("key"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=100)
    entity_id = models.PositiveSmallIntegerField(_("entity"), choices=CrmEntity.choices)
    type_id = models.PositiveSmallIntegerField(_("type"), choices=CrmFieldType.choices)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("CRM custom field")
        verbose_name_plural = _("CRM custom fields")

    def __str__(self):
        return self.key

    @classmethod
    def ensure_defaults(cls) -> None:
        """The default fields, on an empty table (a fresh or flushed database); never re-adds one of them alone."""
        if not cls.objects.exists():
            cls.objects.bulk_create(
                [
                    cls(key=key, name=name, entity_id=entity, type_id=type_id)
                    for key, name, entity, type_id in DEFAULT_CRM_FIELDS
                ],
                ignore_conflicts=True,
            )

    @classmethod
    def value_keys(cls, entity: int) -> dict[str, str]:
        """``{FieldKey: value key}`` of the fields of ``entity``, e.g. ``{"contact_ERP_CODE": "StringValue"}``."""
        rows = list(cls.objects.filter(entity_id=entity).values_list("key", "type_id"))
        if not rows:
            cls.ensure_defaults()
            rows = list(cls.objects.filter(entity_id=entity).values_list("key", "type_id"))
        return {key: VALUE_KEYS[CrmFieldType(type_id)] for key, type_id in rows}


class CrmWebhook(models.Model):
    """A webhook registered at the demo CRM (``POST /Webhooks``): where to send the changes of one entity and action."""

    entity_id = models.PositiveSmallIntegerField(_("entity"), choices=CrmEntity.choices)
    action_id = models.PositiveSmallIntegerField(_("action"), choices=CrmWebhookAction.choices)
    callback_url = models.URLField(_("callback URL"), max_length=500)
    validation_key = models.CharField(_("validation key"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("CRM webhook")
        verbose_name_plural = _("CRM webhooks")
        indexes = [models.Index(fields=["entity_id", "action_id"], name="sandbox_crm_webhook_event")]

    def __str__(self):
        return f"{self.get_entity_id_display()} · {self.get_action_id_display()} → {self.callback_url}"


# --- Knobs and credentials --------------------------------------------------------------------

# The rates that share one roll of the dice, in the order their bands are laid out.
DISTURBANCE_RATES = ("throttle_rate", "error_rate", "slow_rate", "drop_rate")
BEHAVIOUR_FIELDS = (
    "down",
    *DISTURBANCE_RATES,
    "retry_after_seconds",
    "latency_ms",
    "slow_ms",
    "order_step_seconds",
)


class SandboxKnobs(models.Model):
    """How one demo system misbehaves, and the credentials it accepts.

    The credentials are those of the *outside* system (the demo ERP's user, the
    demo CRM's User-Key); they are generated at random when the row is created.
    """

    system = models.CharField(_("system"), max_length=3, choices=SandboxSystem.choices, unique=True)
    down = models.BooleanField(_("down"), default=False, help_text=_("Answer every request with 503"))
    error_rate = models.FloatField(
        _("error rate"),
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Share of requests answered with 500, from 0 to 1"),
    )
    throttle_rate = models.FloatField(
        _("throttle rate"),
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Share of requests answered with 429 and Retry-After, from 0 to 1"),
    )
    retry_after_seconds = models.PositiveIntegerField(
        _("Retry-After (seconds)"), default=2, help_text=_("Sent with every 429 answer")
    )
    latency_ms = models.PositiveIntegerField(
        _("latency (ms)"), default=0, validators=[MaxValueValidator(60_000)], help_text=_("Added to every request")
    )
    slow_rate = models.FloatField(
        _("slow rate"),
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Share of requests answered only after the slow answer time, from 0 to 1"),
    )
    slow_ms = models.PositiveIntegerField(
        _("slow answer (ms)"),
        default=5_000,
        validators=[MaxValueValidator(120_000)],
        help_text=_("How long a slow request waits for its answer; beyond the client's timeout, the client times out"),
    )
    drop_rate = models.FloatField(
        _("drop rate"),
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Share of answers cut off mid-body: the connection closes after part of the answer, from 0 to 1"),
    )
    order_step_seconds = models.PositiveIntegerField(
        _("order step (seconds)"),
        default=120,
        help_text=_("ERP only: the back office moves an order one status forward after this long; 0 never"),
    )
    username = models.CharField(_("username"), max_length=50, blank=True)
    password = models.CharField(_("password"), max_length=100, blank=True)
    api_key = models.CharField(_("User-Key"), max_length=100, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["system"]
        verbose_name = _("demo system knobs")
        verbose_name_plural = _("demo system knobs")

    def __str__(self):
        return str(SandboxSystem(self.system).label)

    @classmethod
    def for_system(cls, system: str) -> "SandboxKnobs":
        """The knobs of ``system``, created with fresh random credentials on first use."""
        knobs, _created = cls.objects.get_or_create(system=system, defaults=new_credentials(system))
        return knobs

    def clean(self):
        shares = sum(getattr(self, name) or 0 for name in DISTURBANCE_RATES)
        if shares > 1:
            raise ValidationError(
                _("The throttle, error, slow and drop rates share the requests: together they cannot exceed 1.")
            )

    def reset_behaviour(self) -> None:
        """Back to a well-behaved system; credentials are kept."""
        for name in BEHAVIOUR_FIELDS:
            setattr(self, name, self._meta.get_field(name).default)
        self.save()

    def rotate_credentials(self) -> None:
        for name, value in new_credentials(self.system).items():
            setattr(self, name, value)
        self.save()


def new_credentials(system: str) -> dict:
    """Random credentials for a demo system: never a fixed, real-looking secret."""
    if system == SandboxSystem.ERP:
        return {"username": ERP_USERNAME, "password": secrets.token_urlsafe(18), "api_key": ""}
    return {"username": "", "password": "", "api_key": secrets.token_hex(32).upper()}
