"""The demo ERP's back office: orders move one status forward after a while.

Called when orders are read, so a demo shows statuses flowing back to the CRM
without any background process.
"""

from datetime import datetime, timedelta

from .choices import ORDER_WORKFLOW, CreditStatus, ErpOrderStatus
from .models import ErpOrder


def advance_orders(now: datetime, step_seconds: int) -> int:
    """Move every order idle for ``step_seconds`` one step along the workflow; returns how many moved.

    Steps are applied from the last to the first, so an order moves at most one
    step per call. Orders of customers whose credit is not approved stay received.
    """
    if step_seconds <= 0:
        return 0
    idle_since = now - timedelta(seconds=step_seconds)
    moved = 0
    for current, following in reversed(ORDER_WORKFLOW):
        orders = ErpOrder.objects.filter(status=current, updated_at__lte=idle_since)
        if current == ErpOrderStatus.RECEIVED:
            orders = orders.filter(customer__credit_status=CreditStatus.APPROVED)
        moved += orders.update(status=following, updated_at=now)
    return moved
