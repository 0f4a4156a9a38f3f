"""Who is knocking: the client's address, the security log, and the limits of a session.

- :func:`client_address`: the browser's address, from the proxy's ``X-Forwarded-For`` when the
  portal runs behind one (``BEHIND_TLS_PROXY``), else the connection's. django-axes locks out by it.
- The ``portal.security`` logger records every failed login, lockout and refused page (403) with the
  user name and the address, never a password.
- :class:`PermissionsPolicyMiddleware` switches off the browser features the portal never uses.
- :class:`SessionLimitsMiddleware`: a session ends after ``SESSION_IDLE_MINUTES`` without a person's
  request (the dashboard's automatic refresh does not count as one) and ``SESSION_MAX_HOURS`` after its
  login, whatever happens in between.
"""

import logging
import time

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import render

from core.durations import human_duration

log = logging.getLogger("portal.security")

LOGIN_AT = "portal_login_at"
ACTIVE_AT = "portal_active_at"
# Requests a page makes by itself (the dashboard's refresh): they do not keep an idle session alive.
AUTOMATIC_HEADER = "HTTP_X_DASHBOARD_ROWS"
ACTIVITY_GRAIN = 60  # seconds: how finely a person's last request is remembered


def client_address(request) -> str:
    """The browser's address: the last one the proxy appended to ``X-Forwarded-For`` when behind one."""
    if getattr(settings, "BEHIND_TLS_PROXY", False):
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded and forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def _user_name(request) -> str:
    user = getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else "(anonymous)"


def login_failed(sender, credentials, request=None, **kwargs):
    """``user_login_failed``: the name that was tried and where from (Django has already hidden the password)."""
    address = client_address(request) if request is not None else "?"
    log.warning("login failed for %r from %s", credentials.get("username", ""), address)


def locked_out(sender, request, username, ip_address, **kwargs):
    """django-axes' ``user_locked_out``."""
    log.warning("login locked out for %r from %s after repeated failures", username, ip_address)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out attempt: the login page saying why and for how long (HTTP 429)."""
    context = {**admin.site.each_context(request), "wait": human_duration(settings.AXES_COOLOFF_TIME)}
    return render(request, "registration/locked_out.html", context, status=429)


def logged_in(sender, request, user, **kwargs):
    """``user_logged_in``: the session starts its clocks (Django has already given it a new key)."""
    now = time.time()
    request.session[LOGIN_AT] = now
    request.session[ACTIVE_AT] = now


class PermissionsPolicyMiddleware:
    """Sends ``settings.PERMISSIONS_POLICY``: the browser features no page of the portal uses stay off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


class ForbiddenLogMiddleware:
    """Every 403 the portal answers goes to the security log with the user, the address and the path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            log.warning(
                "forbidden: %s %s for %s from %s",
                request.method,
                request.path,
                _user_name(request),
                client_address(request),
            )
        return response


class SessionLimitsMiddleware:
    """Ends a session idle for ``SESSION_IDLE_MINUTES`` or older than ``SESSION_MAX_HOURS`` (after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            expired = self._expired(request, time.time())
            if expired:
                log.info("session of %s ended: %s", user.get_username(), expired)
                logout(request)
                if AUTOMATIC_HEADER in request.META:
                    return HttpResponse(status=401)  # the page's script reloads into the login page
                return redirect_to_login(request.get_full_path())
        return self.get_response(request)

    @staticmethod
    def _expired(request, now: float) -> str:
        session = request.session
        login_at = session.setdefault(LOGIN_AT, now)  # a session from before these limits starts its clocks now
        active_at = session.setdefault(ACTIVE_AT, now)
        if now - login_at > settings.SESSION_MAX_HOURS * 3600:
            return "absolute lifetime"
        if now - active_at > settings.SESSION_IDLE_MINUTES * 60:
            return "idle"
        if AUTOMATIC_HEADER not in request.META and now - active_at >= ACTIVITY_GRAIN:
            session[ACTIVE_AT] = now  # written once a minute at most: not a session write per request
        return ""
