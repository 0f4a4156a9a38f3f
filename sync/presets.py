"""Presets: integration files kept in the ``PRESETS_DIR`` folder that IT starts a new integration from.

A preset is an ordinary integration file (``manage.py integration import`` reads it as it is): its secrets
are ``{env: NAME}`` references and its addresses example values. What a person fills in to use one, its
:class:`Input`\\ s, is derived from the file: the integration's name, each connection's name, addresses,
user name and client id, and one secret per referenced variable. :func:`create_from_preset` writes those
into the document and imports it through :func:`sync.config_io.import_text`, so every check of the import
applies, and refuses to touch an integration or a connection that already exists.

Each preset's documentation is ``docs/presets/<file name>.md`` beside the presets folder.
"""

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .choices import Direction
from .config_io import CREATED, ConfigError, Outcome, import_text
from .config_io import schema as file_schema
from .config_io.problems import Path as DocumentPath
from .config_io.problems import Problems, format_path
from .config_io.text import from_yaml, max_bytes, to_yaml
from .models import Connection, Integration

SUFFIXES = (".yaml", ".yml")
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a file name in the folder, never a path out of it
ROLES = file_schema.CONNECTION_ROLES  # ("erp", "crm")
# A connection's keys a person gives for their own systems, when the preset's file has them.
ADDRESS_KEYS = ("base_url", "wsdl_url", "endpoint_url", "oauth_authorize_url", "oauth_token_url")
ACCOUNT_KEYS = ("username", "client_id")
INTEGRATION = "integration"  # the group of the integration's own inputs; the others are ROLES


@dataclass(frozen=True)
class Input:
    """One value a person fills in: where it goes in the document, or, for a secret, the variable it sets."""

    key: str  # the form field's name
    group: str  # INTEGRATION, "erp" or "crm"
    label: str
    example: str  # the preset's own value (a secret has none)
    path: DocumentPath  # where the value goes in the document, or where the secret is referenced
    secret: bool = False
    variable: str = ""  # a secret's environment variable

    @property
    def where(self) -> str:
        """The path as the import's messages name it, e.g. ``connections.crm.base_url``."""
        return format_path(self.path)


@dataclass(frozen=True)
class PresetTable:
    name: str
    direction: str  # in words, e.g. "ERP → CRM"


@dataclass
class Preset:
    """One preset file: what it brings and what it asks, or why it cannot be read."""

    slug: str  # the file's name without its suffix: its address in the admin, its documentation's name
    file: Path
    problems: list[str] = field(default_factory=list)
    document: dict = field(default_factory=dict)
    title: str = ""
    description: str = ""
    erp_name: str = ""
    crm_name: str = ""
    active: bool = True
    tables: list[PresetTable] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems

    @property
    def documentation(self) -> Path:
        return presets_dir().parent / "docs" / "presets" / f"{self.slug}.md"

    def has_documentation(self) -> bool:
        return self.documentation.is_file()

    def groups(self) -> list[tuple[str, list[Input]]]:
        """The inputs by system: the integration's, the ERP's, the CRM's (empty groups left out)."""
        titles = {
            INTEGRATION: _("Integration"),
            "erp": _("ERP: %(name)s") % {"name": self.erp_name},
            "crm": _("CRM: %(name)s") % {"name": self.crm_name},
        }
        return [
            (title, [item for item in self.inputs if item.group == group])
            for group, title in titles.items()
            if any(item.group == group for item in self.inputs)
        ]


def presets_dir() -> Path:
    return Path(settings.PRESETS_DIR)


def preset_files() -> list[Path]:
    folder = presets_dir()
    if not folder.is_dir():
        return []
    return sorted(
        path for path in folder.iterdir() if path.suffix in SUFFIXES and path.is_file() and SLUG.match(path.stem)
    )


def list_presets() -> list[Preset]:
    return [read_preset(path) for path in preset_files()]


def find_preset(slug: str) -> Preset | None:
    """The preset whose file is called ``slug`` (with a YAML suffix) in the folder, else ``None``."""
    if not SLUG.match(slug):
        return None
    for path in preset_files():
        if path.stem == slug:
            return read_preset(path)
    return None


def read_preset(path: Path) -> Preset:
    """Read one file within the import's limits; a file that does not load keeps its problems."""
    preset = Preset(slug=path.stem, file=path)
    try:
        data = from_yaml(_read_text(path), path.name)
        problems = Problems(order=file_schema.path_order)
        document = file_schema.read_document(data, problems)
        problems.raise_if_any()
    except ConfigError as exc:
        preset.problems = exc.messages
        return preset
    preset.document = data
    attrs = document.integration.attrs
    preset.title = attrs["name"]
    preset.description = attrs.get("description", "")
    preset.erp_name, preset.crm_name = attrs["erp_name"], attrs["crm_name"]
    preset.active = attrs.get("active", True)
    preset.tables = [
        PresetTable(table.attrs["name"], Direction(table.attrs.get("direction") or Direction.ERP_TO_CRM).label)
        for table in document.tables
    ]
    preset.inputs = _inputs(data, document)
    return preset


