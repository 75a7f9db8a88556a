"""The data model of ``policies/backup_plans.yaml`` (plans, rules, selections) and its limits; the rules that check
it are in ``plan_rules``, the renderer in ``plan_render`` (``backup_policy`` says where each rule comes from)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from org_backup.config.errors import Problem
from org_backup.config.model import BackupConfig
from org_backup.config.resource_types import SelectableType
from org_backup.config.validation import Model, OuId, Region, Tags, non_empty, with_pattern

# AWS Organizations, "Quotas and service limits for AWS Organizations"
# (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html), "Maximum size of a policy
# document": "Backup policies: 10,000 characters"; and "If you save the policy using an SDK operation or the AWS CLI,
# then the policy is saved exactly as you provided". The provider passes the content string through unchanged
# (terraform-provider-aws, internal/service/organizations/policy.go: CreatePolicyInput Content d.Get("content")), so
# AWS counts the length of the string org-backup renders: policy_docs.dumps, minified, non-ASCII escaped as \uXXXX.
MAX_POLICY_CHARS = 10_000
# AWS Organizations API, CreatePolicy (https://docs.aws.amazon.com/organizations/latest/APIReference/API_CreatePolicy.html):
# Description "Length Constraints: Maximum length of 512"; Name at most 128 (botocore's organizations model, shape
# PolicyName: min 1, max 128).
MAX_DESCRIPTION = 512
MAX_POLICY_NAME = 128
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


# AWS Organizations backup policy syntax, index_actions: "resource types supported for indexing are Amazon EBS and
# Amazon S3".
Indexable = Literal["EBS", "S3"]


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
    # The reference solution's windows (aws-samples/backup-recovery-with-aws-backup, aws-backup-org-policy.yaml:
    # start_backup_window_minutes 60, complete_backup_window_minutes 1200).
    start_window_minutes: int = Field(
        default=60, description="Minutes after the scheduled time a job may still start (>= 60; default 60)."
    )
    complete_window_minutes: int = Field(
        default=1200, description="Minutes after the scheduled time a job must be done (default 1200)."
    )
    lifecycle: Lifecycle = Field(description="Retention of the recovery points in the member vault.")
    enable_continuous_backup: bool = Field(default=False, description="Continuous backup (PITR, <= 35 days).")
    recovery_point_tags: Tags = Field(default_factory=dict, description="Tags put on every recovery point.")
    copy_to_central: CopyAction | None = Field(
        default=None, description="Copy every recovery point to the central vault (the ARN is computed)."
    )
    copy_to_air_gapped: CopyAction | None = Field(
        default=None,
        description="Copy every recovery point to the central account's logically air-gapped vault of the same Region "
        "(central_backup.air_gapped); its delete_after_days must lie within that vault's retention bounds.",
    )
    copy_to_regions: dict[Region, CopyAction] = Field(
        default_factory=dict, description="Extra copies to the member vault of the same account in these Regions."
    )
    index_actions: tuple[Indexable, ...] = Field(
        default=(),
        description="Build a backup index of these recovery points for backup search: EBS and/or S3, the only types "
        "AWS Backup indexes. EBS indexing needs more of the backup role (AWSBackupServiceRolePolicyForIndexing), "
        "which org-backup then attaches in the accounts the plan applies to.",
    )

    @property
    def copies_to_the_central_account(self) -> bool:
        """A copy whose target ARN names the central account and one Region: rendered once per Region."""
        return self.copy_to_central is not None or self.copy_to_air_gapped is not None


class Selection(Model):
    tag_key: str = Field(min_length=1, max_length=128, description="Resources with this tag key ...")
    tag_values: tuple[str, ...] = Field(min_length=1, description="... and one of these values are backed up.")
    resource_types: tuple[SelectableType, ...] = Field(
        default=(),
        description="Only resources of these types (default: every type). Required in a plan that copies to the "
        "air-gapped vault, which takes only some types. A plan that names types is rendered as AWS's 'resources' "
        "selections, one per tag value.",
    )


def _policy_name_optional(schema: dict[str, Any]) -> None:
    """The schema editors read: policy_name may be left out (BackupPlans fills in the plan's key)."""
    schema["required"] = [name for name in schema.get("required", []) if name != "policy_name"]


class Plan(Model):
    model_config = ConfigDict(**Model.model_config, json_schema_extra=_policy_name_optional)

    policy_name: PolicyName = Field(
        description="Name of the AWS Organizations policy that carries this plan (default: the plan's key)."
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION, description="Description of that policy.")
    target_ous: (
        Literal["all"]
        | Annotated[
            tuple[OuId, ...],
            non_empty(
                "attaches the plan's policy to no OU: it would be created and protect nothing",
                "list the OU ids it applies to, or write all (every target OU).",
            ),
        ]
    ) = Field(default="all", description="'all' target OUs of backup.yaml, or a list of their ids.")
    regions: (
        Literal["all"]
        | Annotated[
            tuple[Region, ...],
            non_empty(
                "backs up in no Region: AWS needs at least one in a plan",
                "list the Regions, or write all (every target Region).",
            ),
        ]
    ) = Field(default="all", description="'all' target Regions of backup.yaml, or a subset.")
    rules: dict[BackupName, Rule] = Field(min_length=1, description="Backup rules of the plan.")
    selections: dict[BackupName, Selection] = Field(min_length=1, description="Tag selections of the plan.")
    backup_plan_tags: Tags = Field(default_factory=dict, description="Tags on the backup plan itself.")
    windows_vss: bool = Field(default=False, description="Windows VSS for EC2 instances (advanced backup setting).")

    @property
    def selects_by_resource_type(self) -> bool:
        return any(selection.resource_types for selection in self.selections.values())


class BackupPlans(Model):
    """The organization's backup plans; each plan becomes one BACKUP_POLICY, or, when its document is too large for
    one, as few as hold it (plan_render.render_policies)."""

    example_file: ClassVar[str] = "policies/backup_plans.yaml"  # named in the fix of a missing key
    plans: dict[BackupName, Plan] = Field(min_length=1)
    retired_plans: tuple[BackupName, ...] = Field(
        default=(),
        description="Backup plans deliberately removed (or renamed: the old name): make plan refuses a plan that "
        "deletes a deployed backup plan not listed here, because AWS then deletes it from every account it applied "
        "to and no new backups are made under it (its recovery points stay until they expire).",
    )

    @model_validator(mode="before")
    @classmethod
    def _name_policies_after_their_plans(cls, raw: Any) -> Any:
        """A plan without policy_name is carried by a policy named like the plan (its key is a valid policy name:
        AWS Backup's name characters are a subset of Organizations')."""
        if not isinstance(raw, dict) or not isinstance(raw.get("plans"), dict):
            return raw
        plans = {
            key: ({"policy_name": key, **plan} if isinstance(plan, dict) and "policy_name" not in plan else plan)
            for key, plan in raw["plans"].items()
        }
        return {**raw, "plans": plans}


@dataclass(frozen=True)
class RenderedPolicy:
    """One AWS Organizations BACKUP_POLICY ready for the management stack."""

    name: str
    description: str
    content: str
    target_ous: tuple[str, ...]
    plan: str
    # A plan too large for one policy: which part this is and what it holds, e.g. "1 of 2: eu-west-1, eu-central-1"
    # (one backup plan per Region), "2 of 3: eu-west-1 rule Daily, ..." (per Region and rule), "1 of 2: rule Daily".
    split: str | None = None


def plan_regions(plan: Plan, config: BackupConfig) -> tuple[str, ...]:
    return config.target_regions if plan.regions == "all" else plan.regions


def plan_ous(plan: Plan, config: BackupConfig) -> tuple[str, ...]:
    return tuple(ou.id for ou in config.target_ous) if plan.target_ous == "all" else plan.target_ous


def indexes_ebs(plans: BackupPlans, config: BackupConfig, ou_id: str) -> bool:
    """Whether a plan that applies to the OU builds EBS backup indexes (its accounts' backup role needs more)."""
    return any(
        "EBS" in rule.index_actions
        for plan in plans.plans.values()
        if ou_id in plan_ous(plan, config)
        for rule in plan.rules.values()
    )


def lifecycle_problems(where: str, lifecycle: Lifecycle, *, continuous: bool) -> list[Problem]:
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
