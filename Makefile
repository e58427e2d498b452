# The two front-door commands: `make run` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test venv db-start db-stop bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Start the private PostgreSQL (only used when DATABASE_URL is unset).
db-start:
	@scripts/embedded-pg.sh start

db-stop:
	@scripts/embedded-pg.sh stop

# Set everything up and serve the demo on http://127.0.0.1:8000 under gunicorn.
run: venv
	@set -e; \
	if [ -z "$$DATABASE_URL" ]; then DATABASE_URL="$$(scripts/embedded-pg.sh start)"; fi; \
	export DATABASE_URL; \
	export TRUSTED_PROXIES="$${TRUSTED_PROXIES-127.0.0.1,::1}"; \
	$(BIN)/flask --app app migrate; \
	$(BIN)/flask --app app demo; \
	exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Set everything up and run every test against a real PostgreSQL (the suite starts the
# private one unless TEST_DATABASE_URL names a server it may create databases on).
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark harness (needs the OS packages wrk and pgbench; see bench/README.md).
bench: venv
	bench/run.sh $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
