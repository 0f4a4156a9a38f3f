"""Make a demo system slow, throttled, failing, down or drop its answers, as its knobs say.

``pick_disturbance`` is pure (it takes the dice); ``with_knobs`` wraps a view
and lets each system render the disturbance in its own way (JSON for the CRM,
SOAP faults or gateway pages for the ERP). A rate of 0 never fires and a rate
of 1 always fires, so tests are deterministic; seeding ``_dice`` makes a mix of
rates repeat the same disturbances request after request.
"""

import functools
import logging
import random
import time
from collections.abc import Callable

from .choices import ANSWERED_INSTEAD, Disturbance
from .dropping import cut_short
from .models import SandboxKnobs

_dice = random.Random()
# Each rate's band on the dice, in order.
RATES = (
    (Disturbance.THROTTLED, "throttle_rate"),
    (Disturbance.ERROR, "error_rate"),
    (Disturbance.SLOW, "slow_rate"),
    (Disturbance.DROPPED, "drop_rate"),
)
logger = logging.getLogger(__name__)


def logged_as_expected(response, what: str):
    """Log a deliberate 5xx answer (a SOAP fault) as one INFO line."""
    logger.info("Demo system answered %s: %s", response.status_code, what)
    return already_logged(response)


def already_logged(response):
    """Keep Django from logging a deliberate error answer again.

    Django would log a 5xx as "Internal Server Error", which in a demo reads like a
    bug of the portal; ``_has_been_logged`` is how Django marks a response already logged.
    """
    response._has_been_logged = True
    return response


def pick_disturbance(knobs: SandboxKnobs, roll: Callable[[], float] | None = None) -> Disturbance | None:
    """Which disturbance, if any, this request gets.

    "Down" wins over everything. Otherwise one roll of the dice in [0, 1) falls in
    one of the bands laid end to end, each as wide as its rate: throttling, errors,
    slow answers, dropped answers. Each rate is so its exact share of the requests;
    a rate of 0 never fires, a rate of 1 always does (when the rates before it are
    0). The dice (``roll``, else this module's ``_dice``) is rolled once per request,
    and only when some rate is set.
    """
    if knobs.down:
        return Disturbance.DOWN
    bands = [(disturbance, getattr(knobs, rate)) for disturbance, rate in RATES]
    if not any(width > 0 for _disturbance, width in bands):
        return None
    value, upper = (roll or _dice.random)(), 0.0
    for disturbance, width in bands:
        upper += max(0.0, width)
        if value < upper:
            return disturbance
    return None


def with_knobs(
    system: str, render: Callable, *, disturbances=frozenset(Disturbance), sleep=time.sleep, clock=time.monotonic
):
    """Decorate a view of ``system``: add latency, then maybe disturb the request.

    Down, throttled and failing requests are answered by ``render(request,
    disturbance, knobs)`` instead of the view. Slow and dropped ones are carried
    out (a create does create), and only their answer suffers: a slow one is held
    until ``slow_ms`` after the request arrived, a dropped one is cut off mid-body.
    ``disturbances`` limits which ones apply (e.g. the WSDL document is only ever
    "down"). The knobs reach the view as ``request.sandbox_knobs``.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            arrived = clock()
            knobs = SandboxKnobs.for_system(system)
            if knobs.latency_ms:
                sleep(knobs.latency_ms / 1000)
            disturbance = pick_disturbance(knobs)
            if disturbance not in disturbances:
                disturbance = None
            if disturbance is not None:
                log_disturbance(system, disturbance, request)
            if disturbance in ANSWERED_INSTEAD:
                return already_logged(render(request, disturbance, knobs))
            request.sandbox_knobs = knobs
            response = view(request, *args, **kwargs)
            if disturbance == Disturbance.SLOW:
                sleep(max(0.0, knobs.slow_ms / 1000 - (clock() - arrived)))
            elif disturbance == Disturbance.DROPPED:
                response = cut_short(response, request.META)
            return response

        return wrapped

    return decorator


def log_disturbance(system: str, disturbance: Disturbance, request) -> None:
    """One INFO line per disturbed request; ``system`` and ``disturbance`` ride along for log handlers."""
    logger.info(
        "Demo system %s: %s for %s %s (knobs)",
        system,
        disturbance.label,
        request.method,
        request.path,
        extra={"sandbox_system": system, "disturbance": disturbance.value},
    )
