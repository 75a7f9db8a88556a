"""The tag re-application Lambda: pure tag logic, every supported resource type against moto (Stubber where
moto lacks the API), malformed events, retries, idempotency and logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.conftest import ROOT, load_lambda

handler, resources, tag_logic = load_lambda("tag_reapply", "handler", "resources", "tags")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
EVENTS = ROOT / "tests" / "events"
SETTINGS = handler.Settings(excluded_tag_keys=frozenset({"ephemeral"}))
RP_ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:6f7fc1f8-2f2e-40ac-943b-8f8efa9ba99d"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def completed(
    *, created: str, resource_type: str, recovery_point: str | None = RP_ARN, source: str | None = None,
    resources: list[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The documented COMPLETED event with this test's ARNs."""
    event = load_event("restore_completed")
    detail = event["detail"]
    detail.update(createdResourceArn=created, resourceType=resource_type)
    for key, value in (("recoveryPointArn", recovery_point), ("sourceResourceArn", source)):
        if value is None:
            detail.pop(key)
        else:
            detail[key] = value
    if source is None:
        # Without the vault the function cannot ask DescribeRecoveryPoint for the source (moto lacks that call;
        # test_missing_fields_are_fetched_... covers the lookup with a Stubber).
        detail.pop("backupVaultArn")
    event["resources"] = resources or []
    return event


@pytest.fixture
def aws() -> Iterator[Callable[[str], Any]]:
    with mock_aws():
        made: dict[str, Any] = {}

        def clients(service: str) -> Any:
            if service not in made:
                made[service] = boto3.client(service, region_name=REGION)
            return made[service]

        yield clients


def tag_recovery_point(clients: Callable[[str], Any], tags: dict[str, str]) -> None:
    clients("backup").tag_resource(ResourceArn=RP_ARN, Tags=tags)


def pairs(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def as_dict(items: list[dict[str, str]]) -> dict[str, str]:
    return {i["Key"]: i["Value"] for i in items}


# --- pure tag logic -------------------------------------------------------------------------------------------------


def test_later_sources_win_and_reserved_or_excluded_keys_are_dropped() -> None:
    merged = tag_logic.merge_original(
        [
            {"owner": "from-recovery-point", "project": "aws-backup", "aws:backup:source-resource": "x"},
            {"owner": "from-snapshot", "ephemeral": "1"},
            {"owner": "from-source", "cost-center": "4711"},
        ],
        frozenset({"ephemeral"}),
    )
    assert merged == {"owner": "from-source", "project": "aws-backup", "cost-center": "4711"}


def test_existing_tags_win_and_the_fifty_tag_limit_is_respected() -> None:
    existing = {f"e{i:02d}": "x" for i in range(48)} | {"aws:cloudformation:stack-name": "s"}
    original = {"e00": "other", "a": "1", "b": "2", "c": "3"}
    add, dropped = tag_logic.tags_to_add(original, existing)
    assert add == {"a": "1", "b": "2"}
    assert dropped == ["c"]


def test_chunks_split_sorted_tags() -> None:
    parts = list(tag_logic.chunks({f"k{i}": "v" for i in range(5)}, 2))
    assert parts == [{"k0": "v", "k1": "v"}, {"k2": "v", "k3": "v"}, {"k4": "v"}]


# --- every supported resource type ----------------------------------------------------------------------------------


def test_ebs_volume_gets_snapshot_and_source_tags_without_losing_its_own(aws: Any) -> None:
    ec2 = aws("ec2")
    source = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=[
        {"ResourceType": "volume", "Tags": pairs({"owner": "team-a", "backup": "daily"})}])["VolumeId"]  # fmt: skip
    snapshot = ec2.create_snapshot(VolumeId=source, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": pairs({"owner": "old-owner", "cost-center": "4711", "ephemeral": "x"})}])["SnapshotId"]  # fmt: skip
    restored = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=[
        {"ResourceType": "volume", "Tags": pairs({"restored-by": "oncall"})}])["VolumeId"]  # fmt: skip
    event = completed(
        created=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{restored}",
        resource_type="EBS",
        recovery_point=f"arn:aws:ec2:{REGION}::snapshot/{snapshot}",
        source=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{source}",
    )
    result = handler.process(event, clients=aws, settings=SETTINGS)
    assert result["status"] == "tagged"
    final = as_dict(ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]["Tags"])
    assert final == {"restored-by": "oncall", "owner": "team-a", "backup": "daily", "cost-center": "4711"}


