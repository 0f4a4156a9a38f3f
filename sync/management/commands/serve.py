"""Serve the portal and run its background workers together; Ctrl-C stops them all."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Run the web server and the django-q2 cluster together (for the demo and development)."

    def add_arguments(self, parser):
        parser.add_argument("address", nargs="?", default="127.0.0.1:8000", help="Where to serve the portal.")

    def handle(self, *args, address, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        processes = {
            # Our own manage.py with fixed arguments.
            "workers": subprocess.Popen([sys.executable, manage, "qcluster"]),  # noqa: S603
            "web": subprocess.Popen([sys.executable, manage, "runserver", address, "--noreload"]),  # noqa: S603
        }
        self.stdout.write(f"Portal on http://{address}/ with its background workers. Ctrl-C stops both.")
        signal.signal(signal.SIGTERM, _stop_on_terminate)
        try:
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
            ended = [name for name, process in processes.items() if process.poll() is not None]
            self.stderr.write(f"{', '.join(ended)} stopped; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            stop_all(processes.values())


def _stop_on_terminate(signum, frame):
    raise KeyboardInterrupt


def stop_all(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
