# Every target a developer and the pipeline run. `make synth` and `make test` install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PIPENV_VERSION := 2026.10.3
VENV := .venv
PYTHON := $(VENV)/bin/python
# -O skips the jsii bindings' per-call type checks (a quarter of synth time at scale); tests run with them on.
SYNTH := $(PYTHON) -O main.py
OUTDIR ?= cdktf.out
TERRAFORM_VERSION := 1.11.4
DEPLOY_PARALLELISM ?= 4
PLANS := build/plans
# Plan: shard PLAN_SHARD of PLAN_SHARDS of the changed stacks (pipeline.plan_shards; 1/1 plans them all); a shard's
# plans are packed into PLAN_ARTIFACT/shard-<i>/ and the merge writes PLAN_ARTIFACT (org_backup/ops/plan_shards.py).
PLAN_SHARD ?= 1
PLAN_SHARDS ?= 1
PLAN_ARTIFACT := build/plan-artifact
SHARDS_DIR ?=
# Deploy: shard SHARD of SHARDS of the stacks `make plan` listed (the pipeline passes the Plan stage's artifact).
SHARD ?= 1
SHARDS ?= 1
PHASE ?=
PLANNED ?= $(PLANS)/changed-stacks.json
STACKS_FILE ?=
OUTPUTS ?= build/outputs.json
DISCOVER_FLAGS ?=
# A state lock older than this was left by a deploy that is gone (the pipeline's CodeBuild timeout; with another CI
# system, its job timeout): make deploy removes it (org_backup/ops/state_locks.py).
LOCK_MAX_AGE_MINUTES ?= 120
BOOTSTRAP_FLAGS ?=
READINESS_FLAGS ?=
STACK ?=

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export TF_IN_AUTOMATION := 1
# The cdktf CLI: no version check or telemetry calls, no plugin cache in the home folder.
export DISABLE_VERSION_CHECK := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
# npx: no "new version of npm available" notice on every cdktf command.
export NPM_CONFIG_UPDATE_NOTIFIER := false
# cdktf runs Terraform with this environment: our CLI config (provider mirror when there is one, never ~/.terraformrc).
CDKTF := TF_CLI_CONFIG_FILE=$$($(PYTHON) -m org_backup.ops.terraform cli-config) npx --no-install cdktf

.PHONY: help install synth schema validate scan scan-junit lint docs fmt test test-fast test-migration deploy-stacks cli ci-tools providers-lock bootstrap discover plan plan-shard plan-merge diff deploy readiness pr-feedback clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: Pipfile.lock
	@command -v pipenv >/dev/null 2>&1 || python3 -m pip install --quiet --require-hashes -r .ci/pipenv-requirements.txt
	@echo "Installing the pinned Python environment from Pipfile.lock into .venv (the first time: about 2 minutes, quietly)"
	pipenv sync --dev
	@touch $@

install: $(VENV)/.synced ## Install the pinned Python environment (.venv) from Pipfile.lock

synth: install ## Validate backup.yaml (or $BACKUP_CONFIG) and synthesize every stack into cdktf.out/
	$(SYNTH)
	$(PYTHON) -m org_backup.ops.terraform lock $(OUTDIR)

schema: install ## Write backup.schema.json and backup-plans.schema.json (JSON Schemas of the config and the plans file, for editors)
	$(PYTHON) -m org_backup schema > backup.schema.json
	$(PYTHON) -m org_backup schema --plans > backup-plans.schema.json

validate: synth ## terraform validate every synthesized stack with the real AWS provider
	$(PYTHON) -m org_backup.ops.terraform_validate $(OUTDIR)

scan: synth ## checkov over the synthesized stacks, one per member-stack shape (zero failed checks; skips in .checkov.yaml); parliament over every policy
	$(PYTHON) -m org_backup.ops.policy_lint $(OUTDIR)
	$(PYTHON) -m org_backup.ops.scan_set $(OUTDIR) build/scan
	$(VENV)/bin/checkov -d build/scan --framework terraform_json --skip-download --config-file .checkov.yaml --compact --quiet

scan-junit: synth ## checkov as JUnit XML (build/checkov-junit.xml) for the pipeline's report group
	$(PYTHON) -m org_backup.ops.scan_set $(OUTDIR) build/scan
	$(VENV)/bin/checkov -d build/scan --framework terraform_json --skip-download --config-file .checkov.yaml -o junitxml > build/checkov-junit.xml

docs: install ## Build the documentation site into build/site (mkdocs --strict: a broken link or an unlisted page fails; what CI runs)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: install ## ruff check, format check, the layer contracts (.importlinter) and mypy --strict (what CI runs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy lambda_src/restore_validation  # one run per function: each has its own handler module
	$(VENV)/bin/mypy lambda_src/pr_approval

