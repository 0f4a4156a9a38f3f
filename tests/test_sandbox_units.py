"""The demo systems' pure parts and seeding: OData parsing, CNPJ/CPF, knobs' dice, seed data."""

import random
import socket
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Q
from django.http import HttpResponse

from demo import documents, seed
from demo.choices import CreditStatus, CrmContactType, Disturbance, ErpOrderStatus, SandboxSystem
from demo.crm_schema import CONTACT_FIELDS
from demo.dropping import AnswerDropped, cut_short
from demo.json_array import ArrayHasElement
from demo.knobs import pick_disturbance, with_knobs
from demo.models import (
    CrmContact,
    CrmOrder,
    ErpContact,
    ErpCustomer,
    ErpOrder,
    ErpProduct,
    SandboxKnobs,
)
from demo.odata import MAX_TOP, ODataError, parse_filter, parse_orderby, parse_query
from demo.workflow import advance_orders
from demo.xsd import erp_schema, is_date_time, is_decimal, is_integer

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

# --- OData ------------------------------------------------------------------------------------


def test_filter_equals_text_and_number():
    assert parse_filter("CNPJ eq '11222333000181'", CONTACT_FIELDS) == Q(cnpj="11222333000181")
    assert parse_filter("TypeId eq 2", CONTACT_FIELDS) == Q(type_id=2)


def test_filter_quotes_are_escaped_by_doubling():
    assert parse_filter("Name eq 'Padaria D''Ávila'", CONTACT_FIELDS) == Q(name="Padaria D'Ávila")


def test_filter_dates_and_and():
    expected = Q(updated_at__gt=datetime(2026, 1, 1, tzinfo=UTC)) & Q(type_id=1)
    assert parse_filter("LastUpdateDate gt 2026-01-01T00:00:00Z and TypeId eq 1", CONTACT_FIELDS) == expected
    with_offset = parse_filter("LastUpdateDate ge 2026-01-01T00:00:00.123456-03:00", CONTACT_FIELDS)
    assert with_offset == Q(updated_at__gte=datetime(2026, 1, 1, 3, 0, 0, 123456, tzinfo=UTC))


def test_filter_or_not_parentheses_null_and_functions():
    parsed = parse_filter("(TypeId eq 1 or TypeId eq 2) and not CNPJ eq null and contains(Name,'Sul')", CONTACT_FIELDS)
    expected = (Q(type_id=1) | Q(type_id=2)) & ~(Q(cnpj__isnull=True) | Q(cnpj="")) & Q(name__contains="Sul")
    assert parsed == expected


@pytest.mark.parametrize(
    "text",
    [
        "Unknown eq 1",
        "TypeId eq '1'",
        "CNPJ eq 5",
        "TypeId like 1",
        "TypeId eq",
        "TypeId eq 1 and",
        "LastUpdateDate gt 'yesterday'",
        "Phones eq 'x'",
        "Name eq 'unterminated",
        "TypeId gt null",
    ],
)
def test_bad_filters_raise_a_readable_error(text):
    with pytest.raises(ODataError) as exc_info:
        parse_filter(text, CONTACT_FIELDS)
    assert str(exc_info.value)


CUSTOM = {"contact_ERP_CODE": "StringValue", "contact_CREDIT_LIMIT": "DecimalValue", "contact_SINCE": "DateTimeValue"}


def test_filter_any_on_custom_fields_becomes_one_condition_on_the_list():
    text = "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/StringValue eq '40001002') and TypeId eq 1"
    expected = Q(ArrayHasElement("other_properties", (("FieldKey", "contact_ERP_CODE"), ("StringValue", "40001002"))))
    assert parse_filter(text, CONTACT_FIELDS, CUSTOM) == expected & Q(type_id=1)
    since = parse_filter(
        "OtherProperties/any(x: x/FieldKey eq 'contact_SINCE' and x/DateTimeValue eq 2026-01-01T00:00:00-03:00)",
        CONTACT_FIELDS,
        CUSTOM,
    )
    pairs = (("FieldKey", "contact_SINCE"), ("DateTimeValue", "2026-01-01T03:00:00Z"))
    assert since == Q(ArrayHasElement("other_properties", pairs))
    assert parse_filter("not OtherProperties/any()", CONTACT_FIELDS) == ~Q(ArrayHasElement("other_properties", ()))


