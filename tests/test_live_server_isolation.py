"""The demo systems served to the tests see what a real server would: only committed data, on their own connection.

On SQLite the tests use a database file (tests/conftest.py): with Django's in-memory test database the live
server's request threads would share the test's one connection, and so its open transaction, and two
requests at once would interleave theirs — a demo ERP order rolled back with another request's savepoint.
"""

import pytest
import requests
from django.db import transaction

from demo.choices import SandboxSystem
from demo.models import CrmProduct
from demo.seed import ensure_knobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_live_server_sees_only_what_the_test_committed(live_server):
    key = ensure_knobs()[SandboxSystem.CRM].api_key
    products = f"{live_server.url}/sandbox/crm/Products"

    with transaction.atomic():
        CrmProduct.objects.create(code="UNCOMMITTED", name="Not committed yet", price=1)
        while_open = requests.get(products, headers={"User-Key": key}, timeout=10).json()["value"]
    after_commit = requests.get(products, headers={"User-Key": key}, timeout=10).json()["value"]

    assert [product["Code"] for product in while_open] == []
    assert [product["Code"] for product in after_commit] == ["UNCOMMITTED"]
