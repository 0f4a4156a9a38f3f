"""Each role can do what it should in the admin, and nothing more."""

import pytest
from django.urls import reverse

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from sync.models import Connection, Integration

pytestmark = pytest.mark.django_db


def test_the_three_roles_exist_with_their_custom_permissions(django_user_model):
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {SUPERVISOR, IT, ONBOARDING}
    onboarding = set(Group.objects.get(name=ONBOARDING).permissions.values_list("codename", flat=True))
    assert {"export_history", "change_deployment_status", "view_integration"} <= onboarding
    assert "change_integration" not in onboarding


def integration_form(integration, **overrides):
    data = {
        "name": integration.name,
        "integration_type": integration.integration_type,
        "erp_name": integration.erp_name,
        "erp_version": integration.erp_version,
        "crm_name": integration.crm_name,
        "erp_connection": integration.erp_connection_id,
        "crm_connection": integration.crm_connection_id,
        "deployment_status": integration.deployment_status,
        "active": "on",
        "schedule_kind": integration.schedule_kind,
        "schedule_daily_time": integration.schedule_daily_time,
        "max_time_without_success": "24h",
        "tables-TOTAL_FORMS": "0",
        "tables-INITIAL_FORMS": "0",
        **overrides,
    }
    return data


@pytest.mark.parametrize("role", [SUPERVISOR, IT, ONBOARDING])
def test_every_role_sees_integrations_runs_and_the_review_queue(login_as, integration, role):
    client = login_as(role)
    for name in (
        "sync_integration",
        "sync_connection",
        "sync_synctable",
        "monitoring_syncrun",
        "monitoring_recorderror",
        "monitoring_requestlog",
        "monitoring_alert",
    ):
        response = client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
    page = client.get(reverse("admin:sync_integration_change", args=[integration.pk])).content.decode()
    assert integration.name in page


def test_supervisor_changes_nothing(login_as, integration):
    client = login_as(SUPERVISOR)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    page = client.get(change_url).content.decode()
    assert 'name="_save"' not in page
    response = client.post(change_url, integration_form(integration, deployment_status="completed", name="Hacked"))
    assert response.status_code == 403
    integration.refresh_from_db()
    assert (integration.name, integration.deployment_status) == ("Sankhya ↔ Ploomes", "in_progress")
    assert client.get(reverse("admin:sync_integration_add")).status_code == 403
    assert client.get(reverse("admin:sync_connection_add")).status_code == 403
    assert (
        client.post(reverse("admin:sync_integration_delete", args=[integration.pk]), {"post": "yes"}).status_code == 403
    )
    assert Integration.objects.filter(pk=integration.pk).exists()


