from django.apps import apps as global_apps

from .roles import ensure_roles


def keep_roles_in_step(sender, using="default", apps=global_apps, **kwargs):
    ensure_roles(apps, using=using)
