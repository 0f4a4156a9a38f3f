"""Settings for the test suite: the portal's own settings, with a test environment."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-the-checks")
# A fixed test key (not used anywhere else).
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "l3T6t9Yp0cXlqHhO1L-5nJt0g6r3u1s2Kq8mB4vW9xE=")
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="portal-test-"))
os.environ.setdefault("SANDBOX_ENABLED", "1")

from integration_portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
# Static files keep their plain names: the suite runs with DEBUG off but without collectstatic.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
