from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from .roles import keep_roles_in_step


class AccountsConfig(AppConfig):
    """The portal's people: their roles, preferences, two-factor logins and lockouts."""

    name = "accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from .preferences import activate_stored_language  # needs the models loaded

        # After every app's migrations: the permissions of apps migrated after this one (the demo's) reach the roles.
        post_migrate.connect(keep_roles_in_step, dispatch_uid="accounts.keep_roles_in_step")
        user_logged_in.connect(activate_stored_language, dispatch_uid="accounts.activate_stored_language")
