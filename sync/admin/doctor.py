"""The connection doctor's page: each check's verdict, what it found and what to fix (IT)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from ..doctor import examine
from ..models import Connection


def connection_doctor(request, pk):
    """GET shows what the doctor checks; POST examines the connection (reads only) and shows the findings."""
    if not request.user.has_perm("sync.change_connection"):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=pk)
    findings = examine(connection) if request.method == "POST" else None
    context = {
        **admin.site.each_context(request),
        "title": _("Connection doctor: %(name)s") % {"name": connection.name},
        "connection": connection,
        "opts": Connection._meta,
        "findings": findings,
    }
    return TemplateResponse(request, "admin/sync/connection/doctor.html", context)
