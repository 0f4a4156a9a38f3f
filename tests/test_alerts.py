"""Alerts: evaluation, lifecycle with one notification per change, failures recorded and retried, webhooks."""

import json
import smtplib
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.alerts import acknowledge, evaluate_all, open_alert, resolve_alert
from monitoring.choices import AlertKind, AlertStatus, HeldDeleteStatus, NotificationStatus, RunStatus
from monitoring.models import Alert, AlertEvent, HeldDelete, TableRun
from monitoring.notifications import claim, compose, deliver_due, due
from sync.choices import ScheduleKind
from sync.models import Integration, SyncTable
from tests.builders import build_integration, make_run
from tests.conftest import ERP_PASSWORD
from tests.processes import free_port, wait_until

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo, the portal's default zone


class FlakyBackend(BaseEmailBackend):
    """A mail server that refuses messages for broken@… while ``refusing`` is set; the rest reach the outbox."""

    refusing = True

    def send_messages(self, messages):
        for message in messages:
            if FlakyBackend.refusing and any(to.startswith("broken@") for to in message.to):
                raise smtplib.SMTPRecipientsRefused({"broken@acme.example": (550, b"mailbox unavailable")})
        mail.outbox.extend(messages)
        return len(messages)


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = "tests.test_alerts.FlakyBackend"
    FlakyBackend.refusing = True
    yield FlakyBackend
    FlakyBackend.refusing = True


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_integration(erp, crm, name="Sankhya ↔ Ploomes", **fields) -> Integration:
    defaults = {"schedule_kind": ScheduleKind.NONE, "alert_emails": "ops@acme.example, it@acme.example"}
    fields = {"activated_at": NOW - timedelta(days=30), **defaults, **fields}
    return build_integration(erp, crm, name=name, table="Company", **fields)


@pytest.fixture
def pair(erp_connection, crm_connection):
    return erp_connection, crm_connection


def states(alert) -> list[str]:
    return list(alert.events.order_by("pk").values_list("state", flat=True))


# ---------------------------------------------------------------- the lifecycle


def test_open_acknowledge_resolve_sends_exactly_one_notification_per_change(pair, clock, django_user_model):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=25))

    summary = evaluate_all()
    alert = Alert.objects.get()
    assert (alert.kind, alert.status, alert.table) == (AlertKind.NO_SUCCESS, AlertStatus.OPEN, None)
    assert summary.opened == [alert.pk] and summary.notifications_sent == 1
    assert len(mail.outbox) == 1
    opened = mail.outbox[0]
    assert opened.to == ["ops@acme.example", "it@acme.example"]
    assert opened.subject == ("[Integration Portal] Alert opened: Sankhya ↔ Ploomes — No success within the max time")
    assert "No run of Sankhya ↔ Ploomes has succeeded since 2026-03-09 11:01 (America/Sao_Paulo)" in opened.body
    assert "the limit is 24 hours" in opened.body
    assert "Opened: 2026-03-10 12:00 (America/Sao_Paulo)" in opened.body

    clock.shift(timedelta(minutes=1))
    evaluate_all()
    assert len(mail.outbox) == 1  # still open: nothing new

    user = django_user_model.objects.create_user(username="maria", first_name="Maria", last_name="Silva")
    clock.shift(timedelta(minutes=1))
    assert acknowledge(alert, user, "Looking into the ERP's web service", now=NOW + timedelta(minutes=2))
    assert not acknowledge(alert, user, "twice", now=NOW + timedelta(minutes=2))
    evaluate_all()
    assert len(mail.outbox) == 2
    acknowledged = mail.outbox[1]
    assert "Alert acknowledged" in acknowledged.subject
    assert "Acknowledged: 2026-03-10 12:02 (America/Sao_Paulo) by Maria Silva" in acknowledged.body
    assert "Note: Looking into the ERP's web service" in acknowledged.body

    clock.shift(timedelta(minutes=10))
    make_run(integration, RunStatus.SUCCEEDED, at=NOW + timedelta(minutes=5))
    summary = evaluate_all()
    assert summary.resolved == [alert.pk]
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_at == NOW + timedelta(minutes=12)
    assert len(mail.outbox) == 3
    resolved = mail.outbox[2]
    assert "Alert resolved" in resolved.subject
    assert "A run succeeded at 2026-03-10 12:06 (America/Sao_Paulo)." in resolved.body

    clock.shift(timedelta(minutes=1))
    evaluate_all()
    evaluate_all()
    assert len(mail.outbox) == 3
    assert states(alert) == [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED]
    assert set(alert.events.values_list("notification", flat=True)) == {NotificationStatus.SENT}


