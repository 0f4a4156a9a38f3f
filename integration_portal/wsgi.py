"""WSGI entry point (gunicorn integration_portal.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")

application = get_wsgi_application()

# It needs the app registry.
from monitoring.workers import watch_in_background  # noqa: E402

# The web server watches the background workers: if they stop, it is the one left to say so.
watch_in_background()
