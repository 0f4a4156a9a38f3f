"""Custom fields a file names by a stand-in key get the CRM's own key, looked up by name at import.

Each Ploomes account has keys of its own for its custom fields (``contact_7F3A9C1E``…). The presets write
stand-ins (``contact_ERP_CODE``) and name the fields in ``custom_fields``; importing one reads the CRM's
``/Fields`` (here the demo CRM, Ploomes-shaped, served by the live server) and writes the real keys
everywhere the tables use them. A field that is missing, named twice or cannot be read is refused in words,
and nothing is saved.
"""

import json
from pathlib import Path

import pytest
from django.conf import settings

from demo.choices import CrmEntity, CrmFieldType
from demo.documents import format_cnpj, make_cnpj
from demo.models import CrmContact, CrmField, CrmProduct
from monitoring.choices import RunStatus, Trigger
from sync.config_io import ConfigError
from sync.engine import execute_run, queue_run
from sync.models import Connection, FieldMapping, Integration, SyncTable
from sync.presets import create_from_preset, read_preset
from tests.demo_crm import served_demo_crm
from tests.servers.sankhya_api import FakeSankhya

pytestmark = pytest.mark.django_db(transaction=True)

PRESET = Path(settings.BASE_DIR) / "presets" / "sankhya-ploomes.yaml"
ACME_CNPJ = make_cnpj(11222333)
ACCOUNT_KEYS = {"contact_ERP_CODE": "contact_7F3A9C1E", "product_ERP_UNIT": "product_51B0D2AA"}


@pytest.fixture
def crm(live_server):
    """The demo CRM whose custom fields have this account's own keys, as a real Ploomes account's have."""
    served = served_demo_crm(live_server)
    for stand_in, key in ACCOUNT_KEYS.items():
        CrmField.objects.filter(key=stand_in).update(key=key)
    return served


@pytest.fixture
def sankhya():
    with FakeSankhya() as server:
        server.add_partner(
            CODPARC=1, NOMEPARC="ACME Ferragens", RAZAOSOCIAL="ACME FERRAGENS LTDA", TIPPESSOA="J",
            CGC_CPF=format_cnpj(ACME_CNPJ), ATIVO="S", CLIENTE="S",
        )  # fmt: skip
        server.add_product(CODPROD=10, DESCRPROD="Parafuso", CODVOL="UN", ATIVO="S")
        yield server


def create(sankhya, crm, crm_url=None):
    url, user_key = crm
    values = {
        "name": "ACME: Sankhya → Ploomes",
        "erp_base_url": sankhya.url,
        "erp_username": sankhya.user,
        "secret_SANKHYA_PASSWORD": sankhya.password,
        "crm_base_url": crm_url or url,
        "secret_PLOOMES_USER_KEY": user_key,
    }
    return create_from_preset(read_preset(PRESET), values).integration


def everything_the_tables_say(integration) -> str:
    """Every setting of the integration's tables and mappings, as one text."""
    tables = list(SyncTable.objects.filter(integration=integration).values())
    mappings = list(FieldMapping.objects.filter(table__integration=integration).values())
    return json.dumps([tables, mappings], default=str)


def test_the_crm_s_own_keys_replace_the_stand_ins_everywhere_and_the_run_writes_them(sankhya, crm):
    integration = create(sankhya, crm)

    said = everything_the_tables_say(integration)
    assert "contact_ERP_CODE" not in said and "product_ERP_UNIT" not in said
    company = SyncTable.objects.get(integration=integration, name="Company")
    code = company.mappings.get(source_path="CODPARC")
    assert code.target_field == "OtherProperties[FieldKey=contact_7F3A9C1E].StringValue"
    assert "o/FieldKey eq 'contact_7F3A9C1E'" in company.target_count_query
    unit = FieldMapping.objects.get(table__integration=integration, source_path="CODVOL")
    assert unit.target_field == "OtherProperties[FieldKey=product_51B0D2AA].StringValue"
    Connection.objects.filter(pk=integration.crm_connection_id).update(rate_limit_per_minute=None)

    first = execute_run(queue_run(integration, Trigger.MANUAL).pk)

    assert first.status == RunStatus.SUCCEEDED, first.error
    acme = CrmContact.objects.get(cnpj=ACME_CNPJ)
    assert acme.other_properties == [{"FieldKey": "contact_7F3A9C1E", "StringValue": "1"}]
    product = CrmProduct.objects.get(code="10")
    assert product.other_properties == [{"FieldKey": "product_51B0D2AA", "StringValue": "UN"}]


def test_a_field_the_crm_does_not_have_is_named_with_the_ones_it_has_and_nothing_is_saved(sankhya, crm):
    CrmField.objects.filter(key="product_51B0D2AA").delete()

    with pytest.raises(ConfigError) as refused:
        create(sankhya, crm)

    assert refused.value.messages == [
        'custom_fields[1].name: Ploomes has no custom field called "Unidade no ERP" on entity 10: create it '
        "there, or write the name it has (it has: Código no ERP)"
    ]
    assert (Integration.objects.count(), Connection.objects.count(), SyncTable.objects.count()) == (0, 0, 0)


def test_a_name_written_in_other_case_and_spaces_is_the_same_field(sankhya, crm):
    CrmField.objects.filter(key="contact_7F3A9C1E").update(name="  CÓDIGO NO ERP ")

    integration = create(sankhya, crm)

    assert "contact_7F3A9C1E" in everything_the_tables_say(integration)


def test_two_fields_of_one_name_are_refused(sankhya, crm):
    CrmField.objects.create(
        key="contact_0D1E2F", name="Código no ERP", entity_id=CrmEntity.CONTACTS, type_id=CrmFieldType.TEXT
    )

    with pytest.raises(ConfigError) as refused:
        create(sankhya, crm)

    assert refused.value.messages == [
        'custom_fields[0].name: Ploomes has 2 custom fields called "Código no ERP" on entity 1: rename all but one'
    ]
    assert not Integration.objects.exists()


def test_a_crm_that_refuses_the_key_says_so_and_nothing_is_saved(sankhya, crm):
    url, _user_key = crm

    with pytest.raises(ConfigError) as refused:
        create(sankhya, (url, "not-the-user-key"))

    [message] = refused.value.messages
    assert message.startswith("custom_fields[0]: the custom fields of entity 1 could not be read from Ploomes: ")
    assert "401" in message
    assert not Connection.objects.exists()
