"""AWS Region facts from botocore's bundled endpoint data.

botocore ships the list of Regions per partition with every release, so validation works offline and a pinned
botocore gives the same answer on every machine. A Region newer than the pinned botocore is rejected until
botocore is upgraded: that is deliberate (no silent fallback to "any string that looks like a Region").
"""

from __future__ import annotations

from functools import cache

from botocore.loaders import create_loader


@cache
def _partitions() -> dict[str, frozenset[str]]:
    data = create_loader().load_data("endpoints")
    return {p["partition"]: frozenset(p["regions"]) for p in data["partitions"]}


def partition_of(region: str) -> str | None:
    """The partition (``aws``, ``aws-cn``, ``aws-us-gov`` ...) a Region belongs to, or None if unknown."""
    for partition, regions in _partitions().items():
        if region in regions:
            return partition
    return None


@cache
def dns_suffix(partition: str) -> str:
    """DNS suffix of service endpoints in a partition (e.g. ``amazonaws.com.cn`` in China), for kms:ViaService."""
    data = create_loader().load_data("endpoints")
    return str(next(p["dnsSuffix"] for p in data["partitions"] if p["partition"] == partition))
