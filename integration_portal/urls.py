from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
]
if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sync.sandbox.urls")))
urlpatterns.append(path("", admin.site.urls))
