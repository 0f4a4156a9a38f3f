"""Messages that are written now and read later, shown in the reader's language.

A background worker writes sentences into the database (a run's error, a record event's
message, a review-queue reason, an alert) long before anyone reads them, and in nobody's
language. So what is kept is the *untranslated* message: its msgid (with its plural and
context, when it has them) and its parameters, translated when it is shown, in the language
active then (the reader's, through ``LocaleMiddleware``; the exporting user's, in an export).

:class:`StoredMessage` is a ``str`` whose text is the message rendered once, when it was
made, in the portal's language (``settings.LANGUAGE_CODE``). Everything that handles it as
plain text (comparing, slicing, ``.replace``, ``json.dumps``, an email or webhook built
without a reader) sees that text. ``str(message)``, ``%s`` and f-string formatting, and
templates render it in the *active* language.

Parameters are kept as they are given:

- plain values (a remote system's error text, a record key, a number) are outside data,
  shown verbatim in every language;
- a nested :class:`StoredMessage` is rendered in the reader's language too;
- a choices member (``RunStatus.FAILED``) shows its label in the reader's language;
- a ``timedelta`` is shown in words (``24 hours``, ``24 horas``).

:class:`StoredMessageField` keeps a message in a text column as a small JSON object (first
key ``"stored_message"``, then the text, the msgid and the parameters) and reads it back as
a :class:`StoredMessage`; any other text (rows written before, text from outside) stays a
plain ``str`` and is shown as it is. A JSON column keeps a message as that same JSON text
(:func:`for_json`), read back with :func:`parse`.

String operations on the text (``.replace``, slicing) lose the message: to redact or cut the
outside words of a message that may be plain text, use :func:`change_outside_data`.

The constructors carry gettext's own names, so ``makemessages`` finds their msgids with its
usual keywords (plural forms and contexts included)::

    from core import stored_messages as stored

    stored.gettext("No heartbeat since %(time)s: the worker running it stopped.", time=...)
    stored.ngettext("The last run of %(name)s failed.", "The last %(count)d runs of %(name)s failed.",
                    streak, count=streak, name=integration.name)
    stored.pgettext("alert note", "Resolved by hand.")
    stored.join(first_sentence, second_sentence)
    stored.gettext_noop("Background tasks")  # rendered only when shown: usable in settings
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import translation

from .durations import human_duration

MARKER = "stored_message"
FORMAT_VERSION = 1
_STORED_PREFIX = '{"stored_message":'  # how a column's value starts when it holds a stored message


class StoredMessage(str):
    """A message kept untranslated; its ``str`` value is its text in the portal's language.

    ``data`` is what renders it again: ``{"msgid", "plural", "number", "context", "params"}``
    for one message, ``{"join": [data, …], "separator"}`` for sentences put together, and
    ``{"verbatim": text}`` for outside text among them.
    """

    data: dict

    def __new__(cls, text: str = "", data: dict | None = None):
        message = super().__new__(cls, text)
        message.data = data if data is not None else {"verbatim": str.__str__(text)}
        return message

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"StoredMessage({self.text!r})"

    def __reduce__(self):
        return (StoredMessage, (self.text, self.data))

    @property
    def text(self) -> str:
        """The text rendered when the message was made, in the portal's language."""
        return str.__str__(self)

    def render(self) -> str:
        """The message in the active language; the stored text if a translation does not fit its parameters."""
        language = translation.get_language()
        rendered = self.__dict__.get("_rendered")
        if rendered is not None and rendered[0] == language:
            return rendered[1]
        try:
            text = _render(self.data)
        except (KeyError, ValueError, TypeError, IndexError):
            text = self.text
        self._rendered = (language, text)  # the same row shown again, or the same message on many rows
        return text

    def to_json(self) -> str:
        stored = {MARKER: FORMAT_VERSION, "text": self.text, **self.data}
        return json.dumps(stored, ensure_ascii=False, separators=(",", ":"))

    def with_outside_data(self, change: Callable[[str], str]) -> StoredMessage:
        """The same message with every outside-data text parameter passed through ``change`` (redact, cut)."""
        return _make(_change_outside(self.data, change))


def parse(value):
    """What a column of :class:`StoredMessageField` holds: a :class:`StoredMessage`, or the plain text."""
    if not isinstance(value, str) or not value.startswith(_STORED_PREFIX):
        return value
    message = _parse_stored(value)
    return value if message is None else message


def for_json(value):
    """``value`` for a JSON column: a :class:`StoredMessage` as its JSON text (read back with :func:`parse`)."""
    return value.to_json() if isinstance(value, StoredMessage) else value


def change_outside_data(value: str, change: Callable[[str], str]) -> str:
    """``value`` with its outside data passed through ``change`` (redact, cut).

    A :class:`StoredMessage` keeps its structure (:meth:`StoredMessage.with_outside_data`);
    plain text is all outside data.
    """
    if isinstance(value, StoredMessage):
        return value.with_outside_data(change)
    return change(value)


