# Every target a developer and the pipeline run. `make synth` and `make test` install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PIPENV_VERSION := 2026.10.3
VENV := .venv
PYTHON := $(VENV)/bin/python
OUTDIR ?= cdktf.out

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export TF_IN_AUTOMATION := 1

.PHONY: help install synth schema validate scan lint test test-fast cli clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: Pipfile.lock
	@command -v pipenv >/dev/null 2>&1 || python3 -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	pipenv sync --dev
	@touch $@

install: $(VENV)/.synced ## Install the pinned Python environment (.venv) from Pipfile.lock

synth: install ## Validate backup.yaml (or $$BACKUP_CONFIG) and synthesize every stack into cdktf.out/
	$(PYTHON) main.py

schema: install ## Write backup.schema.json (JSON Schema of the config, for editors)
	$(PYTHON) -m org_backup schema > backup.schema.json

validate: synth ## terraform validate every synthesized stack with the real AWS provider
	$(PYTHON) -m org_backup.terraform validate $(OUTDIR)

scan: synth ## checkov over every synthesized stack (zero failed checks; skips only in .checkov.yaml)
	$(VENV)/bin/checkov -d $(OUTDIR) --framework terraform_json --skip-download --config-file .checkov.yaml --compact --quiet

lint: install ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install ## Run every test: config, synth, terraform validate, checkov, end-to-end against moto
	$(PYTHON) -m pytest

test-fast: install ## Every test except the end-to-end run
	$(PYTHON) -m pytest -m "not e2e"

cli: package-lock.json ## Install the pinned cdktf CLI (for cdktf diff / deploy)
	npm ci --no-audit --no-fund

clean: ## Remove generated output
	rm -rf $(OUTDIR) build .pytest_cache
