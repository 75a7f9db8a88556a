"""Per-type health checks of a resource a restore test created, chosen by its ARN.

Each check declares the IAM actions it calls; the infrastructure grants exactly those (a test compares the two).
A check answers HEALTHY, UNHEALTHY (with the reason AWS Backup shows beside the test) or NOT_READY (still starting:
the handler asks again). A throttled or failed call raises, so Lambda retries the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

Clients = Callable[[str], Any]  # service name -> boto3 client


class Health(Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    NOT_READY = "not_ready"


@dataclass(frozen=True)
class Verdict:
    health: Health
    reason: str


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _by_state(state: str, what: str, healthy: set[str], starting: set[str]) -> Verdict:
    if state in healthy:
        return Verdict(Health.HEALTHY, f"{what} is {state}")
    if state in starting:
        return Verdict(Health.NOT_READY, f"{what} is still {state}")
    return Verdict(Health.UNHEALTHY, f"{what} is {state}, not {' or '.join(sorted(healthy))}")


def _gone(what: str) -> Verdict:
    return Verdict(Health.UNHEALTHY, f"{what} does not exist")


def _ec2_instance(clients: Clients, arn: str) -> Verdict:
    instance_id = arn.rsplit("/", 1)[-1]
    what = f"instance {instance_id}"
    try:
        statuses = clients("ec2").describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
    except ClientError as exc:
        if _code(exc) == "InvalidInstanceID.NotFound":
            return _gone(what)
        raise
    if not statuses["InstanceStatuses"]:
        return _gone(what)
    status = statuses["InstanceStatuses"][0]
    state = status["InstanceState"]["Name"]
    if state != "running":
        return _by_state(state, what, {"running"}, {"pending"})
    checks = {
        "instance status check": status.get("InstanceStatus", {}).get("Status", "insufficient-data"),
        "system status check": status.get("SystemStatus", {}).get("Status", "insufficient-data"),
    }
    failing = [f"{name} {value}" for name, value in checks.items() if value not in ("ok", "initializing")]
    if any(value == "impaired" for value in checks.values()):
        return Verdict(Health.UNHEALTHY, f"{what} is running but its {', '.join(failing)}")
    if all(value == "ok" for value in checks.values()):
        return Verdict(Health.HEALTHY, f"{what} is running and both status checks are ok")
    return Verdict(Health.NOT_READY, f"{what} is running; status checks not ok yet ({checks})")


def _ebs_volume(clients: Clients, arn: str) -> Verdict:
    volume_id = arn.rsplit("/", 1)[-1]
    what = f"volume {volume_id}"
    try:
        volumes = clients("ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"]
    except ClientError as exc:
        if _code(exc) == "InvalidVolume.NotFound":
            return _gone(what)
        raise
    if not volumes:
        return _gone(what)
    return _by_state(volumes[0]["State"], what, {"available", "in-use"}, {"creating"})


# RDS states in which an instance or cluster is on its way to "available" (RDS User Guide, "Viewing Amazon RDS DB
# instance status"; Aurora User Guide, "Viewing DB cluster status"). Any other state is a failed restore.
_RDS_STARTING = {
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "creating",
    "maintenance",
    "modifying",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "upgrading",
}


def _rds_instance(clients: Clients, arn: str) -> Verdict:
    name = arn.rsplit(":", 1)[-1]
    what = f"DB instance {name}"
    try:
        instances = clients("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    except ClientError as exc:
        if _code(exc) == "DBInstanceNotFound":
            return _gone(what)
        raise
    return _by_state(instances[0]["DBInstanceStatus"], what, {"available"}, _RDS_STARTING)


def _rds_cluster(clients: Clients, arn: str) -> Verdict:
    name = arn.rsplit(":", 1)[-1]
    what = f"DB cluster {name}"
    try:
        clusters = clients("rds").describe_db_clusters(DBClusterIdentifier=name)["DBClusters"]
    except ClientError as exc:
        if _code(exc) == "DBClusterNotFoundFault":
            return _gone(what)
        raise
    return _by_state(clusters[0]["Status"], what, {"available"}, _RDS_STARTING)


def _dynamodb_table(clients: Clients, arn: str) -> Verdict:
    name = arn.split(":table/", 1)[-1].split("/", 1)[0]
    what = f"table {name}"
    try:
        table = clients("dynamodb").describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return _gone(what)
        raise
    return _by_state(table["TableStatus"], what, {"ACTIVE"}, {"CREATING", "UPDATING"})


def _s3_bucket(clients: Clients, arn: str) -> Verdict:
    """Readable: the bucket exists and its objects can be listed (what a restore is for)."""
    name = arn.split(":::", 1)[-1]
    what = f"bucket {name}"
    try:
        listed = clients("s3").list_objects_v2(Bucket=name, MaxKeys=1)
    except ClientError as exc:
        code = _code(exc)
        if code in ("NoSuchBucket", "404"):
            return _gone(what)
        if code in ("AccessDenied", "403"):
            return Verdict(Health.UNHEALTHY, f"{what} is not readable (access denied)")
        raise
    return Verdict(Health.HEALTHY, f"{what} is readable ({listed.get('KeyCount', 0)} object(s) in the first page)")


def _efs_file_system(clients: Clients, arn: str) -> Verdict:
    file_system_id = arn.rsplit("/", 1)[-1]
    what = f"file system {file_system_id}"
    try:
        systems = clients("efs").describe_file_systems(FileSystemId=file_system_id)["FileSystems"]
    except ClientError as exc:
        if _code(exc) == "FileSystemNotFound":
            return _gone(what)
        raise
    return _by_state(systems[0]["LifeCycleState"], what, {"available"}, {"creating", "updating"})


@dataclass(frozen=True)
class Check:
    kind: str
    service: str  # the ARN's service
    resource_prefix: str  # how the resource part of the ARN starts
    run: Callable[[Clients, str], Verdict]
    actions: tuple[str, ...]

    def matches(self, arn: str) -> bool:
        parts = arn.split(":", 5)
        return len(parts) == 6 and parts[2] == self.service and parts[5].startswith(self.resource_prefix)


ALL_CHECKS = (
    Check("EC2 instance", "ec2", "instance/", _ec2_instance, ("ec2:DescribeInstanceStatus",)),
    Check("EBS volume", "ec2", "volume/", _ebs_volume, ("ec2:DescribeVolumes",)),
    Check("RDS DB instance", "rds", "db:", _rds_instance, ("rds:DescribeDBInstances",)),
    Check("RDS or Aurora DB cluster", "rds", "cluster:", _rds_cluster, ("rds:DescribeDBClusters",)),
    Check("DynamoDB table", "dynamodb", "table/", _dynamodb_table, ("dynamodb:DescribeTable",)),
    Check("S3 bucket", "s3", "", _s3_bucket, ("s3:ListBucket",)),
    Check(
        "EFS file system",
        "elasticfilesystem",
        "file-system/",
        _efs_file_system,
        ("elasticfilesystem:DescribeFileSystems",),
    ),
)
# What the handler itself calls, beside the checks.
HANDLER_ACTIONS = ("backup:DescribeRestoreJob", "backup:PutRestoreValidationResult")


def check_for(arn: str) -> Check | None:
    return next((check for check in ALL_CHECKS if check.matches(arn)), None)
