"""Fill the demo ERP and CRM with realistic Brazilian data (idempotent)."""

from dataclasses import fields

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo import seed
from demo.choices import SandboxSystem


class Command(BaseCommand):
    help = (
        "Seed the demo ERP (SOAP) and demo CRM (REST) served under /sandbox/. Running it twice creates "
        "nothing new; --reset deletes the demo records first. Credentials are generated at random once and "
        "kept; --show-credentials prints them."
    )

    def add_arguments(self, parser):
        defaults = seed.SeedSizes()
        for field in fields(seed.SeedSizes):
            parser.add_argument(
                f"--{field.name.replace('_', '-')}",
                type=int,
                default=getattr(defaults, field.name),
                metavar="N",
                help=f"How many {field.name.replace('_', ' ')} (default {getattr(defaults, field.name)}).",
            )
        parser.add_argument("--seed", type=int, default=seed.DEFAULT_SEED, help="Random seed of the data set.")
        parser.add_argument("--reset", action="store_true", help="Delete every demo record and reset the knobs first.")
        parser.add_argument("--rotate-credentials", action="store_true", help="Generate new demo credentials.")
        parser.add_argument(
            "--show-credentials", action="store_true", help="Print the demo ERP user/password and CRM User-Key."
        )

    def handle(self, *args, **options):
        sizes = seed.SeedSizes(**{field.name: options[field.name] for field in fields(seed.SeedSizes)})
        if any(value < 0 for value in vars(sizes).values()):
            raise CommandError("Sizes cannot be negative.")
        if options["reset"]:
            seed.reset()
            self.stdout.write("Demo records deleted; knobs reset.")
        created = seed.populate(sizes, timezone.now(), options["seed"])
        for table, count in created.items():
            self.stdout.write(f"{table}: {count} created")
        knobs = seed.ensure_knobs()
        if options["rotate_credentials"]:
            for row in knobs.values():
                row.rotate_credentials()
            self.stdout.write("New demo credentials generated.")
        if options["show_credentials"]:
            erp, crm = knobs[SandboxSystem.ERP], knobs[SandboxSystem.CRM]
            self.stdout.write(f"Demo ERP (HTTP basic): user {erp.username} password {erp.password}")
            self.stdout.write(f"Demo CRM (User-Key header): {crm.api_key}")
        self.stdout.write(self.style.SUCCESS("Sandbox ready at /sandbox/erp/soap?wsdl and /sandbox/crm/Contacts."))
