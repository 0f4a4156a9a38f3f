"""Every choice of the demo ERP and CRM, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class SandboxSystem(models.TextChoices):
    ERP = "erp", _("Demo ERP (SOAP)")
    CRM = "crm", _("Demo CRM (REST)")


class CreditStatus(models.TextChoices):
    APPROVED = "approved", _("Approved")
    BLOCKED = "blocked", _("Blocked")
    PENDING = "pending", _("Pending analysis")


class ErpOrderStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    APPROVED = "approved", _("Approved")
    INVOICED = "invoiced", _("Invoiced")
    SHIPPED = "shipped", _("Shipped")
    CANCELLED = "cancelled", _("Cancelled")


# The demo ERP's back office moves an order one step at a time along this path.
ORDER_WORKFLOW = (
    (ErpOrderStatus.RECEIVED, ErpOrderStatus.APPROVED),
    (ErpOrderStatus.APPROVED, ErpOrderStatus.INVOICED),
    (ErpOrderStatus.INVOICED, ErpOrderStatus.SHIPPED),
)
TERMINAL_ORDER_STATUSES = frozenset({ErpOrderStatus.SHIPPED, ErpOrderStatus.CANCELLED})


class CrmContactType(models.IntegerChoices):
    """Ploomes keeps companies and people in one /Contacts resource, told apart by TypeId."""

    COMPANY = 1, _("Company")
    PERSON = 2, _("Person")


class CrmOrderStage(models.IntegerChoices):
    NEW = 1, _("New")
    SENT_TO_ERP = 2, _("Sent to the ERP")
    IN_PROGRESS = 3, _("In progress in the ERP")
    DONE = 4, _("Delivered")
    LOST = 5, _("Cancelled")


class Disturbance(models.TextChoices):
    """What the knobs made a demo system do to one request."""

    DOWN = "down", _("System down")
    THROTTLED = "throttled", _("Too many requests")
    ERROR = "error", _("Internal error")
    SLOW = "slow", _("Slow answer")
    DROPPED = "dropped", _("Connection dropped mid-answer")


# The disturbances answered instead of the request; the others let it through and spoil its answer.
ANSWERED_INSTEAD = frozenset({Disturbance.DOWN, Disturbance.THROTTLED, Disturbance.ERROR})


class CrmEntity(models.IntegerChoices):
    """The demo CRM's resources that take custom fields (Ploomes calls them entities)."""

    CONTACTS = 1, _("Contacts")
    ORDERS = 4, _("Orders")
    PRODUCTS = 10, _("Products")


class CrmFieldType(models.IntegerChoices):
    """The type of a custom field; it decides which value key carries the field's value."""

    TEXT = 1, _("Text")
    INTEGER = 2, _("Whole number")
    DECIMAL = 3, _("Decimal number")
    DATE_TIME = 4, _("Date and time")
    BOOLEAN = 5, _("Yes/no")


# The one key of an OtherProperties element that holds the value of a field of each type.
VALUE_KEYS = {
    CrmFieldType.TEXT: "StringValue",
    CrmFieldType.INTEGER: "IntegerValue",
    CrmFieldType.DECIMAL: "DecimalValue",
    CrmFieldType.DATE_TIME: "DateTimeValue",
    CrmFieldType.BOOLEAN: "BoolValue",
}


class CrmWebhookAction(models.IntegerChoices):
    """What a webhook of the demo CRM is sent for (Ploomes' ActionId, listed at /Webhooks@Actions)."""

    CREATE = 1, "Create"
    UPDATE = 2, "Update"
    DELETE = 3, "Delete"
