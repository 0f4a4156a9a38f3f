"""The demo's words people read in the portal exist in both languages: set up in one, they read in it.

The description, business rule, table descriptions and filter rules' names are stored as IT would
have typed them, in the language the demo is set up in (``manage.py demo --language``, else the
portal's). The names of the integration, its systems and tables stay names; the demo ERP's and
CRM's customer data (companies, products) stays data.
"""

import html
import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from accounts.roles import SUPERVISOR
from demo.integration import DEMO_NAME, configure_demo
from sync.models import Integration

pytestmark = pytest.mark.django_db

ORIGIN = "http://127.0.0.1:8000"
ENGLISH = {
    "rule": "ERP → CRM: customers with approved credit that are active become CRM companies",
    "company": "ERP customers with approved credit become CRM companies, their ERP code in a custom field",
    "order": "CRM orders are created in the ERP once, with the ERP's customer code and SKUs",
}
PORTUGUESE = {
    "rule": "ERP → CRM: clientes ativos com crédito aprovado viram empresas no CRM",
    "company": (
        "Clientes do ERP com crédito aprovado viram empresas no CRM, com o código do ERP em um campo personalizado"
    ),
    "order": "Pedidos do CRM são criados no ERP uma vez, com o código do cliente e os SKUs do ERP",
}


def text_of(client, url, language) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return " ".join(html.unescape(response.content.decode()).split())


def general(client, integration, language) -> str:
    return text_of(client, reverse("admin:integration", args=[integration.pk]), language)


def history(client, integration, language) -> str:
    return text_of(client, reverse("admin:integration_history", args=[integration.pk]), language)


def test_set_up_in_portuguese_the_demo_reads_in_portuguese(login_as):
    integration = configure_demo(ORIGIN, language="pt-br")
    client = login_as(SUPERVISOR)
    page = general(client, integration, "pt-br")
    assert PORTUGUESE["rule"] in page and "Regra de negócio" in page
    assert PORTUGUESE["company"] in page and PORTUGUESE["order"] in page
    assert ENGLISH["rule"] not in page and ENGLISH["company"] not in page
    assert DEMO_NAME in page  # a name stays a name
    tables = history(client, integration, "pt-br")
    assert PORTUGUESE["company"] in tables and PORTUGUESE["order"] in tables


def test_set_up_in_english_the_demo_reads_in_english(login_as):
    integration = configure_demo(ORIGIN, language="en")
    page = general(login_as(SUPERVISOR), integration, "en")
    assert ENGLISH["rule"] in page and ENGLISH["company"] in page and ENGLISH["order"] in page
    assert PORTUGUESE["rule"] not in page


def test_the_portals_language_is_the_default(login_as):
    with override_settings(LANGUAGE_CODE="pt-br"):
        integration = configure_demo(ORIGIN)
    assert PORTUGUESE["rule"] in general(login_as(SUPERVISOR), integration, "en")


def test_the_filter_rules_are_named_in_the_demos_language():
    integration = configure_demo(ORIGIN, language="pt-br")
    names = {rule["name"] for table in integration.tables.all() for rule in table.filter_rules}
    assert names == {"crédito aprovado", "clientes ativos", "produtos ativos"}


def test_set_up_again_in_the_other_language_the_words_change_and_nothing_doubles(login_as):
    configure_demo(ORIGIN, language="pt-br")
    integration = configure_demo(ORIGIN, language="en")
    assert Integration.objects.count() == 1 and integration.tables.count() == 5
    page = general(login_as(SUPERVISOR), integration, "pt-br")
    assert ENGLISH["rule"] in page and PORTUGUESE["rule"] not in page


def test_the_demo_command_takes_the_language(login_as):
    call_command("demo", "--origin", ORIGIN, "--language", "pt-br", stdout=io.StringIO())
    integration = Integration.objects.get(name=DEMO_NAME)
    assert PORTUGUESE["company"] in general(login_as(SUPERVISOR), integration, "pt-br")
