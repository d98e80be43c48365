# The team's and CI's entry points. `make run` and `make test` work from an empty checkout.
# `make` (or `make help`) lists the targets: the `## ` lines just above each one.
PYTHON ?= python3
# The pre-commit hooks (.pre-commit-config.yaml) run their tools from .venv: keep the default for `make lint`.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install install-dev run test lint format migrations-check stack worker beat clean

## This list.
help:
	@awk '/^## /{doc = doc (doc == "" ? "" : "\n") substr($$0, 4); next} \
		/^[a-z][a-z-]*:/ && doc != "" {n = split(doc, lines, "\n"); printf "  %-18s %s\n", substr($$1, 1, length($$1) - 1), lines[1]; \
			for (i = 2; i <= n; i++) printf "  %-18s %s\n", "", lines[i]} \
		{doc = ""}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## .venv with the runtime requirements (requirements.txt).
install: $(VENV)/.installed

## .venv with the development requirements too (requirements-dev.txt): pytest, coverage, pre-commit, linters.
install-dev: $(VENV)/.installed-dev

## The site with demo content at http://127.0.0.1:8000/ (embedded mode: SQLite, no servers needed).
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

## The whole suite: migrations in step with models, lint, then pytest with coverage, which fails below
## the floor in pyproject.toml (`fail_under`). PYTEST_ARGS="--no-cov -k ..." runs a part of it.
test: install-dev migrations-check lint
	$(PY) -m pytest $(PYTEST_ARGS) --cov

## Fails if a model change has no migration.
migrations-check: install-dev
	$(PY) manage.py makemigrations --check --dry-run

## The pre-commit hooks (.pre-commit-config.yaml) on every file, as CI runs them: fails if a hook changes
## anything, and shows the diff (the fixes stay in the working tree).
lint: install-dev
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

## Applies the hooks' fixes (ruff, django-upgrade, djhtml, whitespace), then lists what is left to fix by hand.
format: install-dev
	$(VENV)/bin/pre-commit run --all-files >/dev/null || $(VENV)/bin/pre-commit run --all-files

# Production mode on this machine (README, "Production stack"): PostgreSQL and Redis on 127.0.0.1 unless
# DATABASE_URL and REDIS_URL say otherwise; without SECRET_KEY, one is made once into var/secret_key.
STACK_ENV = export DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cancerindex}" \
		REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/0}" CACHE_URL="$${CACHE_URL:-redis://127.0.0.1:6379/2}" \
		PATH="$(abspath $(VENV))/bin:$$PATH"; \
	if [ -z "$${SECRET_KEY:-}" ]; then \
		[ -s var/secret_key ] || { mkdir -p var && (umask 077; $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key); }; \
		export SECRET_KEY="$$(cat var/secret_key)"; \
	fi

# `make stack` serves through Varnish on PORT, gunicorn behind it on WEB_PORT (PORT + 1); EDGE=0: no Varnish,
# gunicorn on PORT. The environment it runs with is written to var/stack.env, for commands run beside it.
EDGE ?= 1
WEB_PORT ?= $(shell echo $$(( $(PORT) + 1 )))
ifeq ($(EDGE),0)
STACK_PROCESSES = web worker beat
STACK_BIND = export WEB_BIND="$(HOST):$(PORT)" EDGE_PURGE_URL=""
else
STACK_PROCESSES = edge web worker beat
STACK_BIND = export WEB_BIND="$(HOST):$(WEB_PORT)" EDGE_LISTEN="$(HOST):$(PORT)" \
	EDGE_PURGE_URL="http://127.0.0.1:$(PORT)/" TRUST_X_FORWARDED_FOR=1 \
	TRUSTED_PROXIES="$${TRUSTED_PROXIES:-127.0.0.1,::1,$(HOST)}"
endif
# The page cache's keys follow the code: a new commit's templates never serve an older commit's pages.
STACK_BIND += PAGE_CACHE_VERSION="$${PAGE_CACHE_VERSION:-$$(git rev-parse --short HEAD 2>/dev/null || echo 1)}"

## Varnish on PORT (the edge cache; EDGE=0 leaves it out) in front of gunicorn on WEB_PORT (PORT + 1), a Celery
## worker and Celery beat (Procfile, run by honcho), after migrate, collectstatic and load_demo. Ctrl-C stops them.
stack: install
	@$(STACK_ENV); $(STACK_BIND); set -e; \
	$(PY) scripts/ensure_database.py; \
	echo "migrate"; $(PY) manage.py migrate --noinput; \
	echo "collectstatic"; $(PY) manage.py collectstatic --noinput --verbosity 0; \
	echo "load_demo"; $(PY) manage.py load_demo; \
	mkdir -p var; (umask 077; for name in DATABASE_URL REDIS_URL CACHE_URL SECRET_KEY EDGE_PURGE_URL; do \
		printf '%s=%s\n' "$$name" "$$(printenv $$name)"; done >var/stack.env); \
	echo "Starting $(STACK_PROCESSES) (http://$(HOST):$(PORT)/, gunicorn on $$WEB_BIND); Ctrl-C stops them"; \
	exec honcho start $(STACK_PROCESSES)

## One more Celery worker, e.g. on another machine with DATABASE_URL and REDIS_URL pointing at the shared ones.
worker: install
	@$(STACK_ENV); exec celery -A cancerindex worker -l info --concurrency $${WORKER_CONCURRENCY:-2}

## Celery beat: exactly ONE in the whole deployment (`make stack` runs it already).
beat: install
	@$(STACK_ENV); exec celery -A cancerindex beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler

## Removes .venv, the SQLite database and the caches.
clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .pytest_cache .ruff_cache .coverage htmlcov
