"""Migrating a deployment to delegated policy management (issue: the pipeline never writes to the management
account), against the rehearsal's test server with IAM enforced, through the entry points a user and the pipeline
use (``make bootstrap``, ``make deploy`` as the deploy builder):

1. the example as deployments were before: ``organization.policy_admin_account_id`` set to the management account,
   so bootstrap-management gives the management account its deploy and plan roles and the pipeline deploys the
   ``management`` stack (SCPs, cross-account backup, the delegated administrator for AWS Backup, the enrolment rule)
   and ``backup-policies`` there;
2. the example as it is now (the default: its backup delegated administrator, the central account, manages the
   policies): ``make bootstrap`` again, then the deploy builder deploys the two stacks again.

What must hold (the issue's acceptance): every policy keeps its id and its attachments; nothing is destroyed; the
management account's settings are bootstrap-management's afterwards, with the same identity; the management account
has no role left for the pipeline. Only the two organization stacks are deployed: the member and central stacks do
not change between the two configurations (their providers and resources name no management role), and AWS
Organizations accepts a backup policy's attachment without them (their absence matters only to the plans AWS then
creates in the member accounts).

Then, on the same deployment (issue 29), retiring a Region: the central stack and a member stack deployed in both of
the rehearsal's Regions; the second Region removed from the config, which the Plan stage (``make plan`` as the plan
builder) refuses, naming each vault and key; then listed in ``retired_regions``: planned as released, deployed with
nothing destroyed, every vault and key still in the test server and no resource of that Region left in the state.
Then retiring that member account: taken out of its target OU, which the Plan stage refuses, naming its stack; then
listed in ``retired_accounts``: planned with its vault and key named as kept, its state archived and released by the
deploy (as the deploy builder), every vault and key of the account still in the test server. Last, another member
stack deployed while the test server throttles or answers 503 to every fourth call's first attempt
(tests/rehearsal/moto_faults.py), then deployed again without faults: nothing to change. Before that, the same
stack's first deploy is killed with SIGKILL the moment its vault exists, before Terraform recorded the vault, so the
deploy under faults is the pipeline's next run: once the lock counts as stale, it adopts what the killed apply
created (org_backup/ops/unrecorded.py) and imports it; no key is left twice. Then two deploys of that stack at once,
each in its own checkout: the second, started while the first holds the state lock, stops at its lock check; the
first completes, and a plan shows nothing left to change. Recovery points (the test server's, fix 19
of tests/rehearsal/moto_fixes.py) seeded in the vaults the retirements release and in the vault the kill left
unrecorded are all still there at the end.

Its own make target, ``make test-migration`` (run by ``.ci/run``): about thirteen minutes of Terraform against moto,
which ``make test``'s budget, with the rehearsal in it, cannot take.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.model import Names
from org_backup.config.naming import ENROLMENT_RULE
from org_backup.config.paths import BUILD_DIR
from org_backup.config.yaml_io import dump_yaml
from org_backup.ops import unrecorded
from org_backup.synth import incremental
from tests.conftest import EXAMPLE_CONFIG
from tests.rehearsal.harness import (
    Rehearsal,
    RehearsalJob,
    _admin,
    _set_auth,
    scratch_repository,
)
from tests.rehearsal.moto import CA_BUNDLES, session_in
from tests.rehearsal.moto_faults import CONTROL_PATH

pytestmark = pytest.mark.migration
FAULT_EVERY = 4  # every 4th call's first attempt is faulted while a stack deploys under faults


def _drop_ous(node: Any, gone: set[str]) -> None:
    """Remove the ``gone`` OU ids from every list of OU ids in the config (guardrails' target_ous; 'all' where
    none is left)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "target_ous" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                node[key] = [v for v in value if v not in gone] or "all"
            else:
                _drop_ous(value, gone)
    elif isinstance(node, list):
        for item in node:
            _drop_ous(item, gone)


def _set_faults(endpoint: str, every: int) -> None:
    """The test server's fault switch (tests/rehearsal/moto_faults.py): every Nth call faulted, 0 none."""
    request = urllib.request.Request(f"{endpoint}{CONTROL_PATH}", data=str(every).encode(), method="POST")
    context = ssl.create_default_context(cafile=CA_BUNDLES[endpoint]) if endpoint in CA_BUNDLES else None
    with urllib.request.urlopen(request, timeout=10, context=context):
        pass


STACKS = ["management", "backup-policies"]


