"""The resource types a backup selection may name, their ARN patterns in a backup policy, and which of them a
logically air-gapped vault takes: one table, read by the plan model, the renderer and both validators.

Sources:
- ARN patterns: AWS Organizations User Guide, backup policy syntax, selections, "Supported resource types" for
  ``resource_types`` and ``not_resource_types``.
- Air-gapped support: AWS Backup Developer Guide, "Primary backups to logically air-gapped vaults" (EFS, S3 and
  "Amazon DynamoDB with AWS Backup advanced features" back up to such a vault directly; "Amazon EBS/EC2, Amazon
  Aurora, and Amazon FSx" through a temporary recovery point copied to it), the AWS Backup What's New of
  2026-02-12 (cross-Region snapshot copy to logically air-gapped vaults for Aurora, Neptune and DocumentDB, which
  share the ``rds:cluster`` pattern), and AWS Config's managed rules storagegateway- and
  virtualmachine-resources-in-logically-air-gapped-vault. The "Feature availability by resource" table these pages
  point to could not be read cell by cell here (its stored copies lost the column positions), so a type those pages
  do not name is treated as unsupported: a false rejection names the type and is fixed by one row below, while a
  false acceptance would be a copy job that fails in every account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from org_backup.config.region_support import REGIONS, OptInType


@dataclass(frozen=True)
class ResourceType:
    resource: str  # the ARN after "arn:<partition>:", as AWS's list writes it
    air_gapped: bool
    opt_in: OptInType  # its key in AWS Backup's Region settings (region_support)


RESOURCE_TYPES: dict[str, ResourceType] = {
    "EC2": ResourceType("ec2:*:*:instance/*", True, "EC2"),
    "EBS": ResourceType("ec2:*:*:volume/*", True, "EBS"),
    "S3": ResourceType("s3:::*", True, "S3"),
    "EFS": ResourceType("elasticfilesystem:*:*:file-system/*", True, "EFS"),
    # Amazon Aurora, DocumentDB and Neptune clusters share one pattern.
    "RDSCluster": ResourceType("rds:*:*:cluster:*", True, "Aurora"),
    "RDS": ResourceType("rds:*:*:db:*", False, "RDS"),
    "DynamoDB": ResourceType("dynamodb:*:*:table/*", True, "DynamoDB"),  # with the advanced features only (see below)
    "FSx": ResourceType("fsx:*:*:file-system/*", True, "FSx"),
    "FSxVolume": ResourceType("fsx:*:*:volume/*", True, "FSx"),
    "StorageGateway": ResourceType("storagegateway:*:*:gateway/*", True, "Storage Gateway"),
    "VirtualMachine": ResourceType("backup-gateway:*:*:vm/*", True, "VirtualMachine"),
    "CloudFormation": ResourceType("cloudformation:*:*:stack/*", False, "CloudFormation"),
    "DSQL": ResourceType("dsql:*:*:cluster/*", False, "DSQL"),
    "Redshift": ResourceType("redshift:*:*:cluster:*", False, "Redshift"),
    "RedshiftServerless": ResourceType("redshift-serverless:*:*:namespace/*", False, "Redshift Serverless"),
    "SAPHANA": ResourceType("ssm-sap:*:*:HANA/*", False, "SAP HANA on Amazon EC2"),
    "Timestream": ResourceType("timestream:*:*:database/*", False, "Timestream"),
    "EKS": ResourceType("eks:*:*:cluster/*", False, "EKS"),
}

SelectableType = Literal[
    "EC2",
    "EBS",
    "S3",
    "EFS",
    "RDSCluster",
    "RDS",
    "DynamoDB",
    "FSx",
    "FSxVolume",
    "StorageGateway",
    "VirtualMachine",
    "CloudFormation",
    "DSQL",
    "Redshift",
    "RedshiftServerless",
    "SAPHANA",
    "Timestream",
    "EKS",
]

# "DynamoDB with AWS Backup advanced features" is the air-gapped-capable row; the Region settings' full management
# preference of the same name turns those features on (config.region_settings.full_management).
NEEDS_FULL_MANAGEMENT = frozenset({"DynamoDB"})

# A copy to the central account's vault is cross-account; region_support holds footnote 1 of AWS's page.
NO_CROSS_ACCOUNT_AIR_GAPPED_COPY = tuple(region for region, facts in REGIONS.items() if not facts.air_gapped_copy)


def arn_pattern(name: str, partition: str) -> str:
    return f"arn:{partition}:{RESOURCE_TYPES[name].resource}"


# Every pattern AWS's list allows, without its "arn:<partition>:" prefix.
KNOWN_PATTERNS = frozenset(kind.resource for kind in RESOURCE_TYPES.values())


def not_air_gapped(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not RESOURCE_TYPES[name].air_gapped]
