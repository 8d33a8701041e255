# The two commands of the README: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= demo/abkit.sqlite
STAMP := $(VENV)/.installed

.PHONY: demo test lint system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Torch first, pinned to the CPU wheel, so that nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/abkit demo --db $(DB)

# Debian packages the test suite drives for real: Chromium for dashboard tests, PostgreSQL.
system-deps:
	@bash scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check abkit dashboards tests bench
	$(BIN)/ruff format --check abkit dashboards tests bench
	$(BIN)/mypy

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo build *.egg-info
