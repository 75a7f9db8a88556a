"""The cross-field rules of the configuration (duplicates, which account may be what, lock bounds, ...): they run
once every field is well-formed, and report every problem at once (``config_loader`` runs them)."""

from __future__ import annotations

from org_backup.config.errors import Problem
from org_backup.config.model import LOG_RETENTION_DAYS, BackupConfig, S3Backend
from org_backup.config.pipeline import rollout_problems
from org_backup.config.region_settings import region_settings_problems
from org_backup.config.regions import partition_of
from org_backup.config.restore_testing import restore_account_problems, restore_testing_problems
from org_backup.config.security import pipeline_security_problems
from org_backup.config.validation import duplicates
from org_backup.config.vaults import lock_problems


def _account_source_problems(config: BackupConfig) -> list[Problem]:
    """Member accounts come from exactly one place: target_ous[].accounts, or the discovered accounts_file."""
    problems = []
    discovered = config.accounts_file is not None
    for index, ou in enumerate(config.target_ous):
        if discovered and ou.accounts:
            problems.append(
                Problem(
                    f"target_ous[{index}].accounts",
                    f"is set, but so is accounts_file ({config.accounts_file!r}), which then supplies every OU's "
                    "accounts. Fix: remove the list, or remove accounts_file to list accounts by hand.",
                )
            )
        if not discovered and not ou.accounts:
            problems.append(
                Problem(
                    f"target_ous[{index}].accounts",
                    f"is empty: OU {ou.id!r} protects no account. Fix: list its accounts, or set accounts_file: "
                    "accounts.lock.yaml and run `python -m org_backup discover`.",
                )
            )
    exclusions = config.discovery.exclude_accounts or config.discovery.exclude_ous
    if exclusions and not discovered:
        problems.append(
            Problem(
                "discovery",
                "exclusions apply to discovered accounts, but accounts_file is not set, so nothing is discovered. "
                "Fix: set accounts_file, or drop the account from target_ous[].accounts instead.",
            )
        )
    target_ous = {ou.id for ou in config.target_ous}
    for index, excluded_ou in enumerate(config.discovery.exclude_ous):
        if excluded_ou.id in target_ous:
            problems.append(
                Problem(
                    f"discovery.exclude_ous[{index}].id",
                    f"{excluded_ou.id!r} is a target OU itself. Fix: remove it from target_ous instead.",
                )
            )
    for field, ids in (
        ("exclude_accounts", tuple(a.id for a in config.discovery.exclude_accounts)),
        ("exclude_ous", tuple(o.id for o in config.discovery.exclude_ous)),
    ):
        for index, item in duplicates(ids):
            problems.append(
                Problem(f"discovery.{field}[{index}].id", f"{item!r} is listed twice. Fix: remove the duplicate.")
            )
    return problems


