"""Retiring an account that left the target OUs (config ``retired_accounts``): refused at plan time until confirmed,
applied by the deploy, and nothing in the account touched.

Why not Terraform: when an account leaves the target OUs, the StackSet that gives it org-backup's deploy and plan
roles deletes its stack instance there ("If an account is removed from a target organization or OU, StackSets
deletes stack instances from the account"; bootstrap sets RetainStacksOnAccountRemoval false: AWS CloudFormation,
AutoDeployment). Every AWS provider of the account's member stack assumes one of those roles when Terraform
configures it, so no plan or apply can reach the account again, not even to ``forget`` its resources with removed
blocks. That also removes the pipeline's access to the account. What remains is the stack's state object and its
deploy record in the state bucket. Retiring keeps a copy of the state under ``<key_prefix>/retired/<stack>.tfstate``
(every resource that stays in AWS, with its ARN), then deletes the state and the record, in that order, so a retry
after any failure finishes the job. Every vault, key, recovery point, role and function stays in the account.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from org_backup.config.model import BackupConfig, S3Backend
from org_backup.config.naming import MEMBER_STACK_PREFIX
from org_backup.ops import state_locks
from org_backup.synth.incremental import Records
from org_backup.synth.output import RETIRED_STACKS

# What a retired account keeps that holds or protects its backups: named one by one in the plan.
DATA_TYPES = (
    "aws_backup_vault",
    "aws_backup_logically_air_gapped_vault",
    "aws_kms_key",
    "aws_backup_vault_lock_configuration",
)
RETIRING_FILE = "retired-accounts.json"  # beside the Plan stage's stack list: what the deploy may retire


class StateStore(Protocol):
    """Where a stack's Terraform state lives: the S3 state bucket, or local files."""

    def read(self, stack: str) -> bytes | None: ...

    def archived(self, stack: str) -> bytes | None: ...

    def archive(self, stack: str, body: bytes) -> None: ...

    def delete(self, stack: str) -> None: ...

    def locked(self, stack: str) -> bool: ...

    def describe(self, stack: str) -> str: ...


