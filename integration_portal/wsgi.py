"""WSGI entry point (gunicorn integration_portal.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")

application = get_wsgi_application()

# The web server watches the background workers: if they stop, it is the one left to say so.
from monitoring.workers import watch_in_background  # noqa: E402 (needs the app registry)

watch_in_background()
