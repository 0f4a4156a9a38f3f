"""The REST connector against a real local HTTP server (tests/servers/rest_api.py), no mocks."""

import base64
import dataclasses
import itertools
import logging
from datetime import UTC, timedelta

import pytest

from core.redaction import MASK
from sync.connectors import connector_for, rest
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.connectors.rest import (
    RestConnector,
    collection_path,
    incremental_params,
    record_path,
    split_method,
    token_lifetime,
)
from tests.processes import wait_until
from tests.servers.rest_api import FakeRestApi

API_KEY = "ploomes-key-5d1c9e"
PASSWORD = "basic-pass-7f3b21"
TOKEN = "bearer-tok-a8c4e0"
CLIENT_SECRET = "oauth-secret-2e6d94"

AUTHS = {
    "basic": (
        {"auth": "basic", "username": "integration", "password": PASSWORD},
        {"auth_kind": "basic", "username": "integration", "password": PASSWORD},
    ),
    "bearer": ({"auth": "bearer", "token": TOKEN}, {"auth_kind": "bearer", "token": TOKEN}),
    "api_key": (
        {"auth": "api_key", "api_key_header": "User-Key", "api_key": API_KEY},
        {"auth_kind": "api_key", "api_key_header": "User-Key", "api_key": API_KEY},
    ),
    "oauth2": (
        {"auth": "oauth2", "client_id": "portal", "client_secret": CLIENT_SECRET},
        {"auth_kind": "oauth2", "client_id": "portal", "client_secret": CLIENT_SECRET},
    ),
}
WRONG = {
    "password": "wrong-pass-91",
    "token": "wrong-tok-91",
    "api_key": "wrong-key-91",
    "client_secret": "wrong-sec-91",
}


