from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """The admin, with the portal's site: the dashboard as its home page and the monitoring screens."""

    default_site = "integration_portal.admin_site.PortalAdminSite"
