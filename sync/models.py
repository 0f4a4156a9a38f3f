"""How data moves: integrations, connections, tables, mappings, links and staged records."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField

from . import validators
from .choices import (
    AuthKind,
    ConnectionKind,
    DeletePolicy,
    DeploymentStatus,
    Direction,
    FieldOwner,
    IntegrationType,
    Pagination,
    Reprocess,
    ScheduleKind,
    SendOn,
    Transform,
    ValueType,
    WriteMode,
)

# Which secret each auth kind needs, besides its plain fields.
AUTH_REQUIREMENTS = {
    AuthKind.NONE: (),
    AuthKind.BASIC: ("username", "password"),
    AuthKind.BEARER: ("token",),
    AuthKind.API_KEY: ("api_key_header", "api_key"),
    AuthKind.OAUTH2: ("oauth_token_url", "client_id", "client_secret"),
    AuthKind.WSSE: ("username", "password"),
}
SECRET_FIELDS = ("password", "token", "api_key", "client_secret")
# The addresses a connection calls: each must pass the outbound policy (sync.outbound).
OUTBOUND_URL_FIELDS = ("base_url", "wsdl_url", "endpoint_url", "oauth_token_url")

# The longest interval schedule: a week (django-q2 keeps a schedule's minutes in a small integer).
LONGEST_INTERVAL_MINUTES = 7 * 24 * 60
LONGEST_MAX_TIME_WITHOUT_SUCCESS = timedelta(days=365)  # as the integration page allows
LONGEST_WAIT_FOR_PARENT = timedelta(days=90)
TIMEOUT_SECONDS = (1, 3600)  # of one call
RETRIES = (0, 10)


def _clean_fields_with_outbound_urls(instance, url_fields, exclude, clean_other_fields) -> None:
    """Check ``url_fields`` against the outbound policy, then the other fields as Django does.

    A URL refused here is not also checked by the generic URL validator (one clear message).
    """
    exclude = set(exclude or ())
    errors = {}
    for name in url_fields:
        if name in exclude:
            continue
        problems = validators.check_outbound_url(getattr(instance, name), instance._meta.get_field(name).verbose_name)
        if problems:
            errors[name] = problems
            exclude.add(name)
    try:
        clean_other_fields(exclude=exclude)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def _in_range(value, bounds: tuple[int, int]) -> bool:
    """Whether ``value`` is a whole number within ``bounds`` (outside, the field's own range check speaks)."""
    low, high = bounds
    return isinstance(value, int) and low <= value <= high


def _errors(field_messages: dict) -> None:
    cleaned = {field: messages for field, messages in field_messages.items() if messages}
    if cleaned:
        raise ValidationError(cleaned)


class Connection(models.Model):
    """How to reach one system (an ERP or a CRM)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ConnectionKind.choices)
    base_url = models.URLField(
        _("base URL"), blank=True, help_text=_("REST: the API root, e.g. https://api2.ploomes.com")
    )
    wsdl_url = models.URLField(_("WSDL URL"), blank=True, help_text=_("SOAP: where the WSDL is served"))
    wsdl_document = models.TextField(
        _("WSDL document"), blank=True, help_text=_("SOAP: the WSDL itself, when it is uploaded instead of served")
    )
    soap_service = models.CharField(
        _("SOAP service"), max_length=200, blank=True, help_text=_("Blank: the WSDL's first")
    )
    soap_port = models.CharField(_("SOAP port"), max_length=200, blank=True, help_text=_("Blank: the service's first"))
    endpoint_url = models.URLField(
        _("endpoint URL override"),
        blank=True,
        help_text=_("SOAP: call this address instead of the one written in the WSDL"),
    )

    auth_kind = models.CharField(_("authentication"), max_length=10, choices=AuthKind.choices, default=AuthKind.NONE)
    username = models.CharField(_("username"), max_length=200, blank=True)
    password = EncryptedTextField(_("password"), blank=True)
    token = EncryptedTextField(_("bearer token"), blank=True)
    api_key_header = models.CharField(
        _("API key header"), max_length=100, blank=True, help_text=_("e.g. User-Key for Ploomes")
    )
    api_key = EncryptedTextField(_("API key"), blank=True)
    oauth_token_url = models.URLField(_("OAuth2 token URL"), blank=True)
    client_id = models.CharField(_("OAuth2 client id"), max_length=200, blank=True)
    client_secret = EncryptedTextField(_("OAuth2 client secret"), blank=True)
    oauth_scope = models.CharField(_("OAuth2 scope"), max_length=200, blank=True)

    pagination = models.CharField(_("pagination"), max_length=10, choices=Pagination.choices, default=Pagination.NONE)
    page_size = models.PositiveIntegerField(_("page size"), default=100, validators=validators.number_range(1, 10_000))
    records_path = models.CharField(
        _("records path"),
        max_length=200,
        blank=True,
        help_text=_("Where the records are in a response, e.g. value or data.items; blank: the response itself"),
    )
    test_path = models.CharField(
        _("test path"),
        max_length=500,
        blank=True,
        help_text=_(
            "REST: what Test connection reads with the connection's credentials, relative to the base URL, "
            "e.g. /Contacts?$top=1. Blank: one record of the first active table that reads from this connection, "
            "or the base URL when no table does"
        ),
    )
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"),
        default=30,
        validators=validators.number_range(*TIMEOUT_SECONDS),
        help_text=_("For every call"),
    )
    max_retries = models.PositiveIntegerField(
        _("retries"),
        default=3,
        validators=validators.number_range(*RETRIES),
        help_text=_("For timeouts, 429 and 5xx answers, with backoff"),
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        _("rate limit (calls per minute)"), null=True, blank=True, validators=validators.number_range(1, 60_000)
    )
    verify_tls = models.BooleanField(_("verify TLS certificates"), default=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # A secret the chosen authentication does not use is not kept.
        needed = AUTH_REQUIREMENTS.get(self.auth_kind, ())
        for field in SECRET_FIELDS:
            if field not in needed:
                setattr(self, field, "")
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        """The URLs the portal calls are checked against the outbound policy, in words naming the field."""
        _clean_fields_with_outbound_urls(self, OUTBOUND_URL_FIELDS, exclude, super().clean_fields)

    def clean(self):
        errors = {}
        if self.kind == ConnectionKind.REST:
            if not self.base_url:
                errors["base_url"] = [_("A REST connection needs a base URL.")]
            if self.auth_kind == AuthKind.WSSE:
                errors["auth_kind"] = [_("WS-Security applies to SOAP connections only.")]
            if self.pagination == Pagination.BOOKMARK:
                errors["pagination"] = [_("Bookmark paging applies to SOAP connections only.")]
            errors["test_path"] = validators.check_relative_query(self.test_path, example="/Contacts?$top=1")
        elif self.kind == ConnectionKind.SOAP:
            if not (self.wsdl_url or self.wsdl_document.strip()):
                errors["wsdl_url"] = [_("A SOAP connection needs a WSDL: give its URL or upload the document.")]
            if self.auth_kind in (AuthKind.BEARER, AuthKind.API_KEY, AuthKind.OAUTH2):
                errors["auth_kind"] = [_("A SOAP connection supports HTTP basic or WS-Security authentication.")]
            if self.test_path:
                errors["test_path"] = [_("A test path applies to REST connections only: clear it.")]
        for field in AUTH_REQUIREMENTS.get(self.auth_kind, ()):
            if not getattr(self, field):
                label = self._meta.get_field(field).verbose_name
                errors.setdefault(field, []).append(
                    _("%(auth)s authentication needs the %(field)s.")
                    % {"auth": AuthKind(self.auth_kind).label, "field": label}
                )
        if _in_range(self.timeout_seconds, TIMEOUT_SECONDS) and _in_range(self.max_retries, RETRIES):
            task_timeout = settings.Q_CLUSTER.get("timeout") or 3600
            worst_case = validators.check_call_worst_case(self.timeout_seconds, self.max_retries, task_timeout)
            if worst_case:
                errors.setdefault("max_retries", []).extend(worst_case)
        _errors(errors)

    def secrets_set(self) -> list[str]:
        """Names of the secret fields that hold a value (never the values)."""
        return [field for field in SECRET_FIELDS if getattr(self, field)]

    def first_reading_table(self):
        """The first active table a sync reads from this connection, None when none does.

        A table reads from its integration's ERP connection when it moves ERP → CRM, from the CRM
        connection when it moves CRM → ERP. Tables of active integrations come first, then by
        integration and by the tables' order. A table read once per link of another is left out:
        its read needs a record's key.
        """
        reads_from_this = models.Q(integration__erp_connection=self, direction=Direction.ERP_TO_CRM) | models.Q(
            integration__crm_connection=self, direction=Direction.CRM_TO_ERP
        )
        return (
            SyncTable.objects.filter(reads_from_this, active=True, read_per_link_of__isnull=True)
            .order_by("-integration__active", "integration__name", "order", "pk")
            .first()
        )


class Integration(models.Model):
    """One ERP ↔ CRM pair and how and when it runs."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    integration_type = models.CharField(_("integration type"), max_length=10, choices=IntegrationType.choices)
    erp_name = models.CharField(_("ERP"), max_length=100, help_text=_("e.g. Sankhya, TOTVS, SAP B1, Dynamics NAV"))
    erp_version = models.CharField(_("ERP version"), max_length=50, blank=True)
    crm_name = models.CharField(_("CRM"), max_length=100, help_text=_("e.g. Ploomes, HubSpot"))
    erp_connection = models.ForeignKey(
        Connection, models.PROTECT, related_name="erp_integrations", verbose_name=_("ERP connection")
    )
    crm_connection = models.ForeignKey(
        Connection, models.PROTECT, related_name="crm_integrations", verbose_name=_("CRM connection")
    )
    deployment_status = models.CharField(
        _("deployment status"), max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.IN_PROGRESS
    )
    active = models.BooleanField(_("active"), default=True)
    activated_at = models.DateTimeField(
        _("activated at"), null=True, blank=True, editable=False, help_text=_("When it was last switched on")
    )
    business_rule = models.TextField(
        _("business rule"), blank=True, help_text=_("e.g. only customers with approved credit")
    )

    schedule_kind = models.CharField(
        _("schedule"), max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.NONE
    )
    schedule_interval_minutes = models.PositiveIntegerField(
        _("every (minutes)"),
        null=True,
        blank=True,
        validators=[
            validators.NotBelow(1, low=1, high=LONGEST_INTERVAL_MINUTES),
            validators.IntervalNotAbove(LONGEST_INTERVAL_MINUTES, low=1, high=LONGEST_INTERVAL_MINUTES),
        ],
    )
    schedule_daily_time = models.CharField(_("daily at (HH:MM)"), max_length=5, blank=True)
    schedule_cron = models.CharField(
        _("cron expression"), max_length=100, blank=True, help_text=_("e.g. */15 8-18 * * 1-5")
    )
    max_time_without_success = models.DurationField(
        _("max time without success"),
        default=timedelta(hours=24),
        validators=[validators.DurationNotAbove(LONGEST_MAX_TIME_WITHOUT_SUCCESS)],
        help_text=_("Alert when no run has succeeded for this long, e.g. 24h"),
    )
    alert_emails = models.TextField(
        _("alert recipients"), blank=True, help_text=_("Email addresses, separated by commas or lines")
    )
    # A credential for Slack-like services (whoever has it can post): encrypted like a connection's secrets.
    alert_webhook_url = EncryptedTextField(
        _("alert webhook URL"), blank=True, help_text=_("Receives JSON with a Slack-compatible text")
    )

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("integration")
        verbose_name_plural = _("integrations")
        permissions = [
            ("run_integration", _("Can run an integration now")),
            ("export_history", _("Can export an integration's history")),
            ("change_deployment_status", _("Can change an integration's deployment status")),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.active and self.activated_at is None:
            self.activated_at = timezone.now()
        elif not self.active:
            self.activated_at = None
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        """The alert webhook is an address the portal calls: it must pass the outbound policy."""
        _clean_fields_with_outbound_urls(self, ("alert_webhook_url",), exclude, super().clean_fields)

    def clean(self):
        errors = {}
        kind = self.schedule_kind
        if kind == ScheduleKind.INTERVAL and not self.schedule_interval_minutes:
            errors["schedule_interval_minutes"] = [_("Say every how many minutes the integration runs.")]
        if kind == ScheduleKind.DAILY:
            errors["schedule_daily_time"] = validators.check_daily_time(self.schedule_daily_time)
        if kind == ScheduleKind.CRON:
            errors["schedule_cron"] = validators.check_cron(self.schedule_cron)
        if self.max_time_without_success is not None and self.max_time_without_success <= timedelta(0):
            errors["max_time_without_success"] = [_("The max time without success must be positive, e.g. 24h.")]
        errors["alert_emails"] = validators.check_email_list(self.alert_emails)
        if self.erp_connection_id and self.erp_connection_id == self.crm_connection_id:
            errors["crm_connection"] = [_("The ERP and the CRM need different connections.")]
        _errors(errors)

    @property
    def alert_recipients(self) -> list[str]:
        return validators.split_list(self.alert_emails)


class SyncTable(models.Model):
    """One kind of record moving one way, e.g. Company ERP → CRM."""

    # Changing any of these starts the table's reading over from the beginning.
    READ_SETTINGS = ("source_object", "cursor_field", "incremental_filter")

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="tables", verbose_name=_("integration"))
    name = models.CharField(_("name"), max_length=100, help_text=_("e.g. Company, Contact, Order"))
    description = models.CharField(_("description"), max_length=200, blank=True)
    direction = models.CharField(_("direction"), max_length=12, choices=Direction.choices, default=Direction.ERP_TO_CRM)
    order = models.PositiveIntegerField(
        _("order"),
        default=0,
        validators=validators.number_range(0, 10_000),
        help_text=_("Lower runs first (companies before contacts)"),
    )
    active = models.BooleanField(_("active"), default=True)
    source_object = models.CharField(
        _("source object"),
        max_length=200,
        help_text=_("REST path (e.g. /Contacts) or SOAP operation (e.g. ReadMultiple)"),
    )
    read_arguments = models.JSONField(
        _("read arguments"),
        default=dict,
        blank=True,
        help_text=_(
            "Fixed query parameters (REST) or the read operation's argument template (SOAP), where {cursor}, "
            '{page_token} and {page_size} are filled in, e.g. {"filter": [], "setSize": "{page_size}"}'
        ),
    )
    target_object = models.CharField(
        _("target object"), max_length=200, help_text=_("REST path or SOAP operation the records are written to")
    )
    update_object = models.CharField(
        _("update object"),
        max_length=200,
        blank=True,
        help_text=_("Where updates go when it differs, e.g. /Contacts({id}) or Update; blank: the target object"),
    )
    write_mode = models.CharField(_("write mode"), max_length=12, choices=WriteMode.choices, default=WriteMode.UPSERT)
    match_existing = models.BooleanField(
        _("match existing records by key"),
        default=True,
        help_text=_(
            "Before creating a record the portal has not linked yet, look it up in the target by its key "
            "and link it instead of creating a duplicate (e.g. companies already in the CRM)"
        ),
    )
    match_field = models.CharField(
        _("match existing records by"),
        max_length=200,
        blank=True,
        help_text=_(
            "Target field that finds a record the portal has not linked yet (e.g. CNPJ, for companies already in the "
            "CRM); blank: the field the record key is mapped to"
        ),
    )
    update_changed_fields_only = models.BooleanField(
        _("update only the fields that changed"),
        default=False,
        help_text=_(
            "An update sends only the fields whose mapped value changed since the portal last wrote the record, "
            "so edits people make to other fields in the target are never overwritten"
        ),
    )
    read_per_link_of = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="read_by",
        verbose_name=_("read one record per link of"),
        help_text=_(
            "Instead of listing the source, call the source object once per record linked by this table, "
            "e.g. GetOrderStatus for each order; {key} in the read arguments or the path is that record's key "
            "in the source system"
        ),
    )
    max_wait_for_parent = models.DurationField(
        _("max wait for a referenced record"),
        default=timedelta(hours=24),
        validators=[validators.DurationNotAbove(LONGEST_WAIT_FOR_PARENT)],
        help_text=_(
            "A record whose lookup finds no link yet (an order whose customer is not synced) waits and is "
            "retried by every run; after this long it goes to the review queue"
        ),
    )
    record_key = models.CharField(
        _("record key"), max_length=200, help_text=_("Source field that identifies a record, e.g. CNPJ or No")
    )
    target_key = models.CharField(
        _("target key"), max_length=200, default="Id", help_text=_("Field of the target's answer that identifies it")
    )
    cursor_field = models.CharField(
        _("incremental cursor field"),
        max_length=200,
        blank=True,
        help_text=_("Source field holding the last change time; blank: read everything each run"),
    )
    incremental_filter = models.CharField(
        _("incremental filter"),
        max_length=300,
        blank=True,
        help_text=_("e.g. $filter=LastUpdateDate gt {cursor}"),
    )
    filter_rules = models.JSONField(
        _("filter rules"),
        default=list,
        blank=True,
        help_text=_(
            'All must hold, e.g. [{"name": "approved credit", "field": "CreditStatus", "op": "eq", "value": "A"}]'
        ),
    )
    delete_policy = models.CharField(
        _("delete policy"), max_length=10, choices=DeletePolicy.choices, default=DeletePolicy.IGNORE
    )
    delete_threshold = models.PositiveIntegerField(
        _("excessive-delete threshold"),
        default=50,
        validators=validators.number_range(0, 1_000_000),
        help_text=_("More deletes than this in one run are held for approval instead of applied"),
    )
    max_time_without_success = models.DurationField(
        _("max time without success (override)"),
        null=True,
        blank=True,
        validators=[validators.DurationNotAbove(LONGEST_MAX_TIME_WITHOUT_SUCCESS)],
        help_text=_("Blank: the integration's"),
    )
    target_count_query = models.CharField(
        _("count query on the target"),
        max_length=500,
        blank=True,
        help_text=_(
            "A read on the target that answers how many records it holds for this table, compared after each run "
            "with the records the portal links, e.g. Contacts?$filter=TypeId eq 1&$count=true&$top=0. "
            "Blank: not checked"
        ),
    )
    cursor_value = models.CharField(_("last committed cursor"), max_length=200, blank=True, editable=False)
    resume_token = models.TextField(
        _("resume point"),
        blank=True,
        editable=False,
        help_text=_("Page to continue from when the last read of this table was interrupted"),
    )
    resume_cursor = models.CharField(
        _("cursor reached before the interruption"), max_length=200, blank=True, editable=False
    )
    reprocess = models.CharField(
        _("re-process at the next run"),
        max_length=10,
        choices=Reprocess.choices,
        blank=True,
        default=Reprocess.NOTHING,
        editable=False,
        help_text=_("Staged records the next run sends through the mapping again, without extracting them again"),
    )

    class Meta:
        ordering = ["integration", "order", "pk"]
        verbose_name = _("table")
        verbose_name_plural = _("tables")
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "name"],
                name="sync_table_unique_name_per_integration",
                violation_error_message=_("Two tables of one integration cannot share a name."),
            )
        ]

    def __str__(self):
        return f"{self.integration.name} · {self.name}" if self.integration_id else self.name

    def save(self, *args, **kwargs):
        # Reading from another object or by another cursor starts over from the beginning.
        loaded = getattr(self, "_loaded_read_settings", None)
        if loaded is not None and None not in loaded and loaded != self._read_settings():
            self.cursor_value = self.resume_token = self.resume_cursor = ""
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "cursor_value", "resume_token", "resume_cursor"}
        super().save(*args, **kwargs)
        self._loaded_read_settings = self._read_settings()

    @classmethod
    def from_db(cls, db, field_names, values):
        table = super().from_db(db, field_names, values)
        loaded = dict(zip(field_names, values, strict=False))
        table._loaded_read_settings = tuple(loaded.get(name) for name in cls.READ_SETTINGS)
        return table

    def _read_settings(self):
        return tuple(self.__dict__.get(name) for name in self.READ_SETTINGS)

    def clean(self):
        errors = {"filter_rules": validators.check_filter_rules(self.filter_rules)}
        if not isinstance(self.read_arguments, dict):
            errors["read_arguments"] = [_("The read arguments must be a JSON object.")]
        if self.max_time_without_success is not None and self.max_time_without_success <= timedelta(0):
            errors["max_time_without_success"] = [_("The max time without success must be positive, e.g. 24h.")]
        if self.incremental_filter and "{cursor}" not in self.incremental_filter:
            errors["incremental_filter"] = [_("The incremental filter must contain {cursor}.")]
        errors["target_count_query"] = validators.check_relative_query(self.target_count_query)
        if self.max_wait_for_parent is not None and self.max_wait_for_parent < timedelta(0):
            errors["max_wait_for_parent"] = [_("The max wait cannot be negative.")]
        if self.read_per_link_of_id:
            linked = self.read_per_link_of
            if self.pk and linked.pk == self.pk:
                errors["read_per_link_of"] = [_("A table cannot read one record per link of itself.")]
            elif self.integration_id and linked.integration_id != self.integration_id:
                errors["read_per_link_of"] = [_("Choose a table of the same integration.")]
        _errors(errors)

    def record_key_errors(self, mapped_source_paths) -> list[str]:
        return validators.missing_record_key(self.record_key, mapped_source_paths)


