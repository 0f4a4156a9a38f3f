"""Every way the portal writes a duration comes from ``core.durations``, one function per style."""

from datetime import timedelta

import pytest
from django.utils import translation

from core.durations import elapsed_duration, format_duration, human_duration, short_duration, typed_duration


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def test_human_durations():
    assert human_duration(timedelta(hours=24)) == "24 hours"
    assert human_duration(timedelta(days=1, hours=12)) == "1 day 12 hours"
    assert human_duration(timedelta(minutes=90)) == "1 hour 30 minutes"
    assert human_duration(timedelta(seconds=45)) == "45 seconds"


@pytest.mark.parametrize(
    ("value", "english", "portuguese"),
    [
        (seconds(4.24), "4.2 s", "4,2 s"),
        (seconds(45), "45.0 s", "45,0 s"),
        (seconds(60), "1 min 0 s", "1 min 0 s"),
        (seconds(125), "2 min 5 s", "2 min 5 s"),
        (seconds(3599), "59 min 59 s", "59 min 59 s"),
        (seconds(3660), "1 hour 1 minute", "1 hora e 1 minuto"),
        (seconds(5400), "1 hour 30 minutes", "1 hora e 30 minutos"),
        (None, "—", "—"),
    ],
)
def test_a_measured_time_is_short_under_an_hour_and_in_words_past_it(value, english, portuguese):
    with translation.override("en"):
        assert elapsed_duration(value) == english
    with translation.override("pt-br"):
        assert elapsed_duration(value) == portuguese


@pytest.mark.parametrize(
    ("value", "english", "portuguese"),
    [
        (seconds(3.2), "3.2 s", "3,2 s"),
        (seconds(100), "1 minute 40 seconds", "1 minuto 40 segundos"),
        (seconds(7205), "2 hours 0 minutes 5 seconds", "2 horas 0 minuto 5 segundos"),
        (None, "—", "—"),
    ],
)
def test_a_run_page_keeps_every_second(value, english, portuguese):
    with translation.override("en"):
        assert elapsed_duration(value, to_the_second=True) == english
    with translation.override("pt-br"):
        assert elapsed_duration(value, to_the_second=True) == portuguese


def test_a_duration_is_typed_in_hours_up_to_a_week():
    with translation.override("en"):
        assert typed_duration(timedelta(hours=24)) == "24h"
        assert typed_duration(timedelta(hours=36)) == "36h"
        assert typed_duration(timedelta(days=7)) == "7d"
        assert typed_duration(timedelta(minutes=90)) == "1h 30m"
    with translation.override("pt-br"):
        assert typed_duration(timedelta(minutes=90)) == "1h 30min"


def test_configuration_files_get_the_same_text_in_every_language():
    for language in ("en", "pt-br"):
        with translation.override(language):
            assert format_duration(timedelta(days=1, hours=12)) == "1d 12h"
            assert format_duration(timedelta(0)) == "0m"
    with translation.override("pt-br"):
        assert short_duration(timedelta(days=1, hours=12, minutes=30)) == "1d 12h 30min"
