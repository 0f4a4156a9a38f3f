"""Settings of the Integration Portal, read from environment variables.

See README.md ("Configuration") for every variable. Nothing here has an
insecure default: ``DEBUG`` is off unless set, and with ``DEBUG`` off the
portal refuses to start without ``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEYS``.
"""

from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from . import env
from .database import database_settings, q_cluster_settings
from .keys import resolve_keys

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.get_str("PORTAL_DATA_DIR", str(BASE_DIR / "data"))).resolve()

DEBUG = env.get_bool("DEBUG", default=False)
SECRET_KEY, FIELD_ENCRYPTION_KEYS = resolve_keys(DEBUG, DATA_DIR)

ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
# The portal's address as the outside world calls it (https://portal.example.com): the webhook addresses shown
# to IT and the URI HubSpot signs are built from it. Blank: from each request's host (checked by ALLOWED_HOSTS).
PUBLIC_ORIGIN = env.get_origin("PUBLIC_ORIGIN")
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS")

# The demo ERP and CRM served by the portal itself (never in production).
SANDBOX_ENABLED = env.get_bool("SANDBOX_ENABLED", default=DEBUG)

INSTALLED_APPS = [
    "integration_portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "import_export",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "sync",
    "monitoring",
    # The demo ERP and CRM: installed (tables, admin, /sandbox/ URLs) only when the sandbox is on.
    *(["demo"] if SANDBOX_ENABLED else []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "integration_portal.security.PermissionsPolicyMiddleware",
    # Static files straight from the WSGI process, before anything else runs.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "integration_portal.security.SessionLimitsMiddleware",
    "integration_portal.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "integration_portal.security.ForbiddenLogMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "integration_portal.urls"
WSGI_APPLICATION = "integration_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_settings(env.get_str("DATABASE_URL"), DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.get_str("REDIS_URL")
Q_CLUSTER = q_cluster_settings(
    REDIS_URL,
    workers=env.get_int("Q_WORKERS", default=2, minimum=1),
    task_timeout=env.get_int("SYNC_TASK_TIMEOUT", default=3600, minimum=30),
)

# Dead workers and alerts (seconds and counts).
RUN_HEARTBEAT_STALE_AFTER = env.get_int("RUN_HEARTBEAT_STALE_AFTER", default=120, minimum=1)
# How often a running run's own thread writes its heartbeat, whatever the run is waiting for
# (at least four times within the stale limit).
RUN_HEARTBEAT_INTERVAL = env.get_int("RUN_HEARTBEAT_INTERVAL", default=15, minimum=1)
# The workers' maintenance task beats every minute; the web server checks every WORKERS_WATCH_INTERVAL
# seconds (0: off) and alerts when the workers were not seen for WORKERS_STALE_AFTER seconds.
WORKERS_STALE_AFTER = env.get_int("WORKERS_STALE_AFTER", default=180, minimum=90)
WORKERS_WATCH_INTERVAL = env.get_int("WORKERS_WATCH_INTERVAL", default=60, minimum=0)
QUEUED_RUN_LOST_AFTER = env.get_int("QUEUED_RUN_LOST_AFTER", default=600, minimum=1)
RUN_STUCK_AFTER = env.get_int("RUN_STUCK_AFTER", default=600, minimum=1)
# A failed record is retried by the following runs from its stored payload: after 5, 10, 20… minutes,
# this many times; then it waits for a person in the review queue.
RECORD_RETRY_ATTEMPTS = env.get_int("RECORD_RETRY_ATTEMPTS", default=5, minimum=0)
RECORD_RETRY_FIRST_DELAY = env.get_int("RECORD_RETRY_FIRST_DELAY", default=300, minimum=1)
ALERT_CONSECUTIVE_FAILURES = env.get_int("ALERT_CONSECUTIVE_FAILURES", default=3, minimum=1)
ALERT_NOTIFICATION_MAX_ATTEMPTS = env.get_int("ALERT_NOTIFICATION_MAX_ATTEMPTS", default=12, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.get_int("PASSWORD_MIN_LENGTH", default=12, minimum=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "integration_portal.passwords.ProductWordsValidator"},
]

# Logins: django-axes refuses every attempt, the right password included, for LOGIN_LOCKOUT_MINUTES after
# LOGIN_FAILURE_LIMIT failures for one user name or from one address; IT unlocks from the admin's
# "Access attempts" or with `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.get_int("LOGIN_FAILURE_LIMIT", default=10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.get_int("LOGIN_LOCKOUT_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "integration_portal.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "integration_portal.security.client_address"
AXES_VERBOSE = False  # the portal.security logger says it once, in words

# Two-factor logins (django-otp): IT accounts log in with a password and the code of an authenticator app.
TWO_FACTOR_FOR_IT = env.get_bool("TWO_FACTOR_FOR_IT", default=False)
OTP_TOTP_ISSUER = "Integration Portal"

# Sessions end after SESSION_IDLE_MINUTES without a person's request and SESSION_MAX_HOURS after the login.
SESSION_IDLE_MINUTES = env.get_int("SESSION_IDLE_MINUTES", default=30, minimum=1)
SESSION_MAX_HOURS = env.get_int("SESSION_MAX_HOURS", default=12, minimum=1)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Brazilian Portuguese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.get_str("TIME_ZONE", "America/Sao_Paulo")
USE_I18N = True
USE_TZ = True

# Static files are served by WhiteNoise. With DEBUG off they have content-hashed names and
# compressed copies made by `collectstatic` (into STATIC_ROOT), cached by browsers for a year.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.get_str("STATIC_ROOT", str(DATA_DIR / "static"))).resolve()
HASHED_STATIC_FILES = not DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if HASHED_STATIC_FILES
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if not HASHED_STATIC_FILES:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise looks there even before any collectstatic

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"
FORMS_URLFIELD_ASSUME_HTTPS = True

# Email: alerts go to each integration's recipients.
EMAIL_BACKEND = env.get_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.get_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.get_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_HOST_USER = env.get_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.get_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.get_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.get_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.get_int("EMAIL_TIMEOUT", default=20, minimum=1)
DEFAULT_FROM_EMAIL = env.get_str("DEFAULT_FROM_EMAIL", "integration-portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Outbound calls (connections, webhooks): http(s) only, never the cloud metadata
# address; loopback (127.0.0.0/8, ::1) only when allowed (the demo systems live there).
OUTBOUND_ALLOW_LOOPBACK = env.get_bool("OUTBOUND_ALLOW_LOOPBACK", default=SANDBOX_ENABLED)
# Answers larger than this are refused while they arrive (memory stays bounded).
OUTBOUND_MAX_RESPONSE_BYTES = env.get_int("OUTBOUND_MAX_RESPONSE_MB", default=20, minimum=1) * 1024 * 1024

# The integration import (YAML) reads files up to this size.
CONFIG_IMPORT_MAX_BYTES = env.get_int("CONFIG_IMPORT_MAX_MB", default=5, minimum=1) * 1024 * 1024
# Integration files IT starts a new integration from (admin: New integration from a preset); docs in docs/presets.
PRESETS_DIR = BASE_DIR / "presets"

# History exports: how many one user may have queued or being written at once (the same request again reuses its job).
EXPORT_MAX_ACTIVE_PER_USER = env.get_int("EXPORT_MAX_ACTIVE_PER_USER", default=2, minimum=1)
# Retention: record events and request logs are kept this many days (never less than the History tab exports), runs
# and their table runs this many (never less than the events); deleted by the minute's maintenance in batches of
# RETENTION_BATCH rows, for at most RETENTION_BUDGET_SECONDS per minute.
RETENTION_EVENTS_DAYS = env.get_int("RETENTION_EVENTS_DAYS", default=7, minimum=1)
RETENTION_RUNS_DAYS = env.get_int("RETENTION_RUNS_DAYS", default=90, minimum=1)
RETENTION_BATCH = env.get_int("RETENTION_BATCH", default=5000, minimum=100)
RETENTION_BUDGET_SECONDS = env.get_int("RETENTION_BUDGET_SECONDS", default=20, minimum=1)

# Request logs: bodies are redacted, then cut to this many characters.
REQUEST_LOG_BODY_LIMIT = env.get_int("REQUEST_LOG_BODY_LIMIT", default=20_000, minimum=0)

# Security headers and cookies. With DEBUG off the portal expects HTTPS: cookies are sent over
# HTTPS only and browsers are told to use HTTPS for a year (HSTS, sent on HTTPS answers only).
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.get_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind a proxy that terminates TLS, its X-Forwarded-Proto header says whether the browser used
# HTTPS (the proxy must set it and drop one sent by the client); plain-HTTP requests are then
# redirected to HTTPS unless SECURE_SSL_REDIRECT says otherwise.
BEHIND_TLS_PROXY = env.get_bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", default=BEHIND_TLS_PROXY)
SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.get_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.get_bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Asking browsers to preload HSTS is the domain owner's decision, not the portal's.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Content-Security-Policy (django-csp): scripts, styles, fonts and calls from the portal itself only; no inline
# script, style or handler anywhere; no frames, plugins or forms posting elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Browser features the portal never uses, switched off for its pages (Permissions-Policy).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # zeep's transport logs whole envelopes (WS-Security passwords included) at DEBUG.
        "zeep.transports": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # Failed logins, lockouts and refused pages, with the user name and the address (django-axes' own
        # words only when something goes wrong).
        "portal.security": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}
