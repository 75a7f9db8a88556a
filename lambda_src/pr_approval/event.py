"""The one event this function handles: a build of the pull-request project that finished.

CodeBuild sends ``CodeBuild Build State Change`` events with ``detail.build-status`` IN_PROGRESS, SUCCEEDED, FAILED or
STOPPED, the project's name and the build's ARN (CodeBuild User Guide, "Build notifications input format
reference"). Only AWS services can put events whose source starts with ``aws.`` ("Amazon EventBridge events": a
PutEvents entry with an ``aws.`` source is refused), so the event itself is CodeBuild's word; everything the approval
depends on is still read back from CodeBuild and CodeCommit, never taken from the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events import IgnoredEvent, MalformedEvent, event_detail

SOURCE = "aws.codebuild"
DETAIL_TYPE = "CodeBuild Build State Change"
FINISHED = ("SUCCEEDED", "FAILED", "STOPPED", "FAULT", "TIMED_OUT")


@dataclass(frozen=True)
class BuildFinished:
    build_id: str  # "<project>:<uuid>" or the build ARN: both are accepted by BatchGetBuilds
    project: str
    status: str


def parse_event(event: Any, project: str) -> BuildFinished:
    detail = event_detail(event, source=SOURCE, detail_type=DETAIL_TYPE, kind="build")
    if detail.get("project-name") != project:
        raise IgnoredEvent(f"build of project {detail.get('project-name')!r}, not {project!r}")
    status = detail.get("build-status")
    if status not in FINISHED:
        raise IgnoredEvent(f"build status is {status!r}: not finished")
    build_id = detail.get("build-id")
    if not isinstance(build_id, str) or not build_id:
        raise MalformedEvent("detail.build-id is missing")
    return BuildFinished(build_id=build_id, project=project, status=str(status))
