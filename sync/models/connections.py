"""How the portal reaches one system: a connection's address, authentication, paging and limits."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField

from .. import validators
from ..choices import AuthKind, ConnectionKind, Direction, Pagination
from ..connectors.rest.queries import split_method
from ..connectors.templates import CREDENTIAL_PLACEHOLDERS, mentions
from .cleaning import clean_fields_with_outbound_urls, in_range, raise_errors
from .file_settings import FileDropSettings, file_errors
from .tables import SyncTable

# Which secret each auth kind needs, besides its plain fields.
AUTH_REQUIREMENTS = {
    AuthKind.NONE: (),
    AuthKind.BASIC: ("username", "password"),
    AuthKind.BEARER: ("token",),
    AuthKind.API_KEY: ("api_key_header", "api_key"),
    AuthKind.OAUTH2: ("oauth_token_url", "client_id", "client_secret"),
    AuthKind.OAUTH2_CODE: ("oauth_authorize_url", "oauth_token_url", "client_id", "client_secret"),
    AuthKind.WSSE: ("username", "password"),
    AuthKind.SESSION: ("login_path", "username", "password"),
    AuthKind.BODY: ("body_credentials",),
    AuthKind.SSH_KEY: ("username", "private_key"),
}
# Auth kinds only a REST connection can use.
REST_ONLY_AUTH = (
    AuthKind.BEARER,
    AuthKind.API_KEY,
    AuthKind.OAUTH2,
    AuthKind.OAUTH2_CODE,
    AuthKind.SESSION,
    AuthKind.BODY,
)

# The tokens the Authorize step and the refreshes store (never typed in a form, never exported).
TOKEN_FIELDS = ("refresh_token", "access_token")
SECRET_FIELDS = ("password", "token", "api_key", "client_secret", "private_key", *TOKEN_FIELDS)
# Secrets an auth kind keeps on save although they are not required to save it.
KEPT_SECRETS = {AuthKind.OAUTH2_CODE: TOKEN_FIELDS}
# What the Authorize step and the refreshes write, together.
TOKEN_STATE_FIELDS = (*TOKEN_FIELDS, "access_token_expires_at", "authorized_at")
# The addresses a connection calls: each must pass the outbound policy (core.outbound).
OUTBOUND_URL_FIELDS = ("base_url", "wsdl_url", "endpoint_url", "oauth_authorize_url", "oauth_token_url")

TIMEOUT_SECONDS = (1, 3600)  # of one call
RETRIES = (0, 10)
RETRY_AFTER_CEILING = (1, 3600)  # the longest wait between two attempts, in seconds
MAX_IN_FLIGHT = (1, 32)  # calls to one system at the same time while a table writes to it
DAILY_CALL_LIMIT = (1, 1_000_000_000)
RESULT_CAP = (1, 1_000_000_000)


class Connection(FileDropSettings):
    """How to reach one system (an ERP or a CRM)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ConnectionKind.choices)
    base_url = models.URLField(
        _("base URL"), blank=True, help_text=_("REST: the API root, e.g. https://api2.ploomes.com")
    )
    wsdl_url = models.URLField(_("WSDL URL"), blank=True, help_text=_("SOAP: where the WSDL is served"))
    wsdl_document = models.TextField(
        _("WSDL document"), blank=True, help_text=_("SOAP: the WSDL itself, when it is uploaded instead of served")
    )
    soap_service = models.CharField(
        _("SOAP service"), max_length=200, blank=True, help_text=_("Blank: the WSDL's first")
    )
    soap_port = models.CharField(_("SOAP port"), max_length=200, blank=True, help_text=_("Blank: the service's first"))
    endpoint_url = models.URLField(
        _("endpoint URL override"),
        blank=True,
        help_text=_("SOAP: call this address instead of the one written in the WSDL"),
    )

    auth_kind = models.CharField(_("authentication"), max_length=20, choices=AuthKind.choices, default=AuthKind.NONE)
    username = models.CharField(_("username"), max_length=200, blank=True)
    password = EncryptedTextField(_("password"), blank=True)
    token = EncryptedTextField(_("bearer token"), blank=True)
    api_key_header = models.CharField(
        _("API key header"), max_length=100, blank=True, help_text=_("e.g. User-Key for Ploomes")
    )
    api_key = EncryptedTextField(_("API key"), blank=True)
    oauth_authorize_url = models.URLField(
        _("OAuth2 authorization URL"),
        blank=True,
        help_text=_("Where Authorize sends you to sign in, e.g. https://www.bling.com.br/Api/v3/oauth/authorize"),
    )
    oauth_token_url = models.URLField(_("OAuth2 token URL"), blank=True)
    client_id = models.CharField(_("OAuth2 client id"), max_length=200, blank=True)
    client_secret = EncryptedTextField(_("OAuth2 client secret"), blank=True)
    oauth_scope = models.CharField(_("OAuth2 scope"), max_length=200, blank=True)
    login_path = models.CharField(
        _("login call"),
        max_length=500,
        blank=True,
        help_text=_(
            "Session login: the call that opens a session, relative to the base URL, e.g. "
            "POST /mge/service.sbr?serviceName=MobileLoginSP.login&outputType=json. The session's cookie goes with "
            "every call; a 401 logs in again"
        ),
    )
    login_body = models.JSONField(
        _("login body"),
        default=dict,
        blank=True,
        help_text=_(
            "Session login: the login call's JSON body, where {username} and {password} are filled in, e.g. "
            '{"requestBody": {"NOMUSU": {"$": "{username}"}, "INTERNO": {"$": "{password}"}}}'
        ),
    )
    body_credentials = models.JSONField(
        _("credentials in the body"),
        default=dict,
        blank=True,
        help_text=_(
            "Credentials in the request body: merged into every JSON body sent, where {username}, {password}, "
            '{api_key}, {client_id} and {client_secret} are filled in, e.g. {"app_key": "{api_key}", '
            '"app_secret": "{password}"} for Omie'
        ),
    )
    token_headers = models.JSONField(
        _("token call headers"),
        default=dict,
        blank=True,
        help_text=_(
            "OAuth2: headers the token call sends besides its form, where {api_key}, {username} and {password} are "
            'filled in, e.g. {"X-Token": "{api_key}"} for Sankhya\'s API gateway'
        ),
    )
    # Written only by the Authorize step and the refreshes (sync.oauth_tokens), never by saving the form.
    refresh_token = EncryptedTextField(_("OAuth2 refresh token"), blank=True)
    access_token = EncryptedTextField(_("OAuth2 access token"), blank=True)
    # Until when the access token is reused: a little before the provider's expiry (see token_lifetime).
    access_token_expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    authorized_at = models.DateTimeField(_("authorized"), null=True, blank=True)

    pagination = models.CharField(_("pagination"), max_length=10, choices=Pagination.choices, default=Pagination.NONE)
    page_size = models.PositiveIntegerField(_("page size"), default=100, validators=validators.number_range(1, 10_000))
    page_parameter = models.CharField(
        _("page parameter"),
        max_length=50,
        blank=True,
        help_text=_(
            "The query parameter of the page number, the offset or the cursor, e.g. pagina or after; "
            "blank: page, offset or cursor"
        ),
    )
    size_parameter = models.CharField(
        _("page size parameter"),
        max_length=50,
        blank=True,
        help_text=_("The query parameter of the page size, e.g. limite; blank: size (page numbers) or limit"),
    )
    next_path = models.CharField(
        _("next page path"),
        max_length=200,
        blank=True,
        help_text=_(
            "Where an answer holds the next link or cursor, e.g. paging.next.after for HubSpot; "
            "blank: the usual places (@odata.nextLink, next, next_cursor…)"
        ),
    )
    result_cap = models.PositiveIntegerField(
        _("deepest result a query pages to"),
        null=True,
        blank=True,
        validators=validators.number_range(*RESULT_CAP),
        help_text=_(
            "REST: the most results one query pages through, e.g. 10,000 for HubSpot's search. Past it the read "
            "starts the query again from the last record's cursor value (the read must sort by the table's cursor "
            "field, ascending, and have an incremental filter). Blank: no limit"
        ),
    )
    records_path = models.CharField(
        _("records path"),
        max_length=200,
        blank=True,
        help_text=_("Where the records are in a response, e.g. value or data.items; blank: the response itself"),
    )
    column_names_path = models.CharField(
        _("column names path"),
        max_length=200,
        blank=True,
        help_text=_(
            "Where an answer names the columns of rows sent as f0…fN or as lists, e.g. "
            'responseBody.entities.metadata.fields.field for Sankhya; values wrapped as {"$": …} are unwrapped. '
            "Blank: records are objects"
        ),
    )
    test_path = models.CharField(
        _("test path"),
        max_length=500,
        blank=True,
        help_text=_(
            "REST: what Test connection reads with the connection's credentials, relative to the base URL, "
            "e.g. /Contacts?$top=1. Blank: one record of the first active table that reads from this connection, "
            "or the base URL when no table does"
        ),
    )
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"),
        default=30,
        validators=validators.number_range(*TIMEOUT_SECONDS),
        help_text=_("For every call"),
    )
    max_retries = models.PositiveIntegerField(
        _("retries"),
        default=3,
        validators=validators.number_range(*RETRIES),
        help_text=_("For timeouts, 429 and 5xx answers, with backoff"),
    )
    max_retry_after_seconds = models.PositiveIntegerField(
        _("longest wait between attempts (seconds)"),
        default=60,
        validators=validators.number_range(*RETRY_AFTER_CEILING),
        help_text=_(
            "An API that answers 429 or 503 with a longer Retry-After is asked again after this long; "
            "waits between other retries grow with jitter up to it"
        ),
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        _("rate limit (calls per minute)"), null=True, blank=True, validators=validators.number_range(1, 60_000)
    )
    daily_call_limit = models.PositiveIntegerField(
        _("daily call limit"),
        null=True,
        blank=True,
        validators=validators.number_range(*DAILY_CALL_LIMIT),
        help_text=_(
            "Calls per day (in the portal's time zone) the API allows these credentials, e.g. 120,000 for Bling; "
            "the portal stops before the quota is spent and resumes the next day. Blank: no daily quota"
        ),
    )
    max_in_flight = models.PositiveSmallIntegerField(
        _("calls in flight at once"),
        default=1,
        validators=validators.number_range(*MAX_IN_FLIGHT),
        help_text=_(
            "How many calls to this system may run at the same time while a table writes to it; 1: one at a time. "
            "Check the API's concurrency limit (Omie: 4 per method; Business Central: 100)"
        ),
    )
    verify_tls = models.BooleanField(_("verify TLS certificates"), default=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # A secret the chosen authentication does not use is not kept.
        kept = {*self.credentials_used(), *KEPT_SECRETS.get(self.auth_kind, ())}
        for field in SECRET_FIELDS:
            if field not in kept:
                setattr(self, field, "")
        if "access_token" not in kept:
            self.access_token_expires_at = self.authorized_at = None
        elif not self._state.adding and kwargs.get("update_fields") is None:
            # The tokens rotate under a running sync: saving a form read before must not put an old one back.
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in TOKEN_STATE_FIELDS
            ]
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        """The URLs the portal calls are checked against the outbound policy, in words naming the field."""
        clean_fields_with_outbound_urls(self, OUTBOUND_URL_FIELDS, exclude, super().clean_fields)

    def clean(self):
        errors = {}
        if self.kind == ConnectionKind.REST:
            if not self.base_url:
                errors["base_url"] = [_("A REST connection needs a base URL.")]
            if self.auth_kind == AuthKind.WSSE:
                errors["auth_kind"] = [_("WS-Security applies to SOAP connections only.")]
            if self.pagination == Pagination.BOOKMARK:
                errors["pagination"] = [_("Bookmark paging applies to SOAP connections only.")]
            if self.result_cap and self.pagination == Pagination.NONE:
                errors["result_cap"] = [_("A deepest result applies to a read that pages: choose a pagination.")]
            errors["test_path"] = validators.check_relative_query(self.test_path, example="/Contacts?$top=1")
        elif self.kind == ConnectionKind.SOAP:
            if not (self.wsdl_url or self.wsdl_document.strip()):
                errors["wsdl_url"] = [_("A SOAP connection needs a WSDL: give its URL or upload the document.")]
            if self.auth_kind in REST_ONLY_AUTH:
                errors["auth_kind"] = [_("A SOAP connection supports HTTP basic or WS-Security authentication.")]
            if self.test_path:
                errors["test_path"] = [_("A test path applies to REST connections only: clear it.")]
            if self.result_cap:
                errors["result_cap"] = [_("A deepest result applies to REST connections only: clear it.")]
        elif self.kind == ConnectionKind.FILE:
            errors.update(file_errors(self))
        if self.kind != ConnectionKind.FILE and self.auth_kind == AuthKind.SSH_KEY:
            errors["auth_kind"] = [_("An SSH private key applies to SFTP connections only.")]
        errors.update(self._template_errors())
        for field in self.credentials_used():
            if not getattr(self, field):
                label = self._meta.get_field(field).verbose_name
                errors.setdefault(field, []).append(
                    _("%(auth)s authentication needs the %(field)s.")
                    % {"auth": AuthKind(self.auth_kind).label, "field": label}
                )
        limits = (
            (self.timeout_seconds, TIMEOUT_SECONDS),
            (self.max_retries, RETRIES),
            (self.max_retry_after_seconds, RETRY_AFTER_CEILING),
        )
        if all(in_range(value, bounds) for value, bounds in limits):
            task_timeout = settings.Q_CLUSTER.get("timeout") or 3600
            worst_case = validators.check_call_worst_case(
                self.timeout_seconds, self.max_retries, self.max_retry_after_seconds, task_timeout
            )
            if worst_case:
                errors.setdefault("max_retries", []).extend(worst_case)
        raise_errors(errors)

    def credentials_used(self) -> tuple[str, ...]:
        """The fields the chosen authentication needs: its own, and the credentials its body templates name."""
        needed = AUTH_REQUIREMENTS.get(self.auth_kind, ())
        template = {
            AuthKind.SESSION: self.login_body,
            AuthKind.BODY: self.body_credentials,
            AuthKind.OAUTH2: self.token_headers,
            AuthKind.OAUTH2_CODE: self.token_headers,
        }.get(self.auth_kind)
        named = tuple(name for name in CREDENTIAL_PLACEHOLDERS if template and mentions(template, {name}))
        return tuple(dict.fromkeys((*needed, *named)))

    def _template_errors(self) -> dict:
        errors = {}
        for field in ("login_body", "body_credentials"):
            if not isinstance(getattr(self, field), dict):
                errors[field] = [_('Write a JSON object, e.g. {"app_key": "{api_key}"}.')]
        headers = self.token_headers
        if not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values()):
            errors["token_headers"] = [
                _('Write a JSON object of header names and texts, e.g. {"X-Token": "{api_key}"}.')
            ]
        body = self.body_credentials
        named = isinstance(body, dict) and mentions(body, set(CREDENTIAL_PLACEHOLDERS))
        if self.auth_kind == AuthKind.BODY and body and not named:
            errors["body_credentials"] = [
                _('Name the credentials the body carries, e.g. {"app_secret": "{password}"}.')
            ]
        if self.auth_kind == AuthKind.SESSION:
            errors["login_path"] = validators.check_relative_query(
                split_method(self.login_path, "POST")[1], example="/login"
            )
        return {field: problems for field, problems in errors.items() if problems}

    def secrets_set(self) -> list[str]:
        """Names of the secret fields that hold a value (never the values)."""
        return [field for field in SECRET_FIELDS if getattr(self, field)]

    def first_reading_table(self):
        """The first active table a sync reads from this connection (see :meth:`reading_tables`); None if none."""
        return self.reading_tables().first()

    def reading_tables(self):
        """The active tables a sync reads from this connection, the first one first.

        A table reads from its integration's ERP connection when it moves ERP → CRM, from the CRM
        connection when it moves CRM → ERP. Tables of active integrations come first, then by
        integration and by the tables' order. A table read once per link of another is left out:
        its read needs a record's key.
        """
        reads_from_this = models.Q(integration__erp_connection=self, direction=Direction.ERP_TO_CRM) | models.Q(
            integration__crm_connection=self, direction=Direction.CRM_TO_ERP
        )
        return SyncTable.objects.filter(reads_from_this, active=True, read_per_link_of__isnull=True).order_by(
            "-integration__active", "integration__name", "order", "pk"
        )
