# VAE Lab Kit task runner. `make run` and `make test` are the README's two quick-start commands.
# Each creates the virtual environment .venv the first time (and refreshes it when
# pyproject.toml or constraints.txt changes), then reuses it: `make run` and `make lab` install
# what a student needs (`pip install .`), `make test` adds the test tools (`.[test]`). Every
# target is a short recipe of plain commands, so it can be typed by hand where there is no
# `make` (see docs/students.md and docs/development.md).

PYTHON ?= python3
VENV ?= .venv
# A venv keeps its programs in bin/, or Scripts/ on Windows (Git Bash's make).
SCRIPTS := $(if $(filter Windows_NT,$(OS)),Scripts,bin)
BIN := $(VENV)/$(SCRIPTS)
STAMP := $(VENV)/.labkit-installed
TEST_STAMP := $(VENV)/.labkit-test-installed
# The versions every install uses (CI, students, Binder): refreshed by `make constraints`.
CONSTRAINTS := constraints.txt
LINTED := labkit labkit_instructor tests benchmarks notebooks conftest.py

# `make run` and `make check` read MNIST from ../shared/data/mnist beside the checkout when that
# folder exists and LABKIT_DATA_DIR is not set; otherwise the kit downloads it through Keras.
# (pytest finds that folder by itself: see conftest.py.)
ifeq ($(strip $(LABKIT_DATA_DIR)),)
ifneq ($(wildcard ../shared/data/mnist/.),)
export LABKIT_DATA_DIR := $(abspath ../shared/data/mnist)
endif
endif

# `make run QUICK=1`: quick mode (a 6,000-image subset and 2 epochs), as LABKIT_QUICK=1 does.
ifeq ($(strip $(QUICK)),1)
export LABKIT_QUICK := 1
endif

# The browser tests (tests/test_browser.py) find a Chromium, Chrome or Edge by themselves;
# `make test` installs Debian's Chromium on a Linux machine with apt-get where none is on the
# PATH. `make test CHROMIUM=/path/to/chromium` names another browser; `make test
# BROWSER_TESTS=0` leaves those tests out.
BROWSER_TESTS ?= 1
ifeq ($(BROWSER_TESTS),0)
PYTEST_SELECT := -m "not browser"
endif
ifneq ($(strip $(CHROMIUM)),)
export LABKIT_CHROMIUM := $(CHROMIUM)
endif

# `make constraints` resolves for every platform and Python 3.10 to 3.13 at once (--universal).
# It keeps the pins that still fit pyproject.toml; `make constraints UPGRADE=1` takes the newest
# versions of everything (for a new course). uv comes from the PATH, else from a scratch venv.
UV_VENV := build/uv
COMPILE := pip compile pyproject.toml --extra instructor --extra test --extra gpu --universal
COMPILE += --python-version 3.10
COMPILE += -o $(CONSTRAINTS)
ifneq ($(strip $(UPGRADE)),)
COMPILE += --upgrade
endif

.PHONY: help setup test-setup run check test student browser sandbox bench lint format lab constraints clean

## help: list the targets (PYTHON=... picks the Python that makes .venv, 3.10 to 3.13)
help:
	@grep -h '^## ' $(MAKEFILE_LIST) | sed 's/^## /  make /'

setup: $(STAMP)

# A .venv left by an unsupported Python (a first try with 3.9, say) is made again with $(PYTHON).
SUPPORTED := import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -c '$(SUPPORTED)' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -c '$(SUPPORTED)' || { echo "$(PYTHON) is not Python 3.10 to 3.13: name one, e.g. make run PYTHON=python3.12"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e .
	touch $(STAMP)

test-setup: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(TEST_STAMP)

## run: the kit's main job: check the environment, execute every notebook in order, summarise
run: setup
	$(BIN)/python -m labkit run

## check: print versions and settings, and load and verify MNIST
check: setup
	$(BIN)/python -m labkit check

## test: lint, unit, grading, sandbox and browser tests, and the notebooks re-run by nbval
test: test-setup browser sandbox
	$(BIN)/python -m pytest $(PYTEST_SELECT)

## sandbox: install bubblewrap, the sandbox of `labkit grade --execute`, on Linux where missing
sandbox:
	@if [ "$$(uname -s)" = Linux ] && ! command -v bwrap >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    echo "Installing bubblewrap, the sandbox of labkit grade --execute and its tests"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "No bwrap on the PATH: install bubblewrap (dnf, pacman, zypper: bubblewrap)"; \
	  fi; \
	fi

## browser: install Debian's Chromium for the browser tests where no browser is on the PATH
browser:
ifneq ($(BROWSER_TESTS),0)
ifeq ($(strip $(CHROMIUM)),)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || command -v google-chrome >/dev/null || { \
	  if [ "$$(uname -s)" = Linux ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests (make test BROWSER_TESTS=0 skips them)"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null || { \
	      echo "apt-get could not install chromium (Ubuntu's is a snap, which containers lack):"; \
	      echo "$(BIN)/python -m playwright install chromium, or make test BROWSER_TESTS=0"; exit 1; }; \
	  else \
	    echo "No Chromium on the PATH; the browser tests look in the usual places. If they find"; \
	    echo "none: $(BIN)/python -m playwright install chromium (or make test BROWSER_TESTS=0)"; \
	  fi; }
endif
endif

## bench: the lab's plain Keras VAE and the kit's side by side: time to quality, epochs, memory
bench: test-setup
	$(BIN)/python benchmarks/benchmark_time_to_quality.py
	$(BIN)/python benchmarks/benchmark_training.py --startup

## lint: check code style and formatting (ruff), as make test does first
lint: test-setup
	$(BIN)/python -m ruff check $(LINTED)
	$(BIN)/python -m ruff format --check $(LINTED)

## format: format the code and fix what ruff can
format: test-setup
	$(BIN)/python -m ruff format $(LINTED)
	$(BIN)/python -m ruff check --fix $(LINTED)

# notebooks/ holds the instructor's copies, with the solutions; `make student` writes copies
# without them for a student working alone, and never over a folder that exists (their work).
LABS ?= notebooks
STUDENT ?= my-labs

## lab: open JupyterLab on the notebooks (LABS=my-labs opens the copies `make student` wrote)
lab: setup
	$(BIN)/python -m jupyter lab $(LABS) $$(test "$$(id -u 2>/dev/null)" = 0 && echo --allow-root)

## student: write student copies (solutions removed) into my-labs/ (STUDENT=... names another)
student: setup
	@if [ -e "$(STUDENT)" ]; then \
	  echo "$(STUDENT) exists (your work may be in it): open it with make lab LABS=$(STUDENT), or name a new folder: make student STUDENT=..."; \
	  exit 1; fi
	$(BIN)/labkit release notebooks --out $(STUDENT)

## constraints: re-pin constraints.txt after a change to pyproject.toml's dependencies
constraints:
	@if command -v uv >/dev/null; then UV=uv; else \
	  UV=$(UV_VENV)/$(SCRIPTS)/uv; test -x $$UV || { $(PYTHON) -m venv $(UV_VENV) \
	    && $(UV_VENV)/$(SCRIPTS)/python -m pip install --quiet uv; }; fi; \
	echo "$$UV $(COMPILE)"; $$UV $(COMPILE) --quiet

## clean: remove .venv, build outputs and executed/ (the notebooks and the model cache stay)
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache executed