def test_evaluating_twice_in_a_row_changes_and_sends_nothing_new(pair, clock):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=1))
    for minutes in (30, 20, 10):
        make_run(integration, RunStatus.FAILED, at=NOW - timedelta(minutes=minutes), error="ERP timed out")
    first = evaluate_all()
    assert len(first.opened) == 1 and len(mail.outbox) == 1
    second = evaluate_all()
    assert (second.opened, second.resolved, second.notifications_sent) == ([], [], 0)
    assert len(mail.outbox) == 1 and AlertEvent.objects.count() == 1


def _failing_integrations(pair, count, start):
    for number in range(start, start + count):
        integration = make_integration(*pair, name=f"Integration {number}")
        make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=30))
        for minutes in (30, 20, 10):
            make_run(integration, RunStatus.FAILED, at=NOW - timedelta(minutes=minutes), error="ERP timed out")


def test_a_steady_evaluation_costs_the_same_queries_for_2_and_10_integrations(pair, clock):
    _failing_integrations(pair, 2, 0)
    evaluate_all()
    with CaptureQueriesContext(connection) as two:
        evaluate_all()
    _failing_integrations(pair, 8, 2)
    evaluate_all()
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() == 20  # no success + 3 failures, each
    with CaptureQueriesContext(connection) as ten:
        summary = evaluate_all()
    assert summary.integrations == 10 and (summary.opened, summary.resolved) == ([], [])
    assert len(two) == len(ten) <= 6


def test_an_alert_opens_again_after_it_was_resolved(pair, clock):
    integration = make_integration(*pair)
    first, opened = open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    assert opened
    assert open_alert(integration, AlertKind.RUN_STUCK, "stuck again", now=NOW) == (first, False)
    assert resolve_alert(integration, AlertKind.RUN_STUCK, now=NOW) == first
    assert resolve_alert(integration, AlertKind.RUN_STUCK, now=NOW) is None
    second, opened = open_alert(integration, AlertKind.RUN_STUCK, "stuck once more", now=NOW)
    assert opened and second.pk != first.pk
    assert states(first) == [AlertStatus.OPEN, AlertStatus.RESOLVED] and states(second) == [AlertStatus.OPEN]


# ---------------------------------------------------------------- the kinds


def test_consecutive_failures_open_at_the_threshold_and_a_completed_run_resolves(pair, clock, settings):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=3))
    make_run(integration, RunStatus.FAILED, at=NOW - timedelta(hours=2), error="first")
    make_run(integration, RunStatus.SKIPPED, at=NOW - timedelta(minutes=90))  # neither success nor failure
    make_run(integration, RunStatus.ABANDONED, at=NOW - timedelta(hours=1), error="worker stopped")
    evaluate_all()
    assert not Alert.objects.exists()  # 2 < 3

    settings.ALERT_CONSECUTIVE_FAILURES = 2  # read at call time
    evaluate_all()
    alert = Alert.objects.get(kind=AlertKind.CONSECUTIVE_FAILURES)
    assert alert.message.startswith("The last 2 runs of Sankhya ↔ Ploomes failed.")
    assert "worker stopped" in alert.message

    make_run(integration, RunStatus.PARTIAL, at=NOW - timedelta(minutes=5))  # it completed: the streak ends
    evaluate_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_run_without_heartbeat_is_stuck_until_it_beats_again(pair, clock, settings):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=1))
    run = make_run(
        integration, RunStatus.RUNNING, at=NOW - timedelta(minutes=30), heartbeat=NOW - timedelta(seconds=90)
    )
    evaluate_all()
    assert not Alert.objects.exists()

    # Its own thread beats every 15 s: 150 s without a beat > RUN_HEARTBEAT_STALE_AFTER (120 s), its worker died.
    clock.shift(timedelta(minutes=1))
    evaluate_all()
    alert = Alert.objects.get()
    assert alert.kind == AlertKind.RUN_STUCK
    assert alert.message == (
        f"Run #{run.pk} of Sankhya ↔ Ploomes has not reported progress since 2026-03-10 11:58 (America/Sao_Paulo)."
    )

    run.beat(now=NOW + timedelta(minutes=1))
    clock.shift(timedelta(seconds=30))
    evaluate_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.events.last().note == "The run finished or reported progress again."

    settings.RUN_HEARTBEAT_STALE_AFTER = 20
    clock.shift(timedelta(seconds=30))
    evaluate_all()
    assert Alert.objects.filter(kind=AlertKind.RUN_STUCK, status=AlertStatus.OPEN).count() == 1


