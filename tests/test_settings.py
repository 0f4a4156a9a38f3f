"""The portal's settings come from the environment and refuse bad or missing values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, django
from django.conf import settings
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode") if connection.vendor == "sqlite" else None
    mode = cursor.fetchone()[0] if connection.vendor == "sqlite" else None
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "secret_key": settings.SECRET_KEY,
    "field_keys": settings.FIELD_ENCRYPTION_KEYS,
    "engine": db["ENGINE"], "name": str(db["NAME"]), "options": db.get("OPTIONS", {}),
    "journal_mode": mode,
    "q_cluster": settings.Q_CLUSTER,
    "time_zone": settings.TIME_ZONE,
    "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""
PROBE_NO_DB = PROBE.replace("from django.db import connection", "connection = None").split("with connection")[0] + (
    'db = settings.DATABASES["default"]\n'
    'print(json.dumps({"engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), '
    '"q_cluster": settings.Q_CLUSTER}))\n'
)


def run_settings(tmp_path, probe=PROBE, **env):
    environ = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
        "PORTAL_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def production_env(**extra):
    return {
        "SECRET_KEY": "s" * 20 + "-production-secret-key-0123456789",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        **extra,
    }


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_settings(tmp_path, FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_refuses_to_start_without_an_encryption_key(tmp_path):
    result = run_settings(tmp_path, SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off" in result.stderr


def test_production_names_both_missing_variables(tmp_path):
    result = run_settings(tmp_path)
    assert "SECRET_KEY and FIELD_ENCRYPTION_KEYS must be set" in result.stderr


def test_production_refuses_a_weak_secret_key(tmp_path):
    result = run_settings(tmp_path, **production_env(SECRET_KEY="django-insecure-short"))
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_an_invalid_fernet_key_is_named(tmp_path):
    result = run_settings(tmp_path, **production_env(FIELD_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},nope"))
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS: key 2 is not a valid Fernet key" in result.stderr


def test_debug_is_off_unless_set_and_parsed_strictly(tmp_path):
    result = run_settings(tmp_path, **production_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False

    result = run_settings(tmp_path, **production_env(DEBUG="maybe"))
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr and "'maybe'" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("f" * 60 + "\n")
    env = production_env()
    del env["SECRET_KEY"]
    result = run_settings(tmp_path, SECRET_KEY_FILE=str(key_file), **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["secret_key"] == "f" * 60


def test_dev_mode_generates_keys_once_and_keeps_them(tmp_path):
    first = run_settings(tmp_path, DEBUG="1")
    assert first.returncode == 0, first.stderr
    second = run_settings(tmp_path, DEBUG="true")
    assert second.returncode == 0, second.stderr
    first_values, second_values = json.loads(first.stdout), json.loads(second.stdout)
    assert len(first_values["secret_key"]) >= 50
    assert first_values["secret_key"] == second_values["secret_key"]
    assert first_values["field_keys"] == second_values["field_keys"]
    assert (tmp_path / "data" / "local-keys.json").stat().st_mode & 0o077 == 0


def test_default_database_is_sqlite_in_wal_mode_with_immediate_transactions(tmp_path):
    result = run_settings(tmp_path, **production_env())
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "data" / "portal.sqlite3")
    assert values["journal_mode"] == "wal"
    assert values["options"]["transaction_mode"] == "IMMEDIATE"
    assert values["options"]["timeout"] >= 20
    assert values["time_zone"] == "America/Sao_Paulo"
    assert values["allowed_hosts"] == []


def test_postgres_and_redis_urls(tmp_path):
    result = run_settings(
        tmp_path,
        probe=PROBE_NO_DB,
        **production_env(
            DATABASE_URL="postgres://portal:pw@db.internal:5432/portal", REDIS_URL="redis://127.0.0.1:6379/0"
        ),
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["host"] == "db.internal"
    assert values["q_cluster"]["redis"] == "redis://127.0.0.1:6379/0"
    assert "orm" not in values["q_cluster"]


def test_an_unsupported_database_url_is_refused(tmp_path):
    result = run_settings(tmp_path, probe=PROBE_NO_DB, **production_env(DATABASE_URL="mysql://u:p@h/db"))
    assert result.returncode != 0
    assert "DATABASE_URL must be a sqlite:/// or postgres:// URL" in result.stderr


@pytest.mark.parametrize("name", ["Q_WORKERS", "EMAIL_PORT"])
def test_numbers_are_parsed_strictly(tmp_path, name):
    result = run_settings(tmp_path, probe=PROBE_NO_DB, **production_env(**{name: "two"}))
    assert result.returncode != 0
    assert f"{name} must be a whole number; got 'two'" in result.stderr


def test_the_task_queue_never_retries_forever(tmp_path):
    result = run_settings(tmp_path, probe=PROBE_NO_DB, **production_env())
    cluster = json.loads(result.stdout)["q_cluster"]
    assert cluster["orm"] == "default"
    assert cluster["max_attempts"] == 1
    assert cluster["ack_failures"] is True
    assert cluster["retry"] > cluster["timeout"]
    assert cluster["catch_up"] is False


HTTPS_PROBE = PROBE_NO_DB.split("db = settings")[0] + (
    "print(json.dumps({"
    '"hsts": settings.SECURE_HSTS_SECONDS, "redirect": settings.SECURE_SSL_REDIRECT, '
    '"proxy_header": getattr(settings, "SECURE_PROXY_SSL_HEADER", None), '
    '"secure_cookies": settings.SESSION_COOKIE_SECURE, '
    '"static_storage": settings.STORAGES["staticfiles"]["BACKEND"], "static_root": str(settings.STATIC_ROOT)}))\n'
)


def test_demo_mode_serves_plain_http_and_unhashed_static_files(tmp_path):
    values = json.loads(run_settings(tmp_path, probe=HTTPS_PROBE, DEBUG="1").stdout)
    assert values["hsts"] == 0 and values["redirect"] is False and values["secure_cookies"] is False
    assert values["static_storage"] == "django.contrib.staticfiles.storage.StaticFilesStorage"


def test_production_expects_https_and_hashed_static_files(tmp_path):
    values = json.loads(run_settings(tmp_path, probe=HTTPS_PROBE, **production_env()).stdout)
    assert values["hsts"] == 365 * 24 * 3600 and values["secure_cookies"] is True
    assert values["redirect"] is False and values["proxy_header"] is None  # HTTPS not declared: check --deploy says so
    assert values["static_storage"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["static_root"] == str(tmp_path / "data" / "static")

    behind_proxy = production_env(BEHIND_TLS_PROXY="1", STATIC_ROOT=str(tmp_path / "collected"))
    values = json.loads(run_settings(tmp_path, probe=HTTPS_PROBE, **behind_proxy).stdout)
    assert values["redirect"] is True and values["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["static_root"] == str(tmp_path / "collected")
