# The README's two commands:  `make book`  and  `make test`.
# Each does its own set-up idempotently: a project-local virtual environment in .venv,
# created and filled once (a second run finds the stamp and skips the install).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUILD_DIR := _build
CACHE_DIR := $(BUILD_DIR)/.jupyter_cache
JB_FLAGS := -W -n --keep-going
# Test workers: the unit tests, nbval over every chapter, and the browser check.
PYTEST_WORKERS ?= 2

MIST_VENV := .venv-mist
BENCH_ARGS ?=
# Chapters train with progress bars off: a built page is a record, not a live run.
export MI_UTILS_PROGRESS ?= 0
# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads made
# training steps 30-100x slower (measured); results are unchanged.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help setup book test unit lint browser-deps bench bench-setup clean

help:
	@echo "make book   build the book into $(BUILD_DIR)/html, executing every chapter"
	@echo "make test   run every check: ruff, unit tests, nbval over every chapter, browser check"
	@echo "make unit   the library's unit tests only (no book build, no browser; under a minute)"
	@echo "make bench  python -m benchmarks.bench (vectorized vs per-run loop vs torch-mist)"
	@echo "make clean  remove $(BUILD_DIR)"

# ---------------------------------------------------------------- set-up (idempotent)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The library asks for torch>=2.2; constraints.txt pins the book's torch (the CPU wheel):
	# an unpinned torch pulls multi-GB CUDA wheels.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

setup: $(STAMP)

# Headless Chromium for the browser check (Debian package; never a browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# ---------------------------------------------------------------- the book
book: setup
	@# The execution cache is keyed on a chapter's source only, and Sphinx re-reads only changed
	@# sources: drop both the cache and the doctrees when the library, the profile or the
	@# environment changes, so that every chapter re-executes and no figure is ever stale.
	@key="$$(find mi_utils -name '*.py' | sort | xargs cat pyproject.toml constraints.txt | sha1sum | cut -c1-16)-$${MI_BOOK_PROFILE:-auto}"; \
	  if [ "$$(cat $(BUILD_DIR)/.cache-key 2>/dev/null)" != "$$key" ]; then \
	    echo "mi_utils or the profile changed: clearing the execution cache and the doctrees"; \
	    rm -rf $(CACHE_DIR) $(BUILD_DIR)/.doctrees $(BUILD_DIR)/jupyter_execute; fi; \
	  mkdir -p $(BUILD_DIR); echo "$$key" > $(BUILD_DIR)/.cache-key
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Built: $(BUILD_DIR)/html/index.html"

# ---------------------------------------------------------------- every check
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One thread per test worker: two workers with two threads each on two cores make torch's
# thread pools spin against each other (measured: 20x slower training steps).
test: setup browser-deps lint book
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) \
	  --dist loadfile --nbval-lax --nbval-current-env tests book

# The library's own tests: no book build, no notebooks, no browser.
unit: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) \
	  --dist loadfile -m "not browser and not notebooks and not slow" tests

# ---------------------------------------------------------------- the benchmark
# torch-mist pins numpy<2, so it gets its own environment, never the project's.
$(MIST_VENV)/.installed:
	@test -x $(MIST_VENV)/bin/python || $(PYTHON) -m venv $(MIST_VENV)
	$(MIST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIST_VENV)/bin/python -m pip install --quiet -c constraints.txt torch torch-mist==0.2.17 \
	  "numpy<2" "pandas<3"
	@touch $@

bench-setup: $(MIST_VENV)/.installed

bench: setup bench-setup
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

clean:
	rm -rf $(BUILD_DIR)
