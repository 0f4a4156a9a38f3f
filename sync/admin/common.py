"""What the configuration admins share: durations typed as words, JSON read within limits."""

from django.db import models

from ..forms import human_duration_formfield
from ..json_input import JSONInputField


class HumanDurationsMixin:
    """Durations are typed and shown as 24h / 1d 12h."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.DurationField):
            return human_duration_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


# JSON typed in a form is read within limits: deep nesting, NaN or a huge number is a form error, never a 500.
JSON_INPUT = {models.JSONField: {"form_class": JSONInputField}}
