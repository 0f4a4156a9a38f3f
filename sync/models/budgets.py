"""The shared rate budget and daily quota of a connection, kept in the database (see :mod:`sync.budgets`)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .connections import Connection


class ConnectionBudget(models.Model):
    """When the next call to a connection may go, for every worker and integration using it.

    ``next_call_at`` is the GCRA's theoretical arrival time: a call's slot is the latest of it,
    ``held_until`` and now, and it moves on by 60 / rate with every call booked. ``held_until`` is
    set when the API asked to wait (a 429 with ``Retry-After``, a spent ``X-RateLimit-Remaining``).
    ``day_calls`` counts the calls booked on ``day`` (the portal's time zone) against the daily call
    limit; ``spent_until`` is set when the API said its daily quota is spent.
    """

    connection = models.OneToOneField(
        Connection, on_delete=models.CASCADE, primary_key=True, related_name="budget", verbose_name=_("connection")
    )
    next_call_at = models.DateTimeField(_("next call at"))
    held_until = models.DateTimeField(_("held until"), null=True, blank=True)
    day = models.DateField(_("day"), null=True, blank=True)
    day_calls = models.PositiveIntegerField(_("calls that day"), default=0)
    spent_until = models.DateTimeField(_("daily quota spent until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("connection rate budget")
        verbose_name_plural = _("connection rate budgets")

    def __str__(self):
        return str(self.connection_id)
