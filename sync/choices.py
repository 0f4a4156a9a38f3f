"""Every choice of the configuration models, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class IntegrationType(models.TextChoices):
    REST = "rest", _("REST API")
    SOAP = "soap", _("SOAP web service")
    WEBHOOK = "webhook", _("Webhook")
    FILE = "file", _("File drop")


class DeploymentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")


class ScheduleKind(models.TextChoices):
    NONE = "none", _("Not scheduled")
    INTERVAL = "interval", _("Every N minutes")
    DAILY = "daily", _("Daily at a time")
    CRON = "cron", _("Cron expression")


class ConnectionKind(models.TextChoices):
    REST = "rest", _("REST API")
    SOAP = "soap", _("SOAP web service")
    FILE = "file", _("Files (a folder or an SFTP server)")


# Kinds whose connector answers a count query (``Connector.count``): a table writing to another kind has none.
COUNTING_CONNECTION_KINDS = (ConnectionKind.REST,)


class AuthKind(models.TextChoices):
    NONE = "none", _("None")
    BASIC = "basic", _("HTTP basic")
    BEARER = "bearer", _("Bearer token")
    API_KEY = "api_key", _("API key header")
    OAUTH2 = "oauth2", _("OAuth2 client credentials")
    OAUTH2_CODE = "oauth2_code", _("OAuth2 authorization code")
    WSSE = "wsse", _("WS-Security UsernameToken")
    SESSION = "session", _("Session login (a login call, then its cookie)")
    BODY = "body", _("Credentials in the request body")
    SSH_KEY = "ssh_key", _("SSH private key (SFTP)")


class FileLocation(models.TextChoices):
    """Where a file connection's folders are."""

    LOCAL = "local", _("A folder of this server")
    SFTP = "sftp", _("A folder on an SFTP server")


class FileFormat(models.TextChoices):
    CSV = "csv", _("CSV (text separated by ; or ,)")
    XLSX = "xlsx", _("Excel workbook (XLSX)")
    FIXED_WIDTH = "fixed_width", _("Fixed-width text (a declared layout)")


class FileEncoding(models.TextChoices):
    AUTO = "auto", _("Detect (UTF-8, else Windows-1252)")
    UTF_8 = "utf-8", _("UTF-8")
    LATIN_1 = "latin-1", _("Latin-1 (ISO-8859-1)")
    CP1252 = "cp1252", _("Windows-1252")


class FileDelimiter(models.TextChoices):
    AUTO = "auto", _("Detect from the header")
    SEMICOLON = ";", _("Semicolon (;)")
    COMMA = ",", _("Comma (,)")


class Pagination(models.TextChoices):
    NONE = "none", _("None (one response)")
    PAGE = "page", _("Page number and size")
    OFFSET = "offset", _("Offset and limit")
    ODATA = "odata", _("OData $top and $skip")
    NEXT_LINK = "next_link", _("Next link in the response")
    CURSOR = "cursor", _("Cursor token in the response")
    BOOKMARK = "bookmark", _("Bookmark key (SOAP)")


class Direction(models.TextChoices):
    ERP_TO_CRM = "erp_to_crm", _("ERP → CRM")
    CRM_TO_ERP = "crm_to_erp", _("CRM → ERP")


class WriteMode(models.TextChoices):
    UPSERT = "upsert", _("Create and update")
    CREATE_ONLY = "create_only", _("Create only (never update)")
    UPDATE_ONLY = "update_only", _("Update only (never create)")


class BatchKind(models.TextChoices):
    """How a table writes several records in one call (blank: one call per record)."""

    NONE = "", _("One record per call")
    JSON_ARRAY = "json_array", _("JSON array POST (one result per record, in order)")
    HUBSPOT_UPSERT = "hubspot_upsert", _("HubSpot batch/upsert (by the match field)")
    ODATA_BATCH = "odata_batch", _("OData $batch (JSON, Business Central)")


class DeletePolicy(models.TextChoices):
    IGNORE = "ignore", _("Ignore deletes")
    DELETE = "delete", _("Delete in the target")


class Transform(models.TextChoices):
    NONE = "", _("None (copy as is)")
    TRIM = "trim", _("Trim spaces")
    UPPER = "upper", _("Upper case")
    LOWER = "lower", _("Lower case")
    DIGITS = "digits", _("Digits only")
    CNPJ = "cnpj", _("CNPJ (validate and format)")
    CPF = "cpf", _("CPF (validate and format)")
    CNPJ_CPF = "cnpj_cpf", _("CNPJ or CPF (validate and format)")
    PHONE = "phone", _("Phone number")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    DECIMAL = "decimal", _("Decimal number")
    INTEGER = "integer", _("Whole number")
    BOOLEAN = "boolean", _("Boolean")
    VALUE_MAP = "value_map", _("Value map")
    CONSTANT = "constant", _("Constant")
    TEMPLATE = "template", _("Template")
    LIST_MAP = "list_map", _("List of items (map each item's fields)")
    LOOKUP = "lookup", _("Lookup through another table's links")


class ValueType(models.TextChoices):
    """The type a mapped value is sent as (JSON type for REST; SOAP follows the WSDL)."""

    AS_IS = "", _("As the transform gives it")
    TEXT = "text", _("Text")
    INTEGER = "integer", _("Integer")
    DECIMAL = "decimal", _("Decimal (a number, exact digits)")
    BOOLEAN = "boolean", _("Boolean")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    NULL = "null", _("Null (always empty)")


class SendOn(models.TextChoices):
    """When a mapped field is sent to the target."""

    BOTH = "both", _("On create and on update")
    CREATE = "create", _("On create only")
    UPDATE = "update", _("On update only")


class FieldOwner(models.TextChoices):
    """Who wins when a person changed the field in the target since the portal last wrote it."""

    SOURCE = "source", _("Source system wins (the change in the target is overwritten and journaled)")
    TARGET = "target", _("Target system wins (written on create only, never overwritten)")


class FilterOperator(models.TextChoices):
    EQUALS = "eq", _("equals")
    NOT_EQUALS = "ne", _("does not equal")
    IN = "in", _("is one of")
    GREATER_THAN = "gt", _("is greater than")
    LESS_THAN = "lt", _("is less than")
    EMPTY = "empty", _("is empty")
    NOT_EMPTY = "not_empty", _("is not empty")
    MATCHES = "matches", _("matches the pattern")


# Operators that compare against no value.
UNARY_FILTER_OPERATORS = frozenset({FilterOperator.EMPTY, FilterOperator.NOT_EMPTY})


class Reprocess(models.TextChoices):
    """What the next run of a table goes through again from its staged records, before reading the source."""

    NOTHING = "", _("Nothing")
    ALL = "all", _("Every staged record")
    FAILED = "failed", _("The failed records")


class WebhookScheme(models.TextChoices):
    """How a webhook receiver checks that a delivery comes from its sender (sync.webhooks.verification)."""

    STANDARD = "standard", _("Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)")
    HUBSPOT_V3 = "hubspot_v3", _("HubSpot v3 signature (X-HubSpot-Signature-v3)")
    BLING = "bling", _("Bling signature (X-Bling-Signature-256)")
    SHARED_KEY = "shared_key", _("Shared key in a header or the body (Ploomes' validation key)")
    HMAC_SHA256 = "hmac_sha256", _("HMAC-SHA256 of the body in a header (GitHub style)")
