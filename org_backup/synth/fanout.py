"""The Plan and Deploy stages as CodeBuild batch builds: a buildspec plus a ``build-list`` of N shards.

Deploy (``pipeline.deploy_shards``): each build in the list runs buildspecs/deploy.yml with ``ORG_BACKUP_SHARD`` =
1..N and ``ORG_BACKUP_SHARDS`` = N, and deploys every N-th planned stack (``python -m org_backup shard``).
``fast-fail`` is off on purpose: stopping a build stops a running ``terraform apply`` half-way, while the other
shards' stacks are independent of it; a failed shard fails the batch (and the stage) once the others have finished,
and its stacks stay unrecorded, so the next run plans them again.

Plan (``pipeline.plan_shards``): buildspecs/plan-shards.yml with ``ORG_BACKUP_PLAN_SHARD``/``ORG_BACKUP_PLAN_SHARDS``;
each build plans every N-th changed stack (the same round-robin), then a merge build joins them
(org_backup/ops/plan_shards.py). ``fast-fail`` is off here too, so one run reports every shard's refusals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from org_backup.config.paths import BUILDSPECS_DIR as BUILDSPECS

DEPLOY_BUILDSPEC = BUILDSPECS / "deploy.yml"
PLAN_SHARDS_BUILDSPEC = BUILDSPECS / "plan-shards.yml"
PULL_REQUEST_BUILDSPEC = BUILDSPECS / "pull-request.yml"


def pull_request_buildspec(source: Path = PULL_REQUEST_BUILDSPEC) -> str:
    """The pull-request project's buildspec, inline: a buildspec read from the source would be the pull request's
    own, so the code under review would choose the commands that judge it. Checked to be a buildspec (version 0.2
    with phases) so a broken file fails synth, not the first pull request."""
    text = source.read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict) or spec.get("version") != 0.2 or not isinstance(spec.get("phases"), dict):
        raise ValueError(f"{source} is not a CodeBuild buildspec (version: 0.2 with phases)")
    return text


def batch_buildspec(shards: int, source: Path = DEPLOY_BUILDSPEC) -> str:
    """The inline buildspec of the Deploy project when ``pipeline.deploy_shards`` > 1."""
    return _with_build_list(source, shards, "ORG_BACKUP_SHARD", "ORG_BACKUP_SHARDS")


def plan_batch_buildspec(shards: int, source: Path = PLAN_SHARDS_BUILDSPEC) -> str:
    """The inline buildspec of the Plan project when ``pipeline.plan_shards`` > 1 (its batch and its merge build)."""
    return _with_build_list(source, shards, "ORG_BACKUP_PLAN_SHARD", "ORG_BACKUP_PLAN_SHARDS")


def _with_build_list(source: Path, shards: int, index_variable: str, count_variable: str) -> str:
    if shards < 2:
        raise ValueError(f"a batch build needs at least 2 shards; 1 shard runs {source.name}'s one-build form")
    spec: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    spec["batch"] = {
        "fast-fail": False,
        "build-list": [
            {
                "identifier": f"shard_{index}",
                "env": {"variables": {index_variable: str(index), count_variable: str(shards)}},
                "ignore-failure": False,
            }
            for index in range(1, shards + 1)
        ],
    }
    return str(yaml.safe_dump(spec, sort_keys=False, width=200))
