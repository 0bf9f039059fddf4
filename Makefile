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
SAM := $(SAM_VENV)/bin/sam
# The samconfig.toml environment of deploy/ops targets; only `make ... ENV=prod` sets it (an
# ENV inherited from the shell, which POSIX shells use for something else, is ignored).
ENV := $(if $(filter command line,$(origin ENV)),$(ENV),dev)
# sam build without Docker needs the runtime's interpreter on PATH (pyenv's 3.12 if not).
PY312_BIN := $(shell for p in "$$(command -v python3.12)" $(HOME)/.pyenv/versions/3.12*/bin/python3.12; do \
	[ -n "$$p" ] && "$$p" -c '' 2>/dev/null && { dirname "$$p"; break; }; done)
OPS := PYTHONPATH=layers/common:. $(BIN)/python -m

.DEFAULT_GOAL := help

.PHONY: help setup demo run faults invoke sam-local test topics unit lint validate lint-template bench clean \
	deploy bootstrap-secrets connect-1msg managers catalogue replies

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

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

faults: $(VENV)/.synced ## Fault scenarios against the full local stack; 0 duplicates, 0 lost
	$(BIN)/python -m devstack faults

invoke: $(VENV)/.synced ## Run one event through one function: make invoke FN=WebhookFunction EVENT=events/webhook/inbound.json
	$(BIN)/python -m devstack invoke $(FN) $(EVENT)

sam-local: $(VENV)/.synced $(SAM_VENV)/.synced ## Every events/ file through real `sam local invoke` (needs Docker), outcomes checked; ARGS="--start-api" | "--serve" (by hand)
	PY312_BIN="$(PY312_BIN)" $(BIN)/python -m devstack sam-local $(ARGS)

test: setup lint validate ## Set everything up, lint, validate the template, run the tests
	$(BIN)/python -m pytest

topics: $(VENV)/.synced ## Labelled requests: categories (precision, recall), subject and language accuracy
	PYTHONPATH=layers/common:. $(BIN)/python -m scripts.topic_accuracy --min-accuracy 0.9
	PYTHONPATH=layers/common:. $(BIN)/python -m scripts.subject_accuracy
	@echo; echo "The newest split scored untouched, against the bars:"
	PYTHONPATH=layers/common:. $(BIN)/python -m scripts.subject_accuracy --data tests/data/subjects_untouched.jsonl --summary --min-subject 0.9 --min-language 0.97

unit: $(VENV)/.synced ## Unit tests only (fast)
	$(BIN)/python -m pytest tests/unit

lint: $(VENV)/.synced ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@for app in functions/*/app.py; do $(BIN)/mypy $$app || exit 1; done

bench: $(VENV)/.synced ## Benchmark: cold start, AWS calls, latency, burst, cost (prints one table)
	$(BIN)/python -m bench

validate: $(SAM_VENV)/.synced ## The real SAM transform (what CloudFormation runs), then cfn-lint on the source and its output
	$(SAM) validate
	@$(MAKE) --no-print-directory lint-template

# The CloudFormation that SAM makes of template.yaml (offline), for cfn-lint and the tests.
TRANSFORMED := .aws-sam/transformed.json

lint-template: $(SAM_VENV)/.synced ## cfn-lint + informational checks + serverless rules on template.yaml and its transform; fails on any finding
	$(SAM_VENV)/bin/python scripts/sam_transform.py -o $(TRANSFORMED)
	$(SAM_VENV)/bin/cfn-lint template.yaml $(TRANSFORMED) --include-checks I --append-rules cfn_lint_serverless.rules

deploy: $(SAM_VENV)/.synced $(VENV)/.synced ## Build and deploy to AWS: make deploy [ENV=dev|prod] (samconfig.toml)
	$(OPS) ops.preflight --env $(ENV)
	@test -n "$(PY312_BIN)" || { echo "sam build needs python3.12 on PATH (e.g. pyenv install 3.12)"; exit 2; }
	PATH="$(PY312_BIN):$$PATH" $(SAM) build --config-env $(ENV)
	$(SAM) deploy --config-env $(ENV)

bootstrap-secrets: $(VENV)/.synced ## Create the token and webhook-secret SSM parameters (token from a prompt or stdin; ARGS="--force --only token")
	$(OPS) ops.bootstrap_secrets --env $(ENV) $(ARGS)

connect-1msg: $(VENV)/.synced ## Register the stack's webhook with 1MSG and turn on statuses (ARGS="--dry-run")
	$(OPS) ops.connect_1msg --env $(ENV) $(ARGS)

managers: $(VENV)/.synced ## The manager roster: make managers ARGS="list" (add/set/disable/enable)
	$(OPS) ops.managers --env $(ENV) $(ARGS)

catalogue: $(VENV)/.synced ## Catalogue and hours: make catalogue ARGS="list" (add/set/remove/import FILE/hours)
	$(OPS) ops.catalogue --env $(ENV) $(ARGS)

replies: $(VENV)/.synced ## Reply texts per language: make replies ARGS="--set FILE" (or --clear; none = show)
	$(OPS) ops.catalogue --env $(ENV) replies $(ARGS)

clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
