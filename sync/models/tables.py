"""One kind of record moving one way between an integration's two systems (Company ERP → CRM)."""

from datetime import datetime, timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import validators
from ..choices import BatchKind, ConnectionKind, DeletePolicy, Direction, Reprocess, WriteMode
from ..connectors.templates import mentions
from ..mapping.checks import check_filter_rules, missing_record_key
from .cleaning import raise_errors
from .integrations import LONGEST_MAX_TIME_WITHOUT_SUCCESS
from .table_clock import clock_cursor, clock_errors
from .table_files import file_table_errors
from .table_webhooks import webhook_errors

LONGEST_WAIT_FOR_PARENT = timedelta(days=90)
LONGEST_CLOCK_OVERLAP = timedelta(days=1)
BATCH_SIZE = (2, 100)  # records per batch call


def batch_target_errors(batch_kind: str, writes_to) -> list[str]:
    """Why a table writing in batches of ``batch_kind`` cannot write to the connection ``writes_to``."""
    if batch_kind and writes_to.kind != ConnectionKind.REST:
        return [
            _("Batch writes need a REST connection to write to; %(name)s is not one: choose one record per call.")
            % {"name": writes_to.name}
        ]
    return []


class SyncTable(models.Model):
    """One kind of record moving one way, e.g. Company ERP → CRM."""

    # Changing any of these starts the table's reading over from the beginning.
    READ_SETTINGS = ("source_object", "cursor_field", "incremental_filter", "cursor_clock_format", "cursor_clock_zone")

    integration = models.ForeignKey("Integration", models.CASCADE, related_name="tables", verbose_name=_("integration"))
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
    records_path = models.CharField(
        _("records path"),
        max_length=200,
        blank=True,
        help_text=_(
            "Where this table's answers hold their records, e.g. produto_servico_cadastro; "
            "blank: the connection's records path"
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
    write_body = models.JSONField(
        _("write body"),
        default=dict,
        blank=True,
        help_text=_(
            "REST: the JSON body a create or an update sends, where {record} is the mapped record and {key} the "
            'record\'s key in the target (left out on a create), e.g. {"call": "UpsertCliente", "param": '
            '["{record}"]} for Omie. The call goes to the target (or update) object as written. Blank: the mapped '
            "record itself"
        ),
    )
    write_mode = models.CharField(_("write mode"), max_length=12, choices=WriteMode.choices, default=WriteMode.UPSERT)
    batch_kind = models.CharField(
        _("batch writes"),
        max_length=20,
        choices=BatchKind.choices,
        blank=True,
        default=BatchKind.NONE,
        help_text=_("Send several records in one call, as the target's API accepts them"),
    )
    batch_size = models.PositiveSmallIntegerField(
        _("records per batch"), default=100, validators=validators.number_range(*BATCH_SIZE)
    )
    batch_path = models.CharField(
        _("batch path"),
        max_length=500,
        blank=True,
        help_text=_(
            "Where the batch goes, relative to the target connection's base URL. Blank: the target object for a "
            "JSON array, <target object>/batch/upsert for HubSpot, $batch for OData"
        ),
    )
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
    cursor_clock_format = models.CharField(
        _("cursor from the clock"),
        max_length=100,
        blank=True,
        help_text=_(
            "For a source whose records carry no change date but whose list filters by one: the cursor is the "
            "time the table's read started (less the overlap), written in this format, e.g. %Y-%m-%d %H:%M:%S "
            "for Bling's dataAlteracaoInicial. Blank: the cursor field's values"
        ),
    )
    cursor_clock_zone = models.CharField(
        _("time zone of the clock cursor"),
        max_length=64,
        blank=True,
        help_text=_("The source's time zone, e.g. America/Sao_Paulo; blank: UTC"),
    )
    cursor_clock_overlap = models.DurationField(
        _("overlap of the clock cursor"),
        default=timedelta(minutes=5),
        validators=[validators.DurationNotAbove(LONGEST_CLOCK_OVERLAP)],
        help_text=_(
            "How much earlier than the read's start the next run reads from, so a source clock running behind "
            "the portal's, or a change the source lists late, is not missed (read again, found unchanged)"
        ),
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
    webhook_event_types = models.CharField(
        _("webhook event types"),
        max_length=500,
        blank=True,
        help_text=_(
            "The webhook events of the source connection's receiver this table processes as they arrive, e.g. "
            "contact.creation contact.propertyChange (separated by spaces or commas); * for every event. "
            "Blank: none (the table is only polled)"
        ),
    )
    webhook_delete_types = models.CharField(
        _("webhook event types that delete"),
        max_length=500,
        blank=True,
        help_text=_(
            "Events saying the record was deleted in the source, e.g. contact.deletion: the table's delete policy "
            "applies to the record they name (deleted in the target, held past the threshold, or left). "
            "Blank: deletes are found by the polls only"
        ),
    )
    webhook_records_path = models.CharField(
        _("records path in a webhook event"),
        max_length=200,
        blank=True,
        help_text=_(
            "Where an event holds its record, e.g. data; a list there is several records. "
            "Blank: the event is the record"
        ),
    )
    webhook_fetch_object = models.CharField(
        _("read each webhook record from"),
        max_length=200,
        blank=True,
        help_text=_(
            "For events that only name their record (HubSpot's objectId): the source's REST path that reads one "
            "record, with {key}, e.g. /crm/v3/objects/contacts/{key}?properties=email,firstname. "
            "Blank: the event carries the record"
        ),
    )
    webhook_key_path = models.CharField(
        _("record key in a webhook event"),
        max_length=200,
        blank=True,
        help_text=_(
            "Where the event names its record, for a path to read it from or a delete, e.g. objectId or Old.Id; "
            "blank: the record key in the event's record"
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
        errors = {"filter_rules": check_filter_rules(self.filter_rules)}
        if not isinstance(self.read_arguments, dict):
            errors["read_arguments"] = [_("The read arguments must be a JSON object.")]
        if self.max_time_without_success is not None and self.max_time_without_success <= timedelta(0):
            errors["max_time_without_success"] = [_("The max time without success must be positive, e.g. 24h.")]
        if self.incremental_filter and "{cursor}" not in self.incremental_filter:
            errors["incremental_filter"] = [_("The incremental filter must contain {cursor}.")]
        errors |= clock_errors(self)
        errors["target_count_query"] = validators.check_relative_query(self.target_count_query)
        if self.max_wait_for_parent is not None and self.max_wait_for_parent < timedelta(0):
            errors["max_wait_for_parent"] = [_("The max wait cannot be negative.")]
        if self.read_per_link_of_id:
            linked = self.read_per_link_of
            if self.pk and linked.pk == self.pk:
                errors["read_per_link_of"] = [_("A table cannot read one record per link of itself.")]
            elif self.integration_id and linked.integration_id != self.integration_id:
                errors["read_per_link_of"] = [_("Choose a table of the same integration.")]
        errors |= webhook_errors(self)
        errors |= file_table_errors(self)
        errors["batch_kind"] = self._batch_errors()
        errors["write_body"] = self._write_body_errors()
        raise_errors(errors)

    @property
    def reads_changes_only(self) -> bool:
        """Whether a run reads only what changed since the cursor (a record field's, or the clock's)."""
        return bool(self.cursor_field or self.cursor_clock_format)

    def clock_cursor(self, now: datetime) -> str:
        """The clock cursor of a read starting at ``now``: the overlap earlier, in the source's zone and format."""
        return clock_cursor(self, now)

    def reads_from(self):
        """The connection this table reads: the ERP's when it moves ERP → CRM, the CRM's otherwise."""
        integration = self.integration
        return integration.erp_connection if self.direction == Direction.ERP_TO_CRM else integration.crm_connection

    def writes_to(self):
        """The connection this table writes to: the CRM's when it moves ERP → CRM, the ERP's otherwise."""
        integration = self.integration
        return integration.crm_connection if self.direction == Direction.ERP_TO_CRM else integration.erp_connection

    def _write_body_errors(self) -> list[str]:
        if not isinstance(self.write_body, dict):
            return [_("The write body must be a JSON object.")]
        if not self.write_body:
            return []
        errors = []
        if not mentions(self.write_body, {"record"}):
            errors.append(_('The write body must place the mapped record: write "{record}" where it goes.'))
        if self.batch_kind:
            errors.append(_("A write body and batch writes do not go together: choose one record per call."))
        if self.match_existing:
            errors.append(
                _(
                    "A target written through a write body cannot be searched for existing records: "
                    "turn off “match existing records by key”."
                )
            )
        if self.integration_id and self.writes_to().kind != ConnectionKind.REST:
            errors.append(_("A write body applies to tables writing to a REST connection."))
        return errors

    def _batch_errors(self) -> list[str]:
        if not self.batch_kind:
            return []
        errors = batch_target_errors(self.batch_kind, self.writes_to()) if self.integration_id else []
        if self.batch_kind == BatchKind.HUBSPOT_UPSERT and not self.has_match_target():
            errors.append(
                _(
                    "A HubSpot batch upsert finds records by a field: fill in “match existing records by”, "
                    "or map the record key to a target field."
                )
            )
        return errors

    def has_match_target(self) -> bool:
        """Whether writes can find a record by a target field: the match field, or where the record key is mapped.

        A new table has no mappings yet: its record key must be mapped before it is saved (the mapping
        checks say so), which gives it one.
        """
        if self.match_field.strip() or not self.pk:
            return True
        return self.mappings.filter(source_path=self.record_key).exclude(target_field="").exists()

    def record_key_errors(self, mapped_source_paths) -> list[str]:
        return missing_record_key(self.record_key, mapped_source_paths)
