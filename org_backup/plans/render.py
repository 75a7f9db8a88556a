"""Rendering plans to AWS Organizations BACKUP_POLICY documents: every leaf in ``@@assign``, one backup plan per
Region where a plan copies to the central vault, packed into as few policies as fit AWS's size limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming
from org_backup.config.resource_types import arn_pattern
from org_backup.config.templates import dumps
from org_backup.plans.model import (
    MAX_DESCRIPTION,
    MAX_POLICY_CHARS,
    BackupPlans,
    Lifecycle,
    Plan,
    RenderedPolicy,
    plan_ous,
    plan_regions,
)


def _assign(value: Any) -> dict[str, Any]:
    """AWS requires every leaf wrapped in an operator; numbers and booleans as strings."""
    if isinstance(value, bool):
        return {"@@assign": "true" if value else "false"}
    if isinstance(value, int):
        return {"@@assign": str(value)}
    return {"@@assign": value}


def _lifecycle(lifecycle: Lifecycle) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if lifecycle.move_to_cold_storage_after_days is not None:
        out["move_to_cold_storage_after_days"] = _assign(lifecycle.move_to_cold_storage_after_days)
    if lifecycle.delete_after_days is not None:
        out["delete_after_days"] = _assign(lifecycle.delete_after_days)
    if lifecycle.opt_in_to_archive_for_supported_resources:
        out["opt_in_to_archive_for_supported_resources"] = _assign(True)
    return out


def _tags(tags: dict[str, str]) -> dict[str, Any]:
    return {key: {"tag_key": _assign(key), "tag_value": _assign(value)} for key, value in tags.items()}


def render_plan(plan_name: str, plan: Plan, config: BackupConfig, regions: tuple[str, ...]) -> dict[str, Any]:
    """The BACKUP_POLICY document of one plan, as a dict (serialise with ``policy_docs.dumps``).

    A plan that copies to the central vault becomes one backup plan per Region, ``<plan>-<region>``, each copying
    to the central vault of its own Region: a same-Region cross-account copy works for every resource type, while
    a copy that is cross-account and cross-Region at once is not: "For Amazon RDS and Aurora snapshots, AWS Backup
    only supports automating either cross-account or cross-Region copies" (AWS Backup Developer Guide, creating a
    backup copy). Backup policies have no Region variable for a cross-account copy target: "Use $account for
    same-account copies, use actual account ID for cross-account copies" (AWS Organizations User Guide, backup
    policy syntax, copy_actions).
    """
    if _per_region(plan, regions):
        return {"plans": {f"{plan_name}-{region}": _plan_document(plan, config, (region,)) for region in regions}}
    return {"plans": {plan_name: _plan_document(plan, config, regions)}}


def _per_region(plan: Plan, regions: tuple[str, ...]) -> bool:
    return len(regions) > 1 and any(rule.copies_to_the_central_account for rule in plan.rules.values())


def _plan_document(plan: Plan, config: BackupConfig, regions: tuple[str, ...]) -> dict[str, Any]:
    naming = Naming(config)
    rules: dict[str, Any] = {}
    for rule_name, rule in plan.rules.items():
        body: dict[str, Any] = {
            "schedule_expression": _assign(rule.schedule),
            "start_backup_window_minutes": _assign(rule.start_window_minutes),
            "complete_backup_window_minutes": _assign(rule.complete_window_minutes),
            "lifecycle": _lifecycle(rule.lifecycle),
            "target_backup_vault_name": _assign(config.names.member_vault),
        }
        if rule.enable_continuous_backup:
            body["enable_continuous_backup"] = _assign(True)
        if rule.recovery_point_tags:
            body["recovery_point_tags"] = _tags(rule.recovery_point_tags)
        if rule.index_actions:
            body["index_actions"] = {"resource_types": _assign(list(rule.index_actions))}
        copies: dict[str, Any] = {}
        for copy, vault_arn in (
            (rule.copy_to_central, naming.central_vault_arn),
            (rule.copy_to_air_gapped, naming.air_gapped_vault_arn),
        ):
            if copy is not None:
                (region,) = regions  # render_plan gives a plan that copies to the central account a single Region
                arn = vault_arn(region)
                copies[arn] = {"target_backup_vault_arn": _assign(arn), "lifecycle": _lifecycle(copy.lifecycle)}
        for region, copy in rule.copy_to_regions.items():
            arn = naming.vault_arn("$account", region, config.names.member_vault)
            copies[arn] = {"target_backup_vault_arn": _assign(arn), "lifecycle": _lifecycle(copy.lifecycle)}
        if copies:
            body["copy_actions"] = copies
        rules[rule_name] = body
    document: dict[str, Any] = {
        "regions": _assign(list(regions)),
        "rules": rules,
        "selections": _selections(plan, naming, naming.role_arn("$account", config.names.backup_role)),
    }
    if plan.backup_plan_tags:
        document["backup_plan_tags"] = _tags(plan.backup_plan_tags)
    if plan.windows_vss:
        document["advanced_backup_settings"] = {"ec2": {"windows_vss": _assign("enabled")}}
    return document


def _selections(plan: Plan, naming: Naming, role_arn: str) -> dict[str, Any]:
    """AWS's ``tags`` selections, or, when a selection names resource types, ``resources`` selections for the whole
    plan: "There are two mutually exclusive elements: tags and resources", and "If you want a selection with both tag
    conditions and resource conditions, use the resources keys" (AWS Organizations User Guide, backup policy syntax,
    selections). A ``resources`` selection ANDs its conditions, so each tag value becomes its own selection,
    ``<selection>-<n>`` when there are several; every other type counts for a selection without types ("*")."""
    if not plan.selects_by_resource_type:
        return {
            "tags": {
                name: {
                    "iam_role_arn": _assign(role_arn),
                    "tag_key": _assign(selection.tag_key),
                    "tag_value": _assign(list(selection.tag_values)),
                }
                for name, selection in plan.selections.items()
            }
        }
    resources: dict[str, Any] = {}
    for name, selection in plan.selections.items():
        types = [arn_pattern(kind, naming.partition) for kind in selection.resource_types] or ["*"]
        for index, value in enumerate(selection.tag_values, start=1):
            resources[name if len(selection.tag_values) == 1 else f"{name}-{index}"] = {
                "iam_role_arn": _assign(role_arn),
                "resource_types": _assign(types),
                "conditions": {
                    "string_equals": {
                        "tag": {
                            "condition_key": _assign(f"aws:ResourceTag/{selection.tag_key}"),
                            "condition_value": _assign(value),
                        }
                    }
                },
            }
    return {"resources": resources}


def render_policies(plans: BackupPlans, config: BackupConfig) -> list[RenderedPolicy]:
    """One policy per plan, named ``policy_name``, when the plan's document fits AWS's 10,000 characters.

    A plan that does not fit is cut into the coarsest units that each fit alone: its backup plans of one Region
    (``<plan>-<region>``, a plan that copies to the central account), else of one Region and rule
    (``<plan>-<region>-<rule>``) or of one rule (``<plan>-<rule>``), each with the plan's selections: the same
    backups. The units are packed into as few policies as hold them (``pack``), so that 12 Regions take 2 policies
    per plan instead of 12: every policy counts towards the 10 backup policies AWS allows attached to an OU
    (``organizations_limits``). A Region's backup plan keeps its own Region and its own Region's copy targets whichever
    policy carries it, and a plan's key is in one policy only. A part is named after its first unit
    (``<policy>-<region>``, ``<policy>[-<region>]-<rule>``), the name that unit's policy had when every unit was a
    policy of its own: updating from that layout keeps those policies and deletes the others.
    """
    rendered = []
    for plan_name, plan in plans.plans.items():
        ous = plan_ous(plan, config)
        units = _units_that_fit(plan_name, plan, config, plan_regions(plan, config))
        parts = pack([unit.weight for unit in units], MAX_POLICY_CHARS - POLICY_OVERHEAD)
        for number, part in enumerate(parts, start=1):
            members = [units[index] for index in part]
            content = dumps({"plans": {unit.key: unit.document for unit in members}})
            if len(parts) == 1:
                rendered.append(RenderedPolicy(plan.policy_name, plan.description, content, ous, plan_name))
                continue
            split = f"{number} of {len(parts)}: {', '.join(unit.scope for unit in members)}"
            rendered.append(
                RenderedPolicy(
                    plan.policy_name + members[0].suffix,
                    _description(plan.description, split),
                    content,
                    ous,
                    plan_name,
                    split=split,
                )
            )
    return rendered


# A policy's content is '{"plans":{' + the units' '"<key>":<document>' joined by ',' + '}}': 12 characters plus each
# unit's weight (its entry and one separator), less the separator the last unit does not have.
POLICY_OVERHEAD = len(dumps({"plans": {}})) - 1


@dataclass(frozen=True)
class _Unit:
    suffix: str  # appended to the plan name for the unit's key, and to the policy name for a part it comes first in
    scope: str  # what the unit holds, for the part's description: "eu-west-1", "eu-west-1 rule Daily", "rule Daily"
    key: str
    document: dict[str, Any]

    @property
    def weight(self) -> int:
        """Characters the unit adds to a policy's content: its ``"<key>":<document>`` and one separator."""
        return len(dumps(self.key)) + 1 + len(dumps(self.document)) + 1


