"""The columns of the history workbook, declared as django-import-export resources.

Record events and request logs share one sheet per table, so both resources declare the same
columns (``HISTORY_COLUMNS``) in the same order with the same headers. Every column has a
``dehydrate_*`` method that returns a typed value (a local, naive ``datetime``, an ``int``, a
``str`` or ``None``), never the widget's text: the workbook writer turns datetimes into
datetime cells and numbers into number cells. The widget of a field says which kind of cell
it becomes (:func:`cell_kind`). Messages that workers stored (:mod:`core.stored_messages`) are
rendered in the language active while the workbook is written.

The dehydrate methods read attributes only, so they work on model instances
(``Resource.export()``, in memory, for small use) and on the named rows of
``values_list(*resource.source_fields, named=True)`` that :mod:`monitoring.exports` streams.
Labels and the time zone are resolved when a resource is created: create it inside the
language the workbook is written in.
"""

from enum import Enum
from http import HTTPStatus

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets

from core.local_time import portal_zone, wall_time

from .choices import RecordAction
from .models import RecordEvent, RequestLog
from .templatetags.portal import record_key

HISTORY_COLUMNS = (
    "time",
    "kind",
    "run",
    "record_key",
    "target_key",
    "operation",
    "status",
    "message",
    "http_status",
)


class CellKind(Enum):
    TEXT = "text"
    DATETIME = "datetime"
    NUMBER = "number"


def cell_kind(field: fields.Field) -> CellKind:
    """What kind of spreadsheet cell a field's values become, from its widget."""
    if isinstance(field.widget, widgets.DateTimeWidget):
        return CellKind.DATETIME
    if isinstance(field.widget, widgets.NumberWidget):
        return CellKind.NUMBER
    return CellKind.TEXT


class HistoryResource(resources.ModelResource):
    """The columns of a table's sheet; subclasses say where each value comes from."""

    time = fields.Field(column_name=_("Time"), widget=widgets.DateTimeWidget(), readonly=True)
    kind = fields.Field(column_name=_("Kind"), readonly=True)
    run = fields.Field(column_name=_("Run"), readonly=True)
    record_key = fields.Field(column_name=_("Record key"), readonly=True)
    target_key = fields.Field(column_name=_("Target key"), readonly=True)
    operation = fields.Field(column_name=_("Action / call"), readonly=True)
    status = fields.Field(column_name=_("Status"), readonly=True)
    message = fields.Field(column_name=_("Message"), readonly=True)
    http_status = fields.Field(column_name=_("HTTP status"), widget=widgets.IntegerWidget(), readonly=True)

    # The fields read from the database, the time first (the sheet is ordered by it).
    source_fields: tuple[str, ...] = ()
    kind_label = ""

    class Meta:
        fields = HISTORY_COLUMNS
        export_order = HISTORY_COLUMNS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.zone = portal_zone()
        self.kind_text = str(self.kind_label)
        export_fields = self.get_export_fields()
        self.cell_kinds = tuple(cell_kind(field) for field in export_fields)
        # Every column has a dehydrate method (typed values, no widget text): looked up once, not per row.
        self._dehydrators = tuple(
            getattr(self, field.get_dehydrate_method(self.get_field_name(field))) for field in export_fields
        )

    def row_values(self, row) -> list:
        """The typed cell values of one row (a model instance or a named row), in column order."""
        return [dehydrate(row) for dehydrate in self._dehydrators]

    def dehydrate_kind(self, row):
        return self.kind_text

    @staticmethod
    def run_label(run_id) -> str:
        return "" if run_id is None else f"#{run_id}"


class RecordEventResource(HistoryResource):
    """One row per record event: what happened to one record in one run."""

    source_fields = ("occurred_at", "run_id", "record_key", "target_key", "action", "message", "http_status")
    kind_label = _("record")

    class Meta:
        model = RecordEvent

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.action_labels = {action.value: str(action.label) for action in RecordAction}

    def dehydrate_time(self, event):
        return wall_time(event.occurred_at, self.zone)

    def dehydrate_run(self, event):
        return self.run_label(event.run_id)

    def dehydrate_record_key(self, event):
        return record_key(event.record_key)  # a placeholder key in the workbook's language

    def dehydrate_target_key(self, event):
        return event.target_key

    def dehydrate_operation(self, event):
        return event.action

    def dehydrate_status(self, event):
        return self.action_labels.get(event.action, event.action)

    def dehydrate_message(self, event):
        return str(event.message)  # a stored message, in the workbook's language

    def dehydrate_http_status(self, event):
        return event.http_status


def status_text(code) -> str:
    """``200 OK``, ``503 Service Unavailable``; a code HTTP does not name stays a bare number."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def request_failed(status_code, error) -> bool:
    """A call failed when it raised an error or was answered with 4xx/5xx."""
    return bool(error) or (status_code is not None and status_code >= 400)


class RequestLogResource(HistoryResource):
    """One row per call made or received (headers and bodies are never exported)."""

    source_fields = ("started_at", "run_id", "method", "url", "operation", "status_code", "error")
    kind_label = _("request")

    class Meta:
        model = RequestLog

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.no_answer = gettext("No answer")
        self.status_texts = {}

    def dehydrate_time(self, call):
        return wall_time(call.started_at, self.zone)

    def dehydrate_run(self, call):
        return self.run_label(call.run_id)

    def dehydrate_record_key(self, call):
        return None

    def dehydrate_target_key(self, call):
        return None

    def dehydrate_operation(self, call):
        # e.g. "SOAP ListCustomers https://erp.example/ws" or "GET https://api.example/Contacts?$top=100"
        return " ".join(part for part in (call.method, call.operation, call.url) if part)

    def dehydrate_status(self, call):
        code = call.status_code
        if code is None:
            return self.no_answer if call.error else None
        text = self.status_texts.get(code)
        if text is None:
            text = self.status_texts[code] = status_text(code)
        return text

    def dehydrate_message(self, call):
        return str(call.error)

    def dehydrate_http_status(self, call):
        return call.status_code
