"""The accounts' security records in the admin: login lockouts (django-axes) and authenticators (django-otp).

- Lockouts: IT unlocks an account by deleting its attempts. django-axes' "clean up expired attempts"
  action is left out: django-axes removes expired attempts by itself on every request, and the action
  fails outside its login flow.
- Authenticators: listed, and deleted when one is lost (the account then adds a new one at its next
  login). Their keys are never shown here, and django-otp's QR-code page (which needs a library the
  portal does not install) is not offered.
"""

from axes.admin import AccessAttemptAdmin  # importing it registers django-axes' own admins, replaced below
from axes.models import AccessAttempt
from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice


class LockoutAdmin(AccessAttemptAdmin):
    actions = ["delete_selected"]


class AuthenticatorAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # an account adds its own, from the set-up page

    def has_change_permission(self, request, obj=None):
        return False


for model, model_admin in ((AccessAttempt, LockoutAdmin), (TOTPDevice, AuthenticatorAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
