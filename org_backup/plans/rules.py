"""Validation of the backup plans against the config, then of every policy rendered from them (the rule table with
its AWS sources is in ``backup_policy``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from org_backup.config.cron import schedule_problems
from org_backup.config.errors import InputError, Problem
from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming
from org_backup.config.region_settings import selection_type_problems
from org_backup.config.resource_types import (
    NEEDS_FULL_MANAGEMENT,
    NO_CROSS_ACCOUNT_AIR_GAPPED_COPY,
    RESOURCE_TYPES,
    not_air_gapped,
)
from org_backup.config.validation_errors import validate_model
from org_backup.config.yaml_io import load_yaml_with_lines
from org_backup.plans.document import validate_policy_document
from org_backup.plans.model import (
    CROSS_ACCOUNT_OR_REGION_ONLY,
    MAX_COPY_ACTIONS,
    MAX_POLICY_CHARS,
    MAX_RULES,
    MAX_SELECTIONS,
    MAX_TAG_VALUES,
    MAX_WINDOW_MINUTES,
    MIN_START_WINDOW,
    POLICY_TOO_LARGE,
    BackupPlans,
    CopyAction,
    Plan,
    Rule,
    lifecycle_problems,
    plan_regions,
)
from org_backup.plans.organizations_limits import organizations_problems
from org_backup.plans.render import render_policies


def load_plans(path: Path, config: BackupConfig) -> BackupPlans:
    """Read and validate a plans file against the config; raise InputError listing every problem, each with its
    line in the file."""
    raw, lines = load_yaml_with_lines(path, named_by=_NAMED_BY, empty_fix=_PLANS_EXAMPLE)
    if not isinstance(raw, dict):
        raise InputError(str(path), [_not_plans(raw)])
    try:
        return validate_plans(raw, config=config, source=str(path))
    except InputError as error:
        raise InputError(error.source, [p.at_line(lines) for p in error.problems]) from None


_NAMED_BY = "backup_plans_file in backup.yaml"
_PLANS_EXAMPLE = "start from policies/backup_plans.yaml in the repository"


def _not_plans(raw: Any) -> Problem:
    what = "has no plans, only comments" if raw is None else f"holds a {type(raw).__name__}, not plans"
    return Problem(
        "",
        f"{what}: a plans file is a 'plans:' mapping of plan names to plans. Fix: start from "
        "policies/backup_plans.yaml in the repository.",
    )


def plans_schema_problems(path: Path) -> InputError | None:
    """The plans file checked on its own (YAML and field rules, nothing that needs the config), so that a config
    with problems does not hide the plans file's: both are reported in one run."""
    try:
        raw, lines = load_yaml_with_lines(path, named_by=_NAMED_BY, empty_fix=_PLANS_EXAMPLE)
    except InputError as error:
        return error
    if not isinstance(raw, dict):
        return InputError(str(path), [_not_plans(raw)])
    try:
        validate_model(BackupPlans, raw, str(path))
    except InputError as error:
        return InputError(str(path), [p.at_line(lines) for p in error.problems])
    return None


def validate_plans(raw: dict[str, Any], *, config: BackupConfig, source: str) -> BackupPlans:
    plans = validate_model(BackupPlans, raw, source)
    problems = _plan_problems(plans, config)
    if not problems:
        naming = Naming(config)
        copy_targets = {arn for region in config.central_regions for arn in naming.copy_target_arns(region)} | {
            naming.vault_arn("$account", region, config.names.member_vault) for region in config.target_regions
        }
        policies = render_policies(plans, config)
        problems += organizations_problems(config, policies)
        for policy in policies:
            # Renderer output checked against AWS's rules once more: a renderer bug must not reach AWS either.
            problems += [
                Problem(f"{policy.name}: {p.field}", p.message)
                for p in validate_policy_document(
                    json.loads(policy.content), allowed_regions=config.target_regions, allowed_copy_targets=copy_targets
                )
                if p.code != POLICY_TOO_LARGE  # reported below, with what to do about it
            ]
            if len(policy.content) > MAX_POLICY_CHARS:
                problems.append(
                    Problem(
                        f"plans.{policy.plan}",
                        f"the rendered policy {policy.name} is {len(policy.content)} characters even split to one rule "
                        "(and one Region); "
                        f"AWS Organizations allows {MAX_POLICY_CHARS}. Fix: fewer tags, selections or copy actions.",
                    )
                )
    if problems:
        raise InputError(source, problems)
    return plans


