"""Secrets in a configuration file: never their values, only environment variable names."""

import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EnvRef:
    """``{env: NAME}``: the secret is read from the environment variable ``NAME`` on import."""

    name: str

    def as_document(self) -> dict:
        return {"env": self.name}


def env_var_name(connection_name: str, field: str) -> str:
    """``("Demo ERP", "password")`` → ``DEMO_ERP_PASSWORD``; accents dropped, other characters to ``_``."""
    ascii_text = unicodedata.normalize("NFKD", f"{connection_name}_{field}").encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Z0-9]+", "_", ascii_text.upper()).strip("_")
    return f"_{name}" if name[:1].isdigit() else name


def read_reference(value) -> EnvRef | str:
    """The reference written in the file, or a message saying what is wrong with it."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if isinstance(name, str) and ENV_NAME.match(name):
            return EnvRef(name)
        return _('"%(name)s" is not an environment variable name: use letters, digits and _') % {"name": name}
    return _(
        "secrets are not written in the file: reference an environment variable instead, e.g. {env: DEMO_ERP_PASSWORD}"
    )


def resolve(reference: EnvRef, environ) -> str | None:
    """The variable's value, or ``None`` when it is not set or empty."""
    return environ.get(reference.name) or None
