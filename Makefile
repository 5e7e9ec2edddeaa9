# mmcourse — two commands do all the set-up: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PORT   ?= 8888
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: lab lab-instructor test test-fast bench course release release-check install clean-cache help

help:
	@echo "make lab         set up (first time) and open JupyterLab on notebooks/ (the student view)"
	@echo "make lab-instructor  JupyterLab on the whole repository (solutions/, hidden tests, package)"
	@echo "make test        set up (first time) and run every test"
	@echo "make test-fast   tests without the slow notebook/training/browser ones"
	@echo "make bench       print the performance figures (search, hashing, training, grading)"
	@echo "make course      execute every solution notebook and print a time table"
	@echo "make release     regenerate notebooks/ from solutions/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

# Project JupyterLab settings (.jupyter/lab/settings/overrides.json: no news pop-up, no update check).
LAB_FLAGS = --LabApp.app_settings_dir=$(abspath .jupyter/lab/settings) --port=$(PORT) \
	$(if $(filter 0,$(shell id -u)),--allow-root,)

# Students: the server's root is notebooks/, so solutions/ (answers, hidden tests) is not one click away.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(abspath notebooks) $(LAB_FLAGS)

# Instructors: the whole repository, opening on solutions/.
lab-instructor: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(abspath .) --LabApp.default_url=/lab/tree/solutions $(LAB_FLAGS)

# pytest -ra ends with every skip and its reason; the browser test needs the system's Chromium.
# Two workers share the cores: idle OpenMP threads (faiss, torch) sleep instead of spinning and
# starving the other worker (the faiss tests: 165 s spinning, 33 s passive).
test test-fast: export OMP_WAIT_POLICY ?= PASSIVE
test: $(STAMP)
	@[ -x /usr/bin/chromium ] || echo "make test: chromium not found: apt install chromium" \
		"(the browser test is skipped; .ci/run installs it)"
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

course: $(STAMP)
	$(BIN)/mmcourse run

release: $(STAMP)
	$(BIN)/mmcourse release

release-check: $(STAMP)
	$(BIN)/mmcourse release --check

clean-cache:
	rm -rf data/cache
