"""The first README command's path: migrate, create the demo users, serve, log in."""

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from .processes import free_port, running, wait_until

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
