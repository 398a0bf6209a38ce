# `make demo`: fresh venv, install everything (torch pinned to the CPU build), run the demo.
# `make test`: fresh venv, install everything, run the whole test suite; then check the light
# core (`pip install .`, no extras) in its own venv. The report's browser
# test needs headless Chromium (Debian package `chromium`): installed here when run as root
# with apt-get (CI: a fresh Debian machine), where a failed install stops the run; elsewhere
# install it yourself, or that one test is skipped.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LIGHT  ?= .venv-light

.PHONY: setup browser demo test light lint bench clean

$(BIN)/hepatokit: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hepatokit needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(BIN)/hepatokit

setup: $(BIN)/hepatokit

demo: setup
	$(BIN)/hepatokit demo --out hepatokit-demo

browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not found and not root with apt-get: the browser test will be skipped"; fi

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy hepatokit
	$(BIN)/python -m pytest -q tests
	$(MAKE) light

# the light core: no torch, no dcm2niix, no openslide (a minute: the core's wheels only),
# then the same venv with the [mri] extra (a few minutes: SimpleITK's wheel)
light:
	$(PYTHON) -m venv --clear $(LIGHT)
	$(LIGHT)/bin/python -m pip install -q --upgrade pip
	$(LIGHT)/bin/python -m pip install -q .
	$(LIGHT)/bin/python tests/light/check_light_install.py
	# then the [mri] extra on top of it: index, series and convert without torch
	$(LIGHT)/bin/python -m pip install -q '.[mri]'
	$(LIGHT)/bin/python tests/light/check_mri_install.py

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy hepatokit

clean:
	rm -rf $(VENV) $(LIGHT) hepatokit-demo
