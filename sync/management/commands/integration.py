"""``manage.py integration export NAME`` / ``import FILE`` / ``schema``: configuration as code."""

import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from sync import config_io
from sync.config_io.text import max_bytes
from sync.config_schema.document import json_schema_text


class Command(BaseCommand):
    help = (
        "Export an integration (connections, tables, field mappings) as YAML, import such a file, "
        "or print the JSON Schema of the file for editors."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{export,import,schema}")
        export = actions.add_parser("export", help="Write an integration as YAML to standard output.")
        export.add_argument("name", help="The integration's name.")
        export.add_argument(
            "--secrets-from-env",
            action="store_true",
            help="Write each secret as a reference to an environment variable (never its value).",
        )
        load = actions.add_parser("import", help="Create or update an integration from a YAML file.")
        load.add_argument("file", help="The YAML file, or - for standard input.")
        load.add_argument("--dry-run", action="store_true", help="Check the file and report, but save nothing.")
        actions.add_parser("schema", help="Write the JSON Schema of an integration file to standard output.")

    def handle(self, *args, **options):
        if options["action"] == "export":
            self.export(options["name"], secrets_from_env=options["secrets_from_env"])
        elif options["action"] == "schema":
            self.stdout.write(json_schema_text(), ending="")
        else:
            self.load(options["file"], dry_run=options["dry_run"])

    def export(self, name: str, *, secrets_from_env: bool) -> None:
        try:
            result = config_io.export_text(name, secrets_from_env=secrets_from_env)
        except config_io.ConfigError as exc:
            raise CommandError("\n".join(exc.messages)) from None
        self.stdout.write(result.text, ending="")
        if result.env_vars:
            self.stderr.write(_("Before importing this file, set these environment variables:"))
            for env_var in result.env_vars:
                self.stderr.write(f"  {env_var.name}  ({env_var.path})")
        if result.secrets_left_out:
            self.stderr.write(
                _(
                    "Secrets were left out (%(paths)s): an import keeps the secrets a connection already has, "
                    "but cannot create a connection that needs them. "
                    "Use --secrets-from-env to reference environment variables instead."
                )
                % {"paths": ", ".join(result.secrets_left_out)}
            )

    def load(self, path: str, *, dry_run: bool) -> None:
        text, source = self.read(path)
        try:
            outcomes = config_io.import_text(text, source, dry_run=dry_run)
        except config_io.ConfigError as exc:
            heading = _("%(source)s was refused, nothing was imported:") % {"source": source}
            raise CommandError("\n".join([heading, *exc.messages])) from None
        for line in summary(outcomes):
            self.stdout.write(line)
        if dry_run:
            self.stdout.write(_("Dry run: the file is valid; nothing was saved."))

    def read(self, path: str) -> tuple[str, str]:
        # One character more than an import reads: a larger file is refused as too large, never read whole.
        limit = max_bytes() + 1
        if path == "-":
            return sys.stdin.read(limit), _("standard input")
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read(limit), path
        except OSError as exc:
            raise CommandError(_("cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror}) from None
        except UnicodeDecodeError:
            raise CommandError(_("%(path)s is not UTF-8 text") % {"path": path}) from None


def action_label(action: str) -> str:
    return {
        config_io.CREATED: _("created"),
        config_io.UPDATED: _("updated"),
        config_io.UNCHANGED: _("unchanged"),
        config_io.DEACTIVATED: _("deactivated (not in the file; kept with its record links)"),
        config_io.LEFT_INACTIVE: _("not in the file, left inactive"),
    }[action]


def summary(outcomes: list[config_io.Outcome]) -> list[str]:
    """One line per object, then the totals."""
    lines = [
        _('%(kind)s "%(name)s": %(action)s') % {"kind": o.kind, "name": o.name, "action": action_label(o.action)}
        for o in outcomes
    ]
    counts = Counter(outcome.action for outcome in outcomes)
    lines.append(
        _("%(created)d created, %(updated)d updated, %(deactivated)d deactivated, %(unchanged)d unchanged.")
        % {
            "created": counts[config_io.CREATED],
            "updated": counts[config_io.UPDATED],
            "deactivated": counts[config_io.DEACTIVATED],
            "unchanged": counts[config_io.UNCHANGED] + counts[config_io.LEFT_INACTIVE],
        }
    )
    return lines
