"""The layers point one way: the import contracts in pyproject.toml hold, and each breaks on a forbidden import.

The contracts are checked by import-linter (``lint-imports``) on the code as it is, and again on a copy of the
code with one forbidden import added, which must fail and name the contract it breaks. Imports inside functions
count as much as those at the top of a module.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["core", "sync", "monitoring", "accounts", "integration_portal", "demo"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_contract():
    result = lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


FORBIDDEN = [
    ("core/durations.py", "from sync.models import Integration", "core imports no app"),
    ("core/redaction.py", "import monitoring.models", "core imports no app"),
    ("sync/models/__init__.py", "from monitoring.models import SyncRun", "Layers:"),
    ("monitoring/models/__init__.py", "from sync.engine import run_integration", "Layers:"),
    ("sync/connectors/base.py", "from sync.models import Connection", "Connectors get plain configuration"),
    ("sync/mapping.py", "import requests", "Mapping and transforms are pure"),
    ("sync/schedules.py", "from monitoring.models import IntegrationState", "Schedule arithmetic is pure"),
    ("sync/webhooks/verification.py", "from sync.models import WebhookReceiver", "Webhook verification is pure"),
    ("monitoring/health.py", "from integration_portal import settings", "Apps never import the project"),
    ("sync/engine.py", "import demo", "The product never imports the demo"),
]


@pytest.mark.parametrize(("module", "line", "contract"), FORBIDDEN, ids=[f"{m}: {line}" for m, line, _ in FORBIDDEN])
def test_a_forbidden_import_breaks_its_contract(copy_of_the_code, module, line, contract):
    path = copy_of_the_code / module
    if not path.exists():  # a module that became a package, or the reverse
        path = path.with_suffix("") / "__init__.py" if path.suffix else path.parent.with_suffix(".py")
    original = path.read_text()
    # Hidden inside a function, where a cycle would be dodged at import time: it still counts.
    path.write_text(original + f"\n\ndef _added_for_the_contract_test():\n    {line}  # noqa\n")
    try:
        result = lint_imports(copy_of_the_code)
    finally:
        path.write_text(original)

    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