def test_custom_fields_are_looked_up_only_when_a_filter_asks():
    asked = []

    def custom_fields():
        asked.append(1)
        return CUSTOM

    parse_filter("TypeId eq 1", CONTACT_FIELDS, custom_fields)
    assert asked == []
    parse_filter("OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE')", CONTACT_FIELDS, custom_fields)
    assert asked == [1]


@pytest.mark.parametrize(
    "text",
    [
        "OtherProperties/any(o: o/FieldKey eq 'contact_NOPE')",
        "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/IntegerValue eq 4)",
        "OtherProperties/any(o: o/FieldKey eq 'contact_CREDIT_LIMIT' and o/DecimalValue eq '4')",
        "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/StringValue gt 'a')",
        "OtherProperties/any(o: p/FieldKey eq 'contact_ERP_CODE')",
        "OtherProperties/any(o: o/Value eq 'x')",
        "OtherProperties/any(o: o/FieldKey eq 'a' and o/FieldKey eq 'b')",
        "OtherProperties/all(o: o/FieldKey eq 'contact_ERP_CODE')",
        "OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE'",
        "OtherProperties eq null",
        "Name/any(o: o/FieldKey eq 'contact_ERP_CODE')",
    ],
)
def test_bad_filters_on_custom_fields_raise_a_readable_error(text):
    with pytest.raises(ODataError) as exc_info:
        parse_filter(text, CONTACT_FIELDS, CUSTOM)
    assert str(exc_info.value)


def test_query_options_cap_top_and_end_order_with_the_key():
    options = parse_query({"$top": "5000", "$skip": "30", "$orderby": "LastUpdateDate desc"}, CONTACT_FIELDS)
    assert (options.top, options.skip) == (MAX_TOP, 30)
    assert options.order_by == ["-updated_at", "pk"]
    assert parse_orderby("", CONTACT_FIELDS) == ["pk"]
    with pytest.raises(ODataError):
        parse_query({"$top": "ten"}, CONTACT_FIELDS)


# --- XSD lexical values (demo ERP) -------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-1.5", "+3.", ".5", "0012.3400"])
def test_xsd_decimals(text):
    assert is_decimal(text)


@pytest.mark.parametrize("text", ["", "1e3", "1,5", "NaN", "INF", ". ", "1.2.3", "٣"])
def test_not_xsd_decimals(text):
    assert not is_decimal(text)


def test_xsd_integers_keep_to_their_range():
    assert is_integer("2147483647", "int") and not is_integer("2147483648", "int")
    assert is_integer("-2147483648", "int") and is_integer("2147483648", "long")
    assert not is_integer("1.0", "long") and not is_integer("9223372036854775808", "long")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2026-03-10T12:00:00", True),
        ("2026-03-10T12:00:00.123456789Z", True),
        ("2026-03-10T12:00:00-03:00", True),
        ("2024-02-29T00:00:00Z", True),
        ("2026-03-10T24:00:00Z", True),
        ("2026-03-10", False),
        ("2026-03-10 12:00:00", False),
        ("2025-02-29T00:00:00Z", False),
        ("2026-03-10T24:00:01Z", False),
        ("2026-03-10T12:00Z", False),
        ("2026-03-10T12:00:00+15:00", False),
    ],
)
def test_xsd_date_times(text, valid):
    assert is_date_time(text) is valid


