"""The controls of each member account's AWS Backup Audit Manager framework, with parameters derived from the backup
plans that apply to its OU and Region, so the framework checks exactly what the plans promise.

AWS Backup Developer Guide, "Choosing your controls" and "Creating frameworks using the AWS Backup API" (control
names and parameter names); AWS Config, backup-plan-min-frequency-and-min-retention-check ("Maximum of 24 for
hours, 31 for days") and the *-last-backup-recovery-point-created rules ("No more than 744 for hours, 31 for days").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from org_backup.config.cron import longest_gap_hours
from org_backup.config.errors import Problem
from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming
from org_backup.plans.model import BackupPlans, Plan, Rule, plan_ous, plan_regions

MAX_FREQUENCY_HOURS, MAX_FREQUENCY_DAYS = 24, 31
MAX_AGE_HOURS, MAX_AGE_DAYS = 744, 31


@dataclass(frozen=True)
class Control:
    name: str
    parameters: tuple[tuple[str, str], ...] = ()
    scoped: bool = True  # takes the configured scope tag (controls on resources, not on vaults)


@cache
def _gap(schedule: str) -> int | None:
    return longest_gap_hours(schedule)


def _applicable(plans: BackupPlans, config: BackupConfig, ou_id: str, region: str) -> list[tuple[str, Plan]]:
    return [
        (name, plan)
        for name, plan in plans.plans.items()
        if ou_id in plan_ous(plan, config) and region in plan_regions(plan, config)
    ]


def _as_unit(hours: int, max_hours: int, max_days: int) -> tuple[str, int] | None:
    if hours <= max_hours:
        return "hours", hours
    days = math.ceil(hours / 24)
    return ("days", days) if days <= max_days else None


def _most_frequent(plan: Plan) -> tuple[str, Rule, int]:
    """The plan's rule that runs most often, with its longest gap (a plan without one never runs twice a year)."""
    gaps = [(name, rule, _gap(rule.schedule)) for name, rule in plan.rules.items()]
    known = [(name, rule, gap) for name, rule, gap in gaps if gap is not None]
    return min(known, key=lambda item: item[2]) if known else (gaps[0][0], gaps[0][1], 10**9)


def controls(
    config: BackupConfig, plans: BackupPlans, account_id: str, ou_id: str, region: str
) -> tuple[tuple[Control, ...], list[Problem]]:
    """The framework of one member account and Region, or the problems that keep a chosen control from being
    expressed (AWS's parameter bounds)."""
    chosen = config.audit.frameworks.controls
    applicable = _applicable(plans, config, ou_id, region)
    where = "audit.frameworks.controls"
    problems: list[Problem] = []
    result: list[Control] = []
    if chosen.resources_protected_by_backup_plan:
        result.append(Control("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN"))
    retentions = [
        rule.lifecycle.delete_after_days
        for _, plan in applicable
        for rule in plan.rules.values()
        if rule.lifecycle.delete_after_days is not None
    ]
    if chosen.recovery_point_minimum_retention and applicable:
        # Recovery points of rules without expiry meet any minimum; 1 day when no rule expires at all.
        result.append(
            Control(
                "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
                (("requiredRetentionDays", str(min(retentions, default=1))),),
            )
        )
    best = [(name, *_most_frequent(plan)) for name, plan in applicable]
    if chosen.plan_minimum_frequency_and_retention and best:
        worst_gap = max(gap for *_, gap in best)
        unit = _as_unit(worst_gap, MAX_FREQUENCY_HOURS, MAX_FREQUENCY_DAYS)
        keep = [rule.lifecycle.delete_after_days for _, _, rule, _ in best]
        if unit is None:
            plan_name = max(best, key=lambda item: item[3])[0]
            problems.append(
                Problem(
                    f"{where}.plan_minimum_frequency_and_retention",
                    f"plan {plan_name!r} runs less often than every {MAX_FREQUENCY_DAYS} days (its most frequent "
                    f"rule leaves gaps of {worst_gap} hours), and AWS's control measures at most {MAX_FREQUENCY_DAYS} "
                    "days. Fix: set it to false, or schedule that plan more often.",
                )
            )
        else:
            result.append(
                Control(
                    "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
                    (
                        ("requiredFrequencyUnit", unit[0]),
                        ("requiredFrequencyValue", str(unit[1])),
                        ("requiredRetentionDays", str(min((k for k in keep if k is not None), default=1))),
                    ),
                    scoped=False,
                )
            )
    if chosen.recovery_points_encrypted:
        result.append(Control("BACKUP_RECOVERY_POINT_ENCRYPTED"))
    if chosen.manual_deletion_disabled:
        deploy_role = Naming(config).role_arn(account_id, config.names.deploy_role)
        result.append(
            Control("BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED", (("principalArnList", deploy_role),), False)
        )
    if chosen.last_recovery_point_created and best:
        # A recovery point is due at most one gap plus the job's completion window after the previous one.
        age = max(gap + math.ceil(rule.complete_window_minutes / 60) for _, _, rule, gap in best)
        unit = _as_unit(age, MAX_AGE_HOURS, MAX_AGE_DAYS)
        if unit is None:
            problems.append(
                Problem(
                    f"{where}.last_recovery_point_created",
                    f"a plan's recovery points may be {age} hours apart, beyond the {MAX_AGE_DAYS} days AWS's "
                    "control measures. Fix: set it to false, or schedule the plans more often.",
                )
            )
        else:
            result.append(
                Control(
                    "BACKUP_LAST_RECOVERY_POINT_CREATED",
                    (("recoveryPointAgeUnit", unit[0]), ("recoveryPointAgeValue", str(unit[1]))),
                )
            )
    if chosen.protected_by_vault_lock:
        result.append(Control("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK"))
    if chosen.cross_account_copy:
        result.append(Control("BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT"))
    if chosen.cross_region_copy:
        result.append(Control("BACKUP_RESOURCES_PROTECTED_BY_CROSS_REGION"))
    return tuple(result), problems


def framework_problems(config: BackupConfig, plans: BackupPlans) -> list[Problem]:
    """Every problem of every member account's framework, once each (they depend on OU and Region only)."""
    frameworks = config.audit.frameworks
    if not frameworks.enabled:
        return []
    where = "audit.frameworks.controls"
    problems: list[Problem] = []
    if frameworks.controls.protected_by_vault_lock and config.vault_lock.member is None:
        problems.append(
            Problem(
                f"{where}.protected_by_vault_lock",
                "is on, but vault_lock.member is not set: every resource would be reported non-compliant. Fix: set "
                "vault_lock.member, or set this control to false.",
            )
        )
    if frameworks.controls.cross_region_copy and not any(
        rule.copy_to_regions for plan in plans.plans.values() for rule in plan.rules.values()
    ):
        problems.append(
            Problem(
                f"{where}.cross_region_copy",
                "is on, but no plan rule has copy_to_regions: every resource would be reported non-compliant. Fix: "
                "add copy_to_regions to a rule, or set this control to false.",
            )
        )
    seen: set[str] = set()
    for ou in config.target_ous:
        for region in config.target_regions:
            for problem in controls(config, plans, config.central_backup.account_id, ou.id, region)[1]:
                if problem.message not in seen:
                    seen.add(problem.message)
                    problems.append(problem)
    return problems
