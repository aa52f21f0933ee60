# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit e2e lint imports typecheck clean graphviz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(VENV)/bin/dataflow demo

# Graphviz's dot renders explain(format="svg"); the tests render with it. Installed from
# Debian's packages when missing (CI's clean machine), as root; otherwise say what to do.
graphviz:
	@command -v dot >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	  && (apt-get install -y -qq graphviz >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null)); } \
	  || { echo "Graphviz's dot is missing: install the graphviz package (apt-get install graphviz)" >&2; exit 1; }

test: $(STAMP) imports graphviz
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q tests

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

e2e: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q tests/e2e

lint: $(STAMP) imports
	$(VENV)/bin/ruff check .

# The import contracts of pyproject's [tool.importlinter] (layers; who imports ray).
imports: $(STAMP)
	$(PY) scripts/lint_imports.py --no-cache --no-logo

typecheck: $(STAMP)
	$(VENV)/bin/mypy dataflow operators exchange optimizer cluster

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
