"""An integration's stored state and django-q2 wake-up follow the integration (in the same transaction)."""

from django.db import transaction

from monitoring import state
from monitoring.models import IntegrationState, TableState

from . import slots


def integration_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        IntegrationState.refresh_window(instance)
        slots.keep_in_step(instance)


def integration_deleted(sender, instance, **kwargs):
    slots.remove(instance.pk)


def table_saved(sender, instance, raw=False, **kwargs):
    """A new table has a state from the start; a changed max time moves its deadline."""
    if not raw:
        with transaction.atomic():
            table_state = TableState.locked(instance.pk)  # reads the table and its integration as stored now
            table_state.refresh_window(table_state.table.integration)


def table_deleted(sender, instance, **kwargs):
    """The integration's counts of what waits for a person lose the table's (unless it goes too)."""
    if IntegrationState.objects.filter(pk=instance.integration_id).exists():
        IntegrationState.recount_queue(instance.integration_id, table_ids=[])


def system_schedules(sender, **kwargs):
    slots.ensure_maintenance_schedule()
    state.rebuild(state.missing(), first_slot=slots.first_slot)
