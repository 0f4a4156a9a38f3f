"""Who may see and do what on the monitoring screens.

Buttons are hidden by the templates from :class:`Abilities`; every POST checks again
with :func:`require` (a hidden button is not a permission).
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.utils.translation import gettext as _

VIEW_INTEGRATION = "sync.view_integration"
VIEW_RUNS = "monitoring.view_syncrun"
VIEW_HELD_DELETES = "monitoring.view_helddelete"
VIEW_REVIEW_QUEUE = "monitoring.view_recorderror"

RUN_INTEGRATION = "sync.run_integration"
CHANGE_INTEGRATION = "sync.change_integration"
CHANGE_DEPLOYMENT_STATUS = "sync.change_deployment_status"
DECIDE_HELD_DELETES = "monitoring.change_helddelete"
RETRY_RECORDS = "monitoring.retry_record"
ACKNOWLEDGE_ALERTS = "monitoring.change_alert"


def require(request, *permissions: str) -> None:
    """Raise ``PermissionDenied`` (403) unless the user holds every permission."""
    if not request.user.has_perms(permissions):
        raise PermissionDenied


def selected_ids(request) -> list[int]:
    """The primary keys ticked in a list (``selected``), ignoring anything that is not a number."""
    return [int(value) for value in request.POST.getlist("selected") if value.isdigit()]


def unknown_action():
    return HttpResponseBadRequest(_("Unknown action."))


@dataclass(frozen=True)
class Abilities:
    """What the signed-in user may do on an integration's screens (for the templates)."""

    run: bool = False
    configure: bool = False
    change_deployment_status: bool = False
    decide_deletes: bool = False
    retry: bool = False
    acknowledge: bool = False

    @classmethod
    def of(cls, user) -> "Abilities":
        return cls(
            run=user.has_perm(RUN_INTEGRATION),
            configure=user.has_perm(CHANGE_INTEGRATION),
            change_deployment_status=user.has_perm(CHANGE_DEPLOYMENT_STATUS),
            decide_deletes=user.has_perm(DECIDE_HELD_DELETES),
            retry=user.has_perm(RETRY_RECORDS),
            acknowledge=user.has_perm(ACKNOWLEDGE_ALERTS),
        )
