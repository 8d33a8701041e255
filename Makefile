# The two commands of the README: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= demo/abkit.sqlite
STAMP := $(VENV)/.installed
# The versions `make test` installs (every extra, the test tools), resolved by `make lock`.
LOCK := requirements/test.lock
TORCH_VERSION := 2.13.0
# Where `make lock` finds torch's CPU wheel (its dependencies differ from the CUDA build's).
TORCH_FIND_LINKS ?= $(or $(PIP_FIND_LINKS),https://download.pytorch.org/whl/cpu/torch/)
LOWEST := .venv-lowest
# What the lowest-versions check runs: the core's tests (stats, assignment, events and ingest on
# SQLite and DuckDB, simulate, report), which need no extra but duckdb (its stores, Parquet).
LOWEST_TESTS := tests/test_stats_*.py tests/test_assignment_bulk.py tests/test_assignment_cli.py \
	tests/test_assignment_config.py tests/test_assignment_hashing.py tests/test_events_*.py tests/test_ingest_*.py \
	tests/test_simulate_*.py tests/test_report_build.py tests/test_report_cli.py tests/test_report_phases.py \
	tests/test_report_verdict.py tests/test_report_snapshots.py tests/test_report_rollout.py \
	tests/test_report_sqlite_percentiles.py tests/test_experiments_cli.py tests/test_cli_extras.py \
	tests/test_cli_options.py tests/test_progress.py tests/test_settings.py

.PHONY: demo test test-lowest lock lint system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Torch first, pinned to the CPU wheel, so that nothing pulls a multi-GB CUDA build; then
# everything else at the locked versions.
$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	touch $(STAMP)

# Re-resolve the lock after a dependency changed in pyproject.toml (add --upgrade to move every
# pin to the newest allowed release). Universal: one file for Linux, macOS and Windows.
lock: $(STAMP)
	echo 'torch==$(TORCH_VERSION)+cpu' > $(VENV)/torch-cpu.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --extra test --universal --python-version 3.11 \
		--find-links $(TORCH_FIND_LINKS) -c $(VENV)/torch-cpu.txt --no-emit-package torch \
		--custom-compile-command "make lock" -o $(LOCK)

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
	$(MAKE) test-lowest

# The lowest versions pyproject.toml allows, in a fresh virtualenv holding the core install only
# (no extras): its size and that no extra came with it; then the duckdb extra, at its floors too,
# and the core's tests on it (tests/test_cli_extras.py runs the core commands with every extra blocked).
test-lowest: $(STAMP)
	rm -rf $(LOWEST)
	$(BIN)/uv venv --quiet --python $(BIN)/python $(LOWEST)
	$(BIN)/uv pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct .
	$(LOWEST)/bin/python scripts/core_install_size.py
	$(BIN)/uv pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct '.[duckdb,test-core]'
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider -m 'not postgres and not browser' $(LOWEST_TESTS)

clean:
	rm -rf $(VENV) $(LOWEST) demo build *.egg-info
