"""One date-time style per language on every page: the short date and time, in the portal's time zone.

English reads ``11/14/2024 9:04 a.m.``, Portuguese ``14/11/2024 09:04``; pages that log events one
after another add the seconds. Where a person compares with now (last success, next run, alert
opened, review-queue age), the relative words sit beside the time. Every moment is in a
``<time datetime>`` element, or in a sentence in the same words.
"""

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse

from accounts.roles import IT
from monitoring.choices import (
    AlertKind,
    AlertStatus,
    ErrorStatus,
    HeldDeleteStatus,
    RecordAction,
    RunStatus,
    Trigger,
)
from monitoring.models import (
    Alert,
    ExportJob,
    ExportStatus,
    FieldConflict,
    HeldDelete,
    RecordError,
    RecordEvent,
    RequestLog,
    SyncRun,
    TableRun,
)

pytestmark = pytest.mark.django_db

# 12:00 in São Paulo. Every moment below falls on a day after the 12th, so that a date read in the
# wrong order (day and month swapped) cannot pass for the right one.
NOW = datetime(2024, 11, 14, 15, 0, tzinfo=UTC)
STARTED = datetime(2024, 11, 14, 12, 4, 32, tzinfo=UTC)  # 09:04:32 in São Paulo

MONTH = r"(?:0[1-9]|1[0-2])"
DAY = r"(?:1[3-9]|2\d|3[01])"  # after the 12th, see NOW
STYLES = {
    "en": {
        "minutes": rf"{MONTH}/{DAY}/\d{{4}} (?:\d{{1,2}}(?::\d{{2}})? [ap]\.m\.|noon|midnight)",
        "seconds": rf"{MONTH}/{DAY}/\d{{4}} \d{{1,2}}:\d{{2}}:\d{{2}} [ap]\.m\.",
        "date": rf"{MONTH}/{DAY}/\d{{4}}",
    },
    "pt-br": {
        "minutes": rf"{DAY}/{MONTH}/\d{{4}} \d{{2}}:\d{{2}}",
        "seconds": rf"{DAY}/{MONTH}/\d{{4}} \d{{2}}:\d{{2}}:\d{{2}}",
        "date": rf"{DAY}/{MONTH}/\d{{4}}",
    },
}
# What another style would leave on a page: a month in words, an ISO date, a date in any order.
OTHER_STYLES = re.compile(
    r"\b(?:Jan|Feb|March|April|May|June|July|Aug|Sept|Oct|Nov|Dec)\b\.?\s+\d"
    r"|\bde (?:Janeiro|Fevereiro|Março|Abril|Maio|Junho|Julho|Agosto|Setembro|Outubro|Novembro|Dezembro)\b"
    r"|\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
)
TIME_ELEMENT = re.compile(r"<time\b([^>]*)>(.*?)</time>", re.S)
CLOCK = 'data-field="generated-at"'  # the dashboard's "Updated at 12:00:00": a clock reading, not a moment


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def it_user(login_as):
    client = login_as(IT)
    return client, User.objects.get(username="it")


@pytest.fixture
def history(integration, it_user):
    """An integration with a run, its events, calls and conflicts, the queue, held deletes, alerts and an export."""
    _client, person = it_user
    table = integration.tables.get()
    run = SyncRun.objects.create(
        integration=integration,
        status=RunStatus.PARTIAL,
        trigger=Trigger.SCHEDULE,
        scheduled_for=STARTED - timedelta(seconds=32),
        queued_at=STARTED - timedelta(seconds=2),
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=100),
    )
    TableRun.objects.create(
        run=run,
        table=table,
        status=RunStatus.PARTIAL,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=90),
        read=2,
        created=1,
        failed=1,
    )
    RecordEvent.objects.create(
        run=run, table=table, record_key="11222333000181", action=RecordAction.CREATED, occurred_at=STARTED
    )
    RequestLog.objects.create(
        run=run,
        table=table,
        method="GET",
        url="https://erp.example/ws",
        status_code=200,
        started_at=STARTED + timedelta(seconds=1),
        finished_at=STARTED + timedelta(seconds=2),
    )
    FieldConflict.objects.create(
        run=run,
        table=table,
        record_key="11222333000181",
        target_key="501",
        field="Name",
        written_value="ACME",
        lost_value="Acme",
        new_value="ACME Ltda",
        detected_at=STARTED + timedelta(seconds=3),
    )
    RecordError.objects.create(
        table=table,
        run=run,
        record_key="12345678000100",
        payload={"CNPJ": "12345678000100"},
        reason="CNPJ is invalid",
        first_failed_at=STARTED,
        last_failed_at=STARTED + timedelta(minutes=30),
        next_retry_at=NOW + timedelta(minutes=30),
    )
    RecordError.objects.create(
        table=table,
        run=run,
        record_key="98765432000199",
        payload={"CNPJ": "98765432000199"},
        reason="CNPJ is invalid",
        status=ErrorStatus.IGNORED,
        first_failed_at=STARTED,
        last_failed_at=STARTED,
        closed_at=NOW - timedelta(hours=1),
        closed_by=person,
    )
    HeldDelete.objects.create(table=table, run=run, source_key="1", target_key="501", held_at=STARTED)
    HeldDelete.objects.create(
        table=table,
        run=run,
        source_key="2",
        target_key="502",
        held_at=STARTED,
        status=HeldDeleteStatus.REJECTED,
        decided_at=NOW - timedelta(hours=1),
        decided_by=person,
    )
    Alert.objects.create(
        integration=integration, kind=AlertKind.RUN_STUCK, message="Run stuck", opened_at=NOW - timedelta(hours=2)
    )
    Alert.objects.create(
        integration=integration,
        table=table,
        kind=AlertKind.DELETES_HELD,
        message="1 delete held",
        opened_at=NOW - timedelta(hours=2),
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_at=NOW - timedelta(hours=1),
        acknowledged_by=person,
        acknowledgement_note="Looking",
    )
    job = ExportJob.objects.create(
        integration=integration,
        requested_by=person,
        table_ids=[table.pk],
        start_date=date(2024, 11, 13),
        end_date=date(2024, 11, 14),
        status=ExportStatus.DONE,
        rows=2,
        file_name="history.xlsx",
        created_at=NOW - timedelta(minutes=10),
        started_at=NOW - timedelta(minutes=10),
        finished_at=NOW - timedelta(minutes=9, seconds=55),
    )
    return integration, run, job