def test_ec2_instance_and_its_restored_volumes_get_the_ami_and_source_tags(aws: Any) -> None:
    ec2 = aws("ec2")
    builder = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=builder, Name="golden")["ImageId"]  # the tests load no default AMIs
    ec2.create_tags(Resources=[image], Tags=pairs({"app": "billing", "backup": "daily"}))
    source = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": pairs({"owner": "team-b"})}])["Instances"][0]["InstanceId"]  # fmt: skip
    restored = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    volumes = [m["Ebs"]["VolumeId"] for m in restored["BlockDeviceMappings"]]
    assert volumes
    event = completed(
        created=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{restored['InstanceId']}",
        resource_type="EC2",
        recovery_point=f"arn:aws:ec2:{REGION}::image/{image}",
        source=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{source}",
    )
    result = handler.process(event, clients=aws, settings=SETTINGS)
    assert len(result["resources"]) == 1 + len(volumes)
    expected = {"app": "billing", "backup": "daily", "owner": "team-b"}
    instance = ec2.describe_instances(InstanceIds=[restored["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert as_dict(instance["Tags"]) == expected
    for volume in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]:
        assert as_dict(volume["Tags"]) == expected


def _rds_instance(rds: Any, name: str, tags: dict[str, str]) -> str:
    return rds.create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="admin",
        MasterUserPassword="password123", AllocatedStorage=20, Tags=pairs(tags),
    )["DBInstance"]["DBInstanceArn"]  # fmt: skip


def test_rds_instance_gets_recovery_point_snapshot_and_source_tags(aws: Any) -> None:
    rds = aws("rds")
    source = _rds_instance(rds, "orders", {"owner": "team-c", "backup": "daily"})
    snapshot = rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="awsbackup-job-1",
                                      Tags=pairs({"data-class": "pii"}))["DBSnapshot"]["DBSnapshotArn"]  # fmt: skip
    restored = _rds_instance(rds, "orders-restored", {})
    tag_recovery_point(aws, {"project": "aws-backup", "owner": "stale"})
    event = completed(created=restored, resource_type="RDS", source=source, resources=[snapshot])
    handler.process(event, clients=aws, settings=SETTINGS)
    final = as_dict(rds.list_tags_for_resource(ResourceName=restored)["TagList"])
    assert final == {"project": "aws-backup", "owner": "team-c", "backup": "daily", "data-class": "pii"}


@pytest.mark.parametrize(("engine", "resource_type"), [("aurora-postgresql", "Aurora"), ("neptune", "Neptune")])
def test_cluster_gets_recovery_point_tags_when_the_source_is_gone(aws: Any, engine: str, resource_type: str) -> None:
    rds = aws("rds")
    restored = rds.create_db_cluster(DBClusterIdentifier="restored", Engine=engine, MasterUsername="admin",
                                     MasterUserPassword="password123")["DBCluster"]["DBClusterArn"]  # fmt: skip
    tag_recovery_point(aws, {"owner": "team-d", "backup": "monthly"})
    gone = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:deleted-cluster"
    handler.process(
        completed(created=restored, resource_type=resource_type, source=gone), clients=aws, settings=SETTINGS
    )
    assert as_dict(rds.list_tags_for_resource(ResourceName=restored)["TagList"]) == {
        "owner": "team-d",
        "backup": "monthly",
    }


def test_documentdb_cluster_is_tagged_through_the_rds_api(aws: Any) -> None:
    """moto cannot create DocumentDB clusters; the RDS calls are stubbed with AWS's response shapes."""
    restored = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:docdb-restored"
    tag_recovery_point(aws, {"owner": "team-e"})
    rds = boto3.client("rds", region_name=REGION)
    stub = Stubber(rds)
    stub.add_response("list_tags_for_resource", {"TagList": []}, {"ResourceName": restored})
    stub.add_response(
        "add_tags_to_resource", {}, {"ResourceName": restored, "Tags": [{"Key": "owner", "Value": "team-e"}]}
    )
    with stub:
        result = handler.process(
            completed(created=restored, resource_type="DocumentDB"),
            clients=lambda s: rds if s == "rds" else aws(s),
            settings=SETTINGS,
        )
        stub.assert_no_pending_responses()
    assert result["resources"] == [{"arn": restored, "added": ["owner"], "dropped": []}]


