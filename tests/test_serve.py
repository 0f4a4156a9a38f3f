"""The first README command's path: migrate, create the demo users, serve, log in."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .processes import free_port, running, wait_until

pytestmark = pytest.mark.slow  # starts processes: `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parent.parent


def manage(args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )


def login(base, username, password):
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/login/?next=/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"},
        headers={"Referer": f"{base}/login/"},
        timeout=10,
    )
    return response


def test_demo_users_log_into_the_served_portal(tmp_path):
    env = {"PATH": os.environ["PATH"], "DEBUG": "1", "PORTAL_DATA_DIR": str(tmp_path / "data")}
    manage(["migrate", "--no-input", "-v0"], env)
    printed = manage(["create_demo_users"], env).stdout
    passwords = dict(re.findall(r"user: (\w+)\s+password: (\S+)", printed))
    assert set(passwords) == {"supervisor", "it", "onboarding"}
    again = manage(["create_demo_users"], env).stdout
    assert "already exist" in again
    assert not any(password in again for password in passwords.values())

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env=env, cwd=ROOT):
        page = wait_until(lambda: requests.get(f"{base}/login/", timeout=2), message="the login page")
        assert page.status_code == 200
        assert 'name="username"' in page.text
        for username, password in passwords.items():
            response = login(base, username, password)
            assert response.status_code == 200
            assert "Log out" in response.text, f"{username} could not log in"
            assert "Integrations" in response.text
        assert "Please enter the correct username" in login(base, "it", "wrong-password").text


def test_serve_runs_the_portal_and_its_workers_and_ctrl_c_stops_them_all(tmp_path):
    import signal

    env = {"PATH": os.environ["PATH"], "DEBUG": "1", "PORTAL_DATA_DIR": str(tmp_path / "data")}
    manage(["migrate", "--no-input", "-v0"], env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running([sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"], env=env, cwd=ROOT) as serve:
        wait_until(lambda: requests.get(f"{base}/login/", timeout=2).status_code == 200, timeout=60)
        children = wait_until(lambda: _descendants(serve.pid) if len(_descendants(serve.pid)) >= 3 else None, 60)
        assert any("qcluster" in _command(pid) for pid in children)
        serve.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        assert serve.wait(timeout=30) is not None
        wait_until(lambda: not [pid for pid in children if _alive(pid)], timeout=30, message="every child to stop")


def _descendants(pid):
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent:
                    found.append(int(entry.name))
                    queue.append(int(entry.name))
    return found


def _command(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