def _lock_problem(where: str, days: int | None, lock: Any, vault: str) -> list[Problem]:
    if lock is None:
        return []
    if days is None:
        return [
            Problem(
                f"{where}.delete_after_days",
                f"is required: the {vault} vault has a vault lock, which rejects recovery points kept forever "
                f"(max_retention_days {lock.max_retention_days}). Fix: set a retention within "
                f"{lock.min_retention_days}-{lock.max_retention_days}.",
            )
        ]
    if not lock.min_retention_days <= days <= lock.max_retention_days:
        return [
            Problem(
                f"{where}.delete_after_days",
                f"{days} is outside the {vault} vault lock's retention bounds {lock.min_retention_days}-"
                f"{lock.max_retention_days} days in backup.yaml; AWS Backup would fail those jobs. Fix: adjust the "
                "retention or vault_lock.",
            )
        ]
    return []


def _plan_problems(plans: BackupPlans, config: BackupConfig) -> list[Problem]:
    problems: list[Problem] = [
        Problem(
            f"retired_plans[{index}]",
            f"{name!r} is still a plan under plans: a retired plan is one deliberately removed. Fix: remove it from "
            "plans, or from retired_plans to keep it.",
        )
        for index, name in enumerate(plans.retired_plans)
        if name in plans.plans
    ]
    configured_ous = {ou.id for ou in config.target_ous}
    policy_names: dict[str, str] = {}
    for plan_name, plan in plans.plans.items():
        at = f"plans.{plan_name}"
        if plan.policy_name in policy_names:
            problems.append(
                Problem(
                    f"{at}.policy_name",
                    f"{plan.policy_name!r} is also used by plans.{policy_names[plan.policy_name]}; Organizations policy "
                    "names are unique. Fix: rename one.",
                )
            )
        policy_names.setdefault(plan.policy_name, plan_name)
        if plan.target_ous != "all":
            for index, ou in enumerate(plan.target_ous):
                if ou not in configured_ous:
                    problems.append(
                        Problem(
                            f"{at}.target_ous[{index}]",
                            f"{ou!r} is not one of backup.yaml's target_ous ({', '.join(sorted(configured_ous))}). "
                            "Fix: add it there or use one of those.",
                        )
                    )
        regions = plan_regions(plan, config)
        if plan.regions != "all":
            for index, region in enumerate(plan.regions):
                if region not in config.target_regions:
                    problems.append(
                        Problem(
                            f"{at}.regions[{index}]",
                            f"{region!r} is not one of backup.yaml's target_regions "
                            f"({', '.join(config.target_regions)}); member vaults exist only there. Fix: add it to "
                            "target_regions or remove it.",
                        )
                    )
        if len(plan.rules) > MAX_RULES:
            problems.append(
                Problem(f"{at}.rules", f"{len(plan.rules)} rules; at most {MAX_RULES}. Fix: split the plan.")
            )
        if len(plan.selections) > MAX_SELECTIONS:
            problems.append(
                Problem(
                    f"{at}.selections",
                    f"{len(plan.selections)} tag selections; at most {MAX_SELECTIONS}. Fix: merge values or split the plan.",
                )
            )
        for sel_name, selection in plan.selections.items():
            if len(selection.tag_values) > MAX_TAG_VALUES:
                problems.append(
                    Problem(
                        f"{at}.selections.{sel_name}.tag_values",
                        f"{len(selection.tag_values)} values; at most {MAX_TAG_VALUES}. Fix: split the selection.",
                    )
                )
            if len(set(selection.resource_types)) != len(selection.resource_types):
                problems.append(
                    Problem(
                        f"{at}.selections.{sel_name}.resource_types",
                        f"{list(selection.resource_types)} names a type twice. Fix: list each once.",
                    )
                )
            problems += selection_type_problems(
                f"{at}.selections.{sel_name}.resource_types", selection.resource_types, regions, config.region_settings
            )
        problems += _resource_selection_problems(at, plan)
        for rule_name, rule in plan.rules.items():
            problems += _rule_problems(f"{at}.rules.{rule_name}", rule, regions, config)
            if rule.copy_to_air_gapped is not None:
                problems += _air_gapped_source_problems(at, rule_name, plan, regions, config)
            missing = [r for r in regions if r in config.target_regions and r not in config.central_regions]
            for name in ("copy_to_central", "copy_to_air_gapped"):
                if getattr(rule, name) is None or not missing:
                    continue
                problems.append(
                    Problem(
                        f"{at}.rules.{rule_name}.{name}",
                        f"backs up in {', '.join(missing)}, where the central account has no vault "
                        f"(central_backup.regions: {', '.join(config.central_regions)}); a copy from there would be "
                        "cross-account and cross-Region at once, which AWS Backup does not support for "
                        f'{CROSS_ACCOUNT_OR_REGION_ONLY} ("only supports automating either cross-account or '
                        'cross-Region copies"). Fix: add those Regions to central_backup.regions, or remove the '
                        "setting to get a central vault in every target Region.",
                    )
                )
    return problems


