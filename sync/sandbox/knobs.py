"""Make a demo system slow, throttled, failing or down, as its knobs say.

``pick_disturbance`` is pure (it takes the dice); ``with_knobs`` wraps a view
and lets each system render the disturbance in its own way (JSON for the CRM,
SOAP faults or gateway pages for the ERP). A rate of 0 never fires and a rate
of 1 always fires, so tests are deterministic.
"""

import functools
import logging
import random
import time
from collections.abc import Callable

from .choices import Disturbance
from .models import SandboxKnobs

_dice = random.Random()
logger = logging.getLogger(__name__)


def logged_as_expected(response, what: str):
    """Log a deliberate 5xx answer (a simulated failure, a SOAP fault) as one INFO line.

    Django would log it as "Internal Server Error", which in a demo reads like a bug
    of the portal; ``_has_been_logged`` is how Django marks a response already logged.
    """
    logger.info("Demo system answered %s: %s", response.status_code, what)
    response._has_been_logged = True
    return response


def pick_disturbance(knobs: SandboxKnobs, roll: Callable[[], float] = _dice.random) -> Disturbance | None:
    """Which disturbance, if any, this request gets: down, then throttling, then errors."""
    if knobs.down:
        return Disturbance.DOWN
    if knobs.throttle_rate > 0 and roll() < knobs.throttle_rate:
        return Disturbance.THROTTLED
    if knobs.error_rate > 0 and roll() < knobs.error_rate:
        return Disturbance.ERROR
    return None


def with_knobs(system: str, render: Callable, *, disturbances=frozenset(Disturbance), sleep=time.sleep):
    """Decorate a view of ``system``: add latency, then maybe answer with a disturbance.

    ``render(request, disturbance, knobs)`` builds the answer. ``disturbances``
    limits which ones apply (e.g. the WSDL document is only ever "down").
    The knobs reach the view as ``request.sandbox_knobs``.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            knobs = SandboxKnobs.for_system(system)
            if knobs.latency_ms:
                sleep(knobs.latency_ms / 1000)
            disturbance = pick_disturbance(knobs)
            if disturbance is not None and disturbance in disturbances:
                return render(request, disturbance, knobs)
            request.sandbox_knobs = knobs
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