def test_the_erp_schema_is_read_from_the_wsdl():
    schema = erp_schema()
    lines = {p.name: p for p in schema.complex_types["NewOrderLine"]}
    assert lines["quantity"].type == ("xsd", "decimal")
    order = {p.name: p for p in schema.complex_types["NewOrder"]}
    assert order["lines"].many and order["lines"].type == ("complex", "NewOrderLine")
    assert [p.name for p in schema.elements["ListOrders"]] == ["updated_since", "page", "page_size", "status"]
    assert schema.enumerations["OrderStatus"] == set(ErpOrderStatus.values)


# --- CNPJ / CPF -------------------------------------------------------------------------------


def test_cnpj_and_cpf_check_digits():
    assert documents.is_valid_cnpj("11.222.333/0001-81")
    assert not documents.is_valid_cnpj("11.222.333/0001-82")
    assert not documents.is_valid_cnpj("11111111111111")
    assert documents.is_valid_cnpj(documents.make_cnpj(12345678, 2))
    assert documents.format_cnpj("11222333000181") == "11.222.333/0001-81"
    assert documents.is_valid_cpf("529.982.247-25")
    assert not documents.is_valid_cpf("529.982.247-24")
    assert documents.format_cpf(documents.make_cpf(1)) == "000.000.001-91"


# --- knobs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, None),
        ({"down": True, "error_rate": 1.0}, Disturbance.DOWN),
        ({"throttle_rate": 1.0, "error_rate": 1.0}, Disturbance.THROTTLED),
        ({"error_rate": 1.0}, Disturbance.ERROR),
        ({"error_rate": 0.5}, Disturbance.ERROR),
    ],
)
def test_pick_disturbance_is_deterministic_at_the_edges(values, expected):
    knobs = SandboxKnobs(system=SandboxSystem.CRM, **values)
    assert pick_disturbance(knobs, roll=lambda: 0.4999) == expected
    assert pick_disturbance(SandboxKnobs(system=SandboxSystem.CRM, error_rate=0.5), roll=lambda: 0.5) is None


@pytest.mark.parametrize(("rate", "expected"), [("slow_rate", Disturbance.SLOW), ("drop_rate", Disturbance.DROPPED)])
def test_slow_and_drop_rates_of_one_always_fire_and_of_zero_never(rate, expected):
    for roll in (0.0, 0.5, 0.999999):
        assert (
            pick_disturbance(SandboxKnobs(system=SandboxSystem.ERP, **{rate: 1.0}), roll=lambda r=roll: r) == expected
        )
        assert pick_disturbance(SandboxKnobs(system=SandboxSystem.ERP, **{rate: 0.0}), roll=lambda r=roll: r) is None


def test_the_rates_lie_end_to_end_on_one_roll():
    # Rates exact in binary, so the band edges are exact too.
    knobs = SandboxKnobs(system=SandboxSystem.CRM, throttle_rate=0.125, error_rate=0.25, slow_rate=0.25, drop_rate=0.25)
    rolls = (0.0, 0.124, 0.125, 0.374, 0.375, 0.624, 0.625, 0.874, 0.875, 0.999)
    assert [pick_disturbance(knobs, roll=lambda r=roll: r) for roll in rolls] == [
        Disturbance.THROTTLED,
        Disturbance.THROTTLED,
        Disturbance.ERROR,
        Disturbance.ERROR,
        Disturbance.SLOW,
        Disturbance.SLOW,
        Disturbance.DROPPED,
        Disturbance.DROPPED,
        None,
        None,
    ]


def test_one_roll_per_request_only_when_a_rate_is_set():
    rolls = []

    def roll():
        rolls.append(1)
        return 0.99

    assert pick_disturbance(SandboxKnobs(system=SandboxSystem.CRM, slow_ms=100), roll=roll) is None
    assert (
        pick_disturbance(SandboxKnobs(system=SandboxSystem.CRM, down=True, drop_rate=1), roll=roll) == Disturbance.DOWN
    )
    assert rolls == []
    pick_disturbance(SandboxKnobs(system=SandboxSystem.CRM, error_rate=0.1, drop_rate=0.1), roll=roll)
    assert rolls == [1]


