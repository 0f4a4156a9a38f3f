from django.db import migrations

from accounts.roles import create_historical_permissions, ensure_roles


def create_roles(apps, schema_editor):
    using = schema_editor.connection.alias
    create_historical_permissions(apps, using=using)
    ensure_roles(apps, using=using)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Supervisor", "IT", "Onboarding"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("sync", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
