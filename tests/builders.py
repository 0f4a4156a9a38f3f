"""Small builders of integrations and runs with known timestamps, for health and alert tests."""

from contextlib import ExitStack, contextmanager
from datetime import timedelta

from django.utils import timezone

from monitoring.choices import RunStatus, Trigger
from monitoring.models import IntegrationState, SyncRun
from sync import tasks
from sync.choices import IntegrationType, ScheduleKind
from sync.models import Connection, Integration, SyncTable

from .servers.rest_api import FakeRestApi


def build_integration(erp, crm, *, name="Sankhya ↔ Ploomes", activated_at, table="", **fields) -> Integration:
    """An integration between ``erp`` and ``crm``; with an active table named ``table`` when given (configured)."""
    values = {
        "integration_type": IntegrationType.SOAP,
        "erp_name": "Sankhya",
        "crm_name": "Ploomes",
        "erp_connection": erp,
        "crm_connection": crm,
        "max_time_without_success": timedelta(hours=24),
        "activated_at": activated_at,
    }
    integration = Integration.objects.create(name=name, **{**values, **fields})
    if table:
        SyncTable.objects.create(
            integration=integration, name=table, source_object="Customers", target_object="/Contacts", record_key="Id"
        )
    return integration


def slot_due(integration, at) -> None:
    """The integration's slot at ``at`` is due: nobody has claimed it yet (an unscheduled one runs hourly first)."""
    if integration.schedule_kind == ScheduleKind.NONE:
        integration.schedule_kind, integration.schedule_interval_minutes = ScheduleKind.INTERVAL, 60
        integration.save()
    IntegrationState.objects.filter(pk=integration.pk).update(next_run_at=at)


def make_run(integration, status, *, at, seconds=60, error="", heartbeat=None) -> SyncRun:
    """A run queued and started at ``at``; finished ``seconds`` later unless still active.

    A running run is alive (its thread beats): its heartbeat is now unless ``heartbeat`` says otherwise.
    """
    finished = None if status in (RunStatus.QUEUED, RunStatus.RUNNING) else at + timedelta(seconds=seconds)
    started = None if status == RunStatus.QUEUED else at
    if status == RunStatus.RUNNING and heartbeat is None:
        heartbeat = timezone.now()
    return SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.SCHEDULE,
        status=status,
        queued_at=at,
        started_at=started,
        heartbeat_at=heartbeat or started,
        finished_at=finished,
        error=error,
    )


@contextmanager
def two_rest_apis(api_key: str):
    """A source and a target ``FakeRestApi`` behind the same ``User-Key``, both stopped on the way out."""
    with ExitStack() as servers:
        source = FakeRestApi(auth="api_key", api_key=api_key).start()
        servers.callback(source.stop)
        target = FakeRestApi(auth="api_key", api_key=api_key).start()
        servers.callback(target.stop)
        yield source, target


def rest_to_rest(source, target, *, api_key: str, name: str, **connection_fields) -> Integration:
    """An integration between two local REST servers (``FakeRestApi``), both OData-paged behind a ``User-Key``."""

    def connection(connection_name, api):
        values = {
            "kind": "rest",
            "base_url": api.url,
            "auth_kind": "api_key",
            "api_key_header": "User-Key",
            "api_key": api_key,
            "pagination": "odata",
            "records_path": "value",
            "timeout_seconds": 5,
            **connection_fields,
        }
        return Connection.objects.create(name=connection_name, **values)

    source_name, target_name = name.split(" ↔ ")
    return Integration.objects.create(
        name=name,
        integration_type=IntegrationType.REST,
        erp_name=source_name,
        crm_name=target_name,
        erp_connection=connection(source_name, source),
        crm_connection=connection(target_name, target),
    )


def finish_runs_at_once(monkeypatch) -> None:
    """Runs that the tasks start succeed at once: for tests about which runs exist, not what they sync."""

    def execute(run_id):
        run = SyncRun.objects.get(pk=run_id)
        if run.start():
            run.finish(RunStatus.SUCCEEDED)
        return run

    monkeypatch.setattr(tasks, "execute_run", execute)
