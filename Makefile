# One command each: set up, demo, test, lint, bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean browser

$(BIN)/ragsearch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/ragsearch

# llama.cpp for the answer tests compiles on first install (minutes); the demo does not need it.
$(VENV)/.llm-test: $(BIN)/ragsearch
	$(BIN)/pip install --quiet -e '.[dev,llm-test]'
	touch $@

setup: $(BIN)/ragsearch

demo: setup  ## ingest SciFact into the embedded index and print the eval table
	$(BIN)/ragsearch demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The UI test drives Debian's Chromium (playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium; } \
	  || { echo "install Chromium (Debian: apt-get install chromium) for the UI test"; exit 1; }

test: lint browser $(VENV)/.llm-test  ## lint, type-check, then the whole test suite
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m eval.bench

clean:
	rm -rf $(VENV) .ragsearch