def cross_field_problems(config: BackupConfig) -> list[Problem]:
    problems: list[Problem] = []
    for field in ("target_regions", "retired_regions", "retired_accounts"):
        for index, item in duplicates(getattr(config, field)):
            problems.append(Problem(f"{field}[{index}]", f"{item!r} is listed twice. Fix: remove the duplicate."))
    for index, region in enumerate(config.retired_regions):
        if region in (*config.target_regions, *config.central_regions):
            problems.append(
                Problem(
                    f"retired_regions[{index}]",
                    f"{region!r} is still a target Region (target_regions or central_backup.regions): a retired "
                    "Region's resources are released from Terraform. Fix: remove it from those lists, or from "
                    "retired_regions to keep it.",
                )
            )
    for index, region in duplicates(config.central_backup.regions or ()):
        problems.append(
            Problem(f"central_backup.regions[{index}]", f"{region!r} is listed twice. Fix: remove the duplicate.")
        )
    for index, ou_id in duplicates(tuple(ou.id for ou in config.target_ous)):
        problems.append(Problem(f"target_ous[{index}].id", f"{ou_id!r} is listed twice. Fix: merge the two entries."))

    problems += _account_source_problems(config)
    first_seen: dict[str, str] = {}
    for ou_index, ou in enumerate(config.target_ous):
        for acc_index, account in enumerate(ou.accounts):
            here = f"target_ous[{ou_index}].accounts[{acc_index}]"
            if account in first_seen:
                problems.append(
                    Problem(
                        here,
                        f"account {account!r} is already listed at {first_seen[account]}; an account sits in exactly "
                        "one OU. Fix: keep only the entry for the OU it is in.",
                    )
                )
                continue
            first_seen[account] = here
            if account == config.organization.management_account_id:
                problems.append(
                    Problem(
                        here,
                        f"{account!r} is the management account, which is never in an OU and is not governed by "
                        "backup policies or SCPs. Fix: remove it from target_ous.",
                    )
                )

    partitions = {partition_of(r) for r in (*config.target_regions, *config.central_regions, *config.retired_regions)}
    if len(partitions) > 1:
        problems.append(
            Problem(
                "target_regions",
                f"Regions span several partitions ({', '.join(sorted(p or '?' for p in partitions))}); AWS Organizations "
                "and cross-account copies stay within one partition. Fix: use Regions of one partition.",
            )
        )

    roles = {
        "names.backup_role": config.names.backup_role,
        "names.deploy_role": config.names.deploy_role,
        "names.tag_reapply_role": config.names.tag_reapply_role,
        "names.plan_role": config.names.plan_role,
    }
    seen_roles: dict[str, str] = {}
    for field, name in roles.items():
        if name in seen_roles:
            problems.append(
                Problem(field, f"{name!r} is also used for {seen_roles[name]}; each role has one job. Fix: rename one.")
            )
        seen_roles.setdefault(name, field)
    if config.names.member_key_alias == config.names.central_key_alias:
        problems.append(
            Problem(
                "names.central_key_alias",
                f"{config.names.central_key_alias!r} equals names.member_key_alias; the central account may also be a "
                "member, and an alias is unique per account and Region. Fix: use different aliases.",
            )
        )
    if config.central_backup.air_gapped is not None and config.names.air_gapped_vault in (
        config.names.member_vault,
        config.names.central_vault,
    ):
        problems.append(
            Problem(
                "names.air_gapped_vault",
                f"{config.names.air_gapped_vault!r} is also the central (or member) vault's name; the air-gapped vault "
                "sits beside them in the central account, and vault names, air-gapped ones included, are unique per "
                "account and Region. Fix: use a name of its own.",
            )
        )
    if config.central_backup.account_id == config.organization.management_account_id:
        problems.append(
            Problem(
                "central_backup.account_id",
                f"{config.central_backup.account_id!r} is the management account. The central vault must be isolated "
                "from the accounts it protects, and the pipeline could not deploy it there: with the policies "
                "delegated it never assumes a role in the management account, and otherwise bootstrap-management and "
                "bootstrap-central would both create the same roles. Fix: use a dedicated member account for the "
                "central vault, in an OU of its own.",
            )
        )
    if config.names.member_vault == config.names.central_vault:
        problems.append(
            Problem(
                "names.central_vault",
                f"{config.names.central_vault!r} equals names.member_vault; vault names are unique per account and "
                "Region. Fix: use different names.",
            )
        )
    configured_ous = {ou.id for ou in config.target_ous}
    for name in ("copy_restriction", "deny_backup_tampering", "deny_leave_organization"):
        selection = getattr(config.guardrails, name).target_ous
        if selection != "all":
            for index, ou in enumerate(selection):
                if ou not in configured_ous:
                    problems.append(
                        Problem(
                            f"guardrails.{name}.target_ous[{index}]",
                            f"{ou!r} is not one of target_ous ({', '.join(sorted(configured_ous))}). Fix: use one of "
                            "those or 'all'.",
                        )
                    )
    problems += region_settings_problems(config.region_settings, config.target_regions)
    backend = config.state_backend
    if isinstance(backend, S3Backend) and backend.region != config.pipeline_region:
        problems.append(
            Problem(
                "state_backend.region",
                f"{backend.region!r} is not the pipeline's Region ({config.pipeline_region!r}), where bootstrap-home "
                "creates the state bucket and the KMS key that encrypts it (SSE-KMS needs the key in the bucket's "
                f"Region). Fix: set state_backend.region to {config.pipeline_region!r}, or pipeline.region to "
                f"{backend.region!r}.",
            )
        )
    delegated = config.organization.backup_delegated_admin_account_id
    if delegated is not None and delegated == config.organization.management_account_id:
        problems.append(
            Problem(
                "organization.backup_delegated_admin_account_id",
                f"{delegated!r} is the management account, which cannot be its own delegated administrator. "
                "Fix: use a member account (often the central backup account) or remove it.",
            )
        )
    if config.accounts_file is None:  # else once the snapshot's accounts are in (config_loader)
        problems += member_problems(config)
    if config.pipeline.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(
            Problem(
                "pipeline.log_retention_days",
                f"{config.pipeline.log_retention_days} is not a retention CloudWatch Logs accepts "
                f"({', '.join(map(str, LOG_RETENTION_DAYS))}). Fix: pick one of those.",
            )
        )
    reapply = config.tag_reapply
    if reapply.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(
            Problem(
                "tag_reapply.log_retention_days",
                f"{reapply.log_retention_days} is not a retention CloudWatch Logs accepts "
                f"({', '.join(map(str, LOG_RETENTION_DAYS))}). Fix: pick one of those (365 or more keeps a year).",
            )
        )
    if reapply.reserved_concurrency is not None and not 1 <= reapply.reserved_concurrency <= 100:
        problems.append(
            Problem(
                "tag_reapply.reserved_concurrency",
                f"{reapply.reserved_concurrency} is outside 1-100 (restores are rare; a larger reservation takes "
                "capacity from the account's other functions). Fix: use 1-100.",
            )
        )
    for index, key in enumerate(reapply.excluded_tag_keys):
        if not 1 <= len(key) <= 128:
            problems.append(
                Problem(f"tag_reapply.excluded_tag_keys[{index}]", f"{key!r} is not a tag key (1-128 characters).")
            )
    if config.names.operations_key_alias in (config.names.member_key_alias, config.names.central_key_alias):
        problems.append(
            Problem(
                "names.operations_key_alias",
                f"{config.names.operations_key_alias!r} is already a vault key alias; an alias names one key per "
                "account and Region. Fix: use a different alias.",
            )
        )
    problems += _monitoring_problems(config)
    problems += _restore_testing_problems(config)
    problems += _report_problems(config)
    problems += _report_format_problems(config)
    problems += lock_problems("vault_lock.member", config.vault_lock.member)
    problems += lock_problems("vault_lock.central", config.vault_lock.central)
    problems += _air_gapped_problems(config)
    problems += pipeline_security_problems(config)
    problems += rollout_problems(config)
    return problems


