# Two entry points (README): `make lab` and `make test`. Both create/update .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Headless use: make lab LAB_BROWSER=no LAB_PORT=8899 LAB_IP=0.0.0.0
LAB_PORT ?= 8888
LAB_IP ?= 127.0.0.1
LAB_BROWSER ?= yes
LAB_ARGS ?=
PYTEST_ARGS ?=

ifeq ($(LAB_BROWSER),no)
LAB_BROWSER_FLAG := --no-browser
endif

APP_PORT ?= 8866

.PHONY: lab app test lint test-lib test-notebooks bench screenshots clean

KERNEL = setup.py workbench/precision/histogram_kernel.c

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps are rebuilt whenever pyproject.toml or the compiled histogram kernel (setup.py builds it) changes.
# JupyterLab settings for the workbench: widget state saved with notebooks (they read back with their panels and
# charts), no news or update checks (workshops may be offline).
$(VENV)/.installed-lab: pyproject.toml $(KERNEL) etc/jupyterlab-overrides.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[rtx]"
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp etc/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(KERNEL) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[rtx,dev]"
	touch $@

lab: $(VENV)/.installed-lab
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=$(LAB_IP) --ServerApp.port=$(LAB_PORT) $(LAB_BROWSER_FLAG) $(LAB_ARGS)

# The one-window app as a standalone page (Voila, offline template): make app APP_PORT=8866
app: $(VENV)/.installed-lab
	$(BIN)/workbench app --port $(APP_PORT) $(if $(filter no,$(LAB_BROWSER)),--no-browser,)

# ruff (under a second), then pytest for the library and nbval for every notebook in one run: any failure (or no
# test at all: exit 5) fails. The slowest 10 tests are printed on every run (--durations=10 in pyproject.toml).
# TEST_WORKERS pytest-xdist workers (make test TEST_WORKERS=4 on a larger runner; 0: one process), each taking a
# whole file at a time (--dist loadfile): a notebook's cells run in order in one kernel, and a module's fixtures
# (one Ray, one JupyterLab) start once. Many tests wait on a subprocess, server or kernel, so two workers beat one
# even on 2 cores.
TEST_WORKERS ?= 2
# mypy (types of workbench/, about a minute) runs beside pytest and its report is printed after it; either failing
# fails make test.
test: $(VENV)/.installed-dev
	$(BIN)/ruff check workbench
	$(BIN)/ruff format --check workbench
	@types=$$(mktemp); $(BIN)/mypy > $$types 2>&1 & mypy=$$!; \
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --durations=10 \
	    $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile,) $(PYTEST_ARGS); status=$$?; \
	wait $$mypy || status=1; echo "mypy: $$(tail -1 $$types)"; [ $$status = 0 ] || cat $$types; rm -f $$types; \
	exit $$status

# Lint and types of workbench/ alone (make test runs both too).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check workbench
	$(BIN)/ruff format --check workbench
	$(BIN)/mypy

# The README's screenshots come from the real-browser tests (JupyterLab and Voila in Debian's chromium).
screenshots: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/browser -q
	mkdir -p docs/screenshots
	cp test-artifacts/graph_panel_fusion.png test-artifacts/jupyterlab_app_build.png \
	   test-artifacts/jupyterlab_app_benchmark.png test-artifacts/voila_app_benchmark.png docs/screenshots/

bench: $(VENV)/.installed-dev
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
