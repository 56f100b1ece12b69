# Two commands for a new machine: `make demo` (index + query the bundled corpus) and
# `make test` (lint, format check, test suite). Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_INDEX := index_data/demo
QUERY  ?= security guarantees

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,cluster]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/newsearch index demo/articles --index-dir $(DEMO_INDEX)
	$(BIN)/newsearch query "$(QUERY)" --index-dir $(DEMO_INDEX) -k 3

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# Speed benchmark on the BBC corpus (writes BENCHMARKS.md); a cold run embeds ~11k texts.
# BENCH_FLAGS='--seed-cache path/to/embeddings.sqlite' reuses vectors already computed.
BENCH_CORPUS ?= ../shared/data/bbc
BENCH_NAME ?= bbc
bench: install
	$(BIN)/python bench/speed.py --corpus $(BENCH_CORPUS) --name $(BENCH_NAME) $(BENCH_FLAGS)

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find index_data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