@functools.lru_cache(maxsize=1024)
def _parse_stored(value: str) -> StoredMessage | None:
    """One object per distinct stored value: a page or an export repeats the same few messages."""
    try:
        stored = json.loads(value)
        text = stored.pop("text")
        stored.pop(MARKER)
    except (ValueError, KeyError, AttributeError, TypeError):
        return None
    if not isinstance(text, str) or not stored.keys() & {"msgid", "join", "verbatim"}:
        return None
    return StoredMessage(text, stored)


# ---------------------------------------------------------------- making one


def gettext(msgid: str, **params) -> StoredMessage:
    return _make({"msgid": msgid}, params)


def pgettext(context: str, msgid: str, **params) -> StoredMessage:
    return _make({"msgid": msgid, "context": context}, params)


def ngettext(singular: str, plural: str, number: int, **params) -> StoredMessage:
    return _make({"msgid": singular, "plural": plural, "number": number}, params)


def npgettext(context: str, singular: str, plural: str, number: int, **params) -> StoredMessage:
    return _make({"msgid": singular, "plural": plural, "number": number, "context": context}, params)


def gettext_noop(msgid: str) -> StoredMessage:
    """``msgid`` kept untranslated (its text is the msgid itself) and translated when shown.

    Nothing is rendered when it is made, so it may be made before the apps are ready (in settings).
    """
    return StoredMessage(msgid, {"msgid": msgid})


def join(*parts, separator: str = " ") -> StoredMessage:
    """Sentences shown one after the other; a plain ``str`` part is outside data, shown as it is."""
    return _make({"join": [_as_data(part) for part in parts], "separator": separator})


def _as_data(part) -> dict:
    if isinstance(part, StoredMessage):
        return part.data
    return {"verbatim": str(part)}


def _encode(value):
    if isinstance(value, StoredMessage):
        return {"message": value.data}
    if isinstance(value, models.Choices):
        kind = type(value)
        return {"choice": f"{kind.__module__}.{kind.__qualname__}", "value": value.value}
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = str(value)  # an exception's or an object's words; a ConnectorError may answer with a StoredMessage
    return {"message": text.data} if isinstance(text, StoredMessage) else str.__str__(text)


def _make(data: dict, params: dict | None = None) -> StoredMessage:
    """The message, its parameters kept and its text rendered in the portal's language."""
    with translation.override(settings.LANGUAGE_CODE):
        if params:
            data = {**data, "params": {name: _encode(value) for name, value in params.items()}}
        return StoredMessage(_render(data), data)


def _change_outside(data: dict, change: Callable[[str], str]) -> dict:
    if "verbatim" in data:
        return {"verbatim": change(data["verbatim"])}
    if "join" in data:
        return {**data, "join": [_change_outside(part, change) for part in data["join"]]}
    if "params" not in data:
        return data
    params = {}
    for name, value in data["params"].items():
        if isinstance(value, str):
            value = change(value)
        elif isinstance(value, dict) and "message" in value:
            value = {"message": _change_outside(value["message"], change)}
        params[name] = value
    return {**data, "params": params}


# ---------------------------------------------------------------- rendering


def _render(data: dict) -> str:
    if "verbatim" in data:
        return data["verbatim"]
    if "join" in data:
        return data.get("separator", " ").join(_render(part) for part in data["join"])
    msgid, plural, context = data["msgid"], data.get("plural"), data.get("context")
    if plural is None:
        text = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
    else:
        number = data["number"]
        if context:
            text = translation.npgettext(context, msgid, plural, number)
        else:
            text = translation.ngettext(msgid, plural, number)
    params = data.get("params")
    if not params:
        return text
    return text % {name: _decode(value) for name, value in params.items()}


def _decode(value):
    if not isinstance(value, dict):
        return value
    if "message" in value:
        return _render(value["message"])
    if "choice" in value:
        return _choice_label(value["choice"], value.get("value"))
    if "seconds" in value:
        return human_duration(timedelta(seconds=value["seconds"]))
    return str(value)


def _choices_class(path: str):
    """The ``Choices`` class named ``path`` among those loaded (never an import driven by stored data)."""
    pending = [models.Choices]
    while pending:
        kind = pending.pop()
        if f"{kind.__module__}.{kind.__qualname__}" == path:
            return kind
        pending.extend(kind.__subclasses__())
    return None


def _choice_label(path: str, value) -> str:
    kind = _choices_class(path)
    try:
        return str(kind(value).label) if kind is not None else str(value)
    except ValueError:
        return str(value)


# ---------------------------------------------------------------- the column


class StoredMessageField(models.TextField):
    """A text column holding plain text or a :class:`StoredMessage` (kept as JSON, read back as one)."""

    def from_db_value(self, value, expression, connection):
        return parse(value)

    def get_prep_value(self, value):
        if isinstance(value, StoredMessage):
            return value.to_json()
        return super().get_prep_value(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        if isinstance(value, StoredMessage):
            return value.to_json()
        return "" if value is None else str(value)
