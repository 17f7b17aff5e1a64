# Two commands matter: `make run` (demo on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 4
# Without DATABASE_URL, the embedded PostgreSQL in .data/pg (layers_ops/embedded_db.py):
# started or reused, kept up while the command runs, stopped when its last user exits.
# manage.py and the test settings start it the same way on their own.
WITH_DB := $(BIN)/python -m layers_ops.embedded_db run --

.PHONY: run worker manage test serve bench lint format docs lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs come from the lock files (exact versions, hashes checked), then the project
# itself without dependencies; reinstall only when a lock changes. `make lock` writes the
# locks from pyproject.toml (LOCK_ARGS=--upgrade moves every pin to the newest release).
$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(VENV)/.installed

LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --quiet --custom-compile-command "make lock" $(LOCK_ARGS)
lock: | $(BIN)/python
	$(BIN)/pip install -q "uv>=0.5"
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev --constraint requirements.lock -o requirements-dev.lock

# make run writes .env (DEBUG=true and a generated SECRET_KEY, when it has none), which
# manage.py reads in a checkout (layers_ops/dotenv.py): `.venv/bin/python manage.py ...`
# and `make manage ARGS="..."` then work as documented. The web server and a job worker
# run together (Procfile, by honcho); webhooks may go to http://127.0.0.1 receivers here
# (never in production).
run: $(VENV)/.installed
	$(BIN)/python -m layers_ops.dotenv
	WEBHOOK_ALLOW_PRIVATE_URLS=true LAYERS_HOST=$(HOST) LAYERS_PORT=$(PORT) \
	  $(WITH_DB) sh -c '$(BIN)/python manage.py migrate --noinput -v0 \
	  && $(BIN)/python manage.py load_demo --base-url http://$(HOST):$(PORT) \
	  && exec $(BIN)/honcho start'

# One job worker (every queue): renewals every 15 minutes, webhook deliveries, purges.
# Run as many as you like, on any machine that reaches the database. Needs SECRET_KEY
# like `make serve`.
worker: $(VENV)/.installed
	$(WITH_DB) $(BIN)/python manage.py procrastinate worker

manage: $(VENV)/.installed
	$(BIN)/python -m layers_ops.dotenv
	$(BIN)/python manage.py $(ARGS)

# Without REDIS_URL, a Redis answering on 127.0.0.1:6379 is used (its db 15), so the
# shared rate-limit tests run here too; with none, they skip (CI sets REDIS_URL).
test: $(VENV)/.installed-dev
	@if [ -z "$$REDIS_URL" ] && $(BIN)/python -c "import redis; redis.Redis(socket_connect_timeout=0.5).ping()" 2>/dev/null; then \
	  export REDIS_URL=redis://127.0.0.1:6379/15; echo "make test: using the local Redis ($$REDIS_URL)"; fi; \
	$(BIN)/pytest $(PYTEST_ARGS)

# Production-style serving: gunicorn with uvicorn workers on the ASGI app
# (layers_ops/gunicorn.conf.py, layers_ops/serving.py) and whitenoise for static files.
# Needs SECRET_KEY; DATABASE_URL as everywhere (production names its server; unset, the
# embedded one).
serve: $(VENV)/.installed
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput -v0
	$(WITH_DB) $(BIN)/gunicorn -c layers_ops/gunicorn.conf.py --bind $(HOST):$(PORT) --workers $(WORKERS)

bench: $(VENV)/.installed-dev
	$(BIN)/python -m tests.bench.run

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link fails.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Stops the embedded PostgreSQL (if it runs) and deletes its data with the rest.
clean:
	if [ -x $(BIN)/python ]; then $(BIN)/python -m layers_ops.embedded_db stop; fi
	rm -rf .data $(VENV) staticfiles site .pytest_cache .ruff_cache .hypothesis
