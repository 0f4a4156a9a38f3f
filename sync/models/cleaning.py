"""What the configuration models' ``clean()`` methods share."""

from django.core.exceptions import ValidationError

from .. import validators


def clean_fields_with_outbound_urls(instance, url_fields, exclude, clean_other_fields) -> None:
    """Check ``url_fields`` against the outbound policy, then the other fields as Django does.

    A URL refused here is not also checked by the generic URL validator (one clear message).
    """
    exclude = set(exclude or ())
    errors = {}
    for name in url_fields:
        if name in exclude:
            continue
        problems = validators.check_outbound_url(getattr(instance, name), instance._meta.get_field(name).verbose_name)
        if problems:
            errors[name] = problems
            exclude.add(name)
    try:
        clean_other_fields(exclude=exclude)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def in_range(value, bounds: tuple[int, int]) -> bool:
    """Whether ``value`` is a whole number within ``bounds`` (outside, the field's own range check speaks)."""
    low, high = bounds
    return isinstance(value, int) and low <= value <= high


def raise_errors(field_messages: dict) -> None:
    """Raise the messages by field as one ``ValidationError``, leaving out fields without any."""
    cleaned = {field: messages for field, messages in field_messages.items() if messages}
    if cleaned:
        raise ValidationError(cleaned)
