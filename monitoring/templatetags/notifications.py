"""Filters of the notification templates (``templates/notifications``)."""

from django import template

register = template.Library()


@register.filter
def mrkdwn(value) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters (a webhook's ``text``)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
