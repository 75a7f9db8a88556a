"""Pull-request feedback for CodeCommit: the plan summary as a comment. Never an approval.

Run by buildspecs/pull-request.yml in post_build, with the pull-request builder's role, which may comment but not
approve: this code runs as part of the pull request's build, so whatever it may do, the pull request may do. The
pipeline's approval function (lambda_src/pr_approval) approves from the build's recorded result. The EventBridge
rule passes the pull request's ids to the build as environment variables (PULL_REQUEST_ID, REVISION_ID,
REPOSITORY_NAME, SOURCE_COMMIT, DESTINATION_COMMIT).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

REQUIRED = ("PULL_REQUEST_ID", "REVISION_ID", "REPOSITORY_NAME", "SOURCE_COMMIT", "DESTINATION_COMMIT")
MAX_COMMENT = 10_240  # CodeCommit comment limit


def comment(succeeded: bool, summary: str, topology: str = "") -> str:
    """The pull request's comment: the verdict, the plan summary, then the topology diagram when it fits; within
    CodeCommit's limit, a summary that does not fit is cut with a note, never the verdict or the notes."""
    verdict = "passed: tests, checkov and plan" if succeeded else "FAILED: see the build log"
    head = (
        f"org-backup pull-request build (the pull request's own report; the approval comes from the pipeline's "
        f"approval function): {verdict}.\n\n"
    )
    drawn = f"\n\nWhat the configuration deploys:\n\n```mermaid\n{topology}```\n" if topology else ""
    room = MAX_COMMENT - len(head)
    if len(summary) + len(drawn) <= room:
        return head + summary + drawn
    tail = "\n\n(topology diagram omitted: too long)" if topology else ""
    if len(summary) + len(tail) > room:
        cut = "\n\n(plan summary cut to fit the comment: the build's plans artifact has all of it)"
        summary = summary[: room - len(tail) - len(cut)] + cut
    return head + summary + tail


def feedback(codecommit: Any, environ: Mapping[str, str], *, succeeded: bool, summary: str, topology: str = "") -> None:
    missing = [name for name in REQUIRED if not environ.get(name)]
    if missing:
        raise SystemExit(f"pr_feedback: missing environment variables {', '.join(missing)} (set by the PR rule)")
    content = comment(succeeded, summary, topology)
    codecommit.post_comment_for_pull_request(
        pullRequestId=environ["PULL_REQUEST_ID"],
        repositoryName=environ["REPOSITORY_NAME"],
        beforeCommitId=environ["DESTINATION_COMMIT"],
        afterCommitId=environ["SOURCE_COMMIT"],
        content=content,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup.ops.pr_feedback")
    parser.add_argument("--succeeded", required=True, help="CODEBUILD_BUILD_SUCCEEDING (1 or 0)")
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--topology", type=Path, help="preview --format mermaid output, drawn under the summary")
    args = parser.parse_args(argv)
    summary = args.summary.read_text(encoding="utf-8") if args.summary.is_file() else "No plan was produced."
    topology = args.topology.read_text(encoding="utf-8") if args.topology and args.topology.is_file() else ""
    feedback(
        boto3.client("codecommit"), os.environ, succeeded=args.succeeded == "1", summary=summary, topology=topology
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
