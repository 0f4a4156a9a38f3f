"""Small template helpers shared by the monitoring screens: status badges, durations, local times."""

from django import template
from django.utils.html import format_html

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


@register.filter
def duration(value):
    """A timedelta for people: ``2 minutes 5 seconds``; ``—`` when there is none."""
    if value is None:
        return "—"
    if value.total_seconds() < 60:
        return f"{value.total_seconds():.1f} s"
    return human_duration(value)
