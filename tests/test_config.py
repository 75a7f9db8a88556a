"""Config validation: valid configs load; each malformed config fails with the exact message, exit 2, and
leaves the output directory exactly as it was."""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict, load_config
from org_backup.config.yaml_io import dump_yaml
from org_backup.synth.inputs import Inputs
from tests.conftest import EXAMPLE_CONFIG, FIXTURES, MINIMAL_CONFIG, ROOT

BASE: dict[str, Any] = yaml.safe_load((MINIMAL_CONFIG).read_text())


def test_example_config_loads_with_expected_shape() -> None:
    config = load_config(EXAMPLE_CONFIG)
    assert config.member_accounts == ("444444444444", "555555555555", "666666666666")
    assert config.target_regions == ("eu-west-1", "eu-central-1", "us-east-1")
    assert len(config.target_ous) == 2
    assert config.vault_lock.central is not None and config.vault_lock.central.changeable_for_days == 3
    assert config.partition == "aws"


def test_defaults_are_the_reference_solution_names() -> None:
    config = load_config(MINIMAL_CONFIG)
    assert config.names.member_vault == "AWSBackupSolutionVault"
    assert config.names.central_vault == "AWSBackupSolutionCentralVault"
    assert config.names.member_key_alias == "alias/AWSBackupSolutionKey"
    assert config.names.backup_role == "AWSBackupSolutionRole"
    assert config.state_backend.type == "local"


def test_config_is_frozen() -> None:
    config = load_config(MINIMAL_CONFIG)
    with pytest.raises(Exception, match="frozen"):
        config.target_regions = ("eu-west-1",)  # type: ignore[misc]


def _mutated(*changes: Callable[[dict[str, Any]], None]) -> str:
    data = copy.deepcopy(BASE)
    for change in changes:
        change(data)
    return dump_yaml(data, sort_keys=False)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return change


_DELETE = object()

LOCK = {"mode": "compliance", "min_retention_days": 7, "max_retention_days": 35, "changeable_for_days": 3}

