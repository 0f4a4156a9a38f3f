"""Evaluate alert thresholds once (e.g. from cron, every minute), or every ``--interval`` seconds with ``--loop``."""

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from monitoring.alerts import evaluate_all


class Command(BaseCommand):
    help = "Open and resolve alerts from the runs' facts, then send the notifications that are due."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep evaluating until stopped.")
        parser.add_argument(
            "--interval", type=int, default=60, help="Seconds between evaluations with --loop (default 60)."
        )

    def handle(self, *args, loop=False, interval=60, **options):
        while True:
            summary = evaluate_all(timezone.now())
            self.stdout.write(str(summary))
            if not loop:
                return
            time.sleep(max(interval, 1))
