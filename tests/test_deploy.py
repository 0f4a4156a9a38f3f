"""Production: Django's deploy checks pass with a production environment, and gunicorn serves the portal.

The portal runs here as the README's "Deploying to production" says: DEBUG off, keys from the
environment, ``migrate`` and ``collectstatic``, gunicorn serving ``integration_portal.wsgi``
behind a TLS-terminating proxy (``BEHIND_TLS_PROXY``; the test plays the proxy by sending
``X-Forwarded-Proto: https``) and WhiteNoise serving the static files.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from .processes import free_port, running, wait_until

pytestmark = pytest.mark.slow  # starts processes: `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parent.parent
ONE_YEAR = 365 * 24 * 3600
HASHED_CSS = re.compile(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"')
VIA_HTTPS = {"X-Forwarded-Proto": "https"}
ADMIN_PASSWORD = secrets.token_urlsafe(16)


def production_environment(folder: Path, **extra) -> dict:
    return {
        "PATH": os.environ["PATH"],
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTAL_DATA_DIR": str(folder / "data"),
        "STATIC_ROOT": str(folder / "static"),
        "ALLOWED_HOSTS": "127.0.0.1,portal.example.com",
        "BEHIND_TLS_PROXY": "1",
        **extra,
    }


def manage(environment: dict, *args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def deploy_check(environment: dict) -> subprocess.CompletedProcess:
    return manage(environment, "check", "--deploy", "--fail-level", "WARNING", timeout=120)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"BEHIND_TLS_PROXY": "0", "SECURE_SSL_REDIRECT": "1"},
        {"DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal", "REDIS_URL": "redis://cache:6379/0"},
    ],
    ids=["behind-a-tls-proxy", "tls-in-the-portal", "postgresql-and-redis"],
)
def test_the_deploy_check_passes_with_a_production_environment(tmp_path, extra):
    result = deploy_check(production_environment(tmp_path, **extra))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("extra", "issue"),
    [
        ({"BEHIND_TLS_PROXY": "0"}, "security.W008"),  # neither a TLS proxy nor a redirect: plain HTTP allowed
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_COOKIES": "0"}, "security.W012"),
        ({"ALLOWED_HOSTS": ""}, "security.W020"),
        ({"DEBUG": "1"}, "security.W018"),
    ],
)
def test_the_deploy_check_fails_when_a_production_setting_is_missing(tmp_path, extra, issue):
    result = deploy_check(production_environment(tmp_path, **extra))
    assert result.returncode != 0
    assert issue in result.stderr


class Browser:
    """A browser behind the TLS proxy: every request says HTTPS, and cookies marked Secure are sent back."""

    def __init__(self, origin: str, port: int):
        self.origin, self.https_origin = origin, f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}

    def _headers(self, extra=None) -> dict:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return {**VIA_HTTPS, **({"Cookie": cookie} if cookie else {}), **(extra or {})}

    def _keep(self, response) -> requests.Response:
        self.cookies.update({cookie.name: cookie.value for cookie in response.cookies})
        return response

    def get(self, path: str) -> requests.Response:
        return self._keep(requests.get(f"{self.origin}{path}", headers=self._headers(), timeout=10))

    def sign_in(self, username: str, password: str) -> None:
        self.get("/login/")
        data = {"username": username, "password": password, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        headers = self._headers({"Origin": self.https_origin, "Referer": f"{self.https_origin}/login/"})
        answer = self._keep(
            requests.post(f"{self.origin}/login/", data=data, headers=headers, timeout=10, allow_redirects=False)
        )
        assert answer.status_code == 302, answer.text[:2000]
        session = next(cookie for cookie in answer.cookies if cookie.name == "sessionid")
        assert session.secure and session.has_nonstandard_attr("HttpOnly")


def port_is_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_gunicorn_serves_the_portal_with_hashed_static_files_and_security_headers(tmp_path):
    environment = production_environment(tmp_path)
    steps = (
        ("migrate", "--no-input", "-v0"),
        ("collectstatic", "--no-input", "-v0"),
        ("createsuperuser", "--no-input", "--username", "admin", "--email", "admin@example.com"),
    )
    for step in steps:
        result = manage({**environment, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}, *step)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()

    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--graceful-timeout",
        "5",
        "integration_portal.wsgi:application",
    ]
    with running(command, env=environment, cwd=ROOT) as gunicorn:

        def answers():
            if gunicorn.poll() is not None:
                raise AssertionError(f"gunicorn exited with {gunicorn.returncode}:\n{gunicorn.stdout.read()}")
            return requests.get(f"{origin}/login/", headers=VIA_HTTPS, timeout=2).status_code == 200

        wait_until(answers, timeout=60, interval=0.2, message="gunicorn to serve the login page")

        login = requests.get(f"{origin}/login/", headers=VIA_HTTPS, timeout=10)
        assert login.status_code == 200
        assert 'name="password"' in login.text
        headers = login.headers
        assert headers["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert "camera=()" in headers["Permissions-Policy"]
        csrf_cookie = next(cookie for cookie in login.cookies if cookie.name == "csrftoken")
        assert csrf_cookie.secure

        # The stylesheet has a content-hashed name and is served by WhiteNoise, cached "forever".
        stylesheet = HASHED_CSS.search(login.text)
        assert stylesheet, "the login page links no hashed admin stylesheet"
        css = requests.get(
            f"{origin}{stylesheet.group(1)}", headers={**VIA_HTTPS, "Accept-Encoding": "gzip"}, timeout=10
        )
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert css.headers["Content-Encoding"] == "gzip"  # the compressed copy made by collectstatic
        cache_control = css.headers["Cache-Control"]
        assert "immutable" in cache_control
        assert int(re.search(r"max-age=(\d+)", cache_control).group(1)) >= ONE_YEAR
        assert ".content" in css.text or "body" in css.text  # real CSS, not an error page

        # A browser that came over plain HTTP is sent to HTTPS.
        plain = requests.get(f"{origin}/login/", timeout=10, allow_redirects=False)
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://127.0.0.1:{port}/login/"

        # Signing in works behind the proxy (secure cookies, CSRF checked against the HTTPS origin).
        browser = Browser(origin, port)
        browser.sign_in("admin", ADMIN_PASSWORD)
        dashboard = browser.get("/")
        assert dashboard.status_code == 200 and "Integrations" in dashboard.text

        # The demo ERP and CRM do not exist in production, nor does a debug page.
        for path in ("/sandbox/crm/Contacts", "/sandbox/erp/soap", "/no-such-page/"):
            answer = browser.get(path)
            assert answer.status_code == 404, path
            assert "URLconf" not in answer.text and "Traceback" not in answer.text

    assert gunicorn.poll() is not None
    assert port_is_closed(port)