def test_dynamodb_table_gets_recovery_point_and_source_tags(aws: Any) -> None:
    ddb = aws("dynamodb")
    schema = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}  # fmt: skip
    source = ddb.create_table(TableName="orders", Tags=pairs({"owner": "team-f"}), **schema)["TableDescription"][
        "TableArn"
    ]
    restored = ddb.create_table(TableName="orders-restored", **schema)["TableDescription"]["TableArn"]
    tag_recovery_point(aws, {"backup": "daily", "owner": "stale"})
    handler.process(
        completed(created=restored, resource_type="DynamoDB", source=source), clients=aws, settings=SETTINGS
    )
    assert as_dict(ddb.list_tags_of_resource(ResourceArn=restored)["Tags"]) == {"backup": "daily", "owner": "team-f"}


def test_efs_file_system_gets_recovery_point_tags(aws: Any) -> None:
    efs = aws("efs")
    restored = efs.create_file_system(CreationToken="restored", Tags=pairs({"Name": "restored-fs"}))
    tag_recovery_point(aws, {"owner": "team-g", "backup": "daily"})
    handler.process(completed(created=restored["FileSystemArn"], resource_type="EFS"), clients=aws, settings=SETTINGS)
    final = as_dict(efs.list_tags_for_resource(ResourceId=restored["FileSystemId"])["Tags"])
    assert final == {"Name": "restored-fs", "owner": "team-g", "backup": "daily"}


def test_fsx_file_system_gets_recovery_point_tags(aws: Any) -> None:
    fsx = aws("fsx")
    restored = fsx.create_file_system(FileSystemType="LUSTRE", StorageCapacity=1200,
                                      SubnetIds=["subnet-0123456789abcdef0"])["FileSystem"]["ResourceARN"]  # fmt: skip
    tag_recovery_point(aws, {"owner": "team-h"})
    handler.process(completed(created=restored, resource_type="FSx"), clients=aws, settings=SETTINGS)
    assert as_dict(fsx.list_tags_for_resource(ResourceARN=restored)["Tags"]) == {"owner": "team-h"}


def test_s3_bucket_keeps_its_tags_because_put_bucket_tagging_replaces_the_set(aws: Any) -> None:
    s3 = aws("s3")
    location = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    s3.create_bucket(Bucket="orders-source", **location)
    s3.put_bucket_tagging(Bucket="orders-source", Tagging={"TagSet": pairs({"owner": "team-i", "backup": "daily"})})
    s3.create_bucket(Bucket="orders-restored", **location)
    s3.put_bucket_tagging(Bucket="orders-restored", Tagging={"TagSet": pairs({"restore-ticket": "INC-42"})})
    event = completed(created="arn:aws:s3:::orders-restored", resource_type="S3", source="arn:aws:s3:::orders-source")
    handler.process(event, clients=aws, settings=SETTINGS)
    final = as_dict(s3.get_bucket_tagging(Bucket="orders-restored")["TagSet"])
    assert final == {"restore-ticket": "INC-42", "owner": "team-i", "backup": "daily"}


def test_storage_gateway_volume_is_tagged(aws: Any) -> None:
    """moto does not implement Storage Gateway tagging; the calls are stubbed with AWS's response shapes."""
    volume = f"arn:aws:storagegateway:{REGION}:{ACCOUNT}:gateway/sgw-12A3456B/volume/vol-1122AABB"
    tag_recovery_point(aws, {"owner": "team-j"})
    sgw = boto3.client("storagegateway", region_name=REGION)
    stub = Stubber(sgw)
    stub.add_response("list_tags_for_resource", {"ResourceARN": volume, "Tags": []}, {"ResourceARN": volume})
    stub.add_response(
        "add_tags_to_resource",
        {"ResourceARN": volume},
        {"ResourceARN": volume, "Tags": [{"Key": "owner", "Value": "team-j"}]},
    )
    with stub:
        handler.process(
            completed(created=volume, resource_type="Storage Gateway"),
            clients=lambda s: sgw if s == "storagegateway" else aws(s),
            settings=SETTINGS,
        )
        stub.assert_no_pending_responses()


# --- what the event lacks is looked up, never scanned ---------------------------------------------------------------


