"""What the portal keeps about its people beyond Django's user: their preferences."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserPreference(models.Model):
    """What one person chose for the portal, kept across sessions and browsers: the language for now.

    ``language`` is a code of ``settings.LANGUAGES`` (checked with :func:`accounts.preferences.supported`
    where it is chosen), or blank for "follow the browser".
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="portal_preference", verbose_name=_("user")
    )
    language = models.CharField(_("language"), max_length=15, blank=True)

    class Meta:
        db_table = "monitoring_userpreference"  # where the table was made, before the accounts app had it
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return str(self.user)
