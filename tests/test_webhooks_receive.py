"""Webhooks in: each sender's signature accepted, a forged or stale one refused, replays and floods bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from monitoring.choices import WebhookEventStatus, WebhookVerdict
from monitoring.models import REFUSED_BODY_KEPT, RequestLog, WebhookEvent
from sync.choices import WebhookScheme
from sync.models import WebhookReceiver
from sync.webhooks import identity
from sync.webhooks.verification import hubspot_uri

from .webhook_senders import (
    BLING_SECRET,
    HMAC_SECRET,
    HUBSPOT_SECRET,
    SHARED_KEY,
    STANDARD_SECRET,
    bling_headers,
    hmac_header,
    hubspot_headers,
    standard_headers,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
CONTACT = {"type": "contact.updated", "data": {"Id": 42, "Name": "ACME Ltda", "CNPJ": "11222333000181"}}
SECRETS = (STANDARD_SECRET, HUBSPOT_SECRET, BLING_SECRET, SHARED_KEY, HMAC_SECRET)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def receiver_for(connection, scheme, secret, **fields) -> WebhookReceiver:
    return WebhookReceiver.objects.create(connection=connection, scheme=scheme, secret=secret, **fields)


def post(client, receiver, body: bytes, headers: dict, **extra):
    return client.post(
        reverse("webhook_receive", args=[receiver.token]),
        data=body,
        content_type="application/json",
        headers=headers,
        **extra,
    )


def body_of(value) -> bytes:
    return json.dumps(value).encode()


def only_event(receiver) -> WebhookEvent:
    events = list(WebhookEvent.objects.filter(receiver=receiver))
    assert len(events) == 1, events
    return events[0]


def assert_refused(response, receiver, word: str, reason_part: str):
    assert response.status_code == 401
    assert response.json() == {"error": word}
    event = only_event(receiver)
    assert event.verdict == WebhookVerdict.REFUSED
    assert event.status == WebhookEventStatus.IGNORED
    assert reason_part in str(event.refusal)
    return event


def assert_no_secret_stored():
    for event in WebhookEvent.objects.all():
        stored = json.dumps(event.headers) + event.body
        for secret in SECRETS:
            assert secret not in stored
    assert not RequestLog.objects.exists()  # the inbox is the record of a received call


# ---------------------------------------------------------------- Standard Webhooks


def test_standard_webhooks_accepts_its_signature_and_stores_the_event(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.STANDARD, STANDARD_SECRET)
    body = body_of(CONTACT)
    response = post(client, receiver, body, standard_headers(STANDARD_SECRET, "msg_2Nf8", NOW, body))
    assert response.status_code == 200
    assert response.json() == {"received": True, "replay": False}
    event = only_event(receiver)
    assert (event.verdict, event.status, event.delivery_id, event.event_type) == (
        WebhookVerdict.ACCEPTED,
        WebhookEventStatus.RECEIVED,
        "msg_2Nf8",
        "contact.updated",
    )
    assert event.received_at == NOW and event.sent_at == NOW
    assert json.loads(event.body) == CONTACT and event.body_bytes == len(body)
    assert event.headers["webhook-signature"] == "[redacted]"
    assert event.headers["webhook-id"] == "msg_2Nf8"
    assert_no_secret_stored()


def test_standard_webhooks_accepts_one_good_signature_among_several(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.STANDARD, STANDARD_SECRET)
    body = body_of(CONTACT)
    headers = standard_headers(STANDARD_SECRET, "msg_rot", NOW, body)
    headers["webhook-signature"] = "v1,b2xkLXNlY3JldA== " + headers["webhook-signature"]  # a rotated-out secret
    assert post(client, receiver, body, headers).status_code == 200


@pytest.mark.parametrize(
    ("change", "word", "reason"),
    [
        ("tampered body", "signature", "does not match"),
        ("wrong secret", "signature", "does not match"),
        ("old timestamp", "stale", "older than 5 minutes"),
        ("future timestamp", "stale", "more than 5 minutes ahead"),
        ("no signature", "headers", "webhook-signature"),
    ],
)
def test_standard_webhooks_refuses(client, crm_connection, frozen, change, word, reason):
    receiver = receiver_for(crm_connection, WebhookScheme.STANDARD, STANDARD_SECRET)
    body = body_of(CONTACT)
    secret = "whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==" if change == "wrong secret" else STANDARD_SECRET
    at = {"old timestamp": NOW - timedelta(minutes=6), "future timestamp": NOW + timedelta(minutes=6)}.get(change, NOW)
    headers = standard_headers(secret, "msg_bad", at, body)
    if change == "tampered body":
        body = body.replace(b"ACME", b"EVIL")
    if change == "no signature":
        del headers["webhook-signature"]
    assert_refused(post(client, receiver, body, headers), receiver, word, reason)
    assert_no_secret_stored()


# ---------------------------------------------------------------- HubSpot v3

HUBSPOT_EVENTS = [
    {"eventId": 100, "subscriptionType": "contact.propertyChange", "objectId": 42, "attemptNumber": 0},
    {"eventId": 101, "subscriptionType": "contact.creation", "objectId": 43, "attemptNumber": 0},
]


def test_hubspot_v3_accepts_its_signature_over_the_uri_it_called(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.HUBSPOT_V3, HUBSPOT_SECRET)
    body = body_of(HUBSPOT_EVENTS)
    uri = f"http://testserver{reverse('webhook_receive', args=[receiver.token])}"
    response = post(client, receiver, body, hubspot_headers(HUBSPOT_SECRET, "POST", uri, body, NOW))
    assert response.status_code == 200
    event = only_event(receiver)
    assert event.event_type == "contact.propertyChange contact.creation"
    assert event.delivery_id.startswith("hubspot:")
    assert event.headers["x-hubspot-signature-v3"] == "[redacted]"


def test_hubspot_v3_retry_with_a_new_attempt_number_is_a_replay(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.HUBSPOT_V3, HUBSPOT_SECRET)
    uri = f"http://testserver{reverse('webhook_receive', args=[receiver.token])}"
    first = body_of(HUBSPOT_EVENTS)
    retry = body_of([{**event, "attemptNumber": 1} for event in reversed(HUBSPOT_EVENTS)])
    assert post(client, receiver, first, hubspot_headers(HUBSPOT_SECRET, "POST", uri, first, NOW)).status_code == 200
    response = post(client, receiver, retry, hubspot_headers(HUBSPOT_SECRET, "POST", uri, retry, NOW))
    assert response.json() == {"received": True, "replay": True}
    assert only_event(receiver).replays == 1


def test_hubspot_v3_signs_the_public_uri_behind_a_proxy(client, crm_connection, frozen, settings):
    settings.PUBLIC_ORIGIN = "https://portal.example.com"
    receiver = receiver_for(crm_connection, WebhookScheme.HUBSPOT_V3, HUBSPOT_SECRET)
    body = body_of(HUBSPOT_EVENTS)
    uri = f"https://portal.example.com{reverse('webhook_receive', args=[receiver.token])}"
    assert post(client, receiver, body, hubspot_headers(HUBSPOT_SECRET, "POST", uri, body, NOW)).status_code == 200


@pytest.mark.parametrize(
    ("change", "word", "reason"),
    [
        ("tampered body", "signature", "does not match"),
        ("wrong secret", "signature", "does not match"),
        ("old timestamp", "stale", "older than 5 minutes"),
        ("another uri", "signature", "does not match"),
    ],
)
def test_hubspot_v3_refuses(client, crm_connection, frozen, change, word, reason):
    receiver = receiver_for(crm_connection, WebhookScheme.HUBSPOT_V3, HUBSPOT_SECRET)
    body = body_of(HUBSPOT_EVENTS)
    uri = f"http://testserver{reverse('webhook_receive', args=[receiver.token])}"
    if change == "another uri":
        uri = "http://testserver/hooks/another/"
    secret = "another-client-secret" if change == "wrong secret" else HUBSPOT_SECRET
    at = NOW - timedelta(minutes=5, seconds=1) if change == "old timestamp" else NOW
    headers = hubspot_headers(secret, "POST", uri, body, at)
    if change == "tampered body":
        body = body.replace(b"42", b"666")
    assert_refused(post(client, receiver, body, headers), receiver, word, reason)


def test_hubspot_uri_decoding_follows_its_table():
    assert hubspot_uri("https://p.example/hooks/x/?a=%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20") == (
        "https://p.example/hooks/x/?a=:/?@!$'()*,;&b=%20"
    )


# ---------------------------------------------------------------- Bling, shared key, plain HMAC


def test_bling_accepts_its_signature_and_refuses_a_tampered_body_or_wrong_secret(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET)
    body = body_of({"event": "order.created", "data": {"id": 12345, "total": 129.9}})
    assert post(client, receiver, body, bling_headers(BLING_SECRET, body)).status_code == 200
    event = only_event(receiver)
    assert event.event_type == "order.created"
    assert event.delivery_id.startswith("sha256:")
    WebhookEvent.objects.all().delete()
    tampered = post(client, receiver, body.replace(b"12345", b"12346"), bling_headers(BLING_SECRET, body))
    assert_refused(tampered, receiver, "signature", "does not match")
    WebhookEvent.objects.all().delete()
    wrong = post(client, receiver, body, bling_headers("not-the-client-secret", body))
    assert_refused(wrong, receiver, "signature", "does not match")
    assert_no_secret_stored()


def test_shared_key_in_a_named_header(client, crm_connection, frozen):
    receiver = receiver_for(
        crm_connection,
        WebhookScheme.SHARED_KEY,
        SHARED_KEY,
        signature_header="X-Validation-Key",
        event_type_path="Action",
    )
    body = body_of({"Action": "Update", "Entity": "Contact", "New": {"Id": 42}})
    assert post(client, receiver, body, {"X-Validation-Key": SHARED_KEY}).status_code == 200
    event = only_event(receiver)
    assert event.event_type == "Update"
    assert event.headers["x-validation-key"] == "[redacted]"
    WebhookEvent.objects.all().delete()
    wrong = post(client, receiver, body, {"X-Validation-Key": SHARED_KEY + "x"})
    assert_refused(wrong, receiver, "signature", "The key in the X-Validation-Key header is wrong")
    assert_no_secret_stored()


def test_shared_key_in_the_body_as_ploomes_sends_it_with_its_event_type_from_a_template(client, crm_connection, frozen):
    receiver = receiver_for(
        crm_connection,
        WebhookScheme.SHARED_KEY,
        SHARED_KEY,
        key_path="ValidationKey",
        event_type_path="{Entity}.{Action}",
    )
    delivery = {"Action": "Create", "Entity": "Order", "New": {"Id": 7}, "Old": None, "ValidationKey": SHARED_KEY}
    assert post(client, receiver, body_of(delivery), {}).status_code == 200
    event = only_event(receiver)
    assert (event.verdict, event.event_type) == (WebhookVerdict.ACCEPTED, "Order.Create")
    assert json.loads(event.body)["ValidationKey"] == "[redacted]"
    assert_no_secret_stored()

    WebhookEvent.objects.all().delete()
    wrong = post(client, receiver, body_of({**delivery, "ValidationKey": SHARED_KEY + "x"}), {})
    assert_refused(wrong, receiver, "signature", "The key at ValidationKey of the body is wrong")
    WebhookEvent.objects.all().delete()
    keyless = post(client, receiver, body_of({"Action": "Create", "Entity": "Order"}), {})
    assert_refused(keyless, receiver, "headers", "The body carries no key at ValidationKey")
    WebhookEvent.objects.all().delete()
    assert_refused(post(client, receiver, b"not json", {}), receiver, "headers", "carries no key")


@pytest.mark.parametrize(
    ("template", "item", "expected"),
    [
        ("{Entity}.{Action}", {"Entity": "Order", "Action": "Update"}, "Order.Update"),
        ("{ data.kind } / {Action}", {"data": {"kind": 4}, "Action": "Delete"}, "4 / Delete"),
        ("{Entity}.{Action}", {"Entity": "Order"}, ""),  # one part missing: no type
        ("{Entity}.{Action}", {"Entity": {"Id": 4}, "Action": "Create"}, ""),  # not a value
        ("Action", {"Action": "Create"}, "Create"),  # a plain path
    ],
)
def test_an_event_type_template_puts_the_values_of_its_paths_together(template, item, expected):
    assert identity.item_event_type(WebhookScheme.SHARED_KEY, item, template) == expected
    assert identity.event_type(WebhookScheme.SHARED_KEY, body_of(item), template) == expected


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({}, "signature_header", "Name the header the key comes in, or its path in the body."),
        ({"key_path": "ValidationKey", "event_type_path": "{Entity}.{Action"}, "event_type_path", "every brace"),
        ({"key_path": "ValidationKey", "event_type_path": "{}.{Action}"}, "event_type_path", "every brace"),
    ],
)
def test_a_shared_key_receiver_needs_where_the_key_is_and_a_readable_template(crm_connection, fields, field, words):
    receiver = WebhookReceiver(connection=crm_connection, scheme=WebhookScheme.SHARED_KEY, secret=SHARED_KEY, **fields)
    with pytest.raises(ValidationError) as refused:
        receiver.full_clean()
    assert words in " ".join(refused.value.message_dict[field])


@pytest.mark.parametrize("prefix", ["sha256=", ""])
def test_plain_hmac_with_or_without_prefix(client, crm_connection, frozen, prefix):
    receiver = receiver_for(
        crm_connection,
        WebhookScheme.HMAC_SHA256,
        HMAC_SECRET,
        signature_header="X-Hub-Signature-256",
        delivery_id_header="X-GitHub-Delivery",
    )
    body = body_of({"action": "opened", "number": 7})
    headers = {"X-Hub-Signature-256": hmac_header(HMAC_SECRET, body, prefix=prefix), "X-GitHub-Delivery": "d-7"}
    assert post(client, receiver, body, headers).status_code == 200
    assert only_event(receiver).delivery_id == "d-7"
    WebhookEvent.objects.all().delete()
    tampered = post(client, receiver, body + b" ", headers)
    assert_refused(tampered, receiver, "signature", "does not match")
    WebhookEvent.objects.all().delete()
    wrong = {**headers, "X-Hub-Signature-256": hmac_header("wrong", body, prefix=prefix)}
    assert_refused(post(client, receiver, body, wrong), receiver, "signature", "does not match")


# ---------------------------------------------------------------- replays, sizes, addresses


def test_a_replayed_delivery_id_is_answered_and_counted_but_stored_once(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.STANDARD, STANDARD_SECRET)
    body = body_of(CONTACT)
    headers = standard_headers(STANDARD_SECRET, "msg_once", NOW, body)
    answers = [post(client, receiver, body, headers).json() for _ in range(3)]
    assert answers == [{"received": True, "replay": False}, *[{"received": True, "replay": True}] * 2]
    event = only_event(receiver)
    assert (event.replays, event.last_replay_at) == (2, NOW)


def test_a_forged_delivery_does_not_take_the_id_of_the_real_one(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.STANDARD, STANDARD_SECRET)
    body = body_of(CONTACT)
    forged = standard_headers("whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0", "msg_real", NOW, body)
    assert post(client, receiver, body, forged).status_code == 401
    real = post(client, receiver, body, standard_headers(STANDARD_SECRET, "msg_real", NOW, body))
    assert real.json() == {"received": True, "replay": False}
    verdicts = sorted(WebhookEvent.objects.filter(delivery_id="msg_real").values_list("verdict", flat=True))
    assert verdicts == [WebhookVerdict.ACCEPTED, WebhookVerdict.REFUSED]


def test_a_body_over_the_cap_is_refused_unread_and_only_the_refusal_is_stored(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET, max_body_bytes=2048)
    body = b'{"event": "order.created", "pad": "' + b"x" * 5000 + b'"}'
    response = post(client, receiver, body, bling_headers(BLING_SECRET, body))
    assert response.status_code == 413
    assert response.json() == {"error": "too large"}
    event = only_event(receiver)
    assert (event.verdict, event.body, event.body_bytes) == (WebhookVerdict.REFUSED, "", len(body))
    assert "larger than the receiver's cap of 2048 bytes" in str(event.refusal)


def test_a_refused_delivery_keeps_only_the_first_bytes_of_its_body(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET)
    body = b'{"pad": "' + b"y" * 100_000 + b'"}'
    post(client, receiver, body, bling_headers("wrong", body))
    event = only_event(receiver)
    assert len(event.body.encode()) == REFUSED_BODY_KEPT and event.body_bytes == len(body)


def test_without_a_content_length_the_delivery_is_refused(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET)
    response = client.generic("POST", reverse("webhook_receive", args=[receiver.token]), b"", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert "no Content-Length" in str(only_event(receiver).refusal)


def test_unknown_or_inactive_addresses_are_404_and_store_nothing(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET, active=False)
    body = body_of({"event": "x"})
    assert post(client, receiver, body, bling_headers(BLING_SECRET, body)).status_code == 404
    unknown = client.post("/hooks/not-a-token/", data=body, content_type="application/json")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not found"}
    assert not WebhookEvent.objects.exists()


def test_only_post_is_served(client, crm_connection):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET)
    url = reverse("webhook_receive", args=[receiver.token])
    assert [client.get(url).status_code, client.put(url).status_code, client.delete(url).status_code] == [405] * 3
    assert not WebhookEvent.objects.exists()


def test_a_new_address_retires_the_old_one(client, crm_connection, frozen):
    receiver = receiver_for(crm_connection, WebhookScheme.BLING, BLING_SECRET)
    old = receiver.token
    receiver.new_address()
    body = body_of({"event": "x"})
    assert client.post(f"/hooks/{old}/", data=body, content_type="application/json").status_code == 404
    assert post(client, receiver, body, bling_headers(BLING_SECRET, body)).status_code == 200
    assert len(receiver.token) == 43 and receiver.token != old
