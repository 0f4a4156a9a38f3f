"""django-q2's task lists in the portal's admin, where resubmitting a task needs a permission.

django-q2 offers "Resubmit selected tasks" to whoever may *view* its lists, so a read-only
role could run a sync again. Here the action needs the change permission on the task
model, which no role has: only a superuser resubmits a task by hand.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_q import admin as django_q_admin
from django_q.models import Failure, Success


@admin.action(permissions=["change"], description=_("Resubmit selected tasks"))
def resubmit_task(model_admin, request, queryset):
    return django_q_admin.resubmit_task(model_admin, request, queryset)


class SuccessfulTaskAdmin(django_q_admin.TaskAdmin):
    actions = [resubmit_task]


class FailedTaskAdmin(django_q_admin.FailAdmin):
    actions = [resubmit_task]


def install(site=admin.site) -> None:
    """Replace django-q2's registrations of the two task lists (``monitoring.admin`` does, when the admin loads)."""
    for model, model_admin in ((Success, SuccessfulTaskAdmin), (Failure, FailedTaskAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
