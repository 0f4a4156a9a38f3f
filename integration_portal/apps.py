from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """The admin, with the portal's site: the dashboard as its home page and the monitoring screens."""

    default_site = "integration_portal.admin_site.PortalAdminSite"

    def ready(self):
        super().ready()
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from . import security

        user_login_failed.connect(security.login_failed, dispatch_uid="portal.security.login_failed")
        user_locked_out.connect(security.locked_out, dispatch_uid="portal.security.locked_out")
        user_logged_in.connect(security.logged_in, dispatch_uid="portal.security.logged_in")