def _rule_problems(at: str, rule: Rule, regions: tuple[str, ...], config: BackupConfig) -> list[Problem]:
    problems = [Problem(f"{at}.schedule", p) for p in schedule_problems(rule.schedule)]
    if not MIN_START_WINDOW <= rule.start_window_minutes <= MAX_WINDOW_MINUTES:
        problems.append(
            Problem(
                f"{at}.start_window_minutes",
                f"{rule.start_window_minutes} is outside AWS Backup's range {MIN_START_WINDOW}-{MAX_WINDOW_MINUTES} "
                f"minutes. Fix: use at least {MIN_START_WINDOW}.",
            )
        )
    if not rule.start_window_minutes < rule.complete_window_minutes <= MAX_WINDOW_MINUTES:
        problems.append(
            Problem(
                f"{at}.complete_window_minutes",
                f"{rule.complete_window_minutes} must be greater than start_window_minutes "
                f"({rule.start_window_minutes}) and at most {MAX_WINDOW_MINUTES}: AWS Backup counts it from the "
                "scheduled time, not from the start. Fix: raise it.",
            )
        )
    continuous = rule.enable_continuous_backup
    problems += lifecycle_problems(f"{at}.lifecycle", rule.lifecycle, continuous=continuous)
    problems += _lock_problem(f"{at}.lifecycle", rule.lifecycle.delete_after_days, config.vault_lock.member, "member")
    copies = len(rule.copy_to_regions) + (rule.copy_to_central is not None) + (rule.copy_to_air_gapped is not None)
    if copies > MAX_COPY_ACTIONS:
        problems.append(Problem(f"{at}", f"{copies} copy actions; at most {MAX_COPY_ACTIONS}. Fix: remove some."))
    if rule.copy_to_central:
        where = f"{at}.copy_to_central.lifecycle"
        lifecycle = rule.copy_to_central.lifecycle
        problems += lifecycle_problems(where, lifecycle, continuous=False)
        problems += _lock_problem(where, lifecycle.delete_after_days, config.vault_lock.central, "central")
    if len(set(rule.index_actions)) != len(rule.index_actions):
        problems.append(
            Problem(f"{at}.index_actions", f"{list(rule.index_actions)} names a type twice. Fix: list each once.")
        )
    if rule.copy_to_air_gapped:
        problems += _air_gapped_copy_problems(f"{at}.copy_to_air_gapped", rule.copy_to_air_gapped, config)
    for region, copy in rule.copy_to_regions.items():
        where = f"{at}.copy_to_regions.{region}"
        if config.guardrails.copy_restriction.mode == "central_vault":
            problems.append(
                Problem(
                    where,
                    "guardrails.copy_restriction.mode is central_vault, whose SCP denies copies to any vault but the "
                    "central one. Fix: remove the copy or use mode: organization.",
                )
            )
        elif region not in config.target_regions:
            problems.append(
                Problem(
                    where,
                    f"{region!r} has no member vault (not in backup.yaml target_regions). Fix: use one of "
                    f"{', '.join(config.target_regions)}.",
                )
            )
        elif region in regions:
            problems.append(
                Problem(
                    where,
                    f"{region!r} is also a Region this plan backs up in; a copy into the vault it came from fails. "
                    "Fix: copy to a Region outside the plan's regions.",
                )
            )
        problems += lifecycle_problems(f"{where}.lifecycle", copy.lifecycle, continuous=False)
        problems += _lock_problem(
            f"{where}.lifecycle", copy.lifecycle.delete_after_days, config.vault_lock.member, "member"
        )
    return problems


