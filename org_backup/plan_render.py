"""Rendering plans to AWS Organizations BACKUP_POLICY documents: every leaf in ``@@assign``, one backup plan per
Region where a plan copies to the central vault, split into several policies when one would exceed AWS's limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from org_backup.config import BackupConfig
from org_backup.naming import Naming
from org_backup.plan_model import (
    MAX_POLICY_CHARS,
    BackupPlans,
    Lifecycle,
    Plan,
    RenderedPolicy,
    plan_ous,
    plan_regions,
)
from org_backup.policy_docs import dumps
from org_backup.resource_types import arn_pattern


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
    """One policy per plan. A plan whose document exceeds 10,000 characters is split until every part fits: a
    per-Region plan into one policy per Region (``<policy>-<region>``), then into one per rule
    (``<policy>[-<region>]-<rule>``, plan ``<plan>[-<region>]-<rule>``), each with the same selections: the same
    backups, in documents that fit."""
    rendered = []
    for plan_name, plan in plans.plans.items():
        regions = plan_regions(plan, config)
        ous = plan_ous(plan, config)
        for part in _smallest_split_that_fits(plan_name, plan, config, regions):
            rendered.append(
                RenderedPolicy(
                    plan.policy_name + part.suffix,
                    f"{plan.description} ({part.split})" if part.split else plan.description,
                    part.content,
                    ous,
                    plan_name,
                    split=part.split,
                )
            )
    return rendered


@dataclass(frozen=True)
class _Part:
    suffix: str
    split: str | None
    content: str


def _smallest_split_that_fits(
    plan_name: str, plan: Plan, config: BackupConfig, regions: tuple[str, ...]
) -> list[_Part]:
    """The coarsest of: the whole plan, one part per Region, one part per (Region and) rule, whose every part fits
    (the finest when none does; validation then reports the part that is too large)."""
    per_region = _per_region(plan, regions)
    scopes = (
        [(f"-{region}", (region,), f"Region {region}") for region in regions] if per_region else [("", regions, "")]
    )
    levels = [[_Part("", None, dumps(render_plan(plan_name, plan, config, regions)))]]
    if per_region:
        levels.append(
            [
                _Part(suffix, split, dumps({"plans": {plan_name + suffix: _plan_document(plan, config, scope)}}))
                for suffix, scope, split in scopes
            ]
        )
    if len(plan.rules) > 1:
        levels.append(
            [
                _Part(
                    f"{suffix}-{rule_name}",
                    ", ".join(filter(None, (split, f"rule {rule_name}"))),
                    dumps(
                        {
                            "plans": {
                                f"{plan_name}{suffix}-{rule_name}": _plan_document(
                                    plan.model_copy(update={"rules": {rule_name: rule}}), config, scope
                                )
                            }
                        }
                    ),
                )
                for suffix, scope, split in scopes
                for rule_name, rule in plan.rules.items()
            ]
        )
    for level in levels:
        if all(len(part.content) <= MAX_POLICY_CHARS for part in level):
            return level
    return levels[-1]
