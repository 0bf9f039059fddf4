# session-reply: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
UV_VERSION := 0.13.9
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup demo run invoke test unit lint validate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: requirements/dev.txt | $(BIN)/uv
	$(BIN)/uv pip sync -q --python $(BIN)/python requirements/dev.txt
	touch $@

$(SAM_VENV)/.synced: requirements/sam.txt | $(BIN)/uv
	$(BIN)/uv venv -q --python $(BIN)/python $(SAM_VENV)
	$(BIN)/uv pip sync -q --python $(SAM_VENV)/bin/python requirements/sam.txt
	touch $@

setup: $(VENV)/.synced $(SAM_VENV)/.synced ## Create the virtualenvs from the locks

demo: $(VENV)/.synced ## Start the local stack, answer a client's message, print the timeline, stop
	$(BIN)/python -m devstack demo

run: $(VENV)/.synced ## Serve the stack locally (ONEMSG_API_URL, ONEMSG_CHANNEL_ID, ONEMSG_TOKEN, WEBHOOK_SECRET, API_PORT)
	$(BIN)/python -m devstack run

invoke: $(VENV)/.synced ## Run one event through one function: make invoke FN=WebhookFunction EVENT=events/webhook/inbound.json
	$(BIN)/python -m devstack invoke $(FN) $(EVENT)

test: setup lint validate ## Set everything up, lint, validate the template, run the tests
	$(BIN)/python -m pytest

unit: $(VENV)/.synced ## Unit tests only (fast)
	$(BIN)/python -m pytest tests/unit

lint: $(VENV)/.synced ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@for app in functions/*/app.py; do $(BIN)/mypy $$app || exit 1; done

validate: $(SAM_VENV)/.synced ## sam validate --lint (offline)
	$(SAM_VENV)/bin/sam validate --lint

clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
