# Two commands for a new machine: `make demo` and `make test` (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
SKILLMIND := $(BIN)/skillmind

.PHONY: demo test setup services bootstrap down status bench lint schemas lock clean-venv

demo: services bootstrap
	$(SKILLMIND) health --no-pipeline
	$(SKILLMIND) demo

test: services bootstrap
	$(BIN)/pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@bash .ci/prereqs.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

services: setup
	$(SKILLMIND) services up

bootstrap: setup
	$(SKILLMIND) bootstrap

down:
	$(SKILLMIND) services down

status:
	$(SKILLMIND) services status

bench: services bootstrap
	$(BIN)/python -m bench.bench_log --events 100000
	$(BIN)/python -m bench.bench_api
	$(BIN)/python -m bench.bench_projections
	$(BIN)/python -m bench.bench_exports --rows 1000000 --deliveries 500
	$(BIN)/python -m bench.bench_audit --records 1400000
	$(BIN)/python -m bench.bench_recovery

schemas: setup
	$(SKILLMIND) schemas publish

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# requirements.lock: the runtime dependencies resolved in a fresh venv (the Docker image installs these).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip && .lock-venv/bin/pip install -q .
	{ echo "# Exact versions of every runtime dependency, for the Docker image (see Dockerfile)."; \
	  echo "# Regenerate after changing dependencies in pyproject.toml: \`make lock\`."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^skillmind'; } > requirements.lock
	rm -rf .lock-venv

clean-venv:
	rm -rf $(VENV)
