"""The portal's admin site: its home page is the dashboard, and it serves the monitoring screens.

Every screen goes through ``admin_view``: staff login, CSRF, never cached.
"""

from django.contrib import admin
from django.urls import path
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

# name, route, view (dotted path, imported on first use)
SCREENS = [
    ("dashboard_data", "dashboard.json", "monitoring.views.dashboard.dashboard_data"),
    ("dashboard_rows", "dashboard/rows/", "monitoring.views.dashboard.dashboard_rows"),
    ("dashboard_acknowledge", "dashboard/acknowledge/<int:pk>/", "monitoring.views.dashboard.acknowledge_alerts"),
    ("integration", "integrations/<int:pk>/", "monitoring.views.integration.general_information"),
    ("integration_history", "integrations/<int:pk>/history/", "monitoring.views.history.history"),
    ("integration_deletes", "integrations/<int:pk>/deletes/", "monitoring.views.deletes.excessive_deletes"),
    ("integration_queue", "integrations/<int:pk>/queue/", "monitoring.views.queue.review_queue"),
    ("run", "runs/<int:pk>/", "monitoring.views.runs.run_detail"),
    ("export", "exports/<int:pk>/", "monitoring.views.history.export_status"),
    ("export_download", "exports/<int:pk>/download/", "monitoring.views.history.export_download"),
]


def _lazy(dotted):
    def view(request, *args, **kwargs):
        return import_string(dotted)(request, *args, **kwargs)

    view.__name__ = dotted.rsplit(".", 1)[-1]
    return view


class PortalAdminSite(admin.AdminSite):
    site_header = _("Integration Portal")
    site_title = _("Integration Portal")
    index_title = _("Integrations")

    def get_urls(self):
        screens = [path(route, self.admin_view(_lazy(dotted)), name=name) for name, route, dotted in SCREENS]
        return [*screens, *super().get_urls()]

    def index(self, request, extra_context=None):
        return import_string("monitoring.views.dashboard.dashboard")(request, self, extra_context)