def member_problems(config: BackupConfig) -> list[Problem]:
    """The rules that need every member account: run with the cross-field rules, or, with accounts_file set, once
    the snapshot has supplied the accounts."""
    return _policy_admin_problems(config) + restore_account_problems(config) + _retired_account_problems(config)


def _retired_account_problems(config: BackupConfig) -> list[Problem]:
    """A retired account's member stack is released from Terraform (org_backup/ops/retire_accounts.py): never a member's."""
    return [
        Problem(
            f"retired_accounts[{index}]",
            f"{account!r} is still a member account of a target OU: a retired account's member stack is released "
            "from Terraform. Fix: remove it from retired_accounts, or move the account out of the target OUs.",
        )
        for index, account in enumerate(config.retired_accounts)
        if account in config.member_accounts
    ]


def _policy_admin_problems(config: BackupConfig) -> list[Problem]:
    """The policy administrator's deploy role manages the policies: only the accounts org-backup gives roles to
    (the StackSet's member accounts, the central account) have one."""
    account = config.policy_admin_account_id
    if not config.policies_delegated or account in (*config.member_accounts, config.central_backup.account_id):
        return []
    field = (
        "organization.policy_admin_account_id"
        if config.organization.policy_admin_account_id
        else "organization.backup_delegated_admin_account_id"
    )
    return [
        Problem(
            field,
            f"{account!r} would manage the backup policies and SCPs (organization.policy_admin_account_id, by default "
            "the backup delegated administrator), but org-backup gives deploy and plan roles only to the central "
            "account and the accounts of target_ous. Fix: set organization.policy_admin_account_id to the central "
            f"account {config.central_backup.account_id!r} or a member account (or to the management account "
            f"{config.organization.management_account_id!r} to keep managing them there).",
        )
    ]


