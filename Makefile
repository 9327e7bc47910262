# VAE Lab Kit task runner. `make run` and `make test` are the README's two quick-start commands.
# Each creates the virtual environment .venv the first time (and refreshes it when
# pyproject.toml changes), then reuses it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed

# Offline checkouts keep MNIST beside the project in ../shared/data/mnist; use it when present
# and LABKIT_DATA_DIR is not already set. Otherwise the kit downloads MNIST through Keras.
ifeq ($(strip $(LABKIT_DATA_DIR)),)
ifneq ($(wildcard ../shared/data/mnist/.),)
export LABKIT_DATA_DIR := $(abspath ../shared/data/mnist)
endif
endif

# The browser tests (tests/test_browser.py) drive Debian's Chromium. `make test` installs it
# where it is missing; `make test BROWSER_TESTS=0` skips those tests instead.
CHROMIUM ?= /usr/bin/chromium
BROWSER_TESTS ?= 1
ifeq ($(BROWSER_TESTS),0)
PYTEST_SELECT := -m "not browser"
endif

.PHONY: setup run check test browser bench lint format lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: the kit's main job: check the environment, execute every notebook in order, summarise
run: setup
	$(BIN)/labkit run

## check: print versions and settings, and load and verify MNIST
check: setup
	$(BIN)/labkit check

## test: lint, unit tests, browser tests, and the notebooks re-executed by nbval in quick mode
test: setup browser
	$(BIN)/ruff check labkit tests benchmarks
	LABKIT_QUICK=1 LABKIT_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_SELECT)

## browser: install Debian's Chromium for the browser tests, where it is missing
browser:
ifneq ($(BROWSER_TESTS),0)
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests (make test BROWSER_TESTS=0 skips them)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "No Chromium at $(CHROMIUM): install it, or run make test BROWSER_TESTS=0"; exit 1; }
endif

## bench: train the lab's plain Keras VAE and the kit's side by side; import, build, memory
bench: setup
	$(BIN)/python benchmarks/benchmark_training.py --startup

lint: setup
	$(BIN)/ruff check labkit tests benchmarks
	$(BIN)/ruff format --check labkit tests benchmarks

format: setup
	$(BIN)/ruff format labkit tests benchmarks
	$(BIN)/ruff check --fix labkit tests benchmarks

## lab: open JupyterLab on the notebooks
lab: setup
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache executed
