# `make run` and `make test` set everything up on first use; see README.md.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-fast lint typecheck pytest test-long setup setup-dev browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# CPU torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
$(VENV)/.base: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base pyproject.toml
	$(BIN)/pip install -q $(TORCH) -e '.[dev]'
	touch $@

setup: $(VENV)/.base
setup-dev: $(VENV)/.dev

run: setup
	$(BIN)/rag ingest seeds/ --quiet
	$(BIN)/rag chat

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup-dev
	$(BIN)/mypy

pytest: setup-dev
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The inner loop: tests marked `fast` (fakes and Chroma in memory, no model, browser or server).
test-fast: setup-dev
	$(BIN)/pytest -m fast $(PYTEST_ARGS)

test-long: setup-dev
	RAG_TEST_LONG=1 $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
