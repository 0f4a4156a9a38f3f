"""What an update sends and what it overwrote: pure functions over mapped fields and stored values.

- :func:`written` is the form in which the values the portal sent are kept on a record link
  (``RecordLink.written_values``), by target path.
- :func:`changed_fields` picks the fields whose new value differs from the one last written
  (an update that sends only those never touches what people edit in the target).
- :func:`conflicts` compares the target's current record with what the portal last wrote:
  a field that differs was changed by someone in the target and is about to be overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .mapping import MISSING, canonical, get_path
from .numbers import number_value


def written(fields: dict) -> dict:
    """``fields`` as JSON-safe values for ``RecordLink.written_values`` (a decimal keeps its digits as text)."""
    return {name: canonical(value) for name, value in fields.items()}


def _moment(value) -> datetime | None:
    if not isinstance(value, str) or len(value) < 19 or value[4:5] != "-":
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def same_value(left, right) -> bool:
    """Equal as an API means it: 129.9 is 129.90, and one instant written in two offsets is one instant."""
    if left is MISSING or right is MISSING:
        return left is right
    left, right = canonical(left), canonical(right)
    if left == right:
        return True
    numbers = number_value(left, "."), number_value(right, ".")
    if None not in numbers and not (isinstance(left, str) and isinstance(right, str)):
        return numbers[0] == numbers[1]  # a decimal kept as text against the number the target answers
    moments = _moment(left), _moment(right)
    if None not in moments:
        try:
            return moments[0] == moments[1]
        except TypeError:  # one naive, one aware
            return False
    return False


def changed_fields(update_fields: dict, last_written: dict) -> list[str]:
    """The names of ``update_fields`` whose value differs from ``last_written`` (unknown counts as changed)."""
    canonical = written(update_fields)
    return [name for name, value in canonical.items() if name not in last_written or last_written[name] != value]


@dataclass(frozen=True)
class Conflict:
    """A field someone changed in the target since the portal wrote it, about to be overwritten."""

    field: str
    written_value: object
    lost_value: object
    new_value: object


def conflicts(current: dict, sending: dict, last_written: dict) -> list[Conflict]:
    """The fields of ``sending`` whose value in the target's ``current`` record is not what the portal last wrote.

    Only fields with a known last written value are judged; a field whose target value
    already equals the new one is no conflict (the source and the person agree).
    """
    found = []
    for name, new_value in written(sending).items():
        if name not in last_written:
            continue
        now_in_target = get_path(current, name)
        if now_in_target is MISSING:
            continue
        if same_value(now_in_target, last_written[name]) or same_value(now_in_target, new_value):
            continue
        found.append(Conflict(name, last_written[name], canonical(now_in_target), new_value))
    return found