# (case id, file content, expected message after "<file> has N problem(s):")
CASES: list[tuple[str, str, str]] = [
    (
        "bad-org-id",
        _mutated(_set("organization.id", "o-123")),
        "has 1 problem:\n  - organization.id: 'o-123' is not an AWS Organizations id ('o-' followed by 10-32 lowercase "
        "letters or digits). Fix: run `aws organizations describe-organization --query Organization.Id`.",
    ),
    (
        "unquoted-account-id",
        _mutated(_set("central_backup.account_id", 100000000002)),
        "has 1 problem:\n  - central_backup.account_id: 100000000002 must be a quoted string (an AWS account id). YAML "
        'reads an unquoted number as an integer and drops leading zeros. Fix: write it in quotes: "100000000002".',
    ),
    (
        "unquoted-account-id-with-a-leading-zero",  # YAML 1.1 read this one as a string: now refused like the others
        _mutated(_set("central_backup.account_id", "012345678901")).replace("'012345678901'", "012345678901"),
        "has 1 problem:\n  - central_backup.account_id: 12345678901 must be a quoted string (an AWS account id). YAML "
        'reads an unquoted number as an integer and drops leading zeros. Fix: write it in quotes: "012345678901".',
    ),
    (
        "short-account-id",
        _mutated(_set("target_ous.0.accounts", ["12345678901"])),
        "has 1 problem:\n  - target_ous[0].accounts[0]: '12345678901' is not an AWS account id (exactly 12 digits). "
        "Fix: copy the id from the Organizations console, keeping leading zeros.",
    ),
    (
        "unknown-region",
        _mutated(_set("target_regions", ["us-east-1", "eu-west-9"])),
        "has 1 problem:\n  - target_regions[1]: 'eu-west-9' is not an AWS Region code known to botocore (rule: a Region "
        "such as 'eu-west-1'). Fix: correct the spelling, or upgrade botocore if the Region is newer than the pinned "
        "version.",
    ),
    (
        "duplicate-region",
        _mutated(_set("target_regions", ["us-east-1", "us-east-1"])),
        "has 1 problem:\n  - target_regions[1]: 'us-east-1' is listed twice. Fix: remove the duplicate.",
    ),
    (
        "duplicate-account",
        _mutated(
            _set(
                "target_ous",
                [
                    {"id": "ou-mini-00000001", "name": "a", "accounts": ["100000000004"]},
                    {"id": "ou-mini-00000002", "name": "b", "accounts": ["100000000004"]},
                ],
            )
        ),
        "has 1 problem:\n  - target_ous[1].accounts[0]: account '100000000004' is already listed at "
        "target_ous[0].accounts[0]; an account sits in exactly one OU. Fix: keep only the entry for the OU it is in.",
    ),
    (
        "management-account-as-member",
        _mutated(_set("target_ous.0.accounts", ["100000000001"])),
        "has 1 problem:\n  - target_ous[0].accounts[0]: '100000000001' is the management account, which is never in an "
        "OU and is not governed by backup policies or SCPs. Fix: remove it from target_ous.",
    ),
    (
        "bad-ou-id",
        _mutated(_set("target_ous.0.id", "ou-XY")),
        "has 1 problem:\n  - target_ous[0].id: 'ou-XY' is not an organizational unit id ('ou-' + 4-32 lowercase letters "
        "or digits + '-' + 8-32 lowercase letters or digits). Fix: run "
        "`aws organizations list-organizational-units-for-parent`.",
    ),
    (
        "missing-central-account",
        _mutated(_set("central_backup.account_id", _DELETE)),
        "has 1 problem:\n  - central_backup.account_id: is required but missing. Fix: add 'account_id' (see "
        "backup.yaml for an example).",
    ),
    (
        "pipeline-source-not-chosen",
        _mutated(_set("pipeline.source", _DELETE)),
        "has 1 problem:\n  - pipeline.source: is required but missing. Fix: add 'source' with 'type: codecommit' if "
        "the home account can still create CodeCommit repositories (AWS no longer offers CodeCommit to new customers; "
        "docs/deploy.md, Deploy it), or 'type: connection' with 'connection_arn' and 'repository' (see "
        "tests/fixtures/connection_source.yaml).",
    ),
    (
        "missing-central-section",
        _mutated(_set("central_backup", _DELETE)),
        "has 1 problem:\n  - central_backup: is required but missing. Fix: add 'central_backup' (see backup.yaml for "
        "an example).",
    ),
    (
        "monitoring-account-that-no-stack-deploys",
        _mutated(_set("monitoring", {"account_id": "100000000003", "alerts": {"emails": ["ops@example.com"]}})),
        "has 1 problem:\n  - monitoring.account_id: '100000000003' is neither the central backup account nor a member "
        "account, so no org-backup stack (and no deploy role) reaches it. Fix: use the central account (the default: "
        "remove the line) or an account of a target OU, e.g. a dedicated monitoring account moved into one.",
    ),
    (
        "monitoring-region-outside-its-stack",
        _mutated(_set("monitoring", {"region": "eu-west-1"})),
        "has 1 problem:\n  - monitoring.region: 'eu-west-1' is not a Region of the monitoring account's stack "
        "(us-east-1). Fix: pick one of those, or remove the line for the first.",
    ),
    (
        "alert-recipients-that-are-not-addresses",
        _mutated(_set("monitoring", {"alerts": {"emails": ["ops"], "https_endpoints": ["http://hooks.example.com"]}})),
        "has 2 problems:\n  - monitoring.alerts.emails[0]: 'ops' is not an email address (one '@' and a domain with a "
        "dot, no spaces). Fix: write one full address per list item, e.g. backup-alerts@example.com.\n  - "
        "monitoring.alerts.https_endpoints[0]: 'http://hooks.example.com' is not an HTTPS URL (Amazon SNS https "
        "subscriptions: 'https://' and a host). Fix: use the https:// address of the endpoint (plain http is refused: "
        "alerts name resources and accounts).",
    ),
    (
        "restore-tests-outside-the-central-regions-with-a-duplicate-name",
        _mutated(
            _set(
                "restore_testing",
                {
                    "regions": ["eu-west-1"],
                    "selections": [
                        {"name": "ebs", "resource_type": "EBS", "protected_resource_arns": ["*"]},
                        {"name": "ebs", "resource_type": "EFS", "protected_resource_arns": ["*"]},
                    ],
                },
            )
        ),
        "has 2 problems:\n  - restore_testing.regions[0]: 'eu-west-1' has no central vault (central Regions: "
        "us-east-1); restore tests restore from the central vault of their Region. Fix: use a central Region.\n"
        "  - restore_testing.selections[1].name: 'ebs' is used by an earlier selection; AWS Backup needs unique "
        "selection names in a plan. Fix: rename one.",
    ),
    (
        "restore-test-name-with-a-dash",
        _mutated(
            _set(
                "restore_testing",
                {"selections": [{"name": "daily-ebs", "resource_type": "EBS", "protected_resource_arns": ["*"]}]},
            )
        ),
        "has 1 problem:\n  - restore_testing.selections[0].name: 'daily-ebs' is not a restore testing name (AWS "
        "Backup: 1-50 letters, digits and underscores). Fix: replace '-' and spaces with '_'.",
    ),
    # A newcomer's first hour (issue 28): values that used to pass because a pattern matched part of them, or a
    # schedule or time zone nobody checked. Each expectation is the rule as AWS states it, written here by hand.
    (
        "codecommit-repository-with-a-space",
        _mutated(_set("pipeline.source.repository", "org backup")),
        "has 1 problem:\n  - pipeline.source.codecommit.repository: 'org backup' is not a CodeCommit repository name "
        "(1-100 letters, digits, '.', '_' and '-', not ending in .git). Fix: use e.g. org-backup (no spaces, no "
        "slashes).",
    ),
    (
        "connection-arn-with-trailing-text-and-repository-as-a-url",
        _mutated(
            _set(
                "pipeline.source",
                {
                    "type": "connection",
                    "connection_arn": "arn:aws:codeconnections:us-east-1:100000000003:connection/abc-123 (github)",
                    "repository": "https://github.com/example-org/org-backup",
                },
            )
        ),
        "has 2 problems:\n  - pipeline.source.connection.connection_arn: 'arn:aws:codeconnections:us-east-1:"
        "100000000003:connection/a... (74 characters) is not a CodeConnections connection ARN (arn:aws:"
        "codeconnections:<Region>:<home account>:connection/<id>, nothing before or after it): ' (github)' follows "
        "the ARN. Fix: remove it.\n  - pipeline.source.connection.repository: 'https://github.com/"
        "example-org/org-backup' is not a repository's owner/name (the owner (or group) and the name, separated by "
        "'/', as the provider shows them; not a URL). Fix: write e.g. example-org/org-backup for https://github.com/"
        "example-org/org-backup.",
    ),
    (
        "two-emails-in-one-list-item",
        _mutated(_set("pipeline.notification_emails", ["ops@example.com, dba@example.com"])),
        "has 1 problem:\n  - pipeline.notification_emails[0]: 'ops@example.com, dba@example.com' is not an email "
        "address (one '@' and a domain with a dot, no spaces). Fix: write one full address per list item, e.g. "
        "backup-alerts@example.com.",
    ),
    (
        "state-key-prefix-with-a-leading-slash-and-a-space",
        _mutated(
            _set(
                "state_backend",
                {"type": "s3", "bucket": "org-state", "region": "us-east-1", "key_prefix": "/org backup"},
            )
        ),
        "has 1 problem:\n  - state_backend.s3.key_prefix: '/org backup' is not a state key prefix (1-200 letters, "
        "digits and !_.*'()- in parts separated by single '/', no '/' at either end, no spaces). Fix: e.g. org-backup "
        "or teams/platform/org-backup.",
    ),
    (
        "restore-test-schedules-a-unix-cron-in-an-offset-time-zone",
        _mutated(
            _set(
                "restore_testing",
                {
                    "schedule": "cron(0 5 * * 6)",
                    "schedule_timezone": "UTC+2",
                    "selections": [{"name": "ebs", "resource_type": "EBS", "protected_resource_arns": ["*"]}],
                },
            )
        ),
        # Unix day-of-week 6 is Saturday, AWS's SAT is 7 (EventBridge cron reference: 1-7 or SUN-SAT).
        "has 2 problems:\n  - restore_testing.schedule: 'cron(0 5 * * 6)' is a Unix (5-field) cron; AWS's has 6 "
        "fields. Fix: write cron(0 5 ? * 7 *) (AWS numbers the days SUN=1 to SAT=7).\n  - restore_testing."
        "schedule_timezone: 'UTC+2' is not an IANA time zone name (Area/City from the tz database, e.g. "
        "Europe/Berlin; an offset like UTC+2 is not one: Etc/GMT-2 is UTC+2, its sign inverted). Fix: did you mean "
        "UTC?",
    ),
    (
        "restore-test-schedule-in-words",
        _mutated(
            _set(
                "restore_testing",
                {
                    "schedule": "cron(every saturday)",
                    "selections": [{"name": "ebs", "resource_type": "EBS", "protected_resource_arns": ["*"]}],
                },
            )
        ),
        "has 1 problem:\n  - restore_testing.schedule: 'cron(every saturday)' has 2 fields; AWS cron has 6: minutes "
        "hours day-of-month month day-of-week year. Fix: write minutes hours day-of-month month day-of-week year, "
        "e.g. cron(0 5 ? * * *) for 05:00 UTC every day.",
    ),
    (
        "policy-administrator-without-org-backup-roles",  # the home account: neither central nor a member
        _mutated(_set("organization.policy_admin_account_id", "100000000003")),
        "has 1 problem:\n  - organization.policy_admin_account_id: '100000000003' would manage the backup policies "
        "and SCPs (organization.policy_admin_account_id, by default the backup delegated administrator), but "
        "org-backup gives deploy and plan roles only to the central account and the accounts of target_ous. Fix: set "
        "organization.policy_admin_account_id to the central account '100000000002' or a member account (or to the "
        "management account '100000000001' to keep managing them there).",
    ),
    (
        "reports-without-a-delegated-administrator",
        _mutated(_set("audit", {"reports": {"enabled": True}})),
        "has 1 problem:\n  - audit.reports.enabled: is true, but organization.backup_delegated_admin_account_id is not "
        "set: AWS Backup creates cross-account reports only in the management account or a delegated administrator. "
        "Fix: set backup_delegated_admin_account_id (the central account is a good choice).",
    ),
    (
        "unknown-key",
        _mutated(_set("target_region", ["us-east-1"])),
        "has 1 problem:\n  - target_region: unknown key 'target_region'. Fix: remove it or correct the spelling; "
        "allowed keys here: accounts_file, audit, backup_plans_file, central_backup, discovery, guardrails, "
        "monitoring, names, organization, pipeline, region_settings, restore_testing, retired_accounts, "
        "retired_regions, state_backend, tag_reapply, tags, target_ous, target_regions, vault_lock.",
    ),
    (
        "retired-break-glass-role",
        _mutated(_set("names", {"break_glass_role": "OrgBackupBreakGlass"})),
        "has 1 problem:\n  - names.break_glass_role: is no longer supported: nothing created that role, so its "
        "exemption from the vault policies and the anti-tampering SCP protected nobody but whoever could create a role "
        "of that name. Only the deploy role is exempt now. Fix: delete the line; make emergency changes through the "
        "pipeline's deploy role (docs/security.md, Guardrails).",
    ),
    (
        "unknown-backup-resource-type",
        _mutated(_set("region_settings", {"opt_out": ["EBS", "Glacier"]})),
        "has 1 problem:\n  - region_settings.opt_out[1]: 'Glacier' is not one of the allowed values. Fix: use one of "
        "'Aurora', 'CloudFormation', 'DocumentDB', 'DSQL', 'DynamoDB', 'EBS', 'EC2', 'EFS', 'EKS', 'FSx', 'Neptune', "
        "'RDS', 'Redshift', 'Redshift Serverless', 'S3', 'SAP HANA on Amazon EC2', 'Storage Gateway', 'Timestream' or "
        "'VirtualMachine' (spelled exactly so).",
    ),
    (
        "fully-managed-type-opted-out",
        _mutated(_set("region_settings", {"opt_out": ["EFS"], "full_management": ["EFS"]})),
        "has 1 problem:\n  - region_settings.full_management[0]: 'EFS' is also in region_settings.opt_out; AWS Backup "
        "does not back up a type that is not opted in, so full management of it would do nothing. Fix: remove it "
        "from one of the two lists.",
    ),
    (
        # AWS's "Supported services by AWS Region" row of Europe (London) has 9 of its 10 marks, and the stored copy
        # does not say which is missing (org_backup/config/region_support.py): refused, never guessed.
        "target-region-whose-backup-types-are-not-established",
        _mutated(_set("target_regions", ["us-east-1", "eu-west-2"])),
        "has 1 problem:\n  - target_regions[1]: 'eu-west-2': which resource types AWS Backup supports there is not "
        "established by AWS's 'Supported services by AWS Region' table as org-backup read it "
        "(https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-availability.html, 2026-12-03; "
        "org_backup/config/region_support.py), and the Region settings must name exactly those: AWS refuses a type the "
        "Region lacks, and Terraform plans a type left out again on every run. Fix: add "
        "region_settings.supported_types.eu-west-2 with the output of `aws backup describe-region-settings --region "
        "eu-west-2 --query 'keys(ResourceTypeOptInPreference)'` (any account), or set region_settings.enabled: false "
        "and manage the Region settings yourself.",
    ),
    (
        "fully-managed-type-the-region-lacks",
        _mutated(
            _set("target_regions", ["us-east-1", "eu-west-2"]),
            _set(
                "region_settings",
                {"full_management": ["DynamoDB", "DSQL"], "supported_types": {"eu-west-2": ["DynamoDB", "EC2"]}},
            ),
        ),
        "has 1 problem:\n  - region_settings.full_management[1]: 'DSQL' is not a resource type AWS Backup supports in "
        "eu-west-2 (target_regions[1]; region_settings.supported_types.eu-west-2), and AWS refuses a Region setting "
        "for a type the Region lacks. Fix: remove DSQL from full_management, or, if `aws backup "
        "describe-region-settings --region eu-west-2` lists it, add it to region_settings.supported_types.eu-west-2.",
    ),
    (
        "supported-types-of-a-region-that-is-no-target",
        _mutated(_set("region_settings", {"supported_types": {"eu-west-2": ["EC2"]}})),
        "has 1 problem:\n  - region_settings.supported_types.eu-west-2: 'eu-west-2' is not one of target_regions "
        "(us-east-1), so no Region settings use it. Fix: remove the entry, or add the Region to target_regions.",
    ),
    (
        "supported-type-that-aws-backup-does-not-have",
        _mutated(_set("region_settings", {"supported_types": {"us-east-1": ["EC2", "Glacier"]}})),
        "has 1 problem:\n  - region_settings.supported_types.us-east-1[1]: 'Glacier' is not one of the allowed "
        "values. Fix: use one of 'Aurora', 'CloudFormation', 'DocumentDB', 'DSQL', 'DynamoDB', 'EBS', 'EC2', 'EFS', "
        "'EKS', 'FSx', 'Neptune', 'RDS', 'Redshift', 'Redshift Serverless', 'S3', 'SAP HANA on Amazon EC2', "
        "'Storage Gateway', 'Timestream' or 'VirtualMachine' (spelled exactly so).",
    ),
    (
        "ou-without-accounts",
        _mutated(_set("target_ous.0.accounts", [])),
        "has 1 problem:\n  - target_ous[0].accounts: is empty: OU 'ou-mini-00000001' protects no account. Fix: list "
        "its accounts, or set accounts_file: accounts.lock.yaml and run `python -m org_backup discover`.",
    ),
    (
        "exclusions-without-discovery",
        _mutated(_set("discovery", {"exclude_accounts": [{"id": "100000000009", "reason": "x"}]})),
        "has 1 problem:\n  - discovery: exclusions apply to discovered accounts, but accounts_file is not set, so "
        "nothing is discovered. Fix: set accounts_file, or drop the account from target_ous[].accounts instead.",
    ),
    (
        "lock-min-above-max",
        _mutated(_set("vault_lock", {"member": {**LOCK, "min_retention_days": 40}})),
        "has 1 problem:\n  - vault_lock.member: min_retention_days 40 is greater than max_retention_days 35 (AWS "
        "Backup requires min <= max). Fix: swap or correct them.",
    ),
    (
        "lock-compliance-without-grace",
        _mutated(_set("vault_lock", {"central": {k: v for k, v in LOCK.items() if k != "changeable_for_days"}})),
        "has 1 problem:\n  - vault_lock.central.changeable_for_days: is required in compliance mode (the grace period "
        "before the lock becomes immutable). Fix: set it to at least 3.",
    ),
    (
        "lock-grace-too-short",
        _mutated(_set("vault_lock", {"central": {**LOCK, "changeable_for_days": 2}})),
        "has 1 problem:\n  - vault_lock.central.changeable_for_days: 2 is outside AWS Backup's range 3-36500 days. "
        "Fix: use at least 3.",
    ),
    (
        # AWS Backup API reference, PutBackupVaultLockConfiguration ChangeableForDays: the grace time after which the
        # lock "becomes immutable": a lock given it is compliance mode, whatever the config calls it.
        "lock-governance-with-grace",
        _mutated(_set("vault_lock", {"member": {**LOCK, "mode": "governance"}})),
        "has 1 problem:\n  - vault_lock.member.changeable_for_days: 3 is only valid in compliance mode (setting it "
        "makes AWS lock the vault in compliance mode). Fix: remove it, or set mode: compliance.",
    ),
    (
        "lock-retention-too-long",
        _mutated(_set("vault_lock", {"member": {**LOCK, "max_retention_days": 36501}})),
        "has 1 problem:\n  - vault_lock.member.max_retention_days: 36501 is outside AWS Backup vault lock's range "
        "1-36500 days. Fix: pick a value in range.",
    ),
    (
        "bad-vault-name",
        _mutated(_set("names", {"member_vault": "my vault"})),
        "has 1 problem:\n  - names.member_vault: 'my vault' is not a valid backup vault name (AWS Backup: 2-50 "
        "characters, letters, digits, '-' and '_'). Fix: shorten it or remove other characters.",
    ),
    (
        "reserved-kms-alias",
        _mutated(_set("names", {"central_key_alias": "alias/aws/backup"})),
        "has 1 problem:\n  - names.central_key_alias: 'alias/aws/backup' uses the prefix 'alias/aws/' that AWS KMS "
        "reserves for AWS managed keys. Fix: choose another prefix, e.g. 'alias/org-backup/'.",
    ),
    (
        "bad-state-bucket",
        _mutated(_set("state_backend", {"type": "s3", "bucket": "Bad_Bucket", "region": "us-east-1"})),
        "has 1 problem:\n  - state_backend.s3.bucket: 'Bad_Bucket' is not a valid S3 bucket name (S3: 3-63 characters, "
        "lowercase letters, digits, '.' and '-', starting and ending with a letter or digit). Fix: use lowercase and "
        "remove other characters.",
    ),
    (
        "state-bucket-outside-the-pipeline-region",
        _mutated(_set("state_backend", {"type": "s3", "bucket": "org-state", "region": "eu-west-1"})),
        "has 1 problem:\n  - state_backend.region: 'eu-west-1' is not the pipeline's Region ('us-east-1'), where "
        "bootstrap-home creates the state bucket and the KMS key that encrypts it (SSE-KMS needs the key in the "
        "bucket's Region). Fix: set state_backend.region to 'us-east-1', or pipeline.region to 'eu-west-1'.",
    ),
    (
        "mixed-partitions",
        # Region settings off: AWS's table does not establish GovCloud's types (a case above tests that refusal).
        _mutated(_set("target_regions", ["us-east-1", "us-gov-west-1"]), _set("region_settings", {"enabled": False})),
        "has 1 problem:\n  - target_regions: Regions span several partitions (aws, aws-us-gov); AWS Organizations and "
        "cross-account copies stay within one partition. Fix: use Regions of one partition.",
    ),
    (
        "several-problems-at-once",
        _mutated(
            lambda d: (
                _set("organization.id", "org-1")(d),
                _set("target_regions", ["mars-1"])(d),
                _set("tags", {"aws:owner": "x"})(d),
            )
        ),
        "has 3 problems:\n  - organization.id: 'org-1' is not an AWS Organizations id ('o-' followed by 10-32 "
        "lowercase letters or digits). Fix: run `aws organizations describe-organization --query Organization.Id`.\n"
        "  - target_regions[0]: 'mars-1' is not an AWS Region code known to botocore (rule: a Region such as "
        "'eu-west-1'). Fix: correct the spelling, or upgrade botocore if the Region is newer than the pinned version.\n"
        "  - tags: key 'aws:owner' uses the prefix 'aws:' that AWS reserves. Fix: rename or remove those tags.",
    ),
    (
        "unreadable-yaml",
        "organization:\n  id: o-minimal0001\n  management_account_id: [unclosed\n",
        "has 1 problem:\n  - is not valid YAML at line 4, column 1, begun at line 3 ('management_account_id: "
        "[unclosed'): a '[' list is not closed (expected ',' or ']', but got '<stream end>'). Fix: close the list with "
        "']' on the same line.",
    ),
    (
        "duplicate-yaml-key",
        "organization:\n  id: o-minimal0001\n  id: o-minimal0002\n",
        "has 1 problem:\n  - is not valid YAML at line 3, column 3 ('id: o-minimal0002'): a key appears twice in one "
        "mapping (duplicate key 'id' (first defined on line 2); YAML would silently keep only the last one). Fix: "
        "remove one of them (YAML would keep only the last).",
    ),
    (
        "yaml-tab",
        "organization:\n\tid: o-minimal0001\n",
        "has 1 problem:\n  - is not valid YAML at line 2, column 1 ('id: o-minimal0001'): a tab: YAML indents with "
        "spaces only (found character '\\t' that cannot start any token). Fix: replace the tab with spaces.",
    ),
    (
        "yaml-misindented-key",
        "organization:\n  id: o-minimal0001\n   management_account_id: '100000000001'\n",
        "has 1 problem:\n  - is not valid YAML at line 3, column 25 (\"management_account_id: '100000000001'\"): a ':' "
        "where YAML does not expect a key (mapping values are not allowed here). Fix: quote the value, or fix the "
        "indentation.",
    ),
    (
        "yaml-unclosed-quote",
        'organization:\n  id: "o-minimal0001\n',
        "has 1 problem:\n  - is not valid YAML: line 2 ('id: \"o-minimal0001') opens a quoted string that it does "
        "not close, so YAML reads on into line 3 (found unexpected end of stream). Fix: close the quote on line 2.",
    ),
    (
        "yaml-unclosed-quote-before-more-keys",  # was blamed on the next line's indentation (issue 28)
        'organization:\n  id: "o-minimal0001\n  management_account_id: "100000000001"\n',
        "has 1 problem:\n  - is not valid YAML: line 2 ('id: \"o-minimal0001') opens a quoted string that it does "
        "not close, so YAML reads on into line 3 (expected <block end>, but found '<scalar>'). Fix: close the quote "
        "on line 2.",
    ),
    (
        "type-errors",
        _mutated(
            _set("target_regions", "us-east-1"),
            _set("pipeline.deploy_shards", "eight"),
            _set("tag_reapply", {"log_retention_days": 365, "enabled": "sometimes"}),
        ),
        "has 3 problems:\n  - pipeline.deploy_shards: 'eight' is not a whole number. Fix: write digits only, e.g. "
        "35.\n  - target_regions: 'us-east-1' must be a list. Fix: write it as [a, b] or as lines starting with '- '."
        "\n  - tag_reapply.enabled: 'sometimes' is not true or false. Fix: write true or false.",
    ),
    (
        "empty-file",
        "\n  \n",
        "has 1 problem:\n  - is empty. Fix: start from the example (backup.minimal.yaml or backup.yaml in the "
        "repository).",
    ),
    (
        "not-a-mapping",
        "- just\n- a list\n",
        "has 1 problem:\n  - holds a list, not settings: a config is 'key: value' lines at the top level. Fix: start "
        "from backup.minimal.yaml (the smallest config) or backup.yaml (every feature) in the repository.",
    ),
    (
        "comments-only",  # was "got NoneType"
        "# organization:\n#   id: o-...\n",
        "has 1 problem:\n  - has no settings, only comments: a config is 'key: value' lines at the top level. Fix: "
        "start from backup.minimal.yaml (the smallest config) or backup.yaml (every feature) in the repository.",
    ),
    # New-user trials, round two (issue 28): each was accepted, crashed or misled before.
    (
        "central-account-is-the-management-account",  # both bootstrap stacks created the same roles there
        _mutated(_set("central_backup.account_id", "100000000001")),
        "has 1 problem:\n  - central_backup.account_id: '100000000001' is the management account. The central vault "
        "must be isolated from the accounts it protects, and the pipeline could not deploy it there: with the "
        "policies delegated it never assumes a role in the management account, and otherwise bootstrap-management "
        "and bootstrap-central would both create the same roles. Fix: use a dedicated member account for the "
        "central vault, in an OU of its own.",
    ),
    (
        "air-gapped-vault-named-like-the-central-vault",  # AWS Backup vault names are unique per account and Region
        _mutated(
            _set("central_backup.air_gapped", {"min_retention_days": 7, "max_retention_days": 400}),
            _set("names", {"air_gapped_vault": "AWSBackupSolutionCentralVault"}),
        ),
        "has 1 problem:\n  - names.air_gapped_vault: 'AWSBackupSolutionCentralVault' is also the central (or member) "
        "vault's name; the air-gapped vault sits beside them in the central account, and vault names, air-gapped ones "
        "included, are unique per account and Region. Fix: use a name of its own.",
    ),
    (
        "tag-keys-that-differ-only-in-case",  # IAM User Guide, Tagging IAM resources: role tag keys ignore case
        _mutated(_set("tags", {"Owner": "a", "owner": "b"})),
        "has 1 problem:\n  - tags: keys 'Owner' and 'owner' differ only in case, which IAM roles refuse. Fix: rename "
        "or remove those tags.",
    ),
    (
        "a-section-left-empty",  # YAML's null equalled "off": no central vault lock, without a word
        _mutated() + "vault_lock:\n  central:\n",
        "has 1 problem:\n  - vault_lock.central: is empty: YAML reads a key with nothing after it as null, which "
        "would silently take the default (no copy, no vault lock, backups kept forever, ...). Fix: write its value "
        "or settings, or remove the key if the default is what you mean.",
    ),
    (
        "a-value-left-empty",  # an empty scalar equalled its default just the same
        _mutated(_set("organization", {**BASE["organization"], "backup_delegated_admin_account_id": None})),
        "has 1 problem:\n  - organization.backup_delegated_admin_account_id: is empty: YAML reads a key with nothing "
        "after it as null, which would silently take the default (no copy, no vault lock, backups kept forever, ...). "
        "Fix: write its value or settings, or remove the key if the default is what you mean.",
    ),
    (
        "a-boolean-where-a-region-belongs",  # YAML 1.1 reads an unquoted no as false; was told about leading zeros
        _mutated(_set("target_regions", ["us-east-1", False])),
        "has 1 problem:\n  - target_regions[1]: False must be a quoted string (an AWS Region code): YAML reads an "
        'unquoted yes, no, on, off, true or false as a boolean. Fix: write the value in quotes, e.g. "eu-west-1".',
    ),
    (
        "a-control-character",  # a terminal colour code pasted in: PyYAML's ReaderError was a traceback
        _mutated().replace("name: only", "name: \x1b[32monly"),
        "has 1 problem:\n  - contains the control character U+001B at line 18, column 9, which YAML does not allow "
        "(often a terminal colour code or a NUL pasted in). Fix: delete it; write special characters as escapes "
        'inside double quotes, e.g. "\\e".',
    ),
]


