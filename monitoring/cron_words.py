"""A cron expression in words, in the reader's language ("At 02:30, Monday through Friday").

cron-descriptor writes the sentence; two things are adapted to the portal: its language follows
the active Django language (it has Portuguese as ``pt_PT``), and the day and month names, which
the library takes from the process locale (English, "C", on a server), are put in the reader's
language with Django's own translations.
"""

import calendar
import re

from cron_descriptor import ExpressionDescriptor, FormatException, Options
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import get_language

# Django's language → cron-descriptor's locale.
LOCALES = {"pt-br": "pt_PT", "pt": "pt_PT", "en": "en_US"}
# The names the library writes under the "C" locale → Django's translated ones.
_NAMES = {
    **{calendar.day_name[number]: WEEKDAYS[number] for number in range(7)},
    **{calendar.month_name[number]: MONTHS[number] for number in range(1, 13)},
}
_NAME = re.compile(r"\b(" + "|".join(map(re.escape, _NAMES)) + r")\b")


def cron_in_words(expression: str) -> str:
    """The expression in words, or the expression itself when the library cannot read it."""
    locale = LOCALES.get((get_language() or "en").lower(), "en_US")
    options = Options(locale_code=locale, use_24hour_time_format=True)
    try:
        sentence = ExpressionDescriptor(expression, options).get_description()
    except (FormatException, ValueError, IndexError):
        return expression
    return _NAME.sub(lambda match: str(_NAMES[match.group(1)]), sentence)
