"""The webhook inbox: every delivery received, newest first, with its verdict and where its processing stands.

Everyone who may see the run history sees the verdicts, the reasons and the statuses; the headers and the
body (redacted again when shown: secret-named fields, the receiver's secret) only with the
``monitoring.view_webhook_payload`` permission (IT).
"""

import json

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import ReadOnlyAdmin
from core.durations import elapsed_duration
from core.redaction import redact_text
from sync.tasks import enqueue_webhooks
from sync.webhooks.processing import reopen

from .choices import WEBHOOK_STATUS_COLOURS, WEBHOOK_VERDICT_COLOURS, WebhookEventStatus, WebhookVerdict
from .health import WEBHOOK_LATENCY
from .models import REFUSED_BODY_KEPT

PAYLOAD_PERMISSION = "monitoring.view_webhook_payload"
PROCESS_PERMISSION = "monitoring.process_webhook_event"
PAYLOAD_FIELDS = ("shown_headers", "shown_body")


class WebhookEventAdmin(ReadOnlyAdmin):
    actions = ["process_again"]
    list_display = [
        "received_at",
        "connection",
        "event_type",
        "verdict_badge",
        "refusal",
        "status_badge",
        "latency",
        "replays",
        "body_bytes",
    ]
    list_filter = ["receiver", "verdict", "status"]
    list_select_related = ["receiver__connection"]
    search_fields = ["delivery_id", "event_type"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = [
        "connection",
        "received_at",
        "sent_at",
        "delivery_id",
        "event_type",
        "verdict_badge",
        "refusal",
        "body_bytes",
        "replays",
        "last_replay_at",
        "status_badge",
        "processed_at",
        "written_at",
        "latency",
        "run",
        "result",
        *PAYLOAD_FIELDS,
    ]
    readonly_fields = fields

    def get_fields(self, request, obj=None):
        if request.user.has_perm(PAYLOAD_PERMISSION):
            return self.fields
        return [name for name in self.fields if name not in PAYLOAD_FIELDS]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("receiver__connection", "run__integration")

    def has_process_permission(self, request):
        return request.user.has_perm(PROCESS_PERMISSION)

    @admin.action(description=_("Process the selected events again"), permissions=["process"])
    def process_again(self, request, queryset):
        """Accepted events that ended (processed, failed, ignored) go through the processing again."""
        with transaction.atomic():
            count, integrations = reopen(queryset)
            for integration_id in sorted(integrations):
                transaction.on_commit(lambda pk=integration_id: enqueue_webhooks(pk))
        if not count:
            self.message_user(
                request,
                _("None of the selected events can be processed again: only accepted events that ended can."),
                messages.WARNING,
            )
            return
        self.message_user(
            request,
            ngettext(
                "%(count)d event sent to be processed again.", "%(count)d events sent to be processed again.", count
            )
            % {"count": count},
        )

    @admin.display(description=_("connection"), ordering="receiver__connection__name")
    def connection(self, obj):
        return obj.receiver.connection

    @admin.display(description=_("verdict"), ordering="verdict")
    def verdict_badge(self, obj):
        return badge(obj.verdict, WebhookVerdict(obj.verdict).label, WEBHOOK_VERDICT_COLOURS)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, WebhookEventStatus(obj.status).label, WEBHOOK_STATUS_COLOURS)

    @admin.display(description=_("latency"), ordering=WEBHOOK_LATENCY)
    def latency(self, obj):
        """Received → its records written to the target; — when they were not (waiting, failed, not yet)."""
        if obj.written_at is None:
            return "—"
        return elapsed_duration(obj.written_at - obj.received_at)

    @admin.display(description=_("headers"))
    def shown_headers(self, obj):
        lines = "\n".join(f"{name}: {value}" for name, value in sorted(obj.headers.items()))
        return format_html('<pre data-webhook-headers class="portal-payload">{}</pre>', lines or "—")

    @admin.display(description=_("body"))
    def shown_body(self, obj):
        text = pretty_body(redact_text(obj.body, [obj.receiver.secret]))
        if obj.verdict == WebhookVerdict.REFUSED and obj.body_bytes > REFUSED_BODY_KEPT:
            note = _("A refused delivery keeps only the first %(kept)s of its %(size)s bytes.") % {
                "kept": REFUSED_BODY_KEPT,
                "size": obj.body_bytes,
            }
            return format_html('<p class="help">{}</p><pre data-webhook-body>{}</pre>', note, text or "—")
        return format_html("<pre data-webhook-body>{}</pre>", text or "—")


def badge(value: str, label, colours: dict):
    """A coloured badge that also says the state in words (never colour alone)."""
    colour = colours.get(value, "grey")
    return format_html('<span class="portal-badge portal-{}" data-status="{}">{}</span>', colour, value, label)


def pretty_body(text: str) -> str:
    """A JSON body indented for reading; any other text as it is."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text