@dataclass(frozen=True)
class S3StateStore:
    client: Any
    bucket: str
    prefix: str

    def read(self, stack: str) -> bytes | None:
        return state_locks.read_object(self.client, self.bucket, f"{self.prefix}/{stack}.tfstate")

    def archived(self, stack: str) -> bytes | None:
        return state_locks.read_object(self.client, self.bucket, f"{self.prefix}/retired/{stack}.tfstate")

    def archive(self, stack: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/retired/{stack}.tfstate", Body=body)

    def delete(self, stack: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{stack}.tfstate")

    def locked(self, stack: str) -> bool:
        """S3-native locking's lock object (org_backup/ops/state_locks.py): a deploy of the stack is running."""
        return bool(state_locks.find(self.client, self.bucket, self.prefix, [stack]))

    def describe(self, stack: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/retired/{stack}.tfstate"


@dataclass(frozen=True)
class LocalStateStore:
    """Local state: synth already moved a stack that is no longer synthesized, state included, to
    ``cdktf.out/retired-stacks/<stack>`` (org_backup/synth/output.py), which is its archive; nothing to move."""

    outdir: Path

    def read(self, stack: str) -> bytes | None:
        path = self.outdir / RETIRED_STACKS / stack / "terraform.tfstate"
        return path.read_bytes() if path.is_file() else None

    def archived(self, stack: str) -> bytes | None:
        return self.read(stack)

    def archive(self, stack: str, body: bytes) -> None:
        return None

    def delete(self, stack: str) -> None:
        return None

    def locked(self, stack: str) -> bool:
        return (self.outdir / RETIRED_STACKS / stack / ".terraform.tfstate.lock.info").exists()

    def describe(self, stack: str) -> str:
        return str(self.outdir / RETIRED_STACKS / stack / "terraform.tfstate")


def store_for(config: BackupConfig, outdir: Path) -> StateStore:
    backend = config.state_backend
    if isinstance(backend, S3Backend):
        import boto3

        return S3StateStore(boto3.client("s3", region_name=backend.region), backend.bucket, backend.key_prefix)
    return LocalStateStore(outdir)


def kept(state: bytes | None) -> list[str]:
    """What stays in AWS, from a state document (Terraform's state format, version 4: ``resources`` with ``mode``,
    ``type``, ``name``, ``provider`` and each instance's ``attributes``): vaults and keys one by one with their ARN,
    then a count of everything else by type."""
    if state is None:
        return ["no Terraform state found: nothing to release"]
    resources = [r for r in json.loads(state).get("resources", []) if r.get("mode") == "managed"]
    named: list[str] = []
    others: dict[str, int] = {}
    for resource in resources:
        for instance in resource.get("instances", []):
            attributes = instance.get("attributes", {})
            if resource["type"] in DATA_TYPES:
                named.append(f"{resource['type']} {attributes.get('arn') or attributes.get('id') or resource['name']}")
            else:
                others[resource["type"]] = others.get(resource["type"], 0) + 1
    rest = ", ".join(f"{count} {kind}" for kind, count in sorted(others.items()))
    return sorted(named) + ([f"and {rest}"] if rest else [])


def check(config: BackupConfig, gone: Iterable[str], store: StateStore) -> tuple[list[str], dict[str, list[str]]]:
    """The Plan stage: (refusals, {stack: what it keeps in AWS}) for the deployed member stacks no longer
    synthesized. Only those whose accounts ``retired_accounts`` names may be retired; the others stop the plan."""
    refusals: list[str] = []
    retiring: dict[str, list[str]] = {}
    for stack in sorted(s for s in gone if s.startswith(MEMBER_STACK_PREFIX)):
        account = stack.removeprefix(MEMBER_STACK_PREFIX)
        if account in config.retired_accounts:
            retiring[stack] = kept(store.read(stack) or store.archived(stack))
        else:
            refusals.append(
                f"{stack}: deployed, but account {account} is no longer in the target OUs (its StackSet roles are "
                "deleted with it, so Terraform cannot reach it). Fix: list it in retired_accounts to release its "
                "state and keep every vault, key and recovery point in AWS (docs/operations.md), or put the "
                "account back in a target OU."
            )
    return refusals, retiring


def apply(
    config: BackupConfig, retiring: Mapping[str, list[str]], current: Iterable[str], store: StateStore, records: Records
) -> tuple[list[str], list[str]]:
    """The deploy: (problems, notes). Releases exactly the stacks the approved plan listed, each only if the config
    still retires it and synth still leaves it out; archive, then delete the state, then the record."""
    problems, notes = [], []
    synthesized = set(current)
    for stack in sorted(retiring):
        account = stack.removeprefix(MEMBER_STACK_PREFIX)
        if account not in config.retired_accounts or stack in synthesized:
            problems.append(
                f"{stack}: the approved plan retires it, but the configuration no longer does. Fix: run the "
                "pipeline again from the start."
            )
            continue
        if store.locked(stack):
            problems.append(f"{stack}: its state is locked (a deploy is running). Fix: wait for it, run again.")
            continue
        body = store.read(stack)
        if body is None:  # a run that stopped after deleting it, or a plan applied twice
            records.forget([stack])
            notes.append(f"{stack}: already released (its state, if it had one, is at {store.describe(stack)})")
            continue
        earlier = store.archived(stack)
        if earlier is not None and earlier != body:  # the same account retired before: never overwrite that copy
            problems.append(
                f"{stack}: an earlier retirement's state is at {store.describe(stack)}; this one would replace it. "
                "Fix: move that object aside (aws s3 mv it to a dated name), then run the Deploy stage again."
            )
            continue
        store.archive(stack, body)
        if store.archived(stack) != body:
            problems.append(f"{stack}: the state's copy at {store.describe(stack)} does not read back; kept.")
            continue
        store.delete(stack)
        records.forget([stack])
        notes.append(f"{stack}: retired; its state is kept at {store.describe(stack)}; in AWS it keeps:")
        notes += [f"  {line}" for line in retiring[stack]]
    return problems, notes


def summary(retiring: Mapping[str, list[str]]) -> list[str]:
    """The plan summary's section (the pull-request comment): what each retired account keeps in AWS."""
    if not retiring:
        return []
    lines = ["", "Accounts retired: their state is released, everything stays in AWS (retired_accounts):", ""]
    for stack, kept_lines in sorted(retiring.items()):
        lines.append(f"- `{stack}`")
        lines += [f"  - {line}" for line in kept_lines]
    return lines


def main(config: BackupConfig, records: Records, *, outdir: Path, plan: Path | None, deploy: Path | None) -> int:
    """`python -m org_backup retire-accounts --plan DIR | --deploy FILE`: 0 done, 1 refused, 3 AWS unreadable."""
    from botocore.exceptions import BotoCoreError, ClientError

    from org_backup.synth import incremental

    current = incremental.stack_hashes(outdir)
    store = store_for(config, outdir)
    try:
        if plan is not None:
            gone = incremental.compare(current, records.read()).gone
            refusals, retiring = check(config, gone, store)
            if refusals:
                lines = ["# org-backup plan: refused", "", "Nothing may be deployed from this plan:", ""]
                plan.mkdir(parents=True, exist_ok=True)
                (plan / "summary.md").write_text("\n".join(lines + [f"- {r}" for r in refusals]) + "\n", "utf-8")
                print("\n".join(f"retire-accounts: {r}" for r in refusals), file=sys.stderr)
                return 1
            plan.mkdir(parents=True, exist_ok=True)
            (plan / RETIRING_FILE).write_text(json.dumps(retiring, indent=2, sort_keys=True) + "\n", "utf-8")
            for stack in retiring:
                print(f"retire-accounts: {stack} will be retired (retired_accounts); its state is released")
            return 0
        if deploy is None or not deploy.is_file():  # a plan made before retire-accounts existed: nothing listed
            print(f"retire-accounts: no {RETIRING_FILE} beside the approved plan ({deploy}); no account retired.")
            return 0
        problems, notes = apply(config, json.loads(deploy.read_text("utf-8")), current, store, records)
    except (BotoCoreError, ClientError) as exc:
        print(f"retire-accounts: cannot read or write the state bucket: {exc}", file=sys.stderr)
        return 3
    for note in notes:
        print(f"retire-accounts: {note}")
    for problem in problems:
        print(f"retire-accounts: {problem}", file=sys.stderr)
    return 1 if problems else 0