def pages(integration, run, job) -> dict[str, tuple[str, ...]]:
    """Every page that shows moments, and how: with seconds on the logs of events, without elsewhere."""
    queue = reverse("admin:integration_queue", args=[integration.pk])
    return {
        reverse("admin:index"): ("minutes",),
        # Facts and alerts without seconds; its run log, a log of events, with them.
        reverse("admin:integration", args=[integration.pk]): ("minutes", "seconds"),
        reverse("admin:run", args=[run.pk]): ("seconds",),
        queue: ("minutes",),
        f"{queue}?status=ignored": ("minutes",),
        reverse("admin:integration_deletes", args=[integration.pk]): ("seconds",),
        reverse("admin:integration_history", args=[integration.pk]): ("seconds",),
        reverse("admin:export", args=[job.pk]): ("seconds",),
    }


def page_text(client, url, language) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, url
    return response.content.decode()


def moments_of(page: str) -> list[tuple[str, str]]:
    """``(datetime attribute, text)`` of every ``<time>`` on the page but the dashboard's clock."""
    return [
        (re.search(r'datetime="([^"]*)"', attributes).group(1), html.unescape(text))
        for attributes, text in TIME_ELEMENT.findall(page)
        if CLOCK not in attributes
    ]


def visible_text(page: str) -> str:
    """The words a person reads: no tags, no scripts or styles, no clock."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(rf"<time {CLOCK}[^>]*>.*?</time>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("language", ["en", "pt-br"])
def test_every_moment_on_every_page_follows_the_languages_one_style(it_user, history, language):
    client, _person = it_user
    style = STYLES[language]
    for url, kinds in pages(*history).items():
        page = page_text(client, url, language)
        moments = moments_of(page)
        assert moments, f"no moment on {url}"
        expected = re.compile("|".join(style[kind] for kind in kinds))
        for attribute, text in moments:
            assert expected.fullmatch(text), (url, text)
            assert datetime.fromisoformat(attribute).utcoffset() == timedelta(hours=-3), (url, attribute)
        # Nothing else on the page looks like a date in another style (date ranges of an export aside).
        words = visible_text(page)
        words = re.sub(rf"{style['seconds']}|{style['minutes']}", " ", words)
        words = re.sub(rf"{style['date']} – {style['date']}", " ", words)
        assert not OTHER_STYLES.search(words), (url, OTHER_STYLES.search(words).group(0))


def test_the_same_moment_reads_in_each_language(it_user, history):
    client, _person = it_user
    _integration, run, _job = history
    url = reverse("admin:run", args=[run.pk])
    started = '<dd data-fact="started"><time datetime="2024-11-14T09:04:32-03:00">'
    assert f"{started}11/14/2024 9:04:32 a.m.</time>" in page_text(client, url, "en")
    assert f"{started}14/11/2024 09:04:32</time>" in page_text(client, url, "pt-br")


def test_what_a_person_compares_with_now_says_how_far_it_is(it_user, history):
    client, _person = it_user
    integration, _run, _job = history
    general = visible_text(page_text(client, reverse("admin:integration", args=[integration.pk]), "en"))
    assert "Next scheduled run 11/15/2024 midnight (in 12 hours)" in general
    assert "Last success 11/14/2024 9:06 a.m. (2 hours ago)" in general
    deadline = re.search(r"An alert opens unless a run succeeds by (.+?) \((.+?)\)", general)
    assert re.fullmatch(STYLES["en"]["minutes"], deadline.group(1)) and deadline.group(2).startswith("in ")
    assert "1 delete held 11/14/2024 10 a.m. (2 hours ago)" in general  # the alert and when it opened
    assert "by it at 11/14/2024 11 a.m.: Looking" in general

    queue = visible_text(page_text(client, reverse("admin:integration_queue", args=[integration.pk]), "en"))
    assert "11/14/2024 9:04 a.m. (2 hours 55 minutes ago)" in queue  # first failed, and how long it has waited
    assert "11/14/2024 12:30 p.m. (in 30 minutes)" in queue  # next automatic retry

    general = visible_text(page_text(client, reverse("admin:integration", args=[integration.pk]), "pt-br"))
    assert "15/11/2024 00:00 (em 12 horas)" in general
    assert "14/11/2024 09:06 (há 2 horas)" in general
