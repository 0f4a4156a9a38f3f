"""The portal's language, chosen per person and kept across sessions and browsers.

Django's ``LocaleMiddleware`` picks the language of a request from the language cookie, then the
browser's ``Accept-Language``. That is per browser; the portal also remembers it per person:

1. :func:`set_language` (the header's language ``<select>`` posts to it, URL name ``set_language``)
   does what Django's view does (sets the cookie, redirects to ``next``) and, for a signed-in
   person, stores the choice (:func:`accounts.preferences.remember_language`) and puts it in the session.
2. At sign-in, :func:`accounts.preferences.activate_stored_language` copies the stored choice into
   the new session (blank when there is none) and activates it for the rest of the login request.
3. :class:`UserLanguageMiddleware` (after ``AuthenticationMiddleware``) activates the session's
   choice for every request of a signed-in person, over whatever the cookie or the browser says,
   and sets the language cookie to it so that the pages seen after signing out stay in that
   language. A session opened before the preference existed reads it once from the database.

The session carries the choice so that a page costs no query for it. A choice made in another
browser reaches an already open session at its next sign-in. Dates and numbers follow the active
language through Django's format localization (``USE_I18N``; formats of ``pt_BR`` and ``en``).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.views.i18n import LANGUAGE_QUERY_PARAMETER
from django.views.i18n import set_language as django_set_language

from accounts.preferences import SESSION_KEY, remember_language, stored_language, supported


def session_language(request) -> str | None:
    """The signed-in person's language for this request (None: let LocaleMiddleware decide)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if SESSION_KEY not in request.session:
        request.session[SESSION_KEY] = stored_language(user) or ""
    return supported(request.session[SESSION_KEY])


def set_language(request):
    """Django's ``set_language``, which also remembers a signed-in person's choice."""
    response = django_set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        code = supported(request.POST.get(LANGUAGE_QUERY_PARAMETER))
        if code:
            remember_language(request.user, code)
            request.session[SESSION_KEY] = code
    return response


class UserLanguageMiddleware:
    """Activate the signed-in person's language; goes after ``AuthenticationMiddleware``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        code = session_language(request)
        if code:
            translation.activate(code)
            request.LANGUAGE_CODE = code
        response = self.get_response(request)
        cookie = settings.LANGUAGE_COOKIE_NAME
        if code and request.COOKIES.get(cookie) != code and cookie not in response.cookies:
            response.set_cookie(
                cookie,
                code,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
