"""Logins are throttled and logged, passwords are strong, sessions end when idle and after a day's work."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-Battery-9"
ADDRESS = "203.0.113.7"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def supervisor(django_user_model):
    user = django_user_model.objects.create_user(username="ana", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=SUPERVISOR))
    return user


def log_in(client, username, password, address=ADDRESS, follow=False, **extra):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": extra.pop("next", reverse("admin:index"))},
        REMOTE_ADDR=address,
        follow=follow,
        **extra,
    )


def test_the_twentieth_wrong_password_locks_the_account_even_for_the_right_one(client, frozen, supervisor, caplog):
    caplog.set_level(logging.INFO, logger="portal.security")
    answers = [log_in(client, "ana", f"wrong-{n}").status_code for n in range(20)]
    assert answers[:9] == [200] * 9  # the login page again, with its error
    assert set(answers[10:]) == {429}
    locked = log_in(client, "ana", PASSWORD)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins for this account or from this address" in page and "15 minutes" in page
    assert "_auth_user_id" not in client.session

    # Logged: the failures and the lockout, with the user name and the address; never a password.
    failures = [record.getMessage() for record in caplog.records if "login failed" in record.getMessage()]
    assert len(failures) >= 10 and f"'ana' from {ADDRESS}" in failures[0]
    assert any("locked out for 'ana'" in record.getMessage() for record in caplog.records)
    assert "wrong-3" not in caplog.text and PASSWORD not in caplog.text

    frozen.shift(timedelta(minutes=16))  # the lockout ends
    response = log_in(client, "ana", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_one_address_trying_many_names_is_locked_out_too(client, frozen, supervisor):
    for n in range(10):
        log_in(client, f"guess-{n}", "wrong")
    assert log_in(client, "ana", PASSWORD).status_code == 429
    # Only the address is locked (the account had no failure of its own): from another one, Ana logs in.
    assert log_in(client, "ana", PASSWORD, address="198.51.100.20").status_code == 302


def test_it_unlocks_an_account(client, frozen, supervisor, login_as):
    for n in range(10):
        log_in(client, "ana", f"wrong-{n}")
    assert log_in(client, "ana", PASSWORD).status_code == 429
    it = login_as(IT)
    attempts = AccessAttempt.objects.filter(username="ana")
    assert it.get(reverse("admin:axes_accessattempt_changelist")).status_code == 200
    response = it.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk for attempt in attempts], "post": "yes"},
    )
    assert response.status_code == 302 and not AccessAttempt.objects.filter(username="ana").exists()
    it.logout()
    assert log_in(client, "ana", PASSWORD).status_code == 302


def test_the_command_line_unlocks_too(client, frozen, supervisor):
    for n in range(10):
        log_in(client, "ana", f"wrong-{n}")
    call_command("axes_reset_username", "ana")
    assert log_in(client, "ana", PASSWORD).status_code == 302


def test_a_success_forgets_the_earlier_failures(client, frozen, supervisor):
    for n in range(9):
        log_in(client, "ana", f"wrong-{n}")
    assert log_in(client, "ana", PASSWORD).status_code == 302
    client.logout()
    for n in range(9):
        log_in(client, "ana", f"again-{n}")
    assert log_in(client, "ana", PASSWORD).status_code == 302


def test_a_refused_page_is_logged_with_the_user_and_the_address(login_as, caplog):
    caplog.set_level(logging.INFO, logger="portal.security")
    client = login_as(SUPERVISOR)
    response = client.post(reverse("admin:sync_integration_add"), {}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 403
    assert f"forbidden: POST {reverse('admin:sync_integration_add')} for supervisor from {ADDRESS}" in caplog.text


def test_behind_the_proxy_the_address_is_the_one_it_forwarded(client, frozen, supervisor, settings):
    settings.BEHIND_TLS_PROXY = True
    for n in range(10):
        log_in(client, f"guess-{n}", "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ADDRESS}")
    # Locked: the browser's address, not the proxy's, so another browser behind the same proxy logs in.
    assert log_in(client, "ana", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR=ADDRESS).status_code == 429
    other = log_in(client, "ana", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert other.status_code == 302


# ---------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Short-pw-9!", "at least 12 characters"),
        ("password1234", "too common"),
        ("Portal-Access-2026", "“portal”"),
        ("P0rtal-Access-2026", "“portal”"),
        ("my-Sankhya-key-77", "“sankhya”"),
        ("Ploomes!Ploomes!", "“ploomes”"),
        ("448291736055", "entirely numeric"),
    ],
)
def test_weak_or_guessable_passwords_are_refused(password, why):
    with pytest.raises(ValidationError) as refused:
        validate_password(password)
    assert why in " ".join(refused.value.messages)


def test_a_password_like_the_user_name_is_refused(django_user_model):
    user = django_user_model(username="mariana.souza", email="mariana.souza@acme.example")
    with pytest.raises(ValidationError, match="too similar"):
        validate_password("mariana.souza1", user)


def test_a_strong_password_passes():
    validate_password("Correct-Horse-Battery-9")


# ---------------------------------------------------------------- sessions


def test_logging_in_gives_a_new_session_key(client, frozen, supervisor):
    client.get(reverse("admin:login"))
    client.cookies["sessionid"] = "x" * 32
    session = client.session
    session["before"] = "anonymous"
    session.save()
    before = session.session_key
    assert log_in(client, "ana", PASSWORD).status_code == 302
    assert client.session.session_key != before


def test_a_refused_next_lands_on_the_dashboard_not_a_404(client, frozen, supervisor):
    response = log_in(client, "ana", PASSWORD, next="https://evil.example/steal", follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("admin:index")


def test_an_idle_session_ends_after_thirty_minutes(client, frozen, supervisor):
    log_in(client, "ana", PASSWORD)
    dashboard = reverse("admin:index")
    frozen.shift(timedelta(minutes=29))
    assert client.get(dashboard).status_code == 200  # a person's request: the idle clock starts again
    frozen.shift(timedelta(minutes=29))
    assert client.get(dashboard).status_code == 200
    frozen.shift(timedelta(minutes=31))
    response = client.get(dashboard)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in client.session


def test_the_dashboards_own_refresh_does_not_keep_a_session_alive(client, frozen, supervisor):
    log_in(client, "ana", PASSWORD)
    rows = reverse("admin:dashboard_rows")
    for _ in range(10):  # the page refreshes itself for 30 minutes, nobody at the screen
        frozen.shift(timedelta(minutes=3, seconds=10))
        refresh = client.get(rows, HTTP_X_DASHBOARD_ROWS="")
    assert refresh.status_code == 401  # its script then says the session ended
    assert client.get(reverse("admin:index")).status_code == 302


def test_a_session_ends_twelve_hours_after_its_login_however_busy(client, frozen, supervisor):
    log_in(client, "ana", PASSWORD)
    for _ in range(12 * 4 + 1):
        frozen.shift(timedelta(minutes=15))
        response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert log_in(client, "ana", PASSWORD).status_code == 302  # and a new login starts a new day
