from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = _("Monitoring")

    def ready(self):
        from . import task_admin
        from .signals import keep_roles_in_step

        task_admin.install()

        # After every app's migrations: the permissions of apps migrated after this one (the demo's) reach the roles.
        post_migrate.connect(keep_roles_in_step, dispatch_uid="monitoring.keep_roles_in_step")
        import integration_portal.language  # noqa: F401  (connects the user_logged_in receiver)
