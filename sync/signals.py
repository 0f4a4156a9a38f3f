"""An integration's django-q2 Schedule follows the integration (in the same transaction)."""

from . import schedules


def integration_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        schedules.keep_in_step(instance)


def integration_deleted(sender, instance, **kwargs):
    schedules.remove(instance.pk)


def system_schedules(sender, **kwargs):
    schedules.ensure_maintenance_schedule()
