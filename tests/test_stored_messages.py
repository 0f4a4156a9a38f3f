"""Texts that workers store are shown in the reader's language (English or Brazilian Portuguese).

A worker writes a run's error, a record event's message, a review-queue reason or an alert with
nobody reading; each is kept untranslated (``sync.stored_messages``) and shown in the language of
whoever reads it: on the run page, the review queue, the admin lists and the history workbook.
Outside data inside them (a remote system's words, a record key) is shown as it came. Rows written
before stay plain text and still show; notifications, which have no reader, speak the portal's
language.
"""

import html
import io
import json
import pickle
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.roles import IT, ONBOARDING, SUPERVISOR
from core import stored_messages as stored
from core.durations import HumanDurationField, human_duration, parse_duration, short_duration
from core.redaction import truncate
from core.stored_messages import StoredMessage
from monitoring.alerts import evaluate_all, open_alert
from monitoring.choices import AlertKind, RecordAction, RunStatus, Trigger
from monitoring.exports import delete_expired_exports
from monitoring.models import (
    Alert,
    AlertEvent,
    ExportJob,
    ExportStatus,
    RecordError,
    RecordEvent,
    RequestLog,
    SyncRun,
)
from monitoring.notifications import deliver_due
from monitoring.reaper import reap
from sync.choices import ScheduleKind, WriteMode
from sync.connectors.base import ConnectorError
from sync.engine import connector_for_connection, execute_run, queue_run
from sync.models import Connection, FieldMapping, Integration
from sync.tasks import run_scheduled

from .builders import build_integration, make_run, slot_due
from .conftest import CRM_API_KEY, ERP_PASSWORD
from .memory_connector import MemoryConnector, MemorySystem
from .processes import free_port
from .servers.rest_api import FakeRestApi

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo


@pytest.fixture
def reader(django_user_model):
    """A signed-in person of ``role`` who chose ``language`` in the header."""

    def sign_in(language, role=SUPERVISOR):
        user = django_user_model.objects.create_user(username=f"{role}-{language}".lower(), is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        response = client.post(reverse("set_language"), {"language": language, "next": "/"})
        assert response.status_code == 302
        return client

    return sign_in


def page(client, url, **query) -> str:
    response = client.get(url, query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def run_page(client, run) -> str:
    return page(client, reverse("admin:run", args=[run.pk]))


def stored_column(model, field: str, pk: int) -> str:
    """What the database holds, read past the field."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {field} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (names from the model)
        return cursor.fetchone()[0]


# ---------------------------------------------------------------- what the engine stores


@pytest.fixture
def run_update_only(integration):
    """Runs a table that never creates: records with no match are skipped, the one without a key fails."""
    table = integration.tables.get()
    table.source_object, table.target_object, table.update_object = "customers", "Companies", "Companies"
    table.write_mode = WriteMode.UPDATE_ONLY
    table.save()
    FieldMapping.objects.create(table=table, position=3, source_path="Code", target_field="ErpCode")
    erp, crm = MemorySystem(), MemorySystem()
    erp.rows("customers").update(
        {
            "1": {"Code": "C001", "CNPJ": "11222333000181", "Name": "Acme"},
            "2": {"Code": "C002", "CNPJ": "", "Name": "Keyless"},
        }
    )

    def connectors(connection, call_log):
        system = erp if connection.pk == integration.erp_connection_id else crm
        return MemoryConnector(system, page_size=10, call_log=call_log)

    return lambda: execute_run(queue_run(integration, Trigger.MANUAL).pk, connectors=connectors)


@pytest.fixture
def update_only_run(run_update_only):
    return run_update_only()


SKIPPED_EN = "No matching record in the target, and this table never creates."
SKIPPED_PT = "Nenhum registro correspondente no destino, e esta tabela nunca cria."
NO_KEY_EN = 'The record has no value in its key field "CNPJ".'
NO_KEY_PT = 'O registro não tem valor no seu campo-chave "CNPJ".'


def test_record_events_and_reasons_of_a_run_read_in_each_persons_language(reader, update_only_run):
    run = update_only_run
    assert run.status == RunStatus.PARTIAL
    portuguese, english = reader("pt-br"), reader("en")

    text = run_page(portuguese, run)
    assert SKIPPED_PT in text and NO_KEY_PT in text
    assert SKIPPED_EN not in text and NO_KEY_EN not in text
    text = run_page(english, run)
    assert SKIPPED_EN in text and NO_KEY_EN in text and SKIPPED_PT not in text

    queue = reverse("admin:integration_queue", args=[run.integration.pk])
    assert NO_KEY_PT in page(portuguese, queue) and NO_KEY_EN in page(english, queue)

    events = reverse("admin:monitoring_recordevent_changelist")
    assert SKIPPED_PT in page(portuguese, events) and SKIPPED_EN in page(english, events)
    errors = reverse("admin:monitoring_recorderror_changelist")
    assert NO_KEY_PT in page(portuguese, errors) and NO_KEY_EN in page(english, errors)


def test_what_is_stored_is_the_untranslated_message_with_its_english_text(run_update_only):
    run_update_only()
    event = RecordEvent.objects.get(action=RecordAction.SKIPPED)
    error = RecordError.objects.get()
    # Code that reads the field as text (an email, a log, a comparison) gets the portal's language.
    assert event.message == SKIPPED_EN and error.reason == NO_KEY_EN
    assert isinstance(error.reason, StoredMessage)
    raw = stored_column(RecordError, "reason", error.pk)
    assert raw.startswith('{"stored_message":1,') and '"msgid":"The record has no value in its key field' in raw
    assert '"field":"CNPJ"' in raw  # the record's own field name: outside data, kept as it is

    run_update_only()  # the same record fails again: its queue entry is updated in bulk
    error = RecordError.objects.get()
    assert error.attempts == 2 and stored_column(RecordError, "reason", error.pk) == raw
    # The record key of a record without one is not a message: the same words in every language.
    with translation.override("pt-br"):
        assert error.record_key.startswith("(no CNPJ) ")


def test_a_failed_run_keeps_the_remote_systems_words_as_they_came(reader, integration):
    table = integration.tables.get()
    table.source_object = "customers"
    table.save()
    erp = MemorySystem()
    erp.fail_next["read"] = [ConnectorError("The ERP answered 503 Service Unavailable", retryable=True)]

    def connectors(connection, call_log):
        return MemoryConnector(erp, page_size=10, call_log=call_log)

    run = execute_run(queue_run(integration, Trigger.MANUAL).pk, connectors=connectors)
    assert run.status == RunStatus.FAILED and run.error == "Company: The ERP answered 503 Service Unavailable"
    # "%(table)s: %(error)s" is ours; the table's name and the ERP's answer are not translated.
    assert "Company: The ERP answered 503 Service Unavailable" in run_page(reader("pt-br"), run)


# ---------------------------------------------------------------- connectors, rules and fields


@pytest.fixture
def crm_api(integration):
    """The CRM as a real REST API on 127.0.0.1 (Ploomes-shaped), the integration's CRM connection pointing at it."""
    with FakeRestApi(auth="api_key", api_key=CRM_API_KEY) as api:
        Connection.objects.filter(pk=integration.crm_connection_id).update(base_url=api.url)
        yield api


def erp_in_memory(integration, erp: MemorySystem):
    """Connectors: the ERP in memory, the CRM through the real REST connector."""

    def connectors(connection, call_log):
        if connection.pk == integration.erp_connection_id:
            return MemoryConnector(erp, page_size=10, call_log=call_log)
        return connector_for_connection(connection, call_log)

    return connectors


def customers(integration, *rows) -> MemorySystem:
    table = integration.tables.get()
    table.source_object = "customers"
    table.save()
    erp = MemorySystem()
    erp.rows("customers").update({str(number): row for number, row in enumerate(rows)})
    return erp


REFUSED_KEY_EN = "Company: Ploomes answered 401 Unauthorized: check the API key."
REFUSED_KEY_PT = "Company: Ploomes respondeu 401 Unauthorized: confira a chave de API."


def test_a_connectors_error_reads_in_each_persons_language(reader, integration, crm_api):
    crm_api.api_key = "another-key"  # the CRM no longer takes the portal's key
    erp = customers(integration, {"CNPJ": "11222333000181", "Name": "Acme"})

    run = execute_run(queue_run(integration, Trigger.MANUAL).pk, connectors=erp_in_memory(integration, erp))
    assert run.status == RunStatus.FAILED and run.error == REFUSED_KEY_EN
    assert stored_column(SyncRun, "error", run.pk).startswith('{"stored_message":1,')
    call = RequestLog.objects.get(run=run, status_code=401)
    assert call.error == REFUSED_KEY_EN.removeprefix("Company: ")
    assert stored_column(RequestLog, "error", call.pk).startswith('{"stored_message":1,')

    portuguese, english = run_page(reader("pt-br"), run), run_page(reader("en"), run)
    assert REFUSED_KEY_PT in portuguese and REFUSED_KEY_PT.removeprefix("Company: ") in portuguese
    assert "answered 401" not in portuguese
    assert REFUSED_KEY_EN in english and "respondeu" not in english
    assert CRM_API_KEY not in portuguese + english


def test_a_filter_rules_explanation_reads_in_each_persons_language(reader, integration):
    table = integration.tables.get()
    table.filter_rules = [{"field": "Status", "op": "eq", "value": "A"}]
    table.save()
    erp = customers(
        integration,
        {"CNPJ": "11222333000181", "Name": "On hold", "Status": "B"},
        {"CNPJ": "11444777000161", "Name": "Unknown"},
    )
    crm = MemorySystem()

    def connectors(connection, call_log):
        return MemoryConnector(erp if connection.pk == integration.erp_connection_id else crm, 10, call_log)

    run = execute_run(queue_run(integration, Trigger.MANUAL).pk, connectors=connectors)
    skipped = set(RecordEvent.objects.filter(run=run, action=RecordAction.SKIPPED).values_list("message", flat=True))
    assert skipped == {
        'skipped by the rule "Status equals "A"": Status is "B"',
        'skipped by the rule "Status equals "A"": Status is missing',
    }

    text = run_page(reader("pt-br"), run)
    assert 'ignorado pela regra "Status igual a "A"": Status é "B"' in text
    assert 'ignorado pela regra "Status igual a "A"": Status está ausente' in text
    assert "skipped by the rule" not in text
    assert 'skipped by the rule "Status equals "A"": Status is missing' in run_page(reader("en"), run)


FORBIDDEN_EN = "Ploomes answered 403 Forbidden to POST /Contacts: the API key lacks permission."
FORBIDDEN_PT = "Ploomes respondeu 403 Forbidden para POST /Contacts: a chave de API não tem permissão."
BAD_CNPJ_EN = "CNPJ 11222333000182 is invalid: the check digits do not match"
BAD_CNPJ_PT = "CNPJ 11222333000182 é inválido: os dígitos verificadores não conferem"


def test_what_a_retry_from_a_portuguese_page_stores_reads_in_english_for_an_english_reader(
    reader, integration, crm_api
):
    table = integration.tables.get()
    failed = [
        RecordError.objects.create(table=table, record_key=key, payload=payload, reason="an earlier failure")
        for key, payload in (
            ("11222333000181", {"CNPJ": "11222333000181", "Name": "Acme"}),
            ("11222333000182", {"CNPJ": "11222333000182", "Name": "Typo"}),
            ("(no CNPJ) 0a1b2c3d", {"Name": "Nameless"}),
        )
    ]
    crm_api.fail_next(status=403, method="POST")  # the CRM refuses the one record that reaches it

    portuguese = reader("pt-br", IT)
    queue = reverse("admin:integration_queue", args=[integration.pk])
    response = portuguese.post(queue, {"action": "retry", "selected": [error.pk for error in failed]}, follow=True)
    assert response.status_code == 200
    assert "0 de 3 registros foram processados" in html.unescape(response.content.decode())  # a Portuguese request

    errors = {error.record_key: error for error in RecordError.objects.all()}
    assert len(errors) == 3 and all(error.attempts == 2 for error in errors.values())
    assert errors["11222333000181"].reason == FORBIDDEN_EN
    assert errors["11222333000182"].reason == f"CNPJ: {BAD_CNPJ_EN}"
    assert errors["11222333000182"].field_errors["CNPJ"].startswith('{"stored_message":1,')
    assert errors["(no CNPJ) 0a1b2c3d"].reason == 'The record has no value in its key field "CNPJ".'
    for error in errors.values():
        assert stored_column(RecordError, "reason", error.pk).startswith('{"stored_message":1,')

    english = reader("en", IT)
    text = page(english, queue)
    assert FORBIDDEN_EN in text and f"CNPJ: {BAD_CNPJ_EN}" in text and f"<code>CNPJ</code>: {BAD_CNPJ_EN}" in text
    assert NO_KEY_EN in text and "respondeu" not in text and "inválido" not in text
    text = page(portuguese, queue)
    assert FORBIDDEN_PT in text and f"CNPJ: {BAD_CNPJ_PT}" in text and f"<code>CNPJ</code>: {BAD_CNPJ_PT}" in text
    assert NO_KEY_PT in text and "answered 403" not in text

    retry = SyncRun.objects.get(trigger=Trigger.RETRY)
    assert FORBIDDEN_EN in run_page(english, retry) and FORBIDDEN_PT in run_page(portuguese, retry)
    admin_page = reverse("admin:monitoring_recorderror_change", args=[errors["11222333000182"].pk])
    assert f"<code>CNPJ</code>: {BAD_CNPJ_EN}" in page(english, admin_page)
    assert f"<code>CNPJ</code>: {BAD_CNPJ_PT}" in page(portuguese, admin_page)


def test_a_notification_that_failed_reads_in_each_persons_language(reader, integration, settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False  # nothing is sent: the webhook's address is refused
    port = free_port()
    Integration.objects.filter(pk=integration.pk).update(
        alert_emails="", alert_webhook_url=f"http://127.0.0.1:{port}/hooks/s3cr3t"
    )
    alert, _opened = open_alert(integration, AlertKind.RUN_STUCK, stored.gettext("The integration was paused."))
    with translation.override("pt-br"):  # delivered while someone's Portuguese request runs
        deliver_due(timezone.now())

    event = AlertEvent.objects.get(alert=alert)
    english = (
        f"Webhook: The call to http://127.0.0.1:{port}/… was refused: "
        "127.0.0.1 is this machine (loopback), which the portal calls only when OUTBOUND_ALLOW_LOOPBACK is on."
    )
    assert event.webhook_sent_at is None and event.last_error == english
    assert stored_column(AlertEvent, "last_error", event.pk).startswith('{"stored_message":1,')

    change = reverse("admin:monitoring_alert_change", args=[alert.pk])
    portuguese_page, english_page = page(reader("pt-br", IT), change), page(reader("en", IT), change)
    assert f"Webhook: A chamada para http://127.0.0.1:{port}/… foi recusada: " in portuguese_page
    assert "127.0.0.1 é esta máquina (loopback), que o portal só chama quando OUTBOUND_ALLOW_LOOPBACK está ligado." in (
        portuguese_page
    )
    assert english in english_page and "s3cr3t" not in portuguese_page + english_page


# ---------------------------------------------------------------- what the reaper and the scheduler store


def test_an_abandoned_runs_reason_reads_in_each_persons_language(reader, integration):
    run = SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.SCHEDULE,
        status=RunStatus.RUNNING,
        queued_at=NOW - timedelta(hours=1),
        started_at=NOW - timedelta(hours=1),
        heartbeat_at=NOW - timedelta(hours=1),
    )
    reap(NOW, requeue=lambda again: again)
    run.refresh_from_db()
    assert run.status == RunStatus.ABANDONED
    assert run.error == "No heartbeat since 2026-03-10T14:00:00+00:00: the worker running it stopped."

    portuguese = reader("pt-br")
    expected = "Nenhum sinal de vida desde 2026-03-10T14:00:00+00:00: o processo que a executava parou."
    assert expected in run_page(portuguese, run)
    assert expected in page(portuguese, reverse("admin:monitoring_syncrun_change", args=[run.pk]))
    assert run.error.text in run_page(reader("en"), run)


def test_a_skipped_scheduled_run_translates_its_reason_and_the_reason_within(reader, integration):
    queue_run(integration, Trigger.MANUAL)  # already queued: the schedule's slot is skipped
    slot_due(integration, timezone.now())
    assert run_scheduled(integration.pk) == RunStatus.SKIPPED
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert skipped.error == "Scheduled run skipped: Sankhya ↔ Ploomes is already queued or running."

    text = run_page(reader("pt-br"), skipped)
    assert "Execução agendada pulada: Sankhya ↔ Ploomes já está na fila ou em execução." in text


def test_a_run_now_while_running_is_refused_in_the_persons_language(reader, integration):
    queue_run(integration, Trigger.MANUAL)
    client = reader("pt-br", IT)
    response = client.post(reverse("admin:sync_integration_run", args=[integration.pk]), follow=True)
    assert "Sankhya ↔ Ploomes já está na fila ou em execução." in html.unescape(response.content.decode())
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert skipped.error == "Sankhya ↔ Ploomes is already queued or running."


# ---------------------------------------------------------------- alerts


def watched(erp, crm, **fields):
    """An integration with alert recipients and no schedule (so that only the alerts under test open)."""
    fields = {"schedule_kind": ScheduleKind.NONE, "alert_emails": "ops@acme.example", **fields}
    return build_integration(erp, crm, **fields)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_an_alert_reads_in_each_persons_language_and_its_limit_too(reader, erp_connection, crm_connection, clock):
    integration = watched(erp_connection, crm_connection, activated_at=NOW - timedelta(days=2))
    evaluate_all(NOW)
    alert = Alert.objects.get(kind=AlertKind.NO_SUCCESS)
    english = (
        "No run of Sankhya ↔ Ploomes has succeeded since it was switched on at 2026-03-08 12:00 "
        "(America/Sao_Paulo); the limit is 24 hours."
    )
    assert alert.message == english

    alerts = reverse("admin:monitoring_alert_changelist")
    portuguese = (
        "Nenhuma execução de Sankhya ↔ Ploomes teve sucesso desde que foi ativada em 2026-03-08 12:00 "
        "(America/Sao_Paulo); o limite é 24 horas."
    )
    assert portuguese in page(reader("pt-br"), alerts)
    assert english in page(reader("en"), alerts)
    assert portuguese in page(reader("pt-br", IT), reverse("admin:monitoring_alert_change", args=[alert.pk]))
    assert integration.alerts.count() == 1


def test_an_alert_nests_the_newest_runs_reason_translated_and_its_outside_words_redacted(
    reader, erp_connection, crm_connection, clock
):
    integration = watched(erp_connection, crm_connection, activated_at=NOW - timedelta(hours=12))
    for hours in (3, 2):
        make_run(integration, RunStatus.FAILED, at=NOW - timedelta(hours=hours), error=f"login {ERP_PASSWORD} no")
    make_run(integration, RunStatus.RUNNING, at=NOW - timedelta(hours=1), heartbeat=NOW - timedelta(hours=1))
    reap(NOW - timedelta(minutes=30), requeue=lambda again: again)  # the third failure: abandoned
    evaluate_all(NOW)
    alert = Alert.objects.get(kind=AlertKind.CONSECUTIVE_FAILURES)
    assert alert.message.startswith("The last 3 runs of Sankhya ↔ Ploomes failed. The newest, run #")
    assert alert.message.endswith(": No heartbeat since 2026-03-10T14:00:00+00:00: the worker running it stopped.")

    text = page(reader("pt-br"), reverse("admin:monitoring_alert_changelist"))
    assert "As últimas 3 execuções de Sankhya ↔ Ploomes falharam. A mais recente, execução #" in text
    assert ": Nenhum sinal de vida desde 2026-03-10T14:00:00+00:00: o processo que a executava parou." in text


def test_secrets_in_a_stored_reason_stay_out_of_the_alert(erp_connection, crm_connection, clock):
    integration = watched(erp_connection, crm_connection, activated_at=NOW - timedelta(hours=12))
    refused = stored.gettext("%(table)s: %(error)s", table="Company", error=f"login {ERP_PASSWORD} refused")
    for hours in (3, 2, 1):
        make_run(integration, RunStatus.FAILED, at=NOW - timedelta(hours=hours), error=refused)
    evaluate_all(NOW)
    alert = Alert.objects.get(kind=AlertKind.CONSECUTIVE_FAILURES)
    assert alert.message.endswith(": Company: login [redacted] refused")
    assert ERP_PASSWORD not in stored_column(Alert, "message", alert.pk)
    assert ERP_PASSWORD not in mail.outbox[0].body


def test_notifications_have_no_reader_and_speak_the_portals_language(erp_connection, crm_connection, clock):
    watched(erp_connection, crm_connection, activated_at=NOW - timedelta(days=2))
    with translation.override("pt-br"):  # whatever language the evaluating process happens to have
        evaluate_all(NOW)
    body = mail.outbox[0].body
    assert "What happened: No run of Sankhya ↔ Ploomes has succeeded since it was switched on" in body
    assert "the limit is 24 hours." in body and "Nenhuma" not in body


def test_resolution_notes_are_stored_messages_too(reader, erp_connection, crm_connection, clock):
    integration = watched(erp_connection, crm_connection, activated_at=NOW - timedelta(days=2))
    evaluate_all(NOW)
    integration.active = False
    integration.save()
    evaluate_all(NOW)
    alert = Alert.objects.get()
    assert alert.events.last().note == "The integration was paused."
    text = page(reader("pt-br"), reverse("admin:monitoring_alert_change", args=[alert.pk]))
    assert "A integração foi pausada." in text


# ---------------------------------------------------------------- rows written before, and the export


def test_plain_text_rows_written_before_still_show_as_they_are(reader, integration):
    run = SyncRun.objects.create(
        integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.FAILED, finished_at=NOW
    )
    SyncRun.objects.filter(pk=run.pk).update(error="Company: The ERP answered 503")  # as rows were kept before
    RecordEvent.objects.create(
        run=run, table=integration.tables.get(), record_key="C9", action=RecordAction.SKIPPED, message="credit on hold"
    )
    run.refresh_from_db()
    assert type(run.error) is str and stored_column(SyncRun, "error", run.pk) == "Company: The ERP answered 503"

    text = run_page(reader("pt-br"), run)
    assert "Company: The ERP answered 503" in text and "credit on hold" in text


def test_the_history_workbook_speaks_the_exporting_persons_language(reader, update_only_run, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    integration, today = update_only_run.integration, date.today()
    form = {"start": today.isoformat(), "end": today.isoformat(), "tables": [integration.tables.get().pk]}
    url = reverse("admin:integration_history", args=[integration.pk])

    def messages_of(response) -> set:
        content = b"".join(response.streaming_content) if response.streaming else response.content
        sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True)["Company"]
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
        column = rows[0].index("Mensagem") if "Mensagem" in rows[0] else rows[0].index("Message")
        return {row[column] for row in rows[1:] if row[column]}

    portuguese = reader("pt-br", ONBOARDING)
    assert messages_of(portuguese.post(url, form)) == {SKIPPED_PT, NO_KEY_PT}
    assert messages_of(reader("en", IT).post(url, form)) == {SKIPPED_EN, NO_KEY_EN}

    # A large one, built by a worker, is written in the language of the person who asked.
    settings.EXPORT_INLINE_MAX_ROWS = 1
    response = portuguese.post(url, form)
    job = ExportJob.objects.get()
    assert response.status_code == 302 and job.language == "pt-br" and job.status == ExportStatus.DONE
    assert messages_of(portuguese.get(reverse("admin:export_download", args=[job.pk]))) == {SKIPPED_PT, NO_KEY_PT}


def test_an_export_failed_by_the_cleanup_says_so_in_the_persons_language(reader, integration, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    client = reader("pt-br", ONBOARDING)
    onboarding = Group.objects.get(name=ONBOARDING).user_set.get()
    job = ExportJob.objects.create(
        integration=integration,
        requested_by=onboarding,
        start_date=date.today(),
        end_date=date.today(),
        status=ExportStatus.RUNNING,
        started_at=NOW - timedelta(days=1),
    )
    delete_expired_exports(NOW)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "did not finish" in job.error
    text = page(client, reverse("admin:export", args=[job.pk]))
    assert "A exportação não terminou (o processo que a executava parou). Exporte novamente." in text


# ---------------------------------------------------------------- the cut marker of long bodies


def test_the_marker_of_a_cut_body_reads_in_each_persons_language(reader, integration):
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status=RunStatus.SUCCEEDED)
    body = truncate("x" * 30, 20)
    assert body == "x" * 20 + "… [10 more characters cut]"  # stored in one fixed form
    log = RequestLog.objects.create(run=run, method="GET", url="https://crm.example/Contacts", response_body=body)

    assert "x" * 20 + "… [mais 10 caracteres cortados]" in run_page(reader("pt-br"), run)
    assert "x" * 20 + "… [10 more characters cut]" in run_page(reader("en"), run)
    admin_page = page(reader("pt-br", IT), reverse("admin:monitoring_requestlog_change", args=[log.pk]))
    assert "[mais 10 caracteres cortados]" in admin_page


# ---------------------------------------------------------------- words that mean two things


def test_short_words_with_two_meanings_are_told_apart(reader, integration):
    earlier = timezone.now() - timedelta(minutes=5)
    SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.RETRY,
        status=RunStatus.FAILED,
        queued_at=earlier,
        started_at=earlier,
        finished_at=earlier + timedelta(seconds=5),
    )
    portuguese = reader("pt-br", IT)
    text = page(portuguese, reverse("admin:integration", args=[integration.pk]))
    assert '<th scope="col" class="number">Falhas</th>' in text  # a column of counts
    assert ">Falhou</span>" in text  # the run's status
    assert ">Reprocessamento" in text  # how the run was triggered
    assert "0 de 1 execução" in text  # 7-day success rate: 0 of 1 run

    RecordError.objects.create(table=integration.tables.get(), record_key="C1", payload={}, reason="x")
    text = page(portuguese, reverse("admin:integration_queue", args=[integration.pk]))
    assert 'data-action="retry">Reprocessar</button>' in text


def test_the_background_tasks_section_of_the_admin_is_translated(django_user_model, settings):
    label = apps.get_app_config("django_q").verbose_name
    with translation.override("en"):
        assert str(label) == "Background tasks"
    assert json.dumps(settings.Q_CLUSTER["label"]) == '"Background tasks"'  # the settings stay plain data

    admin = django_user_model.objects.create_superuser(username="root", password="pw")
    client = Client()
    client.force_login(admin)
    client.post(reverse("set_language"), {"language": "pt-br", "next": "/"})
    text = page(client, reverse("admin:app_list", args=["django_q"]))
    assert "Tarefas em segundo plano" in text and "Background tasks" not in text


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 dia", timedelta(days=1)),
        ("2 dias", timedelta(days=2)),
        ("3 horas", timedelta(hours=3)),
        ("1 hora", timedelta(hours=1)),
        ("30 minutos", timedelta(minutes=30)),
        ("30min", timedelta(minutes=30)),
        ("45 segundos", timedelta(seconds=45)),
        ("1 hora e 30 minutos", timedelta(hours=1, minutes=30)),
        ("1 Dia, 12 Horas", timedelta(days=1, hours=12)),
        ("1 hour and 30 minutes", timedelta(hours=1, minutes=30)),
        ("24h", timedelta(hours=24)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90 min", timedelta(minutes=90)),
    ],
)
def test_durations_are_read_in_english_and_portuguese(text, expected):
    assert parse_duration(text) == expected
    with translation.override("pt-br"):
        assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["1 hora e", "e 1 hora", "1 semana", "dia", "1 hora ou 30 minutos"])