def _run_main(config: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    """`python main.py` as `make synth` runs it, in a fresh interpreter."""
    env = dict(os.environ, BACKUP_CONFIG=str(config), CDKTF_OUTDIR=str(outdir))
    env.pop("ORG_BACKUP_LOCAL_API", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py")], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _main_in_process(
    config: Path, outdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """main.main() in this interpreter (what the entry point calls; ~0.4 s cheaper than a new interpreter each)."""
    import main

    monkeypatch.setenv("BACKUP_CONFIG", str(config))
    monkeypatch.setenv("CDKTF_OUTDIR", str(outdir))
    monkeypatch.delenv("ORG_BACKUP_LOCAL_API", raising=False)
    code = main.main()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _with_previous_output(tmp_path: Path, content: str) -> tuple[Path, Path]:
    config = tmp_path / "backup.yaml"
    config.write_text(content)
    outdir = tmp_path / "cdktf.out"
    (outdir / "stacks" / "previous").mkdir(parents=True)
    (outdir / "stacks" / "previous" / "cdk.tf.json").write_text('{"from": "the last good synth"}')
    return config, outdir


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_config_fails_with_exact_message_and_writes_nothing(
    tmp_path: Path, content: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, outdir = _with_previous_output(tmp_path, content)
    before = _snapshot(tmp_path)

    code, out, err = _main_in_process(config, outdir, monkeypatch, capsys)

    assert code == 2, err
    assert _without_lines(err, content) == _by_line(f"{config} {expected}\n", err)
    assert out == ""
    assert _snapshot(tmp_path) == before


_AT_LINE = re.compile(r"^  - (?P<field>[^ :]+) \(line (?P<line>\d+)\): ", re.MULTILINE)


def _without_lines(err: str, content: str) -> str:
    """The message without its "(line N)" annotations, each checked first against the YAML that was written: that
    line holds the field's key (or, for a missing field, an enclosing one), or is the list item it indexes."""
    numbers = []
    for match in _AT_LINE.finditer(err):
        text = content.splitlines()[int(match["line"]) - 1]
        keys = [k for k in re.split(r"[.\[\]]", match["field"]) if k and not k.isdigit()]
        # the field's own key, or (a missing field) the nearest enclosing one, or the list item it indexes
        assert text.lstrip().startswith("-") or any(f"{key}:" in text for key in keys), (match["field"], text)
        numbers.append(int(match["line"]))
    assert numbers == sorted(numbers), "problems are listed by line"
    return re.sub(r" \(line \d+\)", "", err)


def _by_line(expected: str, err: str) -> str:
    """The expected problems in the order the output lists them (by line): the same lines, compared exactly."""
    head, *problems = expected.rstrip("\n").split("\n  - ")
    order = [re.sub(r" \(line \d+\)", "", line.removeprefix("  - ")) for line in err.splitlines()[1:]]
    ranked = sorted(problems, key=lambda p: order.index(p) if p in order else len(order))
    return "\n  - ".join([head, *ranked]) + "\n"


def test_entry_point_exits_2_with_the_message_on_stderr_and_writes_nothing(tmp_path: Path) -> None:
    """The process itself, as `make synth` and the cdktf CLI start it: exit code, streams, output untouched."""
    config, outdir = _with_previous_output(tmp_path, CASES[0][1])
    before = _snapshot(tmp_path)

    result = _run_main(config, outdir)

    assert result.returncode == 2, result.stderr
    assert _without_lines(result.stderr, CASES[0][1]) == f"{config} {CASES[0][2]}\n"
    assert result.stdout == ""
    assert _snapshot(tmp_path) == before


def test_missing_config_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main_in_process(tmp_path / "nope.yaml", tmp_path / "cdktf.out", monkeypatch, capsys)
    assert code == 2
    assert err == (
        f"{tmp_path / 'nope.yaml'} has 1 problem:\n  - file not found. Fix: create it, or correct BACKUP_CONFIG (or "
        "--config).\n"
    )
    assert not (tmp_path / "cdktf.out").exists()


def test_a_utf16_file_is_told_to_be_saved_as_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """New-user trials (issue 28): Notepad's "Unicode" and PowerShell 5's `>` write UTF-16 with a byte-order mark
    (FF FE); the file was called binary and the user told to correct its path."""
    config = tmp_path / "backup.yaml"
    config.write_bytes(MINIMAL_CONFIG.read_text().encode("utf-16"))
    assert config.read_bytes()[:2] == b"\xff\xfe"
    code, _, err = _main_in_process(config, tmp_path / "cdktf.out", monkeypatch, capsys)
    assert code == 2
    assert err == (
        f"{config} has 1 problem:\n  - is UTF-16 text, not UTF-8. Fix: save it as UTF-8 (the editor's encoding menu, "
        "or iconv -f UTF-16 -t UTF-8).\n"
    )
    assert not (tmp_path / "cdktf.out").exists()


def test_the_readme_counts_the_malformed_cases() -> None:
    """The docs/testing.md, Tests table says how many malformed configs are tried: it says what is here (issue 30 found the
    count stale once)."""
    said = re.search(r"config validation: (\d+) malformed configs", (ROOT / "docs" / "testing.md").read_text())
    assert said is not None and int(said.group(1)) == len(CASES) >= 12


def test_committed_schema_matches_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    from org_backup.__main__ import main as cli

    assert cli(["schema"]) == 0
    assert (ROOT / "backup.schema.json").read_text() == capsys.readouterr().out, "run `make schema` and commit it"


@pytest.mark.parametrize("endpoint", [None, "https://backup.eu-west-1.amazonaws.com", "http://10.0.0.5:5000"])
def test_test_mode_refuses_an_endpoint_that_is_not_this_machine(
    endpoint: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test-mode stacks have no prevent_destroy: with no local API named they must not be written at all."""
    import main

    _, outdir = _with_previous_output(tmp_path, "")
    before = _snapshot(tmp_path)
    monkeypatch.setenv("BACKUP_CONFIG", str(EXAMPLE_CONFIG))
    monkeypatch.setenv("CDKTF_OUTDIR", str(outdir))
    monkeypatch.setenv("ORG_BACKUP_LOCAL_API", "1")
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    assert main.main() == 2
    assert capsys.readouterr().err == (
        "ORG_BACKUP_LOCAL_API=1 needs AWS_ENDPOINT_URL on this machine (127.0.0.1, ::1 or localhost), "
        f"not {endpoint or ''!r}. Fix: unset ORG_BACKUP_LOCAL_API (it is for tests only) or start the local API.\n"
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("setting", "named_by"),
    [("backup_plans_file", "backup_plans_file in backup.yaml"), ("accounts_file", "accounts_file in backup.yaml")],
)
def test_a_missing_or_unreadable_referenced_file_names_the_setting_that_names_it(
    tmp_path: Path, setting: str, named_by: str
) -> None:
    """Each file's fix names the setting that points at it (the plans file's once said BACKUP_CONFIG)."""
    data = dict(BASE)
    data[setting] = "missing.yaml"
    if setting == "accounts_file":
        data["target_ous"] = [{k: v for k, v in ou.items() if k != "accounts"} for ou in data["target_ous"]]
    config = tmp_path / "backup.yaml"
    config.write_text(dump_yaml(data))
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(InputError) as missing:
        Inputs.load(config)
    data[setting] = "folder.yaml"
    config.write_text(dump_yaml(data))
    with pytest.raises(InputError) as directory:
        Inputs.load(config)
    expected = (
        "does not exist. Fix: run"
        if setting == "accounts_file"
        else f"file not found. Fix: create it, or correct {named_by}."
    )
    assert expected in missing.value.render()
    assert f"is a directory, not a file. Fix: correct {named_by}." in directory.value.render()


def test_long_values_are_cut_and_many_problems_capped(tmp_path: Path) -> None:
    """A 400-character value is quoted in 60 with its length; 120 bad account ids print 50 problems and a count."""
    data = copy.deepcopy(BASE)
    data["organization"]["id"] = "o-" + "x" * 400
    data["target_ous"][0]["accounts"] = [str(i).zfill(11) for i in range(120)]  # 11 digits: not account ids
    config = tmp_path / "backup.yaml"
    config.write_text(dump_yaml(data))
    with pytest.raises(InputError) as raised:
        load_config(config)
    lines = _without_lines(raised.value.render(), config.read_text()).splitlines()
    assert lines[0] == f"{config} has 121 problems:"
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  ... and 71 more (fix these, then run again to see the rest)"
    organization = next(line for line in lines if line.startswith("  - organization.id: "))
    assert f"'o-{'x' * 57}... (402 characters) is not an AWS Organizations id" in organization


def test_problems_in_the_config_do_not_hide_those_of_the_plans_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run reports both files (the plans file on its own rules: it cannot be checked against a broken config)."""
    plans = tmp_path / "plans.yaml"
    plans.write_text("plans:\n  Daily:\n    policy_name: daily\n    rules: {}\n")
    data = copy.deepcopy(BASE)
    data["organization"]["id"] = "org-1"
    data["backup_plans_file"] = "plans.yaml"
    config = tmp_path / "backup.yaml"
    config.write_text(dump_yaml(data))

    code, out, err = _main_in_process(config, tmp_path / "cdktf.out", monkeypatch, capsys)

    assert code == 2 and out == ""
    config_err, plans_err = err.split(f"{plans} has ")  # each part's lines are of its own file
    config_part, plans_part = (
        _without_lines(config_err, config.read_text()),
        _without_lines(plans_err, plans.read_text()),
    )
    assert config_part.startswith(
        f"{config} has 1 problem:\n  - organization.id: 'org-1' is not an AWS Organizations id"
    )
    assert "plans.Daily.rules:" in plans_part and "plans.Daily.selections: is required but missing" in plans_part
    assert "(see policies/backup_plans.yaml for an example)" in plans_part  # not backup.yaml
    assert not (tmp_path / "cdktf.out").exists()


def test_what_org_backup_writes_it_reads_back_unchanged(tmp_path: Path) -> None:
    """Digit strings are quoted on the way out (the accounts snapshot, configs the tests write), because on the way
    in every unquoted run of digits is a number."""
    from org_backup.config.yaml_io import dump_yaml, load_yaml

    data = {"ids": ["012345678901", "123456789012", "0049"], "n": 35}
    path = tmp_path / "round.yaml"
    path.write_text(dump_yaml(data))
    assert "'012345678901'" in path.read_text()
    assert load_yaml(path) == data


def test_nested_yaml_aliases_are_refused_before_they_are_expanded(tmp_path: Path) -> None:
    """A "billion laughs" document: seven levels of nine aliases. It stands for 6,053,451 values, counted by hand:
    level a is a list of 9 strings (10 values with the list), each next level a list of 9 of the previous one
    (1 + 9 x 10 = 91, then 820, 7,381, 66,430, 597,871, 5,380,840), plus the mapping and its 7 keys. Reading it
    value by value never ended (issue 28); refused with the count and a fix, nothing read further."""
    levels = "abcdefg"
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]" for previous, name in itertools.pairwise(levels)]
    path = tmp_path / "backup.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as raised:
        load_config(path)
    assert [p.render() for p in raised.value.problems] == [
        "uses YAML aliases (*name) that stand for 6,053,451 values, more than any org-backup input needs (1,000,000): "
        "nested aliases repeat what they name exponentially. Fix: write the values out, or alias only leaves."
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("organization.id", "o-123"),
        ("central_backup.account_id", "12345678901"),
        ("pipeline.notification_emails", ["ops@example.com, dba@example.com"]),
        ("pipeline.source.repository", "org backup"),
        ("state_backend", {"type": "s3", "bucket": "org-state", "region": "us-east-1", "key_prefix": "/org backup"}),
        ("target_ous.0.id", "ou-prod"),
    ],
)
def test_the_schema_editors_read_refuses_what_the_validator_refuses(path: str, value: Any) -> None:
    """backup.schema.json carries each format the validator checks, anchored as a whole-value "pattern" (issue 28):
    an editor flags these before synth does. The committed examples pass it."""
    import jsonschema  # checkov's dependency, in Pipfile.lock

    validator = jsonschema.Draft202012Validator(json.loads((ROOT / "backup.schema.json").read_text()))
    for example in (EXAMPLE_CONFIG, MINIMAL_CONFIG, FIXTURES / "connection_source.yaml"):
        assert list(validator.iter_errors(yaml.safe_load(example.read_text()))) == [], example
    broken = yaml.safe_load(_mutated(_set(path, value)))
    with pytest.raises(InputError):
        config_from_dict(broken, source="broken")

    def patterns(errors: Any) -> list[Any]:  # a oneOf (the state backend, the source) holds its members' errors
        return [found for e in errors for found in ([e] if e.validator == "pattern" else patterns(e.context or []))]

    assert patterns(validator.iter_errors(broken)), path


def test_plan_readers_that_overflow_the_trust_policy_are_refused(tmp_path: Path) -> None:
    """A role trust policy holds 2,048 characters (IAM User Guide, "IAM and AWS STS quotas"); four readers with
    488-character role paths need 4 x 519 = 2,076 for their ARNs alone (31 characters before the path)."""
    long = [f"arn:aws:iam::100000000003:role/{'p' * 480}/Reader{index}" for index in range(4)]
    assert [len(arn) for arn in long] == [519] * 4
    config = yaml.safe_load(MINIMAL_CONFIG.read_text(encoding="utf-8"))
    config["pipeline"]["plan_readers"] = long
    path = tmp_path / "backup.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        Inputs.load(path)  # before any plan is rendered: a role IAM would refuse is no input to synth
    assert raised.value.source == str(path)
    (problem,) = raised.value.problems
    assert problem.field == "pipeline.plan_readers"
    said = re.fullmatch(
        r"make the plan role's trust policy ([\d,]+) characters, over IAM's 2,048 for a role trust policy\. Fix: name "
        r"fewer roles, or roles with shorter paths\.",
        problem.message,
    )
    assert said is not None and int(said.group(1).replace(",", "")) > 4 * 519, problem.message


def test_a_time_zone_cannot_be_checked_without_a_time_zone_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """zoneinfo finds no zone on a machine without the IANA database (Python docs, zoneinfo: "available_timezones
    ... returns an empty set" then): said, with the fix, instead of calling every name invalid."""
    from org_backup.config import formats

    monkeypatch.setattr(formats.zoneinfo, "available_timezones", set)
    data = copy.deepcopy(BASE)
    data["restore_testing"] = {
        "schedule_timezone": "Europe/Berlin",
        "selections": [{"name": "ebs", "resource_type": "EBS", "protected_resource_arns": ["*"]}],
    }
    with pytest.raises(InputError) as raised:
        config_from_dict(data, source="backup.yaml")
    assert [p.render() for p in raised.value.problems] == [
        "restore_testing.schedule_timezone: 'Europe/Berlin' cannot be checked: this machine has no IANA time zone "
        "database. Fix: install one (the tzdata package of the OS, or `pip install tzdata`)."
    ]


def test_rules_that_need_the_member_accounts_wait_for_the_accounts_file(tmp_path: Path) -> None:
    """With accounts_file, target_ous list no accounts: the policy administrator (a member of the snapshot) was
    refused as "no member", and a restore test of an account outside it could not be checked. Both now run once the
    snapshot's accounts are in, and report against backup.yaml with their lines."""
    import shutil

    for name in ("connection_source.yaml", "connection_source.accounts.lock.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    config = tmp_path / "connection_source.yaml"
    text = config.read_text()
    member = 'organization:\n  id: o-connection01\n  policy_admin_account_id: "300000000004"\n'
    config.write_text(text.replace("organization:\n  id: o-connection01\n", member))
    assert load_config(config).policy_admin_account_id == "300000000004"
    stranger = "arn:aws:ec2:us-west-2:300000000009:volume/vol-0123456789abcdef0"  # the excluded account
    testing = f"restore_testing:\n  selections:\n    - name: s\n      resource_type: EBS\n      protected_resource_arns: ['{stranger}']\n"
    config.write_text(config.read_text() + testing)
    with pytest.raises(InputError) as raised:
        load_config(config)
    assert raised.value.source == str(config)
    (problem,) = raised.value.problems
    assert problem.field == "restore_testing.selections[0].protected_resource_arns[0]"
    assert problem.line == len(config.read_text().splitlines())
    assert problem.message.startswith(f"{stranger!r} is in account 300000000009, which is not a member account")
