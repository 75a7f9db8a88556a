"""Pull-request feedback for CodeCommit: the plan summary as a comment, and an approval when the build passed.

Run by buildspecs/pull-request.yml in post_build. The EventBridge rule passes the pull request's ids to the build
as environment variables (PULL_REQUEST_ID, REVISION_ID, REPOSITORY_NAME, SOURCE_COMMIT, DESTINATION_COMMIT).
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
    """The pull request's comment: the verdict, the plan summary, then the topology diagram when it fits."""
    verdict = "passed: tests, checkov and plan" if succeeded else "FAILED: see the build log"
    content = f"org-backup validation {verdict}.\n\n{summary}"
    if topology:
        drawn = f"\n\nWhat the configuration deploys:\n\n```mermaid\n{topology}```\n"
        content += drawn if len(content) + len(drawn) <= MAX_COMMENT else "\n\n(topology diagram omitted: too long)"
    return content[:MAX_COMMENT]


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
    codecommit.update_pull_request_approval_state(
        pullRequestId=environ["PULL_REQUEST_ID"],
        revisionId=environ["REVISION_ID"],
        approvalState="APPROVE" if succeeded else "REVOKE",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup.pr_feedback")
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
