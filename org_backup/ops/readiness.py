"""``python -m org_backup readiness``: read-only, per member account and Region, the resources that carry a backup
tag of a plan but will not be protected as that plan says, each with the reason and the fix.

What a plan says comes from the effective backup policy of the account (``org_backup.plans.effective``: the documents
this project renders, merged as AWS Organizations merges them): its Regions, its tag selections, and the accounts
its copy actions copy to. What each resource gets is read from the account, through a role assumed in it (the
plan role by default; ``--role-name`` for another, e.g. a role an administrator can assume):

| finding | when | AWS source |
| --- | --- | --- |
| ``not-opted-in`` | the resource's type is not opted in for the Region | UpdateRegionSettings (AWS Backup API): "If resource assignments are only based on tags, then service opt-in settings are applied" |
| ``aws-managed-key`` | a cross-account copy of an EBS volume, EC2 instance, RDS instance, Aurora, DocumentDB or Neptune cluster encrypted with an AWS managed key (``aws/ebs``, ``aws/rds``) | AWS Backup guide, Encryption: backups of types not fully managed by AWS Backup "inherit the encryption settings from their source resource"; AWS Storage Blog, "Create and share encrypted backups across accounts and Regions using AWS Backup": cross-account copy of such resources "can only be performed if they are encrypted by AWS KMS customer managed keys" |
| ``key-not-shared`` | the same, on a customer managed key whose key policy does not let the copy's destination account use it (``kms:Decrypt``, ``kms:DescribeKey``, ``kms:CreateGrant``; EBS snapshots also ``kms:ReEncrypt*``, ``kms:GenerateDataKey*``: ``org_backup.iam.key_policy``) | AWS re:Post Knowledge Center, "troubleshoot cross-account copy": "Confirm that the source AWS KMS key policy allows the destination account"; Amazon EBS User Guide, share-kms-key.html |
| ``key-unreadable`` | the key policy cannot be read, so the above cannot be decided | - |
| ``dynamodb-not-fully-managed`` | a cross-account copy of a DynamoDB table while the Region's DynamoDB management preference (advanced features) is off | AWS Backup guide, Advanced DynamoDB backup: cross-account copy needs the advanced features |
| ``config-not-recording`` | ``audit.frameworks`` is on, and no AWS Config recorder of the account and Region is recording the backup resource types the frameworks evaluate | AWS Backup guide, "Choosing your controls": each control's "AWS Config recording resource type" |

Read: EBS volumes, EC2 instances (through their volumes), RDS DB instances (not cluster members), the DB clusters
RDS's DescribeDBClusters lists (Aurora, DocumentDB, Neptune, Multi-AZ RDS: each under its own AWS Backup type name,
``cluster_kind``), DynamoDB tables, and the Region settings. Not read (say so when they matter): the other types AWS
Backup supports (EFS and S3 are fully managed: they take the vault's key; FSx, Redshift, Storage Gateway and others
are not inspected). Key policies are decided by ``org_backup.iam.evaluator`` (AWS's documented
evaluation logic) for the requests the copy makes (``org_backup.iam.key_policy``); one it cannot decide reads as not shared.

Exit codes: 0 nothing at risk, 1 something at risk, 3 an account or Region could not be read (listed; nothing
is claimed for it), 2 invalid input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming
from org_backup.iam.key_policy import shared_key_actions, shares_with
from org_backup.ops.aws_config_recording import CONFIG_NOT_RECORDING, gap_and_fix
from org_backup.plans.backup_policy import RenderedPolicy

SESSION_NAME = "org-backup-readiness"
NOT_OPTED_IN = "not-opted-in"
AWS_MANAGED_KEY = "aws-managed-key"
KEY_NOT_SHARED = "key-not-shared"
KEY_UNREADABLE = "key-unreadable"
DYNAMODB_NOT_FULLY_MANAGED = "dynamodb-not-fully-managed"


@dataclass(frozen=True)
class Selector:
    """One tag selection of a plan in one Region, and the accounts its rules copy to (other than its own)."""

    plan: str
    tag_key: str
    tag_values: tuple[str, ...]
    copy_accounts: tuple[str, ...]

    def selects(self, tags: dict[str, str]) -> bool:
        return tags.get(self.tag_key) in self.tag_values


def selectors(effective: dict[str, Any], account_id: str, region: str) -> list[Selector]:
    """The tag selections that apply in ``region`` of an account, from its effective backup policy."""
    found = []
    for plan_name, plan in sorted(effective.get("plans", {}).items()):
        if region not in plan.get("regions", []):
            continue
        accounts = sorted(
            {
                target.split(":")[4]
                for rule in plan.get("rules", {}).values()
                for target in rule.get("copy_actions", {})
                if target.split(":")[4] not in (account_id, "$account")
            }
        )
        for selection in plan.get("selections", {}).get("tags", {}).values():
            found.append(Selector(plan_name, selection["tag_key"], tuple(selection["tag_value"]), tuple(accounts)))
    return found


@dataclass(frozen=True)
class Resource:
    arn: str
    kind: str  # AWS Backup's resource type name, as in the Region settings: EBS, EC2, RDS, Aurora, DynamoDB
    tags: dict[str, str]
    keys: tuple[str, ...] = ()  # KMS keys that encrypt it (an instance: its volumes'); empty when unencrypted


@dataclass(frozen=True)
class Finding:
    account: str
    region: str
    resource: str
    kind: str
    plans: tuple[str, ...]
    problem: str
    detail: str
    fix: str


@dataclass(frozen=True)
class Unreadable:
    account: str
    region: str
    error: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    checked: int = 0  # tagged resources looked at

    @property
    def exit_code(self) -> int:
        return 3 if self.unreadable else 1 if self.findings else 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "checked": self.checked,
                "findings": [asdict(f) for f in self.findings],
                "unreadable": [asdict(u) for u in self.unreadable],
            },
            indent=2,
            sort_keys=True,
        )

    def render(self) -> str:
        lines = [
            f"{f.account} {f.region} {f.kind:<8} {f.resource}\n    {f.problem} ({', '.join(f.plans)}): {f.detail}\n"
            f"    Fix: {f.fix}"
            for f in self.findings
        ]
        lines += [f"{u.account} {u.region}: NOT CHECKED: {u.error}" for u in self.unreadable]
        verdict = (
            f"{len(self.findings)} of {self.checked} tagged resources at risk"
            if self.findings
            else f"all {self.checked} tagged resources will be protected as their plans say"
        )
        if self.unreadable:
            verdict += f"; {len(self.unreadable)} account/Region pairs not checked"
        return "\n".join([*lines, f"readiness: {verdict}."])


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _tags(items: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


class Workloads:
    """The tagged resources of one account and Region that readiness reads, with their keys."""

    def __init__(self, session: boto3.Session, account: str, region: str, tag_keys: list[str], partition: str) -> None:
        self.session, self.region = session, region
        self.tag_keys = tag_keys
        self.ec2_arn = f"arn:{partition}:ec2:{region}:{account}"

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)

    def resources(self) -> Iterator[Resource]:
        yield from self._volumes_and_instances()
        yield from self._databases()
        yield from self._tables()

    def _volumes_and_instances(self) -> Iterator[Resource]:
        ec2 = self.client("ec2")
        tagged = [{"Name": "tag-key", "Values": self.tag_keys}]
        for volume in _pages(ec2, "describe_volumes", "Volumes", Filters=tagged):
            yield Resource(
                f"{self.ec2_arn}:volume/{volume['VolumeId']}", "EBS", _tags(volume.get("Tags")), _volume_keys([volume])
            )
        for reservation in _pages(ec2, "describe_instances", "Reservations", Filters=tagged):
            for instance in reservation["Instances"]:
                ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
                volumes = list(_pages(ec2, "describe_volumes", "Volumes", VolumeIds=ids)) if ids else []
                yield Resource(
                    f"{self.ec2_arn}:instance/{instance['InstanceId']}",
                    "EC2",
                    _tags(instance.get("Tags")),
                    _volume_keys(volumes),
                )

    def _databases(self) -> Iterator[Resource]:
        rds = self.client("rds")
        for db in _pages(rds, "describe_db_instances", "DBInstances"):
            if db.get("DBClusterIdentifier"):  # an Aurora member: backed up as its cluster
                continue
            keys = (db["KmsKeyId"],) if db.get("StorageEncrypted") else ()
            yield Resource(db["DBInstanceArn"], "RDS", _tags(db.get("TagList")), keys)
        for cluster in _pages(rds, "describe_db_clusters", "DBClusters"):
            kind = cluster_kind(cluster.get("Engine", ""))
            keys = (cluster["KmsKeyId"],) if cluster.get("StorageEncrypted") else ()
            yield Resource(cluster["DBClusterArn"], kind, _tags(cluster.get("TagList")), keys)

    def _tables(self) -> Iterator[Resource]:
        dynamodb = self.client("dynamodb")
        for name in _pages(dynamodb, "list_tables", "TableNames"):
            arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
            tags = _tags(list(_pages(dynamodb, "list_tags_of_resource", "Tags", ResourceArn=arn)))
            yield Resource(arn, "DynamoDB", tags)


def cluster_kind(engine: str) -> str:
    """AWS Backup's type (opt-in key; API GetSupportedResourceTypes: "DocumentDB for Amazon DocumentDB (with MongoDB
    compatibility)", "Neptune for Amazon Neptune") of a cluster RDS's DescribeDBClusters lists ("can also return
    information for Amazon Neptune DB instances and Amazon DocumentDB instances"); DocumentDB's engine is "docdb"."""
    return {"docdb": "DocumentDB", "neptune": "Neptune"}.get(engine, "Aurora" if engine.startswith("aurora") else "RDS")


