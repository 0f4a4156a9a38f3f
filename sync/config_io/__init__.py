"""Configuration as code: an integration, its connections, tables and mappings as one YAML file.

``export_text`` writes the file (secrets left out, or referenced by environment
variable name); ``import_text`` validates a whole file and saves it, or refuses
it whole with every problem named by its path inside the file.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from core.fields import SecretDecryptionError

from ..models import Integration
from .dump import EnvVar, dump_integration
from .load import CREATED, DEACTIVATED, LEFT_INACTIVE, UNCHANGED, UPDATED, Outcome, import_text
from .problems import ConfigError
from .text import to_yaml

__all__ = [
    "CREATED",
    "DEACTIVATED",
    "LEFT_INACTIVE",
    "UNCHANGED",
    "UPDATED",
    "ConfigError",
    "EnvVar",
    "Export",
    "Outcome",
    "export_text",
    "import_text",
]


@dataclass(frozen=True)
class Export:
    text: str
    env_vars: list[EnvVar]  # what the import will read (empty unless secrets are referenced)
    secrets_left_out: list[str]  # paths of secrets the connections use but the file does not carry


def export_text(name: str, *, secrets_from_env: bool = False) -> Export:
    """The YAML of the integration called ``name``; :class:`ConfigError` when there is none."""
    try:
        integration = Integration.objects.select_related("erp_connection", "crm_connection").filter(name=name).first()
    except SecretDecryptionError as exc:
        raise ConfigError([str(exc)]) from None
    if integration is None:
        known = ", ".join(Integration.objects.order_by("name").values_list("name", flat=True)) or "-"
        message = _('no integration is called "%(name)s" (known: %(known)s)') % {"name": name, "known": known}
        raise ConfigError([message])
    document, env_vars = dump_integration(integration, secrets_from_env=secrets_from_env)
    left_out = []
    if not secrets_from_env:
        if integration.alert_webhook_url:
            left_out.append("alert_webhook_url")
        for role in ("erp", "crm"):
            connection = getattr(integration, f"{role}_connection")
            left_out += [f"connections.{role}.{field}" for field in connection.secrets_set()]
    return Export(to_yaml(document), env_vars, left_out)
