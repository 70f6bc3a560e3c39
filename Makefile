# One command each: set up, demo, test, lint, bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/ragsearch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/ragsearch

setup: $(BIN)/ragsearch

demo: setup  ## ingest SciFact into the embedded index and print the eval table
	$(BIN)/ragsearch demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint  ## lint, type-check, then the whole test suite
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m eval.bench

clean:
	rm -rf $(VENV) .ragsearch
