"""A person's language, kept across sessions and browsers.

:func:`remember_language` stores a person's choice in :class:`accounts.models.UserPreference`;
:func:`activate_stored_language`, a ``user_logged_in`` receiver, copies it into the new session
(under :data:`SESSION_KEY`, blank when there is none) and activates it for the rest of the login
request. The project's middleware and language view (``integration_portal.language``) read and
write the session's choice.
"""

from __future__ import annotations

from django.utils import translation

from .models import UserPreference

SESSION_KEY = "portal_language"


def supported(code: str | None) -> str | None:
    """``code`` as one of ``settings.LANGUAGES`` (``pt-BR`` → ``pt-br``), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.lower(), strict=True)
    except LookupError:
        return None


def stored_language(user) -> str | None:
    """The language the person chose, if they ever chose one that the portal still offers."""
    code = UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
    return supported(code)


def remember_language(user, code: str) -> None:
    UserPreference.objects.update_or_create(user=user, defaults={"language": code})


def activate_stored_language(sender, request, user, **kwargs):
    """At sign-in, the person's stored language becomes the session's (and the request's)."""
    if request is None or not hasattr(request, "session"):
        return
    code = stored_language(user)
    request.session[SESSION_KEY] = code or ""
    if code:
        translation.activate(code)
        request.LANGUAGE_CODE = code
