"""Recompute every integration's stored state from its runs, or only compare with ``--check``."""

from django.core.management.base import BaseCommand, CommandError

from monitoring import state
from sync.slots import first_slot


class Command(BaseCommand):
    help = (
        "Recompute the stored state the dashboard and the alerts read (last success, failure streak, active run, "
        "review queue counts, deadlines) from the runs, the table runs, the review queue and the held deletes."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only compare the stored state with the recomputed one; exit with an error when they differ.",
        )

    def handle(self, *args, check=False, **options):
        differences = state.differences()
        for line in differences:
            self.stdout.write(line)
        if check:
            if differences:
                raise CommandError(f"{len(differences)} stored facts differ from the runs.")
            self.stdout.write("The stored state matches the runs.")
            return
        rebuilt = state.rebuild(first_slot=first_slot)
        self.stdout.write(f"Rebuilt the state of {rebuilt} integrations ({len(differences)} facts corrected).")
