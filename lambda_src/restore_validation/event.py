"""The one event this function handles: a restore job of an AWS Backup restore test that COMPLETED.

Restore jobs that restore tests start carry ``detail.restoreTestingPlanArn``; other restores (a person's, the tag
re-application's subject) do not, and are ignored. AWS Backup reports ``detail.status`` for restore jobs, not
``state`` (AWS Backup Developer Guide, "Monitoring AWS Backup events using Amazon EventBridge"; "Restore testing
validation").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events import IgnoredEvent, MalformedEvent, event_detail, text

SOURCE = "aws.backup"
DETAIL_TYPE = "Restore Job State Change"


@dataclass(frozen=True)
class RestoreTestCompleted:
    restore_job_id: str
    restore_testing_plan_arn: str
    resource_type: str | None
    created_resource_arn: str | None


def parse_event(event: Any) -> RestoreTestCompleted:
    detail = event_detail(event, source=SOURCE, detail_type=DETAIL_TYPE, kind="restore job")
    plan = detail.get("restoreTestingPlanArn")
    if not isinstance(plan, str) or not plan:
        raise IgnoredEvent("not a restore test: detail.restoreTestingPlanArn is absent")
    if detail.get("status") != "COMPLETED":
        raise IgnoredEvent(f"restore job status is {detail.get('status')!r}, not 'COMPLETED'")
    job_id = detail.get("restoreJobId")
    if not isinstance(job_id, str) or not job_id:
        raise MalformedEvent("detail.restoreJobId is missing")

    return RestoreTestCompleted(
        restore_job_id=job_id,
        restore_testing_plan_arn=plan,
        resource_type=text(detail, "resourceType"),
        created_resource_arn=text(detail, "createdResourceArn"),
    )
