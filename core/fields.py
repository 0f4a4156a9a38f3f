"""A text field encrypted at rest with MultiFernet.

The first key of ``settings.FIELD_ENCRYPTION_KEYS`` encrypts; every key can
decrypt, so keys can be rotated. A value no key can decrypt raises
:class:`SecretDecryptionError` — the field never hands back ciphertext.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def cipher() -> MultiFernet:
    return _multi_fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str, label: str = "a secret") -> str:
    try:
        return cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise SecretDecryptionError(
            f"Cannot decrypt {label}: none of the keys in FIELD_ENCRYPTION_KEYS encrypted it. "
            "Restore the key it was written with (keep old keys after the new first one when rotating)."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first (newest) key."""
    return cipher().rotate(token.encode("ascii")).decode("ascii")


class EncryptedTextField(models.TextField):
    """Stores ``Fernet(value)``; reads back the plaintext, or raises."""

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value, label=f"{self.model.__name__}.{self.name}")

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
