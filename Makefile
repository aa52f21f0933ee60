# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit e2e lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(VENV)/bin/dataflow demo

test: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q tests

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

e2e: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy dataflow operators exchange optimizer cluster

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