def _air_gapped_problems(config: BackupConfig) -> list[Problem]:
    air_gapped = config.central_backup.air_gapped
    if air_gapped is None:
        return []
    problems = []
    if air_gapped.max_retention_days < air_gapped.min_retention_days:
        problems.append(
            Problem(
                "central_backup.air_gapped.max_retention_days",
                f"{air_gapped.max_retention_days} is below min_retention_days ({air_gapped.min_retention_days}): no "
                "copy could enter the vault. Fix: raise it, or lower min_retention_days.",
            )
        )
    if air_gapped.share_with != "members":
        central = config.central_backup.account_id
        for index, account in enumerate(air_gapped.share_with):
            if account == central:
                problems.append(
                    Problem(
                        f"central_backup.air_gapped.share_with[{index}]",
                        f"{account!r} is the central account, which owns the vault; sharing is for the accounts "
                        "that restore from it when the central account is lost. Fix: remove it.",
                    )
                )
        for index, account in duplicates(air_gapped.share_with):
            problems.append(
                Problem(
                    f"central_backup.air_gapped.share_with[{index}]",
                    f"{account!r} is listed twice. Fix: remove the duplicate.",
                )
            )
    if not config.air_gapped_share_accounts:
        problems.append(
            Problem(
                "central_backup.air_gapped.share_with",
                "names no account besides the central account, so no account could restore from the vault when "
                "the central account is lost. Fix: list a recovery account, or use 'members'.",
            )
        )
    return problems


def _monitoring_problems(config: BackupConfig) -> list[Problem]:
    """The monitoring account must be one a stack deploys (its deploy role exists there), in one of its Regions."""
    problems = []
    account = config.monitoring.account_id
    if account is not None and account not in (config.central_backup.account_id, *config.member_accounts):
        problems.append(
            Problem(
                "monitoring.account_id",
                f"{account!r} is neither the central backup account nor a member account, so no org-backup stack "
                "(and no deploy role) reaches it. Fix: use the central account (the default: remove the line) or an "
                "account of a target OU, e.g. a dedicated monitoring account moved into one.",
            )
        )
    elif config.monitoring.region is not None and config.monitoring.region not in config.monitoring_regions:
        problems.append(
            Problem(
                "monitoring.region",
                f"{config.monitoring.region!r} is not a Region of the monitoring account's stack "
                f"({', '.join(config.monitoring_regions)}). Fix: pick one of those, or remove the line for the first.",
            )
        )
    return problems


def _restore_testing_problems(config: BackupConfig) -> list[Problem]:
    """Where restore tests run and what they restore: the rules live in ``config_restore_testing``."""
    return restore_testing_problems(config)


def _report_format_problems(config: BackupConfig) -> list[Problem]:
    """org-backup's report plans cover every target OU and Region, and AWS delivers such reports in CSV only:
    "If the report is for the current region and current account, you can choose to receive the report in either CSV
    or JSON format. Otherwise, the report is available in CSV format." (AWS Backup guide, "Working with audit
    reports", https://docs.aws.amazon.com/aws-backup/latest/devguide/working-with-audit-reports.html)."""
    reports = config.audit.reports
    if not reports.enabled or "JSON" not in reports.formats:
        return []
    return [
        Problem(
            "audit.reports.formats",
            f"{list(reports.formats)} includes JSON, but the report plans are cross-account and cross-Region (every "
            "target OU and Region), and AWS delivers such reports in CSV only (AWS Backup guide, Working with audit "
            "reports). Fix: set formats to [CSV] or remove the line (CSV is the default).",
        )
    ]


def _report_problems(config: BackupConfig) -> list[Problem]:
    """Organization-wide reports live in the delegated administrator account, which a stack must deploy."""
    reports = config.audit.reports
    if not reports.enabled:
        return []
    admin = config.organization.backup_delegated_admin_account_id
    if admin is None:
        return [
            Problem(
                "audit.reports.enabled",
                "is true, but organization.backup_delegated_admin_account_id is not set: AWS Backup creates "
                "cross-account reports only in the management account or a delegated administrator. Fix: set "
                "backup_delegated_admin_account_id (the central account is a good choice).",
            )
        ]
    if admin not in (config.central_backup.account_id, *config.member_accounts):
        return [
            Problem(
                "organization.backup_delegated_admin_account_id",
                f"{admin!r} holds the report plans (audit.reports), but no org-backup stack deploys it. Fix: use the "
                "central account or a member account.",
            )
        ]
    if reports.region is not None and reports.region not in config.stack_regions(admin):
        return [
            Problem(
                "audit.reports.region",
                f"{reports.region!r} is not a Region of the delegated administrator's stack "
                f"({', '.join(config.stack_regions(admin))}). Fix: pick one of those.",
            )
        ]
    return []
