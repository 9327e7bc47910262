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

.PHONY: setup run check test lint format lab clean

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

## test: lint, unit tests, and the notebooks re-executed by nbval in quick mode
test: setup
	$(BIN)/ruff check labkit tests
	LABKIT_QUICK=1 $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check labkit tests
	$(BIN)/ruff format --check labkit tests

format: setup
	$(BIN)/ruff format labkit tests
	$(BIN)/ruff check --fix labkit tests

## lab: open JupyterLab on the notebooks
lab: setup
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache executed
