"""What `make plan` refuses before anyone can approve it: a Terraform plan that destroys or replaces what holds
recovery points (a vault, an air-gapped vault, the KMS key a vault encrypts with). Deleting a KMS key makes every
recovery point it encrypts unreadable once its waiting period ends, and a vault's recovery points cannot be moved.

Terraform's ``prevent_destroy`` stops a replacement, but not a resource that left the configuration: "this setting
does not prevent the remote object from being destroyed if the resource block were removed from configuration
entirely" (Terraform, "The lifecycle meta-argument", prevent_destroy). A Region removed from ``target_regions`` or an
account's stack synthesized without its vault is exactly that, so the plan itself is read: ``terraform show -json``
of the saved plan, whose ``resource_changes[].change.actions`` is ``["delete"]`` for a destroy, ``["delete",
"create"]`` or ``["create", "delete"]`` for a replacement and ``["forget"]`` for a resource a ``removed`` block with
``destroy = false`` releases (Terraform, "JSON output format", and Terraform 1.7's removed block). A replacement of a
resource that does carry ``prevent_destroy`` fails the plan with Terraform's own error, which is translated here so
the message names the resource and what to do instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

PROTECTED = {
    "aws_backup_vault": "backup vault",
    "aws_backup_logically_air_gapped_vault": "logically air-gapped vault",
    "aws_kms_key": "KMS key",
}
# Of the KMS keys only those a vault encrypts with (its kms_key_arn) hold recovery points; the keys of functions,
# queues, topics and report buckets may go with their feature. A vault lock is not guarded: every argument of the
# provider's aws_backup_vault_lock_configuration forces a replacement, yet AWS lets a lock change before its lock
# date (governance mode: any time) and refuses to remove a compliance lock after it, on its own.
VAULT_KEY_OF = {"aws_backup_vault": "kms_key_arn"}
# Terraform's diagnostic when a plan would destroy a resource with lifecycle.prevent_destroy (wrapped by -no-color).
_PREVENTED = re.compile(r"Resource\s+(\S+)\s+has\s+lifecycle\.prevent_destroy\s+set")

_REMOVED_FIX = (
    "it is no longer in the configuration (a Region left target_regions or central_backup.regions, or an account "
    "left the target OUs). Fix: for a Region, list it in retired_regions, which releases its resources from Terraform "
    "and keeps them in AWS; for an account, keep it in the config and release its stack by hand (docs/operations.md)"
)
_REPLACE_FIX = (
    "a setting that cannot change in place changed (e.g. names.member_vault or names.central_vault, a key's spec). "
    "Fix: change that setting back; a new name means a new, empty vault"
)


def _label(change: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    before = change.get("change", {}).get("before") or {}
    name = before.get("name") or before.get("backup_vault_name") or before.get("key_id") or before.get("id")
    return f"{kinds[change['type']]} {name}" if name else kinds[change["type"]]


def refusals(stack: str, plan: Mapping[str, Any], kinds: Mapping[str, str] = PROTECTED) -> list[str]:
    """One line per protected resource the plan destroys or replaces, naming it and the safe alternative."""
    changes = plan.get("resource_changes", [])
    vault_keys = {
        (c.get("change", {}).get("before") or {}).get(attribute)
        for c in changes
        for kind, attribute in VAULT_KEY_OF.items()
        if c.get("type") == kind
    }
    found = []
    for change in changes:
        actions = change.get("change", {}).get("actions", [])
        if change.get("type") not in kinds or "delete" not in actions:
            continue
        if change["type"] == "aws_kms_key" and (change["change"].get("before") or {}).get("arn") not in vault_keys:
            continue
        replaced = "create" in actions
        reason = change.get("action_reason", "")
        fix = _REMOVED_FIX if reason == "delete_because_no_resource_config" else _REPLACE_FIX if replaced else (
            f"Terraform's reason: {reason or 'none given'}. Fix: find what removed it from the configuration"
        )  # fmt: skip
        found.append(
            f"{stack}: {change['address']} ({_label(change, kinds)}) would be {'replaced' if replaced else 'destroyed'}"
            f", and the recovery points it holds or encrypts lost: {fix}."
        )
    return found


def _backup_plans(plan: Mapping[str, Any], side: str) -> dict[str, str]:
    """{backup plan name: the policy that carries it} on one side ("before" or "after") of the plan's BACKUP_POLICY
    changes (a policy's content is {"plans": {<backup plan name>: ...}}, AWS Organizations backup policy syntax)."""
    found = {}
    for change in plan.get("resource_changes", []):
        values = change.get("change", {}).get(side) or {}
        if change.get("type") != "aws_organizations_policy" or values.get("type") != "BACKUP_POLICY":
            continue
        content = json.loads(values.get("content") or "{}")
        for name in content.get("plans", {}):
            found[name] = values.get("name", change["address"])
    return found


def _same_plan(name: str, other: str) -> bool:
    """A plan too large for one policy is carried in parts named <plan>-<Region>[-<rule>] (plan_render): a re-split
    renames the parts, not the plan."""
    return name == other or name.startswith(other + "-") or other.startswith(name + "-")


def plan_removals(stack: str, plan: Mapping[str, Any], retired: Sequence[str]) -> tuple[list[str], list[str]]:
    """(refusals, confirmed): backup plans a deployed policy carries that no policy carries afterwards. AWS deletes
    such a plan from every account the policy applied to, so no new backup is made under it ("Backup policies":
    detaching or deleting a policy removes the plans it created); refused unless ``retired`` (the plans file's
    retired_plans) names it."""
    before, after = _backup_plans(plan, "before"), _backup_plans(plan, "after")
    refused, confirmed = [], []
    for name, policy in sorted(before.items()):
        if any(_same_plan(name, other) for other in after):
            continue
        if any(_same_plan(name, other) for other in retired):
            confirmed.append(f"{stack}: backup plan {name} (policy {policy}) removed, as retired_plans says")
            continue
        refused.append(
            f"{stack}: backup plan {name} (policy {policy}) would be deleted from every account it applies to, and no "
            "new backups made under it (its recovery points stay until they expire). Fix: if that is intended, list "
            f"{name} under retired_plans in the plans file; if the plan was renamed, list its old name there"
        )
    return refused, confirmed


def retained(plan: Mapping[str, Any]) -> list[str]:
    """Addresses a removed block releases from Terraform (``forget``): kept in AWS, no longer managed."""
    return [c["address"] for c in plan.get("resource_changes", []) if c.get("change", {}).get("actions") == ["forget"]]


# Terraform's diagnostic for a resource in the state whose provider configuration is gone: a Region removed from the
# config (its aliased provider with it). Matched on whitespace-normalised output (-no-color wraps it).
_ORPHANED = re.compile(
    r"To work with (\S+) \(orphan\) its original provider configuration at provider\[\"[^\"]+\"\]\.([a-z0-9-]+) is "
    r"required"
)


def orphaned(stack: str, output: str, kinds: Mapping[str, str] = PROTECTED) -> list[str]:
    """A failed plan's "Provider configuration not present" errors: the state holds resources of a Region the
    config no longer has. One refusal per vault or key among them, with the fix (retired_regions)."""
    found = []
    for address, region in dict.fromkeys(_ORPHANED.findall(re.sub(r"\s+", " ", output))):
        kind = address.split(".")[0]
        if kind in kinds:
            found.append(
                f"{stack}: {address} ({kinds[kind]}) is in the state, but Region {region} is no longer configured: "
                "Terraform cannot plan it (Provider configuration not present), and dropping the Region from the "
                f"state would destroy it and the recovery points it holds or encrypts. Fix: list {region} in "
                "retired_regions, which keeps it in AWS and releases it from Terraform, or put the Region back"
            )
    return found


def prevented(stack: str, output: str) -> list[str]:
    """Terraform's prevent_destroy errors in a failed plan's output, each as a refusal with its fix."""
    return [
        f"{stack}: {address} would be replaced, and Terraform's prevent_destroy stopped the plan: {_REPLACE_FIX}."
        for address in dict.fromkeys(_PREVENTED.findall(output))
    ]
