"""The one event this function handles: a restore job of an AWS Backup restore test that COMPLETED.

Restore jobs that restore tests start carry ``detail.restoreTestingPlanArn``; other restores (a person's, the tag
re-application's subject) do not, and are ignored. AWS Backup reports ``detail.status`` for restore jobs, not
``state`` (AWS Backup Developer Guide, "Monitoring AWS Backup events using Amazon EventBridge"; "Restore testing
validation").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCE = "aws.backup"
DETAIL_TYPE = "Restore Job State Change"


class IgnoredEvent(Exception):
    """A well-formed event that is not ours to validate (another type, not a restore test, not COMPLETED)."""


class MalformedEvent(Exception):
    """The event lacks the restore job id, without which no result can be reported."""


@dataclass(frozen=True)
class RestoreTestCompleted:
    restore_job_id: str
    restore_testing_plan_arn: str
    resource_type: str | None
    created_resource_arn: str | None


def parse_event(event: Any) -> RestoreTestCompleted:
    if not isinstance(event, dict):
        raise MalformedEvent(f"event is a {type(event).__name__}, not an object")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise IgnoredEvent(
            f"not a restore job event: source={event.get('source')!r} detail-type={event.get('detail-type')!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("detail is missing or not an object")
    plan = detail.get("restoreTestingPlanArn")
    if not isinstance(plan, str) or not plan:
        raise IgnoredEvent("not a restore test: detail.restoreTestingPlanArn is absent")
    if detail.get("status") != "COMPLETED":
        raise IgnoredEvent(f"restore job status is {detail.get('status')!r}, not 'COMPLETED'")
    job_id = detail.get("restoreJobId")
    if not isinstance(job_id, str) or not job_id:
        raise MalformedEvent("detail.restoreJobId is missing")

    def text(key: str) -> str | None:
        value = detail.get(key)
        return value if isinstance(value, str) and value else None

    return RestoreTestCompleted(
        restore_job_id=job_id,
        restore_testing_plan_arn=plan,
        resource_type=text("resourceType"),
        created_resource_arn=text("createdResourceArn"),
    )