def test_missing_fields_are_fetched_from_describe_restore_job_and_recovery_point(aws: Any) -> None:
    ddb = aws("dynamodb")
    schema = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}  # fmt: skip
    source = ddb.create_table(TableName="src", Tags=pairs({"owner": "team-k"}), **schema)["TableDescription"][
        "TableArn"
    ]
    restored = ddb.create_table(TableName="dst", **schema)["TableDescription"]["TableArn"]
    event = load_event("restore_completed")
    job_id = event["detail"]["restoreJobId"]
    for key in ("createdResourceArn", "recoveryPointArn", "sourceResourceArn", "resourceType"):
        event["detail"].pop(key)
    event["resources"] = []
    backup = boto3.client("backup", region_name=REGION)
    stub = Stubber(backup)
    stub.add_response(
        "describe_restore_job",
        {
            "RestoreJobId": job_id,
            "CreatedResourceArn": restored,
            "RecoveryPointArn": RP_ARN,
            "ResourceType": "DynamoDB",
        },
        {"RestoreJobId": job_id},
    )
    stub.add_response(
        "describe_recovery_point",
        {"RecoveryPointArn": RP_ARN, "ResourceArn": source},
        {"BackupVaultName": "AWSBackupSolutionVault", "RecoveryPointArn": RP_ARN},
    )
    stub.add_response("list_tags", {"Tags": {"backup": "daily"}}, {"ResourceArn": RP_ARN})
    with stub:
        handler.process(event, clients=lambda s: backup if s == "backup" else aws(s), settings=SETTINGS)
        stub.assert_no_pending_responses()
    assert as_dict(ddb.list_tags_of_resource(ResourceArn=restored)["Tags"]) == {"backup": "daily", "owner": "team-k"}


# --- events that retrying cannot fix --------------------------------------------------------------------------------


def _must_not_call(service: str) -> Any:
    raise AssertionError(f"no AWS call expected, got a {service} client request")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("restore_failed", {"status": "ignored", "reason": "restore job status is 'FAILED', not 'COMPLETED'"}),
        ("restore_pending", {"status": "ignored", "reason": "restore job status is 'PENDING', not 'COMPLETED'"}),
        ("restore_created_state", {"status": "ignored", "reason": "restore job status is None, not 'COMPLETED'"}),
        (
            "backup_job_completed",
            {
                "status": "ignored",
                "reason": "not a restore job event: source='aws.backup' detail-type='Backup Job State Change'",
            },
        ),
    ],
)
def test_other_events_are_ignored_without_any_aws_call(name: str, expected: dict[str, Any]) -> None:
    assert handler.process(load_event(name), clients=_must_not_call, settings=SETTINGS) == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e["detail"].pop("restoreJobId"), "detail.restoreJobId is missing"),
        (lambda e: e.update(detail="oops"), "detail is missing or not an object"),
    ],
    ids=["no-job-id", "detail-not-object"],
)
def test_malformed_events_are_reported_not_retried(change: Callable[[dict[str, Any]], Any], reason: str) -> None:
    event = load_event("restore_completed")
    change(event)
    assert handler.process(event, clients=_must_not_call, settings=SETTINGS) == {
        "status": "malformed",
        "reason": reason,
    }


def test_a_non_object_event_is_malformed() -> None:
    result = handler.process(["not", "an", "event"], clients=_must_not_call, settings=SETTINGS)
    assert result == {"status": "malformed", "reason": "event is a list, not an object"}


def test_unknown_resource_type_is_a_logged_warning(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    created = f"arn:aws:timestream:{REGION}:{ACCOUNT}:database/db/table/t"
    result = handler.process(completed(created=created, resource_type="Timestream"), clients=aws, settings=SETTINGS)
    assert result == {"status": "unsupported", "resource_type": "Timestream", "created_resource_arn": created}
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["level"] == "WARNING" and line["message"] == "unsupported resource type: nothing re-tagged"


def test_a_created_resource_that_is_gone_is_an_error_log_not_a_crash(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    created = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0123456789abcdef0"
    result = handler.process(completed(created=created, resource_type="EBS"), clients=aws, settings=SETTINGS)
    assert result == {"status": "created_resource_missing", "created_resource_arn": created}
    errors = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"ERROR"' in x]
    assert [e["message"] for e in errors] == ["restored resource not found: nothing re-tagged"]


def test_a_missing_recovery_point_is_logged_and_other_sources_still_apply(aws: Any) -> None:
    ec2 = aws("ec2")
    restored = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    source = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=[
        {"ResourceType": "volume", "Tags": pairs({"owner": "team-l"})}])["VolumeId"]  # fmt: skip
    event = completed(
        created=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{restored}",
        resource_type="EBS",
        recovery_point=f"arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0",
        source=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{source}",
    )
    assert handler.process(event, clients=aws, settings=SETTINGS)["status"] == "tagged"
    assert as_dict(ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]["Tags"]) == {"owner": "team-l"}


