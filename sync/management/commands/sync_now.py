"""Run one integration in the foreground, with a progress bar and a summary table."""

import shutil

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core import json_text
from monitoring.choices import OUTCOME_ACTIONS, RunStatus, Trigger
from sync.dry_run import DEFAULT_LIMIT, FATES
from sync.dry_run import dry_run as dry_run_of
from sync.engine import AlreadyRunning, execute_run, queue_run
from sync.models import Integration


class Command(BaseCommand):
    help = "Run an integration now, in the foreground, and print what each table did."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration's name.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read, filter, map and look up as a run would, and say what it would write; write nothing.",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=DEFAULT_LIMIT,
            help=f"With --dry-run: records read per table at most (default {DEFAULT_LIMIT}).",
        )

    def handle(self, *args, name, dry_run=False, limit=DEFAULT_LIMIT, **options):
        try:
            integration = Integration.objects.get(name=name)
        except Integration.DoesNotExist:
            known = ", ".join(Integration.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f'No integration is named "{name}" (known: {known}).') from None
        if dry_run:
            if limit < 1:
                raise CommandError("--limit must be at least 1.")
            console = Console(file=self.stdout, width=max(140, shutil.get_terminal_size().columns))
            print_report(console, dry_run_of(integration, limit))
            return
        try:
            run = queue_run(integration, Trigger.COMMAND)
        except AlreadyRunning as exc:
            raise CommandError(str(exc)) from None

        console = Console(file=self.stdout, width=max(140, shutil.get_terminal_size().columns))
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[read]} read"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            tasks = {}

            def show(table, table_run):
                if table.pk not in tasks:
                    tasks[table.pk] = progress.add_task(table.name, total=None, read=0)
                progress.update(tasks[table.pk], read=table_run.read, completed=table_run.read)

            run = execute_run(run.pk, progress=show)

        summary = Table(title=f"{integration.name} · run #{run.pk} · {run.get_status_display()}")
        summary.add_column("table")
        summary.add_column("read", justify="right")
        for action in OUTCOME_ACTIONS:
            summary.add_column(action, justify="right")
        for table_run in run.table_runs.select_related("table"):
            summary.add_row(
                table_run.table.name, str(table_run.read), *(str(getattr(table_run, a)) for a in OUTCOME_ACTIONS)
            )
        console.print(summary)
        if run.duration is not None:
            console.print(f"Duration: {run.duration.total_seconds():.1f} s")
        if run.status == RunStatus.FAILED:
            raise CommandError(f"The run failed: {run.error}")
        if run.status == RunStatus.PARTIAL:
            console.print("Some records failed: see the review queue.")
        if run.status == RunStatus.PAUSED:
            console.print(f"{run.error}; the minute's maintenance resumes it then.")
        waiting = sum(table_run.waiting for table_run in run.table_runs.all())
        if waiting:
            console.print(
                f"{waiting} record(s) wait for a referenced record not synced yet (e.g. an order's customer): "
                "every run retries them."
            )


def print_report(console: Console, report) -> None:
    """A dry run's report: what each table would do, then each listed record's fate and body."""
    title = f"{report.integration.name} · dry run · at most {report.limit} records a table · nothing written"
    summary = Table(title=title)
    summary.add_column("table")
    summary.add_column("read", justify="right")
    for words in FATES.values():
        summary.add_column(str(words), justify="right")
    for table in report.tables:
        summary.add_row(table.table.name, str(table.read), *(str(table.counts.get(fate, 0)) for fate in FATES))
    console.print(summary)
    for table in report.tables:
        for planned in table.planned:
            line = f"{table.table.name} {planned.key}: {FATES.get(planned.action, planned.action)}"
            if planned.target_key:
                line += f" ({planned.target_key})"
            if planned.message:
                line += f" — {planned.message}"
            console.print(line, markup=False, highlight=False)
            if planned.body is not None:
                console.print(json_text.dumps(planned.body, spaced=True), markup=False, highlight=False)
            for field, message in planned.field_errors.items():
                console.print(f"    {field}: {message}", markup=False, highlight=False)
    if report.error:
        raise CommandError(f"The dry run stopped: {report.error}")
