"""The per-Region table (org_backup/config/region_support.py) against AWS's page, transcribed here by hand and on its own:
AWS Backup Developer Guide, "AWS Backup feature availability"
(https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-availability.html), and against botocore's
own Region names, so a code put beside the wrong name fails."""

from __future__ import annotations

from typing import get_args

from botocore.loaders import create_loader

from org_backup.config.region_support import REGIONS, OptInType, needs_opt_in, resource_types
from org_backup.config.resource_types import NO_CROSS_ACCOUNT_AIR_GAPPED_COPY, RESOURCE_TYPES

# "Feature availability by AWS Region", the Opt-in column: the rows that say "Required".
OPT_IN_REQUIRED = {
    "Africa (Cape Town)", "Asia Pacific (Hong Kong)", "Asia Pacific (Hyderabad)", "Asia Pacific (Jakarta)",
    "Asia Pacific (Malaysia)", "Asia Pacific (Melbourne)", "Asia Pacific (New Zealand)", "Asia Pacific (Taipei)",
    "Asia Pacific (Thailand)", "Canada West (Calgary)", "Europe (Milan)", "Europe (Spain)", "Europe (Zurich)",
    "Israel (Tel Aviv)", "Mexico (Central)", "Middle East (Bahrain)", "Middle East (UAE)",
}  # fmt: skip
# "Supported services by AWS Region": the rows with a mark in all ten columns (US East (N. Virginia)✓✓✓✓✓✓✓✓✓✓ ...).
EVERY_COLUMN = {
    "US East (N. Virginia)", "US East (Ohio)", "US West (Oregon)", "Asia Pacific (Tokyo)", "Europe (Frankfurt)",
    "Europe (Ireland)",
}  # fmt: skip
# Footnote 1: "Cross-Region and cross-account copy to a logically air-gapped vault is not currently available in ..."
NO_AIR_GAPPED_COPY = {
    "Asia Pacific (Malaysia)", "Canada West (Calgary)", "Mexico (Central)", "Asia Pacific (Thailand)",
    "Asia Pacific (Taipei)", "Asia Pacific (New Zealand)", "China (Beijing)", "China (Ningxia)",
    "AWS GovCloud (US-East)", "AWS GovCloud (US-West)",
}  # fmt: skip


def test_every_region_of_the_page_is_in_the_table_once_with_its_botocore_code() -> None:
    described = {
        code: facts.get("description")
        for partition in create_loader().load_data("endpoints")["partitions"]
        for code, facts in partition["regions"].items()
    }
    assert len(REGIONS) == 38  # the page's 39 rows without AWS European Sovereign Cloud (Germany)
    assert len({facts.name for facts in REGIONS.values()}) == len(REGIONS)
    unknown_to_botocore = set()
    for code, facts in REGIONS.items():
        if code not in described:
            unknown_to_botocore.add(code)
        else:  # botocore writes São Paulo without its accent
            assert described[code] == facts.name.replace("São", "Sao"), code
    assert unknown_to_botocore == {"ap-east-2", "ap-southeast-6"}  # Taipei and New Zealand: newer than botocore 1.35


def test_opt_in_regions_are_the_rows_that_say_required() -> None:
    assert {facts.name for facts in REGIONS.values() if facts.opt_in} == OPT_IN_REQUIRED
    assert needs_opt_in("af-south-1") and not needs_opt_in("eu-west-1")
    assert needs_opt_in("xx-nowhere-1")  # unknown to the table: doctor checks it rather than assume


def test_only_regions_marked_in_every_column_have_their_resource_types() -> None:
    known = {facts.name for facts in REGIONS.values() if facts.resource_types is not None}
    assert known == EVERY_COLUMN
    # The eight every-Region types, the ten columns, and Redshift Serverless: all nineteen Region-settings keys.
    assert resource_types("eu-west-1") == frozenset(get_args(OptInType))
    assert len(get_args(OptInType)) == 19
    assert resource_types("eu-west-2") is None  # Europe (London): nine marks of ten, which one is missing is unknown
    assert resource_types("xx-nowhere-1") is None


def test_air_gapped_copy_regions_are_those_of_footnote_1() -> None:
    assert {REGIONS[code].name for code in NO_CROSS_ACCOUNT_AIR_GAPPED_COPY} == NO_AIR_GAPPED_COPY


def test_every_selectable_type_has_its_region_settings_key() -> None:
    """A plan's resource type maps to the Region-settings key AWS Backup uses for it (GetSupportedResourceTypes:
    "Aurora for Amazon Aurora", "Storage Gateway for AWS Storage Gateway", "SAP HANA on Amazon EC2 for SAP HANA
    databases ...", "VirtualMachine for VMware virtual machines")."""
    keys = {name: kind.opt_in for name, kind in RESOURCE_TYPES.items()}
    assert set(keys.values()) <= set(get_args(OptInType))
    assert keys["RDSCluster"] == "Aurora"
    assert keys["StorageGateway"] == "Storage Gateway"
    assert keys["SAPHANA"] == "SAP HANA on Amazon EC2"
    assert keys["FSxVolume"] == keys["FSx"] == "FSx"
