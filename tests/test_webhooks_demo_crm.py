"""The demo CRM's webhooks as Ploomes has them: registered at /Webhooks, sent on every change once it commits."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from demo import crm_deliveries
from demo.models import CrmContact, CrmOrder, CrmProduct, CrmWebhook

from .demo_crm import served_demo_crm
from .servers.webhook_catcher import WebhookCatcher

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "validation-key-5d1c"


@pytest.fixture
def crm(live_server):
    url, user_key = served_demo_crm(live_server)
    session = requests.Session()
    session.headers["User-Key"] = user_key
    yield url, session
    session.close()


@pytest.fixture
def catcher():
    with WebhookCatcher() as server:
        yield server


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(crm_deliveries, "BACKOFF_SECONDS", 0)


def register(crm, entity: int, action: int, url: str) -> int:
    base, session = crm
    answer = session.post(
        f"{base}/Webhooks", json={"EntityId": entity, "ActionId": action, "CallbackUrl": url, "ValidationKey": KEY}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["value"][0]["Id"]


def test_webhooks_are_registered_listed_and_removed(crm):
    base, session = crm
    actions = session.get(f"{base}/Webhooks@Actions").json()["value"]
    assert actions == [{"Id": 1, "Name": "Create"}, {"Id": 2, "Name": "Update"}, {"Id": 3, "Name": "Delete"}]

    first = register(crm, 4, 1, "https://portal.example/hooks/abc/")
    register(crm, 1, 2, "http://127.0.0.1:9/hooks/def/")
    listed = session.get(f"{base}/Webhooks").json()["value"]
    assert [(hook["EntityId"], hook["ActionId"], hook["CallbackUrl"]) for hook in listed] == [
        (4, 1, "https://portal.example/hooks/abc/"),
        (1, 2, "http://127.0.0.1:9/hooks/def/"),
    ]
    assert all("ValidationKey" not in hook for hook in listed)  # the key is only sent with the deliveries
    filtered = session.get(f"{base}/Webhooks", params={"$filter": "EntityId eq 4"}).json()["value"]
    assert [hook["Id"] for hook in filtered] == [first]

    assert session.delete(f"{base}/Webhooks({first})").status_code == 204
    gone = session.delete(f"{base}/Webhooks({first})")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NotFound"
    assert CrmWebhook.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"EntityId": 99, "ActionId": 1, "CallbackUrl": "https://x.example/"}, "EntityId 99 is not an entity"),
        ({"EntityId": "4", "ActionId": 1, "CallbackUrl": "https://x.example/"}, "EntityId 4 is not an entity"),
        ({"EntityId": 4, "ActionId": 7, "CallbackUrl": "https://x.example/"}, "ActionId 7 is not an action"),
        ({"EntityId": 4, "ActionId": 1, "CallbackUrl": "ftp://x.example/"}, "CallbackUrl must be an http or https"),
        ({"EntityId": 4, "ActionId": 1}, "CallbackUrl must be an http or https"),
        ({"EntityId": 4, "ActionId": 1, "CallbackUrl": "https://x.example/", "ValidationKey": 5}, "ValidationKey"),
        ([1, 2], "The body must be a JSON object."),
    ],
)
def test_a_registration_it_cannot_honour_is_answered_400_with_the_reason(crm, body, words):
    base, session = crm
    answer = session.post(f"{base}/Webhooks", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"
    assert words in answer.json()["error"]["message"]
    assert not CrmWebhook.objects.exists()


def test_the_webhooks_need_the_user_key(crm):
    base, _session = crm
    for method, path in (("GET", "/Webhooks"), ("POST", "/Webhooks"), ("GET", "/Webhooks@Actions")):
        answer = requests.request(method, f"{base}{path}", json={}, timeout=10)
        assert answer.status_code == 401, path


def order_body() -> dict:
    contact = CrmContact.objects.create(type_id=1, name="Acme", cnpj="11444777000161")
    product = CrmProduct.objects.create(name="Widget", code="W-1", price=10)
    return {"ContactId": contact.pk, "Products": [{"ProductId": product.pk, "Quantity": 3, "UnitPrice": 12.5}]}


def test_each_change_of_an_order_is_delivered_with_its_new_and_old_values_and_the_key(crm, catcher):
    base, session = crm
    for action in (1, 2, 3):
        register(crm, 4, action, f"{catcher.url}/hook")
    register(crm, 1, 1, f"{catcher.url}/contacts")  # contacts: the order's contact is created below

    created = session.post(f"{base}/Orders", json=order_body()).json()["value"][0]
    updated = session.patch(f"{base}/Orders({created['Id']})", json={"StageId": 2}).json()["value"][0]
    assert session.delete(f"{base}/Orders({created['Id']})").status_code == 204

    deliveries = [json.loads(call.body) for call in catcher.wait_for(4) if call.path == "/hook"]
    assert [(body["Entity"], body["Action"]) for body in deliveries] == [
        ("Order", "Create"),
        ("Order", "Update"),
        ("Order", "Delete"),
    ]
    create, update, delete = deliveries
    assert create["New"] == created and create["Old"] is None
    assert update["New"] == updated and update["Old"] == created
    assert (update["Old"]["StageId"], update["New"]["StageId"]) == (1, 2)
    assert delete["New"] is None and delete["Old"] == updated
    assert {body["ValidationKey"] for body in deliveries} == {KEY}
    assert all(isinstance(body["WebhookId"], int) for body in deliveries)
    contact_hooks = [json.loads(call.body) for call in catcher.deliveries() if call.path == "/contacts"]
    assert [(body["Entity"], body["Action"], body["New"]["Name"]) for body in contact_hooks] == [
        ("Contact", "Create", "Acme")
    ]
    assert all(call.headers["Content-Type"] == "application/json" for call in catcher.deliveries())


def test_a_change_made_outside_the_api_is_delivered_too(crm, catcher):
    """As the admin saves a record: the model's save, not the API."""
    register(crm, 10, 2, f"{catcher.url}/hook")
    product = CrmProduct.objects.create(name="Widget", code="W-1", price=10)
    product.price = 11
    product.save()
    (delivery,) = catcher.wait_for(1)
    body = json.loads(delivery.body)
    assert (body["Entity"], body["Action"], body["Old"]["Price"], body["New"]["Price"]) == ("Product", "Update", 10, 11)


