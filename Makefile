# The Integration Portal. `make run` serves the portal with the demo; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_ENV := DEBUG=1
# `make run` is demo mode: the demo ERP and CRM (the `demo` app) installed and served under /sandbox/.
DEMO_ENV := $(DEV_ENV) SANDBOX_ENABLED=1

# Browser tests drive Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-sqlite test-postgres lint format check venv clean test-fast

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

run: $(STAMP)
	$(DEMO_ENV) $(PY) manage.py migrate --no-input
	$(DEMO_ENV) $(PY) manage.py create_demo_users
	$(DEMO_ENV) $(PY) manage.py demo --origin http://127.0.0.1:8000
	$(DEMO_ENV) $(PY) manage.py serve 127.0.0.1:8000

# The whole suite twice: on SQLite with the ORM broker (the embedded defaults), then on
# PostgreSQL with the Redis broker (Debian packages, started on free 127.0.0.1 ports).
test: test-sqlite test-postgres

test-sqlite: $(STAMP) $(CHROMIUM)
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest

test-postgres: $(STAMP) $(CHROMIUM)
	.ci/with-services $(PY) -m pytest

# The inner loop: SQLite, without the tests marked slow (processes, a browser, over 10 s).
test-fast: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

check: $(STAMP)
	$(DEV_ENV) $(PY) manage.py check
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
