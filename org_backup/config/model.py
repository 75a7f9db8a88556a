"""The one configuration model: loaded and validated once (``config_loader.load_config``, from ``main.py`` and the
CLI), then passed down as typed objects. The model reads no file.

Validation has two passes. Pydantic checks each field (ids, Regions, names, bounds) and reports every field error
at once. Only when every field is well-formed do the cross-field rules run (``config_rules``: duplicates, which
account may be what), again collecting every problem. Either pass ends in one ``InputError`` listing them all,
each naming the field path, the bad value, the AWS rule and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from org_backup.config.formats import KeyPrefix
from org_backup.config.guardrails import Guardrails, OuSelection
from org_backup.config.monitoring import Audit, Monitoring, RestoreTesting
from org_backup.config.pipeline import Pipeline
from org_backup.config.region_settings import RegionSettings
from org_backup.config.regions import partition_of
from org_backup.config.templates import DEFAULT_PLANS_FILE
from org_backup.config.validation import (
    AccountId,
    BucketName,
    KmsAlias,
    Model,
    OrgId,
    OuId,
    Region,
    RoleName,
    RoleTags,
    VaultName,
)
from org_backup.config.vaults import AirGapped, VaultLocks

DEFAULT_CONFIG = "backup.yaml"


class Organization(Model):
    id: OrgId = Field(description="AWS Organizations id (o-...). Cross-account copies are only allowed inside it.")
    management_account_id: AccountId = Field(
        description="The management account: owns backup policies and SCPs; never a member (policies don't apply to it)."
    )
    backup_delegated_admin_account_id: AccountId | None = Field(
        default=None,
        description="Optional member account registered as delegated administrator for AWS Backup "
        "(backup.amazonaws.com), e.g. for cross-account monitoring.",
    )
    policy_admin_account_id: AccountId | None = Field(
        default=None,
        description="The account whose deploy role manages the backup policies and SCPs, through the organization's "
        "delegation policy (default: backup_delegated_admin_account_id; without either, the management account). "
        "It needs org-backup's roles: the central account or a member account. The management account's own id "
        "keeps them there, and the pipeline then assumes a role in the management account.",
    )


class CentralBackup(Model):
    account_id: AccountId = Field(description="The isolated account holding the central vault that receives copies.")
    regions: tuple[Region, ...] | None = Field(
        default=None,
        min_length=1,
        description="Regions with a central vault (default: every target Region). Each member Region's backups are "
        "copied to the central vault in that same Region, so every Region a plan copies from needs one.",
    )
    air_gapped: AirGapped | None = Field(
        default=None,
        description="Off unless set: a logically air-gapped vault beside the central vault in every central Region, "
        "which plans may copy to (copy_to_air_gapped), shared for recovery through AWS RAM.",
    )


class TargetOu(Model):
    id: OuId = Field(description="Organizational unit whose accounts are protected.")
    name: str = Field(min_length=1, max_length=128, description="Human-readable name, used in summaries only.")
    accounts: tuple[AccountId, ...] = Field(
        default=(),
        description="Member accounts of this OU (each gets a member-<id> stack). Leave out when accounts_file is set: "
        "the accounts then come from the discovered snapshot.",
    )


class Exclusion(Model):
    reason: str = Field(min_length=1, max_length=256, description="Why it is excluded (kept in the snapshot file).")


class ExcludedAccount(Exclusion):
    id: AccountId = Field(description="Account that gets no member stack.")


class ExcludedOu(Exclusion):
    id: OuId = Field(description="Nested OU (inside a target OU) whose accounts, and child OUs, are skipped.")


class Discovery(Model):
    """What `python -m org_backup discover` leaves out. The OUs' backup policies still reach excluded accounts by
    inheritance; exclude only accounts protected some other way, or move them out of the target OU."""

    exclude_accounts: tuple[ExcludedAccount, ...] = Field(default=(), description="Accounts to leave out.")
    exclude_ous: tuple[ExcludedOu, ...] = Field(
        default=(), description="Nested OUs to leave out, with everything in them."
    )


class Names(Model):
    """Names of what this project creates. Defaults are the reference solution's, so an existing estate maps 1:1."""

    member_vault: VaultName = Field(
        default="AWSBackupSolutionVault", description="Vault in every member account/Region."
    )
    central_vault: VaultName = Field(
        default="AWSBackupSolutionCentralVault", description="Vault in the central account."
    )
    air_gapped_vault: VaultName = Field(
        default="AWSBackupSolutionAirGappedVault",
        description="Logically air-gapped vault in the central account (central_backup.air_gapped).",
    )
    member_key_alias: KmsAlias = Field(
        default="alias/AWSBackupSolutionKey", description="KMS alias of member vault keys."
    )
    central_key_alias: KmsAlias = Field(
        default="alias/AWSBackupSolutionCentralKey", description="KMS alias of central vault keys."
    )
    backup_role: RoleName = Field(
        default="AWSBackupSolutionRole", description="IAM role AWS Backup uses in every account."
    )
    deploy_role: RoleName = Field(
        default="OrgBackupDeployRole", description="Role the deployment assumes in every account (must exist there)."
    )
    plan_role: RoleName = Field(
        default="OrgBackupPlanRole",
        description="Read-only role the pipeline's Plan stage and pull requests assume in every account.",
    )
    tag_reapply_role: RoleName = Field(
        default="OrgBackupTagReapplyRole", description="IAM role of the tag re-application function."
    )
    operations_key_alias: KmsAlias = Field(
        default="alias/org-backup/operations",
        description="KMS alias of the per-Region key for the function's logs, environment and dead-letter queue.",
    )

    # Keys that existed once, with what to do instead (validation.py reports them in place of "unknown key").
    retired_keys: ClassVar[dict[str, str]] = {
        "break_glass_role": "is no longer supported: nothing created that role, so its exemption from the vault "
        "policies and the anti-tampering SCP protected nobody but whoever could create a role of that name. Only the "
        "deploy role is exempt now. Fix: delete the line; make emergency changes through the pipeline's deploy role "
        "(docs/security.md, Guardrails).",
    }


# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class TagReapply(Model):
    """The Lambda that re-applies original tags to restored resources, in every member account and Region."""

    enabled: bool = Field(default=True, description="Deploy the tag re-application function.")
    excluded_tag_keys: tuple[str, ...] = Field(
        default=(), description="Tag keys never copied to restored resources (aws: keys never are)."
    )
    log_retention_days: int = Field(
        default=365, description="Retention of the function's log group; one of CloudWatch Logs' allowed values."
    )
    reserved_concurrency: int | None = Field(
        default=None,
        description="Reserved concurrent executions (1-100); off by default. Lambda keeps at least 100 executions "
        "unreserved per account and Region, so reserving any fails where the concurrency quota is lower (new "
        "accounts often have 10): set it only where the quota allows.",
    )


class LocalBackend(Model):
    type: Literal["local"] = "local"


class S3Backend(Model):
    type: Literal["s3"]
    bucket: BucketName = Field(description="State bucket (created by the bootstrap step).")
    region: Region = Field(description="Region of the state bucket.")
    key_prefix: KeyPrefix = Field(
        default="org-backup",
        description="State object key prefix; each stack's state is <prefix>/<stack>.tfstate.",
    )


class BackupConfig(Model):
    """Everything org-backup needs to know about an organization. See backup.yaml for a commented example."""

    # The fix printed for a required field that is missing, where "add it" is not enough to act on.
    missing_fixes: ClassVar[dict[str, str]] = {
        "pipeline.source.codecommit.reviewers": "add 'reviewers' under pipeline.source: the ARNs of the people whose approval "
        "counts as a pull request's review, e.g. [\"arn:aws:sts::<home account>:assumed-role/<reviewers' role>/*\"] "
        "(docs/security.md, Pipeline).",
        "pipeline.source": "add 'source' with 'type: codecommit' if the home account can still create CodeCommit "
        "repositories (AWS no longer offers CodeCommit to new customers; docs/deploy.md, Deploy it), or 'type: connection' "
        "with 'connection_arn' and 'repository' (see tests/fixtures/connection_source.yaml).",
    }

    organization: Organization
    central_backup: CentralBackup
    pipeline: Pipeline
    target_regions: tuple[Region, ...] = Field(
        min_length=1, description="Regions where every member account gets a vault (and backups run)."
    )
    retired_regions: tuple[Region, ...] = Field(
        default=(),
        description="Regions taken out of target_regions or central_backup.regions whose vaults and keys stay in AWS: "
        "the stacks keep the Region's provider and release everything org-backup made there from Terraform "
        "(removed blocks, destroy = false), recovery points untouched. Without it, make plan refuses the destroy.",
    )
    retired_accounts: tuple[AccountId, ...] = Field(
        default=(),
        description="Deployed accounts that left the target OUs: the deploy releases their member stacks' state (kept "
        "under <key_prefix>/retired/); every vault, key and recovery point stays in AWS. Without it, make plan refuses.",
    )
    target_ous: tuple[TargetOu, ...] = Field(min_length=1, description="OUs whose accounts are protected.")
    accounts_file: str | None = Field(
        default=None,
        description="Snapshot of the target OUs' accounts written by `python -m org_backup discover`, relative to "
        "this file (e.g. accounts.lock.yaml). Set, synth takes every OU's accounts from it; unset, from "
        "target_ous[].accounts.",
    )
    discovery: Discovery = Field(default_factory=Discovery)
    names: Names = Field(default_factory=Names)
    tags: RoleTags = Field(default_factory=dict, description="Tags applied to every resource (provider default_tags).")
    vault_lock: VaultLocks = Field(default_factory=VaultLocks)
    backup_plans_file: str | None = Field(
        default=None,
        description="Backup plans file, relative to this config file (default: policies/backup_plans.yaml, shipped).",
    )
    guardrails: Guardrails = Field(default_factory=Guardrails)
    tag_reapply: TagReapply = Field(default_factory=TagReapply)
    region_settings: RegionSettings = Field(default_factory=RegionSettings)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    restore_testing: RestoreTesting = Field(default_factory=RestoreTesting)
    audit: Audit = Field(default_factory=Audit)
    state_backend: Annotated[LocalBackend | S3Backend, Field(discriminator="type")] = Field(
        default_factory=LocalBackend, description="Where Terraform keeps state: local files (default) or S3."
    )

    @property
    def central_regions(self) -> tuple[str, ...]:
        """Regions with a central vault: central_backup.regions, else every target Region."""
        return self.central_backup.regions or self.target_regions

    @property
    def policy_admin_account_id(self) -> str:
        """The account the pipeline manages backup policies and SCPs from (organization.policy_admin_account_id)."""
        org = self.organization
        return org.policy_admin_account_id or org.backup_delegated_admin_account_id or org.management_account_id

    @property
    def policies_delegated(self) -> bool:
        """Whether policies are managed from a delegated account, so the pipeline never enters the management one."""
        return self.policy_admin_account_id != self.organization.management_account_id

    @property
    def monitoring_account_id(self) -> str:
        """The account of the alert bus and topic: monitoring.account_id, else the central account."""
        return self.monitoring.account_id or self.central_backup.account_id

    def stack_regions(self, account_id: str) -> tuple[str, ...]:
        """The Regions of the stack that deploys ``account_id``: the central stack's, else its member stack's."""
        return self.central_regions if account_id == self.central_backup.account_id else self.target_regions

    @property
    def monitoring_regions(self) -> tuple[str, ...]:
        return self.stack_regions(self.monitoring_account_id)

    @property
    def reports_region(self) -> str:
        """Region of the report plans, in the delegated administrator account (validation requires one)."""
        account = self.organization.backup_delegated_admin_account_id or self.central_backup.account_id
        return self.audit.reports.region or self.stack_regions(account)[0]

    @property
    def monitoring_region(self) -> str:
        return self.monitoring.region or self.monitoring_regions[0]

    @property
    def restore_testing_regions(self) -> tuple[str, ...]:
        """Central Regions that run restore tests (none when no selection is configured)."""
        if not self.restore_testing.active:
            return ()
        return self.restore_testing.regions or self.central_regions[:1]

    @property
    def restore_testing_account_id(self) -> str:
        """The account of the restore tests: restore_testing.account_id, else (and, validated, only) the central one."""
        return self.restore_testing.account_id or self.central_backup.account_id

    @property
    def partition(self) -> str:
        """The ARN partition of every configured Region (validation guarantees they agree)."""
        return partition_of(self.target_regions[0]) or "aws"

    @property
    def pipeline_region(self) -> str:
        return self.pipeline.region or self.target_regions[0]

    def backup_plans_path(self, config_dir: Path) -> Path:
        if self.backup_plans_file is None:
            return DEFAULT_PLANS_FILE
        return config_dir / self.backup_plans_file

    def ous_of(self, selection: OuSelection) -> tuple[str, ...]:
        """Resolve an OU selection ('all' or ids) to OU ids."""
        return tuple(ou.id for ou in self.target_ous) if selection == "all" else selection

    @property
    def member_accounts(self) -> tuple[str, ...]:
        """Every member account id, in config order."""
        return tuple(account for ou in self.target_ous for account in ou.accounts)

    @property
    def air_gapped_share_accounts(self) -> tuple[str, ...]:
        """The accounts the air-gapped vaults are shared with (AWS RAM); the central account owns them."""
        air_gapped = self.central_backup.air_gapped
        if air_gapped is None:
            return ()
        listed = self.member_accounts if air_gapped.share_with == "members" else air_gapped.share_with
        return tuple(a for a in listed if a != self.central_backup.account_id)

    def accounts_path(self, config_dir: Path) -> Path:
        """Where discover writes, and synth reads, the accounts snapshot."""
        if self.accounts_file is None:
            raise ValueError("accounts_file is not set")
        return config_dir / self.accounts_file
