"""`make plan` refuses a plan that destroys or replaces a vault, a key or a vault lock (org_backup/ops/plan_guard.py).

The plan JSON shapes come from Terraform's "JSON output format" page (resource_changes[].change.actions: ["delete"]
destroys, ["delete", "create"] and ["create", "delete"] replace, ["forget"] is a removed block's release;
action_reason "delete_because_no_resource_config" for a resource that left the configuration), and the tests that
run Terraform check those shapes against Terraform 1.11 itself, with its built-in terraform_data resource standing in
for an AWS resource (no provider, no AWS): the guard's list of protected types is the only thing swapped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from org_backup.ops import plan_guard
from org_backup.ops.terraform import TerraformEnv, TerraformError, plan_all
from tests.stand_in_stacks import terraform_env, write_stack


def _change(address: str, actions: list[str], reason: str | None = None, **before: Any) -> dict[str, Any]:
    kind, _ = address.split(".", 1)
    change: dict[str, Any] = {"address": address, "type": kind, "change": {"actions": actions, "before": before}}
    if reason:
        change["action_reason"] = reason
    return change


KEY = "arn:aws:kms:eu-west-1:444444444444:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_destroying_or_replacing_a_vault_or_its_key_is_refused_and_forgetting_is_not() -> None:
    """A key counts when a vault in the plan encrypts with it (kms_key_arn): other keys (a function's, a queue's)
    may go with their feature; a vault lock is replaced on any change by the provider, and AWS guards it itself."""
    vault = {"name": "AWSBackupSolutionVault", "kms_key_arn": KEY}
    plan = {
        "resource_changes": [
            _change("aws_backup_vault.v", ["delete"], "delete_because_no_resource_config", **vault),
            _change("aws_kms_key.k", ["delete", "create"], "replace_because_cannot_update", key_id="1234abcd", arn=KEY),
            _change("aws_kms_key.function", ["delete"], "delete_because_no_resource_config", arn=KEY[:-1] + "f"),
            _change("aws_backup_vault_lock_configuration.l", ["create", "delete"], "replace_because_cannot_update"),
            _change("aws_kms_key.kept", ["forget"], "delete_because_no_resource_config", arn=KEY),
            _change("aws_backup_vault.same", ["no-op"]),
            _change("aws_backup_vault.changed", ["update"]),
            _change("aws_sqs_queue.q", ["delete"], "delete_because_no_resource_config"),  # not protected
        ]
    }
    found = plan_guard.refusals("member-444444444444", plan)
    assert [line.split(" would be ")[0] for line in found] == [
        "member-444444444444: aws_backup_vault.v (backup vault AWSBackupSolutionVault)",
        "member-444444444444: aws_kms_key.k (KMS key 1234abcd)",
    ]
    assert "would be destroyed, and the recovery points it holds or encrypts lost: it is no longer in the" in found[0]
    assert "would be replaced, and the recovery points it holds or encrypts lost: a setting that cannot" in found[1]
    assert plan_guard.retained(plan) == ["aws_kms_key.kept"]


STACK = "member-100000000004"


@pytest.fixture
def env(tmp_path: Path) -> TerraformEnv:
    return terraform_env(tmp_path)


@pytest.fixture
def deployed(tmp_path: Path, env: TerraformEnv, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stack with two terraform_data resources applied to local state; terraform_data counts as protected."""
    monkeypatch.setitem(plan_guard.PROTECTED, "terraform_data", "stand-in vault")
    stack = tmp_path / "cdktf.out" / "stacks" / STACK
    stack.mkdir(parents=True)
    write_stack(stack, {"vault": {"input": "a", "lifecycle": {"prevent_destroy": True}}, "other": {"input": "b"}})
    env.init(stack, backend=True)
    env.run(stack, "apply", "-input=false", "-no-color", "-auto-approve")
    return tmp_path / "cdktf.out"


@pytest.mark.terraform
def test_a_vault_that_left_the_configuration_is_refused_although_it_had_prevent_destroy(
    deployed: Path, env: TerraformEnv
) -> None:
    """prevent_destroy lives in the resource block: remove the block and Terraform plans the destroy (checked here
    with Terraform itself), so make plan refuses it, names it, writes the refusal into summary.md, deploys nothing."""
    write_stack(deployed / "stacks" / STACK, {"other": {"input": "b"}})
    out = deployed.parent / "plans"
    with pytest.raises(TerraformError) as raised:
        plan_all(deployed, out, [STACK], env=env)
    # named with its id, as Terraform's state holds it (a vault by its name, a key by its key id)
    assert re.search(
        rf"{STACK}: terraform_data\.vault \(stand-in vault [0-9a-f-]{{36}}\) would be destroyed", str(raised.value)
    )
    assert "it is no longer in the configuration" in str(raised.value)
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# org-backup plan: refused\n")
    assert re.search(
        rf"\n- {STACK}: terraform_data\.vault \(stand-in vault [0-9a-f-]{{36}}\) would be destroyed", summary
    )


