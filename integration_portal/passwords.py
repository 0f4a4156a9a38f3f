"""A password must not be made of the product's words: what an attacker tries first on this portal."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The product, and the ERPs and CRMs its users connect (four letters or more: shorter ones hide in anything).
PRODUCT_WORDS = (
    "portal",
    "integration",
    "integracao",
    "sankhya",
    "totvs",
    "protheus",
    "omie",
    "bling",
    "dynamics",
    "ploomes",
    "hubspot",
    "salesforce",
)


def _folded(text: str) -> str:
    """Lower case, letters only, common digit-for-letter swaps undone (p0rtal, 1ntegration)."""
    swapped = text.lower().translate(str.maketrans("0134@$5", "oleaass"))
    return re.sub(r"[^a-z]", "", swapped.replace("ç", "c").replace("ã", "a"))


class ProductWordsValidator:
    """Refuses a password that contains one of :data:`PRODUCT_WORDS`, whatever its case or digit swaps."""

    def validate(self, password, user=None):
        folded = _folded(password)
        found = next((word for word in PRODUCT_WORDS if word in folded), None)
        if found:
            raise ValidationError(
                _("This password contains “%(word)s”: a word of this portal or of the systems it connects."),
                code="password_product_word",
                params={"word": found},
            )

    def get_help_text(self):
        return _("Your password can’t contain the name of this portal or of the ERPs and CRMs it connects.")
