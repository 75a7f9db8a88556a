"""The one event this function handles: an AWS Backup restore job that COMPLETED."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCE = "aws.backup"
DETAIL_TYPE = "Restore Job State Change"


class IgnoredEvent(Exception):
    """A well-formed event that is not ours to act on (other type, or a status other than COMPLETED)."""


class MalformedEvent(Exception):
    """The event lacks what even a lookup cannot recover (the restore job id)."""


@dataclass(frozen=True)
class RestoreCompleted:
    restore_job_id: str
    resource_type: str | None
    created_resource_arn: str | None
    recovery_point_arn: str | None
    source_resource_arn: str | None
    backup_vault_arn: str | None
    region: str | None
    snapshot_arns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def missing(self) -> list[str]:
        """Fields to fetch with backup:DescribeRestoreJob / DescribeRecoveryPoint (never by scanning vaults)."""
        return [
            name
            for name in ("created_resource_arn", "recovery_point_arn", "resource_type")
            if getattr(self, name) is None
        ]


def parse_event(event: Any) -> RestoreCompleted:
    """Validate an EventBridge event. Note AWS Backup reports ``detail.status`` for restore jobs, not ``state``."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"event is a {type(event).__name__}, not an object")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise IgnoredEvent(
            f"not a restore job event: source={event.get('source')!r} detail-type={event.get('detail-type')!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("detail is missing or not an object")
    status = detail.get("status")
    if status != "COMPLETED":
        raise IgnoredEvent(f"restore job status is {status!r}, not 'COMPLETED'")
    job_id = detail.get("restoreJobId")
    if not isinstance(job_id, str) or not job_id:
        raise MalformedEvent("detail.restoreJobId is missing")

    def text(key: str) -> str | None:
        value = detail.get(key)
        return value if isinstance(value, str) and value else None

    listed = event.get("resources")
    resources = listed if isinstance(listed, list) else []
    snapshots = tuple(
        r for r in resources if isinstance(r, str) and (":snapshot" in r or ":image/" in r or ":cluster-snapshot:" in r)
    )
    return RestoreCompleted(
        restore_job_id=job_id,
        resource_type=text("resourceType"),
        created_resource_arn=text("createdResourceArn"),
        recovery_point_arn=text("recoveryPointArn"),
        source_resource_arn=text("sourceResourceArn"),
        backup_vault_arn=text("backupVaultArn"),
        region=event.get("region") if isinstance(event.get("region"), str) else None,
        snapshot_arns=snapshots,
    )
