# The two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m devnet

demo: $(STAMP)
	$(PY) -m server.demo

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check server client_sdk devnet tests bench
	$(VENV)/bin/ruff format --check server client_sdk devnet tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy server client_sdk devnet

unit: $(STAMP)
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/engine.py --json bench/results/engine.json
	$(PY) bench/load.py --json bench/results/load.json

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