def test_a_seeded_dice_gives_each_rate_its_share_and_repeats_itself():
    knobs = SandboxKnobs(system=SandboxSystem.CRM, error_rate=0.10, throttle_rate=0.05, slow_rate=0.05, drop_rate=0.03)
    dice = random.Random(7)
    picks = [pick_disturbance(knobs, roll=dice.random) for _request in range(20_000)]
    shares = {disturbance: picks.count(disturbance) / len(picks) for disturbance in Disturbance}
    assert shares[Disturbance.ERROR] == pytest.approx(0.10, abs=0.01)
    assert shares[Disturbance.THROTTLED] == pytest.approx(0.05, abs=0.01)
    assert shares[Disturbance.SLOW] == pytest.approx(0.05, abs=0.01)
    assert shares[Disturbance.DROPPED] == pytest.approx(0.03, abs=0.01)
    dice.seed(7)
    assert [pick_disturbance(knobs, roll=dice.random) for _request in range(20_000)] == picks


def test_rates_that_share_more_than_all_requests_are_refused():
    with pytest.raises(ValidationError, match="cannot exceed 1"):
        SandboxKnobs(system=SandboxSystem.CRM, error_rate=0.5, slow_rate=0.3, drop_rate=0.3).clean()
    SandboxKnobs(system=SandboxSystem.CRM, error_rate=0.5, slow_rate=0.2, drop_rate=0.3).clean()


def knob_view(rf, events, clock_ticks, **knob_values):
    """A view behind ``with_knobs`` whose sleeps and clock are recorded, and the request it gets."""
    SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(**knob_values)
    ticks = iter(clock_ticks)

    def view(request):
        events.append("view")
        return HttpResponse(b"0123456789" * 10, content_type="application/json")

    def render(request, disturbance, knobs):
        events.append(f"render {disturbance}")
        return HttpResponse(status=500)

    wrapped = with_knobs(
        SandboxSystem.CRM, render, sleep=lambda seconds: events.append(("sleep", seconds)), clock=lambda: next(ticks)
    )(view)
    return wrapped(rf.get("/sandbox/crm/Contacts"))


@pytest.mark.django_db
def test_a_slow_request_is_carried_out_then_answered_once_slow_ms_has_passed(rf):
    seed.ensure_knobs()
    events = []
    response = knob_view(rf, events, [100.0, 100.4], slow_rate=1, slow_ms=2500, latency_ms=0)
    assert response.status_code == 200
    assert events == ["view", ("sleep", pytest.approx(2.1))]


@pytest.mark.django_db
def test_a_dropped_answer_keeps_its_length_and_sends_half_the_body(rf):
    seed.ensure_knobs()
    events = []
    response = knob_view(rf, events, [0.0, 0.0], drop_rate=1)
    assert events == ["view"]
    assert response.status_code == 200
    assert response["Content-Length"] == "100"
    assert response["Content-Type"] == "application/json"
    body = iter(response.streaming_content)
    assert next(body) == b"0123456789" * 5
    with pytest.raises(AnswerDropped):  # no socket to shut down here: the body fails instead
        next(body)


@pytest.mark.django_db
def test_down_throttle_and_errors_answer_instead_of_the_view(rf):
    seed.ensure_knobs()
    events = []
    knob_view(rf, events, [0.0, 0.0], error_rate=1)
    assert events == [f"render {Disturbance.ERROR}"]


def test_a_dropped_answer_shuts_the_connection_down_after_half_the_body():
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        cut = cut_short(HttpResponse(b"x" * 1000), {"gunicorn.socket": server_side})
        for part in cut.streaming_content:
            server_side.sendall(part)
        received = b""
        while chunk := client_side.recv(4096):  # b"": the other side is shut down
            received += chunk
        assert received == b"x" * 500
        assert cut["Content-Length"] == "1000"


