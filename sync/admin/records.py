"""Read-only admins of what the portal keeps of each record: its links and staged payloads."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from ..models import RecordLink, StagedRecord


@admin.register(RecordLink)
class RecordLinkAdmin(ReadOnlyAdmin):
    list_display = ["source_key", "target_key", "table", "synced_at"]
    list_filter = ["table__integration", "table__name"]
    list_select_related = ["table__integration"]
    search_fields = ["source_key", "target_key"]
    show_full_result_count = False


@admin.register(StagedRecord)
class StagedRecordAdmin(ReadOnlyAdmin):
    list_display = ["source_key", "table", "payload_bytes", "received_at"]
    list_filter = ["table__integration", "table__name"]
    list_select_related = ["table__integration"]
    search_fields = ["source_key"]
    show_full_result_count = False
