# One command each: set up, demo, test, lint, bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean browser

$(BIN)/ragsearch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev]'
	touch $(BIN)/ragsearch

# llama.cpp for the answer tests compiles on first install (minutes); the demo does not need it.
# Built once for generic x86-64 with AVX2 (a -march=native build crashed here with a general protection
# fault in ggml's CPU kernels), kept in a local wheel folder so pip's cache cannot swap in another build.
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS := $(HOME)/.cache/ragsearch/wheels
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(LLAMA_WHEELS)/.built-$(LLAMA_VERSION): | $(BIN)/ragsearch
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip wheel --quiet --no-cache-dir --no-deps -w $(LLAMA_WHEELS) \
		llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.llm-test: $(BIN)/ragsearch $(LLAMA_WHEELS)/.built-$(LLAMA_VERSION)
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) -e '.[all,dev,llm-test]'
	touch $@

setup: $(BIN)/ragsearch

demo: setup  ## ingest SciFact, train the learned ranker, print the eval table (bm25, dense, hybrid, ltr) and one explained result
	$(BIN)/ragsearch demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The UI test drives Debian's Chromium (playwright never downloads a browser here) and checks accessibility
# with axe-core (npm, pinned; installed inside the virtual environment).
AXE_VERSION := 4.14.1
AXE := $(VENV)/node_modules/axe-core/axe.min.js
$(AXE): $(BIN)/ragsearch
	npm install --prefix $(VENV) --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION)

browser: $(AXE)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium; } \
	  || { echo "install Chromium (Debian: apt-get install chromium) for the UI test"; exit 1; }

test: lint browser $(VENV)/.llm-test  ## lint, type-check, then the whole test suite
	$(BIN)/pytest

# The benchmark report (docs/report.md + .json). Needs the SciFact index and a promoted LTR model (`make demo`
# makes both; or `ragsearch train ... --promote-if-better`); builds a 1M-passage synthetic index in SCALE_HOME the first time
# (~3 min, ~4 GB). Run it on an otherwise idle machine.
SCALE_HOME ?= .ragsearch-scale
bench: setup
	$(BIN)/python -m bench.report --scale-home $(SCALE_HOME) --out docs/report

clean:
	rm -rf $(VENV) .ragsearch
