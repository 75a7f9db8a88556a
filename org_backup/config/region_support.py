"""What AWS Backup offers in each Region: the resource types of its Region settings, whether the Region needs
account opt-in, and whether a cross-account copy can enter a logically air-gapped vault there. One table, read by
config validation (``config_region_settings``), the member stacks' Region settings, the plan rules (through
``resource_types``) and ``doctor``.

Source: AWS Backup Developer Guide, "AWS Backup feature availability",
https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-availability.html, read on 2026-12-03 from
the stored copies this project can search (no live web here): its sections "Feature availability by AWS Region"
(the Opt-in column, footnote 1 on air-gapped copies) and "Supported services by AWS Region": "AWS Backup is
available for these resource types in all Regions in which AWS Backup and the listed resource operates: Aurora, AWS
CloudFormation, DynamoDB, DynamoDB with AWS Backup advanced features, Amazon EBS, Amazon EC2, Amazon EFS, Amazon
Redshift, Amazon RDS", then one row per Region with a check mark for each of Aurora DSQL, Amazon FSx, SAP HANA on
EC2 instances, Amazon S3, Storage Gateway, Amazon Timestream, VMware, Amazon EKS, Amazon Neptune, Amazon DocumentDB.

What could not be established: the stored copies of that table keep each row's check marks but not its empty
cells, so a row with fewer than ten marks does not say which columns it lacks (Europe (London) has nine: which one
is missing is unknowable from them). Only the rows marked in every column are certain: us-east-1, us-east-2,
us-west-2, ap-northeast-1, eu-central-1 and eu-west-1. Every other Region has ``resource_types=None`` on purpose:
config validation refuses it as a target Region while Region settings are managed and names the fix (list AWS's
own answer, ``aws backup describe-region-settings``, under ``region_settings.supported_types``), because both
guesses fail: a type the Region lacks makes AWS refuse the whole update ("Element present in resource type opt in
preference has invalid values. Please use describeRegionSettings API to know the supported resource types",
boto/boto3#3758, hashicorp/terraform-provider-aws#21801, #30881), and a type it has but the map lacks is planned
again on every run (the provider stores DescribeRegionSettings' whole map, see config_region_settings).

"Redshift Serverless" is on neither list of that page. The provider's own acceptance test for hashicorp/aws
5.100.0 (internal/service/backup/testdata/RegionSettings/basic_v5.100.0/main_gen.tf, run in us-west-2 unless told
otherwise, and a test step fails on a non-empty plan after apply) opts in exactly the nineteen types of
``OptInType``: the eighteen of AWS's page plus "Redshift Serverless". It is assumed for the other five certain
Regions too: if AWS lacks it there, apply fails with AWS's error naming the invalid element, which is loud, where
leaving it out would be a silent diff; ``doctor`` compares this table with DescribeRegionSettings before any deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The keys of ResourceTypeOptInPreference (UpdateRegionSettings / DescribeRegionSettings), as the provider's
# acceptance test above spells them.
OptInType = Literal[
    "Aurora",
    "CloudFormation",
    "DocumentDB",
    "DSQL",
    "DynamoDB",
    "EBS",
    "EC2",
    "EFS",
    "EKS",
    "FSx",
    "Neptune",
    "RDS",
    "Redshift",
    "Redshift Serverless",
    "S3",
    "SAP HANA on Amazon EC2",
    "Storage Gateway",
    "Timestream",
    "VirtualMachine",
]

SOURCE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-availability.html"
READ_ON = "2026-12-03"
# "in all Regions in which AWS Backup and the listed resource operates"
EVERY_REGION: tuple[OptInType, ...] = ("Aurora", "CloudFormation", "DynamoDB", "EBS", "EC2", "EFS", "Redshift", "RDS")
# The columns of "Supported services by AWS Region", in the page's order.
BY_REGION: tuple[OptInType, ...] = (
    "DSQL",
    "FSx",
    "SAP HANA on Amazon EC2",
    "S3",
    "Storage Gateway",
    "Timestream",
    "VirtualMachine",
    "EKS",
    "Neptune",
    "DocumentDB",
)
_EVERY_COLUMN: frozenset[str] = frozenset((*EVERY_REGION, *BY_REGION, "Redshift Serverless"))


@dataclass(frozen=True)
class RegionFacts:
    name: str  # as AWS's page writes it
    opt_in: bool  # the page's Opt-in column says "Required"
    resource_types: frozenset[str] | None  # None: the page's row does not establish them (see above)
    air_gapped_copy: bool = True  # footnote 1: cross-account copy to a logically air-gapped vault works here


def _row(name: str, *, opt_in: bool, full: bool = False, air_gapped_copy: bool = True) -> RegionFacts:
    return RegionFacts(name, opt_in, _EVERY_COLUMN if full else None, air_gapped_copy)


# Every Region of the page. Footnote 1: "Cross-Region and cross-account copy to a logically air-gapped vault is not
# currently available in Asia Pacific (Malaysia), Canada West (Calgary), Mexico (Central), Asia Pacific (Thailand),
# Asia Pacific (Taipei), Asia Pacific (New Zealand), China (Beijing), China (Ningxia), AWS GovCloud (US-East), or
# AWS GovCloud (US-West) Regions." China and GovCloud are their own partitions, not opt-in Regions. The page's AWS
# European Sovereign Cloud (Germany) is left out: the pinned botocore has no such Region, so no config can name it.
REGIONS: dict[str, RegionFacts] = {
    "us-east-1": _row("US East (N. Virginia)", opt_in=False, full=True),
    "us-east-2": _row("US East (Ohio)", opt_in=False, full=True),
    "us-west-1": _row("US West (N. California)", opt_in=False),
    "us-west-2": _row("US West (Oregon)", opt_in=False, full=True),
    "af-south-1": _row("Africa (Cape Town)", opt_in=True),
    "ap-east-1": _row("Asia Pacific (Hong Kong)", opt_in=True),
    "ap-south-2": _row("Asia Pacific (Hyderabad)", opt_in=True),
    "ap-southeast-3": _row("Asia Pacific (Jakarta)", opt_in=True),
    "ap-southeast-5": _row("Asia Pacific (Malaysia)", opt_in=True, air_gapped_copy=False),
    "ap-southeast-4": _row("Asia Pacific (Melbourne)", opt_in=True),
    "ap-south-1": _row("Asia Pacific (Mumbai)", opt_in=False),
    "ap-southeast-6": _row("Asia Pacific (New Zealand)", opt_in=True, air_gapped_copy=False),
    "ap-northeast-3": _row("Asia Pacific (Osaka)", opt_in=False),
    "ap-northeast-2": _row("Asia Pacific (Seoul)", opt_in=False),
    "ap-southeast-1": _row("Asia Pacific (Singapore)", opt_in=False),
    "ap-southeast-2": _row("Asia Pacific (Sydney)", opt_in=False),
    "ap-east-2": _row("Asia Pacific (Taipei)", opt_in=True, air_gapped_copy=False),
    "ap-southeast-7": _row("Asia Pacific (Thailand)", opt_in=True, air_gapped_copy=False),
    "ap-northeast-1": _row("Asia Pacific (Tokyo)", opt_in=False, full=True),
    "ca-central-1": _row("Canada (Central)", opt_in=False),
    "ca-west-1": _row("Canada West (Calgary)", opt_in=True, air_gapped_copy=False),
    "cn-north-1": _row("China (Beijing)", opt_in=False, air_gapped_copy=False),
    "cn-northwest-1": _row("China (Ningxia)", opt_in=False, air_gapped_copy=False),
    "eu-central-1": _row("Europe (Frankfurt)", opt_in=False, full=True),
    "eu-west-1": _row("Europe (Ireland)", opt_in=False, full=True),
    "eu-west-2": _row("Europe (London)", opt_in=False),
    "eu-south-1": _row("Europe (Milan)", opt_in=True),
    "eu-west-3": _row("Europe (Paris)", opt_in=False),
    "eu-south-2": _row("Europe (Spain)", opt_in=True),
    "eu-north-1": _row("Europe (Stockholm)", opt_in=False),
    "eu-central-2": _row("Europe (Zurich)", opt_in=True),
    "il-central-1": _row("Israel (Tel Aviv)", opt_in=True),
    "mx-central-1": _row("Mexico (Central)", opt_in=True, air_gapped_copy=False),
    "me-south-1": _row("Middle East (Bahrain)", opt_in=True),
    "me-central-1": _row("Middle East (UAE)", opt_in=True),
    "sa-east-1": _row("South America (São Paulo)", opt_in=False),
    "us-gov-east-1": _row("AWS GovCloud (US-East)", opt_in=False, air_gapped_copy=False),
    "us-gov-west-1": _row("AWS GovCloud (US-West)", opt_in=False, air_gapped_copy=False),
}


def resource_types(region: str) -> frozenset[str] | None:
    """The Region-settings types AWS Backup supports in ``region``, or None where this table does not know them."""
    facts = REGIONS.get(region)
    return facts.resource_types if facts else None


def needs_opt_in(region: str) -> bool:
    """Whether accounts must enable ``region`` first; a Region missing from the table counts as one (checked)."""
    facts = REGIONS.get(region)
    return facts is None or facts.opt_in
