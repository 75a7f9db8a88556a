"""State locks a deploy finds before it starts: a live one (another deploy of the same stack is running) stops it
with a clear message; one left by a build that is gone is reported with the exact unlock step, or removed.

Terraform's S3 backend with ``use_lockfile`` (S3-native locking, Terraform >= 1.10) keeps a lock object beside each
state while it holds the state: "a lock file ... with the same name as the state file and a .tflock extension"
(Terraform, "Backend Type: s3", State Locking). Its body is Terraform's lock info as JSON (``statemgr.LockInfo``:
``ID``, ``Operation``, ``Info``, ``Who``, ``Version``, ``Created``, ``Path``; the same document Terraform prints in
"Error acquiring the state lock" and the local backend writes to ``.terraform.tfstate.lock.info``), and Terraform
deletes the object when it releases the lock. A build killed mid-apply (a CodeBuild timeout, a cancelled build, a
SIGKILL) never does. A lock is provably stale when it is older than the longest a deploy build may run: CodeBuild
stops every build at its project's timeout (``naming.BUILD_TIMEOUT_MINUTES``), so its holder no longer exists.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Lock:
    stack: str
    key: str  # the lock object's key in the state bucket
    id: str
    who: str
    operation: str
    created: datetime

    def age(self, now: datetime) -> timedelta:
        return now - self.created

    def unlock_step(self) -> str:
        return (
            f"(cd cdktf.out/stacks/{self.stack} && terraform init && terraform force-unlock {self.id}) && "
            f"python -m org_backup.ops.unrecorded mark --stack {self.stack}"
        )


def _created(text: str) -> datetime:
    """Terraform writes Created as Go's time.Time in UTC, RFC 3339 with up to nanoseconds ("2026-12-03T21:40:01.
    123456789Z"); Python reads at most microseconds."""
    head, _, fraction = text.rstrip("Z").partition(".")
    micro = (fraction + "000000")[:6] if fraction else "000000"
    return datetime.fromisoformat(f"{head}.{micro}").replace(tzinfo=UTC)


def read_object(s3: Any, bucket: str, key: str) -> bytes | None:
    """An object of the state bucket, or None when it does not exist (any other error is raised)."""
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return body


def marker_key(prefix: str, stack: str) -> str:
    """Where an interrupted apply of ``stack`` is marked until the stack deploys again (org_backup/ops/unrecorded.py)."""
    return f"{prefix}/{stack}.tfstate.interrupted"


def find(s3: Any, bucket: str, prefix: str, stacks: Iterable[str]) -> list[Lock]:
    """The lock objects of ``stacks`` (state key ``<prefix>/<stack>.tfstate``) that exist now."""
    found = []
    for stack in stacks:
        key = f"{prefix}/{stack}.tfstate.tflock"
        body = read_object(s3, bucket, key)
        if body is None:
            continue
        info = json.loads(body)
        found.append(
            Lock(stack, key, info["ID"], info.get("Who", "?"), info.get("Operation", "?"), _created(info["Created"]))
        )
    return found


def check(
    s3: Any, bucket: str, prefix: str, stacks: Iterable[str], *, max_age: timedelta, clear: bool, now: datetime
) -> tuple[list[str], list[str]]:
    """(problems, notes): a live lock is a problem (another deploy holds the stack; the state must not be touched);
    a stale one is removed when ``clear`` (a note says so), else a problem with its unlock step."""
    problems, notes = [], []
    for lock in find(s3, bucket, prefix, stacks):
        held = (
            f"{lock.stack}: state locked by {lock.who} for {lock.operation} since "
            f"{lock.created:%Y-%m-%d %H:%M:%S} UTC (lock ID {lock.id})"
        )
        if lock.age(now) <= max_age:
            problems.append(
                f"{held}, less than the {int(max_age.total_seconds() // 60)}-minute build timeout ago: another deploy "
                "may still be running. Fix: wait for it and run again; only if its build is certainly gone, "
                f"`{lock.unlock_step()}`."
            )
        elif clear:
            # The marker first: an apply killed while it held the lock may have created objects it never recorded,
            # which this deploy adopts (org_backup/ops/unrecorded.py) instead of failing on them or duplicating a key.
            s3.put_object(Bucket=bucket, Key=marker_key(prefix, lock.stack), Body=lock.id.encode())
            s3.delete_object(Bucket=bucket, Key=lock.key)
            notes.append(
                f"{held}: older than the build timeout, so its build is gone; the stale lock was removed and the "
                "stack marked interrupted."
            )
        else:
            problems.append(f"{held}: older than the build timeout, so its build is gone. Fix: `{lock.unlock_step()}`.")
    return problems, notes


def main(backend: Any, stacks: Iterable[str], *, max_age: timedelta, clear: bool) -> int:
    """`python -m org_backup locks`: 0 when no stack is locked (or only stale locks, cleared), 1 when a lock stops
    the deploy, 3 when the locks cannot be read. Local state has only Terraform's own lock file on this machine."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from org_backup.config.model import S3Backend

    if not isinstance(backend, S3Backend):
        return 0
    s3 = boto3.client("s3", region_name=backend.region)
    try:
        problems, notes = check(
            s3, backend.bucket, backend.key_prefix, stacks, max_age=max_age, clear=clear, now=datetime.now(UTC)
        )
    except (BotoCoreError, ClientError) as exc:
        print(
            f"locks: cannot read the state locks in s3://{backend.bucket}/{backend.key_prefix}/: {exc}", file=sys.stderr
        )
        return 3
    for note in notes:
        print(f"locks: {note}")
    for problem in problems:
        print(f"locks: {problem}", file=sys.stderr)
    return 1 if problems else 0
