"""The portal's admin site: its home page is the dashboard, and it serves the monitoring screens.

Every screen goes through ``admin_view``: staff login, CSRF, never cached.
"""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from accounts import two_factor
from accounts.two_factor import PortalLoginForm

# name, route, view (dotted path, imported on first use)
SCREENS = [
    ("dashboard_data", "dashboard.json", "monitoring.views.dashboard.dashboard_data"),
    ("dashboard_rows", "dashboard/rows/", "monitoring.views.dashboard.dashboard_rows"),
    ("dashboard_acknowledge", "dashboard/acknowledge/<int:pk>/", "monitoring.views.dashboard.acknowledge_alerts"),
    ("integration", "integrations/<int:pk>/", "monitoring.views.integration.general_information"),
    ("integration_history", "integrations/<int:pk>/history/", "monitoring.views.history.history"),
    ("integration_deletes", "integrations/<int:pk>/deletes/", "monitoring.views.deletes.excessive_deletes"),
    ("integration_queue", "integrations/<int:pk>/queue/", "monitoring.views.queue.review_queue"),
    ("integration_dry_run", "integrations/<int:pk>/dry-run/", "monitoring.views.dry_run.dry_run_page"),
    ("run", "runs/<int:pk>/", "monitoring.views.runs.run_detail"),
    ("connection_doctor", "connections/<int:pk>/doctor/", "sync.admin.doctor.connection_doctor"),
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
    login_form = PortalLoginForm

    def has_permission(self, request):
        """Staff, and (two-factor logins on) an IT account verified with a code in this session."""
        return super().has_permission(request) and two_factor.is_satisfied(request.user)

    def login(self, request, extra_context=None):
        """An IT account whose password was accepted but has no authenticator yet goes to add one."""
        response = super().login(request, extra_context)
        if request.user.is_authenticated and two_factor.needs_setup(request.user):
            return HttpResponseRedirect(reverse("two_factor_setup"))
        return response

    def get_urls(self):
        screens = [path(route, self.admin_view(_lazy(dotted)), name=name) for name, route, dotted in SCREENS]
        return [*screens, *super().get_urls()]

    def index(self, request, extra_context=None):
        return import_string("monitoring.views.dashboard.dashboard")(request, self, extra_context)
