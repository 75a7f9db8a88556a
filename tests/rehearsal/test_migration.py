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

Its own make target, ``make test-migration`` (run by ``.ci/run``): about five minutes of Terraform against moto, which
``make test``'s budget, with the rehearsal in it, cannot take.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup import incremental
from org_backup.config import Names
from org_backup.naming import ENROLMENT_RULE
from org_backup.terraform import BUILD_DIR
from org_backup.yaml_io import dump_yaml
from tests.conftest import EXAMPLE_CONFIG
from tests.rehearsal.harness import (
    Rehearsal,
    RehearsalJob,
    _admin,
    _set_auth,
)
from tests.rehearsal.moto import session_in

pytestmark = pytest.mark.migration
STACKS = ["management", "backup-policies"]


class MigrationJob(RehearsalJob):
    """The two deployments, in this thread (no early start: nothing else runs in this tier)."""

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
