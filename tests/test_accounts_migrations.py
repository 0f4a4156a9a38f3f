"""The user preference moved from the monitoring app to the accounts app, its table untouched.

A fresh database (the test database is one) and a database migrated before the move end the same:
the preference is ``accounts.UserPreference`` on the table it always had, and the preferences stored
before the move are still there.
"""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import UserPreference

BEFORE_THE_MOVE = [("monitoring", "0015_export_job_limits"), ("accounts", None)]
MOVED = [("monitoring", "0016_userpreference_moved_to_accounts"), ("accounts", "0001_initial")]


def latest():
    """Every app's newest migration: where the test database stands, and where each test leaves it."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def migrate(targets):
    """Migrate the test database to ``targets``; the apps of the state reached (historical models)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    reached = [(app, name) for app, name in targets if name is not None]
    return MigrationExecutor(connection).loader.project_state(reached).apps


def test_a_fresh_database_has_the_preference_in_accounts_on_its_old_table(db, django_user_model):
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(latest()) == []
    assert set(MOVED) <= set(executor.loader.applied_migrations)
    assert UserPreference._meta.app_label == "accounts"
    assert UserPreference._meta.db_table == "monitoring_userpreference"
    assert "monitoring_userpreference" in connection.introspection.table_names()
    assert ContentType.objects.filter(app_label="accounts", model="userpreference").exists()
    assert not ContentType.objects.filter(app_label="monitoring", model="userpreference").exists()

    user = django_user_model.objects.create_user(username="maria")
    UserPreference.objects.create(user=user, language="pt-br")
    assert django_user_model.objects.get(username="maria").portal_preference.language == "pt-br"


@pytest.mark.django_db(transaction=True)
def test_preferences_stored_before_the_move_survive_it_with_their_permissions():
    old = migrate(BEFORE_THE_MOVE)
    user = old.get_model("auth", "User").objects.create(username="maria")
    old.get_model("monitoring", "UserPreference").objects.create(user_id=user.pk, language="pt-br")
    old_type = old.get_model("contenttypes", "ContentType").objects.get(app_label="monitoring", model="userpreference")
    permissions = set(
        old.get_model("auth", "Permission").objects.filter(content_type=old_type).values_list("pk", flat=True)
    )

    migrate(latest())

    preference = UserPreference.objects.select_related("user").get()
    assert (preference.user.username, preference.language) == ("maria", "pt-br")
    moved_type = ContentType.objects.get_for_model(UserPreference)
    assert moved_type.pk == old_type.pk and moved_type.app_label == "accounts"
    assert permissions and set(Permission.objects.filter(content_type=moved_type).values_list("pk", flat=True)) == (
        permissions
    )
    assert not ContentType.objects.filter(app_label="monitoring", model="userpreference").exists()


@pytest.mark.django_db(transaction=True)
def test_the_move_goes_back_and_forth_without_touching_the_rows(django_user_model):
    user = django_user_model.objects.create_user(username="joao")
    UserPreference.objects.create(user=user, language="en")

    old = migrate(BEFORE_THE_MOVE)
    assert old.get_model("monitoring", "UserPreference").objects.get().language == "en"
    migrate(latest())

    assert UserPreference.objects.get(user=user).language == "en"