def _units_that_fit(plan_name: str, plan: Plan, config: BackupConfig, regions: tuple[str, ...]) -> list[_Unit]:
    """The plan's backup plans of one Region each (or the whole plan), else of one (Region and) rule each: the
    coarsest cut whose every unit fits a policy alone (the finest when none does; validation then reports the
    policy that is too large)."""
    scopes = [(f"-{r}", r, (r,)) for r in regions] if _per_region(plan, regions) else [("", "", regions)]
    levels = [
        [
            _Unit(suffix, scope, plan_name + suffix, _plan_document(plan, config, scope_regions))
            for suffix, scope, scope_regions in scopes
        ]
    ]
    if len(plan.rules) > 1:
        levels.append(
            [
                _Unit(
                    f"{suffix}-{rule_name}",
                    f"{scope} rule {rule_name}".strip(),
                    f"{plan_name}{suffix}-{rule_name}",
                    _plan_document(plan.model_copy(update={"rules": {rule_name: rule}}), config, scope_regions),
                )
                for suffix, scope, scope_regions in scopes
                for rule_name, rule in plan.rules.items()
            ]
        )
    for level in levels:
        if all(POLICY_OVERHEAD + unit.weight <= MAX_POLICY_CHARS for unit in level):
            return level
    return levels[-1]


