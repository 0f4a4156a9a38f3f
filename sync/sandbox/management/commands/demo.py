"""Seed the demo ERP and CRM and configure the integration "Demo ERP ↔ Demo CRM"."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sync.sandbox import seed
from sync.sandbox.demo import DEMO_NAME, configure_demo


class Command(BaseCommand):
    help = "Seed the demo ERP and CRM (once) and configure the integration between them."

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
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The sandbox is off (SANDBOX_ENABLED); the demo is never set up in production.")
        created = seed.populate(seed.SeedSizes(), timezone.now())
        configure_demo(origin, schedule_minutes=every, language=language)
        seeded = sum(created.values())
        self.stdout.write(
            f'"{DEMO_NAME}" is configured against {origin}/sandbox/ and runs every {every} minutes'
            + (f"; {seeded} demo records seeded." if seeded else "; the demo data was already there.")
        )
