"""Secrets in a configuration file: never their values, only environment variable names."""

import re
import unicodedata

from ..config_schema.values import EnvRef

__all__ = ["EnvRef", "env_var_name", "resolve"]


def env_var_name(connection_name: str, field: str) -> str:
    """``("Demo ERP", "password")`` → ``DEMO_ERP_PASSWORD``; accents dropped, other characters to ``_``."""
    ascii_text = unicodedata.normalize("NFKD", f"{connection_name}_{field}").encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Z0-9]+", "_", ascii_text.upper()).strip("_")
    return f"_{name}" if name[:1].isdigit() else name


def resolve(reference: EnvRef, environ) -> str | None:
    """The variable's value, or ``None`` when it is not set or empty."""
    return environ.get(reference.name) or None
