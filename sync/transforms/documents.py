"""Brazilian documents and phone numbers: CNPJ, CPF, and phones as people dial them."""

import re
import unicodedata

import phonenumbers

from core import stored_messages as stored

from ..choices import Transform
from .base import TransformError, as_text, display_value, is_blank, is_number
from .options import option
from .text import NOT_DIGITS

_DOCUMENT_SEPARATORS = re.compile(r"[\s./\-]")
# CNPJs are alphanumeric from July 2026 (IN RFB 2.229/2024): 12 letters or digits, 2 check digits.
# Hand-written on purpose: the CNPJ/CPF libraries check only the digits-only CNPJ of before.
_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_CPF = re.compile(r"[0-9]{11}")


def _check_digit(characters: str) -> int:
    """Modulo 11 with weights 2, 3, … from the right (wrapping after 9 for CNPJs)."""
    wrap = 8 if len(characters) >= 12 else 100
    total = sum((ord(char) - 48) * ((position % wrap) + 2) for position, char in enumerate(reversed(characters)))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def _check_digits_problem(document: str) -> str | None:
    """Why the document's check digits are wrong, or None."""
    if len(set(document)) == 1:
        return stored.gettext("all its digits are the same")
    base = document[:-2]
    first = _check_digit(base)
    second = _check_digit(base + str(first))
    return None if document[-2:] == f"{first}{second}" else stored.gettext("the check digits do not match")


def _document_characters(value, width: int) -> str:
    """The document without separators; numbers get back the leading zeros they lost."""
    if is_number(value):
        return as_text(value).zfill(width)
    return _DOCUMENT_SEPARATORS.sub("", unicodedata.normalize("NFKC", as_text(value))).upper()


def _invalid(kind: str, value, reason: str) -> TransformError:
    return TransformError(
        stored.gettext(
            "%(kind)s %(value)s is invalid: %(reason)s", kind=kind, value=display_value(value), reason=reason
        )
    )


def _format_cnpj(value, document: str) -> str:
    if not _CNPJ.fullmatch(document):
        raise _invalid(
            "CNPJ", value, stored.gettext("it must have 14 digits (or 12 letters or digits and 2 check digits)")
        )
    problem = _check_digits_problem(document)
    if problem:
        raise _invalid("CNPJ", value, problem)
    return f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}"


def _format_cpf(value, document: str) -> str:
    if not _CPF.fullmatch(document):
        raise _invalid("CPF", value, stored.gettext("it must have 11 digits"))
    problem = _check_digits_problem(document)
    if problem:
        raise _invalid("CPF", value, problem)
    return f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"


def cnpj(value, options):
    if is_blank(value):
        return None
    return _format_cnpj(value, _document_characters(value, 14))


def cpf(value, options):
    if is_blank(value):
        return None
    return _format_cpf(value, _document_characters(value, 11))


def cnpj_cpf(value, options):
    """A CPF when the document has 11 characters, a CNPJ when it has 14."""
    if is_blank(value):
        return None
    document = _document_characters(value, 0)
    if is_number(value):
        # A number lost its leading zeros: a valid CPF if it can be one, else a CNPJ.
        if len(document) <= 11:
            try:
                return _format_cpf(value, document.zfill(11))
            except TransformError:
                pass
        return _format_cnpj(value, document.zfill(14))
    if len(document) == 11:
        return _format_cpf(value, document)
    if len(document) == 14:
        return _format_cnpj(value, document)
    raise _invalid(stored.gettext("CNPJ/CPF"), value, stored.gettext("it must have 11 digits (CPF) or 14 (CNPJ)"))


# ---------------------------------------------------------------- phone

_BRAZIL = "55"
# Numbers without an area code that Brazilians dial as they are: 0800, 0300, 0500, 0900 (kept in national form).
_NATIONAL_FORM = (phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE,
                  phonenumbers.PhoneNumberType.SHARED_COST)  # fmt: skip


def phone(value, options):
    """Brazilian numbers become ``+55 11 98765-4321`` (mobile) or ``+55 11 3456-7890``; 0800 numbers stay
    ``0800 123 4567``. Numbers of other countries become E.164 (``+12125550123``).

    Google's libphonenumber (``phonenumbers``, updated as area codes and plans change) reads and checks
    the number: punctuation, a trunk ``0``, a carrier code (``0 15 11 …``), the country code (``+55``,
    ``0055``, ``55…``); ``default_country_code`` says the country of numbers written without one.
    """
    if is_blank(value):
        return None
    country = option(options, Transform.PHONE, "default_country_code", _BRAZIL).strip().lstrip("+")
    if not re.fullmatch(r"[1-9][0-9]{0,2}", country):
        raise TransformError(stored.gettext('option "default_country_code" must be 1 to 3 digits, e.g. 55'))
    text = as_text(value).strip()
    if NOT_DIGITS.sub("", text).startswith("00") and not text.startswith("+"):
        text = "+" + text.lstrip()[2:]  # 0055 …: the international prefix most of the world dials
    region = phonenumbers.region_code_for_country_code(int(country))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise _invalid(stored.gettext("phone"), value, _why_not_a_phone(number, country))
    if number.country_code != int(_BRAZIL):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.number_type(number) in _NATIONAL_FORM:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _why_not_a_phone(number, country: str):
    """In words, why libphonenumber refused a number: its length, or (Brazil) the part that is wrong."""
    brazilian = number.country_code == int(_BRAZIL) if number is not None else country == _BRAZIL
    national = str(number.national_number) if number is not None else ""
    if not brazilian:
        return stored.gettext("an international number has 8 to 15 digits")
    if len(national) not in (10, 11):
        return stored.gettext("a Brazilian number has an area code and 8 or 9 digits")
    area, subscriber = national[:2], national[2:]
    if len(subscriber) == 9 and not subscriber.startswith("9"):
        return stored.gettext("a 9-digit mobile number starts with 9")
    if len(subscriber) == 8 and subscriber[0] in "01":
        return stored.gettext("a landline number starts with 2 to 9")
    return stored.gettext("%(area)s is not an area code", area=area)
