"""The credentials a REST connection fills in: in its login body, in what every body carries."""

from __future__ import annotations

from ..base import ConnectionConfig
from ..templates import CREDENTIAL_PLACEHOLDERS, render_template


def credentials(config: ConnectionConfig) -> dict:
    """The connection's credentials by placeholder name; a blank one counts as absent."""
    return {name: getattr(config, name) or None for name in CREDENTIAL_PLACEHOLDERS}


def filled(template: dict, config: ConnectionConfig) -> dict:
    """``template`` with the connection's credentials filled in (a login body, the credentials every body carries)."""
    return render_template(template, credentials(config))
