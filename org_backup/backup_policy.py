"""Organization backup plans: the data model of ``policies/backup_plans.yaml``, its offline validator and the
renderer to AWS Organizations BACKUP_POLICY documents.

Every rule the validator applies, with its source:

| rule | source |
| --- | --- |
| schedule is a 6-field AWS cron; minutes a single number | EventBridge cron reference; AWS Backup runs a rule at most hourly |
| start window >= 60 and <= 52,560,000 minutes | AWS Backup API BackupRule/StartBackupJob: "must be at least 60 minutes"; max 100 years |
| complete window > start window and <= 52,560,000 minutes | StartBackupJob: counts from the scheduled time, "does not add additional time for StartWindowMinutes"; max 100 years |
| delete_after_days >= move_to_cold_storage_after_days + 90 (rules and copies) | AWS Backup Lifecycle: "must be 90 days greater than" the cold-storage transition |
| days <= 36,500 | AWS Backup Lifecycle: maximum 100 years |
| continuous backup retention 1-35 days, no cold storage | AWS Backup point-in-time recovery: continuous backups are kept up to 35 days |
| <= 10 rules a plan, <= 5 copy actions a rule, <= 10 tag selections a plan, <= 30 values a selection | org-backup limits that keep every plan inside AWS Backup quotas and the 10,000-character policy limit |
| rule, plan and selection names: 1-50 of letters, digits, '-_.' (plan names also as rendered, with their suffixes) | AWS Backup API BackupRuleInput RuleName pattern |
| Regions real and among target_regions; copy Regions not among the plan's own Regions | backup.yaml; a copy into the vault it came from fails at run time |
| copy targets are vaults this project creates | the central vault of the backup's own Region (computed ARN) or the member vault in another target Region |
| a central vault in every Region a plan copies to the central vault from | AWS Backup, creating a backup copy: for RDS and Aurora snapshots "either cross-account or cross-Region copies", not both |
| target OUs among backup.yaml target_ous | backup.yaml |
| retention inside the vault lock bounds | a copy or backup outside Vault Lock's min/max retention fails at run time |
| minified document <= 10,000 characters (else split per Region, then per rule) | AWS Organizations quotas: backup policy maximum size |
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from org_backup.config import BackupConfig
from org_backup.cron import cron_problems
from org_backup.errors import InputError, Problem
from org_backup.naming import Naming
from org_backup.policy_docs import dumps
from org_backup.validation import Model, OuId, Region, Tags, problems_from_validation_error, with_pattern
from org_backup.yaml_io import load_yaml

MAX_POLICY_CHARS = 10_000  # AWS Organizations: maximum size of a backup policy document.
MAX_WINDOW_MINUTES = 52_560_000  # AWS Backup: start/complete windows are at most 100 years.
MIN_START_WINDOW = 60  # AWS Backup: a start window must be at least 60 minutes.
MAX_DAYS = 36_500  # AWS Backup lifecycle: at most 100 years.
COLD_MIN_DAYS = 90  # AWS Backup: recovery points stay in cold storage at least 90 days.
MAX_CONTINUOUS_DAYS = 35  # AWS Backup: continuous backups (PITR) are kept at most 35 days.
MAX_RULES = 10
POLICY_TOO_LARGE = "policy-too-large"  # Problem.code of a document over MAX_POLICY_CHARS
MAX_COPY_ACTIONS = 5
# AWS Backup Developer Guide, creating a backup copy: "For Amazon RDS and Aurora snapshots, AWS Backup only supports
# automating either cross-account or cross-Region copies", not both in one copy.
CROSS_ACCOUNT_OR_REGION_ONLY = "Amazon RDS and Aurora snapshots"
MAX_SELECTIONS = 10
MAX_TAG_VALUES = 30

BackupName = Annotated[
    str,
    with_pattern(
        r"[A-Za-z0-9_.-]{1,50}",
        "a valid AWS Backup name",
        "AWS Backup: 1-50 letters, digits, '-', '_' or '.'",
        "rename it.",
        "OrgDailyBackupRule",
    ),
]
PolicyName = Annotated[
    str,
    with_pattern(
        r"[\w+=,.@-]{1,128}",
        "a valid Organizations policy name",
        "AWS Organizations: 1-128 letters, digits and '+=,.@_-'",
        "rename it.",
        "org-daily-backup-policy",
    ),
]


class Lifecycle(Model):
    delete_after_days: int | None = Field(default=None, description="Delete recovery points after this many days.")
    move_to_cold_storage_after_days: int | None = Field(
        default=None, description="Move to cold storage after this many days (stays there at least 90 days)."
    )
    opt_in_to_archive_for_supported_resources: bool = Field(
        default=False, description="Also archive supported resources (S3, ...) to cold storage."
    )


class CopyAction(Model):
    lifecycle: Lifecycle = Field(description="Lifecycle of the copy: always explicit, never inherited.")


class Rule(Model):
    schedule: str = Field(description="AWS cron expression in UTC, e.g. cron(0 5 ? * * *).")
    start_window_minutes: int = Field(description="Minutes after the scheduled time a job may still start (>= 60).")
    complete_window_minutes: int = Field(description="Minutes after the scheduled time a job must be done.")
    lifecycle: Lifecycle = Field(description="Retention of the recovery points in the member vault.")
    enable_continuous_backup: bool = Field(default=False, description="Continuous backup (PITR, <= 35 days).")
    recovery_point_tags: Tags = Field(default_factory=dict, description="Tags put on every recovery point.")
    copy_to_central: CopyAction | None = Field(
        default=None, description="Copy every recovery point to the central vault (the ARN is computed)."
    )
    copy_to_regions: dict[Region, CopyAction] = Field(
        default_factory=dict, description="Extra copies to the member vault of the same account in these Regions."
    )


class Selection(Model):
    tag_key: str = Field(min_length=1, max_length=128, description="Resources with this tag key ...")
    tag_values: tuple[str, ...] = Field(min_length=1, description="... and one of these values are backed up.")


class Plan(Model):
    policy_name: PolicyName = Field(description="Name of the AWS Organizations policy that carries this plan.")
    description: str = Field(default="", max_length=512, description="Description of that policy.")
    target_ous: Literal["all"] | tuple[OuId, ...] = Field(
        default="all", description="'all' target OUs of backup.yaml, or a list of their ids."
    )
    regions: Literal["all"] | tuple[Region, ...] = Field(
        default="all", description="'all' target Regions of backup.yaml, or a subset."
    )
    rules: dict[BackupName, Rule] = Field(min_length=1, description="Backup rules of the plan.")
    selections: dict[BackupName, Selection] = Field(min_length=1, description="Tag selections of the plan.")
    backup_plan_tags: Tags = Field(default_factory=dict, description="Tags on the backup plan itself.")
    windows_vss: bool = Field(default=False, description="Windows VSS for EC2 instances (advanced backup setting).")


class BackupPlans(Model):
    """The organization's backup plans; each plan becomes one BACKUP_POLICY (or one per Region when split)."""

    plans: dict[BackupName, Plan] = Field(min_length=1)


