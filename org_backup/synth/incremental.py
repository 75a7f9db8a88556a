"""Incremental deploy: which synthesized stacks differ from what was last deployed, and in which shard each goes.

Each deployable stack (management, central-backup, member-*) gets a canonical content hash: its cdk.tf.json with
volatile or role-only parts removed, plus the bytes of its assets (the Lambda zip). After a successful deploy the
hash of every deployed stack is recorded, one small object per stack so parallel deploy shards never overwrite each
other's records: under ``<key_prefix>/deployed/`` in the state bucket, or in a local directory offline. A stack is
changed when its hash differs from its record or it has none.

What the canonical form leaves out, and why:
- every ``//`` key: cdktf metadata (construct paths, cdktf version), not infrastructure;
- the providers' ``assume_role``: the Plan stage synthesizes with the read-only plan role and Deploy with the
  deploy role; which role Terraform uses to reach AWS is not part of the desired state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from org_backup.config.errors import UsageError
from org_backup.config.naming import BACKUP_POLICIES_STACK, CENTRAL_STACK, MANAGEMENT_STACK, MEMBER_STACK_PREFIX

HASH_SUFFIX = ".sha256"


def is_deployable(stack: str) -> bool:
    """The stacks the pipeline deploys; bootstrap-* and pipeline are applied by administrators (docs/deploy.md)."""
    return stack in (MANAGEMENT_STACK, BACKUP_POLICIES_STACK, CENTRAL_STACK) or stack.startswith(MEMBER_STACK_PREFIX)


def _canonical(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _canonical(value) for key, value in node.items() if key != "//"}
    if isinstance(node, list):
        return [_canonical(value) for value in node]
    return node


def stack_hash(stack_dir: Path) -> str:
    document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    for provider in document.get("provider", {}).get("aws", []):
        provider.pop("assume_role", None)
    digest = hashlib.sha256(json.dumps(_canonical(document), sort_keys=True, separators=(",", ":")).encode())
    assets = stack_dir / "assets"
    if assets.is_dir():
        for path in sorted(p for p in assets.rglob("*") if p.is_file()):
            digest.update(b"\0" + path.relative_to(stack_dir).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def stack_hashes(outdir: Path) -> dict[str, str]:
    """Hash of every deployable stack in a synthesized output directory (cdktf.out)."""
    stacks = outdir / "stacks"
    if not stacks.is_dir():
        raise UsageError(f"{stacks} does not exist. Fix: run `make synth` first.")
    return {d.name: stack_hash(d) for d in sorted(stacks.iterdir()) if d.is_dir() and is_deployable(d.name)}


class Records(Protocol):
    """Where the hashes of the last successful deploy are kept: a local directory or an S3 prefix."""

    def read(self) -> dict[str, str]: ...

    def write(self, hashes: Mapping[str, str]) -> None: ...

    def forget(self, stacks: Iterable[str]) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class LocalRecords:
    directory: Path

    def read(self) -> dict[str, str]:
        if not self.directory.is_dir():
            return {}
        return {
            p.name.removesuffix(HASH_SUFFIX): p.read_text(encoding="utf-8").strip()
            for p in sorted(self.directory.glob(f"*{HASH_SUFFIX}"))
        }

    def write(self, hashes: Mapping[str, str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for stack, value in hashes.items():
            temporary = self.directory / f".{stack}{HASH_SUFFIX}.tmp"
            temporary.write_text(value + "\n", encoding="utf-8")
            temporary.replace(self.directory / f"{stack}{HASH_SUFFIX}")

    def forget(self, stacks: Iterable[str]) -> None:
        for stack in stacks:
            (self.directory / f"{stack}{HASH_SUFFIX}").unlink(missing_ok=True)

    def describe(self) -> str:
        return str(self.directory)


@dataclass(frozen=True)
class S3Records:
    """One object per stack, ``<prefix>/<stack>.sha256``, in the state bucket; the bucket's default encryption (the
    state key, set by bootstrap-home) encrypts them like the state itself."""

    client: Any
    bucket: str
    prefix: str

    def read(self) -> dict[str, str]:
        keys = [
            item["Key"]
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}/"
            )
            for item in page.get("Contents", [])
            if item["Key"].endswith(HASH_SUFFIX)
        ]

        def get(key: str) -> tuple[str, str]:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode().strip()
            return key.rsplit("/", 1)[-1].removesuffix(HASH_SUFFIX), body

        with ThreadPoolExecutor(max_workers=16) as pool:  # thousands of small objects: read them in parallel
            return dict(pool.map(get, keys))

    def write(self, hashes: Mapping[str, str]) -> None:
        def put(item: tuple[str, str]) -> None:
            stack, value = item
            self.client.put_object(
                Bucket=self.bucket,
                Key=f"{self.prefix}/{stack}{HASH_SUFFIX}",
                Body=(value + "\n").encode(),
            )

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(put, hashes.items()))

    def forget(self, stacks: Iterable[str]) -> None:
        for stack in stacks:
            self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{stack}{HASH_SUFFIX}")

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"


@dataclass(frozen=True)
class Comparison:
    changed: tuple[str, ...]  # new or different: to plan and deploy
    unchanged: tuple[str, ...]
    gone: tuple[str, ...]  # recorded but no longer synthesized (an account left)


def compare(current: Mapping[str, str], recorded: Mapping[str, str]) -> Comparison:
    return Comparison(
        changed=tuple(sorted(s for s, h in current.items() if recorded.get(s) != h)),
        unchanged=tuple(sorted(s for s, h in current.items() if recorded.get(s) == h)),
        gone=tuple(sorted(set(recorded) - set(current))),
    )


def shard(stacks: Iterable[str], index: int, count: int) -> list[str]:
    """Shard ``index`` (1-based) of ``count``: round-robin over the sorted names, so shards differ by at most one
    stack and ``management`` (sorted among the first) never waits behind a long member list."""
    if not 1 <= index <= count:
        raise UsageError(f"shard {index}/{count}: the index must be between 1 and {count}")
    return sorted(stacks)[index - 1 :: count]


def read_stack_list(path: Path) -> list[str]:
    """A stack list file: one name per line; blank lines ignored; every name must be a deployable stack."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist. Fix: give the stack list the step before writes (make plan, shard).")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [n for n in names if not is_deployable(n)]
    if bad:
        raise UsageError(
            f"{path} lists stacks the pipeline does not deploy: {', '.join(bad)} (only management, backup-policies, "
            "central-backup, member-*)"
        )
    return names