def pack(weights: list[int], capacity: int) -> list[list[int]]:
    """Indexes of ``weights`` grouped into as few groups of total weight <= ``capacity`` as these two find: in
    order, a new group whenever the next item does not fit (the fewest groups of consecutive items), and first-fit
    decreasing (each item, heaviest first, into the first group it fits). The in-order packing wins ties: it keeps
    Regions in the configured order, and a Region added at the end changes only the last policy. An item heavier
    than ``capacity`` gets a group of its own. Groups and their indexes come in ascending order."""
    in_order: list[list[int]] = []
    room = 0
    for index, weight in enumerate(weights):
        if not in_order or weight > room:
            in_order.append([])
            room = capacity
        in_order[-1].append(index)
        room -= weight
    decreasing: list[list[int]] = []
    rooms: list[int] = []
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        group = next((g for g, left in enumerate(rooms) if weights[index] <= left), None)
        if group is None:
            decreasing.append([])
            rooms.append(capacity)
            group = len(rooms) - 1
        decreasing[group].append(index)
        rooms[group] -= weights[index]
    if len(in_order) <= len(decreasing):
        return in_order
    return sorted(sorted(group) for group in decreasing)


def _description(description: str, split: str) -> str:
    """The plan's description and the part's; AWS Organizations takes at most 512 characters (CreatePolicy,
    Description: "Maximum length of 512"), so a longer one is cut, ending in '...'."""
    text = f"{description} ({split})".strip()
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."
