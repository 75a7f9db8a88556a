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
| minified document <= 10,000 characters (else cut per Region, then per rule, packed into as few policies as hold it) | AWS Organizations quotas: backup policy maximum size, counted as sent through the SDK |
| <= 10 backup policies and <= 5 SCPs (FullAWSAccess included) attached by org-backup to one OU or account | AWS Organizations, managing policies: maximum number you can attach to a root, OU, or account (``organizations_limits``) |
| rendered policy names unique and <= 128 characters | AWS Organizations API CreatePolicy, Name |
"""

from __future__ import annotations

from org_backup.config.templates import DEFAULT_PLANS_FILE
from org_backup.plans.document import validate_policy_document
from org_backup.plans.model import (
    MAX_POLICY_CHARS,
    BackupPlans,
    Plan,
    RenderedPolicy,
    plan_ous,
    plan_regions,
)
from org_backup.plans.render import render_plan, render_policies
from org_backup.plans.rules import load_plans, validate_plans

__all__ = [
    "DEFAULT_PLANS_FILE",
    "MAX_POLICY_CHARS",
    "BackupPlans",
    "Plan",
    "RenderedPolicy",
    "load_plans",
    "plan_ous",
    "plan_regions",
    "render_plan",
    "render_policies",
    "validate_plans",
    "validate_policy_document",
]