@pytest.mark.django_db
def test_reset_behaviour_also_resets_slow_and_dropped_answers():
    knobs = seed.ensure_knobs()[SandboxSystem.CRM]
    SandboxKnobs.objects.filter(pk=knobs.pk).update(slow_rate=0.5, slow_ms=100, drop_rate=0.2)
    knobs.refresh_from_db()
    knobs.reset_behaviour()
    knobs.refresh_from_db()
    assert (knobs.slow_rate, knobs.slow_ms, knobs.drop_rate) == (0, 5000, 0)


# --- seeding ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seeding_twice_creates_nothing_the_second_time():
    first = seed.populate(seed.SeedSizes(), NOW)
    assert first == {
        "erp_customers": 40,
        "erp_contacts": 80,
        "erp_products": 30,
        "erp_orders": 10,
        "crm_companies": 12,
        "crm_people": 12,
        "crm_products": 8,
        "crm_orders": 6,
    }
    second = seed.populate(seed.SeedSizes(), NOW + timedelta(hours=1))
    assert set(second.values()) == {0}
    assert ErpCustomer.objects.count() == 40
    assert CrmContact.objects.count() == 24


@pytest.mark.django_db
def test_seeding_more_adds_only_the_missing_records():
    seed.populate(seed.SeedSizes(customers=10, contacts=10, products=5, orders=2), NOW)
    created = seed.populate(seed.SeedSizes(customers=25, contacts=10, products=5, orders=2), NOW)
    assert created["erp_customers"] == 15
    assert created["erp_contacts"] == 0


@pytest.mark.django_db
def test_seed_data_is_valid_and_varied():
    seed.populate(seed.SeedSizes(), NOW)
    assert all(documents.is_valid_cnpj(cnpj) for cnpj in ErpCustomer.objects.values_list("cnpj", flat=True))
    assert all(
        documents.is_valid_cnpj(cnpj) for cnpj in CrmContact.objects.exclude(cnpj="").values_list("cnpj", flat=True)
    )
    cpfs = list(ErpContact.objects.exclude(cpf="").values_list("cpf", flat=True))
    assert cpfs and all(documents.is_valid_cpf(cpf) for cpf in cpfs)
    assert ErpCustomer.objects.filter(credit_status=CreditStatus.BLOCKED, active=True).exists()
    assert ErpCustomer.objects.filter(credit_status=CreditStatus.PENDING).exists()
    assert ErpCustomer.objects.filter(active=False).exists()
    assert ErpProduct.objects.filter(active=False).exists()
    assert ErpOrder.objects.exclude(customer__credit_status=CreditStatus.APPROVED).count() == 0
    # Most CRM companies are ERP customers; the rest are leads the ERP does not know.
    erp_cnpjs = {documents.digits(c) for c in ErpCustomer.objects.values_list("cnpj", flat=True)}
    crm_cnpjs = set(CrmContact.objects.filter(type_id=CrmContactType.COMPANY).values_list("cnpj", flat=True))
    assert 0 < len(crm_cnpjs - erp_cnpjs) < len(crm_cnpjs & erp_cnpjs)
    assert CrmOrder.objects.filter(contact__cnpj__in=crm_cnpjs - erp_cnpjs).exists()
    assert CrmContact.objects.filter(type_id=CrmContactType.PERSON, company__isnull=False).exists()
    assert ErpCustomer.objects.values("state").distinct().count() > 5


@pytest.mark.django_db
def test_large_seeds_are_bulk_inserted(django_assert_max_num_queries):
    sizes = seed.SeedSizes(customers=3000, contacts=0, products=0, orders=0, crm_companies=0, crm_people=0)
    # Batches, never a query per row (SQLite caps the parameters of one statement).
    with django_assert_max_num_queries(100):
        created = seed.populate(sizes, NOW)
    assert created["erp_customers"] == 3000


