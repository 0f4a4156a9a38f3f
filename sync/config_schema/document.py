"""The integration file as pydantic models: every key, its type, its choices, and whether it must be there.

Rules between keys that the models' ``full_clean()`` knows (a REST connection needs a base URL, a cron
expression must be valid…) are not repeated here; a mapping's options are checked against its
transform's model (:mod:`.transform_options`), the filter rules against :mod:`.rules`.
"""

import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from ..choices import (
    AuthKind,
    BatchKind,
    ConnectionKind,
    DeletePolicy,
    DeploymentStatus,
    Direction,
    FieldOwner,
    FileDelimiter,
    FileEncoding,
    FileFormat,
    FileLocation,
    IntegrationType,
    Pagination,
    SendOn,
    Transform,
    ValueType,
    WriteMode,
)
from .rules import FilterRules
from .transform_options import OPTION_MODELS, option_problems
from .values import (
    AnyJson,
    ClearableSecret,
    Duration,
    DurationOrNone,
    FileObject,
    Flag,
    JsonList,
    JsonObject,
    RequiredText,
    Secret,
    Text,
    TextList,
    WholeNumber,
    WholeNumberOrNone,
    choice,
    drop_null_defaults,
    file_value,
)

VERSION = 1
OPTIONS_ERROR = "transform_options"  # the pydantic error type of a mapping's options that do not fit its transform

# Schedules: {kind: daily, at: "00:00"} and friends ------------------------------------------------------------------

# The integration's attribute each schedule key sets; the others are blanked.
SCHEDULE_ATTRS = {
    "every_minutes": "schedule_interval_minutes",
    "at": "schedule_daily_time",
    "cron": "schedule_cron",
}
SCHEDULE_BLANK = {"schedule_interval_minutes": None, "schedule_daily_time": "", "schedule_cron": ""}


class ScheduleObject(FileObject):
    """When the integration runs by itself."""

    def attrs(self) -> dict:
        """The integration's attributes this schedule sets."""
        values = {"schedule_kind": self.kind, **SCHEDULE_BLANK}
        for key, attr in SCHEDULE_ATTRS.items():
            if key in type(self).model_fields:
                values[attr] = getattr(self, key)
        return values


class NoSchedule(ScheduleObject):
    kind: Literal["none"]


class IntervalSchedule(ScheduleObject):
    kind: Literal["interval"]
    every_minutes: WholeNumber


class DailySchedule(ScheduleObject):
    kind: Literal["daily"]
    at: Text


class CronSchedule(ScheduleObject):
    kind: Literal["cron"]
    cron: Text


SCHEDULES = (NoSchedule, IntervalSchedule, DailySchedule, CronSchedule)
Schedule = Annotated[NoSchedule | IntervalSchedule | DailySchedule | CronSchedule, Field(discriminator="kind")]


# Objects ----------------------------------------------------------------------------------------------------------


def _options_follow_the_transform(schema: dict, _cls) -> None:
    """In the JSON Schema, ``transform_options`` takes the options of the mapping's ``transform``."""
    conditions = []
    for transform, model in OPTION_MODELS.items():
        options = model.model_json_schema()
        options.pop("title", None)
        written = [file_value(transform), *([""] if transform == Transform.NONE else [])]
        condition = {"properties": {"transform": {"enum": written}}}
        if transform == Transform.NONE:
            condition = {"anyOf": [condition, {"not": {"required": ["transform"]}}]}
        else:
            condition["required"] = ["transform"]
        then = {"properties": {"transform_options": {"anyOf": [options, {"type": "null"}]}}}
        conditions.append({"if": condition, "then": then})
    schema["allOf"] = conditions
    drop_null_defaults(schema)


class MappingFile(FileObject):
    """One field of the target: where its value comes from and how it is transformed."""

    model_config = {**FileObject.model_config, "json_schema_extra": _options_follow_the_transform}

    source_path: Text = None
    target_field: RequiredText
    transform: choice(Transform) = None
    transform_options: JsonObject = None
    required: Flag = None
    value_type: choice(ValueType) = None
    send_on: choice(SendOn) = None
    default_value: AnyJson = None
    omit_empty: Flag = None
    owner: choice(FieldOwner) = None

    @model_validator(mode="after")
    def _options_fit_the_transform(self):
        """The options are the transform's (:mod:`.transform_options`): every problem, told as the admin tells it."""
        found = option_problems(self.transform or "", self.transform_options)
        if found:
            raise PydanticCustomError(OPTIONS_ERROR, "{messages}", {"messages": found})
        return self


