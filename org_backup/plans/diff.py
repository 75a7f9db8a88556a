"""What a plan changes in the backup plans AWS creates in the member accounts: for every target OU, the effective
backup policy of org-backup's own policies attached to it, before and after the plan, as a diff of the lines
``python -m org_backup preview`` prints (org_backup/plans/effective.py). Shown in the Plan stage's summary, so a pull
request that removes, renames or reschedules a plan says so in words, not as a changed JSON string.

Read from Terraform's JSON plan (``terraform show -json``; Terraform, "JSON Output Format"): ``resource_changes``
lists every resource with ``change.before`` and ``change.after`` (``null`` when it does not exist on that side),
including unchanged ones (action ``no-op``); a value known only after apply (a new policy's id) is absent from
``after`` and listed in ``after_unknown``, so an attachment's new policy is found through the ``configuration``
section's references (``expressions.policy_id.references``). Only org-backup's policies are merged: a policy
others attach to the root or a parent OU is not in this plan (``policy effective --level`` merges any). The stack's
policies and attachments are flat root-module resources (stacks/management.py): with a module, ``count`` or
``for_each`` the plan's instance addresses (``x[0]``, ``module.m.x``) would no longer equal the configuration's, and
this reading would have to map them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from org_backup.plans.effective import effective_policy, plan_lines

POLICY = "aws_organizations_policy"
ATTACHMENT = "aws_organizations_policy_attachment"


def _references(plan: Mapping[str, Any]) -> dict[str, str]:
    """{attachment address: the address of the policy its policy_id refers to}, from the configuration."""
    found = {}
    for resource in plan.get("configuration", {}).get("root_module", {}).get("resources", []):
        if resource.get("type") != ATTACHMENT:
            continue
        for reference in resource.get("expressions", {}).get("policy_id", {}).get("references", []):
            if reference.startswith(f"{POLICY}.") and reference.count(".") == 1:
                found[resource["address"]] = reference
    return found


def _attached(plan: Mapping[str, Any], side: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """{target id: [(policy name, content)]} of the BACKUP_POLICY attachments on one side of the plan."""
    changes = plan.get("resource_changes", [])
    policies = {c["address"]: c["change"].get(side) for c in changes if c.get("type") == POLICY}
    by_id = {values["id"]: values for values in policies.values() if values and values.get("id")}
    references = _references(plan)
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for change in changes:
        values = change.get("change", {}).get(side)
        if change.get("type") != ATTACHMENT or not values:
            continue
        policy = by_id.get(values.get("policy_id", ""))
        if policy is None and change["address"] in references:
            policy = policies.get(references[change["address"]])
        if policy is None or policy.get("type") != "BACKUP_POLICY":
            continue
        content = json.loads(policy.get("content") or "{}")
        found.setdefault(values["target_id"], []).append((policy.get("name", ""), content))
    return found


def effective_changes(plan: Mapping[str, Any]) -> dict[str, list[str]]:
    """{target id: unified diff lines (no context) of its effective backup plans} for every target whose effective
    plans change; an OU gaining or losing all of org-backup's policies shows "no backup plans" on that side."""
    before, after = _attached(plan, "before"), _attached(plan, "after")
    diffs = {}
    for target in sorted({*before, *after}):
        old = plan_lines(effective_policy([[], before.get(target, [])]).effective)
        new = plan_lines(effective_policy([[], after.get(target, [])]).effective)
        if old != new:
            lines = difflib.unified_diff(old, new, fromfile=f"{target} before", tofile=f"{target} after", lineterm="")
            diffs[target] = list(lines)[2:]  # without the ---/+++ header: the section names the OU
    return diffs


def summary(diffs: Mapping[str, list[str]]) -> list[str]:
    """The plan summary's section: one diff block per target OU."""
    if not diffs:
        return []
    lines = ["", "Effective backup plans per target OU (org-backup's policies only; - before, + after):", ""]
    for target, diff in sorted(diffs.items()):
        lines += [f"`{target}`:", "", "```diff", *diff, "```", ""]
    return lines[:-1]
