"""The three roles of the portal and their permissions.

Kept in step by a data migration and after every ``migrate`` (``post_migrate``,
:func:`keep_roles_in_step`), so that new permissions reach the roles and a flushed test
database gets them back.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

CONFIGURATION_MODELS = ("sync.connection", "sync.integration", "sync.synctable", "sync.fieldmapping")
RECORD_MODELS = ("sync.recordlink", "sync.stagedrecord")
HISTORY_MODELS = (
    "monitoring.syncrun",
    "monitoring.tablerun",
    "monitoring.recordevent",
    "monitoring.requestlog",
    "monitoring.recorderror",
    "monitoring.alert",
    "monitoring.helddelete",
    "monitoring.alertevent",
    "monitoring.webhookevent",  # verdicts and statuses; the payloads need view_webhook_payload (IT)
    "monitoring.processedfile",  # the files file connections picked up, and why one failed
)
QUEUE_MODELS = ("django_q.schedule", "django_q.success", "django_q.failure", "django_q.ormq")


def _view(models):
    return [f"{model.split('.')[0]}.view_{model.split('.')[1]}" for model in models]


# Health, runs and exports for everyone; the plumbing (django-q2's task pages, record links, staged
# records) for IT only.
VIEW_HEALTH = _view(CONFIGURATION_MODELS + HISTORY_MODELS)
VIEW_EVERYTHING = [*VIEW_HEALTH, *_view(RECORD_MODELS + QUEUE_MODELS)]
# Login lockouts (django-axes): IT sees the failed attempts and unlocks an account by deleting its attempts.
LOGIN_LOCKOUTS = ["axes.view_accessattempt", "axes.delete_accessattempt", "axes.view_accessfailurelog"]

SUPERVISOR = "Supervisor"
IT = "IT"
ONBOARDING = "Onboarding"

ROLE_PERMISSIONS = {
    SUPERVISOR: VIEW_HEALTH,
    ONBOARDING: [*VIEW_HEALTH, "sync.export_history", "sync.change_deployment_status"],
    IT: [
        *VIEW_EVERYTHING,
        *(
            f"{model.split('.')[0]}.{action}_{model.split('.')[1]}"
            for model in CONFIGURATION_MODELS
            for action in ("add", "change", "delete")
        ),
        "sync.run_integration",
        "sync.export_history",
        "sync.change_deployment_status",
        "monitoring.change_recorderror",
        "monitoring.retry_record",
        "monitoring.change_alert",
        "monitoring.change_helddelete",
        # Webhooks in: the receivers (their address and secret) and the payloads of the inbox, IT only.
        *(f"sync.{action}_webhookreceiver" for action in ("view", "add", "change", "delete")),
        "monitoring.view_webhook_payload",
        "monitoring.process_webhook_event",
        *LOGIN_LOCKOUTS,
    ],
}


def create_historical_permissions(apps, using="default"):
    """Inside a migration, permissions do not exist yet (``post_migrate`` makes them): make them now."""
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
        app_config.models_module = None


def role_permissions() -> dict[str, list[str]]:
    """The roles' permissions, with those an installed app grants (its config's ``role_permissions``, as the
    optional demo grants IT its knobs): the product names no optional app."""
    permissions = {role: list(names) for role, names in ROLE_PERMISSIONS.items()}
    for app_config in global_apps.get_app_configs():
        for role, names in getattr(app_config, "role_permissions", {}).items():
            permissions[role].extend(names)
    return permissions


def ensure_roles(apps, using="default"):
    """Create or update the role groups with exactly their permissions (``apps``: real or historical)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in role_permissions().items():
        wanted = {tuple(name.split(".")) for name in names}
        permissions = [
            permission
            for permission in Permission.objects.using(using).select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        group, _created = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(permissions)


def keep_roles_in_step(sender, using="default", apps=global_apps, **kwargs):
    """``post_migrate``, after every app's migrations: the permissions of apps migrated later reach the roles."""
    ensure_roles(apps, using=using)
