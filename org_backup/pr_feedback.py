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


def feedback(codecommit: Any, environ: Mapping[str, str], *, succeeded: bool, summary: str) -> None:
    missing = [name for name in REQUIRED if not environ.get(name)]
    if missing:
        raise SystemExit(f"pr_feedback: missing environment variables {', '.join(missing)} (set by the PR rule)")
    verdict = "passed: tests, checkov and plan" if succeeded else "FAILED: see the build log"
    content = f"org-backup validation {verdict}.\n\n{summary}"[:MAX_COMMENT]
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
    args = parser.parse_args(argv)
    summary = args.summary.read_text(encoding="utf-8") if args.summary.is_file() else "No plan was produced."
    feedback(boto3.client("codecommit"), os.environ, succeeded=args.succeeded == "1", summary=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
