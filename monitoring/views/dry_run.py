"""Integration → Dry run: what the next run would do, table by table, with nothing written (IT).

The form asks how many records a table to read; the report lists each record's fate (would create,
would update, unchanged, skipped by a rule, would fail with each field's message, would wait for a
referenced record, would delete or hold) and the body a create or an update would send, redacted as
a request log is.
"""

from django import forms
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import json_text
from core.redaction import redact_text
from sync.dry_run import DEFAULT_LIMIT, FATES, dry_run

from .access import RUN_INTEGRATION, VIEW_INTEGRATION, require
from .integration import integration_with_health, tab_context

MOST_RECORDS = 1000  # a table, in one request


class DryRunForm(forms.Form):
    limit = forms.IntegerField(
        label=_("Records read per table, at most"), min_value=1, max_value=MOST_RECORDS, initial=DEFAULT_LIMIT
    )


def dry_run_page(request, pk):
    require(request, VIEW_INTEGRATION, RUN_INTEGRATION)
    now = timezone.now()
    integration = integration_with_health(pk, now)
    form = DryRunForm(request.POST if request.method == "POST" else None)
    report = dry_run(integration, form.cleaned_data["limit"]) if form.is_valid() else None
    if report is not None:
        for table in report.tables:
            table.fates = [(words, table.counts.get(fate, 0)) for fate, words in FATES.items()]
            for planned in table.planned:
                planned.fate = FATES.get(planned.action, planned.action)
                planned.body_text = redact_text(json_text.dumps(planned.body, spaced=True)) if planned.body else ""
    context = {**tab_context(request, integration, "general", now), "form": form, "report": report}
    return TemplateResponse(request, "monitoring/dry_run.html", context)
