"""The ``monitoring`` and ``restore_testing`` sections of the configuration: who hears about failed jobs, and
which restores are tested.

Kept beside ``model.py`` (which imports it) so that file stays readable; like the rest of the model it reads no
file and holds no rule that needs another section (those are in ``config_rules``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from org_backup.config.formats import Schedule, TimeZone
from org_backup.config.validation import AccountId, EmailAddress, HttpsUrl, Model, Region, with_pattern


class Alerts(Model):
    """Job-failure alerts: every member account and Region forwards AWS Backup's failed, aborted, expired and
    partial job events to one event bus in the monitoring account and Region, which publishes a readable message
    to an SNS topic with these subscriptions."""

    enabled: bool | None = Field(
        default=None,
        description="Deploy the alert path. Default: on when at least one email or HTTPS endpoint is given. Set true "
        "to deploy the topic without subscriptions (subscribe something else to it yourself); false to turn it off.",
    )
    emails: tuple[EmailAddress, ...] = Field(
        default=(), description="Subscribed to the alert topic (each address confirms once, by the link AWS mails)."
    )
    https_endpoints: tuple[HttpsUrl, ...] = Field(
        default=(), description="HTTPS endpoints subscribed to the alert topic (they must confirm the subscription)."
    )

    @property
    def active(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        return bool(self.emails or self.https_endpoints)


class Monitoring(Model):
    """Where alerts are gathered. The monitoring account must be one org-backup already deploys to (the central
    account, the default, or a member account), so its deploy role exists there."""

    account_id: AccountId | None = Field(
        default=None, description="Account holding the alert bus and topic. Default: the central backup account."
    )
    region: Region | None = Field(
        default=None,
        description="Region of the alert bus and topic. Default: the first Region of the monitoring account's stack "
        "(the first central Region for the central account, the first target Region for a member account).",
    )
    alerts: Alerts = Field(default_factory=Alerts)


# The types a restore testing selection accepts (AWS Backup API reference, RestoreTestingSelectionForCreate,
# ProtectedResourceType).
RestoreTestType = Literal["Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "Neptune", "RDS", "S3"]
# AWS Backup: restore testing plan and selection names are "alphanumeric characters and underscores", at most 50.
RestoreTestName = Annotated[
    str,
    with_pattern(
        r"[A-Za-z0-9_]{1,50}",
        "a restore testing name",
        "AWS Backup: 1-50 letters, digits and underscores",
        "replace '-' and spaces with '_'.",
        "daily_ebs",
    ),
]


class RestoreTestSelection(Model):
    """Which protected resources of one type a restore test restores. AWS Backup restores "one eligible recovery
    point per protected resource in selection" on every run (AWS Backup Developer Guide, "Restore testing",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing.html, "Recovery point determination")."""

    # Tag conditions are evaluated "by checking the tags on the latest recovery point within the backup vault"
    # (same page, "Refine resource selection using tags"), and the tests restore from the central vault, whose
    # recovery points are cross-account copies. AWS documents the tags of a copy for cross-Region copies only ("If you
    # copy your backup to another AWS Region, AWS Backup copies all tags of the original backup to the destination
    # AWS Region", "Copy tags onto backups", https://docs.aws.amazon.com/aws-backup/latest/devguide/tags-on-backups.html);
    # for cross-account copies it says nothing, so a tag condition could match no recovery point, silently.
    retired_keys: ClassVar[dict[str, str]] = {
        "tags": "is no longer supported: AWS Backup matches restore-testing tags against the latest recovery point "
        "in the vault, and the central vault holds cross-account copies, whose tags AWS does not document (it "
        "documents tag copy for cross-Region copies only: AWS Backup, 'Copy tags onto backups'), so a tag selection "
        "could silently test nothing. Fix: replace it with protected_resource_arns: the ARNs of the source resources "
        "to test (at most 30), or ['*'] for every protected resource of the type.",
    }

    name: RestoreTestName = Field(description="Selection name (letters, digits, underscores; unique in the plan).")
    resource_type: RestoreTestType = Field(description="Protected resource type to restore.")
    protected_resource_arns: tuple[str, ...] = Field(
        min_length=1,
        max_length=30,
        description="The protected resources whose latest recovery point in the central vault is restored on every "
        "run, at most 30 (AWS Backup API, RestoreTestingSelectionForCreate): their ARNs as `aws backup "
        "list-protected-resources-by-backup-vault` lists them for the central vault (the resources the copies were "
        "backed up from), or ['*'] for every protected resource of the type in the vault. Each is restored on every "
        "run and costs what its restored resource costs while it exists.",
    )
    validation_window_hours: int = Field(
        default=4,
        ge=1,
        le=168,
        description="How long the restored resource is kept for the validation function before AWS Backup deletes "
        "it (1-168 hours: AWS Backup API, RestoreTestingSelectionForCreate, ValidationWindowHours).",
    )
    restore_metadata_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="Restore metadata AWS Backup should not infer (AWS Backup, 'Restore testing inferred metadata'). "
        "Required where AWS would otherwise restore into the default VPC: subnetId for EC2, dbSubnetGroupName for "
        "RDS, Aurora, DocumentDB and Neptune. List values are JSON arrays in a string, e.g. "
        "{securityGroupIds: '[\"sg-0123456789abcdef0\"]'}.",
    )


class RestoreTesting(Model):
    """Scheduled restore tests: AWS Backup restores the latest recovery point of each selected resource from the
    central vault, the validation function checks the restored resource and reports the result, and AWS Backup
    deletes it after the validation window. On when at least one selection is given."""

    account_id: AccountId | None = Field(
        default=None,
        description="Account that runs the restore tests. Default, and for now the only account accepted: the "
        "central backup account, whose vault holds the copies to test. AWS recommends a dedicated restore-test "
        "account, which would need its own vault receiving copies (AWS Backup restores only within the account that "
        "holds the recovery point); org-backup does not create one yet.",
    )
    regions: tuple[Region, ...] | None = Field(
        default=None,
        min_length=1,
        description="Central Regions that run restore tests (default: the first central Region). Each restores from "
        "the central vault of its Region.",
    )
    schedule: Schedule = Field(
        default="cron(0 5 ? * SAT *)",
        description="When tests start: an AWS cron expression, 6 fields (default: Saturdays 05:00).",
    )
    schedule_timezone: TimeZone = Field(default="Etc/UTC", description="IANA time zone of the schedule.")
    start_window_hours: int = Field(
        default=24, ge=1, le=168, description="Hours after the scheduled time within which a test must start (1-168)."
    )
    recovery_point_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Test the latest recovery point created within this many days (1-365).",
    )
    selections: tuple[RestoreTestSelection, ...] = Field(default=(), description="What to test; none: no tests.")

    @property
    def active(self) -> bool:
        return bool(self.selections)


class ScopeTag(Model):
    key: str = Field(min_length=1, max_length=128, description="Tag key.")
    value: str = Field(default="", max_length=256, description="Tag value (empty: any value).")


class FrameworkControls(Model):
    """The controls of AWS Backup Audit Manager that each framework evaluates (AWS Backup Developer Guide,
    "Choosing your controls"); parameters are derived from the backup plans that apply to the account and Region."""

    resources_protected_by_backup_plan: bool = Field(default=True, description="Resources are in a backup plan.")
    plan_minimum_frequency_and_retention: bool = Field(
        default=True, description="Every backup plan runs at least as often and keeps at least as long as ours do."
    )
    recovery_point_minimum_retention: bool = Field(
        default=True, description="Recovery points are kept at least as long as the shortest retention of our plans."
    )
    recovery_points_encrypted: bool = Field(default=True, description="Recovery points are encrypted.")
    manual_deletion_disabled: bool = Field(
        default=True, description="Vaults let no one but the deploy role delete recovery points."
    )
    last_recovery_point_created: bool = Field(
        default=False,
        description="A recovery point exists no older than our plans' longest gap between runs plus the job window. "
        "Off by default: AWS measures at most 31 days, and a monthly plan's gap plus its window exceeds that.",
    )
    protected_by_vault_lock: bool = Field(
        default=True, description="Resources are backed up into a locked vault (needs vault_lock.member)."
    )
    cross_account_copy: bool = Field(default=True, description="Resources have a cross-account copy scheduled.")
    cross_region_copy: bool = Field(
        default=False, description="Resources have a cross-Region copy scheduled (plans with copy_to_regions)."
    )


class Frameworks(Model):
    enabled: bool = Field(
        default=False, description="An AWS Backup Audit Manager framework in every member account and Region."
    )
    controls: FrameworkControls = Field(default_factory=FrameworkControls)
    scope_tag: ScopeTag | None = Field(
        default=None,
        description="Evaluate only resources with this tag (AWS allows one tag key and optional value); default: "
        "every resource of the types AWS Backup supports.",
    )


ReportTemplate = Literal[
    "BACKUP_JOB_REPORT",
    "COPY_JOB_REPORT",
    "RESTORE_JOB_REPORT",
    "RESOURCE_COMPLIANCE_REPORT",
    "CONTROL_COMPLIANCE_REPORT",
]


class Reports(Model):
    """Organization-wide AWS Backup Audit Manager report plans, in the delegated administrator account for AWS
    Backup (cross-account reports can only be created there or in the management account)."""

    enabled: bool = Field(default=False, description="Create the report plans and their bucket.")
    region: Region | None = Field(
        default=None, description="Region of the report plans and bucket. Default: the account's first Region."
    )
    templates: tuple[ReportTemplate, ...] = Field(
        default=(
            "BACKUP_JOB_REPORT",
            "COPY_JOB_REPORT",
            "RESTORE_JOB_REPORT",
            "RESOURCE_COMPLIANCE_REPORT",
            "CONTROL_COMPLIANCE_REPORT",
        ),
        min_length=1,
        description="One report plan per template.",
    )
    formats: tuple[Literal["CSV", "JSON"], ...] = Field(
        default=("CSV",),
        min_length=1,
        description="Report file formats. The report plans are organization-wide (cross-account, cross-Region), "
        "which AWS delivers in CSV only; JSON is for single-account, single-Region reports and is refused here.",
    )
    retention_days: int = Field(
        default=731, ge=1, le=3650, description="Reports (and their old versions) are deleted after this many days."
    )


class Audit(Model):
    frameworks: Frameworks = Field(default_factory=Frameworks)
    reports: Reports = Field(default_factory=Reports)