def test_a_queued_run_that_never_starts_is_stuck(pair, clock):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=1))
    run = make_run(integration, RunStatus.QUEUED, at=NOW - timedelta(minutes=11))
    evaluate_all()
    assert Alert.objects.get().message == (
        f"Run #{run.pk} of Sankhya ↔ Ploomes was queued at 2026-03-10 11:49 (America/Sao_Paulo) and has not started."
    )


def test_deletes_held_opened_by_the_engine_resolve_when_nothing_waits(pair, clock):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=1))
    table = SyncTable.objects.create(
        integration=integration, name="Product", source_object="p", target_object="/p", record_key="Code"
    )
    held = [HeldDelete.objects.create(table=table, source_key=f"P{n}", target_key=str(n)) for n in range(3)]
    # As the engine does it: no ``now``, a table.
    alert, opened = open_alert(integration, AlertKind.DELETES_HELD, "3 deletes in Product wait.", table=table)
    assert opened
    evaluate_all()
    assert len(mail.outbox) == 1 and "Table: Product" in mail.outbox[0].body

    HeldDelete.objects.filter(pk__in=[h.pk for h in held[:2]]).update(status=HeldDeleteStatus.APPROVED)
    evaluate_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN  # one still waits

    HeldDelete.objects.filter(pk=held[2].pk).update(status=HeldDeleteStatus.REJECTED)
    evaluate_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert "No delete waits for approval any more." in mail.outbox[-1].body
    assert len(mail.outbox) == 2


def test_a_table_with_its_own_max_time_gets_its_own_alert(pair, clock):
    integration = make_integration(*pair)
    invoice = SyncTable.objects.create(
        integration=integration,
        name="Invoice",
        source_object="i",
        target_object="/i",
        record_key="No",
        max_time_without_success=timedelta(hours=2),
    )
    old = make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=3))
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(minutes=30))
    TableRun.objects.create(
        run=old, table=invoice, started_at=old.started_at, finished_at=old.finished_at, status=RunStatus.SUCCEEDED
    )
    evaluate_all()
    alert = Alert.objects.get()
    assert (alert.kind, alert.table) == (AlertKind.NO_SUCCESS, invoice)
    assert alert.message == (
        "No run of Sankhya ↔ Ploomes, table Invoice has succeeded since 2026-03-10 09:01 (America/Sao_Paulo); "
        "the limit is 2 hours."
    )
    # Without its own max time the table follows the integration's (which is fine): resolved.
    SyncTable.objects.filter(pk=invoice.pk).update(max_time_without_success=None)
    evaluate_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_paused_integration_opens_nothing_and_its_alerts_resolve(pair, clock):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(days=3))
    evaluate_all()
    alert = Alert.objects.get()

    integration.active = False
    integration.save()
    for minutes in (30, 20, 10):
        make_run(integration, RunStatus.FAILED, at=NOW - timedelta(minutes=minutes))
    evaluate_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.events.last().note == "The integration was paused."
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() == 0
    assert len(mail.outbox) == 2

    # Switched on again: a fresh window from now, but the failure streak is a fact.
    integration.active = True
    integration.save()
    evaluate_all()
    assert list(Alert.objects.filter(status=AlertStatus.OPEN).values_list("kind", flat=True)) == [
        AlertKind.CONSECUTIVE_FAILURES
    ]


# ---------------------------------------------------------------- notifications that fail


def test_a_failing_email_is_recorded_retried_later_and_does_not_stop_the_others(pair, clock, flaky_mail):
    broken = make_integration(*pair, name="Broken mailbox", alert_emails="broken@acme.example")
    fine = make_integration(*pair, name="Fine mailbox", alert_emails="ops@acme.example")
    for integration in (broken, fine):
        make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(days=2))

    summary = evaluate_all()
    assert len(summary.opened) == 2
    assert (summary.notifications_sent, summary.notifications_failed) == (1, 1)
    assert [message.to for message in mail.outbox] == [["ops@acme.example"]]
    failed = AlertEvent.objects.get(alert__integration=broken)
    assert failed.notification == NotificationStatus.PENDING
    assert failed.attempts == 1 and failed.email_sent_at is None
    assert "SMTPRecipientsRefused" in failed.last_error and "mailbox unavailable" in failed.last_error
    assert failed.next_attempt_at == NOW + timedelta(minutes=1)

    clock.shift(timedelta(seconds=30))
    assert evaluate_all().notifications_failed == 0  # not due yet
    clock.shift(timedelta(seconds=30))
    assert evaluate_all().notifications_failed == 1  # second attempt, still refused
    failed.refresh_from_db()
    assert failed.attempts == 2 and failed.next_attempt_at == NOW + timedelta(minutes=3)

    flaky_mail.refusing = False
    clock.shift(timedelta(minutes=2))
    assert evaluate_all().notifications_sent == 1
    failed.refresh_from_db()
    assert failed.notification == NotificationStatus.SENT and failed.attempts == 3
    assert failed.notified_at == NOW + timedelta(minutes=3)
    assert [message.to for message in mail.outbox] == [["ops@acme.example"], ["broken@acme.example"]]
    clock.shift(timedelta(hours=2))
    evaluate_all()
    assert len(mail.outbox) == 2


