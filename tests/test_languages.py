"""Languages: English and Brazilian Portuguese, chosen per person in the header, kept across sign-ins.

The .po file is checked too: every message translated, placeholders kept, and the compiled .mo
(which the portal's machines need, having no gettext) up to date with it.
"""

import gettext
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import UserPreference
from accounts.roles import SUPERVISOR
from integration_portal.language import SESSION_KEY
from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun

NOW = datetime(2024, 11, 14, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo, a Thursday
LAST_SUCCESS = NOW - timedelta(hours=3)  # 09:00 in São Paulo
PO = Path(settings.BASE_DIR) / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def watched(db, frozen, integration):
    """The integration with one successful run, so that its pages show a date and a status."""
    SyncRun.objects.create(
        integration=integration,
        status=RunStatus.SUCCEEDED,
        trigger=Trigger.SCHEDULE,
        queued_at=LAST_SUCCESS,
        started_at=LAST_SUCCESS,
        finished_at=LAST_SUCCESS + timedelta(seconds=90),
    )
    return integration


def text_of(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def choose(client, language, next_url):
    """What the header's language <select> does: post the language and where to come back."""
    response = client.post(reverse("set_language"), {"language": language, "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    return response


def integration_page(client, integration, **headers):
    return text_of(client.get(reverse("admin:integration", args=[integration.pk]), headers=headers))


def dashboard(client, **headers):
    return text_of(client.get(reverse("admin:index"), headers=headers))


# ---------------------------------------------------------------- switching, per person


@pytest.mark.django_db
def test_switching_to_portuguese_in_the_header_translates_the_screens_and_their_dates(login_as, watched):
    client = login_as(SUPERVISOR)
    page = dashboard(client)
    assert 'action="/i18n/setlang/"' in page and "Healthy" in page and "Painel" not in page

    choose(client, "pt-br", reverse("admin:index"))

    page = dashboard(client)
    assert '<html lang="pt-br"' in page
    assert "Integrações, problemas primeiro" in page and "Último sucesso" in page
    assert "Saudável" in page  # the status badge
    assert "14/11/2024 09:01" in page  # the last success (when the run finished), dd/mm/yyyy
    assert '<option value="en" lang="en">English</option>' in page  # each language named in itself
    assert '<option value="pt-br" lang="pt-br" selected>Português Brasileiro</option>' in page

    page = integration_page(client, watched)
    assert "Informações gerais" in page and "Fila de revisão" in page and "Exclusões excessivas" in page
    assert "Próxima execução agendada" in page and "Tempo máximo sem sucesso" in page
    assert "Regra de negócio" in page and "Executar agora" not in page  # the Supervisor has no Run now
    assert "Saudável" in page and "Sucesso" in page  # the integration's and the run's status
    assert "diariamente às 00:00" in page and "24 horas" in page
    assert "14/11/2024" in page  # the run log, dd/mm/yyyy
    assert "15/11/2024 00:00" in page  # the next run

    data = client.get(reverse("admin:dashboard_data")).json()
    assert data["integrations"][0]["status"]["label"] == "Saudável"
    assert data["integrations"][0]["last_success"]["text"] == "14/11/2024 09:01"

    assert UserPreference.objects.get(user__username="supervisor").language == "pt-br"


@pytest.mark.django_db
def test_the_choice_outlives_the_session_and_beats_the_browser(login_as, watched):
    first = login_as(SUPERVISOR)
    choose(first, "pt-br", reverse("admin:index"))
    first.post(reverse("admin:logout"))

    # Another browser, which asks for English and has no language cookie, signs in with the form.
    second = Client()
    response = second.post(reverse("admin:login"), {"username": "supervisor", "password": "pw"})
    assert response.status_code == 302

    page = integration_page(second, watched, accept_language="en")
    assert "Informações gerais" in page and "Fila de revisão" in page and "14/11/2024" in page
    # The browser learns the language too, so that the sign-in page after a sign-out speaks it.
    assert second.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"


@pytest.mark.django_db
def test_switching_back_to_english(login_as, watched):
    client = login_as(SUPERVISOR)
    choose(client, "pt-br", reverse("admin:index"))
    assert "Informações gerais" in integration_page(client, watched)

    choose(client, "en", reverse("admin:integration", args=[watched.pk]))

    page = integration_page(client, watched)
    assert "General information" in page and "Review queue" in page and "Healthy" in page
    assert "Informações gerais" not in page and "11/15/2024 midnight" in page
    assert UserPreference.objects.get(user__username="supervisor").language == "en"

    client.logout()
    again = Client()
    again.force_login(UserPreference.objects.get().user)
    assert "General information" in integration_page(again, watched, accept_language="pt-br")


@pytest.mark.django_db
def test_without_a_choice_the_browser_decides(login_as, watched):
    client = login_as(SUPERVISOR)
    assert "Informações gerais" in integration_page(client, watched, accept_language="pt-br")
    assert "General information" in integration_page(client, watched, accept_language="en")
    assert not UserPreference.objects.exists()


@pytest.mark.django_db
def test_a_session_opened_before_the_choice_was_stored_reads_it_once(login_as, watched, django_user_model):
    client = login_as(SUPERVISOR)
    session = client.session
    del session[SESSION_KEY]  # as for a session opened before people could choose
    session.save()
    UserPreference.objects.create(user=django_user_model.objects.get(username="supervisor"), language="pt-br")

    assert "Informações gerais" in integration_page(client, watched)
    assert client.session[SESSION_KEY] == "pt-br"
    with CaptureQueriesContext(connection) as queries:
        assert "Informações gerais" in integration_page(client, watched)
    assert not [query for query in queries if "userpreference" in query["sql"]]


@pytest.mark.django_db
def test_signed_out_the_choice_is_only_a_cookie(client):
    response = client.post(reverse("set_language"), {"language": "pt-br", "next": "/login/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    assert "<title>Acessar | Portal de Integrações</title>" in text_of(client.get(reverse("admin:login")))
    assert not UserPreference.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "klingon", ""])
def test_a_language_the_portal_does_not_offer_is_not_stored(login_as, language):
    client = login_as(SUPERVISOR)
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    assert not UserPreference.objects.exists()
    assert '<html lang="en"' in dashboard(client, accept_language="en")


# ---------------------------------------------------------------- the translation files

ESCAPES = {"n": "\n", "t": "\t"}
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdrfiu]|%[sdr%]|\{\w+\}")


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: flags, msgid, msgid_plural and msgstr (or msgstr[n]), unescaped."""
    entries, entry, key = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry and "msgid" in entry:
                entries.append(entry)
            entry = None
            continue
        entry = entry if entry is not None else {"flags": "", "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] += line[2:]
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")$', line)
        if match:
            name, index, quoted = match.groups()
            key = ("msgstr", int(index or 0)) if name == "msgstr" else (name, None)
        else:
            quoted = line
        text = re.sub(r"\\(.)", lambda escape: ESCAPES.get(escape[1], escape[1]), quoted[1:-1])
        if key[0] == "msgstr":
            entry["msgstr"][key[1]] = entry["msgstr"].get(key[1], "") + text
        else:
            entry[key[0]] = entry.get(key[0], "") + text
    return entries


def messages():
    return [entry for entry in read_po(PO) if entry["msgid"]]


def test_every_message_is_translated_with_the_same_placeholders():
    entries = messages()
    assert len(entries) > 900
    problems = []
    for entry in entries:
        if "fuzzy" in entry["flags"]:
            problems.append(("fuzzy", entry["msgid"]))
        pairs = [(entry["msgid"], entry["msgstr"].get(0, ""))]
        if "msgid_plural" in entry:
            pairs.append((entry["msgid_plural"], entry["msgstr"].get(1, "")))
        for original, translation in pairs:
            if not translation.strip():
                problems.append(("untranslated", original))
            elif sorted(PLACEHOLDER.findall(original)) != sorted(PLACEHOLDER.findall(translation)):
                problems.append(("placeholders", original, translation))
    assert problems == []


def test_the_compiled_catalog_matches_the_po_file():
    """The .mo is committed (the portal's machines have no gettext): it must hold what the .po says."""
    with MO.open("rb") as file:
        catalog = gettext.GNUTranslations(file)
    assert catalog.info()["plural-forms"] == "nplurals=2; plural=(n > 1);"
    for entry in messages():
        context = entry.get("msgctxt")
        if "msgid_plural" in entry:
            for number, form in ((1, 0), (2, 1)):
                if context is None:
                    translated = catalog.ngettext(entry["msgid"], entry["msgid_plural"], number)
                else:
                    translated = catalog.npgettext(context, entry["msgid"], entry["msgid_plural"], number)
                assert translated == entry["msgstr"][form], entry["msgid"]
        elif context is None:
            assert catalog.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]
        else:
            assert catalog.pgettext(context, entry["msgid"]) == entry["msgstr"][0], (context, entry["msgid"])


@pytest.mark.django_db
def test_the_task_lists_of_django_q2_speak_portuguese_too(login_as):
    from accounts.roles import IT

    client = login_as(IT)
    page = client.get(reverse("admin:django_q_schedule_changelist"), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "Tarefas agendadas" in page and "Scheduled tasks" not in page
    page = client.get(reverse("admin:django_q_failure_changelist"), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "Tarefas com falha" in page
