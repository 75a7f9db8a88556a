"""Validate what an AWS Backup restore test restored, and report the result to AWS Backup.

Triggered by EventBridge for ``Restore Job State Change`` events of restore tests (``detail.restoreTestingPlanArn``)
that COMPLETED. The handler is thin: parse the event, find the created resource (DescribeRestoreJob only when the
event lacks it), run the health check of its type (checks.py), and report SUCCESSFUL or FAILED with the reason
through ``backup:PutRestoreValidationResult``; AWS Backup shows it beside the restore job
(https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-validation.html).

Failure policy: a resource still starting is asked again until shortly before the function's timeout, then the
invocation raises, so Lambda's asynchronous retries ask later (and the DLQ keeps the event if it never settles). A
throttled or failed AWS call, including PutRestoreValidationResult, raises for the same retries. Events that
retrying cannot fix (not ours, malformed, a type without a check) are logged and acknowledged: a type without a
check is returned as skipped (nothing reported to AWS Backup), never as SUCCESSFUL.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from checks import Clients, Health, Verdict, check_for
from event import parse_event
from shared.events import IgnoredEvent, MalformedEvent
from shared.logs import StructuredLog

_JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("restore_job_id", default=None)
_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})
POLL_SECONDS = 15
MARGIN_MS = 30_000  # stop asking this long before the timeout: enough for the last check and the report


class NotReady(Exception):
    """The restored resource is still starting: raise so Lambda invokes again later."""


log = StructuredLog("restore_validation", _JOB_ID)


@cache
def _client(service: str) -> Any:
    return boto3.client(service, config=_RETRIES)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    return process(event, clients=_client, remaining_ms=context.get_remaining_time_in_millis)


def process(
    event: Any, *, clients: Clients, remaining_ms: Callable[[], int], sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    detail = event.get("detail") if isinstance(event, dict) else None
    token = _JOB_ID.set(detail.get("restoreJobId") if isinstance(detail, dict) else None)
    try:
        try:
            test = parse_event(event)
        except IgnoredEvent as exc:
            log(logging.INFO, "event ignored", reason=str(exc))
            return {"status": "ignored", "reason": str(exc)}
        except MalformedEvent as exc:
            log(logging.ERROR, "malformed event", reason=str(exc))
            return {"status": "malformed", "reason": str(exc)}
        created = test.created_resource_arn
        if created is None:
            created = clients("backup").describe_restore_job(RestoreJobId=test.restore_job_id).get("CreatedResourceArn")
            log(logging.INFO, "created resource from DescribeRestoreJob", created_resource_arn=created)
        check = check_for(created) if created else None
        if created is None or check is None:
            log(
                logging.WARNING,
                "restore test of a type without a health check: skipped, no result reported",
                resource_type=test.resource_type,
                created_resource_arn=created,
            )
            return {"status": "skipped", "resource_type": test.resource_type, "created_resource_arn": created}
        verdict = _settled(lambda: check.run(clients, created), remaining_ms, sleep)
        if verdict.health is Health.NOT_READY:
            log(
                logging.WARNING, "restored resource not ready before the timeout: retrying later", reason=verdict.reason
            )
            raise NotReady(verdict.reason)
        result = "SUCCESSFUL" if verdict.health is Health.HEALTHY else "FAILED"
        clients("backup").put_restore_validation_result(
            RestoreJobId=test.restore_job_id, ValidationStatus=result, ValidationStatusMessage=verdict.reason
        )
        log(logging.INFO, "validation reported", result=result, reason=verdict.reason, kind=check.kind)
        return {"status": "validated", "result": result, "reason": verdict.reason, "created_resource_arn": created}
    finally:
        _JOB_ID.reset(token)


def _settled(run: Callable[[], Verdict], remaining_ms: Callable[[], int], sleep: Callable[[float], None]) -> Verdict:
    """Ask until the answer is not NOT_READY, or until too little time is left to ask again."""
    verdict = run()
    while verdict.health is Health.NOT_READY and remaining_ms() > MARGIN_MS + POLL_SECONDS * 1000:
        log(logging.INFO, "not ready yet", reason=verdict.reason)
        sleep(POLL_SECONDS)
        verdict = run()
    return verdict
