"""One field of a table's records: source path → target field, with a transform and its options."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import validators
from ..choices import FieldOwner, SendOn, Transform, ValueType
from ..mapping.checks import check_mapping_paths, check_transform
from .cleaning import raise_errors
from .tables import SyncTable


class FieldMapping(models.Model):
    """Source path → target field, with an optional transform."""

    table = models.ForeignKey(SyncTable, models.CASCADE, related_name="mappings", verbose_name=_("table"))
    position = models.PositiveIntegerField(_("position"), default=0, validators=validators.number_range(0, 10_000))
    source_path = models.CharField(
        _("source path"), max_length=200, blank=True, help_text=_("e.g. CNPJ or Address.City; blank for a constant")
    )
    target_field = models.CharField(_("target field"), max_length=200)
    transform = models.CharField(_("transform"), max_length=12, choices=Transform.choices, blank=True, default="")
    transform_options = models.JSONField(
        _("transform options"),
        default=dict,
        blank=True,
        help_text=_('e.g. {"map": {"CA": "California"}} for a value map, {"value": 1} for a constant'),
    )
    required = models.BooleanField(_("required"), default=False)
    value_type = models.CharField(
        _("type"),
        max_length=10,
        choices=ValueType.choices,
        blank=True,
        default=ValueType.AS_IS,
        help_text=_("What the target receives, e.g. a decimal is sent as a JSON number with its exact digits"),
    )
    send_on = models.CharField(
        _("sent"),
        max_length=10,
        choices=SendOn.choices,
        default=SendOn.BOTH,
        help_text=_("Fields the target fixes at creation (a type, a code) are sent on create only"),
    )
    default_value = models.JSONField(
        _("default"),
        null=True,
        blank=True,
        help_text=_('Sent when the source value is missing or empty, e.g. 0 or "BRL"; blank: no default'),
    )
    omit_empty = models.BooleanField(
        _("leave out when empty"),
        default=False,
        help_text=_(
            "An empty value (missing, null or blank) leaves the target field out instead of sending it empty, so a "
            "list element only this mapping writes (Phones[0].PhoneNumber) is not made; an update keeps the "
            "target's value"
        ),
    )
    owner = models.CharField(
        _("owner when both changed"), max_length=10, choices=FieldOwner.choices, default=FieldOwner.SOURCE
    )

    class Meta:
        ordering = ["table", "position", "pk"]
        verbose_name = _("field mapping")
        verbose_name_plural = _("field mappings")

    def __str__(self):
        return f"{self.source_path or '∅'} → {self.target_field}"

    def clean(self):
        # An unknown transform is refused by the field's choices; its options cannot be judged.
        known = self.transform in Transform.values
        errors = {"transform_options": check_transform(self.transform, self.transform_options) if known else []}
        needs_no_source = self.transform in (Transform.CONSTANT, Transform.TEMPLATE)
        if not self.source_path and not needs_no_source:
            errors["source_path"] = [_("A source path is required unless the transform is a constant or a template.")]
        errors.update(check_mapping_paths(self.source_path, self.target_field))
        if self.omit_empty and self.required:
            errors["omit_empty"] = [_("A required field cannot be left out when empty: choose one of the two.")]
        if self.owner == FieldOwner.TARGET and self.send_on == SendOn.UPDATE:
            errors["send_on"] = [_("A field the target owns is written on create only: it cannot be sent on update.")]
        raise_errors(errors)
