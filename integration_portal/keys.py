"""The secret key and the field-encryption keys.

In production (``DEBUG`` off) both must come from the environment. In dev/demo
mode they are generated once and kept in the data folder, so that the first
command needs no setup and secrets stored by the demo stay readable.
"""

import json
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from . import env

LOCAL_KEYS_FILE = "local-keys.json"


def load_local_keys(data_dir: Path) -> dict:
    """Read the dev/demo keys from the data folder, creating them on first use."""
    path = Path(data_dir) / LOCAL_KEYS_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys, indent=2), encoding="utf-8")
    return keys


def validate_fernet_keys(keys: list[str]) -> list[str]:
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).'
            ) from None
    return keys


def resolve_keys(debug: bool, data_dir: Path, environ=None) -> tuple[str, list[str]]:
    """Return ``(SECRET_KEY, FIELD_ENCRYPTION_KEYS)`` or refuse to start."""
    secret_key = env.get_str("SECRET_KEY", environ=environ)
    field_keys = env.get_list("FIELD_ENCRYPTION_KEYS", environ=environ)
    if debug and not (secret_key and field_keys):
        local = load_local_keys(data_dir)
        secret_key = secret_key or local["SECRET_KEY"]
        field_keys = field_keys or local["FIELD_ENCRYPTION_KEYS"]
    missing = []
    if not secret_key:
        missing.append("SECRET_KEY")
    elif len(secret_key) < 32 or secret_key.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for production: use at least 32 random characters "
            "(or set DEBUG=1 for a local demo)."
        )
    if not field_keys:
        missing.append("FIELD_ENCRYPTION_KEYS")
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} must be set when DEBUG is off "
            "(directly or through a *_FILE variable); set DEBUG=1 for a local demo with generated keys."
        )
    return secret_key, validate_fernet_keys(field_keys)
