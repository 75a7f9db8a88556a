"""What a synth produced, in a few lines: stacks by kind, accounts, Regions, plans and policies, resources, size.

A list of stack names said nothing of the organization and ran to hundreds of lines at hundreds of accounts;
``ORG_BACKUP_SYNTH_LIST=1`` (read by ``main.py``) still prints every name.
"""

from __future__ import annotations

import json
from pathlib import Path

from org_backup.inputs import Inputs
from org_backup.naming import BOOTSTRAP_PREFIX, MEMBER_STACK_PREFIX


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
    ]