def test_what_is_not_a_duration_is_refused_in_the_persons_language(text):
    with translation.override("pt-br"), pytest.raises(ValueError, match="não é uma duração; escreva como"):
        parse_duration(text)


def test_durations_are_shown_per_language():
    value = timedelta(hours=1, minutes=30)
    with translation.override("en"):
        assert (human_duration(value), short_duration(value)) == ("1 hour 30 minutes", "1h 30m")
    with translation.override("pt-br"):
        assert (human_duration(value), short_duration(value)) == ("1 hora e 30 minutos", "1h 30min")
        field = HumanDurationField()
        assert field.clean(field.prepare_value(value)) == value  # what the form shows reads back
        assert short_duration(timedelta(hours=36), largest="hours") == "36h"


def test_the_max_time_form_shows_and_reads_portuguese_units(reader, integration):
    client = reader("pt-br", IT)
    url = reverse("admin:integration", args=[integration.pk])
    response = client.post(url, {"action": "max_time", "max_time_without_success": "1 hora e 30 minutos"})
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.max_time_without_success == timedelta(hours=1, minutes=30)
    text = page(client, url)
    assert 'value="1h 30min"' in text and "1 hora e 30 minutos" in text


# ---------------------------------------------------------------- the stored message itself


def test_a_translation_that_does_not_fit_its_parameters_falls_back_to_the_stored_text(monkeypatch):
    message = stored.gettext("Unexpected error: %(error)s", error="disk full")
    monkeypatch.setattr(translation, "gettext", lambda msgid: "Erro: %(missing)s")
    assert str(message) == "Unexpected error: disk full"


