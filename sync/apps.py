from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = _("Configuration")

    def ready(self):
        from .models import Integration, SyncTable
        from .signals import integration_deleted, integration_saved, system_schedules, table_deleted, table_saved

        post_save.connect(integration_saved, sender=Integration, dispatch_uid="sync.integration_saved")
        post_delete.connect(integration_deleted, sender=Integration, dispatch_uid="sync.integration_deleted")
        post_save.connect(table_saved, sender=SyncTable, dispatch_uid="sync.table_saved")
        post_delete.connect(table_deleted, sender=SyncTable, dispatch_uid="sync.table_deleted")
        post_migrate.connect(system_schedules, sender=self, dispatch_uid="sync.system_schedules")