def _volume_keys(volumes: list[dict[str, Any]]) -> tuple[str, ...]:
    # An encrypted volume always has a key; moto omits it for the account's default, which is alias/aws/ebs.
    return tuple(sorted({v.get("KmsKeyId") or "alias/aws/ebs" for v in volumes if v.get("Encrypted")}))


@dataclass(frozen=True)
class Key:
    arn: str
    aws_managed: bool
    policy: dict[str, Any] | None  # None: not readable
    error: str = ""


class Keys:
    """KMS keys of one account and Region, described once each."""

    def __init__(self, session: boto3.Session, region: str) -> None:
        self.kms = session.client("kms", region_name=region)
        self._found: dict[str, Key] = {}

    def get(self, key_id: str) -> Key:
        if key_id not in self._found:
            try:
                metadata = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
            except ClientError as exc:
                self._found[key_id] = Key(key_id, False, None, exc.response["Error"].get("Message", str(exc)))
                return self._found[key_id]
            arn = metadata["Arn"]
            if metadata.get("KeyManager") == "AWS":
                self._found[key_id] = Key(arn, True, None)
                return self._found[key_id]
            try:
                policy = json.loads(self.kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
                self._found[key_id] = Key(arn, False, policy)
            except ClientError as exc:
                self._found[key_id] = Key(arn, False, None, exc.response["Error"].get("Message", str(exc)))
        return self._found[key_id]


def check_resource(
    resource: Resource,
    matched: list[Selector],
    settings: dict[str, dict[str, bool]],
    keys: Keys,
    organization_id: str,
    partition: str,
) -> list[tuple[str, str, str]]:
    """(problem, detail, fix) for one tagged resource."""
    problems = []
    if not settings.get("ResourceTypeOptInPreference", {}).get(resource.kind, False):
        problems.append(
            (
                NOT_OPTED_IN,
                f"{resource.kind} is not opted in for this Region: AWS Backup skips it, so it is never backed up",
                f"deploy this account's member stack (it opts every type in) or remove {resource.kind} from "
                "region_settings.opt_out in backup.yaml",
            )
        )
    destinations = sorted({a for s in matched for a in s.copy_accounts})
    if not destinations:
        return problems
    if resource.kind == "DynamoDB":
        if not settings.get("ResourceTypeManagementPreference", {}).get("DynamoDB", False):
            problems.append(
                (
                    DYNAMODB_NOT_FULLY_MANAGED,
                    f"copies to {', '.join(destinations)} fail: DynamoDB advanced backup features are off here",
                    "deploy this account's member stack with DynamoDB in region_settings.full_management (default)",
                )
            )
        return problems
    for key_id in resource.keys:
        key = keys.get(key_id)
        if key.aws_managed:
            problems.append(
                (
                    AWS_MANAGED_KEY,
                    f"encrypted with the AWS managed key {key.arn}: its backups keep that key and cannot be copied "
                    f"to {', '.join(destinations)}",
                    "re-encrypt it with a customer managed key whose policy allows the central account "
                    "(a copy of the volume or snapshot with the new key; RDS: restore a snapshot copy with it)",
                )
            )
        elif key.policy is None:
            problems.append(
                (
                    KEY_UNREADABLE,
                    f"cannot read the policy of {key.arn} ({key.error}), so whether copies to "
                    f"{', '.join(destinations)} work is unknown",
                    "let the role readiness runs as call kms:DescribeKey and kms:GetKeyPolicy on the key",
                )
            )
        else:
            for account in destinations:
                missing = shares_with(
                    key.policy,
                    key_arn=key.arn,
                    account=account,
                    organization_id=organization_id,
                    resource_kind=resource.kind,
                )
                if missing:
                    why = "; ".join(f"{action}: {reason}" for action, reason in missing.items())
                    problems.append(
                        (
                            KEY_NOT_SHARED,
                            f"the policy of {key.arn} does not let account {account} use it ({why}): copies there fail",
                            f"let arn:{partition}:iam::{account}:root use {', '.join(shared_key_actions(resource.kind))}"
                            " in the key policy, with no statement denying it",
                        )
                    )
    return problems


def check_account_region(
    session: boto3.Session,
    account: str,
    region: str,
    effective: dict[str, Any],
    organization_id: str,
    partition: str,
    report: Report,
) -> None:
    found = selectors(effective, account, region)
    if not found:
        return
    settings = session.client("backup", region_name=region).describe_region_settings()
    keys = Keys(session, region)
    tag_keys = sorted({s.tag_key for s in found})
    for resource in Workloads(session, account, region, tag_keys, partition).resources():
        matched = [s for s in found if s.selects(resource.tags)]
        if not matched:
            continue
        report.checked += 1
        plans = tuple(sorted({s.plan for s in matched}))
        for problem, detail, fix in check_resource(resource, matched, settings, keys, organization_id, partition):
            report.findings.append(Finding(account, region, resource.arn, resource.kind, plans, problem, detail, fix))


def run(
    config: BackupConfig,
    backup_policies: tuple[RenderedPolicy, ...],
    session_for: Callable[[str], boto3.Session],
    *,
    accounts: list[str] | None = None,
    regions: list[str] | None = None,
) -> Report:
    from org_backup.plans.effective import preview

    effective = {p.account_id: p.effective for p in preview(config, backup_policies)}
    report = Report()
    partition = Naming(config).partition
    for account in accounts or list(config.member_accounts):
        try:
            session = session_for(account)
        except (ClientError, BotoCoreError) as exc:
            report.unreadable += [
                Unreadable(account, r, f"no session: {exc}") for r in regions or config.target_regions
            ]
            continue
        for region in regions or config.target_regions:
            try:
                check_account_region(
                    session, account, region, effective.get(account, {}), config.organization.id, partition, report
                )
                gap = gap_and_fix(session, region) if config.audit.frameworks.enabled else None
                if gap:
                    report.findings.append(
                        Finding(
                            account, region, "AWS Config", "Config", ("audit.frameworks",), CONFIG_NOT_RECORDING, *gap
                        )
                    )
            except (ClientError, BotoCoreError) as exc:
                report.unreadable.append(Unreadable(account, region, str(exc)))
    return report


def assume_in_each_account(config: BackupConfig, role_name: str, base: boto3.Session) -> Callable[[str], boto3.Session]:
    naming = Naming(config)
    sts = base.client("sts", region_name=config.pipeline_region)  # any Region: a regional STS endpoint

    def session_for(account: str) -> boto3.Session:
        credentials = sts.assume_role(
            RoleArn=naming.role_arn(account, role_name), RoleSessionName=SESSION_NAME, DurationSeconds=900
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return session_for


def main(
    config: BackupConfig,
    backup_policies: tuple[RenderedPolicy, ...],
    *,
    as_json: bool,
    accounts: list[str] | None,
    regions: list[str] | None,
    role_name: str | None,
    no_assume_role: bool,
) -> int:
    unknown = sorted(set(accounts or []) - set(config.member_accounts))
    unknown_regions = sorted(set(regions or []) - set(config.target_regions))
    if unknown or unknown_regions:
        print(
            f"readiness: {', '.join(unknown + unknown_regions)} not among the member accounts / target_regions of "
            "the config. Fix: name accounts of target_ous and Regions of target_regions.",
            file=sys.stderr,
        )
        return 2
    base = boto3.Session()
    if no_assume_role:
        if not accounts or len(accounts) != 1:
            print("readiness: --no-assume-role reads one account: name it with --account.", file=sys.stderr)
            return 2
        caller = base.client("sts", region_name=config.pipeline_region).get_caller_identity()["Account"]
        if caller != accounts[0]:
            print(f"readiness: the credentials belong to {caller}, not {accounts[0]}.", file=sys.stderr)
            return 2
    session_for = (
        (lambda _account: base)
        if no_assume_role
        else assume_in_each_account(config, role_name or config.names.plan_role, base)
    )
    report = run(config, backup_policies, session_for, accounts=accounts, regions=regions)
    print(report.to_json() if as_json else report.render())
    return report.exit_code