def test_onboarding_changes_the_deployment_status_and_nothing_else(login_as, integration):
    client = login_as(ONBOARDING)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    page = client.get(change_url).content.decode()
    assert 'name="deployment_status"' in page
    assert 'name="name"' not in page and 'name="schedule_kind"' not in page
    response = client.post(
        change_url,
        {
            "deployment_status": "completed",
            "name": "Renamed",
            "schedule_kind": "none",
            "active": "",
            "tables-TOTAL_FORMS": "1",
            "tables-INITIAL_FORMS": "1",
            "tables-0-id": str(integration.tables.get().pk),
            "tables-0-integration": str(integration.pk),
        },
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.deployment_status == "completed"
    assert integration.name == "Sankhya ↔ Ploomes"
    assert integration.schedule_kind == "daily" and integration.active
    assert client.get(reverse("admin:sync_integration_add")).status_code == 403
    assert client.get(reverse("admin:sync_connection_add")).status_code == 403
    connection_change = reverse("admin:sync_connection_change", args=[integration.erp_connection_id])
    assert client.post(connection_change, {"name": "x"}).status_code == 403


def test_it_configures_everything(login_as, integration):
    client = login_as(IT)
    change_url = reverse("admin:sync_integration_change", args=[integration.pk])
    table = integration.tables.get()
    data = integration_form(
        integration,
        name="Renamed",
        schedule_kind="interval",
        schedule_interval_minutes="15",
        **{
            "tables-TOTAL_FORMS": "1",
            "tables-INITIAL_FORMS": "1",
            "tables-0-id": table.pk,
            "tables-0-integration": integration.pk,
            "tables-0-order": "1",
            "tables-0-name": "Company",
            "tables-0-direction": "erp_to_crm",
            "tables-0-active": "on",
            "tables-0-source_object": "ListCustomers",
            "tables-0-target_object": "/Contacts",
            "tables-0-record_key": "CNPJ",
        },
    )
    response = client.post(change_url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    integration.refresh_from_db()
    assert (integration.name, integration.schedule_interval_minutes) == ("Renamed", 15)
    assert client.get(reverse("admin:sync_connection_add")).status_code == 200
    response = client.post(
        reverse("admin:sync_connection_add"),
        {
            "name": "HubSpot",
            "kind": "rest",
            "base_url": "https://api.hubapi.example",
            "pagination": "next_link",
            "page_size": "100",
            "auth_kind": "bearer",
            "token": "tok-123456",
            "timeout_seconds": "30",
            "max_retries": "3",
            "max_retry_after_seconds": "60",
            "max_in_flight": "1",
        },
    )
    assert response.status_code == 302
    assert Connection.objects.get(name="HubSpot").token == "tok-123456"


def test_run_logs_are_read_only_even_for_it(login_as, integration):
    from monitoring.models import SyncRun

    run = SyncRun.objects.create(integration=integration, trigger="manual")
    client = login_as(IT)
    assert client.get(reverse("admin:monitoring_syncrun_add")).status_code == 403
    page = client.get(reverse("admin:monitoring_syncrun_change", args=[run.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client.post(reverse("admin:monitoring_syncrun_delete", args=[run.pk]), {"post": "yes"}).status_code == 403


def test_it_has_the_run_and_retry_permissions_the_others_do_not(django_user_model):
    from django.contrib.auth.models import Group

    users = {}
    for role in (SUPERVISOR, IT, ONBOARDING):
        user = django_user_model.objects.create_user(username=role, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = django_user_model.objects.get(pk=user.pk)
    assert users[IT].has_perms(["sync.run_integration", "monitoring.retry_record", "sync.export_history"])
    assert not users[SUPERVISOR].has_perm("sync.run_integration")
    assert not users[SUPERVISOR].has_perm("monitoring.retry_record")
    assert not users[SUPERVISOR].has_perm("sync.export_history")
    assert not users[ONBOARDING].has_perm("sync.run_integration")
    assert users[ONBOARDING].has_perm("sync.export_history")


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("admin:sync_integration_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# (django-q2 lists its queued tasks only with its ORM broker.)
PLUMBING = ("django_q_success", "django_q_failure", "django_q_schedule", "sync_recordlink")


@pytest.mark.parametrize("role", [SUPERVISOR, ONBOARDING])
def test_supervisors_and_onboarding_see_health_not_plumbing(login_as, role):
    client = login_as(role)
    for name in PLUMBING:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
    home = client.get(reverse("admin:index")).content.decode()
    assert "/django_q/" not in home and "/sync/recordlink/" not in home


def test_it_sees_the_plumbing_and_turns_the_demo_knobs(login_as, settings):
    from demo.models import SandboxKnobs

    client = login_as(IT)
    for name in PLUMBING:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    knobs = SandboxKnobs.objects.create(system="crm")
    page = client.get(reverse("admin:sandbox_sandboxknobs_change", args=[knobs.pk]))
    assert page.status_code == 200 and 'name="_save"' in page.content.decode()  # may change them, not only see
    assert client.get(reverse("admin:sandbox_sandboxknobs_changelist")).status_code == 200