def test_a_stored_message_survives_pickling_json_and_a_fixture_dump(update_only_run):
    reason = RecordError.objects.get().reason
    again = pickle.loads(pickle.dumps(reason))  # noqa: S301 (our own object)
    assert again == reason and again.data == reason.data
    assert stored.parse(reason.to_json()).data == reason.data
    with translation.override("pt-br"):
        assert str(again) == NO_KEY_PT

    dumped = io.StringIO()
    call_command("dumpdata", "monitoring.recorderror", stdout=dumped)
    assert stored.parse(json.loads(dumped.getvalue())[0]["fields"]["reason"]).data == reason.data
    assert stored.parse("plain text") == "plain text" and type(stored.parse("plain text")) is str
    assert stored.parse('{"stored_message": not json') == '{"stored_message": not json'


def test_sentences_put_together_translate_ours_and_keep_the_outside_words():
    message = stored.join(stored.gettext("The integration was paused."), "ERP says: maintenance")
    assert message == "The integration was paused. ERP says: maintenance"
    cut = message.with_outside_data(lambda text: text.upper())
    with translation.override("pt-br"):
        assert str(message) == "A integração foi pausada. ERP says: maintenance"
        assert str(cut) == "A integração foi pausada. ERP SAYS: MAINTENANCE"
