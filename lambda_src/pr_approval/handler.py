"""Approve a CodeCommit pull request when its build passed; revoke the approval when it did not.

The pull request's own build cannot do this: it runs the pull request's code, so any right it held, the code under
review would hold too (a pull request could approve itself). This function belongs to the pipeline stack, which an
administrator applies; the pull-request builder holds no approval rights at all. CodeCommit counts its approvals for
the validation rule only (the rule's approval pool names this function's role); the reviewer rule counts people.

Triggered by EventBridge for ``CodeBuild Build State Change`` events of the pull-request project. It trusts nothing
in the event but the build's id, and reads the rest back:

- the build (``codebuild:BatchGetBuilds``): its status, the pull request it was started for (the environment
  variables the pull-request rule sets), the commit it built, and whether anything was overridden that the project
  does not define (buildspec, image, privileged mode, service role, extra environment variables): an overridden
  build proves nothing about the code, so it is revoked, never approved;
- the pull request (``codecommit:GetPullRequest``): a build of an older revision is stale and changes nothing
  (CodeCommit resets approvals when a new revision is pushed, and the new revision has its own build); the built
  commit must be the pull request's source commit.

Idempotent: an approval already given is not given again, a revocation of an approval never given is not sent, and
the verdict comment carries a client request token derived from the build and verdict, so a retried invocation
posts it once (CodeCommit API reference, PostCommentForPullRequest: clientRequestToken).
Failure policy: a failed AWS call raises, so Lambda's asynchronous retries try again and the DLQ keeps the event.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from event import parse_event
from shared.events import IgnoredEvent, MalformedEvent
from shared.logs import StructuredLog

_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})
# The variables the pull-request rule sets on each build (stacks/pipeline_codecommit.py).
PULL_REQUEST_VARIABLES = ("PULL_REQUEST_ID", "REVISION_ID", "REPOSITORY_NAME", "SOURCE_COMMIT", "DESTINATION_COMMIT")
MAX_COMMENT = 10_240  # CodeCommit's limit for a comment

Clients = Callable[[str], Any]


log = StructuredLog("pr_approval")


@cache
def _client(service: str) -> Any:
    return boto3.client(service, config=_RETRIES)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    return process(event, clients=_client, environ=os.environ)


def process(event: Any, *, clients: Clients, environ: Mapping[str, str]) -> dict[str, Any]:
    project, repository, approver_role = (
        environ["PROJECT_NAME"],
        environ["REPOSITORY_NAME"],
        environ["APPROVER_ROLE_NAME"],
    )
    try:
        finished = parse_event(event, project)
    except IgnoredEvent as exc:
        log(logging.INFO, "event ignored", reason=str(exc))
        return {"status": "ignored", "reason": str(exc)}
    except MalformedEvent as exc:
        log(logging.ERROR, "malformed event", reason=str(exc))
        return {"status": "malformed", "reason": str(exc)}
    builds = clients("codebuild").batch_get_builds(ids=[finished.build_id]).get("builds", [])
    if not builds:
        log(logging.ERROR, "build not found", build_id=finished.build_id)
        return {"status": "malformed", "reason": f"build {finished.build_id} not found"}
    build = builds[0]
    variables = _variables(build)
    pull_request_id, revision = variables.get("PULL_REQUEST_ID"), variables.get("REVISION_ID")
    if not pull_request_id or not revision or variables.get("REPOSITORY_NAME") != repository:
        log(logging.WARNING, "not a pull-request build of this repository: nothing approved", build_id=build.get("id"))
        return {"status": "ignored", "reason": "the build was not started for a pull request of the repository"}
    pull_request = clients("codecommit").get_pull_request(pullRequestId=pull_request_id)["pullRequest"]
    if pull_request.get("revisionId") != revision:
        log(logging.INFO, "stale build: the pull request has a newer revision", pull_request_id=pull_request_id)
        return {"status": "stale", "pull_request_id": pull_request_id}
    if pull_request.get("pullRequestStatus") != "OPEN":
        return {
            "status": "ignored",
            "reason": f"pull request {pull_request_id} is {pull_request.get('pullRequestStatus')}",
        }
    target = next(t for t in pull_request["pullRequestTargets"] if t.get("repositoryName") == repository)
    (project_record,) = clients("codebuild").batch_get_projects(names=[project])["projects"]
    problems = _overrides(build, project_record) + _commit_problems(build, target)
    status = str(build.get("buildStatus"))
    approve = status == "SUCCEEDED" and not problems
    changed = _set_approval(
        clients("codecommit"), pull_request_id, revision, approve=approve, approver_role=approver_role
    )
    verdict = "approved" if approve else "not approved"
    reasons = [f"build status {status}", *problems]
    content = (
        f"org-backup validation build {build.get('id')} of commit {target['sourceCommit']}: {verdict} "
        f"({'; '.join(reasons)}). Only a passing, unmodified build of the pull request's current revision counts "
        "toward the validation rule; reviewers still approve separately."
    )[:MAX_COMMENT]
    clients("codecommit").post_comment_for_pull_request(
        pullRequestId=pull_request_id,
        repositoryName=repository,
        beforeCommitId=target["destinationCommit"],
        afterCommitId=target["sourceCommit"],
        content=content,
        clientRequestToken=hashlib.sha256(f"{build.get('arn')}|{verdict}".encode()).hexdigest(),
    )
    log(logging.INFO, "verdict", pull_request_id=pull_request_id, approved=approve, changed=changed, reasons=reasons)
    return {"status": verdict, "pull_request_id": pull_request_id, "reasons": reasons, "changed": changed}


def _variables(build: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(v.get("name")): str(v.get("value"))
        for v in build.get("environment", {}).get("environmentVariables", [])
        if v.get("type", "PLAINTEXT") == "PLAINTEXT"
    }


def _overrides(build: Mapping[str, Any], project: Mapping[str, Any]) -> list[str]:
    """What the build ran with that its project does not define: StartBuild overrides (CodeBuild API reference,
    StartBuild: buildspecOverride, imageOverride, privilegedModeOverride, serviceRoleOverride,
    environmentVariablesOverride)."""
    problems = []
    if build.get("source", {}).get("buildspec") != project.get("source", {}).get("buildspec"):
        problems.append("its buildspec was overridden")
    for key in ("image", "privilegedMode", "computeType", "type"):
        if build.get("environment", {}).get(key) != project.get("environment", {}).get(key):
            problems.append(f"its environment {key} was overridden")
    if build.get("serviceRole") not in (None, project.get("serviceRole")):
        problems.append("its service role was overridden")
    defined = {str(v.get("name")): v for v in project.get("environment", {}).get("environmentVariables", [])}
    for variable in build.get("environment", {}).get("environmentVariables", []):
        name = str(variable.get("name"))
        if name in PULL_REQUEST_VARIABLES and variable.get("type", "PLAINTEXT") == "PLAINTEXT":
            continue
        if defined.get(name) != variable:
            problems.append(f"environment variable {name} was set or overridden")
    return problems


def _commit_problems(build: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    built = build.get("resolvedSourceVersion") or build.get("sourceVersion")
    if built != target.get("sourceCommit"):
        return [f"it built commit {built}, not the pull request's source commit {target.get('sourceCommit')}"]
    return []


def _set_approval(codecommit: Any, pull_request_id: str, revision: str, *, approve: bool, approver_role: str) -> bool:
    """Approve, or revoke our approval; True when the state changed."""
    approvals = codecommit.get_pull_request_approval_states(pullRequestId=pull_request_id, revisionId=revision)
    ours = [
        a
        for a in approvals.get("approvals", [])
        if f":assumed-role/{approver_role}/" in str(a.get("userArn")) and a.get("approvalState") == "APPROVE"
    ]
    if approve == bool(ours):
        return False
    codecommit.update_pull_request_approval_state(
        pullRequestId=pull_request_id, revisionId=revision, approvalState="APPROVE" if approve else "REVOKE"
    )
    return True
