"""``preview --format mermaid``: what will be deployed, drawn from the config and the rendered policies as a Mermaid
flowchart (GitHub renders it in a README, a pull-request comment or an issue).

Target OUs with their accounts (listed up to ``MAX_LISTED``, counted above), the member vaults' Regions, the
central vault of each Region, a copy flow per OU and Region to the central vault its plans copy to (labelled with
the plans),
and the guardrail SCPs attached to each OU (or to the central and pipeline accounts themselves). Built from ``effective.preview`` so it shows what AWS will apply.
"""

from __future__ import annotations

import re

from org_backup.plans.effective import AccountPreview
from org_backup.synth.inputs import Inputs

MAX_LISTED = 6  # accounts named in an OU's box; more are counted


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _label(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def mermaid(inputs: Inputs, previews: list[AccountPreview]) -> str:
    config = inputs.config
    lines = ["flowchart LR"]
    central = config.central_backup.account_id
    lines.append(f"  subgraph central[{_label(f'central backup account {central}')}]")
    for region in config.central_regions:
        lines.append(f"    {_id('cv', region)}[({_label(f'{config.names.central_vault}<br/>{region}')})]")
    lines.append("  end")
    regions = ", ".join(config.target_regions)
    flows: set[tuple[str, str, str]] = set()
    for ou in config.target_ous:
        accounts = [p.account_id for p in previews if p.ou_id == ou.id]
        listed = ", ".join(accounts[:MAX_LISTED]) + (
            f" and {len(accounts) - MAX_LISTED} more" if len(accounts) > MAX_LISTED else ""
        )
        lines.append(f"  subgraph {_id('ou', ou.id)}[{_label(f'OU {ou.name} ({ou.id})')}]")
        members = _label(f"{len(accounts)} accounts: {listed}<br/>{config.names.member_vault} in {regions}")
        lines.append(f"    {_id('members', ou.id)}[{members}]")
        lines.append("  end")
        for item in previews:
            if item.ou_id != ou.id:
                continue
            for plan_name, plan in item.effective.get("plans", {}).items():
                for rule in plan.get("rules", {}).values():
                    for target in rule.get("copy_actions", {}):
                        parts = target.split(":")
                        if parts[4] == central:
                            flows.add((ou.id, plan_name.removesuffix(f"-{parts[3]}"), parts[3]))  # per-Region plans
    by_edge: dict[tuple[str, str], list[str]] = {}
    for ou_id, plan, region in sorted(flows):
        by_edge.setdefault((ou_id, region), []).append(plan)
    for (ou_id, region), plans in by_edge.items():
        lines.append(f"  {_id('members', ou_id)} -- {_label(', '.join(plans))} --> {_id('cv', region)}")
    accounts_drawn: set[str] = set()
    for scp in inputs.scps:
        lines.append(f"  {_id('scp', scp.name)}{{{{{_label(f'SCP {scp.name}')}}}}}")
        for target in scp.target_ous:  # an OU, or one account a guardrail is attached to directly
            if target == central:
                node = "central"
            elif target.isdigit():
                node = _id("account", target)
                if target not in accounts_drawn:
                    kind = "pipeline account" if target == config.pipeline.home_account_id else "account"
                    lines.append(f"  {node}[{_label(f'{kind} {target}')}]")
                    accounts_drawn.add(target)
            else:
                node = _id("ou", target)
            lines.append(f"  {_id('scp', scp.name)} -. attached .-> {node}")
    return "\n".join(lines) + "\n"