@pytest.mark.terraform
def test_a_replacement_stopped_by_prevent_destroy_is_named_with_its_fix(deployed: Path, env: TerraformEnv) -> None:
    vault = {"input": "a", "triggers_replace": "x", "lifecycle": {"prevent_destroy": True}}
    write_stack(deployed / "stacks" / STACK, {"vault": vault, "other": {"input": "b"}})
    with pytest.raises(TerraformError) as raised:
        plan_all(deployed, deployed.parent / "plans", [STACK], env=env)
    assert str(raised.value).splitlines()[1] == (
        f"  - {STACK}: terraform_data.vault would be replaced, and Terraform's prevent_destroy stopped the plan: "
        + plan_guard._REPLACE_FIX
        + "."
    )


@pytest.mark.terraform
def test_a_removed_block_releases_the_vault_and_the_summary_says_it_is_kept(deployed: Path, env: TerraformEnv) -> None:
    write_stack(
        deployed / "stacks" / STACK,
        {"other": {"input": "b"}},
        removed=[{"from": "terraform_data.vault", "lifecycle": {"destroy": False}}],
    )
    out = deployed.parent / "plans"
    assert plan_all(deployed, out, [STACK], env=env) == {STACK: 2}
    summary = (out / "summary.md").read_text()
    assert (
        f"Released from Terraform and kept in AWS (removed blocks):\n\n- `{STACK}`: terraform_data.vault\n" in summary
    )


# --- A backup plan removed or renamed (issue 29). The content of a BACKUP_POLICY is {"plans": {<plan name>: ...}}
# (AWS Organizations, "Backup policy syntax and examples"); the plan's JSON carries it as the policy's "content" on the
# "before" and "after" side of each change.
def _policy(address: str, actions: list[str], before: list[str] | None, after: list[str] | None) -> dict[str, Any]:
    def side(plans: list[str] | None) -> dict[str, Any] | None:
        if plans is None:
            return None
        content = json.dumps({"plans": {name: {} for name in plans}})
        return {"name": address.split(".")[1], "type": "BACKUP_POLICY", "content": content}

    change = {"actions": actions, "before": side(before), "after": side(after)}
    return {"address": address, "type": "aws_organizations_policy", "change": change}


def test_a_deleted_or_renamed_backup_plan_is_refused_unless_retired() -> None:
    plan = {
        "resource_changes": [
            _policy("aws_organizations_policy.daily", ["delete"], ["OrgBackupPlanDaily"], None),
            _policy("aws_organizations_policy.weekly", ["update"], ["Weekly"], ["Nightly"]),  # renamed
            _policy("aws_organizations_policy.monthly", ["update"], ["Monthly"], ["Monthly-eu-west-1"]),  # re-split
            _policy("aws_organizations_policy.monthly-2", ["create"], None, ["Monthly-us-east-1"]),
            _policy("aws_organizations_policy.kept", ["no-op"], ["Kept"], ["Kept"]),
        ]
    }
    refused, confirmed = plan_guard.plan_removals("backup-policies", plan, [])
    assert [line.split(" would be ")[0] for line in refused] == [
        "backup-policies: backup plan OrgBackupPlanDaily (policy daily)",
        "backup-policies: backup plan Weekly (policy weekly)",
    ]
    assert refused[0].endswith(
        "Fix: if that is intended, list OrgBackupPlanDaily under retired_plans in the plans file; if the plan was "
        "renamed, list its old name there"
    )
    assert confirmed == []
    refused, confirmed = plan_guard.plan_removals("backup-policies", plan, ["OrgBackupPlanDaily", "Weekly"])
    assert refused == []
    assert confirmed == [
        "backup-policies: backup plan OrgBackupPlanDaily (policy daily) removed, as retired_plans says",
        "backup-policies: backup plan Weekly (policy weekly) removed, as retired_plans says",
    ]


# Terraform 1.11's words when a Region's provider left the configuration while the state still holds its resources
# (captured from the migration tier's plan of a removed Region, -no-color, wrapped as Terraform wraps it).
ORPHAN_OUTPUT = """
Error: Provider configuration not present

To work with
aws_backup_vault.central-vault-eu-central-1_vault_206F8E66
(orphan) its original provider configuration at
provider["registry.terraform.io/hashicorp/aws"].eu-central-1 is required, but
it has been removed. This occurs when a provider configuration is removed
while objects created by that provider still exist in the state. Re-add the
provider configuration to destroy
aws_backup_vault.central-vault-eu-central-1_vault_206F8E66 (orphan), after
which you can remove the provider configuration again.

Error: Provider configuration not present

To work with
aws_cloudwatch_metric_alarm.alert-forwarding-eu-central-1_alarms_lost-org-backup-job-failures_823CFA43
(orphan) its original provider configuration at
provider["registry.terraform.io/hashicorp/aws"].eu-central-1 is required, but
it has been removed.
"""


def test_a_region_whose_provider_is_gone_is_refused_naming_its_vaults() -> None:
    assert plan_guard.orphaned("central-backup", ORPHAN_OUTPUT) == [
        "central-backup: aws_backup_vault.central-vault-eu-central-1_vault_206F8E66 (backup vault) is in the state, "
        "but Region eu-central-1 is no longer configured: Terraform cannot plan it (Provider configuration not "
        "present), and dropping the Region from the state would destroy it and the recovery points it holds or "
        "encrypts. Fix: list eu-central-1 in retired_regions, which keeps it in AWS and releases it from Terraform, "
        "or put the Region back"
    ]
