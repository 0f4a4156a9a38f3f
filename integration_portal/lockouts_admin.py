"""django-axes' lockouts in the admin, as IT unlocks an account: by deleting its attempts.

Its "clean up expired attempts" action is left out: django-axes removes expired attempts by itself
on every request, and the action fails outside its login flow.
"""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin


class LockoutAdmin(AccessAttemptAdmin):
    actions = ["delete_selected"]


def install() -> None:
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, LockoutAdmin)