def test_it_gives_up_after_the_max_attempts(pair, clock, flaky_mail, settings):
    settings.ALERT_NOTIFICATION_MAX_ATTEMPTS = 2
    integration = make_integration(*pair, alert_emails="broken@acme.example")
    open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    deliver_due(NOW)
    deliver_due(NOW + timedelta(minutes=1))
    event = AlertEvent.objects.get()
    assert (event.notification, event.attempts, event.next_attempt_at) == (NotificationStatus.FAILED, 2, None)
    assert deliver_due(NOW + timedelta(days=1)).failed == 0


def test_a_later_change_waits_for_the_earlier_notification_of_its_alert(pair, clock, flaky_mail):
    integration = make_integration(*pair, alert_emails="broken@acme.example")
    open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    deliver_due(NOW)  # the "opened" mail fails
    resolve_alert(integration, AlertKind.RUN_STUCK, now=NOW)
    assert [event.state for event in due(NOW)] == []  # "resolved" waits for "opened"
    flaky_mail.refusing = False
    deliver_due(NOW + timedelta(minutes=1))
    deliver_due(NOW + timedelta(minutes=1))
    assert [message.subject.split(":")[0] for message in mail.outbox] == [
        "[Integration Portal] Alert opened",
        "[Integration Portal] Alert resolved",
    ]


def test_a_notification_is_claimed_once(pair, clock):
    integration = make_integration(*pair)
    open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    event = AlertEvent.objects.get()
    other_copy = AlertEvent.objects.get()
    assert claim(event, NOW)
    assert not claim(other_copy, NOW)  # a second evaluation running at the same time
    assert list(due(NOW)) == []


def test_nobody_to_notify_is_recorded(pair, clock):
    integration = make_integration(*pair, alert_emails="")
    open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    result = deliver_due(NOW)
    assert (result.sent, result.failed, result.nobody) == (0, 0, 1)
    assert AlertEvent.objects.get().notification == NotificationStatus.NOBODY
    assert mail.outbox == []


def test_notifications_never_carry_a_connection_secret(pair, clock):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=1))
    for minutes in (30, 20, 10):
        make_run(
            integration, RunStatus.FAILED, at=NOW - timedelta(minutes=minutes), error=f"login {ERP_PASSWORD} refused"
        )
    evaluate_all()
    body = mail.outbox[0].body
    assert "login [redacted] refused" in body
    assert ERP_PASSWORD not in body and ERP_PASSWORD not in Alert.objects.get().message


# ---------------------------------------------------------------- the webhook, on a real local server


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        status = self.server.answers.pop(0) if self.server.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
    server.received, server.answers = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, timeout=5)
    server.url = f"http://127.0.0.1:{port}/services/T0001/B0002/s3cr3tT0k3n"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_webhook_receives_one_post_with_slack_text_per_change(pair, webhook_server, clock):
    integration = make_integration(*pair, alert_webhook_url=webhook_server.url)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=30))
    evaluate_all()
    evaluate_all()
    assert len(webhook_server.received) == 1
    path, content_type, payload = webhook_server.received[0]
    assert path == "/services/T0001/B0002/s3cr3tT0k3n" and content_type == "application/json"
    assert set(payload) == {"text"}
    assert payload["text"].startswith("*Alert opened* · Sankhya ↔ Ploomes · No success within the max time\n")
    assert "has succeeded since 2026-03-09 06:01 (America/Sao_Paulo)" in payload["text"]

    make_run(integration, RunStatus.SUCCEEDED, at=NOW)
    clock.shift(timedelta(minutes=2))
    evaluate_all()
    assert len(webhook_server.received) == 2
    assert webhook_server.received[1][2]["text"].startswith("*Alert resolved* · Sankhya ↔ Ploomes")
    assert len(mail.outbox) == 2  # and one email per change, too


