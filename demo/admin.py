"""Admin for the demo systems: the knobs are editable (to show an alert), the demo tables read-only."""

from django.contrib import admin

from core import admin as core_admin

from .models import (
    CrmContact,
    CrmField,
    CrmOrder,
    CrmProduct,
    ErpContact,
    ErpCustomer,
    ErpOrder,
    ErpProduct,
    SandboxKnobs,
)


@admin.register(SandboxKnobs)
class SandboxKnobsAdmin(admin.ModelAdmin):
    list_display = [
        "system",
        "down",
        "error_rate",
        "throttle_rate",
        "slow_rate",
        "drop_rate",
        "latency_ms",
        "updated_at",
    ]
    list_editable = ["down", "error_rate", "throttle_rate", "slow_rate", "drop_rate", "latency_ms"]
    # The demo systems' credentials are secrets like any other: never shown on a page.
    fields = [
        "system",
        "down",
        "error_rate",
        "throttle_rate",
        "retry_after_seconds",
        "latency_ms",
        "slow_rate",
        "slow_ms",
        "drop_rate",
        "order_step_seconds",
        "updated_at",
    ]
    readonly_fields = ["system", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(core_admin.ReadOnlyAdmin):
    """A demo system's records: seeded or written over HTTP, never edited here; counted and paged lightly."""

    show_full_result_count = False
    list_per_page = 50


@admin.register(ErpCustomer)
class ErpCustomerAdmin(ReadOnlyAdmin):
    list_display = ["code", "trade_name", "cnpj", "city", "state", "credit_status", "active", "updated_at"]
    list_filter = ["credit_status", "active", "state"]
    search_fields = ["code", "trade_name", "legal_name", "cnpj"]


@admin.register(ErpContact)
class ErpContactAdmin(ReadOnlyAdmin):
    list_display = ["name", "customer", "email", "phone", "role", "updated_at"]
    list_select_related = ["customer"]
    search_fields = ["name", "email", "customer__code"]


@admin.register(ErpProduct)
class ErpProductAdmin(ReadOnlyAdmin):
    list_display = ["code", "description", "unit", "unit_price", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["code", "description"]


@admin.register(ErpOrder)
class ErpOrderAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer", "status", "external_id", "total", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["customer"]
    search_fields = ["=number", "external_id", "customer__code"]


@admin.register(CrmContact)
class CrmContactAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "type_id", "cnpj", "cpf", "email", "company", "updated_at"]
    list_filter = ["type_id", "state"]
    list_select_related = ["company"]
    search_fields = ["name", "cnpj", "cpf", "email"]


@admin.register(CrmProduct)
class CrmProductAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "code", "price", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "code"]


@admin.register(CrmOrder)
class CrmOrderAdmin(ReadOnlyAdmin):
    list_display = ["order_number", "contact", "amount", "stage_id", "status", "erp_order_number", "updated_at"]
    list_filter = ["stage_id"]
    list_select_related = ["contact"]
    search_fields = ["=order_number", "contact__name"]


@admin.register(CrmField)
class CrmFieldAdmin(ReadOnlyAdmin):
    list_display = ["key", "name", "entity_id", "type_id"]
    list_filter = ["entity_id", "type_id"]
    search_fields = ["key", "name"]