@pytest.fixture
def serve():
    """Start fake APIs; every one is stopped on teardown, also when the test fails."""
    servers = []

    def start(**options):
        server = FakeRestApi(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api(serve):
    return serve()


@pytest.fixture
def calls():
    return []


def make_config(api, **overrides):
    values = {
        "name": "CRM",
        "kind": "rest",
        "base_url": api.url,
        "timeout_seconds": 2,
        "max_retries": 2,
        "backoff_seconds": 0.01,
        "max_retry_after_seconds": 5,
        "pagination": "odata",  # Ploomes-shaped unless a test says otherwise
        "records_path": "value",
    }
    if overrides.get("auth_kind") == "oauth2":
        values["oauth_token_url"] = f"{api.url}/oauth/token"
    return ConnectionConfig(**{**values, **overrides})


@pytest.fixture
def connect(calls):
    """Build connectors logging into ``calls``; closed on teardown."""
    made = []

    def build(api, **overrides):
        connector = RestConnector(make_config(api, **overrides), calls.append)
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def read_all(connector, source_object, **request):
    """Follow next tokens to the end: (records, tokens)."""
    records, tokens, token = [], [], None
    for _ in range(50):
        page = connector.read_page(ReadRequest(source_object=source_object, page_token=token, **request))
        records += page.records
        tokens.append(page.next_token)
        token = page.next_token
        if token is None:
            return records, tokens
    raise AssertionError("pagination never ended")


def everything_logged(calls, errors=(), caplog=None) -> str:
    text = "\n".join(repr(dataclasses.asdict(call)) for call in calls)
    text += "\n".join(str(error) for error in errors)
    return text + (caplog.text if caplog is not None else "")


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer", "api_key", "oauth2"])
def test_each_auth_reaches_the_api(serve, connect, calls, auth):
    server_auth, config_auth = AUTHS[auth]
    api = serve(**server_auth)
    api.add_contacts(2)
    connector = connect(api, pagination="odata", records_path="value", **config_auth)

    page = connector.read_page(ReadRequest(source_object="/Contacts"))

    assert [r["Id"] for r in page.records] == [1, 2]
    assert calls[-1].status_code == 200


def test_api_key_travels_in_the_configured_header(api, connect):
    api.auth, api.api_key = "api_key", API_KEY
    connect(api, auth_kind="api_key", api_key_header="User-Key", api_key=API_KEY).read_page(
        ReadRequest(source_object="/Contacts")
    )

    assert api.requests_to("/Contacts")[0].headers["User-Key"] == API_KEY


@pytest.mark.parametrize(
    ("auth", "advice"),
    [
        ("basic", "check the username and password"),
        ("bearer", "check the bearer token"),
        ("api_key", "check the API key"),
    ],
)
def test_wrong_credentials_give_a_helpful_non_retryable_error(serve, connect, calls, auth, advice):
    server_auth, config_auth = AUTHS[auth]
    api = serve(**server_auth)
    secret_field = {"basic": "password", "bearer": "token", "api_key": "api_key"}[auth]
    connector = connect(api, **{**config_auth, secret_field: WRONG[secret_field]})

    with pytest.raises(ConnectorError) as caught:
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert str(caught.value) == f"CRM answered 401 Unauthorized: {advice}."
    assert not caught.value.retryable
    assert caught.value.status_code == 401
    assert len(calls) == 1  # not retried
    assert WRONG[secret_field] not in everything_logged(calls, [caught.value])


def test_oauth2_token_is_fetched_once_and_reused(serve, connect, calls):
    api = serve(**AUTHS["oauth2"][0])
    connector = connect(api, **AUTHS["oauth2"][1])

    for _ in range(3):
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert len(api.requests_to("/oauth/token")) == 1
    assert [call.operation for call in calls] == ["token", "read", "read", "read"]


def test_oauth2_token_is_fetched_again_shortly_before_it_expires(serve, connect):
    api = serve(**AUTHS["oauth2"][0], token_lifetime=120)
    connector = connect(api, **AUTHS["oauth2"][1])
    now = [1000.0]
    connector.auth.clock = lambda: now[0]

    connector.read_page(ReadRequest(source_object="/Contacts"))
    now[0] += 100  # within 120 s minus the margin: reused
    connector.read_page(ReadRequest(source_object="/Contacts"))
    assert len(api.requests_to("/oauth/token")) == 1
    now[0] += 10  # past 120 s minus 12 s of margin
    connector.read_page(ReadRequest(source_object="/Contacts"))

    assert len(api.requests_to("/oauth/token")) == 2


def test_oauth2_token_is_fetched_again_once_on_401(serve, connect, calls):
    api = serve(**AUTHS["oauth2"][0])
    connector = connect(api, **AUTHS["oauth2"][1])
    connector.read_page(ReadRequest(source_object="/Contacts"))
    api.revoke_tokens()

    connector.read_page(ReadRequest(source_object="/Contacts"))

    assert [(c.operation, c.status_code) for c in calls] == [
        ("token", 200),
        ("read", 200),
        ("read", 401),
        ("token", 200),
        ("read", 200),
    ]


def test_oauth2_refused_client_secret_is_reported_without_the_secret(serve, connect, calls):
    api = serve(**AUTHS["oauth2"][0])
    connector = connect(api, **{**AUTHS["oauth2"][1], "client_secret": WRONG["client_secret"]})

    with pytest.raises(ConnectorError) as caught:
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert str(caught.value) == ("The OAuth2 token endpoint answered 401 Unauthorized: check the client id and secret.")
    assert not caught.value.retryable
    assert api.requests_to("/Contacts") == []
    assert WRONG["client_secret"] not in everything_logged(calls, [caught.value])


# --- pagination -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pagination", "source", "records_path", "pages"),
    [
        # A short page is no proof of the end (servers cap their pages): one more call reads an empty page.
        ("odata", "/Contacts", "value", 4),
        ("page", "/paged/contacts", "data.items", 4),
        ("offset", "/offset/contacts", "", 4),
        ("next_link", "/linked/contacts", "results", 3),
        ("cursor", "/cursor/contacts", "items", 3),
        ("none", "/plain/contacts", "data.items", 1),
    ],
)
def test_each_pagination_reads_every_record_exactly_once(api, connect, pagination, source, records_path, pages):
    api.add_contacts(7)
    connector = connect(api, pagination=pagination, records_path=records_path, page_size=3)

    records, tokens = read_all(connector, source)

    assert [r["Id"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert len(tokens) == pages


@pytest.mark.parametrize(
    ("pagination", "source", "records_path"),
    [("odata", "/Contacts", "value"), ("page", "/paged/contacts", "data.items"), ("offset", "/offset/contacts", "")],
)
def test_a_server_that_caps_its_pages_is_read_whole(api, connect, pagination, source, records_path):
    api.add_contacts(7)
    api.page_cap = 2  # asked for 5, it answers 2: every page looks "short"
    connector = connect(api, pagination=pagination, records_path=records_path, page_size=5)

    records, tokens = read_all(connector, source)

    assert [r["Id"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert len(tokens) == 5  # 2 + 2 + 2 + 1, then the empty page that ends it


def test_a_reported_total_or_no_more_flag_ends_the_paging_without_an_empty_call():
    assert rest.odata_next_skip("https://x/C?$top=3&$skip=3", 3, total=6) is None
    assert rest.odata_next_skip("https://x/C?$top=3&$skip=3", 3, total=7) == "6"
    assert rest.odata_next_skip("https://x/C?$top=3&$skip=3", 0) is None
    assert rest.reported_total({"@odata.count": 12, "value": []}) == 12
    assert rest.reported_total({"total_de_registros": 40}) == 40
    assert rest.says_no_more({"hasMoreResult": False}) and not rest.says_no_more({"hasMoreResult": True})


def test_count_based_tokens_carry_the_next_skip_page_or_offset(api, connect):
    api.add_contacts(6)

    _, odata = read_all(connect(api, pagination="odata", records_path="value", page_size=3), "/Contacts")
    _, paged = read_all(connect(api, pagination="page", records_path="data.items", page_size=3), "/paged/contacts")
    _, offset = read_all(connect(api, pagination="offset", records_path="", page_size=3), "/offset/contacts")

    # A full last page needs one more (empty) page to know it was the last.
    assert odata == ["3", "6", None]
    assert paged == ["2", "3", None]
    assert offset == ["3", "6", None]


def test_link_and_cursor_tokens_are_the_link_and_the_cursor(api, connect):
    api.add_contacts(4)

    _, links = read_all(connect(api, pagination="next_link", records_path="results"), "/linked/contacts")
    _, cursors = read_all(connect(api, pagination="cursor", records_path="items", page_size=3), "/cursor/contacts")

    assert links == [f"{api.url}/linked/contacts?after=3&limit=3", None]
    assert cursors == [base64.urlsafe_b64encode(b"3").decode(), None]


def test_odata_server_side_paging_follows_next_link(serve, connect):
    api = serve(odata_max_top=2)  # the server returns 2 even when asked for 5
    api.add_contacts(7)
    connector = connect(api, pagination="odata", records_path="value", page_size=5)

    records, _ = read_all(connector, "/Contacts")

    assert [r["Id"] for r in records] == [1, 2, 3, 4, 5, 6, 7]


def test_a_next_link_to_another_server_is_refused(api, connect):
    connector = connect(api, pagination="next_link", records_path="results", auth_kind="bearer", token=TOKEN)

    with pytest.raises(ConnectorError, match="another server"):
        connector.read_page(ReadRequest(source_object="/linked/contacts", page_token="http://evil.example/steal"))


def test_a_wrong_records_path_says_what_the_response_holds(api, connect):
    connector = connect(api, pagination="odata", records_path="data.items")

    with pytest.raises(ConnectorError) as caught:
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert "has no data.items" in str(caught.value)
    assert "@odata.context, value" in str(caught.value)


def test_incremental_filter_is_sent_with_the_cursor(api, connect, calls):
    api.add_contacts(10)  # LastUpdateDate 2024-01-02 … 2024-01-11
    connector = connect(api, pagination="odata", records_path="value", page_size=50)

    records, _ = read_all(
        connector,
        "/Contacts",
        cursor="2024-01-08T10:00:00Z",
        incremental_filter="$filter=LastUpdateDate gt {cursor}",
    )

    assert [r["Id"] for r in records] == [8, 9, 10]
    assert api.requests_to("/Contacts")[0].query["$filter"] == "LastUpdateDate gt 2024-01-08T10:00:00Z"
    assert "$filter=LastUpdateDate%20gt%202024-01-08T10:00:00Z" in calls[0].url


def test_incremental_filter_joins_a_fixed_filter_and_is_left_out_without_cursor(api, connect):
    api.add_contacts(10)
    connector = connect(api, pagination="odata", records_path="value", page_size=50)
    request = {"incremental_filter": "$filter=LastUpdateDate gt {cursor}", "arguments": {"$filter": "Id le 9"}}

    first_run, _ = read_all(connector, "/Contacts", **request)
    next_run, _ = read_all(connector, "/Contacts", cursor="2024-01-08T10:00:00Z", **request)

    assert len(first_run) == 9
    assert [r["Id"] for r in next_run] == [8, 9]
    assert api.requests_to("/Contacts")[-1].query["$filter"] == "(Id le 9) and (LastUpdateDate gt 2024-01-08T10:00:00Z)"


# --- writes and find --------------------------------------------------------------------------


def test_odata_create_update_replace_and_delete(api, connect, calls):
    connector = connect(api, pagination="odata", records_path="value")

    created = connector.create("/Contacts", {"Name": "Ana", "Email": "ana@example.com"}, key_field="Email")
    key = created["Id"]
    patched = connector.update("/Contacts({id})", key, {"Name": "Ana Maria"})
    assert patched == {"Id": key, "Name": "Ana Maria", "Email": "ana@example.com"}
    connector.update("PUT /Contacts({id})", key, {"Name": "Only name"})
    assert api.contacts() == [{"Id": key, "Name": "Only name"}]
    connector.delete("PUT /Contacts({id})", key)  # the update object: its PUT is not the delete's method

    assert api.contacts() == []
    assert [(c.method, c.url.removeprefix(api.url), c.status_code) for c in calls] == [
        ("POST", "/Contacts", 200),
        ("PATCH", f"/Contacts({key})", 200),
        ("PUT", f"/Contacts({key})", 200),
        ("DELETE", f"/Contacts({key})", 204),
    ]


def test_plain_writes_append_the_id_when_there_is_no_template(api, connect, calls):
    connector = connect(api, pagination="none", records_path="data.items")

    created = connector.create("/plain/contacts", {"Name": "Bo", "Email": "bo@example.com"})
    connector.update("/plain/contacts", created["Id"], {"Name": "Bob"})
    assert api.contacts() == [{"Id": created["Id"], "Name": "Bob", "Email": "bo@example.com"}]
    connector.delete("/plain/contacts/", created["Id"])

    assert api.contacts() == []
    assert calls[1].url == f"{api.url}/plain/contacts/{created['Id']}"


def test_odata_find_quotes_the_value(api, connect, calls):
    api.add_contact(Name="O'Brien", Email="ob@example.com")
    connector = connect(api, pagination="odata", records_path="value")

    assert connector.find("/Contacts({id})", "Name", "O'Brien")["Email"] == "ob@example.com"
    assert connector.find("/Contacts", "Name", "Nobody") is None
    assert api.requests_to("/Contacts")[0].query["$filter"] == "Name eq 'O''Brien'"


def test_find_without_odata_uses_a_query_parameter(api, connect):
    api.add_contacts(3)
    connector = connect(api, pagination="offset", records_path="")

    assert connector.find("/offset/contacts", "Email", "c2@example.com")["Id"] == 2
    assert api.requests_to("/offset/contacts")[0].query == {"Email": "c2@example.com"}


def test_find_refuses_to_guess_between_two_matches(api, connect):
    api.add_contact(Name="Twin", Email="t1@example.com")
    api.add_contact(Name="Twin", Email="t2@example.com")
    connector = connect(api, pagination="odata", records_path="value")

    with pytest.raises(ConnectorError) as caught:
        connector.find("/Contacts", "Name", "Twin")

    assert caught.value.record_level
    assert "More than one record" in str(caught.value)


def test_a_refused_record_write_is_record_level(api, connect):
    connector = connect(api, pagination="odata", records_path="value")

    with pytest.raises(ConnectorError) as caught:
        connector.update("/Contacts({id})", "999", {"Name": "x"})

    assert caught.value.record_level
    assert not caught.value.retryable
    assert str(caught.value) == "CRM answered 404 Not Found to PATCH /Contacts(999): check the path."


def test_a_refused_credential_on_a_write_stops_the_run(serve, connect):
    api = serve(**AUTHS["api_key"][0])
    connector = connect(api, **{**AUTHS["api_key"][1], "api_key": WRONG["api_key"]})

    with pytest.raises(ConnectorError) as caught:
        connector.create("/Contacts", {"Name": "x"})

    assert not caught.value.record_level
    assert not caught.value.retryable


def test_delete_retried_after_a_lost_answer_counts_the_404_as_done(api, connect, calls):
    record = api.add_contact(Name="Gone")
    api.fail_after_next(1, 502, method="DELETE")
    connector = connect(api)

    connector.delete("/Contacts({id})", record["Id"])

    assert api.contacts() == []
    assert [c.status_code for c in calls] == [502, 404]


# --- retries ------------------------------------------------------------------------------------


def test_500_is_retried_and_every_attempt_is_a_call_record(api, connect, calls):
    api.add_contacts(1)
    api.fail_next(2, 500)
    connector = connect(api, pagination="odata", records_path="value")

    page = connector.read_page(ReadRequest(source_object="/Contacts"))

    assert len(page.records) == 1
    assert [(c.attempt, c.status_code) for c in calls] == [(1, 500), (2, 500), (3, 200)]
    assert all(c.started_at.tzinfo == UTC and c.started_at <= c.finished_at for c in calls)


def test_429_honours_retry_after(api, connect, calls):
    api.fail_next(1, 429, retry_after="1")
    connector = connect(api, pagination="odata", records_path="value")

    connector.read_page(ReadRequest(source_object="/Contacts"))

    assert [c.status_code for c in calls] == [429, 200]
    assert calls[1].started_at - calls[0].finished_at >= timedelta(seconds=1)


def test_retry_after_is_capped(api, connect, calls):
    api.fail_next(1, 503, retry_after="3600")
    connector = connect(api, max_retry_after_seconds=0.2)

    connector.read_page(ReadRequest(source_object="/Contacts"))

    gap = calls[1].started_at - calls[0].finished_at
    assert timedelta(seconds=0.2) <= gap < timedelta(seconds=1)


def test_retries_run_out_with_a_retryable_error(api, connect, calls):
    api.fail_next(5, 503)
    connector = connect(api, max_retries=2)

    with pytest.raises(ConnectorError) as caught:
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert caught.value.retryable
    assert str(caught.value).startswith("CRM answered 503 Service Unavailable to GET /Contacts: Injected failure 503")
    assert str(caught.value).endswith("(3 attempts)")
    assert len(calls) == 3


def test_a_timeout_is_retried_then_reported_as_retryable(api, connect, calls):
    api.delay_next(3, seconds=2)
    connector = connect(api, timeout_seconds=0.2, max_retries=2)

    with pytest.raises(ConnectorError) as caught:
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert caught.value.retryable
    assert str(caught.value) == f"Timed out after 0.2 s reaching {api.url}/Contacts."
    assert [(c.attempt, c.status_code) for c in calls] == [(1, None), (2, None), (3, None)]
    assert all(c.error.startswith("Timed out") for c in calls)
    assert wait_until(lambda: len(api.requests_to("/Contacts")) == 3)


def test_a_dropped_connection_is_retried(api, connect, calls):
    api.add_contacts(2)
    api.drop_next(1)
    connector = connect(api, pagination="odata", records_path="value")

    page = connector.read_page(ReadRequest(source_object="/Contacts"))

    assert len(page.records) == 2
    assert [c.status_code for c in calls] == [None, 200]
    assert "dropped the connection" in calls[0].error


def test_malformed_json_is_a_clear_non_retryable_error(api, connect):
    api.malformed_next(1)
    connector = connect(api, records_path="value")

    with pytest.raises(ConnectorError) as caught:
        connector.read_page(ReadRequest(source_object="/Contacts"))

    assert str(caught.value) == 'The response is not JSON: {"value": [{"Id": 1, "Name":'
    assert not caught.value.retryable


@pytest.mark.parametrize("failure", [500, 0], ids=["500 after create", "dropped after create"])
def test_a_create_that_failed_after_creating_is_not_duplicated(api, connect, calls, failure):
    api.fail_after_next(1, failure)
    connector = connect(api, pagination="odata", records_path="value")

    created = connector.create("/Contacts", {"Name": "Ana", "Email": "ana@example.com"}, key_field="Email")

    assert api.contacts(Email="ana@example.com") == [created]
    assert len(api.contacts()) == 1
    assert [(c.method, c.operation) for c in calls] == [("POST", "create"), ("GET", "find")]


def test_a_create_that_failed_before_creating_is_retried_once_found_missing(api, connect, calls):
    api.fail_next(1, 500, method="POST")
    connector = connect(api, pagination="odata", records_path="value")

    connector.create("/Contacts", {"Name": "Ana", "Email": "ana@example.com"}, key_field="Email")

    assert len(api.contacts(Email="ana@example.com")) == 1
    assert [(c.method, c.status_code) for c in calls] == [("POST", 500), ("GET", 200), ("POST", 200)]


def test_a_create_refused_with_429_is_retried_without_a_lookup(api, connect, calls):
    api.fail_next(1, 429, retry_after="0", method="POST")
    connector = connect(api, pagination="odata", records_path="value")

    connector.create("/Contacts", {"Email": "ana@example.com"}, key_field="Email")

    assert [(c.method, c.status_code) for c in calls] == [("POST", 429), ("POST", 200)]
    assert len(api.contacts()) == 1


def test_a_create_without_key_is_not_retried_blindly(api, connect, calls):
    api.fail_after_next(1, 500)
    connector = connect(api, pagination="odata", records_path="value")

    with pytest.raises(ConnectorError) as caught:
        connector.create("/Contacts", {"Name": "Ana"})

    assert "not retried" in str(caught.value)
    assert len(api.contacts()) == 1
    assert [c.method for c in calls] == ["POST"]


def test_rate_limit_spaces_the_calls(api, connect, calls):
    connector = connect(api, rate_limit_per_minute=1200)  # one call every 50 ms

    for _ in range(4):
        connector.read_page(ReadRequest(source_object="/Contacts"))

    gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(calls)]
    assert all(gap >= timedelta(seconds=0.045) for gap in gaps)


# --- what is logged -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer", "api_key", "oauth2"])
def test_secrets_never_reach_a_call_record_an_error_or_a_log_line(serve, connect, calls, caplog, auth):
    caplog.set_level(logging.DEBUG)
    server_auth, config_auth = AUTHS[auth]
    api = serve(**server_auth)
    api.add_contacts(2)
    connector = connect(
        api, pagination="odata", records_path="value", timeout_seconds=0.2, max_retries=1, **config_auth
    )
    errors = []

    connector.read_page(ReadRequest(source_object="/Contacts"))
    connector.create("/echo", {"note": "echo my headers back"})  # the server echoes every header
    api.delay_next(2, seconds=2)
    with pytest.raises(ConnectorError) as timed_out:
        connector.read_page(ReadRequest(source_object="/Contacts"))
    errors.append(timed_out.value)
    api.auth = "api_key" if auth != "api_key" else "bearer"  # now every credential is refused and echoed
    with pytest.raises(ConnectorError) as refused:
        connector.create("/Contacts", {"Email": "x@example.com"}, key_field="Email")
    errors.append(refused.value)

    secrets = [API_KEY, PASSWORD, TOKEN, CLIENT_SECRET, *api.all_tokens]
    secrets.append(base64.b64encode(f"integration:{PASSWORD}".encode()).decode())
    logged = everything_logged(calls, errors, caplog)
    assert MASK in logged
    assert [secret for secret in secrets if secret in logged] == []


def test_bodies_are_truncated_to_the_body_limit(api, connect, calls):
    api.add_contacts(20)
    connector = connect(api, pagination="odata", records_path="value", body_limit=80)

    connector.read_page(ReadRequest(source_object="/Contacts"))
    connector.create("/Contacts", {"Name": "x" * 500})

    assert calls[0].response_body.startswith('{"@odata.context"')
    assert calls[0].response_body.endswith("characters cut]")
    assert len(calls[0].response_body) < 120
    assert calls[1].request_body.startswith('{"Name": "xxx')
    assert len(calls[1].request_body) < 120


# --- test_connection ----------------------------------------------------------------------------


def test_connection_verdict_when_connected(serve, connect):
    api = serve(**AUTHS["api_key"][0])
    verdict = connect(api, **AUTHS["api_key"][1]).test_connection()

    assert verdict.ok
    assert verdict.message.startswith(
        "Connected: GET / (the base URL: no active table reads from this connection and no test path is set) "
        "answered 200 in "
    )
    assert verdict.message.endswith(" ms.")
    assert api.requests_to("/")[0].headers["User-Key"] == API_KEY


def test_connection_verdict_when_refused(serve, connect):
    api = serve(**AUTHS["api_key"][0])
    verdict = connect(api, **{**AUTHS["api_key"][1], "api_key": WRONG["api_key"]}).test_connection()

    assert not verdict.ok
    assert verdict.message == (
        f"Refused: GET / answered 401 Unauthorized — check the API key. The server said: “Invalid credentials: {MASK}”."
    )


def test_connection_verdict_for_a_wrong_path(api, connect):
    verdict = connect(api, test_path="/nothing").test_connection()

    assert not verdict.ok
    assert verdict.message == (
        "Not found: GET /nothing answered 404 Not Found — check the test path. "
        "The server said: “No route for GET /nothing”."
    )


def test_connection_verdict_when_the_token_endpoint_refuses(serve, connect):
    api = serve(**AUTHS["oauth2"][0])
    verdict = connect(api, **{**AUTHS["oauth2"][1], "client_secret": WRONG["client_secret"]}).test_connection()

    assert verdict == dataclasses.replace(
        verdict,
        ok=False,
        message="The OAuth2 token endpoint answered 401 Unauthorized: check the client id and secret. "
        "The server said: “Unknown client portal”.",
    )
    assert api.requests_to("/") == []


def test_connection_verdict_when_it_times_out_tries_once(api, connect, calls):
    api.delay_next(1, seconds=2)
    verdict = connect(api, timeout_seconds=0.2).test_connection()

    assert verdict.message == f"Timed out after 0.2 s reaching {api.url}."
    assert len(calls) == 1


def test_connection_verdict_when_nobody_listens(serve, connect):
    api = serve()
    connector = connect(api)
    api.stop()

    verdict = connector.test_connection()

    assert not verdict.ok
    assert verdict.message == f"Could not connect to {api.url}: check the address and that the server is up."


# --- connector_for and pure helpers --------------------------------------------------------------


def test_connector_for_rest_and_unknown_kinds(api):
    assert isinstance(connector_for(make_config(api)), RestConnector)
    with pytest.raises(ConnectorError, match="cannot be used yet"):
        connector_for(make_config(api, kind="webhook"))


def test_connector_for_soap_picks_the_soap_connector(api, monkeypatch):
    soap = pytest.importorskip("sync.connectors.soap")
    monkeypatch.setattr(soap, "SoapConnector", lambda config, call_log, budget: ("soap", config.name))

    assert connector_for(make_config(api, kind="soap")) == ("soap", "CRM")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/Contacts({id})", ("PATCH", "/Contacts({id})")),
        ("PUT /Contacts({id})", ("PUT", "/Contacts({id})")),
        ("put /contacts/{id}", ("PUT", "/contacts/{id}")),
    ],
)
def test_split_method(target, expected):
    assert split_method(target, "PATCH") == expected


def test_paths_and_templates():
    assert collection_path("/Contacts({id})") == "/Contacts"
    assert collection_path("/Contacts('{id}')") == "/Contacts"
    assert collection_path("/api/contacts/{id}") == "/api/contacts"
    assert record_path("/Contacts({id})", 5) == "/Contacts(5)"
    assert record_path("/api/contacts", "a/b") == "/api/contacts/a%2Fb"
    assert incremental_params("updated_since={cursor}&order=asc", "2024") == [
        ("updated_since", "2024"),
        ("order", "asc"),
    ]
    assert incremental_params("LastUpdateDate gt {cursor}", "2024") == [("$filter", "LastUpdateDate gt 2024")]
    assert token_lifetime(3600) == 3540
    assert token_lifetime(None) == 3600