@dataclass(frozen=True)
class RenderedPolicy:
    """One AWS Organizations BACKUP_POLICY ready for the management stack."""

    name: str
    description: str
    content: str
    target_ous: tuple[str, ...]
    plan: str
    split: str | None = None  # how a plan too large for one policy was split: "Region ...", "rule ...", or both


def load_plans(path: Path, config: BackupConfig) -> BackupPlans:
    """Read and validate a plans file against the config; raise InputError listing every problem."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(str(path), [Problem("", "must be a YAML mapping with a 'plans' key.")])
    return validate_plans(raw, config=config, source=str(path))


def validate_plans(raw: dict[str, Any], *, config: BackupConfig, source: str) -> BackupPlans:
    try:
        plans = BackupPlans.model_validate(raw)
    except ValidationError as exc:
        raise InputError(source, problems_from_validation_error(exc, BackupPlans)) from None
    problems = _plan_problems(plans, config)
    if not problems:
        naming = Naming(config)
        copy_targets = {naming.central_vault_arn(region) for region in config.central_regions} | {
            naming.vault_arn("$account", region, config.names.member_vault) for region in config.target_regions
        }
        for policy in render_policies(plans, config):
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


def _lifecycle_problems(where: str, lifecycle: Lifecycle, *, continuous: bool) -> list[Problem]:
    problems = []
    delete, cold = lifecycle.delete_after_days, lifecycle.move_to_cold_storage_after_days
    for name, days in (("delete_after_days", delete), ("move_to_cold_storage_after_days", cold)):
        if days is not None and not 1 <= days <= MAX_DAYS:
            problems.append(
                Problem(f"{where}.{name}", f"{days} is outside AWS Backup's range 1-{MAX_DAYS} days. Fix: adjust it.")
            )
    if delete is not None and cold is not None and delete < cold + COLD_MIN_DAYS:
        problems.append(
            Problem(
                f"{where}.delete_after_days",
                f"{delete} must be at least move_to_cold_storage_after_days ({cold}) + {COLD_MIN_DAYS} (AWS Backup keeps "
                f"cold storage at least {COLD_MIN_DAYS} days). Fix: raise it to {cold + COLD_MIN_DAYS} or move to cold "
                "storage earlier.",
            )
        )
    if continuous:
        if cold is not None:
            problems.append(
                Problem(
                    f"{where}.move_to_cold_storage_after_days",
                    "continuous backups cannot move to cold storage (AWS Backup). Fix: remove it.",
                )
            )
        if delete is None or not 1 <= delete <= MAX_CONTINUOUS_DAYS:
            problems.append(
                Problem(
                    f"{where}.delete_after_days",
                    f"{delete} is not allowed with enable_continuous_backup: AWS Backup keeps continuous backups "
                    f"1-{MAX_CONTINUOUS_DAYS} days. Fix: set 1-{MAX_CONTINUOUS_DAYS}.",
                )
            )
    return problems


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
    problems: list[Problem] = []
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
        for rule_name, rule in plan.rules.items():
            problems += _rule_problems(f"{at}.rules.{rule_name}", rule, regions, config)
            missing = [r for r in regions if r in config.target_regions and r not in config.central_regions]
            if rule.copy_to_central and missing:
                problems.append(
                    Problem(
                        f"{at}.rules.{rule_name}.copy_to_central",
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
    problems = [
        Problem(f"{at}.schedule", f"{p}. Fix: see the AWS cron reference.") for p in cron_problems(rule.schedule)
    ]
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
    problems += _lifecycle_problems(f"{at}.lifecycle", rule.lifecycle, continuous=continuous)
    problems += _lock_problem(f"{at}.lifecycle", rule.lifecycle.delete_after_days, config.vault_lock.member, "member")
    copies = len(rule.copy_to_regions) + (1 if rule.copy_to_central else 0)
    if copies > MAX_COPY_ACTIONS:
        problems.append(Problem(f"{at}", f"{copies} copy actions; at most {MAX_COPY_ACTIONS}. Fix: remove some."))
    if rule.copy_to_central:
        where = f"{at}.copy_to_central.lifecycle"
        lifecycle = rule.copy_to_central.lifecycle
        problems += _lifecycle_problems(where, lifecycle, continuous=False)
        problems += _lock_problem(where, lifecycle.delete_after_days, config.vault_lock.central, "central")
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
        problems += _lifecycle_problems(f"{where}.lifecycle", copy.lifecycle, continuous=False)
        problems += _lock_problem(
            f"{where}.lifecycle", copy.lifecycle.delete_after_days, config.vault_lock.member, "member"
        )
    return problems


def plan_regions(plan: Plan, config: BackupConfig) -> tuple[str, ...]:
    return config.target_regions if plan.regions == "all" else plan.regions


def plan_ous(plan: Plan, config: BackupConfig) -> tuple[str, ...]:
    return tuple(ou.id for ou in config.target_ous) if plan.target_ous == "all" else plan.target_ous


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
    return len(regions) > 1 and any(rule.copy_to_central for rule in plan.rules.values())


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
        copies: dict[str, Any] = {}
        if rule.copy_to_central:
            (region,) = regions  # render_plan gives a plan that copies to the central vault a single Region
            arn = naming.central_vault_arn(region)
            copies[arn] = {
                "target_backup_vault_arn": _assign(arn),
                "lifecycle": _lifecycle(rule.copy_to_central.lifecycle),
            }
        for region, copy in rule.copy_to_regions.items():
            arn = naming.vault_arn("$account", region, config.names.member_vault)
            copies[arn] = {"target_backup_vault_arn": _assign(arn), "lifecycle": _lifecycle(copy.lifecycle)}
        if copies:
            body["copy_actions"] = copies
        rules[rule_name] = body
    document: dict[str, Any] = {
        "regions": _assign(list(regions)),
        "rules": rules,
        "selections": {
            "tags": {
                name: {
                    "iam_role_arn": _assign(naming.role_arn("$account", config.names.backup_role)),
                    "tag_key": _assign(selection.tag_key),
                    "tag_value": _assign(list(selection.tag_values)),
                }
                for name, selection in plan.selections.items()
            }
        },
    }
    if plan.backup_plan_tags:
        document["backup_plan_tags"] = _tags(plan.backup_plan_tags)
    if plan.windows_vss:
        document["advanced_backup_settings"] = {"ec2": {"windows_vss": _assign("enabled")}}
    return document


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


# ---------------------------------------------------------------------------------------------------------------
# Document-level validation: the same rules applied to raw BACKUP_POLICY JSON (AWS's syntax), so hand-written or
# AWS-documented policies can be checked too, and every rendered document is checked once more before synth.
# ---------------------------------------------------------------------------------------------------------------

_OPERATORS = {"@@assign", "@@append", "@@remove"}
_BACKUP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,50}")
_CHILD_CONTROL = "@@operators_allowed_for_child_policies"
_PLAN_KEYS = {"regions", "rules", "selections", "advanced_backup_settings", "backup_plan_tags", "scan_settings"}
_RULE_KEYS = {
    "schedule_expression",
    "schedule_expression_timezone",
    "start_backup_window_minutes",
    "complete_backup_window_minutes",
    "lifecycle",
    "target_backup_vault_name",
    "target_logically_air_gapped_backup_vault_arn",
    "recovery_point_tags",
    "copy_actions",
    "enable_continuous_backup",
    "index_actions",
    "scan_actions",
}


def _leaf(node: Any, where: str, problems: list[Problem]) -> Any:
    """The value an inheritance operator sets; a bare value is an error (AWS requires an operator on every leaf)."""
    if isinstance(node, dict) and node.keys() & _OPERATORS:
        for operator in ("@@assign", "@@append"):
            if operator in node:
                return node[operator]
        return None  # only @@remove: nothing set here
    if isinstance(node, dict) and set(node) == {_CHILD_CONTROL}:
        return None
    problems.append(
        Problem(
            where, f'{node!r} is not wrapped in an inheritance operator. Fix: write {{"@@assign": {json.dumps(node)}}}.'
        )
    )
    return None


def _number(node: Any, where: str, problems: list[Problem]) -> int | None:
    value = _leaf(node, where, problems)
    if value is None:
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        problems.append(Problem(where, f"{value!r} is not a whole number (AWS expects a number as a string)."))
        return None
    return int(value)


def _doc_lifecycle(node: Any, where: str, problems: list[Problem], *, continuous: bool) -> int | None:
    if not isinstance(node, dict):
        problems.append(Problem(where, "must be an object."))
        return None
    delete = (
        _number(node["delete_after_days"], f"{where}.delete_after_days", problems)
        if "delete_after_days" in node
        else None
    )
    cold_node = node.get("move_to_cold_storage_after_days")
    cold = _number(cold_node, f"{where}.move_to_cold_storage_after_days", problems) if cold_node is not None else None
    lifecycle = Lifecycle(delete_after_days=delete, move_to_cold_storage_after_days=cold)
    problems += _lifecycle_problems(where, lifecycle, continuous=continuous)
    return delete


def validate_policy_document(
    document: Any,
    *,
    allowed_regions: tuple[str, ...] | None = None,
    allowed_copy_targets: set[str] | None = None,
) -> list[Problem]:
    """Problems of one BACKUP_POLICY document in AWS syntax (empty when valid).

    ``allowed_regions`` / ``allowed_copy_targets`` add this project's context (target Regions, vaults it
    creates); without them only AWS's own rules apply.
    """
    from org_backup.regions import partition_of

    problems: list[Problem] = []
    size = len(dumps(document))
    if size > MAX_POLICY_CHARS:
        problems.append(
            Problem(
                "", f"is {size} characters minified; AWS Organizations allows {MAX_POLICY_CHARS}.", POLICY_TOO_LARGE
            )
        )
    plans = document.get("plans") if isinstance(document, dict) else None
    if not isinstance(plans, dict) or not plans:
        return [*problems, Problem("plans", "is missing or empty: a backup policy holds at least one plan.")]
    for plan_name, plan in plans.items():
        at = f"plans.{plan_name}"
        if not isinstance(plan, dict):
            problems.append(Problem(at, "must be an object."))
            continue
        if not _BACKUP_NAME.fullmatch(plan_name):
            problems.append(
                Problem(
                    at,
                    f"{plan_name!r} is not a valid backup plan name (AWS Backup: 1-50 letters, digits, '-', '_' or "
                    "'.'; org-backup appends '-<region>' and '-<rule>' when it splits a plan). Fix: shorten the plan "
                    "or rule name.",
                )
            )
        for key in sorted(set(plan) - _PLAN_KEYS - {_CHILD_CONTROL}):
            problems.append(Problem(f"{at}.{key}", f"unknown plan element. Allowed: {', '.join(sorted(_PLAN_KEYS))}."))
        regions = _leaf(plan["regions"], f"{at}.regions", problems) if "regions" in plan else None
        for region in regions or []:
            if partition_of(region) is None and region != "$region":
                problems.append(Problem(f"{at}.regions", f"{region!r} is not an AWS Region code."))
            elif allowed_regions is not None and region not in allowed_regions:
                problems.append(
                    Problem(f"{at}.regions", f"{region!r} is not a target Region ({', '.join(allowed_regions)}).")
                )
        rules = plan.get("rules", {})
        if len(rules) > MAX_RULES:
            problems.append(Problem(f"{at}.rules", f"{len(rules)} rules; at most {MAX_RULES}."))
        for rule_name, rule in rules.items():
            problems += _doc_rule_problems(f"{at}.rules.{rule_name}", rule, allowed_copy_targets)
        tags = plan.get("selections", {}).get("tags", {})
        if len(tags) > MAX_SELECTIONS:
            problems.append(Problem(f"{at}.selections.tags", f"{len(tags)} tag selections; at most {MAX_SELECTIONS}."))
        for sel_name, selection in tags.items():
            values = _leaf(selection.get("tag_value"), f"{at}.selections.tags.{sel_name}.tag_value", problems)
            if values is not None and len(values) > MAX_TAG_VALUES:
                problems.append(
                    Problem(
                        f"{at}.selections.tags.{sel_name}.tag_value", f"{len(values)} values; at most {MAX_TAG_VALUES}."
                    )
                )
    return problems


def _doc_rule_problems(at: str, rule: Any, allowed_copy_targets: set[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(rule, dict):
        return [Problem(at, "must be an object.")]
    for key in sorted(set(rule) - _RULE_KEYS - {_CHILD_CONTROL}):
        problems.append(Problem(f"{at}.{key}", "unknown rule element (see AWS's backup policy syntax)."))
    if "schedule_expression" in rule:
        schedule = _leaf(rule["schedule_expression"], f"{at}.schedule_expression", problems)
        if schedule is not None:
            problems += [Problem(f"{at}.schedule_expression", p) for p in cron_problems(str(schedule))]
    start = (
        _number(rule["start_backup_window_minutes"], f"{at}.start_backup_window_minutes", problems)
        if "start_backup_window_minutes" in rule
        else None
    )
    complete = (
        _number(rule["complete_backup_window_minutes"], f"{at}.complete_backup_window_minutes", problems)
        if "complete_backup_window_minutes" in rule
        else None
    )
    if start is not None and not MIN_START_WINDOW <= start <= MAX_WINDOW_MINUTES:
        problems.append(
            Problem(f"{at}.start_backup_window_minutes", f"{start} is outside {MIN_START_WINDOW}-{MAX_WINDOW_MINUTES}.")
        )
    if complete is not None and not (start or MIN_START_WINDOW) < complete <= MAX_WINDOW_MINUTES:
        problems.append(
            Problem(
                f"{at}.complete_backup_window_minutes",
                f"{complete} must exceed the start window ({start or MIN_START_WINDOW}) and be at most {MAX_WINDOW_MINUTES}.",
            )
        )
    continuous = (
        "enable_continuous_backup" in rule
        and str(_leaf(rule["enable_continuous_backup"], f"{at}.enable_continuous_backup", problems)).lower() == "true"
    )
    if "lifecycle" in rule:
        _doc_lifecycle(rule["lifecycle"], f"{at}.lifecycle", problems, continuous=continuous)
    copies = rule.get("copy_actions", {})
    if len(copies) > MAX_COPY_ACTIONS:
        problems.append(Problem(f"{at}.copy_actions", f"{len(copies)} copy actions; at most {MAX_COPY_ACTIONS}."))
    for key, copy in copies.items():
        where = f"{at}.copy_actions.{key}"
        target = _leaf(copy.get("target_backup_vault_arn"), f"{where}.target_backup_vault_arn", problems)
        if target is not None and target != key:
            problems.append(
                Problem(where, f"key differs from target_backup_vault_arn {target!r}; AWS requires them to be equal.")
            )
        if allowed_copy_targets is not None and key not in allowed_copy_targets:
            problems.append(Problem(where, "is not a vault org-backup creates (central vault or a member vault)."))
        if "lifecycle" in copy:
            _doc_lifecycle(copy["lifecycle"], f"{where}.lifecycle", problems, continuous=False)
    return problems
