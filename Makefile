# brainbatch: `make demo` runs the main job offline; `make test` runs the whole test suite.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test lint bench browser-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,browser]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m brainbatch demo --out out

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check brainbatch tests bench
	$(PY) -m ruff format --check brainbatch tests bench
	$(PY) -m mypy brainbatch

bench: $(VENV)/.installed-dev
	$(PY) bench/core.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
