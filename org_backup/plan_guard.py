"""What `make plan` refuses before anyone can approve it: a Terraform plan that destroys or replaces what holds or
protects recovery points (a vault, an air-gapped vault, a KMS key, a vault lock). Deleting a KMS key makes every
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

import re
from collections.abc import Mapping
from typing import Any

PROTECTED = {
    "aws_backup_vault": "backup vault",
    "aws_backup_logically_air_gapped_vault": "logically air-gapped vault",
    "aws_kms_key": "KMS key",
    "aws_backup_vault_lock_configuration": "vault lock",
}
# Terraform's diagnostic when a plan would destroy a resource with lifecycle.prevent_destroy (wrapped by -no-color).
_PREVENTED = re.compile(r"Resource\s+(\S+)\s+has\s+lifecycle\.prevent_destroy\s+set")

_REMOVED_FIX = (
    "it is no longer in the configuration (a Region left target_regions or central_backup.regions, or an account "
    "left the target OUs). Fix: for a Region, list it in retired_regions, which releases its resources from Terraform "
    "and keeps them in AWS; for an account, keep it in the config and release its stack by hand (docs/operations.md)"
)
_REPLACE_FIX = (
    "a setting that cannot change in place changed (e.g. names.member_vault or names.central_vault, a vault lock "
    "past its grace time, a key's spec). Fix: change that setting back; a new name means a new, empty vault"
)


def _label(change: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    before = change.get("change", {}).get("before") or {}
    name = before.get("name") or before.get("backup_vault_name") or before.get("key_id") or before.get("id")
    return f"{kinds[change['type']]} {name}" if name else kinds[change["type"]]


def refusals(stack: str, plan: Mapping[str, Any], kinds: Mapping[str, str] = PROTECTED) -> list[str]:
    """One line per protected resource the plan destroys or replaces, naming it and the safe alternative."""
    found = []
    for change in plan.get("resource_changes", []):
        actions = change.get("change", {}).get("actions", [])
        if change.get("type") not in kinds or "delete" not in actions:
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


def retained(plan: Mapping[str, Any]) -> list[str]:
    """Addresses a removed block releases from Terraform (``forget``): kept in AWS, no longer managed."""
    return [c["address"] for c in plan.get("resource_changes", []) if c.get("change", {}).get("actions") == ["forget"]]


def prevented(stack: str, output: str) -> list[str]:
    """Terraform's prevent_destroy errors in a failed plan's output, each as a refusal with its fix."""
    return [
        f"{stack}: {address} would be replaced, and Terraform's prevent_destroy stopped the plan: {_REPLACE_FIX}."
        for address in dict.fromkeys(_PREVENTED.findall(output))
    ]