class FieldMapping(models.Model):
    """Source path → target field, with an optional transform."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="mappings", verbose_name=_("table"))
    position = models.PositiveIntegerField(_("position"), default=0, validators=validators.number_range(0, 10_000))
    source_path = models.CharField(
        _("source path"), max_length=200, blank=True, help_text=_("e.g. CNPJ or Address.City; blank for a constant")
    )
    target_field = models.CharField(_("target field"), max_length=200)
    transform = models.CharField(_("transform"), max_length=12, choices=Transform.choices, blank=True, default="")
    transform_options = models.JSONField(
        _("transform options"),
        default=dict,
        blank=True,
        help_text=_('e.g. {"map": {"CA": "California"}} for a value map, {"value": 1} for a constant'),
    )
    required = models.BooleanField(_("required"), default=False)
    value_type = models.CharField(
        _("type"),
        max_length=10,
        choices=ValueType.choices,
        blank=True,
        default=ValueType.AS_IS,
        help_text=_("What the target receives, e.g. a decimal is sent as a JSON number with its exact digits"),
    )
    send_on = models.CharField(
        _("sent"),
        max_length=10,
        choices=SendOn.choices,
        default=SendOn.BOTH,
        help_text=_("Fields the target fixes at creation (a type, a code) are sent on create only"),
    )
    default_value = models.JSONField(
        _("default"),
        null=True,
        blank=True,
        help_text=_('Sent when the source value is missing or empty, e.g. 0 or "BRL"; blank: no default'),
    )
    owner = models.CharField(
        _("owner when both changed"), max_length=10, choices=FieldOwner.choices, default=FieldOwner.SOURCE
    )

    class Meta:
        ordering = ["table", "position", "pk"]
        verbose_name = _("field mapping")
        verbose_name_plural = _("field mappings")

    def __str__(self):
        return f"{self.source_path or '∅'} → {self.target_field}"

    def clean(self):
        # An unknown transform is refused by the field's choices; its options cannot be judged.
        known = self.transform in Transform.values
        errors = {
            "transform_options": validators.check_transform(self.transform, self.transform_options) if known else []
        }
        needs_no_source = self.transform in (Transform.CONSTANT, Transform.TEMPLATE)
        if not self.source_path and not needs_no_source:
            errors["source_path"] = [_("A source path is required unless the transform is a constant or a template.")]
        errors.update(validators.check_mapping_paths(self.source_path, self.target_field))
        if self.owner == FieldOwner.TARGET and self.send_on == SendOn.UPDATE:
            errors["send_on"] = [_("A field the target owns is written on create only: it cannot be sent on update.")]
        _errors(errors)


class RecordLink(models.Model):
    """Source key ↔ target key of one record, and the hash of what was last written."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="links", verbose_name=_("table"))
    source_key = models.CharField(_("source key"), max_length=200)
    target_key = models.CharField(_("target key"), max_length=200)
    mapped_hash = models.CharField(_("hash of the last written values"), max_length=64)
    written_values = models.JSONField(
        _("last written values"),
        default=dict,
        blank=True,
        help_text=_("Each mapped field as the portal last wrote it, by target path"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    synced_at = models.DateTimeField(_("last written"), default=timezone.now)

    class Meta:
        verbose_name = _("record link")
        verbose_name_plural = _("record links")
        constraints = [
            models.UniqueConstraint(fields=["table", "source_key"], name="record_link_unique_source_key"),
        ]
        indexes = [models.Index(fields=["table", "target_key"], name="record_link_target_key")]

    def __str__(self):
        return f"{self.source_key} → {self.target_key}"


class StagedRecord(models.Model):
    """The newest raw payload of a record as received, before mapping."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="staged_records", verbose_name=_("table"))
    source_key = models.CharField(_("source key"), max_length=200)
    payload = models.JSONField(_("payload"))
    payload_bytes = models.PositiveIntegerField(_("size (bytes)"), help_text=_("Size of the payload as received"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    run_id = models.BigIntegerField(_("run"), null=True, blank=True, help_text=_("The run that received it"))

    class Meta:
        verbose_name = _("staged record")
        verbose_name_plural = _("staged records")
        constraints = [
            models.UniqueConstraint(fields=["table", "source_key"], name="staged_record_unique_source_key"),
        ]

    def __str__(self):
        return self.source_key