@pytest.mark.django_db
def test_seed_command_resets_and_keeps_random_credentials():
    out = StringIO()
    call_command("sandbox_seed", "--customers", "5", "--contacts", "5", "--show-credentials", stdout=out)
    erp = SandboxKnobs.objects.get(system=SandboxSystem.ERP)
    crm = SandboxKnobs.objects.get(system=SandboxSystem.CRM)
    assert len(erp.password) >= 20 and len(crm.api_key) == 64
    assert crm.api_key in out.getvalue()
    SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(down=True, error_rate=0.5)

    call_command("sandbox_seed", "--reset", "--customers", "3", "--contacts", "0", stdout=StringIO())
    assert ErpCustomer.objects.count() == 3
    crm_after = SandboxKnobs.objects.get(system=SandboxSystem.CRM)
    assert (crm_after.down, crm_after.error_rate, crm_after.api_key) == (False, 0, crm.api_key)

    call_command("sandbox_seed", "--rotate-credentials", stdout=StringIO())
    assert SandboxKnobs.objects.get(system=SandboxSystem.CRM).api_key != crm.api_key


@pytest.mark.django_db
def test_back_office_moves_orders_one_step_per_wait():
    seed.populate(seed.SeedSizes(orders=10), NOW)
    ErpOrder.objects.update(status=ErpOrderStatus.RECEIVED, updated_at=NOW - timedelta(minutes=10))
    moved = advance_orders(NOW, step_seconds=120)
    assert moved == 10
    assert set(ErpOrder.objects.values_list("status", flat=True)) == {ErpOrderStatus.APPROVED}
    assert advance_orders(NOW + timedelta(seconds=60), step_seconds=120) == 0
    assert advance_orders(NOW + timedelta(seconds=120), step_seconds=120) == 10
    assert advance_orders(NOW + timedelta(days=1), step_seconds=0) == 0


# --- admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        "sandboxknobs",
        "erpcustomer",
        "erpcontact",
        "erpproduct",
        "erporder",
        "crmcontact",
        "crmproduct",
        "crmorder",
        "crmfield",
    ],
)
def test_admin_lists_the_demo_tables(admin_client, model, django_assert_max_num_queries):
    seed.populate(seed.SeedSizes(), NOW)
    with django_assert_max_num_queries(12):
        response = admin_client.get(f"/sandbox/{model}/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_admin_lets_it_flip_down_but_never_shows_credentials(admin_client):
    knobs = seed.ensure_knobs()[SandboxSystem.CRM]
    page = admin_client.get(f"/sandbox/sandboxknobs/{knobs.pk}/change/")
    assert page.status_code == 200
    assert knobs.api_key not in page.content.decode()
    form = {
        "down": "on",
        "error_rate": "0",
        "throttle_rate": "0",
        "retry_after_seconds": "2",
        "latency_ms": "0",
        "slow_rate": "0",
        "slow_ms": "5000",
        "drop_rate": "0",
        "order_step_seconds": "120",
    }
    response = admin_client.post(f"/sandbox/sandboxknobs/{knobs.pk}/change/", form)
    assert response.status_code == 302
    knobs.refresh_from_db()
    assert knobs.down is True
    assert admin_client.get("/sandbox/erpcustomer/add/").status_code == 403


@pytest.mark.django_db
def test_admin_sets_slow_and_dropped_answers_and_refuses_rates_beyond_one(admin_client):
    knobs = seed.ensure_knobs()[SandboxSystem.ERP]
    url = f"/sandbox/sandboxknobs/{knobs.pk}/change/"
    form = {
        "error_rate": "0.1",
        "throttle_rate": "0.05",
        "retry_after_seconds": "1",
        "latency_ms": "0",
        "slow_rate": "0.05",
        "slow_ms": "3000",
        "drop_rate": "0.03",
        "order_step_seconds": "0",
    }
    assert admin_client.post(url, form).status_code == 302
    knobs.refresh_from_db()
    assert (knobs.slow_rate, knobs.slow_ms, knobs.drop_rate) == (0.05, 3000, 0.03)

    refused = admin_client.post(url, {**form, "error_rate": "0.5", "drop_rate": "0.6"})
    assert refused.status_code == 200
    assert "together they cannot exceed 1" in refused.content.decode()
    knobs.refresh_from_db()
    assert knobs.drop_rate == 0.03
