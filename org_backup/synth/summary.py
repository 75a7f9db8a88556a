"""What a synth produced, in a few lines: stacks by kind, accounts, Regions, plans and policies, resources, size.

A list of stack names said nothing of the organization and ran to hundreds of lines at hundreds of accounts;
``ORG_BACKUP_SYNTH_LIST=1`` (read by ``main.py``) still prints every name.
"""

from __future__ import annotations

import json
from pathlib import Path

from org_backup.config.naming import BOOTSTRAP_PREFIX, MEMBER_STACK_PREFIX
from org_backup.synth.inputs import Inputs


def _size(outdir: Path) -> int:
    """What synth wrote: not the Terraform working files and state that live beside it (synth_output)."""
    return sum(
        p.stat().st_size
        for p in outdir.rglob("*")
        if p.is_file() and ".terraform" not in p.parts and not p.name.startswith("terraform.tfstate")
    )


def _resources(stack_dir: Path) -> int:
    document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    return sum(len(items) for items in document.get("resource", {}).values())


def summary(inputs: Inputs, outdir: Path, names: list[str]) -> list[str]:
    config = inputs.config
    members = [n for n in names if n.startswith(MEMBER_STACK_PREFIX)]
    bootstrap = [n for n in names if n.startswith(BOOTSTRAP_PREFIX)]
    others = sorted(set(names) - set(members) - set(bootstrap))
    resources = sum(_resources(outdir / "stacks" / name) for name in names)
    split = [p for p in inputs.backup_policies if p.split]
    plans = {p.plan for p in inputs.backup_policies}
    return [
        f"  stacks: {len(members)} member, {len(bootstrap)} bootstrap, {', '.join(others)}",
        f"  accounts: {len(config.member_accounts)} members in {len(config.target_ous)} target OUs; "
        f"Regions: {len(config.target_regions)} target, {len(config.central_regions)} with a central vault",
        f"  backup plans: {len(plans)} in {len(inputs.backup_policies)} policies ({len(split)} split); "
        f"SCPs: {len(inputs.scps)}",
        f"  resources: {resources}; output: {_size(outdir) / 1_000_000:.1f} MB",
        *[f"  note: {line}" for line in lasting_settings(inputs)],
    ]


def lasting_settings(inputs: Inputs) -> list[str]:
    """The settings a first deployment cannot simply take back, or that cost money on their own schedule, named
    every synth so that nobody meets them first on the bill or in a locked vault (issue 28: the example turned them
    on with only a YAML comment as warning)."""
    config = inputs.config
    found = []
    for where, lock in (("member", config.vault_lock.member), ("central", config.vault_lock.central)):
        if lock is None:
            continue
        if lock.mode == "compliance":
            found.append(
                f"the {where} vaults' lock is in compliance mode: {lock.changeable_for_days or 0} days after the deploy "
                "nobody, AWS included, can remove it or shorten retention (AWS Backup, vault lock)"
            )
        else:
            found.append(f"the {where} vaults' lock is in governance mode (removable by principals allowed to)")
    if config.central_backup.air_gapped is not None:
        found.append("logically air-gapped vaults: AWS locks them in compliance mode, and stores their copies apart")
    if config.restore_testing.active:
        found.append(
            f"restore tests ({config.restore_testing.schedule} {config.restore_testing.schedule_timezone}): each "
            "restores real resources on a schedule, which costs like any restore"
        )
    if config.audit.frameworks.enabled:
        found.append("AWS Backup Audit Manager frameworks in every member account and Region: charged per evaluation")
    if config.audit.reports.enabled:
        found.append("AWS Backup Audit Manager reports, delivered daily to a bucket")
    if inputs.scps:
        found.append(
            f"{len(inputs.scps)} guardrail SCPs: they deny actions to every principal of the accounts they bind"
        )
    return found