def _read_text(path: Path) -> str:
    """The file's text; a file larger than the import reads is refused before it is read."""
    if path.stat().st_size > max_bytes():
        raise ConfigError(
            [
                _("%(source)s is larger than %(limit)s, the most an import reads (setting CONFIG_IMPORT_MAX_BYTES)")
                % {"source": path.name, "limit": filesizeformat(max_bytes())}
            ]
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [_("%(source)s is not UTF-8 text (byte %(position)d)") % {"source": path.name, "position": exc.start}]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [_("%(source)s cannot be read: %(error)s") % {"source": path.name, "error": exc.strerror}]
        ) from None


def _inputs(data: dict, document: file_schema.Document) -> list[Input]:
    inputs = [
        Input("name", INTEGRATION, capfirst(Integration._meta.get_field("name").verbose_name), data["name"], ("name",))
    ]
    variables = set()
    for role in ROLES:
        connection = data["connections"][role]
        for key in ("name", *ADDRESS_KEYS, *ACCOUNT_KEYS):
            value = connection.get(key)
            if isinstance(value, str) and value:
                label = capfirst(Connection._meta.get_field(key).verbose_name)
                inputs.append(Input(f"{role}_{key}", role, label, value, ("connections", role, key)))
        for key, reference in document.connections[role].secrets.items():
            if reference.name not in variables:
                variables.add(reference.name)
                label = capfirst(Connection._meta.get_field(key).verbose_name)
                inputs.append(_secret(role, label, ("connections", role, key), reference.name))
    for key, reference in document.integration.secrets.items():
        if reference.name not in variables:
            variables.add(reference.name)
            label = capfirst(Integration._meta.get_field(key).verbose_name)
            inputs.append(_secret(INTEGRATION, label, (key,), reference.name))
    return inputs


def _secret(group: str, label: str, path: DocumentPath, variable: str) -> Input:
    return Input(f"secret_{variable}", group, label, "", path, secret=True, variable=variable)


# Creating an integration from a preset -----------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    integration: Integration
    outcomes: list[Outcome]

    def names(self, kind) -> list[str]:
        return [outcome.name for outcome in self.outcomes if outcome.kind == str(kind._meta.verbose_name)]


def filled_text(preset: Preset, values: dict[str, str]) -> str:
    """The preset's document with the given values in place of its own, as YAML; secrets stay references."""
    document = copy.deepcopy(preset.document)
    for item in preset.inputs:
        if item.secret or item.key not in values:
            continue
        *parents, key = item.path
        target = document
        for part in parents:
            target = target[part]
        target[key] = values[item.key]
    return to_yaml(document)


def create_from_preset(preset: Preset, values: dict[str, str]) -> Created:
    """Import the filled preset as a new integration; :class:`ConfigError` lists every problem, nothing saved.

    ``values`` holds each input's value by its key, secrets included (an empty one is left unset, and the
    import says which variable is missing). An integration or a connection of the same name is refused:
    this never changes what exists.
    """
    text = filled_text(preset, values)
    environ = {item.variable: values[item.key] for item in preset.inputs if item.secret and values.get(item.key)}
    name = values.get("name", preset.title)
    with transaction.atomic():
        _refuse_existing(preset, values)
        outcomes = import_text(text, preset.file.name, environ=environ)
        if any(outcome.action != CREATED for outcome in outcomes):  # one was created meanwhile by someone else
            raise ConfigError([_("the integration and its connections must be new: nothing was saved")])
        integration = Integration.objects.get(name=name)
    return Created(integration, outcomes)


def _refuse_existing(preset: Preset, values: dict[str, str]) -> None:
    problems = Problems()
    name = values.get("name", preset.title)
    if Integration.objects.filter(name=name).exists():
        problems.add(
            ("name",),
            _('an integration called "%(name)s" already exists: choose another name (a preset never changes one)')
            % {"name": name},
        )
    for role in ROLES:
        connection = values.get(f"{role}_name", preset.document["connections"][role]["name"])
        if Connection.objects.filter(name=connection).exists():
            problems.add(
                ("connections", role, "name"),
                _(
                    'a connection called "%(name)s" already exists: choose another name '
                    "(a preset never changes a connection other integrations may use)"
                )
                % {"name": connection},
            )
    problems.raise_if_any()
