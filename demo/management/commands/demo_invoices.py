"""Drop today's invoice file of the demo ERP in its folder (what its daily schedule does)."""

from django.core.management.base import BaseCommand

from demo.invoice_files import drop_invoices


class Command(BaseCommand):
    help = "Drop today's invoice file of the demo ERP (NF_<yyyymmdd>.csv, Latin-1) in its folder."

    def handle(self, *args, **options):
        self.stdout.write(f"Dropped {drop_invoices()}")