class MigrationJob(RehearsalJob):
    """The two deployments, in this thread (no early start: nothing else runs in this tier). A third member account,
    in the last OU: the waves (_waves) need a member stack no earlier step deployed besides the one killed mid-apply."""

    extra_members = ("777777777777",)

    def run(self) -> Rehearsal:
        result = self.prepare()
        assert self._server is not None
        started = time.monotonic()
        try:
            self._migrate(result)
        except Exception as exc:
            result.failure = f"{type(exc).__name__}: {exc}"
            self.progress(f"FAILED: {result.failure[:500]}")
        finally:
            self._server.stop()
            result.seconds = time.monotonic() - started
            self.progress(f"done in {result.seconds:.0f} s")
        return result

    def _write_config(self, result: Rehearsal, *, policy_admin: str | None) -> None:
        config = json.loads(json.dumps(result.config))
        if policy_admin is not None:
            config["organization"]["policy_admin_account_id"] = policy_admin
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))

    def _migrate(self, result: Rehearsal) -> None:
        endpoint = result.endpoint
        accounts, profiles, base = self.enforce(result)
        planned = self.workdir / "planned.json"
        deploy = ["deploy", f"PLANNED={planned}"]

        self._write_config(result, policy_admin=accounts["management"])
        self._make(result, "bootstrap, policies in management", ["bootstrap", "BOOTSTRAP_FLAGS=--auto-approve"], base)
        self._approve(result, planned)
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self._make(result, "deploy, policies in management", deploy, deploy_env)
        result.verified["before"] = self._organization(result)

        self._write_config(result, policy_admin=None)
        self._make(result, "bootstrap, policies delegated", ["bootstrap", "BOOTSTRAP_FLAGS=--auto-approve"], base)
        self._approve(result, planned)
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self._make(result, "deploy, policies delegated", deploy, deploy_env)
        result.verified["after"] = self._organization(result)
        result.verified["bootstrap-management state"] = self._state(
            result, "bootstrap-management", {**base, "AWS_PROFILE": profiles["management"]}
        )
        result.verified["management state"] = self._remote_state(result, "management")
        self._retire(result, accounts, base, planned)

    def _retire(self, result: Rehearsal, accounts: dict[str, str], base: dict[str, str], planned: Path) -> None:
        """Issue 29: the central stack and one member stack deployed in both Regions; the second Region removed
        from the config, planned by the Plan stage (refused), then retired (released), and deployed."""
        endpoint, member = result.endpoint, result.members[0]
        stacks = ["central-backup", f"member-{member}"]
        builders = self._builder_credentials(endpoint, accounts["home"])
        self._approve(result, planned, stacks)
        self._make(result, "deploy, both Regions", ["deploy", f"PLANNED={planned}"], {**base, **builders["deploy"]})
        kept, region = result.config["target_regions"]
        # A recovery point in each vault the retirements below release, which must outlive them.
        vaults = [(accounts["central"], Names().central_vault), (member, Names().member_vault)]
        result.verified["recovery points seeded"] = {
            f"{account} {where} {vault}": self._backup(result, account, where, vault)
            for account, vault in vaults
            for where in (kept, region)
        }
        config = json.loads(json.dumps(result.config))
        config["target_regions"] = [kept]
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        plan_env = {**base, **builders["plan"]}
        self._make(result, "plan, Region removed", ["plan"], plan_env, expect_ok=False)
        result.verified["refused summary"] = (result.repo / "build" / "plans" / "summary.md").read_text()
        config["retired_regions"] = [region]
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        self._make(result, "plan, Region retired", ["plan"], plan_env)
        result.verified["retired summary"] = (result.repo / "build" / "plans" / "summary.md").read_text()
        self._approve(result, planned, stacks)
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self._make(result, "deploy, Region retired", ["deploy", f"PLANNED={planned}"], deploy_env)
        result.verified["retired"] = self._vaults(result, region, {"central": accounts["central"], "member": member})
        result.verified["retired states"] = {
            stack: self._remote_state(result, stack, provider=f"{region}") for stack in stacks
        }
        self._retire_account(result, accounts, base, planned, config)

    def _retire_account(
        self, result: Rehearsal, accounts: dict[str, str], base: dict[str, str], planned: Path, config: dict[str, Any]
    ) -> None:
        """Issue 29: the member account of the deployed member stack leaves its target OU; the Plan stage refuses
        until ``retired_accounts`` names it, then lists what it keeps; the deploy releases its state."""
        endpoint, member = result.endpoint, result.members[0]
        for ou in config["target_ous"]:
            ou["accounts"] = [a for a in ou["accounts"] if a != member]
        # Its OU, left empty, leaves the targets too (validation refuses an OU that protects no account), and the
        # guardrails that named it name the OUs left.
        gone = {ou["id"] for ou in config["target_ous"] if not ou["accounts"]}
        config["target_ous"] = [ou for ou in config["target_ous"] if ou["accounts"]]
        _drop_ous(config, gone)
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        builders = self._builder_credentials(endpoint, accounts["home"])
        plans = result.repo / "build" / "plans"
        self._make(result, "plan, account removed", ["plan"], {**base, **builders["plan"]}, expect_ok=False)
        result.verified["account refused summary"] = (plans / "summary.md").read_text()
        config["retired_accounts"] = [member]
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        self._make(result, "plan, account retired", ["plan"], {**base, **builders["plan"]})
        result.verified["account retired summary"] = (plans / "summary.md").read_text()
        # The Plan stage's artifact beside the approved stack list, as the Deploy stage receives it; no stack.
        shutil.copy(plans / "retired-accounts.json", planned.parent / "retired-accounts.json")
        self._approve(result, planned, [])
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self._make(result, "deploy, account retired", ["deploy", f"PLANNED={planned}"], deploy_env)
        kept, retired = result.config["target_regions"]
        result.verified["account retired"] = {
            region: self._vaults(result, region, {"member": member}) for region in (kept, retired)
        }
        result.verified["account retired objects"] = self._state_objects(result)
        self._deploy_under_faults(result, accounts, base, planned)

    def _deploy_under_faults(
        self, result: Rehearsal, accounts: dict[str, str], base: dict[str, str], planned: Path
    ) -> None:
        """Issue 29 (a) and (b) on the second member stack. Its first deploy is killed (SIGKILL to the whole build, as
        a CodeBuild timeout or a cancelled build does) the moment its vault exists, before Terraform recorded the vault:
        an apply's first state snapshot comes no sooner than 20 seconds into it (hashicorp/terraform pull request
        32680). The pipeline's next run, once the lock is older than the build timeout (LOCK_MAX_AGE_MINUTES=0 stands
        in for the wait), removes the lock, adopts what the killed apply created (org_backup/ops/unrecorded.py) and
        deploys the rest while every FAULT_EVERY-th call's first attempt is throttled or answered 503
        (tests/rehearsal/moto_faults.py). The run after it, without faults, must have nothing to change."""
        endpoint, member = result.endpoint, result.members[-1]
        stack, region = f"member-{member}", result.config["target_regions"][0]
        self._approve(result, planned, [stack])
        (planned.parent / "retired-accounts.json").write_text("{}")  # this plan retires nobody
        self._kill_first_deploy(result, accounts, base, planned, stack)
        log = self.workdir / "moto.log"
        before = log.read_text().count("moto_faults: ")
        _set_faults(endpoint, FAULT_EVERY)
        try:
            deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
            after_kill = ["deploy", f"PLANNED={planned}", "LOCK_MAX_AGE_MINUTES=0"]
            self._make(result, "deploy, under faults", after_kill, deploy_env)
        finally:
            _set_faults(endpoint, 0)
        faults = [line for line in log.read_text().splitlines() if line.startswith("moto_faults: ")][before:]
        result.verified["faults"] = sorted({line.split(" for ")[0].removeprefix("moto_faults: ") for line in faults})
        result.verified["fault count"] = len(faults)
        # The rollout skips a stack already recorded at its planned hash (a re-run continues where it stopped), so
        # the check that nothing is left to change forgets the record: the next deploy applies the stack again.
        backend = result.config["state_backend"]
        _admin(self, "home", "s3", endpoint).delete_object(
            Bucket=backend["bucket"], Key=f"{backend['key_prefix']}/deployed/{stack}.sha256"
        )
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self._make(result, "deploy, after faults", ["deploy", f"PLANNED={planned}"], deploy_env)
        result.verified["after faults"] = self._vaults(result, region, {"member": member})
        state_key = f"{backend['key_prefix']}/{stack}.tfstate"
        result.verified["adopted: objects"] = [k for k in self._state_objects(result) if k.startswith(state_key)]
        result.verified["adopted: recorded"] = self._recorded(result, stack)
        result.verified["adopted: keys in AWS"] = self._customer_keys(result, region, member)
        document = json.loads((result.repo / "cdktf.out" / "stacks" / stack / "cdk.tf.json").read_text())
        result.verified["configured"] = sorted(
            f"{k}.{n}" for k, by_name in document["resource"].items() for n in by_name
        )
        self._waves(result, accounts, base, planned)
        self._two_deploys_at_once(result, accounts, base, planned)
        result.verified["recovery points at the end"] = {
            where: self._recovery_points(result, *where.split(" "))
            for where in result.verified["recovery points seeded"]
        }

    def _waves(self, result: Rehearsal, accounts: dict[str, str], base: dict[str, str], planned: Path) -> None:
        """Issue 31: a change to every member stack rolled out in two waves, the canary (the deployed member) first.
        Its deploy role is denied the call the change needs, so the canary fails: the rollout stops there (tolerance
        0) and the other member stack is never touched. With the deny gone, the same plan's next deploy continues
        and both stacks converge."""
        endpoint, canary, other = result.endpoint, result.members[-1], result.members[1]
        assert other not in (canary, result.members[0])  # deployed by no earlier step
        config = yaml.safe_load((self.workdir / "backup.yaml").read_text())
        config["tag_reapply"] = {**config.get("tag_reapply", {}), "excluded_tag_keys": ["rollout-test"]}
        config["pipeline"]["rollout"] = {"waves": [{"name": "canary", "accounts": [canary]}, {"name": "rest"}]}
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        builders = self._builder_credentials(endpoint, accounts["home"])
        self._make(result, "plan, waves", ["plan"], {**base, **builders["plan"]})
        self._plan_in_shards(result, {**base, **builders["plan"]})
        stacks = [f"member-{canary}", f"member-{other}"]
        self._approve(result, planned, stacks)
        deny = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "lambda:UpdateFunctionConfiguration", "Resource": "*"}],
        }
        _set_auth(endpoint, "inf")  # the test's own change, as an administrator of the account would make it
        try:
            iam = session_in(endpoint, canary).client("iam", endpoint_url=endpoint, region_name="us-east-1")
            iam.put_role_policy(
                RoleName=Names().deploy_role, PolicyName="rollout-test", PolicyDocument=json.dumps(deny)
            )
        finally:
            _set_auth(endpoint, "0")
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        stopped = self._make(
            result, "deploy, canary fails", ["deploy", f"PLANNED={planned}"], deploy_env, expect_ok=False
        )
        result.verified["waves: stopped"] = {
            "exit": stopped.returncode,
            "other stack's state": sorted(self._recorded(result, f"member-{other}")),
            "records": {s: self._deploy_record(result, s) for s in stacks},
        }
        _set_auth(endpoint, "inf")
        try:
            iam.delete_role_policy(RoleName=Names().deploy_role, PolicyName="rollout-test")
        finally:
            _set_auth(endpoint, "0")
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self._make(result, "deploy, waves continue", ["deploy", f"PLANNED={planned}"], deploy_env)
        result.verified["waves: planned"] = json.loads(planned.read_text())
        result.verified["waves: continued"] = {s: self._deploy_record(result, s) for s in stacks}

    def _two_deploys_at_once(
        self, result: Rehearsal, accounts: dict[str, str], base: dict[str, str], planned: Path
    ) -> None:
        """Issue 29 (c) on a real member stack: two Deploy builds of the same plan at once, each in its own checkout
        (two CodeBuild builds). The second starts once the first holds the stack's state lock (Terraform, "Backend
        Type: s3": the ``.tflock`` object beside the state): its lock check must stop it, naming the live lock, and
        the first must complete. Then nothing is lost and a plan of the stack shows no changes."""
        endpoint, member = result.endpoint, result.members[-1]
        stack, region = f"member-{member}", result.config["target_regions"][0]
        config = yaml.safe_load((self.workdir / "backup.yaml").read_text())
        config["tag_reapply"]["excluded_tag_keys"] = [*config["tag_reapply"]["excluded_tag_keys"], "two-deploys"]
        (self.workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        builders = self._builder_credentials(endpoint, accounts["home"])
        self._make(result, "plan, two deploys", ["plan"], {**base, **builders["plan"]})
        self._approve(result, planned, [stack])
        keys_before = self._customer_keys(result, region, member)
        second = scratch_repository(self.workdir / "second-checkout")
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        # The second build's synth is then a copy from its synth cache (org_backup/synth/cache.py): it reaches its
        # lock check seconds after it starts, while the first build's apply still holds the lock.
        self._step(result, "synth, second checkout", ["make", "--no-print-directory", "synth"], deploy_env, cwd=second)
        backend = result.config["state_backend"]
        s3, lock = _admin(self, "home", "s3", endpoint), f"{backend['key_prefix']}/{stack}.tfstate.tflock"
        self.progress("two deploys at once ...")
        log = self.workdir / "deploy,-first-at-once.log"
        with log.open("w") as out:  # a file, not a pipe: nobody reads the first build's output while it runs
            first = subprocess.Popen(
                ["make", "--no-print-directory", "deploy", f"PLANNED={planned}"], cwd=result.repo, env=deploy_env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 600
        while "Contents" not in s3.list_objects_v2(Bucket=backend["bucket"], Prefix=lock):
            if first.poll() is not None or time.monotonic() > deadline:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
                raise RuntimeError(f"the first deploy never took the lock:\n{log.read_text()[-6000:]}")
            time.sleep(0.2)
        refused = self._step(
            result, "deploy, second at once", ["make", "--no-print-directory", "deploy", f"PLANNED={planned}"],
            deploy_env, expect_ok=False, cwd=second,
        )  # fmt: skip
        first.wait(timeout=900)
        output = log.read_text()
        self.progress(f"two deploys at once: first exit {first.returncode}, second exit {refused.returncode}")
        drift = self._terraform(
            result, stack, deploy_env, "plan", "-input=false", "-no-color", "-lock=false", "-detailed-exitcode"
        )
        result.verified["two deploys"] = {
            "first exit": first.returncode,
            "first output": output[-6000:],
            "second exit": refused.returncode,
            "lock left": "Contents" in s3.list_objects_v2(Bucket=backend["bucket"], Prefix=lock),
            "record": self._deploy_record(result, stack),
            "planned": json.loads(planned.read_text())[stack],
            "plan after": drift.returncode,
            "in AWS": self._vaults(result, region, {"member": member}),
            "keys before": keys_before,
            "keys after": self._customer_keys(result, region, member),
        }

    def _plan_in_shards(self, result: Rehearsal, plan_env: dict[str, str]) -> None:
        """Issue 31: the same plan as the Plan stage fanned out to two shards, as CodeBuild runs it
        (buildspecs/plan-shards.yml): `make plan-shard` per shard, each build's artifact in its own folder of the
        combined artifact, then `make plan-merge`. Kept: what one build wrote and what the merge wrote."""
        plans, artifact = result.repo / "build" / "plans", result.repo / "build" / "plan-artifact"
        single, combined = self.workdir / "plan-single", self.workdir / "plan-combined"
        for folder in (single, combined):
            shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(plans, single)
        for index in (1, 2):
            args = ["plan-shard", f"PLAN_SHARD={index}", "PLAN_SHARDS=2"]
            self._make(result, f"plan shard {index} of 2", args, plan_env)
            shutil.copytree(artifact, combined / f"shard_{index}")
        self._make(result, "plan merge", ["plan-merge", f"SHARDS_DIR={combined}", "PLAN_SHARDS=2"], plan_env)

        def texts(folder: Path) -> dict[str, list[str]]:
            # Terraform refreshes in parallel: its "Refreshing state" lines come in any order.
            return {p.name: sorted(p.read_text().splitlines()) for p in folder.iterdir() if p.suffix != ".tfplan"}

        result.verified["plan shards"] = {
            "single": texts(single),
            "merged": texts(artifact),
            "tfplans": (
                sorted(p.name for p in single.glob("*.tfplan")),
                sorted(p.name for p in artifact.glob("*.tfplan")),
            ),
            "changed": sorted(json.loads((single / "changed-stacks.json").read_text())),
            "per shard": [
                sorted(json.loads((combined / f"shard_{i}" / f"shard-{i}" / "plan-result.json").read_text())["codes"])
                for i in (1, 2)
            ],
        }

    def _deploy_record(self, result: Rehearsal, stack: str) -> str | None:
        """The hash ``make deploy`` recorded for ``stack``, read where ``record`` writes it (org_backup/ops/records.py)."""
        backend = result.config["state_backend"]
        s3 = _admin(self, "home", "s3", result.endpoint)
        return incremental.S3Records(s3, backend["bucket"], f"{backend['key_prefix']}/deployed").read().get(stack)

    def _kill_first_deploy(
        self, result: Rehearsal, accounts: dict[str, str], base: dict[str, str], planned: Path, stack: str
    ) -> None:
        endpoint, member, region = result.endpoint, stack.removeprefix("member-"), result.config["target_regions"][0]
        assert not self._recorded(result, stack)  # deployed by no earlier step
        log, created = self.workdir / "moto.log", f'"PUT /backup-vaults/{Names().member_vault} '
        before = log.read_text().count(created)
        deploy_env = {**base, **self._builder_credentials(endpoint, accounts["home"])["deploy"]}
        self.progress("deploy, killed mid-apply ...")
        build = subprocess.Popen(
            ["make", "--no-print-directory", "deploy", f"PLANNED={planned}"], cwd=result.repo, env=deploy_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 900
        while log.read_text().count(created) == before:
            if build.poll() is not None or time.monotonic() > deadline:
                os.killpg(build.pid, signal.SIGKILL)
                raise RuntimeError(f"the deploy never created its vault:\n{build.communicate()[0][-6000:]}")
            time.sleep(0.1)
        os.killpg(build.pid, signal.SIGKILL)
        (self.workdir / "deploy,-killed-mid-apply.log").write_text(build.communicate()[0])
        self.progress("deploy, killed mid-apply: killed once its vault existed")
        backend = result.config["state_backend"]
        state_key = f"{backend['key_prefix']}/{stack}.tfstate"
        result.verified["killed: objects"] = [k for k in self._state_objects(result) if k.startswith(state_key)]
        result.verified["killed: recorded"] = self._recorded(result, stack)
        result.verified["killed: in AWS"] = self._vaults(result, region, {"member": member})
        # A recovery point in the unrecorded vault: adopting the vault must keep it, not replace it.
        seeded = self._backup(result, member, region, Names().member_vault)
        result.verified["recovery points seeded"][f"{member} {region} {Names().member_vault}"] = seeded

    def _backup(self, result: Rehearsal, account: str, region: str, vault: str) -> str:
        """A recovery point in ``vault``, as a backup job of the account's AWS Backup role would leave it (the test
        server's StartBackupJob: tests/rehearsal/moto_fixes.py fix 19), made with enforcement paused."""
        endpoint = result.endpoint
        _set_auth(endpoint, "inf")
        try:
            backup = session_in(endpoint, account).client("backup", endpoint_url=endpoint, region_name=region)
            return str(
                backup.start_backup_job(
                    BackupVaultName=vault,
                    ResourceArn=f"arn:aws:dynamodb:{region}:{account}:table/orders",
                    IamRoleArn=f"arn:aws:iam::{account}:role/{Names().backup_role}",
                )["RecoveryPointArn"]
            )
        finally:
            _set_auth(endpoint, "0")

    def _recovery_points(self, result: Rehearsal, account: str, region: str, vault: str) -> list[str]:
        endpoint = result.endpoint
        _set_auth(endpoint, "inf")
        try:
            backup = session_in(endpoint, account).client("backup", endpoint_url=endpoint, region_name=region)
            points = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
            return sorted(p["RecoveryPointArn"] for p in points)
        finally:
            _set_auth(endpoint, "0")

    def _recorded(self, result: Rehearsal, stack: str) -> dict[str, dict[str, Any]]:
        """Address -> attributes of every managed resource in a stack's state ({} when there is no state)."""
        backend = result.config["state_backend"]
        s3 = _admin(self, "home", "s3", result.endpoint)
        key = f"{backend['key_prefix']}/{stack}.tfstate"
        try:
            body = s3.get_object(Bucket=backend["bucket"], Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return {}
        return unrecorded.recorded_resources(body)

    def _customer_keys(self, result: Rehearsal, region: str, account: str) -> list[str]:
        """The enabled customer managed keys of ``account`` in ``region`` (read with enforcement paused)."""
        endpoint = result.endpoint
        _set_auth(endpoint, "inf")
        try:
            kms = session_in(endpoint, account).client("kms", endpoint_url=endpoint, region_name=region)
            found = []
            for entry in kms.list_keys()["Keys"]:
                metadata = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]
                if metadata["KeyManager"] == "CUSTOMER" and metadata["KeyState"] == "Enabled":
                    found.append(entry["KeyId"])
            return sorted(found)
        finally:
            _set_auth(endpoint, "0")

    def _vaults(self, result: Rehearsal, region: str, accounts: dict[str, str]) -> dict[str, Any]:
        """The vaults and their keys in ``region`` as AWS holds them (read with enforcement paused)."""
        endpoint, names = result.endpoint, Names()
        _set_auth(endpoint, "inf")
        try:
            found = {}
            for kind, account in accounts.items():
                account_session = session_in(endpoint, account)
                backup = account_session.client("backup", endpoint_url=endpoint, region_name=region)
                kms = account_session.client("kms", endpoint_url=endpoint, region_name=region)
                vault_name = names.central_vault if kind == "central" else names.member_vault
                vault = backup.describe_backup_vault(BackupVaultName=vault_name)
                key = kms.describe_key(KeyId=vault["EncryptionKeyArn"])["KeyMetadata"]
                found[kind] = {"vault": vault["BackupVaultName"], "key state": key["KeyState"]}
            return found
        finally:
            _set_auth(endpoint, "0")

    @staticmethod
    def _approve(result: Rehearsal, planned: Path, stacks: list[str] = STACKS) -> None:
        """The Plan stage's artifact for ``stacks``, as `make plan` writes it (stack -> content hash, which `make
        deploy` compares with what it synthesizes): the synth just run."""
        hashes = incremental.stack_hashes(result.repo / "cdktf.out")
        planned.write_text(json.dumps({stack: hashes[stack] for stack in stacks}))

    def _organization(self, result: Rehearsal) -> dict[str, Any]:
        """What AWS holds, read as the management account with enforcement paused (the test reads, it does not run)."""
        endpoint, config = result.endpoint, result.config
        management = config["organization"]["management_account_id"]
        _set_auth(endpoint, "inf")
        try:
            account = session_in(endpoint, management)
            org = account.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
            policies = {
                p["Name"]: p["Id"]
                for kind in ("BACKUP_POLICY", "SERVICE_CONTROL_POLICY")
                for p in org.list_policies(Filter=kind)["Policies"]
                if p["Name"].startswith("org-")
            }
            events = account.client("events", endpoint_url=endpoint, region_name="us-east-1")
            iam = account.client("iam", endpoint_url=endpoint, region_name="us-east-1")
            return {
                "policies": policies,
                "targets": {
                    name: sorted(t["TargetId"] for t in org.list_targets_for_policy(PolicyId=pid)["Targets"])
                    for name, pid in policies.items()
                },
                "backup administrators": sorted(
                    a["Id"]
                    for a in org.list_delegated_administrators(ServicePrincipal="backup.amazonaws.com")[
                        "DelegatedAdministrators"
                    ]
                ),
                "enrolment rule": events.describe_rule(Name=ENROLMENT_RULE)["Arn"],
                "enrolment targets": [t["Arn"] for t in events.list_targets_by_rule(Rule=ENROLMENT_RULE)["Targets"]],
                "pipeline roles": sorted(
                    r["RoleName"]
                    for r in iam.list_roles()["Roles"]
                    if r["RoleName"] in (Names().deploy_role, Names().plan_role)
                ),
                "cross-account backup": account.client(
                    "backup", endpoint_url=endpoint, region_name=config["target_regions"][0]
                ).describe_global_settings()["GlobalSettings"]["isCrossAccountBackupEnabled"],
            }
        finally:
            _set_auth(endpoint, "0")

    def _state_objects(self, result: Rehearsal) -> list[str]:
        """Every object key in the state bucket (read as the home account's administrator)."""
        backend = result.config["state_backend"]
        s3 = _admin(self, "home", "s3", result.endpoint)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=backend["bucket"])
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def _remote_state(self, result: Rehearsal, stack: str, *, provider: str = "") -> list[str]:
        """The managed resources in a stack's state; with ``provider``, only those of that provider alias."""
        backend = result.config["state_backend"]
        s3 = _admin(self, "home", "s3", result.endpoint)
        body = s3.get_object(Bucket=backend["bucket"], Key=f"{backend['key_prefix']}/{stack}.tfstate")["Body"].read()
        return sorted(
            f"{r['type']}.{r['name']}"
            for r in json.loads(body)["resources"]
            if r["mode"] == "managed" and r["provider"].endswith(f".{provider}" if provider else "")
        )


@pytest.fixture(scope="module")
def migration() -> Iterator[Rehearsal]:
    workdir = BUILD_DIR / "migration"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    job = MigrationJob(workdir, None)
    try:
        result = job.run()
    finally:
        job.stop()
    if result.failure:
        pytest.fail(f"the migration stopped: {result.failure}")
    yield result


def _deployed(migration: Rehearsal, step: str) -> list[str]:
    """The deploy's 'Apply complete!' lines, one per stack (cdktf prefixes them with the stack's name)."""
    return [line.strip() for line in migration.steps[step].output.splitlines() if "Apply complete!" in line]


def test_before_the_migration_the_pipeline_deployed_into_the_management_account(migration: Rehearsal) -> None:
    before = migration.verified["before"]
    assert before["pipeline roles"] == ["OrgBackupDeployRole", "OrgBackupPlanRole"]
    assert len(before["policies"]) == 7  # the example's 2 backup policies and 5 guardrail SCPs
    assert before["backup administrators"] == [migration.config["central_backup"]["account_id"]]


def test_every_policy_keeps_its_id_and_its_attachments(migration: Rehearsal) -> None:
    before, after = migration.verified["before"], migration.verified["after"]
    assert after["policies"] == before["policies"]
    assert after["targets"] == before["targets"]
    assert all(after["targets"].values()), after["targets"]


def test_nothing_is_destroyed_and_the_management_settings_keep_their_identity(migration: Rehearsal) -> None:
    before, after = migration.verified["before"], migration.verified["after"]
    for key in ("backup administrators", "enrolment rule", "enrolment targets", "cross-account backup"):
        assert after[key] == before[key], key
    assert after["cross-account backup"] == "true"
    for line in _deployed(migration, "deploy, policies delegated"):
        assert "0 destroyed" in line, line


def test_bootstrap_adopts_the_management_settings_and_the_management_stack_forgets_them(migration: Rehearsal) -> None:
    output = migration.steps["bootstrap, policies delegated"].output
    assert "adopting aws_backup_global_settings.cross-account-backup" in output, output[-3000:]
    settings = {
        "aws_backup_global_settings.cross-account-backup",
        "aws_organizations_delegated_administrator.backup-delegated-administrator",
        "aws_iam_role.enrolment-forwarder",
        "aws_iam_role_policy.enrolment-forwarder-policy",
        "aws_cloudwatch_event_rule.enrolment-rule",
        "aws_cloudwatch_event_target.enrolment-target",
    }
    assert settings <= set(migration.verified["bootstrap-management state"])
    assert "aws_organizations_resource_policy.policy-delegation" in migration.verified["bootstrap-management state"]
    management = set(migration.verified["management state"])
    assert not settings & management, management
    assert {a.split(".")[0] for a in management} == {"aws_organizations_policy", "aws_organizations_policy_attachment"}


def test_afterwards_the_pipeline_has_no_role_in_the_management_account(migration: Rehearsal) -> None:
    assert migration.verified["after"]["pipeline roles"] == []


def test_the_example_is_what_the_migration_starts_from() -> None:
    """The first configuration is the example with one key added, the second the example itself."""
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert "policy_admin_account_id" not in example["organization"]
    assert example["organization"]["backup_delegated_admin_account_id"] == example["central_backup"]["account_id"]


# --- Retiring a Region (issue 29) ----------------------------------------------------------------------------------
def test_a_region_removed_from_the_config_is_refused_at_plan_time_naming_its_vaults_and_keys(
    migration: Rehearsal,
) -> None:
    """With the Region its provider leaves the stacks, so Terraform fails with "Provider configuration not present"
    for each resource of that Region in the state; the Plan stage turns that into a refusal whose summary (the
    pull-request comment) names each vault and key and the fix."""
    step = migration.steps["plan, Region removed"]
    assert step.returncode != 0
    summary = migration.verified["refused summary"]
    assert summary.startswith("# org-backup plan: refused\n"), summary
    member = f"member-{migration.members[0]}"
    for stack in ("central-backup", member):
        for kind in ("aws_backup_vault", "aws_kms_key"):
            assert re.search(rf"- {stack}: {kind}\.\S+ \(.*\) is in the state, but Region", summary), (stack, kind)
    region = migration.config["target_regions"][1]
    assert f"Fix: list {region} in retired_regions, which keeps it in AWS" in summary


def test_a_retired_region_keeps_its_vaults_and_keys_and_leaves_the_state(migration: Rehearsal) -> None:
    summary = migration.verified["retired summary"]
    assert "Released from Terraform and kept in AWS (removed blocks):" in summary, summary
    assert migration.verified["retired"] == {
        "central": {"vault": Names().central_vault, "key state": "Enabled"},
        "member": {"vault": Names().member_vault, "key state": "Enabled"},
    }
    assert migration.verified["retired states"] == {"central-backup": [], f"member-{migration.members[0]}": []}
    for line in _deployed(migration, "deploy, Region retired"):
        assert "0 destroyed" in line, line


# --- Retiring an account (issue 29) --------------------------------------------------------------------------------
def test_an_account_that_left_the_target_ous_is_refused_at_plan_time_until_retired(migration: Rehearsal) -> None:
    assert migration.steps["plan, account removed"].returncode != 0
    summary = migration.verified["account refused summary"]
    member = migration.members[0]
    assert summary.startswith("# org-backup plan: refused\n"), summary
    assert f"- member-{member}: deployed, but account {member} is no longer in the target OUs" in summary
    assert "Fix: list it in retired_accounts" in summary


def test_a_retired_accounts_plan_names_its_vault_and_key_kept_in_aws(migration: Rehearsal) -> None:
    """The pull-request comment: the vault and key still in the state (the retired Region's were released before)."""
    summary = migration.verified["account retired summary"]
    member, region = migration.members[0], migration.config["target_regions"][0]
    assert f"- `member-{member}`" in summary, summary
    assert f"  - aws_backup_vault arn:aws:backup:{region}:{member}:backup-vault:{Names().member_vault}" in summary
    assert re.search(rf"  - aws_kms_key arn:aws:kms:{region}:{member}:key/\S+", summary), summary


def test_the_ou_left_empty_loses_its_backup_plans_and_the_plan_summary_shows_it(migration: Rehearsal) -> None:
    """The account's OU left the targets with it: the backup-policies stack's real plan (terraform show -json of
    the test server's deployment) detaches both policies from it, which the summary shows as that OU's effective
    plans going from the example's two plans to none (org_backup/plans/diff.py)."""
    summary = migration.verified["account retired summary"]
    gone = next(ou["id"] for ou in migration.config["target_ous"] if migration.members[0] in ou["accounts"])
    assert "Effective backup plans per target OU (org-backup's policies only; - before, + after):" in summary, summary
    block = summary.split(f"`{gone}`:\n\n```diff\n", 1)[1].split("```", 1)[0].splitlines()
    assert "+    no backup plans" in block, block
    # The example's daily and monthly plans, one of each per target Region (policy names end in the Region)
    regions = migration.config["target_regions"]
    assert len([line for line in block if line.startswith("-    plan ")]) == 2 * len(regions), block
    assert not [line for line in block if line.startswith("+    plan ")], block


def test_a_retired_account_keeps_every_vault_and_key_and_its_state_is_archived(migration: Rehearsal) -> None:
    member = migration.members[0]
    assert migration.verified["account retired"] == {
        region: {"member": {"vault": Names().member_vault, "key state": "Enabled"}}
        for region in migration.config["target_regions"]
    }
    prefix = migration.config["state_backend"]["key_prefix"]
    objects = migration.verified["account retired objects"]
    assert f"{prefix}/retired/member-{member}.tfstate" in objects
    assert f"{prefix}/member-{member}.tfstate" not in objects
    assert f"{prefix}/deployed/member-{member}.sha256" not in objects
    assert f"{prefix}/central-backup.tfstate" in objects  # the central stack's state untouched
    output = migration.steps["deploy, account retired"].output
    assert f"retire-accounts: member-{member}: retired; its state is kept at s3://" in output, output[-3000:]


# --- A deploy under throttling and server errors (issue 29) ----------------------------------------------------------
def test_a_deploy_under_throttling_and_server_errors_succeeds_through_the_providers_retries(
    migration: Rehearsal,
) -> None:
    """Both classes of fault were answered, in every protocol the deploy used, and the deploy still succeeded (the
    step ran with expect_ok): the Terraform AWS provider retried each faulted call."""
    assert migration.verified["fault count"] >= 20, migration.verified["fault count"]
    kinds = set(migration.verified["faults"])
    assert {"throttling (json)", "server error (json)", "throttling (query)", "server error (query)"} <= kinds, kinds
    assert {"throttling (rest-json)", "server error (rest-json)"} & kinds, kinds
    for line in _deployed(migration, "deploy, under faults"):
        assert line.endswith(" 0 destroyed."), line  # what it changed: the adopted keys (below)


def test_after_a_deploy_under_faults_nothing_is_missing_and_the_next_deploy_changes_nothing(
    migration: Rehearsal,
) -> None:
    member = migration.members[-1]
    assert migration.verified["after faults"] == {"member": {"vault": Names().member_vault, "key state": "Enabled"}}
    applied = [line[line.index("Apply complete!") :] for line in _deployed(migration, "deploy, after faults")]
    assert applied == ["Apply complete! Resources: 0 added, 0 changed, 0 destroyed."], applied
    assert f"member-{member}" in migration.steps["deploy, after faults"].output


# --- A deploy killed mid-apply (issue 29) ---------------------------------------------------------------------------
def test_a_deploy_killed_mid_apply_left_its_vault_in_aws_unrecorded_and_its_lock_behind(migration: Rehearsal) -> None:
    backend = migration.config["state_backend"]
    state_key = f"{backend['key_prefix']}/member-{migration.members[-1]}.tfstate"
    assert f"{state_key}.tflock" in migration.verified["killed: objects"]  # S3-native locking's lock, left behind
    assert migration.verified["killed: in AWS"] == {"member": {"vault": Names().member_vault, "key state": "Enabled"}}
    assert not any(a.startswith("aws_backup_vault.") for a in migration.verified["killed: recorded"])


def test_the_next_run_removes_the_stale_lock_adopts_what_the_killed_apply_created_and_converges(
    migration: Rehearsal,
) -> None:
    """The run after the kill (under faults, above): the lock removed and the stack marked, the vault and its key
    adopted and imported rather than created again, nothing destroyed; the run after it changes nothing (above)."""
    stack = f"member-{migration.members[-1]}"
    output = migration.steps["deploy, under faults"].output
    assert f"{stack}: state locked by " in output and "the stack marked interrupted" in output, output[-3000:]
    adopting = next(line for line in output.splitlines() if line.startswith(f"unrecorded: {stack} was interrupted"))
    assert "aws_backup_vault." in adopting and f"({Names().member_vault})" in adopting, adopting
    assert "aws_kms_key." in adopting, adopting
    # Terraform >= 1.5 counts imports in its summary: each adopted resource imported, none created twice. Each
    # imported key is also "changed": two of its arguments, deletion_window_in_days and
    # bypass_policy_lockout_safety_check, are not in what DescribeKey returns (AWS KMS API, KeyMetadata), so the
    # apply writes the configured values to the state; nothing else changes.
    (applied,) = _deployed(migration, "deploy, under faults")
    imported, keys = adopting.count(" ("), adopting.count("aws_kms_key.")
    assert f"Resources: {imported} imported, " in applied and applied.endswith(f" {keys} changed, 0 destroyed."), (
        applied
    )
    # Every configured resource recorded; the lock and the interruption marker gone.
    assert sorted(migration.verified["adopted: recorded"]) == migration.verified["configured"]
    backend = migration.config["state_backend"]
    assert migration.verified["adopted: objects"] == [f"{backend['key_prefix']}/{stack}.tfstate"]


def test_after_the_kill_no_key_is_duplicated_or_orphaned(migration: Rehearsal) -> None:
    """Every enabled customer managed key of the member account in that Region is one the state records: the
    killed apply's keys were adopted, none created twice."""
    recorded = migration.verified["adopted: recorded"]
    keys = sorted(
        attributes["key_id"] for address, attributes in recorded.items() if address.startswith("aws_kms_key.")
    )
    assert keys and migration.verified["adopted: keys in AWS"] == keys


def test_every_recovery_point_outlives_the_retirements_the_faults_and_the_kill(migration: Rehearsal) -> None:
    """One recovery point in the central and the member vault of both Regions before the Region and the account are
    retired, and one in the vault the killed apply left unrecorded: each is still in its vault at the end."""
    seeded = migration.verified["recovery points seeded"]
    assert len(seeded) == 5, seeded
    assert migration.verified["recovery points at the end"] == {where: [arn] for where, arn in seeded.items()}


def test_a_canary_that_fails_stops_the_rollout_before_the_next_wave_touches_anything(migration: Rehearsal) -> None:
    """Issue 31: the canary's deploy fails (its role is denied lambda:UpdateFunctionConfiguration); with tolerance 0
    the rollout stops: make deploy fails, the other member stack has no state (never deployed) and neither stack is
    recorded at the plan's hash, so the next plan lists both again."""
    stopped, planned = migration.verified["waves: stopped"], migration.verified["waves: planned"]
    output = migration.steps["deploy, canary fails"].output
    assert stopped["exit"] != 0
    assert "Stopped in wave canary" in output and "lambda:UpdateFunctionConfiguration" in output
    assert stopped["other stack's state"] == []
    assert all(stopped["records"][stack] != planned[stack] for stack in planned)


def test_the_plan_stage_in_two_shards_merges_into_the_plans_of_one_build(migration: Rehearsal) -> None:
    """Issue 31: every file one `make plan` writes (changed-stacks.json, summary.md, each stack's plan text, ...) is
    in the merge of two `make plan-shard` builds, with the same content; each shard planned its half, none both."""
    shards = migration.verified["plan shards"]
    single, merged = shards["single"], shards["merged"]
    assert sorted(merged) == sorted(single)
    assert {name: merged[name] == single[name] for name in single} == {name: True for name in single}
    one, two = shards["per shard"]
    assert one and two and not set(one) & set(two)
    planned = shards["changed"]
    assert sorted(one + two) == planned
    assert shards["tfplans"][0] == shards["tfplans"][1] == sorted(f"{s}.tfplan" for s in planned)


def test_the_next_deploy_of_the_same_plan_continues_and_converges(migration: Rehearsal) -> None:
    assert migration.steps["deploy, waves continue"].returncode == 0
    assert migration.verified["waves: continued"] == migration.verified["waves: planned"]


def test_two_deploys_of_one_stack_at_once_the_second_stops_at_the_live_lock_and_the_first_completes(
    migration: Rehearsal,
) -> None:
    """Issue 29 (c): the second Deploy build, started while the first held the stack's state lock, stops before it
    touches the state, naming the live lock (org_backup/ops/state_locks.py); the first deploys and records the plan."""
    outcome = migration.verified["two deploys"]
    assert outcome["first exit"] == 0, outcome["first output"]
    second = migration.steps["deploy, second at once"]
    assert second.returncode != 0
    assert "another deploy may still be running" in second.output, second.output[-4000:]
    assert outcome["lock left"] is False
    assert outcome["record"] == outcome["planned"]


def test_after_two_deploys_at_once_nothing_is_lost_and_a_plan_shows_no_changes(migration: Rehearsal) -> None:
    """terraform plan -detailed-exitcode: 0 is no changes (Terraform CLI, "plan": "-detailed-exitcode")."""
    outcome = migration.verified["two deploys"]
    assert outcome["plan after"] == 0
    assert outcome["in AWS"] == {"member": {"vault": Names().member_vault, "key state": "Enabled"}}
    assert outcome["keys after"] == outcome["keys before"] and outcome["keys before"]
