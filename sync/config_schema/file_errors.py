"""Errors of a whole integration file, each at its path inside the file, in the order the file is written.

Pydantic names a place by its ``loc`` (with the schedule's kind as an extra step); the file's path
leaves that step out. Errors inside the filter rules are told as in the admin ("rule 1: …").
"""

from typing import Literal, get_args, get_origin

from django.utils.translation import gettext as _
from pydantic import BaseModel, ValidationError

from .document import OPTIONS_ERROR, SCHEDULES, IntegrationFile, ScheduleObject
from .errors import leaf_message, unknown_choice, unknown_key
from .rules import RuleErrors, rule_message
from .values import Expect

Path = tuple[str | int, ...]


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _literals_in(annotation) -> list:
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return [value for arg in get_args(annotation) for value in _literals_in(arg)]


def _child(owner, key: str):
    """What the value of ``key`` holds: a model, the schedules (a tuple), or ``None`` for a plain value."""
    models = _models_in(owner.model_fields[key].annotation)
    if len(models) > 1:
        return tuple(models)
    return models[0] if models else None


def _marker(field, kind):
    return next((item for item in field.metadata if isinstance(item, kind)), None)


def _schedule_kind(model: type[ScheduleObject]) -> str:
    return _literals_in(model.model_fields["kind"].annotation)[0]


def _explain(error: dict) -> tuple[Path, str]:
    loc, path, owner, index = error["loc"], [], IntegrationFile, 0
    while index < len(loc):
        part = loc[index]
        index += 1
        if isinstance(part, int) or owner is None:
            path.append(part)
            continue
        if isinstance(owner, tuple):  # the schedule's kind, a step pydantic adds
            owner = next(model for model in owner if _schedule_kind(model) == part)
            continue
        field = owner.model_fields.get(part)
        path.append(part)
        if field is None or index == len(loc):
            return tuple(path), _at_key(owner, part, error)
        if _marker(field, RuleErrors):
            return tuple(path), rule_message(loc[index:], error)
        owner = _child(owner, part)
    return tuple(path), leaf_message(error)  # on an item of a list, or inside a plain value


def _at_key(owner: type[BaseModel], key: str, error: dict) -> str:
    kind = error["type"]
    schedule = _schedule_kind(owner) if issubclass(owner, ScheduleObject) else None
    known = list(owner.model_fields)
    if kind == "extra_forbidden":
        if schedule:
            return _('unknown key for a "%(kind)s" schedule; known keys: %(known)s') % {
                "kind": schedule,
                "known": ", ".join(known),
            }
        return unknown_key(key, known)
    if kind == "missing" and schedule:
        return _('required key for a "%(kind)s" schedule is missing') % {"kind": schedule}
    field = owner.model_fields[key]
    if kind == "literal_error":
        allowed = [value for value in _literals_in(field.annotation) if value != ""]
        return unknown_choice(key, error["input"], allowed)
    if kind == "union_tag_invalid":
        return unknown_choice("kind", error["ctx"]["tag"], [_schedule_kind(model) for model in SCHEDULES])
    if kind == "union_tag_not_found":
        return _("required key is missing")
    expect = _marker(field, Expect)
    return leaf_message(error, str(expect.text) if expect else None)


def _where(error: dict, path: Path) -> Path:
    """The schedule's missing or unknown kind is reported at ``schedule.kind``."""
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return (*path, "kind")
    return path


def explain(exc: ValidationError) -> list[tuple[Path, str]]:
    """``(path, message)`` for each error pydantic found in a file."""
    found = []
    for error in exc.errors(include_url=False):
        path, message = _explain(error)
        if error["type"] == OPTIONS_ERROR:
            found += [((*path, "transform_options"), text) for text in error["ctx"]["messages"]]
        else:
            found.append((_where(error, path), message))
    return found


def _keys(owner) -> list[str]:
    models = owner if isinstance(owner, tuple) else (owner,)
    return list(dict.fromkeys(key for model in models for key in model.model_fields))


def path_order(path: Path) -> tuple:
    """A sort key that puts paths in the order they are written in an exported file."""
    order, owner = [], IntegrationFile
    for part in path:
        if isinstance(part, int):
            order.append((part, ""))
            continue
        keys = _keys(owner) if owner is not None else []
        order.append((keys.index(part) if part in keys else len(keys), part))
        if part in keys:
            models = owner if isinstance(owner, tuple) else (owner,)
            owner = next(_child(model, part) for model in models if part in model.model_fields)
        else:
            owner = None
    return tuple(order)
