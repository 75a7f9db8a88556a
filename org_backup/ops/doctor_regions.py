"""doctor's per-Region checks, both read-only from the management account:

- every account has enabled the opt-in Regions it deploys to (AWS Account Management, GetRegionOptStatus);
- the resource types org-backup puts in a Region's AWS Backup settings (``region_support``, or
  ``region_settings.supported_types``) are the ones AWS Backup's DescribeRegionSettings lists there.

GetRegionOptStatus (AWS Account Management API Reference,
https://docs.aws.amazon.com/accounts/latest/reference/API_GetRegionOptStatus.html): RegionOptStatus is "One of the
potential statuses a Region can undergo (Enabled, Enabling, Disabled, Disabling, Enabled_By_Default)", valid values
"ENABLED | ENABLING | DISABLING | DISABLED | ENABLED_BY_DEFAULT". AccountId: "To use this parameter, the caller must
be an identity in the organization's management account or a delegated administrator account. The specified account
ID must be a member account in the same organization. The organization must have all features enabled, and the
organization must have trusted access enabled for the Account Management service"; and "The management account can't
specify its own AccountId. It must call the operation in standalone context by not including the AccountId
parameter." moto has no Account Management API: the tests answer with botocore's Stubber.
"""

from __future__ import annotations

from typing import Any, get_args

from botocore.exceptions import BotoCoreError, ClientError

from org_backup.config.model import BackupConfig
from org_backup.config.region_settings import FullManagementType
from org_backup.config.region_support import needs_opt_in
from org_backup.ops.doctor_base import Check, Clients

USABLE = ("ENABLED", "ENABLED_BY_DEFAULT")
ACCOUNT_PRINCIPAL = "account.amazonaws.com"


def _deploy_regions(config: BackupConfig) -> dict[str, list[str]]:
    """Each account org-backup deploys to, with the Regions it deploys there that may need opt-in."""
    wanted: dict[str, list[str]] = {}
    for account in (*config.member_accounts, config.central_backup.account_id):
        wanted.setdefault(account, []).extend(config.stack_regions(account))
    wanted.setdefault(config.pipeline.home_account_id, []).append(config.pipeline_region)
    return {a: sorted({r for r in rs if needs_opt_in(r)}) for a, rs in wanted.items() if any(map(needs_opt_in, rs))}


def _enable_fix(account: str, region: str, management: str, status: str) -> str:
    target = "" if account == management else f"--account-id {account} "
    enable = f"aws account enable-region {target}--region-name {region} (with management-account credentials)"
    if status == "ENABLING":
        return f"wait until `aws account get-region-opt-status {target}--region-name {region}` says ENABLED"
    if status == "DISABLING":
        return f"wait until disabling ends, then {enable}"
    return f"{enable}, then wait until it is ENABLED"


def opt_in_region_checks(config: BackupConfig, clients: Clients) -> list[Check]:
    """One FAIL per account and Region that is not usable, one PASS per Region usable in every account; nothing when
    no Region org-backup deploys to needs opt-in (``region_support``, the Opt-in column of AWS's page)."""
    wanted = _deploy_regions(config)
    if not wanted:
        return []
    management = config.organization.management_account_id
    account_api = clients.client("account")
    failed: list[Check] = []
    usable: dict[str, int] = {}
    for account, regions in wanted.items():
        for region in regions:
            name = f"Region {region} in {account}"
            where = {} if account == management else {"AccountId": account}
            try:
                status = account_api.get_region_opt_status(RegionName=region, **where)["RegionOptStatus"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "AccessDeniedException":
                    return [_no_access(exc, len(wanted))]
                failed.append(Check(name, False, f"could not be read: {exc}", "run doctor again"))
                continue
            except BotoCoreError as exc:
                failed.append(Check(name, False, f"could not be read: {exc}", "run doctor again"))
                continue
            if status in USABLE:
                usable[region] = usable.get(region, 0) + 1
            else:
                detail = f"{status}: org-backup deploys there, which needs the Region enabled in the account"
                failed.append(Check(name, False, detail, _enable_fix(account, region, management, status)))
    failing = {region for region in usable if any(c.name.startswith(f"Region {region} in ") for c in failed)}
    passed = [
        Check(f"Region {region}", True, f"enabled in all {count} accounts that org-backup deploys to there")
        for region, count in sorted(usable.items())
        if region not in failing
    ]
    return passed + failed


def _no_access(exc: ClientError, accounts: int) -> Check:
    return Check(
        "opt-in Regions",
        False,
        f"could not be read ({exc}); {accounts} accounts deploy to Regions that need opt-in",
        f"aws organizations enable-aws-service-access --service-principal {ACCOUNT_PRINCIPAL} (GetRegionOptStatus "
        "of another account needs trusted access for AWS Account Management), and let these credentials call "
        "account:GetRegionOptStatus",
    )


def region_settings_checks(config: BackupConfig, clients: Clients) -> list[Check]:
    """The types org-backup's Region settings name in each target Region against DescribeRegionSettings in the
    management account (AWS lists the Region's supported types there whatever the account chose). A type AWS lacks
    makes the member stacks' apply fail; one AWS lists but org-backup does not is planned again on every run."""
    settings = config.region_settings
    if not settings.enabled:
        return []
    checks = []
    for region in config.target_regions:
        name = f"Region settings types in {region}"
        try:
            described = clients.client("backup", region).describe_region_settings()
        except (ClientError, BotoCoreError) as exc:
            detail = f"not checkable here: DescribeRegionSettings failed in the management account ({exc})"
            checks.append(Check(name, True, detail, skipped=True))
            continue
        checks.append(_compare(name, region, config, described))
    return checks


def _compare(name: str, region: str, config: BackupConfig, described: dict[str, Any]) -> Check:
    settings = config.region_settings
    ours = settings.types_in(region) or frozenset()
    theirs = set(described.get("ResourceTypeOptInPreference", {}))
    managed_ours = set(settings.management_preference(region)) if ours else set()
    managed_theirs = set(described.get("ResourceTypeManagementPreference", {}))
    if ours == theirs and managed_ours == managed_theirs:
        return Check(name, True, f"the {len(ours)} types org-backup sets are the ones AWS Backup lists")
    found = []
    for what, extra, missing in (
        ("opt-in", ours - theirs, theirs - ours),
        ("full-management", managed_ours - managed_theirs, managed_theirs - managed_ours),
    ):
        if extra:
            found.append(f"{what} types AWS does not list (AWS refuses the update): {', '.join(sorted(extra))}")
        if missing:
            found.append(
                f"{what} types AWS lists that org-backup leaves out (planned again on every run): "
                f"{', '.join(sorted(missing))}"
            )
    listed = ", ".join(f'"{t}"' if " " in t else t for t in sorted(theirs))
    fix = f"set region_settings.supported_types.{region}: [{listed}] in backup.yaml"
    derived = set(get_args(FullManagementType)) & theirs
    if derived != managed_theirs:  # still wrong with AWS's opt-in list: org-backup itself must learn the types
        fix += (
            f"; AWS's full-management types there ({', '.join(sorted(managed_theirs))}) are not the ones org-backup "
            f"derives ({', '.join(sorted(derived))}): FullManagementType in org_backup/config/region_settings.py "
            "must change first; until then turn region_settings.enabled off"
        )
    return Check(name, False, "; ".join(found), fix)