def test_nothing_is_sent_before_the_change_commits_nor_for_a_change_rolled_back(crm, catcher):
    from django.db import transaction

    register(crm, 10, 1, f"{catcher.url}/hook")
    with pytest.raises(RuntimeError), transaction.atomic():
        CrmProduct.objects.create(name="Never", code="N-1")
        raise RuntimeError("rolled back")
    with transaction.atomic():
        CrmProduct.objects.create(name="Kept", code="K-1")
        assert catcher.deliveries() == []  # not yet: the change has not committed
    (delivery,) = catcher.wait_for(1)
    assert json.loads(delivery.body)["New"]["Name"] == "Kept"


def test_a_failed_delivery_is_retried_and_one_that_never_gets_through_is_logged(crm, catcher, caplog):
    base, session = crm
    register(crm, 4, 1, f"{catcher.url}/hook")
    catcher.answer_next(503, 500)
    answer = session.post(f"{base}/Orders", json=order_body())
    assert answer.status_code == 200
    attempts = catcher.wait_for(3)
    assert len({call.body for call in attempts}) == 1  # the same delivery each time (the receiver spots a replay)

    catcher.answer_next(*[503] * crm_deliveries.ATTEMPTS)
    with caplog.at_level(logging.WARNING, logger="demo.crm_deliveries"):
        answer = session.post(f"{base}/Orders", json={"ContactId": CrmOrder.objects.get().contact_id})
    assert answer.status_code == 200  # the CRM's request is never failed by its webhooks
    assert len(catcher.wait_for(3 + crm_deliveries.ATTEMPTS)) == 3 + crm_deliveries.ATTEMPTS
    assert "not delivered" in caplog.text and "HTTP 503" in caplog.text
    assert KEY not in caplog.text


def test_a_receiver_that_refuses_is_not_retried(crm, catcher, caplog):
    base, session = crm
    register(crm, 4, 1, f"{catcher.url}/hook")
    catcher.answer_next(401)
    with caplog.at_level(logging.WARNING, logger="demo.crm_deliveries"):
        assert session.post(f"{base}/Orders", json=order_body()).status_code == 200
    assert len(catcher.wait_for(1)) == 1
    assert "refused" in caplog.text and "HTTP 401" in caplog.text
