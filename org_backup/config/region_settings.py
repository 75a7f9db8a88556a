"""The config's Region settings model (``region_settings``) and its cross-field rules, which ``config_rules`` runs.

The member stacks put one ``aws_backup_region_settings`` in every target Region, and its maps must name exactly the
resource types AWS Backup supports in that Region (``region_support``):
- AWS refuses a type the Region does not support: "Element present in resource type opt in preference has invalid
  values. Please use describeRegionSettings API to know the supported resource types" (boto/boto3#3758; the same
  error in hashicorp/terraform-provider-aws#21801), and UpdateRegionSettings' own reference says "Use the
  DescribeRegionSettings API to determine the resource types that are supported".
- hashicorp/aws 5.100.0 reads the whole map back: ``resource_type_opt_in_preference`` is a Required TypeMap (not
  Computed) and its read does ``d.Set("resource_type_opt_in_preference", output.ResourceTypeOptInPreference)`` with
  DescribeRegionSettings' output (internal/service/backup/region_settings.go; read in stored versions from before
  and after 5.100.0, identical in this; the repository was too large to fetch at the tag), so every type AWS returns
  that the configuration lacks is planned again on every run (#30881: "AWS returns an error if you specify keys
  corresponding to any service which is not supported in the region"). ``resource_type_management_preference`` is
  Optional and Computed, but once set it is compared in full the same way.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from org_backup.config.errors import Problem
from org_backup.config.region_support import READ_ON, SOURCE, OptInType, resource_types
from org_backup.config.resource_types import RESOURCE_TYPES
from org_backup.config.validation import Model, Region

# The types of the full-management preference, as hashicorp/aws 5.100.0 documents aws_backup_region_settings
# (website/docs/r/backup_region_settings.html.markdown: CloudFormation, DSQL, DynamoDB, EFS).
FullManagementType = Literal["CloudFormation", "DSQL", "DynamoDB", "EFS"]


class RegionSettings(Model):
    """AWS Backup's opt-in settings in every member account and Region. AWS applies them to tag-based selections:
    "If resource assignments are only based on tags, then service opt-in settings are applied" (UpdateRegionSettings,
    AWS Backup API reference), so a tagged resource of a type not opted in is silently never backed up."""

    enabled: bool = Field(default=True, description="Manage the Region settings in every member account and Region.")
    opt_out: tuple[OptInType, ...] = Field(
        default=(),
        description="Resource types not to back up even when tagged; every other type AWS Backup supports in a "
        "Region is opted in there (the backup policies select by tag, so by default every type they can reach).",
    )
    full_management: tuple[FullManagementType, ...] = Field(
        default=("DynamoDB", "EFS"),
        description="Types whose backups AWS Backup fully manages (own encryption with the vault key, cross-account "
        "copy; for DynamoDB the advanced backup features). Types listed here are not opted out.",
    )
    supported_types: dict[Region, tuple[OptInType, ...]] = Field(
        default_factory=dict,
        description="The resource types AWS Backup supports in a target Region, exactly as `aws backup "
        "describe-region-settings --region <Region> --query 'keys(ResourceTypeOptInPreference)'` lists them. "
        "Needed for a Region org-backup's table (org_backup/config/region_support.py) does not establish; for a Region it "
        "does, this list replaces the table's. `python -m org_backup doctor` compares both with AWS.",
    )

    def types_in(self, region: str) -> frozenset[str] | None:
        """The types AWS Backup supports in ``region``: supported_types, else the table; None if neither says."""
        listed = self.supported_types.get(region)
        return frozenset(listed) if listed is not None else resource_types(region)

    def _types(self, region: str) -> frozenset[str]:
        types = self.types_in(region)
        if types is None:  # config validation refuses such a target Region; never guess a map AWS may refuse
            raise ValueError(f"the resource types of AWS Backup in {region} are unknown (region_settings)")
        return types

    def opt_in_preference(self, region: str) -> dict[str, bool]:
        return {kind: kind not in self.opt_out for kind in get_args(OptInType) if kind in self._types(region)}

    def management_preference(self, region: str) -> dict[str, bool]:
        types = self._types(region)
        return {kind: kind in self.full_management for kind in get_args(FullManagementType) if kind in types}


def region_settings_problems(settings: RegionSettings, target_regions: tuple[str, ...]) -> list[Problem]:
    problems = []
    for index, kind in enumerate(settings.full_management):
        if kind in settings.opt_out:
            problems.append(
                Problem(
                    f"region_settings.full_management[{index}]",
                    f"{kind!r} is also in region_settings.opt_out; AWS Backup does not back up a type that is not "
                    "opted in, so full management of it would do nothing. Fix: remove it from one of the two lists.",
                )
            )
    for region in settings.supported_types:
        if region not in target_regions:
            problems.append(
                Problem(
                    f"region_settings.supported_types.{region}",
                    f"{region!r} is not one of target_regions ({', '.join(target_regions)}), so no Region settings "
                    "use it. Fix: remove the entry, or add the Region to target_regions.",
                )
            )
    if not settings.enabled:
        return problems
    for index, region in enumerate(target_regions):
        types = settings.types_in(region)
        if types is None:
            problems.append(
                Problem(
                    f"target_regions[{index}]",
                    f"{region!r}: which resource types AWS Backup supports there is not established by AWS's "
                    f"'Supported services by AWS Region' table as org-backup read it ({SOURCE}, {READ_ON}; "
                    "org_backup/config/region_support.py), and the Region settings must name exactly those: AWS refuses a "
                    "type the Region lacks, and Terraform plans a type left out again on every run. Fix: add "
                    f"region_settings.supported_types.{region} with the output of `aws backup "
                    f"describe-region-settings --region {region} --query 'keys(ResourceTypeOptInPreference)'` "
                    "(any account), or set region_settings.enabled: false and manage the Region settings yourself.",
                )
            )
            continue
        for kind_index, kind in enumerate(settings.full_management):
            if kind not in types:
                problems.append(
                    Problem(
                        f"region_settings.full_management[{kind_index}]",
                        f"{kind!r} is not a resource type AWS Backup supports in {region} (target_regions[{index}]; "
                        f"{_where(settings, region)}), and AWS refuses a Region setting for a type the Region "
                        f"lacks. Fix: remove {kind} from full_management, or, if `aws backup describe-region-settings "
                        f"--region {region}` lists it, add it to region_settings.supported_types.{region}.",
                    )
                )
    return problems


def _where(settings: RegionSettings, region: str) -> str:
    if region in settings.supported_types:
        return f"region_settings.supported_types.{region}"
    return f"org_backup/config/region_support.py, from {SOURCE} read on {READ_ON}"


def selection_type_problems(
    where: str, kinds: tuple[str, ...], regions: tuple[str, ...], settings: RegionSettings
) -> list[Problem]:
    """A plan's selection naming resource types (``resource_types.SelectableType``) in Regions where AWS Backup does
    not support them; nothing is said of a Region whose types are unknown (config validation already refuses it
    while org-backup manages the Region settings). For ``plan_rules``."""
    problems = []
    for region in regions:
        types = settings.types_in(region)
        bad = [kind for kind in kinds if types is not None and RESOURCE_TYPES[kind].opt_in not in types]
        if bad:
            problems.append(
                Problem(
                    where,
                    f"{', '.join(bad)}: AWS Backup does not support {'it' if len(bad) == 1 else 'them'} in {region} "
                    f"({_where(settings, region)}), where the plan applies. Fix: remove "
                    f"{'it' if len(bad) == 1 else 'them'} from this selection, or limit the plan's regions to "
                    "Regions that support it.",
                )
            )
    return problems
