from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from accounts import two_factor
from sync.webhooks.receive import receive

from . import language

urlpatterns = [
    path("i18n/setlang/", language.set_language, name="set_language"),
    path("two-factor/", two_factor.setup, name="two_factor_setup"),
    # Webhooks in: senders post here, outside the admin (no login; the token and the signature are the proof).
    path("hooks/<str:token>/", receive, name="webhook_receive"),
]
if apps.is_installed("demo"):  # the demo ERP and CRM, only where the sandbox is on
    urlpatterns.append(path("sandbox/", include("demo.urls")))
urlpatterns.append(path("", admin.site.urls))