fmt: install ## Fix what ruff can fix, then format every file
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install cli ## Run every test: config, synth, terraform validate, checkov, the deployment rehearsal against moto (~7 min)
	$(PYTHON) -m pytest

test-migration: install cli ## Against moto: move a deployed example to delegated policy management (ids and attachments kept), then retire a Region and an account, then deploy under injected faults, then two deploys of one stack at once (~13 min)
	$(PYTHON) -m pytest -m migration tests/rehearsal/test_migration.py

# In worker processes (pytest-xdist: one per core, at most 4), each taking whole test files (--dist loadfile), so a
# file's module fixtures are built once; every worker synthesizes the session fixtures' configs for itself.
test-fast: install ## The inner loop: every test that needs no terraform, checkov, moto server, and is not marked slow (~45 s)
	$(PYTHON) -m pytest -n auto --maxprocesses 4 --dist loadfile \
	  -m "not terraform and not checkov and not rehearsal and not server and not migration and not slow"

cli: node_modules/.package-lock.json ## Install the pinned cdktf CLI (for cdktf diff / deploy), again only when package-lock.json changes

node_modules/.package-lock.json: package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

ci-tools: ## CodeBuild only: install the pinned Terraform, checked against the SHA-256 committed in .ci/terraform-sha256sums
	bash .ci/install-terraform $(TERRAFORM_VERSION)

providers-lock: install ## Rewrite terraform-providers.lock.hcl for the stacks' providers from the registry (Linux and macOS, x86_64 and arm64); check it, commit it
	$(SYNTH)
	$(PYTHON) -m org_backup.ops.terraform relock $(OUTDIR)

bootstrap: synth ## First-time setup in order (docs/deploy.md, Deploy it); an AWS profile per account: ORG_BACKUP_{HOME,MANAGEMENT,CENTRAL}_PROFILE
	$(PYTHON) -m org_backup bootstrap $(BOOTSTRAP_FLAGS)

discover: install ## Read the target OUs' accounts from AWS Organizations into accounts_file (read-only)
	$(PYTHON) -m org_backup discover $(DISCOVER_FLAGS)

