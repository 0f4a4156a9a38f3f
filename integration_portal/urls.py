from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import language, two_factor

urlpatterns = [
    path("i18n/setlang/", language.set_language, name="set_language"),
    path("two-factor/", two_factor.setup, name="two_factor_setup"),
]
if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sync.sandbox.urls")))
urlpatterns.append(path("", admin.site.urls))
