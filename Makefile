# Two commands set everything up on a fresh machine with Python 3.11 and make:
#   make run    venv + install + demo database (if none) + the service: the app and the scheduler worker
#   make test   venv + install + lint + the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= data/unify.duckdb
DEMO   ?= data/demo
CONTACTS ?= 3000
TICK_EVERY ?= 5m
# Streamlit reads its own configuration (STREAMLIT_SERVER_PORT, .streamlit/config.toml, ...).
# Headless by default so that it never waits at a first-run prompt; override with STREAMLIT_SERVER_HEADLESS=false.
export STREAMLIT_SERVER_HEADLESS ?= true

.PHONY: default install run test lint demo db bench clean
default: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(DB): | $(STAMP)
	$(BIN)/unify-dash demo --out $(DEMO) --contacts $(CONTACTS) --db $(DB)

db: $(DB)

# Listens on 127.0.0.1 only (server.address in .streamlit/config.toml): set STREAMLIT_SERVER_ADDRESS to listen
# on the network, after configuring sign-in ([auth] in .streamlit/secrets.toml; docs/dashboard-security.md).
run: $(STAMP) $(DB)
	$(BIN)/unify-dash serve --db $(DB) --tick-every $(TICK_EVERY)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/unify-dash bench --contacts $(CONTACTS)

clean:
	rm -rf $(VENV) $(DB) $(DB).wal $(DB).service.json $(DB).service.token $(DEMO) test-artifacts .pytest_cache