# --- reliability ------------------------------------------------------------------------------------------------------


def test_clients_use_adaptive_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # Lambda sets AWS_REGION itself
    handler._client.cache_clear()
    try:
        # botocore counts the first attempt too: 10 retries = 11 attempts in all.
        assert handler._client("ec2").meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}
    finally:
        handler._client.cache_clear()


def test_a_throttled_write_raises_so_the_event_is_retried_and_the_retry_succeeds(aws: Any) -> None:
    ec2 = aws("ec2")
    restored = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    tag_recovery_point(aws, {"owner": "team-m"})
    event = completed(created=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{restored}", resource_type="EBS")

    class ThrottledOnce:
        """The first CreateTags fails as throttled after botocore's own retries; later calls go through."""

        def __init__(self) -> None:
            self.failed = False

        def __call__(self, service: str) -> Any:
            client = aws(service)
            return client if service != "ec2" or self.failed else Throttled(client, self)

    class Throttled:
        def __init__(self, inner: Any, state: ThrottledOnce) -> None:
            self._inner, self._state = inner, state

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def create_tags(self, **kwargs: Any) -> Any:
            self._state.failed = True
            raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "CreateTags")

    flaky = ThrottledOnce()
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        handler.process(event, clients=flaky, settings=SETTINGS)
    assert handler.process(event, clients=flaky, settings=SETTINGS)["status"] == "tagged"
    assert as_dict(ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]["Tags"]) == {"owner": "team-m"}


def test_the_same_event_twice_gives_the_same_tags(aws: Any) -> None:
    ddb = aws("dynamodb")
    schema = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}  # fmt: skip
    restored = ddb.create_table(TableName="t", **schema)["TableDescription"]["TableArn"]
    tag_recovery_point(aws, {"owner": "team-n", "backup": "daily"})
    event = completed(created=restored, resource_type="DynamoDB")
    first = handler.process(event, clients=aws, settings=SETTINGS)
    after_first = ddb.list_tags_of_resource(ResourceArn=restored)["Tags"]
    second = handler.process(event, clients=aws, settings=SETTINGS)
    assert ddb.list_tags_of_resource(ResourceArn=restored)["Tags"] == after_first
    assert first["resources"][0]["added"] == ["backup", "owner"]
    assert second["resources"][0]["added"] == []


def test_every_log_line_is_json_with_the_restore_job_id(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ec2 = aws("ec2")
    restored = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    tag_recovery_point(aws, {"owner": "team-o"})
    event = completed(created=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{restored}", resource_type="EBS")
    handler.process(event, clients=aws, settings=SETTINGS)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines
    assert {line["restore_job_id"] for line in lines} == {event["detail"]["restoreJobId"]}


def test_settings_come_from_the_environment() -> None:
    settings = handler.Settings.from_env({"EXCLUDED_TAG_KEYS": " temp , build-id ,"})
    assert settings.excluded_tag_keys == frozenset({"temp", "build-id"})


def test_adapters_cover_every_type_the_issue_names() -> None:
    kinds = {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1": "EC2 instance",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1": "EBS volume",
        f"arn:aws:rds:{REGION}:{ACCOUNT}:db:x": "RDS/Aurora/DocumentDB/Neptune",
        f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:x": "RDS/Aurora/DocumentDB/Neptune",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/x": "DynamoDB table",
        f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-1": "EFS file system",
        f"arn:aws:fsx:{REGION}:{ACCOUNT}:file-system/fs-1": "FSx file system",
        "arn:aws:s3:::bucket": "S3 bucket",
        f"arn:aws:storagegateway:{REGION}:{ACCOUNT}:gateway/sgw-1/volume/vol-1": "Storage Gateway volume",
    }
    assert {arn: resources.adapter_for(arn).kind for arn in kinds} == kinds
    assert resources.adapter_for("arn:aws:s3:::bucket/key") is None
