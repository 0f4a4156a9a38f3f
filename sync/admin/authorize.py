"""Authorize: IT signs in at the provider (Bling…) and the portal keeps the refresh token it gives back.

The button POSTs to :func:`authorize`, which sends the browser to the connection's authorization URL
with a ``state`` bound to the user's session and the connection (single use, ten minutes). The provider
sends the browser back to :func:`callback`, the portal's one redirect URI (the address to register at the
provider, shown on the connection's page): it acts only for a state it handed out, exchanges the code for
the tokens (HTTP Basic client authentication, the same redirect URI) and stores them together.
"""

from __future__ import annotations

import secrets
import time

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import budgets, oauth_tokens
from ..choices import AuthKind
from ..connectors import connector_for, verdicts
from ..connectors.base import ConnectionConfig, ConnectorError
from ..connectors.rest.queries import with_query
from ..models import Connection

SESSION_KEY = "oauth_authorizations"  # state → [connection pk, expires at (epoch seconds), redirect URI]
STATE_SECONDS = 600
CHANGE_PERMISSION = "sync.change_connection"


def callback_url(request) -> str:
    """The portal's redirect URI, absolute, as the request reached the portal."""
    return request.build_absolute_uri(reverse("admin:sync_connection_oauth_callback"))


def authorize(request, pk):
    """POST: a new state in the session, and the browser sent to the provider's authorization page."""
    connection = get_object_or_404(Connection, pk=pk)
    if not request.user.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied
    change_page = reverse("admin:sync_connection_change", args=[connection.pk])
    if connection.auth_kind != AuthKind.OAUTH2_CODE or not connection.oauth_authorize_url:
        messages.error(
            request, _("Only an OAuth2 authorization code connection with an authorization URL can be authorized.")
        )
        return HttpResponseRedirect(change_page)
    state = secrets.token_urlsafe(32)
    redirect_uri = callback_url(request)
    pending = {key: value for key, value in request.session.get(SESSION_KEY, {}).items() if value[1] > time.time()}
    pending[state] = [connection.pk, time.time() + STATE_SECONDS, redirect_uri]
    request.session[SESSION_KEY] = pending
    query = {"response_type": "code", "client_id": connection.client_id, "redirect_uri": redirect_uri, "state": state}
    if connection.oauth_scope:
        query["scope"] = connection.oauth_scope
    return HttpResponseRedirect(with_query(connection.oauth_authorize_url, list(query.items())))


def callback(request):
    """GET from the provider: only a state this session holds (taken once) lets anything happen."""
    pending = request.session.get(SESSION_KEY, {})
    entry = pending.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = pending
    if entry is None or entry[1] <= time.time():
        return refused(
            request, _("This authorization is unknown, was already used or has expired (after ten minutes).")
        )
    connection = Connection.objects.filter(pk=entry[0]).first()
    if connection is None or connection.auth_kind != AuthKind.OAUTH2_CODE:
        return refused(request, _("The connection being authorized no longer exists or no longer uses OAuth2."))
    if not request.user.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied
    change_page = HttpResponseRedirect(reverse("admin:sync_connection_change", args=[connection.pk]))
    if "error" in request.GET:
        messages.error(request, provider_refusal(request.GET))
        return change_page
    code = request.GET.get("code", "")
    if not code:
        messages.error(request, _("The provider sent no authorization code back: press Authorize again."))
        return change_page
    try:
        answer = redeem(connection, code, entry[2])
        oauth_tokens.store_authorization(connection, answer, timezone.now())
    except ConnectorError as error:
        messages.error(request, str(verdicts.with_words(error.message, error.detail)))
        return change_page
    messages.success(request, _("Authorized: the portal holds a refresh token (refreshed automatically)."))
    return change_page


def redeem(connection: Connection, code: str, redirect_uri: str):
    config = ConnectionConfig.from_model(connection, max_retries=0)  # a code is good for one exchange only
    with connector_for(
        config, budget=budgets.for_connection(connection), tokens=oauth_tokens.for_connection(connection)
    ) as connector:
        return connector.redeem_authorization_code(code, redirect_uri)


def provider_refusal(query) -> str:
    """The provider's ``error`` (and its description) in words."""
    error = query.get("error", "")
    description = query.get("error_description", "")
    if error == "access_denied":
        message = _("The authorization was denied at the provider: nothing was stored.")
    else:
        message = _("The provider refused the authorization (%(error)s): nothing was stored.") % {"error": error}
    return f"{message} {description}".strip() if description else message


def refused(request, reason: str) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        "title": _("Authorization refused"),
        "reason": reason,
        "opts": Connection._meta,
    }
    return TemplateResponse(request, "admin/sync/connection/authorize_refused.html", context, status=400)
