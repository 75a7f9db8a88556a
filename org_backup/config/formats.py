"""Formats of the pipeline's, the state backend's and the restore tests' settings, each checked whole (never a
pattern that matches part of a value) with the rule in words and a fix: repository names and ids, connection ARNs,
S3 key prefixes, schedules (``org_backup.config.cron``) and time zones."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from typing import Annotated, Any

from pydantic import BeforeValidator

from org_backup.config.cron import schedule_problems
from org_backup.config.errors import shown
from org_backup.config.validation import fail, quoted_string, with_pattern

# CodeCommit CreateRepository, repositoryName: "any combination of letters, numbers, periods, underscores, and dashes
# between 1 and 100 characters in length ... cannot end in .git" (CodeCommit API reference).
CodeCommitRepositoryName = Annotated[
    str,
    with_pattern(
        r"(?![\w.-]*\.git$)[\w.-]{1,100}",
        "a CodeCommit repository name",
        "1-100 letters, digits, '.', '_' and '-', not ending in .git",
        "use e.g. org-backup (no spaces, no slashes).",
        "org-backup",
    ),
]
# CodeConnections FullRepositoryId: "the owner and name of the repository where source changes are to be detected",
# e.g. some-user/my-repo (CodePipeline User Guide, CodeStarSourceConnection action); GitLab groups may nest.
RepositoryId = Annotated[
    str,
    with_pattern(
        r"[\w.-]+(/[\w.-]+)+",
        "a repository's owner/name",
        "the owner (or group) and the name, separated by '/', as the provider shows them; not a URL",
        "write e.g. example-org/org-backup for https://github.com/example-org/org-backup.",
        "example-org/org-backup",
    ),
]
_CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[\w-]+"
)


def _check_connection_arn(value: Any) -> str:
    """Whole ARNs only; one followed by more text (a note, a second ARN) says what follows, which the shortened value
    in the message would not show."""
    example = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    text = quoted_string(value, "a CodeConnections connection ARN", example)
    if _CONNECTION_ARN.fullmatch(text):
        return text
    start = _CONNECTION_ARN.match(text)
    rule = "arn:aws:codeconnections:<Region>:<home account>:connection/<id>, nothing before or after it"
    if start:
        raise fail(
            "pattern",
            f"{shown(text)} is not a CodeConnections connection ARN ({rule}): {shown(text[start.end() :])} follows "
            "the ARN. Fix: remove it.",
        )
    raise fail(
        "pattern",
        f"{shown(text)} is not a CodeConnections connection ARN ({rule}). Fix: copy the ARN from the console "
        "(Developer Tools > Settings > Connections).",
    )


ConnectionArn = Annotated[str, BeforeValidator(_check_connection_arn)]
# An S3 key prefix the Terraform S3 backend can use: safe characters (S3 User Guide, "Object key naming guidelines")
# in '/'-separated parts, none empty: no leading or trailing '/', no '//', no spaces.
KeyPrefix = Annotated[
    str,
    with_pattern(
        r"(?=.{1,200}$)[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*",
        "a state key prefix",
        "1-200 letters, digits and !_.*'()- in parts separated by single '/', no '/' at either end, no spaces",
        "e.g. org-backup or teams/platform/org-backup.",
        "org-backup",
    ),
]


def _check_schedule(value: Any) -> str:
    text = quoted_string(value, "an AWS cron expression", "cron(0 5 ? * SAT *)")
    problems = schedule_problems(text)
    if problems:
        raise fail("schedule", " ".join(problems))
    return text


Schedule = Annotated[str, BeforeValidator(_check_schedule)]


def _check_timezone(value: Any) -> str:
    text = quoted_string(value, "an IANA time zone", "Etc/UTC")
    zones = zoneinfo.available_timezones()
    if not zones:
        raise fail(
            "timezone",
            f"{shown(text)} cannot be checked: this machine has no IANA time zone database. Fix: install one "
            "(the tzdata package of the OS, or `pip install tzdata`).",
        )
    if text not in zones:
        close = difflib.get_close_matches(text, sorted(zones), n=1)
        raise fail(
            "timezone",
            f"{shown(text)} is not an IANA time zone name (Area/City from the tz database, e.g. Europe/Berlin; an "
            "offset like UTC+2 is not one: Etc/GMT-2 is UTC+2, its sign inverted). Fix: "
            + (f"did you mean {close[0]}?" if close else "use e.g. Europe/Berlin or Etc/UTC."),
        )
    return text


TimeZone = Annotated[str, BeforeValidator(_check_timezone)]

# A person's (or a read-only tool's) role, by exact ARN: it may assume the plan roles (pipeline.plan_readers). Exact,
# so each trust statement names one role (org_backup/ops/policy_lint.py's rule for account principals).
RoleArn = Annotated[
    str,
    with_pattern(
        r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
        "an IAM role ARN",
        "arn:aws:iam::<account>:role/<path/name>, exactly, without wildcards",
        "use the role's ARN (IAM console, or the assumed-role ARN `aws sts get-caller-identity` prints turned into "
        "arn:aws:iam::<account>:role/<name>).",
        "arn:aws:iam::123456789012:role/PlatformReadOnly",
    ),
]
