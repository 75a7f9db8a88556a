"""Per-service tag access, chosen by ARN. Each adapter declares the IAM actions it uses; the infrastructure grants
exactly those (a test compares the two), so a new service can't silently lack a permission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from tags import chunks

Clients = Callable[[str], Any]  # service name -> boto3 client


class NotFound(Exception):
    """The resource does not exist (any more)."""


def _not_found_on(codes: set[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in codes:
                    raise NotFound(str(exc)) from exc
                raise

        return inner

    return wrap


def _pairs(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def _as_dict(items: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item.get(value, "") for item in items or []}


def parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


def _ec2_id(arn: str) -> str:
    return parse_arn(arn)[3].split("/", 1)[1]


# --- EC2 ------------------------------------------------------------------------------------------------------------
@_not_found_on({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
def _read_instance(clients: Clients, arn: str) -> dict[str, str]:
    reservations = clients("ec2").describe_instances(InstanceIds=[_ec2_id(arn)])["Reservations"]
    if not reservations:
        raise NotFound(arn)
    return _as_dict(reservations[0]["Instances"][0].get("Tags"))


@_not_found_on({"InvalidInstanceID.NotFound"})
def _instance_volumes(clients: Clients, arn: str) -> list[str]:
    _, region, account, _ = parse_arn(arn)
    instance = clients("ec2").describe_instances(InstanceIds=[_ec2_id(arn)])["Reservations"][0]["Instances"][0]
    partition = arn.split(":")[1]
    return [
        f"arn:{partition}:ec2:{region}:{account}:volume/{m['Ebs']['VolumeId']}"
        for m in instance.get("BlockDeviceMappings", [])
        if "Ebs" in m
    ]


@_not_found_on({"InvalidVolume.NotFound", "InvalidVolume.Malformed"})
def _read_volume(clients: Clients, arn: str) -> dict[str, str]:
    return _as_dict(clients("ec2").describe_volumes(VolumeIds=[_ec2_id(arn)])["Volumes"][0].get("Tags"))


@_not_found_on({"InvalidSnapshot.NotFound", "InvalidSnapshot.Malformed"})
def _read_snapshot(clients: Clients, arn: str) -> dict[str, str]:
    return _as_dict(clients("ec2").describe_snapshots(SnapshotIds=[_ec2_id(arn)])["Snapshots"][0].get("Tags"))


@_not_found_on({"InvalidAMIID.NotFound", "InvalidAMIID.Malformed"})
def _read_image(clients: Clients, arn: str) -> dict[str, str]:
    images = clients("ec2").describe_images(ImageIds=[_ec2_id(arn)])["Images"]
    if not images:
        raise NotFound(arn)
    return _as_dict(images[0].get("Tags"))


def _write_ec2(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    clients("ec2").create_tags(Resources=[_ec2_id(arn)], Tags=_pairs(tags))


# --- RDS, Aurora, DocumentDB, Neptune (one tagging API) --------------------------------------------------------------
@_not_found_on({"DBInstanceNotFound", "DBClusterNotFoundFault", "DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"})
def _read_rds(clients: Clients, arn: str) -> dict[str, str]:
    return _as_dict(clients("rds").list_tags_for_resource(ResourceName=arn).get("TagList"))


def _write_rds(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    clients("rds").add_tags_to_resource(ResourceName=arn, Tags=_pairs(tags))


# --- DynamoDB ----------------------------------------------------------------------------------------------------------
@_not_found_on({"ResourceNotFoundException"})
def _read_dynamodb(clients: Clients, arn: str) -> dict[str, str]:
    client, tags, token = clients("dynamodb"), {}, None
    while True:
        page = client.list_tags_of_resource(ResourceArn=arn, **({"NextToken": token} if token else {}))
        tags.update(_as_dict(page.get("Tags")))
        token = page.get("NextToken")
        if not token:
            return tags


def _write_dynamodb(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    clients("dynamodb").tag_resource(ResourceArn=arn, Tags=_pairs(tags))


# --- EFS -----------------------------------------------------------------------------------------------------------------
@_not_found_on({"FileSystemNotFound"})
def _read_efs(clients: Clients, arn: str) -> dict[str, str]:
    client, tags, token = clients("efs"), {}, None
    fs_id = parse_arn(arn)[3].split("/", 1)[1]
    while True:
        page = client.list_tags_for_resource(ResourceId=fs_id, **({"NextToken": token} if token else {}))
        tags.update(_as_dict(page.get("Tags")))
        token = page.get("NextToken")
        if not token:
            return tags


def _write_efs(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    clients("efs").tag_resource(ResourceId=parse_arn(arn)[3].split("/", 1)[1], Tags=_pairs(tags))


# --- FSx -----------------------------------------------------------------------------------------------------------------
@_not_found_on({"ResourceNotFound", "FileSystemNotFound", "VolumeNotFound"})
def _read_fsx(clients: Clients, arn: str) -> dict[str, str]:
    client, tags, token = clients("fsx"), {}, None
    while True:
        page = client.list_tags_for_resource(ResourceARN=arn, **({"NextToken": token} if token else {}))
        tags.update(_as_dict(page.get("Tags")))
        token = page.get("NextToken")
        if not token:
            return tags


def _write_fsx(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    clients("fsx").tag_resource(ResourceARN=arn, Tags=_pairs(tags))


# --- S3: PutBucketTagging replaces the whole set, so existing tags are written back with the new ones -----------------
def _bucket(arn: str) -> str:
    return parse_arn(arn)[3]


@_not_found_on({"NoSuchBucket"})
def _read_s3(clients: Clients, arn: str) -> dict[str, str]:
    try:
        return _as_dict(clients("s3").get_bucket_tagging(Bucket=_bucket(arn))["TagSet"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchTagSet":
            return {}
        raise


def _write_s3(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    # aws: system tags cannot be sent back (S3 rejects them) and S3 keeps them by itself.
    kept = {k: v for k, v in existing.items() if not k.lower().startswith("aws:")}
    clients("s3").put_bucket_tagging(Bucket=_bucket(arn), Tagging={"TagSet": _pairs({**kept, **tags})})


# --- Storage Gateway -------------------------------------------------------------------------------------------------
@_not_found_on({"InvalidGatewayRequestException"})
def _read_storagegateway(clients: Clients, arn: str) -> dict[str, str]:
    client, tags, marker = clients("storagegateway"), {}, None
    while True:
        page = client.list_tags_for_resource(ResourceARN=arn, **({"Marker": marker} if marker else {}))
        tags.update(_as_dict(page.get("Tags")))
        marker = page.get("Marker")
        if not marker:
            return tags


def _write_storagegateway(clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]) -> None:
    clients("storagegateway").add_tags_to_resource(ResourceARN=arn, Tags=_pairs(tags))


# --- AWS Backup recovery points (fully managed types) ----------------------------------------------------------------
@_not_found_on({"ResourceNotFoundException"})
def _read_backup(clients: Clients, arn: str) -> dict[str, str]:
    client, tags, token = clients("backup"), {}, None
    while True:
        page = client.list_tags(ResourceArn=arn, **({"NextToken": token} if token else {}))
        tags.update(page.get("Tags", {}))
        token = page.get("NextToken")
        if not token:
            return tags


@dataclass(frozen=True)
class Adapter:
    kind: str
    read: Callable[[Clients, str], dict[str, str]]
    write: Callable[[Clients, str, dict[str, str], dict[str, str]], None] | None
    actions: tuple[str, ...]
    max_per_call: int = 50
    related: Callable[[Clients, str], list[str]] | None = field(default=None)


EC2_INSTANCE = Adapter(
    "EC2 instance",
    _read_instance,
    _write_ec2,
    ("ec2:DescribeInstances", "ec2:CreateTags"),
    related=_instance_volumes,
)
EBS_VOLUME = Adapter("EBS volume", _read_volume, _write_ec2, ("ec2:DescribeVolumes", "ec2:CreateTags"))
EC2_SNAPSHOT = Adapter("EBS snapshot", _read_snapshot, None, ("ec2:DescribeSnapshots",))
EC2_IMAGE = Adapter("AMI", _read_image, None, ("ec2:DescribeImages",))
RDS = Adapter(
    "RDS/Aurora/DocumentDB/Neptune", _read_rds, _write_rds, ("rds:ListTagsForResource", "rds:AddTagsToResource")
)
RDS_SNAPSHOT = Adapter("RDS snapshot", _read_rds, None, ("rds:ListTagsForResource",))
DYNAMODB = Adapter(
    "DynamoDB table", _read_dynamodb, _write_dynamodb, ("dynamodb:ListTagsOfResource", "dynamodb:TagResource")
)
EFS = Adapter(
    "EFS file system", _read_efs, _write_efs, ("elasticfilesystem:ListTagsForResource", "elasticfilesystem:TagResource")
)
FSX = Adapter("FSx file system", _read_fsx, _write_fsx, ("fsx:ListTagsForResource", "fsx:TagResource"))
S3 = Adapter("S3 bucket", _read_s3, _write_s3, ("s3:GetBucketTagging", "s3:PutBucketTagging"))
STORAGE_GATEWAY = Adapter(
    "Storage Gateway volume",
    _read_storagegateway,
    _write_storagegateway,
    ("storagegateway:ListTagsForResource", "storagegateway:AddTagsToResource"),
)
BACKUP_RECOVERY_POINT = Adapter("recovery point", _read_backup, None, ("backup:ListTags",))

ALL_ADAPTERS = (
    EC2_INSTANCE, EBS_VOLUME, EC2_SNAPSHOT, EC2_IMAGE, RDS, RDS_SNAPSHOT, DYNAMODB, EFS, FSX, S3, STORAGE_GATEWAY,
    BACKUP_RECOVERY_POINT,
)  # fmt: skip
# Lookups of what the event lacks; granted with the adapters' actions.
LOOKUP_ACTIONS = ("backup:DescribeRestoreJob", "backup:DescribeRecoveryPoint")


def adapter_for(arn: str) -> Adapter | None:
    """The adapter for an ARN, or None for a type this function does not handle."""
    try:
        service, _, _, resource = parse_arn(arn)
    except ValueError:
        return None
    if service == "ec2":
        prefixes = {"instance/": EC2_INSTANCE, "volume/": EBS_VOLUME, "snapshot/": EC2_SNAPSHOT, "image/": EC2_IMAGE}
        return next((a for p, a in prefixes.items() if resource.startswith(p)), None)
    if service == "rds":
        if resource.startswith(("db:", "cluster:")):
            return RDS
        return RDS_SNAPSHOT if resource.startswith(("snapshot:", "cluster-snapshot:")) else None
    by_service = {
        "dynamodb": (DYNAMODB, "table/"),
        "elasticfilesystem": (EFS, "file-system/"),
        "fsx": (FSX, ""),
        "s3": (S3, ""),
        "storagegateway": (STORAGE_GATEWAY, "gateway/"),
        "backup": (BACKUP_RECOVERY_POINT, "recovery-point:"),
    }
    match = by_service.get(service)
    if match and resource.startswith(match[1]):
        if service == "s3" and "/" in resource:
            return None  # an object, not a bucket
        return match[0]
    return None


def write_in_chunks(
    adapter: Adapter, clients: Clients, arn: str, tags: dict[str, str], existing: dict[str, str]
) -> int:
    """Write ``tags``; returns the number of API calls. S3 writes once (the whole set), the others in chunks."""
    assert adapter.write is not None
    if adapter is S3:
        adapter.write(clients, arn, tags, existing)
        return 1
    calls = 0
    for part in chunks(tags, adapter.max_per_call):
        adapter.write(clients, arn, part, existing)
        calls += 1
    return calls