class TableFile(FileObject):
    """One kind of record the integration moves (customers, products, orders…) and its field mappings."""

    name: RequiredText
    description: Text = None
    direction: choice(Direction) = None
    order: WholeNumber = None
    active: Flag = None
    source_object: RequiredText
    read_arguments: JsonObject = None
    records_path: Text = None
    target_object: RequiredText
    update_object: Text = None
    write_body: JsonObject = None
    write_mode: choice(WriteMode) = None
    batch_kind: choice(BatchKind) = None
    batch_size: WholeNumber = None
    batch_path: Text = None
    match_existing: Flag = None
    match_field: Text = None
    update_changed_fields_only: Flag = None
    read_per_link_of: Text = None
    record_key: RequiredText
    target_key: Text = None
    cursor_field: Text = None
    incremental_filter: Text = None
    cursor_clock_format: Text = None
    cursor_clock_zone: Text = None
    cursor_clock_overlap: Duration = None
    filter_rules: FilterRules = None
    delete_policy: choice(DeletePolicy) = None
    delete_threshold: WholeNumber = None
    max_time_without_success: DurationOrNone = None
    max_wait_for_parent: Duration = None
    target_count_query: Text = None
    webhook_event_types: Text = None
    webhook_delete_types: Text = None
    webhook_records_path: Text = None
    webhook_fetch_object: Text = None
    webhook_key_path: Text = None
    mappings: list[MappingFile] | None


class ConnectionFile(FileObject):
    """How the portal reaches one system; secrets are references to environment variables."""

    name: RequiredText
    kind: choice(ConnectionKind)
    base_url: Text = None
    wsdl_url: Text = None
    wsdl_document: Text = None
    soap_service: Text = None
    soap_port: Text = None
    endpoint_url: Text = None
    file_location: choice(FileLocation) = None
    file_folder: Text = None
    file_processed_folder: Text = None
    file_failed_folder: Text = None
    file_format: choice(FileFormat) = None
    file_encoding: choice(FileEncoding) = None
    file_delimiter: choice(FileDelimiter) = None
    file_decimal_comma: Flag = None
    file_number_columns: Text = None
    file_header_row: WholeNumber = None
    file_sheet: Text = None
    file_layout: JsonList = None
    file_skip_lines: WholeNumber = None
    sftp_host: Text = None
    sftp_port: WholeNumber = None
    sftp_host_key: Text = None
    auth_kind: choice(AuthKind) = None
    username: Text = None
    password: Secret = None
    token: Secret = None
    api_key_header: Text = None
    api_key: Secret = None
    oauth_authorize_url: Text = None
    oauth_token_url: Text = None
    client_id: Text = None
    client_secret: Secret = None
    oauth_scope: Text = None
    token_headers: JsonObject = None
    login_path: Text = None
    login_body: JsonObject = None
    body_credentials: JsonObject = None
    private_key: Secret = None
    pagination: choice(Pagination) = None
    page_size: WholeNumber = None
    page_parameter: Text = None
    size_parameter: Text = None
    next_path: Text = None
    result_cap: WholeNumberOrNone = None
    records_path: Text = None
    column_names_path: Text = None
    test_path: Text = None
    timeout_seconds: WholeNumber = None
    max_retries: WholeNumber = None
    max_retry_after_seconds: WholeNumber = None
    rate_limit_per_minute: WholeNumberOrNone = None
    daily_call_limit: WholeNumberOrNone = None
    max_in_flight: WholeNumber = None
    verify_tls: Flag = None


class Connections(FileObject):
    """The two systems the integration joins."""

    erp: ConnectionFile
    crm: ConnectionFile


class CustomFieldFile(FileObject):
    """A custom field of the CRM the file names by a key of its own, its real key looked up by name on import.

    Ploomes gives each account's custom fields keys of their own (``contact_4F1E2A…``); the file writes a
    stand-in key (``contact_ERP_CODE``) wherever the field is used, and the import reads the CRM's ``/Fields``
    of ``entity`` for the field called ``name`` and writes its key in place of the stand-in.
    """

    key: RequiredText
    name: RequiredText
    entity: WholeNumber
    connection: Literal["erp", "crm"] = "crm"


class IntegrationFile(FileObject):
    """An integration of the Integration Portal: its connections, tables and field mappings."""

    model_config = {**FileObject.model_config, "title": "Integration"}
    # Keys that hold objects of their own rather than the integration's attributes.
    STRUCTURE: ClassVar[tuple[str, ...]] = ("version", "connections", "custom_fields", "tables")

    version: Literal[1]
    name: RequiredText
    description: Text = None
    integration_type: choice(IntegrationType)
    erp_name: RequiredText
    erp_version: Text = None
    crm_name: RequiredText
    deployment_status: choice(DeploymentStatus) = None
    active: Flag = None
    business_rule: Text = None
    schedule: Schedule = None
    max_time_without_success: Duration = None
    alert_emails: TextList = None
    alert_webhook_url: ClearableSecret = None
    connections: Connections
    custom_fields: list[CustomFieldFile] | None = None
    tables: list[TableFile] | None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an integration file, for editors (``# yaml-language-server: $schema=…``)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **IntegrationFile.model_json_schema()}


def json_schema_text() -> str:
    """The JSON Schema as published in ``docs/integration.schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
