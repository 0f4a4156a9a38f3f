"""Small template helpers shared by the monitoring screens: status badges, durations, local times."""

import re

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

from monitoring.choices import ALERT_STATUS_COLOURS, HEALTH_STATUS_COLOURS, RUN_STATUS_COLOURS, HealthStatus, RunStatus
from monitoring.health import human_duration

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
    """A timedelta for people: ``4.2 s``, ``2 min 5 s``, ``1 hour 5 minutes``; ``—`` when there is none."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 60:
        return _("%(seconds)s s") % {"seconds": number_format(seconds, 1)}
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": rest}
    return human_duration(value)
