"""The kinds of value an integration file holds, as pydantic types.

Each type checks a value as written in the file and gives what the models store: ``none`` for the
empty choice becomes ``""``, ``"1d 12h"`` a ``timedelta``, ``{env: NAME}`` an :class:`EnvRef`.
The :class:`Expect` marker says how the portal names the kind of value in a message.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, WrapValidator
from pydantic_core import PydanticCustomError

from core.durations import parse_duration

from ..json_input import json_problems

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def drop_null_defaults(schema: dict) -> None:
    """Optional keys have no default of their own in the file: the model's default applies."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", 0) is None:
            del prop["default"]


class FileObject(BaseModel):
    """An object of the file: strict types, no key the portal does not know."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=drop_null_defaults)


@dataclass(frozen=True)
class Expect:
    """How a message names the kind of value a key expects, e.g. "a whole number"."""

    text: Any  # a lazy translation


def problem(message) -> PydanticCustomError:
    """A finished message (already in the reader's language) as a pydantic error."""
    return PydanticCustomError("problem", "{message}", {"message": str(message)})


def file_value(choice_value: str) -> str:
    """How a choice is written in the file: the empty choice (no transform) is ``none``."""
    return choice_value or "none"


def choice(choices) -> Any:
    """One of ``choices`` (a ``TextChoices``) as written in the file; gives the stored value."""
    stored = {file_value(value): value for value in choices.values}
    written = tuple(stored) + (("",) if "" in choices.values else ())
    return Annotated[Literal[written], AfterValidator(lambda value: stored.get(value, value))]


def _blank_to_empty(value):
    return "" if value is None else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise problem(_("cannot be empty"))
    return value


def _duration(value):
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise problem(exc) from None


def _joined(value):
    return "" if value is None else ", ".join(item.strip() for item in value)


def _within_json_limits(empty):
    def check(value):
        found = json_problems(value)
        if found:
            raise problem("; ".join(found))
        return empty if value is None else value

    return check


TEXT = gettext_lazy("text")
Text = Annotated[str | None, AfterValidator(_blank_to_empty), Expect(TEXT)]
RequiredText = Annotated[str, Field(min_length=1), AfterValidator(_not_blank), Expect(TEXT)]
WholeNumber = Annotated[int, Expect(gettext_lazy("a whole number"))]
WholeNumberOrNone = Annotated[int | None, Expect(gettext_lazy("a whole number"))]
Flag = Annotated[bool, Expect(gettext_lazy("true or false"))]
_DURATION = Expect(gettext_lazy("a duration such as 24h, 30m or 1d 12h"))
Duration = Annotated[str, Field(examples=["24h", "30m", "1d 12h"]), AfterValidator(_duration), _DURATION]
DurationOrNone = Annotated[str | None, AfterValidator(_duration), _DURATION]
TextList = Annotated[list[str] | None, AfterValidator(_joined), Expect(gettext_lazy("a list, e.g. [ops@example.com]"))]
JsonObject = Annotated[
    dict[Any, Any] | None, AfterValidator(_within_json_limits({})), Expect(gettext_lazy("a mapping"))
]
JsonList = Annotated[list[Any] | None, AfterValidator(_within_json_limits([])), Expect(gettext_lazy("a list"))]
AnyJson = Annotated[
    JsonValue,
    AfterValidator(_within_json_limits(None)),
    Expect(gettext_lazy("a number, a text, true/false, a list or a mapping")),
]


# Secrets: never a value, only the name of an environment variable ----------------------------------------------


@dataclass(frozen=True)
class EnvRef:
    """``{env: NAME}``: the secret is read from the environment variable ``NAME`` on import."""

    name: str

    def as_document(self) -> dict:
        return {"env": self.name}


class EnvReference(FileObject):
    """A secret, read from this environment variable when the file is imported."""

    env: Annotated[str, Field(pattern=ENV_NAME.pattern)]


def read_reference(value) -> EnvRef | str:
    """The reference written in the file, or a message saying what is wrong with it."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if isinstance(name, str) and ENV_NAME.match(name):
            return EnvRef(name)
        return _('"%(name)s" is not an environment variable name: use letters, digits and _') % {"name": name}
    return _(
        "secrets are not written in the file: reference an environment variable instead, e.g. {env: DEMO_ERP_PASSWORD}"
    )


def _reference(value, _handler):
    if value is None:
        return None
    found = read_reference(value)
    if isinstance(found, str):
        raise problem(found)
    return found


def _reference_or_clear(value, handler):
    return "" if value == "" else _reference(value, handler)


class SecretMarker:
    """Marks a key whose value is a secret: an :class:`EnvRef`, never stored in the file."""


SECRET = SecretMarker()
Secret = Annotated[EnvReference | None, WrapValidator(_reference), SECRET]
# A secret that '' removes (an optional one, such as the alert webhook).
ClearableSecret = Annotated[EnvReference | Literal[""] | None, WrapValidator(_reference_or_clear), SECRET]
