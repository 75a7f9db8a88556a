"""``readiness``'s check for the audit frameworks: does AWS Config record what the frameworks' controls evaluate
(AWS Backup guide, "Choosing your controls": each control's "AWS Config recording resource type")?"""

from __future__ import annotations

import boto3

CONFIG_NOT_RECORDING = "config-not-recording"
BACKUP_CONFIG_TYPES = (
    "AWS::Backup::BackupPlan",
    "AWS::Backup::BackupSelection",
    "AWS::Backup::BackupVault",
    "AWS::Backup::RecoveryPoint",
)


def config_recording_gap(session: boto3.Session, region: str) -> str | None:
    """Why AWS Config does not record the backup resource types in this account and Region; None if it does."""
    client = session.client("config", region_name=region)
    recorders = client.describe_configuration_recorders().get("ConfigurationRecorders", [])
    if not recorders:
        return "no AWS Config recorder exists"
    statuses = client.describe_configuration_recorder_status().get("ConfigurationRecordersStatus", [])
    recording = {status["name"] for status in statuses if status.get("recording")}
    gaps = []
    for recorder in recorders:
        if recorder["name"] not in recording:
            gaps.append(f"recorder {recorder['name']!r} is stopped")
            continue
        group = recorder.get("recordingGroup", {})
        strategy = group.get("recordingStrategy", {}).get("useOnly")
        if group.get("allSupported") or strategy == "ALL_SUPPORTED_RESOURCE_TYPES":
            return None
        if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
            excluded = set(group.get("exclusionByResourceTypes", {}).get("resourceTypes", []))
            missing = sorted(set(BACKUP_CONFIG_TYPES) & excluded)
        else:
            missing = sorted(set(BACKUP_CONFIG_TYPES) - set(group.get("resourceTypes", [])))
        if not missing:
            return None
        gaps.append(f"recorder {recorder['name']!r} does not record {', '.join(missing)}")
    return "; ".join(gaps)


def gap_and_fix(session: boto3.Session, region: str) -> tuple[str, str] | None:
    """The finding's detail and fix where Config does not record the backup types; None where it does."""
    gap = config_recording_gap(session, region)
    if gap is None:
        return None
    return (
        f"{gap}, so the Audit Manager framework here evaluates nothing.",
        f"record {', '.join(BACKUP_CONFIG_TYPES)} in this account and Region (an organization-wide recorder, or "
        "this account's), or set audit.frameworks.enabled: false.",
    )
