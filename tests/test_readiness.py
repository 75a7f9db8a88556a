"""`python -m org_backup readiness` against the project's moto server: a member account with resources tagged for
the default plans (which copy every recovery point to the central account), some of which will not be protected
as the plans say. moto is stricter here than its release: the keys behind alias/aws/* are AWS managed (moto
fix 12), as in AWS. And, without the server: which AWS Backup type a DB cluster is, and the project's own member vault
key policy read as shared with the central account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.__main__ import main as cli
from org_backup.config.naming import Naming
from org_backup.config.yaml_io import dump_yaml
from org_backup.iam import deploy_roles
from org_backup.ops import readiness
from org_backup.synth.inputs import Inputs
from tests.conftest import EXAMPLE_CONFIG, FIXTURES, MINIMAL_CONFIG
from tests.rehearsal.moto import MotoServer, seed_organization, session_in

REGION = "us-east-1"
DAILY = [{"Key": "backup", "Value": "daily"}]
USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
# What readiness asked for before it knew EBS's list (Amazon EBS User Guide, share-kms-key.html: also
# kms:GenerateDataKey, kms:GenerateDataKeyWithoutPlaintext and kms:ReEncrypt), with the grants statement beside it.
COPY_ONLY = ("kms:Decrypt", "kms:DescribeKey")


def _key_policy(owner: str, *extra: dict[str, Any]) -> str:
    own = {
        "Sid": "Owner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [own, *extra]})


def _shared(account: str, use: tuple[str, ...] = USE) -> list[dict[str, Any]]:
    """The two statements the KMS console adds for an external account, grants only for AWS resources:
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html"""
    root = {"AWS": f"arn:aws:iam::{account}:root"}
    return [
        {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": root, "Action": use, "Resource": "*"},
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": root,
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


@pytest.fixture(scope="module")
def organization(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The minimal fixture's member account with: volumes on aws/ebs, on an unshared, a shared and a partly shared
    customer key (Decrypt and DescribeKey only) and one untagged; an RDS instance on aws/rds; a Neptune cluster on the
    shared key; a DynamoDB table; an EC2 instance; Region settings that opt every type in but EC2 and Neptune and
    leave DynamoDB without advanced features."""
    workdir = tmp_path_factory.mktemp("readiness")
    moto = MotoServer(workdir / "moto.log")
    try:
        # moto's own ids: the server accepts a key policy naming an account only if that account exists.
        config = seed_organization(moto.url, yaml.safe_load((MINIMAL_CONFIG).read_text()), FIXTURES)
        (workdir / "backup.yaml").write_text(dump_yaml(config))
        member_id, central = config["target_ous"][0]["accounts"][0], config["central_backup"]["account_id"]
        member = session_in(moto.url, member_id)
        ec2 = member.client("ec2", endpoint_url=moto.url, region_name=REGION)
        kms = member.client("kms", endpoint_url=moto.url, region_name=REGION)
        unshared = kms.create_key(Policy=_key_policy(member_id))["KeyMetadata"]["Arn"]
        shared = kms.create_key(Policy=_key_policy(member_id, *_shared(central)))["KeyMetadata"]["Arn"]
        partly = kms.create_key(Policy=_key_policy(member_id, *_shared(central, COPY_ONLY)))["KeyMetadata"]["Arn"]
        volumes = {}
        for name, key, tags in (
            ("aws-managed", "alias/aws/ebs", DAILY),
            ("unshared", unshared, DAILY),
            ("shared", shared, DAILY),
            ("partly-shared", partly, DAILY),
            ("untagged", "alias/aws/ebs", [{"Key": "team", "Value": "x"}]),
        ):
            volumes[name] = "arn:aws:ec2:{}:{}:volume/{}".format(
                REGION,
                member_id,
                ec2.create_volume(
                    AvailabilityZone=f"{REGION}a",
                    Size=8,
                    Encrypted=True,
                    KmsKeyId=key,
                    TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
                )["VolumeId"],
            )
        instance = (
            f"arn:aws:ec2:{REGION}:{member_id}:instance/"
            + ec2.run_instances(
                ImageId="ami-12c6146b",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "backup", "Value": "monthly"}]}],
            )["Instances"][0]["InstanceId"]
        )
        rds = member.client("rds", endpoint_url=moto.url, region_name=REGION)
        database = rds.create_db_instance(
            DBInstanceIdentifier="orders",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="password1234",
            AllocatedStorage=20,
            StorageEncrypted=True,
            KmsKeyId="alias/aws/rds",
            Tags=[{"Key": "backup", "Value": "monthly"}],
        )["DBInstance"]["DBInstanceArn"]
        neptune = rds.create_db_cluster(
            DBClusterIdentifier="graph",
            Engine="neptune",
            MasterUsername="admin",
            MasterUserPassword="password1234",
            StorageEncrypted=True,
            KmsKeyId=shared,
            Tags=DAILY,
        )["DBCluster"]["DBClusterArn"]
        table = member.client("dynamodb", endpoint_url=moto.url, region_name=REGION).create_table(
            TableName="carts",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=DAILY,
        )["TableDescription"]["TableArn"]
        member.client("backup", endpoint_url=moto.url, region_name=REGION).update_region_settings(
            ResourceTypeOptInPreference={
                "EBS": True,
                "EC2": False,
                "RDS": True,
                "Aurora": True,
                "DynamoDB": True,
                "Neptune": False,
            },
            ResourceTypeManagementPreference={"DynamoDB": False, "EFS": True},
        )
        yield {
            "url": moto.url,
            "config": workdir / "backup.yaml",
            "member": member_id,
            "central": central,
            "organization_id": config["organization"]["id"],
            "volumes": volumes,
            "instance": instance,
            "database": database,
            "neptune": neptune,
            "table": table,
            "keys": {"unshared": unshared, "shared": shared, "partly-shared": partly},
            "workdir": workdir,
        }
    finally:
        moto.stop()


