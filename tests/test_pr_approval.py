"""The pull-request approval function (lambda_src/pr_approval): it approves only a passing, unmodified build of a
pull request's current revision, revokes its approval otherwise, changes nothing for a stale build, and is
idempotent. CodeBuild and CodeCommit are botocore Stubbers (moto has neither pull requests nor BatchGetBuilds
records): a call the test did not queue, or a call with other parameters, fails the test."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import ROOT, load_lambda

(handler,) = load_lambda("pr_approval", "handler")

ACCOUNT, REGION = "333333333333", "eu-west-1"
PROJECT, REPOSITORY, ROLE = "org-backup-pull-request", "org-backup", "org-backup-pr-approval"
BUILD_ARN = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{PROJECT}:8745a7a9-c340-456a-9166-edf953571bEX"
SOURCE, DESTINATION = "a" * 40, "b" * 40
ENVIRON = {"PROJECT_NAME": PROJECT, "REPOSITORY_NAME": REPOSITORY, "APPROVER_ROLE_NAME": ROLE}
PROJECT_VARIABLES = [
    {"name": "DEPLOY_PARALLELISM", "value": "4", "type": "PLAINTEXT"},
    {"name": "TF_PLUGIN_CACHE_DIR", "value": "/root/.terraform.d/plugin-cache", "type": "PLAINTEXT"},
]
BUILDSPEC = "version: 0.2\nphases: {}\n"


def event(status: str = "SUCCEEDED", project: str = PROJECT) -> dict[str, Any]:
    sample = json.loads((ROOT / "tests" / "events" / "codebuild_pr_build_succeeded.json").read_text())
    sample["detail"].update({"build-status": status, "project-name": project})
    return sample


def build(status: str = "SUCCEEDED", **changes: Any) -> dict[str, Any]:
    """The build record as BatchGetBuilds returns it: the project's settings, the rule's five variables."""
    record: dict[str, Any] = {
        "id": f"{PROJECT}:8745a7a9-c340-456a-9166-edf953571bEX",
        "arn": BUILD_ARN,
        "buildStatus": status,
        "projectName": PROJECT,
        "sourceVersion": SOURCE,
        "resolvedSourceVersion": SOURCE,
        "source": {"type": "CODECOMMIT", "buildspec": BUILDSPEC},
        "serviceRole": f"arn:aws:iam::{ACCOUNT}:role/org-backup-pull-request",
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
            "privilegedMode": False,
            "environmentVariables": [
                *PROJECT_VARIABLES,
                *(
                    {"name": name, "value": value, "type": "PLAINTEXT"}
                    for name, value in (
                        ("PULL_REQUEST_ID", "42"),
                        ("REVISION_ID", "rev-2"),
                        ("REPOSITORY_NAME", REPOSITORY),
                        ("SOURCE_COMMIT", SOURCE),
                        ("DESTINATION_COMMIT", DESTINATION),
                    )
                ),
            ],
        },
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = record
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return record


PROJECT_RECORD = {
    "name": PROJECT,
    "source": {"type": "CODECOMMIT", "buildspec": BUILDSPEC},
    "serviceRole": f"arn:aws:iam::{ACCOUNT}:role/org-backup-pull-request",
    "environment": {
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/standard:7.0",
        "computeType": "BUILD_GENERAL1_MEDIUM",
        "privilegedMode": False,
        "environmentVariables": PROJECT_VARIABLES,
    },
}


def pull_request(revision: str = "rev-2", status: str = "OPEN") -> dict[str, Any]:
    return {
        "pullRequest": {
            "pullRequestId": "42",
            "revisionId": revision,
            "pullRequestStatus": status,
            "pullRequestTargets": [
                {
                    "repositoryName": REPOSITORY,
                    "sourceReference": "refs/heads/feature",
                    "destinationReference": "refs/heads/main",
                    "sourceCommit": SOURCE,
                    "destinationCommit": DESTINATION,
                    "mergeMetadata": {"isMerged": False},
                }
            ],
        }
    }


class Aws:
    def __init__(self) -> None:
        self.codebuild = boto3.client("codebuild", region_name=REGION)
        self.codecommit = boto3.client("codecommit", region_name=REGION)
        self.stubs = {"codebuild": Stubber(self.codebuild), "codecommit": Stubber(self.codecommit)}
        for stub in self.stubs.values():
            stub.activate()

    def __call__(self, service: str) -> Any:
        return {"codebuild": self.codebuild, "codecommit": self.codecommit}[service]

    def expect_build(self, record: dict[str, Any]) -> None:
        self.stubs["codebuild"].add_response("batch_get_builds", {"builds": [record]}, {"ids": [BUILD_ARN]})

    def expect_pull_request(self, answer: dict[str, Any]) -> None:
        self.stubs["codecommit"].add_response("get_pull_request", answer, {"pullRequestId": "42"})

    def expect_project(self) -> None:
        self.stubs["codebuild"].add_response("batch_get_projects", {"projects": [PROJECT_RECORD]}, {"names": [PROJECT]})

    def expect_approvals(self, approved_by_us: bool) -> None:
        approvals = (
            [{"userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/session", "approvalState": "APPROVE"}]
            if approved_by_us
            else [
                {"userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/OrgBackupReviewers/ana", "approvalState": "APPROVE"}
            ]
        )
        self.stubs["codecommit"].add_response(
            "get_pull_request_approval_states", {"approvals": approvals}, {"pullRequestId": "42", "revisionId": "rev-2"}
        )

    def expect_state(self, state: str) -> None:
        self.stubs["codecommit"].add_response(
            "update_pull_request_approval_state",
            {},
            {"pullRequestId": "42", "revisionId": "rev-2", "approvalState": state},
        )

    def expect_comment(self, verdict: str, reasons: str) -> None:
        self.stubs["codecommit"].add_response(
            "post_comment_for_pull_request",
            {},
            {
                "pullRequestId": "42",
                "repositoryName": REPOSITORY,
                "beforeCommitId": DESTINATION,
                "afterCommitId": SOURCE,
                "content": f"org-backup validation build {PROJECT}:8745a7a9-c340-456a-9166-edf953571bEX of commit "
                f"{SOURCE}: {verdict} ({reasons}). Only a passing, unmodified build of the pull request's current "
                "revision counts toward the validation rule; reviewers still approve separately.",
                # CodeCommit's idempotency token: the same build and verdict post the comment once.
                "clientRequestToken": hashlib.sha256(f"{BUILD_ARN}|{verdict}".encode()).hexdigest(),
            },
        )

    def done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@pytest.fixture
def aws() -> Aws:
    return Aws()


def run(aws: Aws, incoming: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler.process(incoming, clients=aws, environ=ENVIRON)
    aws.done()
    return result


def test_a_passing_build_of_the_current_revision_is_approved(aws: Aws) -> None:
    aws.expect_build(build())
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=False)
    aws.expect_state("APPROVE")
    aws.expect_comment("approved", "build status SUCCEEDED")
    assert run(aws, event()) == {
        "status": "approved",
        "pull_request_id": "42",
        "reasons": ["build status SUCCEEDED"],
        "changed": True,
    }


def test_approving_again_changes_nothing_and_posts_the_same_comment(aws: Aws) -> None:
    """A retried invocation: the approval is there already, the comment has the same idempotency token."""
    aws.expect_build(build())
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=True)
    aws.expect_comment("approved", "build status SUCCEEDED")
    assert run(aws, event())["changed"] is False


def test_a_failed_build_revokes_an_earlier_approval(aws: Aws) -> None:
    aws.expect_build(build("FAILED"))
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=True)
    aws.expect_state("REVOKE")
    aws.expect_comment("not approved", "build status FAILED")
    assert run(aws, event("FAILED"))["status"] == "not approved"


def test_a_failed_build_without_an_approval_of_ours_sends_no_revocation(aws: Aws) -> None:
    aws.expect_build(build("FAILED"))
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=False)
    aws.expect_comment("not approved", "build status FAILED")
    assert run(aws, event("FAILED"))["changed"] is False


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"source__buildspec": "version: 0.2\nphases: {build: {commands: [true]}}\n"}, "its buildspec was overridden"),
        ({"environment__image": "attacker/image:latest"}, "its environment image was overridden"),
        ({"environment__privilegedMode": True}, "its environment privilegedMode was overridden"),
        ({"serviceRole": f"arn:aws:iam::{ACCOUNT}:role/other"}, "its service role was overridden"),
    ],
)
def test_an_overridden_build_proves_nothing_and_is_never_approved(
    aws: Aws, changes: dict[str, Any], reason: str
) -> None:
    """StartBuild overrides (CodeBuild API reference): whoever overrides the buildspec chooses what 'passed' means."""
    aws.expect_build(build(**changes))
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=True)
    aws.expect_state("REVOKE")
    aws.expect_comment("not approved", f"build status SUCCEEDED; {reason}")
    assert run(aws, event())["reasons"] == ["build status SUCCEEDED", reason]


def test_an_extra_environment_variable_is_an_override(aws: Aws) -> None:
    record = build()
    record["environment"]["environmentVariables"].append(
        {"name": "PYTEST_ADDOPTS", "value": "--collect-only", "type": "PLAINTEXT"}
    )
    aws.expect_build(record)
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=False)
    aws.expect_comment(
        "not approved", "build status SUCCEEDED; environment variable PYTEST_ADDOPTS was set or overridden"
    )
    assert run(aws, event())["status"] == "not approved"


def test_a_build_of_another_commit_is_not_approved(aws: Aws) -> None:
    other = "c" * 40
    aws.expect_build(build(resolvedSourceVersion=other, sourceVersion=other))
    aws.expect_pull_request(pull_request())
    aws.expect_project()
    aws.expect_approvals(approved_by_us=False)
    aws.expect_comment(
        "not approved",
        f"build status SUCCEEDED; it built commit {other}, not the pull request's source commit {SOURCE}",
    )
    assert run(aws, event())["status"] == "not approved"


def test_a_build_of_an_older_revision_changes_nothing(aws: Aws) -> None:
    """CodeCommit resets approvals on a new revision, which gets its own build: the older build's result is moot."""
    aws.expect_build(build())
    aws.expect_pull_request(pull_request(revision="rev-3"))
    assert run(aws, event()) == {"status": "stale", "pull_request_id": "42"}


def test_a_closed_pull_request_is_left_alone(aws: Aws) -> None:
    aws.expect_build(build())
    aws.expect_pull_request(pull_request(status="CLOSED"))
    assert run(aws, event())["status"] == "ignored"


def test_a_build_not_started_for_a_pull_request_is_ignored(aws: Aws) -> None:
    record = build()
    record["environment"]["environmentVariables"] = copy.deepcopy(PROJECT_VARIABLES)
    aws.expect_build(record)
    assert run(aws, event())["status"] == "ignored"


@pytest.mark.parametrize(
    "incoming",
    [
        event("IN_PROGRESS"),
        event(project="org-backup-deploy"),
        {**event(), "source": "custom.codebuild"},
    ],
    ids=["in-progress", "another-project", "not-codebuild"],
)
def test_events_that_are_not_a_finished_pull_request_build_make_no_call(aws: Aws, incoming: dict[str, Any]) -> None:
    assert run(aws, incoming)["status"] == "ignored"


def test_a_build_event_without_its_id_is_malformed(aws: Aws) -> None:
    incoming = event()
    del incoming["detail"]["build-id"]
    assert run(aws, incoming)["status"] == "malformed"
