"""Pure tag logic: which original tags a restored resource gets back.

Precedence, lowest first (a later source overwrites an earlier one for the same key):
1. the recovery point's tags (AWS Backup copies the resource's tags there at backup time, plus the plan's
   recovery_point_tags);
2. the tags of the snapshot or AMI behind a non-fully-managed recovery point (EBS, EC2, RDS ...);
3. the live tags of the source resource, if it still exists (the freshest ownership and cost data).
Keys starting with ``aws:`` (reserved, cannot be written) and the configured excluded keys are dropped.
Tags already on the restored resource always win and are never removed: a tag set when the restore was started
is deliberate, and re-running the same event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

MAX_TAGS_PER_RESOURCE = 50  # AWS: at most 50 user tags on a resource, for every supported service.


def merge_original(sources: Iterable[Mapping[str, str]], excluded_keys: frozenset[str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for source in sources:
        merged.update(source)
    return {k: v for k, v in merged.items() if not k.lower().startswith("aws:") and k not in excluded_keys}


def tags_to_add(original: Mapping[str, str], existing: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The tags to write (keys the restored resource lacks) and the keys dropped by the 50-tag limit."""
    room = MAX_TAGS_PER_RESOURCE - sum(1 for k in existing if not k.lower().startswith("aws:"))
    missing = sorted(k for k in original if k not in existing)
    keep, dropped = missing[: max(room, 0)], missing[max(room, 0) :]
    return {k: original[k] for k in keep}, dropped


def chunks(tags: Mapping[str, str], size: int) -> Iterator[dict[str, str]]:
    """Split tags for APIs that accept fewer per call than a resource may hold."""
    items = sorted(tags.items())
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])
