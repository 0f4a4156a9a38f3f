"""The demo ERP (SOAP) and demo CRM (REST), mounted under /sandbox/ when SANDBOX_ENABLED is on."""

app_name = "sandbox"
urlpatterns = []