@pytest.fixture(scope="module")
def report(organization: dict[str, Any]) -> dict[str, Any]:
    return _run_cli(organization, ["readiness", "--json"])


def _run_cli(organization: dict[str, Any], args: list[str]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", organization["url"])
        patch.setenv("AWS_ACCESS_KEY_ID", "test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        for unset in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):  # readiness names every Region itself
            patch.delenv(unset, raising=False)
        import io
        from contextlib import redirect_stdout

        out = io.StringIO()
        with redirect_stdout(out):
            code = cli(["--config", str(organization["config"]), *args])
    return {"code": code, "output": out.getvalue()}


def _findings(report: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in json.loads(report["output"])["findings"]:
        found.setdefault(finding["resource"], []).append(finding["problem"])
    return found


@pytest.mark.server
def test_exit_1_with_every_resource_at_risk_named(report: dict[str, Any], organization: dict[str, Any]) -> None:
    volumes = organization["volumes"]
    assert report["code"] == 1
    assert _findings(report) == {
        volumes["aws-managed"]: [readiness.AWS_MANAGED_KEY],
        volumes["unshared"]: [readiness.KEY_NOT_SHARED],
        volumes["partly-shared"]: [readiness.KEY_NOT_SHARED],
        organization["instance"]: [readiness.NOT_OPTED_IN],
        organization["database"]: [readiness.AWS_MANAGED_KEY],
        # Its own opt-in key (AWS Backup API, GetSupportedResourceTypes: "Neptune for Amazon Neptune"), not RDS's.
        organization["neptune"]: [readiness.NOT_OPTED_IN],
        organization["table"]: [readiness.DYNAMODB_NOT_FULLY_MANAGED],
    }
    # 5 volumes, the instance, the database, the cluster and the table, less the untagged volume: 8; the shared-key
    # volume passes.
    assert json.loads(report["output"])["checked"] == 8


@pytest.mark.server
def test_findings_name_the_plan_the_key_and_the_fix(report: dict[str, Any], organization: dict[str, Any]) -> None:
    by_resource = {f["resource"]: f for f in json.loads(report["output"])["findings"]}
    unshared = by_resource[organization["volumes"]["unshared"]]
    assert unshared["plans"] == ["OrgBackupPlanDaily"]
    assert unshared["account"] == organization["member"] and unshared["region"] == REGION
    assert unshared["kind"] == "EBS"
    assert organization["keys"]["unshared"] in unshared["detail"] and organization["central"] in unshared["detail"]
    assert f"arn:aws:iam::{organization['central']}:root" in unshared["fix"]
    database = by_resource[organization["database"]]
    assert database["plans"] == ["OrgBackupPlanMonthly"] and "AWS managed key" in database["detail"]
    # Amazon EBS User Guide, share-kms-key.html: GenerateDataKey, GenerateDataKeyWithoutPlaintext and ReEncrypt too.
    partly = by_resource[organization["volumes"]["partly-shared"]]
    missing = "kms:GenerateDataKey, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncryptFrom, kms:ReEncryptTo"
    assert all(f"{action}: " in partly["detail"] for action in missing.split(", "))
    assert "kms:Decrypt: " not in partly["detail"] and missing in partly["fix"]
    assert by_resource[organization["neptune"]]["kind"] == "Neptune"


@pytest.mark.server
def test_text_report_and_input_errors(organization: dict[str, Any]) -> None:
    text = _run_cli(organization, ["readiness", "--region", REGION, "--account", organization["member"]])
    assert text["code"] == 1
    assert text["output"].splitlines()[-1] == "readiness: 7 of 8 tagged resources at risk."
    assert "Fix: " in text["output"]
    assert _run_cli(organization, ["readiness", "--account", "999999999999"])["code"] == 2
    assert _run_cli(organization, ["readiness", "--region", "ap-south-1"])["code"] == 2


def test_an_account_that_cannot_be_read_is_listed_not_passed() -> None:
    def no_session(account: str) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    from org_backup.synth.inputs import Inputs

    inputs = Inputs.load(MINIMAL_CONFIG)
    result = readiness.run(inputs.config, inputs.backup_policies, no_session)
    assert result.exit_code == 3
    assert [(u.account, u.region) for u in result.unreadable] == [("100000000004", REGION)]
    assert "NOT CHECKED" in result.render()


def test_the_fixture_plans_copy_to_the_central_account() -> None:
    """What the findings above rest on: the minimal config's plans copy every recovery point cross-account."""
    plans = yaml.safe_load((Path(__file__).parents[1] / "policies" / "backup_plans.yaml").read_text())["plans"]
    assert all(rule.get("copy_to_central") for plan in plans.values() for rule in plan["rules"].values())


@pytest.mark.parametrize(
    ("engine", "kind"),
    [
        # RDS API Reference, DescribeDBClusters: it "can also return information for Amazon Neptune DB instances and
        # Amazon DocumentDB instances"; AWS Backup API, GetSupportedResourceTypes: "Aurora for Amazon Aurora",
        # "DocumentDB for Amazon DocumentDB (with MongoDB compatibility)", "Neptune for Amazon Neptune", "RDS for
        # Amazon Relational Database Service". Engine names: RDS CreateDBCluster (aurora-mysql, aurora-postgresql,
        # mysql and postgres for Multi-AZ DB clusters, neptune), DocumentDB DescribeDBClusters ("Values=docdb").
        ("aurora-mysql", "Aurora"),
        ("aurora-postgresql", "Aurora"),
        ("docdb", "DocumentDB"),
        ("neptune", "Neptune"),
        ("mysql", "RDS"),
        ("postgres", "RDS"),
    ],
)
def test_a_cluster_is_checked_under_its_own_aws_backup_type(engine: str, kind: str) -> None:
    assert readiness.cluster_kind(engine) == kind


class _KeysOf(readiness.Keys):
    """Keys whose policies are given (no session): what readiness's check reads for one key."""

    def __init__(self, *keys: readiness.Key) -> None:
        self._found = {key.arn: key for key in keys}


def test_the_projects_own_member_vault_key_is_shared_with_the_central_account() -> None:
    """The acceptance of issue 26: the key policy org-backup gives every member vault key (AWS's documented statements
    for an external account: KMS key-policy-modifying-external-accounts.html) reads as shared with the central account
    for every kind readiness checks, EBS snapshots' longer list included."""
    config = Inputs.load(EXAMPLE_CONFIG).config
    member, central = config.member_accounts[0], config.central_backup.account_id
    naming = Naming(config)
    policy = deploy_roles.key_policy(
        "kms/member-vault-key.json",
        config,
        member,
        account_root_arn=naming.account_root_arn(member),
        central_account_root_arn=naming.account_root_arn(central),
    )
    region = config.target_regions[0]
    key = readiness.Key(f"arn:aws:kms:{region}:{member}:key/1234abcd-12ab-34cd-56ef-1234567890ab", False, policy)
    copies = [readiness.Selector("OrgBackupPlanDaily", "backup", ("daily",), (central,))]
    settings = {
        "ResourceTypeOptInPreference": dict.fromkeys(("EBS", "EC2", "RDS", "Aurora", "DocumentDB", "Neptune"), True)
    }
    for kind in settings["ResourceTypeOptInPreference"]:
        resource = readiness.Resource(
            f"arn:aws:ec2:{region}:{member}:volume/vol-1", kind, {"backup": "daily"}, (key.arn,)
        )
        assert readiness.check_resource(resource, copies, settings, _KeysOf(key), config.organization.id, "aws") == []
    # The negative control: without its grants statement (the copy's kms:CreateGrant) the same policy is not shared.
    grantless = [s for s in policy["Statement"] if s["Sid"] != "CentralAccountGrantsOnlyForAwsResources"]
    unshared = readiness.Key(key.arn, False, {**policy, "Statement": grantless})
    resource = readiness.Resource(f"arn:aws:ec2:{region}:{member}:volume/vol-1", "EBS", {"backup": "daily"}, (key.arn,))
    (problem,) = readiness.check_resource(resource, copies, settings, _KeysOf(unshared), config.organization.id, "aws")
    assert problem[0] == readiness.KEY_NOT_SHARED and "kms:CreateGrant: " in problem[1]
