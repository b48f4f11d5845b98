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
# OpenMP keeps its default waiting policy: on this 2-core machine it trains the staircase faster
# than OMP_WAIT_POLICY=PASSIVE (by 25-30 %) or a bounded GOMP_SPINCOUNT=10000 (by 10-15 %)
# (measured; see the README's Performance section). Parallel test workers, which would spin
# against each other, run with one thread each instead (the `test` and `unit` targets).
# tcmalloc (Debian's libtcmalloc-minimal4, installed by `perf-deps`): glibc maps and unmaps
# every allocation above 32 MB, so large batched activations page-fault on every training step;
# tcmalloc reuses them. Preloaded into the book build, the tests and the benchmark when present;
# the library is correct without it.
TCMALLOC_FIND = $$(ls /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4 2>/dev/null | head -n 1)
PRELOAD = LD_PRELOAD="$(TCMALLOC_FIND)$${LD_PRELOAD:+ $$LD_PRELOAD}"

.PHONY: help setup book test unit lint browser-deps perf-deps bench bench-setup gpu-check clean

help:
	@echo "make book   build the book into $(BUILD_DIR)/html, executing every chapter"
	@echo "make test   run every check: ruff, unit tests, nbval over every chapter, browser check"
	@echo "make unit   the library's unit tests only (no book build, no browser; under a minute)"
	@echo "make bench  python -m benchmarks.bench (vectorized vs per-run loop vs torch-mist)"
	@echo "make gpu-check  benchmarks/gpu_check.sh on a CUDA machine (writes gpu_check.json)"
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

# tcmalloc for the training steps (Debian package; skipped quietly where apt is unavailable).
perf-deps:
	@ls /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4 >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libtcmalloc-minimal4; } \
	    >/dev/null 2>&1 || echo "libtcmalloc-minimal4 not installed: running with glibc's malloc"; }

# ---------------------------------------------------------------- the book
book: setup perf-deps
	@# The execution cache is keyed on a chapter's source only, and Sphinx re-reads only changed
	@# sources: drop both the cache and the doctrees when the library, the profile or the
	@# environment changes, so that every chapter re-executes and no figure is ever stale.
	@key="$$(find mi_utils -name '*.py' | sort | xargs cat pyproject.toml constraints.txt | sha1sum | cut -c1-16)-$${MI_BOOK_PROFILE:-auto}"; \
	  if [ "$$(cat $(BUILD_DIR)/.cache-key 2>/dev/null)" != "$$key" ]; then \
	    echo "mi_utils or the profile changed: clearing the execution cache and the doctrees"; \
	    rm -rf $(CACHE_DIR) $(BUILD_DIR)/.doctrees $(BUILD_DIR)/jupyter_execute; fi; \
	  mkdir -p $(BUILD_DIR); echo "$$key" > $(BUILD_DIR)/.cache-key
	$(PRELOAD) $(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Built: $(BUILD_DIR)/html/index.html"

# ---------------------------------------------------------------- every check
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One thread per test worker: two workers with two threads each on two cores make torch's
# thread pools spin against each other (measured: 20x slower training steps).
test: setup browser-deps lint book
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PRELOAD) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) \
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

bench: setup bench-setup perf-deps
	$(PRELOAD) $(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

# Everything that needs CUDA, in one script (see benchmarks/gpu_check.py); writes gpu_check.json.
gpu-check:
	PYTHON=$${PYTHON:-$(BIN)/python} benchmarks/gpu_check.sh --out gpu_check.json

clean:
	rm -rf $(BUILD_DIR)
