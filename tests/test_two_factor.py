"""Two-factor logins for IT (TWO_FACTOR_FOR_IT): a password and an authenticator's code; others a password."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import IT, SUPERVISOR

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture(autouse=True)
def on(settings):
    settings.TWO_FACTOR_FOR_IT = True


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def account(django_user_model, username, role):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def log_in(client, username, otp_token=""):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": PASSWORD, "otp_token": otp_token, "next": reverse("admin:index")},
    )


def test_an_it_account_without_an_authenticator_sets_one_up_before_any_page(client, django_user_model, frozen):
    account(django_user_model, "ivo", IT)
    response = log_in(client, "ivo")
    assert response.status_code == 302 and response["Location"] == reverse("two_factor_setup")
    # No admin page opens until it is done.
    assert client.get(reverse("admin:index")).status_code == 302
    assert client.get(reverse("admin:sync_connection_changelist")).status_code == 302

    page = client.get(reverse("two_factor_setup")).content.decode()
    device = TOTPDevice.objects.get(user__username="ivo", confirmed=False)
    assert "otpauth://totp/" in page and 'data-field="key"' in page
    refused = client.post(reverse("two_factor_setup"), {"otp_token": "000000"}).content.decode()
    assert "That code is not right" in refused and not TOTPDevice.objects.filter(confirmed=True).exists()

    frozen.shift(timedelta(seconds=31))  # the next code: django-otp accepts a code once
    done = client.post(reverse("two_factor_setup"), {"otp_token": code(device)})
    assert done.status_code == 302 and done["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_an_it_account_with_an_authenticator_needs_its_code(client, django_user_model, frozen):
    user = account(django_user_model, "ivo", IT)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    missing = log_in(client, "ivo")
    assert missing.status_code == 200 and "Enter the 6-digit code" in missing.content.decode()
    wrong = log_in(client, "ivo", "123456" if code(device) != "123456" else "654321")
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert "_auth_user_id" not in client.session
    frozen.shift(timedelta(seconds=31))  # django-otp's throttle after a wrong code
    right = log_in(client, "ivo", code(device))
    assert right.status_code == 302 and right["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_session_without_the_code_opens_no_page(client, django_user_model):
    user = account(django_user_model, "ivo", IT)
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client.force_login(user)  # a password alone, as a stolen session cookie of a half-done login would be
    assert client.get(reverse("admin:index")).status_code == 302


def test_other_roles_log_in_with_their_password(client, django_user_model):
    account(django_user_model, "ana", SUPERVISOR)
    response = log_in(client, "ana")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_off_by_default_the_login_has_no_code_field(client, django_user_model, settings):
    settings.TWO_FACTOR_FOR_IT = False
    account(django_user_model, "ivo", IT)
    assert 'name="otp_token"' not in client.get(reverse("admin:login")).content.decode()
    assert log_in(client, "ivo").status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
