"""The cross-field rules of ``restore_testing`` (``config_rules`` runs them with the others): where tests run, what
they restore, and the restore metadata AWS Backup cannot infer in an account without a default VPC.

Sources (AWS Backup Developer Guide):
- "Restore testing", https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing.html
- "Restore testing inferred metadata",
  https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html
- "Creating backup copies across AWS accounts",
  https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html
- API reference, RestoreTestingSelectionForCreate,
  https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RestoreTestingSelectionForCreate.html
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from org_backup.config.errors import Problem
from org_backup.config.model import BackupConfig
from org_backup.config.monitoring import RestoreTestSelection
from org_backup.config.resource_types import RESOURCE_TYPES
from org_backup.config.validation import duplicates

# The ARN shapes of each restore-testing type, from the one table of resource ARN patterns (resource_types.py):
# Aurora, DocumentDB and Neptune clusters share the rds:cluster pattern; FSx backs up file systems and volumes.
ARN_PATTERNS: dict[str, tuple[str, ...]] = {
    kind: tuple(f"arn:*:{RESOURCE_TYPES[row].resource}" for row in rows)
    for kind, rows in {
        "Aurora": ("RDSCluster",),
        "DocumentDB": ("RDSCluster",),
        "DynamoDB": ("DynamoDB",),
        "EBS": ("EBS",),
        "EC2": ("EC2",),
        "EFS": ("EFS",),
        "FSx": ("FSx", "FSxVolume"),
        "Neptune": ("RDSCluster",),
        "RDS": ("RDS",),
        "S3": ("S3",),
    }.items()
}

# "AWS Backup can infer that a resource should be restored to the default setting, such as an Amazon EC2 instance or
# Amazon RDS cluster restored to the default VPC. However, if the default is not present, for example the default VPC
# or subnet has been deleted and no metadata override has been input, the restore will not be successful" ("Restore
# testing inferred metadata"). The overridable key per type is that page's; "Restore testing failure troubleshooting"
# ("Restore testing") names the same keys for the errors "No default VPC for this user" (EC2: SubnetId) and "No
# default subnet detected in VPC" (Aurora, DocumentDB, RDS, Neptune: DBSubnetGroupName). Keys are not case sensitive.
NETWORK_OVERRIDES: dict[str, str] = {
    "EC2": "subnetId",
    "RDS": "dbSubnetGroupName",
    "Aurora": "dbSubnetGroupName",
    "DocumentDB": "dbSubnetGroupName",
    "Neptune": "dbSubnetGroupName",
}
# A subnet id names a subnet of one Region (VPC subnets are zonal); a DB subnet group is named by the user and may
# exist under the same name in several Regions.
REGIONAL_IDS = ("subnetId",)


def _override(selection: RestoreTestSelection, key: str) -> str | None:
    found = [v for k, v in selection.restore_metadata_overrides.items() if k.lower() == key.lower()]
    return found[0] if found else None


def _selection_problems(config: BackupConfig, index: int, selection: RestoreTestSelection) -> list[Problem]:
    at = f"restore_testing.selections[{index}]"
    problems = []
    arns = selection.protected_resource_arns
    if "*" in arns and len(arns) > 1:
        # API reference: "ProtectedResourceArns: ["arn:aws:...", "arn:aws:..."] or by a wildcard:
        # ProtectedResourceArns: ["*"], but not both."
        problems.append(
            Problem(
                f"{at}.protected_resource_arns",
                f"{list(arns)} mixes '*' with ARNs; AWS Backup takes either ['*'] or specific ARNs, not both. Fix: "
                "keep ['*'] alone or list only ARNs.",
            )
        )
    patterns = ARN_PATTERNS[selection.resource_type]
    for arn_index, arn in enumerate(arns):
        if arn != "*" and not any(fnmatchcase(arn, pattern) for pattern in patterns):
            problems.append(
                Problem(
                    f"{at}.protected_resource_arns[{arn_index}]",
                    f"{arn!r} is not an ARN of resource type {selection.resource_type} ({' or '.join(patterns)}). "
                    "Fix: use the ARN the central vault lists as the protected resource, or test it in a selection "
                    "of its own type.",
                )
            )
    # A restore test picks recovery points in the central vaults of its Regions, where only the member accounts'
    # backups of that same Region are copied: an ARN of another Region or account could never have one.
    regions = config.restore_testing_regions
    for arn_index, arn in enumerate(arns):
        parts = arn.split(":")
        if arn == "*" or len(parts) < 6:
            continue
        if parts[3] and parts[3] not in regions:
            problems.append(
                Problem(
                    f"{at}.protected_resource_arns[{arn_index}]",
                    f"{arn!r} is in Region {parts[3]}, but restore tests run in {', '.join(regions)}, whose central "
                    "vaults hold copies of that Region's backups only. Fix: test a resource of those Regions, or add "
                    f"{parts[3]} to restore_testing.regions (a Region with a central vault).",
                )
            )
    key = NETWORK_OVERRIDES.get(selection.resource_type)
    if key is not None and not _override(selection, key):
        problems.append(
            Problem(
                f"{at}.restore_metadata_overrides",
                f"has no {key}: AWS Backup would restore this {selection.resource_type} resource into the default "
                'VPC, and where the account has none "the restore will not be successful" (AWS Backup, \'Restore '
                f"testing inferred metadata'). Fix: add {key}: the "
                f"{'subnet' if key == 'subnetId' else 'DB subnet group'} of account "
                f"{config.restore_testing_account_id} to restore into.",
            )
        )
    for regional in REGIONAL_IDS:
        value = _override(selection, regional)
        if value and len(regions) > 1:
            problems.append(
                Problem(
                    f"{at}.restore_metadata_overrides",
                    f"{regional} {value!r} names a subnet of one Region, but the selection runs in every testing "
                    f"Region ({', '.join(regions)}). Fix: test {selection.resource_type} in one Region "
                    "(restore_testing.regions).",
                )
            )
    return problems


def restore_testing_problems(config: BackupConfig) -> list[Problem]:
    """Tests restore from the central vault of their Region, so each Region must have one; names must be unique;
    each selection names resources of its type and the network a restore needs."""
    testing = config.restore_testing
    problems = []
    account = testing.account_id
    central = config.central_backup.account_id
    if account is not None and account != central:
        problems.append(
            Problem(
                "restore_testing.account_id",
                f"{account!r} is not the central backup account ({central}). AWS Backup restores a recovery point only "
                "in the account that holds it (\"you can't restore a backup from account A to account B, but you can "
                "copy a backup from account A to account B, and then restore it in account B\": AWS Backup, 'Creating "
                "backup copies across AWS accounts'), and org-backup copies backups into the central vault only, so "
                f"{account} would have nothing to test. Fix: remove the line to test in the central account.",
            )
        )
    for index, region in enumerate(testing.regions or ()):
        if region not in config.central_regions:
            problems.append(
                Problem(
                    f"restore_testing.regions[{index}]",
                    f"{region!r} has no central vault (central Regions: {', '.join(config.central_regions)}); restore "
                    "tests restore from the central vault of their Region. Fix: use a central Region.",
                )
            )
    for index, name in duplicates(tuple(s.name for s in testing.selections)):
        problems.append(
            Problem(
                f"restore_testing.selections[{index}].name",
                f"{name!r} is used by an earlier selection; AWS Backup needs unique selection names in a plan. "
                "Fix: rename one.",
            )
        )
    for index, selection in enumerate(testing.selections):
        problems += _selection_problems(config, index, selection)
    return problems


def restore_account_problems(config: BackupConfig) -> list[Problem]:
    """Restore tests of resources of accounts org-backup does not back up: no recovery point of theirs ever reaches
    the central vault. Needs the member accounts, so it runs once they are known (an accounts_file read)."""
    problems = []
    for index, selection in enumerate(config.restore_testing.selections):
        for arn_index, arn in enumerate(selection.protected_resource_arns):
            parts = arn.split(":")
            if len(parts) >= 6 and parts[4] and parts[4] not in config.member_accounts:
                problems.append(
                    Problem(
                        f"restore_testing.selections[{index}].protected_resource_arns[{arn_index}]",
                        f"{arn!r} is in account {parts[4]}, which is not a member account of target_ous: nothing "
                        "org-backup manages backs it up, so no recovery point of it reaches the central vault. Fix: "
                        "test a resource of a member account.",
                    )
                )
    return problems
