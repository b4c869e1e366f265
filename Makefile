# metatutor's two commands, and a few more. Each creates the virtual environment .venv on first use.
#
#   make demo        the service and its dashboard on simulated learners (prints the URL and the keys)
#   make test        what CI runs: ruff, mypy, the documentation site (--strict) and every test but the slow
#                    ones, on every core (pytest-xdist; JOBS=1 for one process)
#   make test-all    the same with the slow tests too (model fits and studies of a minute or more)
#   make test-fast   the quick subset: no slow, browser, PostgreSQL or real-data tests
#   make docs        the documentation site into site/ (mkdocs build --strict); `make serve-docs` to browse it
#   make build       the sdist and the wheel into dist/ (python -m build)
#
# Settings: PYTHON (3.11 or later; default python3), VENV (.venv), ARGS (passed on: make demo ARGS="--port 8001").

PYTHON ?= python3
VENV ?= .venv
ARGS ?=
BIN := $(VENV)/bin
# torch before the package, so that the package's `torch>=2.4` does not pull the multi-GB CUDA build:
# this version where a wheel of it lies on this machine (pip's find-links), otherwise the CPU build from
# PyTorch's own index
TORCH ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PIP := $(BIN)/python -m pip
FAST := not slow and not browser and not realdata and not postgres
JOBS ?= auto
# each test file on one worker: a file's fitted models (module fixtures) are fitted once
XDIST := -n $(JOBS) --dist loadfile

.PHONY: demo test test-all test-fast lint docs serve-docs build venv clean

demo: $(VENV)/.service
	$(BIN)/metatutor demo $(ARGS)

test: $(VENV)/.dev lint docs
	$(BIN)/python -m pytest $(XDIST) -m "not slow" $(ARGS)

test-all: $(VENV)/.dev lint docs
	$(BIN)/python -m pytest $(XDIST) $(ARGS)

test-fast: $(VENV)/.dev
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/python -m pytest $(XDIST) -m "$(FAST)" $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy src

docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

serve-docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

build: $(VENV)/.dev
	rm -rf dist
	$(BIN)/python -m build

venv: $(VENV)/.service

clean:
	rm -rf $(VENV) site dist build

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "metatutor needs Python 3.11 or later: make PYTHON=python3.11 ..."; exit 1; }
	@echo "== creating $(VENV) (first run only: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip || true

$(VENV)/.torch: | $(BIN)/python
	@if $(BIN)/python -c 'import torch' 2>/dev/null; then \
	  echo "== torch already installed"; \
	elif $(PIP) install -q --dry-run --no-deps --no-index "$(TORCH)" >/dev/null 2>&1; then \
	  echo "== $(TORCH) (a local wheel)"; $(PIP) install -q "$(TORCH)"; \
	else \
	  echo "== torch, the CPU build ($(TORCH_CPU_INDEX))"; $(PIP) install -q torch --index-url $(TORCH_CPU_INDEX); \
	fi
	@touch $@

# for users: the package and the service; for developers and CI: also the test, lint and docs tools
$(VENV)/.service: pyproject.toml $(VENV)/.torch
	@echo "== pip install -e .[service]"
	$(PIP) install -q -e ".[service]"
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	@echo "== pip install -e .[dev,service,docs]"
	$(PIP) install -q -e ".[dev,service,docs]"
	@touch $@ $(VENV)/.service
