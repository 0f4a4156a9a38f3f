"""A table's mapping tried on sampled records: what a sync would do with each, without writing anything.

Each record goes through the engine's own steps in the engine's order (:mod:`sync.steps.load` and
:mod:`sync.steps.write`): the filter rules (a record they skip, in the rule's words), the record key,
the mapping with the plan's lookups through other tables' links (per-field errors, or the records it
waits for), then the record's link decides between a create, an update or nothing at all. The create
and update bodies are the ones the writer would send (``MappingResult.create_body()``; the update view
of :meth:`TablePlan.update_view`, only its changed fields when the table says so).

Only reads: the table's links and the links lookups go through. No link, event, staged record or
cursor is written, and the target is never called (a table that matches existing records says it
would look first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import TextChoices
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import stored_messages as stored

from .choices import WriteMode
from .connectors.templates import enveloped
from .mapping import first_rejecting_rule, get_path, map_record, values_hash
from .models import RecordLink
from .samples import Sample, indented_text
from .steps.keys import KEY_LENGTH, key_text
from .steps.plan import TablePlan
from .writes import changed_fields


class Outcome(TextChoices):
    """What a sync would do with the record (its colour on the page is the outcome's value)."""

    CREATE = "create", gettext_lazy("would be created")
    UPDATE = "update", gettext_lazy("would be updated")
    UNCHANGED = "unchanged", gettext_lazy("would stay unchanged")
    SKIPPED = "skipped", gettext_lazy("would be skipped")
    WAITS = "waits", gettext_lazy("would wait")
    FAILS = "fails", gettext_lazy("would fail")


@dataclass
class Preview:
    """One sampled record through the table's plan."""

    key: str
    outcome: Outcome
    message: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)  # (target field, its message)
    create_body: str = ""
    update_body: str = ""
    record: str = ""  # the source record, redacted and indented


def preview_sample(plan: TablePlan, sample: Sample) -> list[Preview]:
    """Each sampled record through ``plan``, in the order read (one query for their links)."""
    table = plan.table
    keys = [key_text(get_path(record, table.record_key)) for record in sample.records if isinstance(record, Mapping)]
    links = {link.source_key: link for link in RecordLink.objects.filter(table=table, source_key__in=keys)}
    previews = []
    for record in sample.records:
        preview = preview_record(plan, record, links, sample.secrets)
        preview.record = sample.shown(record)
        previews.append(preview)
    return previews


def preview_record(plan: TablePlan, record, links: Mapping[str, RecordLink], secrets) -> Preview:
    """What a sync would do with ``record``: the verdicts of :meth:`RecordLoader.load`, without its writes."""
    table = plan.table
    if not isinstance(record, Mapping):
        return Preview("", Outcome.FAILS, stored.gettext("The source sent a record that is not an object."))
    key = key_text(get_path(record, table.record_key))
    rule = first_rejecting_rule(record, plan.rules)  # rules first: a record they skip is never a failure
    if rule is not None:
        return Preview(key, Outcome.SKIPPED, rule.explain(record))
    if not key:
        message = stored.gettext('The record has no value in its key field "%(field)s".', field=table.record_key)
        return Preview(key, Outcome.FAILS, message)
    if len(key) > KEY_LENGTH:
        message = stored.gettext(
            'The value of the key field "%(field)s" is longer than %(limit)d characters: it cannot be a key.',
            field=table.record_key,
            limit=KEY_LENGTH,
        )
        return Preview(key[:40] + "…", Outcome.FAILS, message)
    mapped = map_record(record, plan.specs, plan.lookups)
    if mapped.errors:
        return Preview(key, Outcome.FAILS, errors=list(mapped.errors.items()))
    if mapped.waiting:
        return Preview(key, Outcome.WAITS, mapped.waiting_message)
    update_view = plan.update_view(mapped)
    link = links.get(key)
    sending = set(update_view)
    if link is not None and table.update_changed_fields_only:
        sending = set(changed_fields(update_view, link.written_values or {}))
    preview = Preview(
        key,
        Outcome.CREATE,
        create_body=indented_text(enveloped(table.write_body, mapped.create_body(), None), secrets),
        update_body=indented_text(
            enveloped(table.write_body, mapped.body(sending), link.target_key if link else None), secrets
        ),
    )
    preview.outcome, preview.message = _verdict(plan, link, values_hash(update_view), sending)
    return preview


def _verdict(plan: TablePlan, link, digest: str, sending) -> tuple[Outcome, str]:
    """Create, update or nothing, as :meth:`TargetWriter.write` decides it (without looking in the target)."""
    table = plan.table
    if link is not None:
        if link.mapped_hash == digest or not sending:
            return Outcome.UNCHANGED, _("Unchanged since it was last synced: nothing would be sent.")
        if table.write_mode == WriteMode.CREATE_ONLY:
            return Outcome.SKIPPED, stored.gettext("Changed in the source, but this table only creates records.")
        return Outcome.UPDATE, _("Linked to %(key)s in the target: the update body would be sent.") % {
            "key": link.target_key
        }
    if table.write_mode == WriteMode.UPDATE_ONLY:
        return Outcome.UPDATE, _(
            "Not linked yet: it would be looked for in the target by %(field)s and updated when found "
            "(this table never creates records)."
        ) % {"field": plan.key_target_field or table.target_key}
    if table.match_existing and plan.key_target_field:
        return Outcome.CREATE, _(
            "Not linked yet: it would be looked for in the target by %(field)s, updated when found, "
            "else created with the create body."
        ) % {"field": plan.key_target_field}
    return Outcome.CREATE, _("Not linked yet: the create body would be sent.")
