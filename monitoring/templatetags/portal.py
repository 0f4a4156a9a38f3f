"""Small template helpers shared by the monitoring screens: status badges, durations, local times.

Every moment a page shows goes through :func:`moment` (or :func:`moment_text` inside a sentence or an
attribute): the language's short date and time, in the portal's time zone, the same on every page
(``11/14/2024 9:04 a.m.`` in English, ``14/11/2024 09:04`` in Portuguese); with seconds on the pages
that log events one after another; with the words a person compares with now ("2 hours ago") beside it.
"""

import re

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from core.durations import elapsed_duration
from core.local_time import moment_format, moment_text, with_seconds  # noqa: F401 (templates and tests use them)
from monitoring.choices import ALERT_STATUS_COLOURS, HEALTH_STATUS_COLOURS, RUN_STATUS_COLOURS, HealthStatus, RunStatus
from monitoring.status import relative_text

register = template.Library()

COLOURS = {**RUN_STATUS_COLOURS, **HEALTH_STATUS_COLOURS, **ALERT_STATUS_COLOURS}


@register.simple_tag
def status_badge(status, label=None):
    """A coloured badge that also says the status in words (never colour alone)."""
    if label is None:
        for choices in (HealthStatus, RunStatus):
            if status in choices.values:
                label = choices(status).label
                break
        else:
            label = status
    colour = COLOURS.get(status, "grey")
    return format_html('<span class="portal-badge portal-{}" data-status="{}">{}</span>', colour, status, label)


# ``sync.engine.bad_record_key``: "(no CNPJ) 3f2a9c1b", kept in the portal's language as a key.
_PLACEHOLDER_KEY = re.compile(r"^\(no (?P<field>.+)\) (?P<digest>[0-9a-f]{8})$")


@register.filter
def record_key(value):
    """A record's key; the placeholder of a record without one in the reader's language ("(sem CNPJ) 3f2a9c1b")."""
    match = _PLACEHOLDER_KEY.match(str(value or ""))
    if match is None:
        return value
    words = _("(no %(field)s)") % {"field": match.group("field")}
    return f"{words} {match.group('digest')}"


@register.filter
def duration(value):
    """A measured time (:func:`core.durations.elapsed_duration`): ``4.2 s``, ``2 min 5 s``; ``—`` for none."""
    return elapsed_duration(value)


# ---------------------------------------------------------------- moments


@register.simple_tag
def moment(value, seconds=False, relative_to=None) -> SafeString | str:
    """``<time datetime="ISO">`` with the moment in words; ``relative_to`` (now) adds "(2 hours ago)" beside it.

    ``{% moment run.finished_at seconds=True %}``, ``{% moment health.last_success relative_to=now %}``; "" for None.
    """
    if value is None:
        return ""
    local = timezone.localtime(value)
    element = format_html('<time datetime="{}">{}</time>', local.isoformat(), moment_text(local, seconds=seconds))
    if relative_to is None:
        return element
    return format_html('{} <span class="portal-ago">({})</span>', element, relative_text(value, relative_to))


@register.filter(name="moment_text")
def moment_text_filter(value, seconds=False) -> str:
    """:func:`moment_text` in a sentence or an attribute: ``{{ when|moment_text }}`` (``:True`` adds seconds)."""
    return "" if value is None else moment_text(value, seconds=bool(seconds))


@register.filter
def relative_to(value, now) -> str:
    """ "in 3 hours", "2 hours ago", "just now": how far ``value`` is from ``now`` (``{{ when|relative_to:now }}``)."""
    return relative_text(value, now)