def _air_gapped_copy_problems(at: str, copy: CopyAction, config: BackupConfig) -> list[Problem]:
    """A copy enters a logically air-gapped vault only with a retention inside the vault's bounds: "Backups with
    retention periods shorter than this value cannot be copied to this vault", and likewise above the maximum (AWS
    Backup Developer Guide, create a logically air-gapped vault). A copy that never expires is above any maximum."""
    air_gapped = config.central_backup.air_gapped
    if air_gapped is None:
        return [
            Problem(
                at,
                "copies to the logically air-gapped vault, but central_backup.air_gapped is not set, so there is "
                "none. Fix: set central_backup.air_gapped (min_retention_days, max_retention_days) in backup.yaml, "
                "or remove copy_to_air_gapped.",
            )
        ]
    problems = lifecycle_problems(f"{at}.lifecycle", copy.lifecycle, continuous=False)
    days = copy.lifecycle.delete_after_days
    low, high = air_gapped.min_retention_days, air_gapped.max_retention_days
    if days is None or not low <= days <= high:
        kept = "keeps copies forever" if days is None else f"keeps copies {days} days"
        problems.append(
            Problem(
                f"{at}.lifecycle.delete_after_days",
                f"{kept}; the air-gapped vault accepts only copies kept {low}-{high} days "
                "(central_backup.air_gapped min_retention_days, max_retention_days), and AWS Backup refuses any "
                f"other. Fix: set delete_after_days between {low} and {high}, or change the vault's bounds.",
            )
        )
    return problems


def _resource_selection_problems(at: str, plan: Plan) -> list[Problem]:
    """A plan that names resource types is rendered as one ``resources`` selection per tag value (plan_render): the
    count and the names that rendering produces must still fit AWS's limits."""
    if not plan.selects_by_resource_type:
        return []
    problems = []
    for name, selection in plan.selections.items():
        longest = name if len(selection.tag_values) == 1 else f"{name}-{len(selection.tag_values)}"
        if len(longest) > 50:
            problems.append(
                Problem(
                    f"{at}.selections.{name}",
                    f"renders as selection {longest!r} (one per tag value), longer than AWS Backup's 50 characters. "
                    "Fix: shorten the selection name.",
                )
            )
    total = sum(len(selection.tag_values) for selection in plan.selections.values())
    if total > MAX_SELECTIONS:
        problems.append(
            Problem(
                f"{at}.selections",
                f"names resource types, so each tag value is its own selection (AWS ANDs the conditions of a "
                f"'resources' selection): {total} selections; at most {MAX_SELECTIONS}. Fix: fewer tag values, or "
                "split the plan.",
            )
        )
    return problems


def _air_gapped_source_problems(
    at: str, rule_name: str, plan: Plan, regions: tuple[str, ...], config: BackupConfig
) -> list[Problem]:
    """What a rule may copy to the air-gapped vault, by resource type and by Region (the table and its sources are
    in ``resource_types``)."""
    problems = []
    supported = ", ".join(name for name, kind in RESOURCE_TYPES.items() if kind.air_gapped)
    for sel_name, selection in plan.selections.items():
        where = f"{at}.selections.{sel_name}.resource_types"
        if not selection.resource_types:
            problems.append(
                Problem(
                    where,
                    f"is empty, so the selection takes every type, and rule {rule_name} copies them all to the "
                    "air-gapped vault, which takes only some; copies of the others would fail in every account. Fix: "
                    f"list the types to copy (the vault takes {supported}), and back the others up in a plan "
                    "without copy_to_air_gapped.",
                )
            )
        unsupported = not_air_gapped(selection.resource_types)
        if unsupported:
            problems.append(
                Problem(
                    where,
                    f"{', '.join(unsupported)}: rule {rule_name} copies this selection to the air-gapped vault, and "
                    "AWS Backup's documentation does not list these types for logically air-gapped vaults (it "
                    f"lists {supported}; sources in org_backup/config/resource_types.py). Fix: move them to a selection of "
                    "a plan without copy_to_air_gapped.",
                )
            )
        for kind in sorted(NEEDS_FULL_MANAGEMENT & set(selection.resource_types)):
            if config.region_settings.enabled and kind not in config.region_settings.full_management:
                problems.append(
                    Problem(
                        where,
                        f"{kind}: rule {rule_name} copies it to the air-gapped vault, which takes it only with AWS "
                        "Backup's advanced features (full management), and region_settings.full_management in "
                        f"backup.yaml leaves them off. Fix: add {kind} to region_settings.full_management, or "
                        f"remove {kind} here.",
                    )
                )
    blocked = [region for region in regions if region in NO_CROSS_ACCOUNT_AIR_GAPPED_COPY]
    if blocked:
        problems.append(
            Problem(
                f"{at}.rules.{rule_name}.copy_to_air_gapped",
                f"the plan backs up in {', '.join(blocked)}, where AWS Backup offers no cross-account copy to a "
                "logically air-gapped vault (feature availability by Region, footnote 1). Fix: leave those Regions "
                "out of the plan's regions, or copy from there to the central vault only.",
            )
        )
    return problems
