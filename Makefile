# Keel developer entry points. See README.md ("Quick start").
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.keel-installed
SAMPLE := .keel/sample

.PHONY: venv tools sample run test lint serve local-model

## venv: create .venv and install keel with the dev extras (reruns when pyproject.toml changes)
venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make venv: python3.11 or python3 not found" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make venv: Keel needs Python 3.11+ ($(PYTHON) is older); run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

## tools: semgrep in its own venv (.keel-tools/semgrep) — never in .venv
tools:
	@scripts/install-tools.sh

## local-model: llama.cpp's llama-server (~/.keel/tools; ~10 min compile, once) + GGUF models (~/.keel/models); then KEEL_MODEL=local
##   MODELS="qwen2.5-coder-0.5b smollm2-135m qwen2.5-coder-1.5b" adds the 1.5B (list: python -m keel.model_store list)
MODELS ?= qwen2.5-coder-0.5b smollm2-135m
local-model: venv
	@KEEL_VENV_PYTHON=$(BIN)/python scripts/install-local-model.sh $(MODELS)

## sample: (re)build the sample git repository to review at .keel/sample
sample: venv
	@rm -rf $(SAMPLE)
	$(BIN)/python -m keel.sample $(SAMPLE)

## run: review the sample offline; stopping at the approval gate (exit 3) is success
run: venv tools sample
	@rc=0; $(BIN)/keel review $(SAMPLE) --no-input || rc=$$?; \
	if [ $$rc -eq 3 ]; then \
		echo; \
		echo "make run: the review is awaiting approval (exit 3) - that is the expected stop."; \
		echo "Next: $(BIN)/keel approve <thread-id>   (thread id printed above; list with: $(BIN)/keel threads)"; \
		exit 0; \
	fi; \
	exit $$rc

## test: the whole suite, against a throwaway PostgreSQL (or KEEL_TEST_DATABASE_URL)
test: venv tools
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

## lint: ruff (lint + format check), mypy --strict, and the layer contracts (lint-imports; docs/architecture.md)
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## serve: langgraph dev on http://127.0.0.1:2024 offline (Studio / SDK); CLEAN=1 first clears .langgraph_api/; see docs/serve.md
serve: venv
	@if [ -n "$(CLEAN)" ]; then rm -rf .langgraph_api; echo "make serve: cleared .langgraph_api/"; fi
	LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true $(BIN)/langgraph dev --no-browser --port 2024
