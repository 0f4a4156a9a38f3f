"""The words of a refusal: what it says (:class:`Reason`), gathered once each by a :class:`Collector`."""

from __future__ import annotations

import http
import re
from dataclasses import dataclass

MAX_VIOLATIONS = 10
MAX_PIECE = 300  # characters of one message or one field path
MAX_DEPTH = 4  # how deep nested error objects are read

_HTTP_PHRASES = frozenset(status.phrase.casefold() for status in http.HTTPStatus)
_SPACES = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


@dataclass(frozen=True)
class Reason:
    """What a refusal says: its general message and every violation (``field: message``), each once."""

    message: str = ""
    violations: tuple[str, ...] = ()

    def shown(self, limit: int = MAX_VIOLATIONS) -> str:
        """The general message and the first ``limit`` violations."""
        return sentences(self.message, "; ".join(self.violations[:limit]))

    def hidden(self, limit: int = MAX_VIOLATIONS) -> int:
        """How many violations :meth:`shown` leaves out."""
        return max(0, len(self.violations) - limit)

    def text(self, limit: int = MAX_VIOLATIONS) -> str:
        """:meth:`shown`, then ``… and N more`` when violations were left out."""
        more = self.hidden(limit)
        return f"{self.shown(limit)} … and {more} more" if more else self.shown(limit)


class Collector:
    """The messages and violations read from one answer, each kept once; words already ``known`` left out."""

    def __init__(self, known=()):
        self.messages: list[str] = []
        self.violations: list[str] = []
        self._seen: set[str] = set()
        self._violation_words: set[str] = set()  # what the violations say, without their fields
        self._known = [same_words(text) for text in known if isinstance(text, str) and same_words(text)]

    def _said(self, text: str) -> bool:
        key = same_words(text)
        return key in self._seen or any(key in known for known in self._known)

    def count(self) -> int:
        return len(self.messages) + len(self.violations)

    def general(self, value) -> None:
        text = message_text(value)
        if text and not self._said(text):
            self._seen.add(same_words(text))
            self.messages.append(text)

    def violation(self, field: str, message) -> None:
        field, message = clip(clean(field)), message_text(message)
        if not message:
            return
        if any(same_words(message) in known for known in self._known):
            return
        self._violation_words.add(same_words(message))
        if field and not names_field(message, field):
            message = f"{field}: {message}"
        if not self._said(message):
            self._seen.add(same_words(message))
            self.violations.append(message)

    def reason(self) -> Reason | None:
        messages = self.messages
        if self.violations:
            # A general message that only repeats a violation is said once, with its field;
            # a title that only repeats the HTTP status ("Bad Request") says nothing the status does not.
            messages = [text for text in messages if same_words(text) not in self._violation_words]
            messages = [text for text in messages if same_words(text) not in _HTTP_PHRASES]
        elif len(messages) > 1:
            messages = [text for text in messages if same_words(text) not in _HTTP_PHRASES] or messages[:1]
        message = ""
        for text in messages:
            message = sentences(message, text)
        if not message and not self.violations:
            return None
        return Reason(message, tuple(self.violations))


def clean(text) -> str:
    return _SPACES.sub(" ", str(text)).strip() if text is not None else ""


def clip(text: str) -> str:
    return text if len(text) <= MAX_PIECE else text[: MAX_PIECE - 1].rstrip() + "…"


def same_words(text: str) -> str:
    """What makes two messages the same: case, spaces and a final period aside."""
    return clean(text).rstrip(".").casefold()


def names_field(message: str, field: str) -> bool:
    """Whether ``message`` already starts with its field (``"Price: must be a number"``)."""
    head, colon, _ = message.partition(":")
    return bool(colon) and head.strip().casefold() in {field.casefold(), field.rsplit(".", 1)[-1].casefold()}


def sentences(first: str, second: str) -> str:
    """Two pieces of one reason: after a sentence a space, after a phrase a colon."""
    if not first or not second:
        return first or second
    return f"{first} {second}" if first.endswith(_SENTENCE_END) else f"{first}: {second}"


def message_text(value) -> str:
    """The words of a message: a string, or OData v3's ``{"value": …}`` / a nested ``{"message": …}``."""
    if isinstance(value, dict):
        value = value.get("value", value.get("message"))
    if not isinstance(value, str):
        return ""
    return clip(clean(value))
