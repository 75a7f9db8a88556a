"""The one event this function handles: an AWS Backup restore job that COMPLETED."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events import IgnoredEvent, MalformedEvent, event_detail, text

SOURCE = "aws.backup"
DETAIL_TYPE = "Restore Job State Change"


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
    detail = event_detail(event, source=SOURCE, detail_type=DETAIL_TYPE, kind="restore job")
    status = detail.get("status")
    if status != "COMPLETED":
        raise IgnoredEvent(f"restore job status is {status!r}, not 'COMPLETED'")
    job_id = detail.get("restoreJobId")
    if not isinstance(job_id, str) or not job_id:
        raise MalformedEvent("detail.restoreJobId is missing")

    listed = event.get("resources")
    resources = listed if isinstance(listed, list) else []
    snapshots = tuple(
        r for r in resources if isinstance(r, str) and (":snapshot" in r or ":image/" in r or ":cluster-snapshot:" in r)
    )
    return RestoreCompleted(
        restore_job_id=job_id,
        resource_type=text(detail, "resourceType"),
        created_resource_arn=text(detail, "createdResourceArn"),
        recovery_point_arn=text(detail, "recoveryPointArn"),
        source_resource_arn=text(detail, "sourceResourceArn"),
        backup_vault_arn=text(detail, "backupVaultArn"),
        region=event.get("region") if isinstance(event.get("region"), str) else None,
        snapshot_arns=snapshots,
    )