def test_a_failing_webhook_is_retried_without_repeating_the_email_or_showing_its_address(pair, webhook_server, clock):
    integration = make_integration(*pair, alert_webhook_url=webhook_server.url)
    webhook_server.answers = [500]
    open_alert(integration, AlertKind.RUN_STUCK, "Run <#1> & co. is stuck", now=NOW)
    assert deliver_due(NOW).failed == 1
    event = AlertEvent.objects.get()
    assert event.email_sent_at == NOW and event.webhook_sent_at is None
    assert "Webhook: HTTPError: 500 Server Error" in event.last_error
    assert "s3cr3tT0k3n" not in event.last_error and "127.0.0.1" in event.last_error

    assert deliver_due(NOW + timedelta(minutes=1)).sent == 1
    event.refresh_from_db()
    assert event.notification == NotificationStatus.SENT and event.webhook_sent_at == NOW + timedelta(minutes=1)
    assert len(mail.outbox) == 1  # the email went out once
    assert len(webhook_server.received) == 2
    assert "Run &lt;#1&gt; &amp; co. is stuck" in webhook_server.received[1][2]["text"]


def test_an_unreachable_webhook_is_recorded_without_its_address(pair, clock):
    url = f"http://127.0.0.1:{free_port()}/hooks/very-secret-path"
    integration = make_integration(*pair, alert_emails="", alert_webhook_url=url)
    open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    assert deliver_due(NOW).failed == 1
    error = AlertEvent.objects.get().last_error
    assert error.startswith("Webhook: ConnectionError") and "very-secret-path" not in error


# ---------------------------------------------------------------- the command


def test_the_evaluate_alerts_command_evaluates_once_and_reports(pair, clock):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(days=2))
    out = StringIO()
    call_command("evaluate_alerts", stdout=out)
    assert out.getvalue().strip() == "1 integrations: 1 alerts opened, 0 resolved; 1 notifications sent, 0 failed"
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1


def test_the_acknowledging_user_is_kept(pair, clock):
    integration = make_integration(*pair)
    alert, _ = open_alert(integration, AlertKind.RUN_STUCK, "stuck", now=NOW)
    user = get_user_model().objects.create_user(username="it")
    assert acknowledge(alert, user, "on it", now=NOW)
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledgement_note) == (
        AlertStatus.ACKNOWLEDGED,
        user,
        "on it",
    )
    event = alert.events.last()
    assert (event.state, event.by, event.note) == (AlertStatus.ACKNOWLEDGED, user, "on it")
    resolve_alert(integration, AlertKind.RUN_STUCK, now=NOW)
    assert not acknowledge(alert, user, "too late", now=NOW)


def test_the_notification_texts_are_plain_text_in_the_portals_language(pair, clock, settings):
    """The words come from templates/notifications: nothing HTML-escaped in the email, mrkdwn escaped in the webhook."""
    settings.LANGUAGE_CODE = "pt-br"
    integration = make_integration(*pair, name="ERP <A> & CRM")
    alert, _ = open_alert(integration, AlertKind.RUN_STUCK, "Run <#1> & co. is stuck", now=NOW)
    acknowledge(alert, None, "", now=NOW + timedelta(minutes=2))
    event = alert.events.get(state=AlertStatus.ACKNOWLEDGED)

    message = compose(event)

    assert message.subject == "[Portal de Integrações] Alerta reconhecido: ERP <A> & CRM — Execução travada"
    assert message.body.splitlines() == [
        "Alerta reconhecido: Execução travada",
        "",
        "Integração: ERP <A> & CRM (Sankhya → Ploomes)",
        "O que aconteceu: Run <#1> & co. is stuck",
        "Aberto em: 2026-03-10 12:00 (America/Sao_Paulo)",
        "Reconhecido em: 2026-03-10 12:02 (America/Sao_Paulo) por alguém",
        "",
        "Alguém está verificando. O alerta se resolve sozinho quando houver recuperação.",
        "",
        "Você recebe esta mensagem porque seu endereço está entre os destinatários de alertas de ERP <A> & CRM.",
    ]
    assert message.text == (
        "*Alerta reconhecido* · ERP &lt;A&gt; &amp; CRM · Execução travada\n"
        "Run &lt;#1&gt; &amp; co. is stuck\n"
        "2026-03-10 12:02 (America/Sao_Paulo)"
    )
