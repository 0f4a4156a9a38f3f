"""Seed the demo ERP and CRM and configure the integration "Demo ERP ↔ Demo CRM"."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from demo import seed
from demo.crm_webhook_setup import register_crm_webhooks
from demo.integration import DEMO_NAME, FILE, configure_demo
from demo.invoice_files import configure_files_demo, drop_invoices, ensure_daily_drop
from sync.config_io import ConfigError


class Command(BaseCommand):
    help = (
        f"Seed the demo ERP and CRM (once) and configure the integration between them: {FILE.name}, "
        "imported like any integration file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--origin",
            default="http://127.0.0.1:8000",
            help="Where this portal is served: the demo systems live under <origin>/sandbox/.",
        )
        parser.add_argument("--every", type=int, default=5, metavar="MINUTES", help="Run the demo every N minutes.")
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="The language of the demo's description, business rule and table descriptions "
            "(default: the portal's, LANGUAGE_CODE).",
        )

    def handle(self, *args, origin, every, language, **options):
        created = seed.populate(seed.SeedSizes(), timezone.now())
        try:
            integration = configure_demo(origin, schedule_minutes=every, language=language)
            configure_files_demo(origin, schedule_minutes=every, language=language)
        except ConfigError as exc:
            heading = _("%(source)s was refused, nothing was imported:") % {"source": FILE}
            raise CommandError("\n".join([heading, *exc.messages])) from None
        register_crm_webhooks(integration, origin)  # the CRM's changes arrive as webhooks once the portal serves
        drop_invoices()
        ensure_daily_drop()
        seeded = sum(created.values())
        self.stdout.write(
            f'"{DEMO_NAME}" is configured against {origin}/sandbox/ and runs every {every} minutes'
            + (f"; {seeded} demo records seeded." if seeded else "; the demo data was already there.")
        )