plan: install ## terraform plan (read-only plan role) of the stacks changed since the last deploy (shard PLAN_SHARD/PLAN_SHARDS); in build/plans/
	$(PYTHON) -m org_backup credentials --before plan
	# The stack list with its hashes (what make deploy may deploy) exists only once every plan passed the plan guard.
	rm -f $(PLANS)/*.txt $(PLANS)/*.tfplan $(PLANS)/changed-stacks.json $(PLANS)/summary.md $(PLANS)/plan-result.json \
	  $(PLANS)/retired-accounts.json
	ORG_BACKUP_ROLE=plan $(SYNTH)
	$(PYTHON) -m org_backup changed --out $(PLANS)/candidates.txt
	# A deployed member stack whose account left the target OUs: refused unless retired_accounts names it.
	$(PYTHON) -m org_backup retire-accounts --plan $(PLANS)
	$(PYTHON) -m org_backup shard $(PLAN_SHARD)/$(PLAN_SHARDS) --planned $(PLANS)/candidates.json > build/plan-shard-stacks.txt
	$(PYTHON) -m org_backup wait-roles --role plan --stacks-file build/plan-shard-stacks.txt
	$(PYTHON) -m org_backup.ops.terraform plan $(OUTDIR) --out $(PLANS) --stacks-file $(PLANS)/candidates.txt \
	  --shard $(PLAN_SHARD)/$(PLAN_SHARDS)
	mv $(PLANS)/candidates.json $(PLANS)/changed-stacks.json
	mv $(PLANS)/candidates.txt $(PLANS)/changed-stacks.txt
	$(PYTHON) -m org_backup preview --format mermaid > $(PLANS)/topology.md

plan-shard: plan ## CodeBuild (plan_shards > 1): make plan of shard PLAN_SHARD/PLAN_SHARDS, packed as PLAN_ARTIFACT/shard-<i>/
	rm -rf $(PLAN_ARTIFACT) && mkdir -p $(PLAN_ARTIFACT) && cp -R $(PLANS) $(PLAN_ARTIFACT)/shard-$(PLAN_SHARD)

plan-merge: install ## CodeBuild (plan_shards > 1): check and merge the PLAN_SHARDS shards under SHARDS_DIR into PLAN_ARTIFACT
	@test -n "$(SHARDS_DIR)" || { echo "make plan-merge: no SHARDS_DIR (the Plan batch's combined artifact)." >&2; exit 2; }
	rm -rf $(PLAN_ARTIFACT)
	$(PYTHON) -m org_backup.ops.plan_shards $(SHARDS_DIR) --shards $(PLAN_SHARDS) --out $(PLAN_ARTIFACT)

diff: install cli ## Read-only: cdktf diff of STACK with the plan role, as a person of pipeline.plan_readers (credentials checked first)
	@test -n "$(STACK)" || { echo "make diff: no STACK. Fix: make diff STACK=<stack>, e.g. STACK=central-backup (ORG_BACKUP_SYNTH_LIST=1 make synth lists them)." >&2; exit 2; }
	$(PYTHON) -m org_backup credentials --before diff
	# -lock=false as make plan: a diff only reads, and a reader may not write the state bucket's lock files.
	ORG_BACKUP_ROLE=plan TF_CLI_ARGS_plan=-lock=false $(CDKTF) diff $(STACK)

deploy: install cli ## cdktf deploy of shard SHARD/SHARDS of the planned stacks of PHASE (default: phases 1, 2, 3 in turn), recorded when done
	$(SYNTH)
	mkdir -p build
	# Per phase (org_backup/config/naming.py deploy_phase): in phase 2 (shard 1) first the plan's retired accounts
	# released (org_backup/ops/retire_accounts.py); then this shard's planned stacks, unchanged since the plan: phases
	# 1 and 3 through deploy-stacks, phase 2 in the waves of pipeline.rollout (org_backup/ops/rollout.py: each stack
	# through deploy-stacks, a wave stopping on more failures than it tolerates). `make`, not $$(MAKE): a line with
	# $$(MAKE) runs even under make -n, and this one releases retired accounts' state.
	set -e; for phase in $(or $(PHASE),1 2 3); do \
	  if [ $$phase = 2 ] && [ $(SHARD) = 1 ]; then $(PYTHON) -m org_backup retire-accounts --deploy $(dir $(PLANNED))retired-accounts.json; fi; \
	  $(PYTHON) -m org_backup shard $(SHARD)/$(SHARDS) --phase $$phase --planned $(PLANNED) > build/shard-stacks.txt; \
	  if [ ! -s build/shard-stacks.txt ]; then echo "Phase $$phase, shard $(SHARD)/$(SHARDS): nothing to deploy."; continue; fi; \
	  echo "Phase $$phase, shard $(SHARD)/$(SHARDS): $$(tr '\n' ' ' < build/shard-stacks.txt)"; \
	  if [ $$phase = 2 ]; then $(PYTHON) -m org_backup.ops.rollout --outdir $(OUTDIR) --stacks-file build/shard-stacks.txt; \
	  else make --no-print-directory deploy-stacks STACKS_FILE=build/shard-stacks.txt OUTPUTS=build/outputs-phase-$$phase.json; fi; \
	done

# One list of stacks deployed, each step for all of them: their accounts' deploy roles assumable; no deploy holding
# their state (a stale lock removed, its stack marked interrupted); what an interrupted apply created but never
# recorded adopted (org_backup/ops/unrecorded.py); cdktf deploy --skip-synth of exactly the synthesized output;
# recorded when done. make deploy runs it (phases 1 and 3; each stack of phase 2's waves); not a target of its own.
deploy-stacks:
	@test -n "$(STACKS_FILE)" || { echo "make deploy-stacks: no STACKS_FILE (make deploy gives it)." >&2; exit 2; }
	$(PYTHON) -m org_backup wait-roles --role deploy --stacks-file $(STACKS_FILE)
	$(PYTHON) -m org_backup locks --stacks-file $(STACKS_FILE) --clear-stale --max-age-minutes $(LOCK_MAX_AGE_MINUTES)
	$(PYTHON) -m org_backup.ops.unrecorded adopt --stacks-file $(STACKS_FILE)
	$(PYTHON) -m org_backup.ops.terraform lock $(OUTDIR) $$(cat $(STACKS_FILE))
	$(CDKTF) deploy $$(cat $(STACKS_FILE)) --skip-synth --auto-approve \
	  --parallelism $(DEPLOY_PARALLELISM) --outputs-file $(OUTPUTS)
	$(PYTHON) -m org_backup.ops.unrecorded done --stacks-file $(STACKS_FILE)
	$(PYTHON) -m org_backup record --stacks-file $(STACKS_FILE)

readiness: install ## Read-only: tagged resources that will not be backed up or copied as their plans say (plan role; exit 1 if any)
	$(PYTHON) -m org_backup readiness $(READINESS_FLAGS)

pr-feedback: install ## CodeCommit pull requests: post the plan summary as a comment; approve when the build passed
	$(PYTHON) -m org_backup.ops.pr_feedback --succeeded "$(BUILD_SUCCEEDING)" --summary $(PLANS)/summary.md --topology $(PLANS)/topology.md

clean: ## Remove generated output (refuses while cdktf.out holds local Terraform state)
	@state=$$(find $(OUTDIR) -path '*/.terraform' -prune -o -name 'terraform.tfstate*' -print 2>/dev/null); \
	if [ -n "$$state" ]; then \
	  echo "Nothing removed: $(OUTDIR) holds local Terraform state; move it to safety first:" >&2; \
	  echo "$$state" >&2; exit 1; fi
	rm -rf $(OUTDIR) build .pytest_cache
