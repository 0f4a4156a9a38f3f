"""Helpers for tests that start real processes: free ports, waiting with deadlines, clean stops."""

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout=30.0, interval=0.05, message="condition"):
    """Poll ``condition`` until it returns a truthy value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as exc:  # kept and reported when the deadline passes
            last_error, result = exc, None
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(
        f"{message} not met within {timeout} s" + (f" (last error: {last_error!r})" if last_error else "")
    )


def settled(read):
    """A condition true once ``read()`` answers the same twice in a row (poll it with an interval)."""
    last = []

    def condition():
        value = read()
        same = bool(last) and last[-1] == value
        last.append(value)
        return same

    return condition


@contextmanager
def running(command, *, env=None, cwd=None):
    """Start ``command`` in its own process group; stop the whole group on exit, also on failure."""
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop(process)


def stop(process, grace=10.0):
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass
