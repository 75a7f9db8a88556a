"""Re-apply original tags to resources restored by AWS Backup.

Triggered by EventBridge for ``Restore Job State Change`` events with ``detail.status`` COMPLETED. The handler is
thin: parse the event, complete it from AWS Backup only where it lacks data (never by scanning vaults), gather the
original tags (tags.py explains the precedence), and add what the restored resource is missing.

Failure policy: a throttled or failed read/write of a resource raises, so Lambda's asynchronous retries run and
the event finally lands in the dead-letter queue. Events that retrying cannot fix (not ours, malformed, an
unsupported type, a created resource that no longer exists) are logged and acknowledged.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from event import RestoreCompleted, parse_event
from resources import Adapter, Clients, NotFound, adapter_for, write_in_chunks
from shared.events import IgnoredEvent, MalformedEvent
from shared.logs import StructuredLog
from tags import merge_original, tags_to_add

_JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("restore_job_id", default=None)
_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


log = StructuredLog("tag_reapply", _JOB_ID)


@dataclass(frozen=True)
class Settings:
    excluded_tag_keys: frozenset[str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        raw = environ.get("EXCLUDED_TAG_KEYS", "")
        return cls(excluded_tag_keys=frozenset(k.strip() for k in raw.split(",") if k.strip()))


@cache
def _client(service: str) -> Any:
    return boto3.client(service, config=_RETRIES)


SETTINGS = Settings.from_env(os.environ)  # the environment is read here and nowhere else


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    return process(event, clients=_client, settings=SETTINGS)


def process(event: Any, *, clients: Clients, settings: Settings) -> dict[str, Any]:
    detail = event.get("detail") if isinstance(event, dict) else None
    token = _JOB_ID.set(detail.get("restoreJobId") if isinstance(detail, dict) else None)
    try:
        try:
            restore = parse_event(event)
        except IgnoredEvent as exc:
            log(logging.INFO, "event ignored", reason=str(exc))
            return {"status": "ignored", "reason": str(exc)}
        except MalformedEvent as exc:
            log(logging.ERROR, "malformed event", reason=str(exc))
            return {"status": "malformed", "reason": str(exc)}
        return _reapply(_complete(restore, clients), clients, settings)
    finally:
        _JOB_ID.reset(token)


def _complete(restore: RestoreCompleted, clients: Clients) -> RestoreCompleted:
    """Fill what the event lacks from DescribeRestoreJob / DescribeRecoveryPoint, only when it lacks it."""
    if restore.missing:
        job = clients("backup").describe_restore_job(RestoreJobId=restore.restore_job_id)
        restore = replace(
            restore,
            created_resource_arn=restore.created_resource_arn or job.get("CreatedResourceArn"),
            recovery_point_arn=restore.recovery_point_arn or job.get("RecoveryPointArn"),
            resource_type=restore.resource_type or job.get("ResourceType"),
        )
        log(logging.INFO, "completed event from DescribeRestoreJob")
    if restore.source_resource_arn is None and restore.backup_vault_arn and restore.recovery_point_arn:
        vault = restore.backup_vault_arn.split(":backup-vault:", 1)[-1]
        try:
            point = clients("backup").describe_recovery_point(
                BackupVaultName=vault, RecoveryPointArn=restore.recovery_point_arn
            )
            restore = replace(restore, source_resource_arn=point.get("ResourceArn"))
        except clients("backup").exceptions.ResourceNotFoundException:
            log(logging.ERROR, "recovery point not found", recovery_point_arn=restore.recovery_point_arn)
    return restore


def _read_source(clients: Clients, arn: str, role: str) -> dict[str, str]:
    adapter = adapter_for(arn)
    if adapter is None:
        log(logging.WARNING, "tag source of an unsupported type skipped", source=role, arn=arn)
        return {}
    try:
        return adapter.read(clients, arn)
    except NotFound:
        level = logging.INFO if role == "source resource" else logging.ERROR
        log(level, f"{role} not found", arn=arn)
        return {}


def _reapply(restore: RestoreCompleted, clients: Clients, settings: Settings) -> dict[str, Any]:
    created = restore.created_resource_arn
    adapter = adapter_for(created) if created else None
    if created is None or adapter is None or adapter.write is None:
        log(
            logging.WARNING,
            "unsupported resource type: nothing re-tagged",
            resource_type=restore.resource_type,
            arn=created,
        )
        return {"status": "unsupported", "resource_type": restore.resource_type, "created_resource_arn": created}

    sources: list[dict[str, str]] = []
    if restore.recovery_point_arn:
        sources.append(_read_source(clients, restore.recovery_point_arn, "recovery point"))
    for snapshot in restore.snapshot_arns:
        if snapshot != restore.recovery_point_arn:
            sources.append(_read_source(clients, snapshot, "snapshot"))
    if restore.source_resource_arn:
        sources.append(_read_source(clients, restore.source_resource_arn, "source resource"))
    original = merge_original(sources, settings.excluded_tag_keys)

    results = []
    targets = [(created, adapter)]
    try:
        if adapter.related:
            for arn in adapter.related(clients, created):
                related = adapter_for(arn)
                if related is None:  # not reached with today's adapters (an instance's volumes); never silent
                    log(logging.WARNING, "related resource of an unsupported type: not re-tagged", arn=arn)
                    continue
                targets.append((arn, related))
        for arn, target in targets:
            results.append(_tag_one(clients, arn, target, original))
    except NotFound:
        log(logging.ERROR, "restored resource not found: nothing re-tagged", arn=created)
        return {"status": "created_resource_missing", "created_resource_arn": created}
    return {"status": "tagged", "created_resource_arn": created, "resources": results}


def _tag_one(clients: Clients, arn: str, adapter: Adapter | None, original: dict[str, str]) -> dict[str, Any]:
    assert adapter is not None and adapter.write is not None
    existing = adapter.read(clients, arn)
    add, dropped = tags_to_add(original, existing)
    if dropped:
        log(logging.WARNING, "50-tag limit: some original tags not re-applied", arn=arn, dropped=dropped)
    calls = write_in_chunks(adapter, clients, arn, add, existing) if add else 0
    log(
        logging.INFO,
        "re-tagged" if add else "already tagged",
        arn=arn,
        kind=adapter.kind,
        added=sorted(add),
        calls=calls,
    )
    return {"arn": arn, "added": sorted(add), "dropped": dropped}
