# `make demo`: fresh venv, install everything (torch pinned to the CPU build), run the demo.
# `make test`: fresh venv, install everything, run the whole test suite; then check the light
# core (`pip install .`, no extras) in its own venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LIGHT  ?= .venv-light

.PHONY: setup demo test light lint bench clean

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

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy hepatokit
	$(BIN)/python -m pytest -q tests
	$(MAKE) light

# the light core: no torch, no pydicom, no openslide (a minute: the core's wheels only)
light:
	$(PYTHON) -m venv $(LIGHT)
	$(LIGHT)/bin/python -m pip install -q --upgrade pip
	$(LIGHT)/bin/python -m pip install -q .
	$(LIGHT)/bin/python tests/light/check_light_install.py

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy hepatokit

clean:
	rm -rf $(VENV) $(LIGHT) hepatokit-demo
