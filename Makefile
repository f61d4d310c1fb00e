# brainbatch: `make demo` runs the main job offline; `make test` runs the whole test suite.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test lint bench notebooks clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,browser]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m brainbatch demo --out out

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval-sanitize.cfg

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest $(NBVAL) notebooks/ -p no:cacheprovider

notebooks: $(VENV)/.installed-dev  ## re-execute the notebooks in place (after changing outputs)
	for f in notebooks/0*.ipynb; do $(PY) -m jupyter nbconvert --to notebook --execute --inplace "$$f"; done

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check brainbatch tests bench
	$(PY) -m ruff format --check brainbatch tests bench
	$(PY) -m mypy brainbatch

bench: $(VENV)/.installed-dev  ## every benchmark, each against its same-run baseline
	$(PY) bench/core.py
	$(PY) bench/realtime.py --quick
	$(PY) bench/batch.py
	$(PY) bench/journal.py
	$(PY) bench/notebook_front.py
	$(PY) bench/panel.py
	$(PY) bench/bench_pricing.py
	$(PY) bench/bench_tokens.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
