"""The Deploy stage as a CodeBuild batch build: buildspecs/deploy.yml plus a ``build-list`` of N shards.

Each build in the list runs the same buildspec with ``ORG_BACKUP_SHARD`` = 1..N and ``ORG_BACKUP_SHARDS`` = N, and
deploys every N-th planned stack (``python -m org_backup shard``). ``fast-fail`` is off on purpose: stopping a
build stops a running ``terraform apply`` half-way, while the other shards' stacks are independent of it; a failed
shard fails the batch (and the stage) once the others have finished, and its stacks stay unrecorded, so the next
run plans them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from org_backup.config.paths import BUILDSPECS_DIR as BUILDSPECS

DEPLOY_BUILDSPEC = BUILDSPECS / "deploy.yml"
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
    if shards < 2:
        raise ValueError("a batch build needs at least 2 shards; 1 shard runs buildspecs/deploy.yml as it is")
    spec: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    spec["batch"] = {
        "fast-fail": False,
        "build-list": [
            {
                "identifier": f"shard_{index}",
                "env": {"variables": {"ORG_BACKUP_SHARD": str(index), "ORG_BACKUP_SHARDS": str(shards)}},
                "ignore-failure": False,
            }
            for index in range(1, shards + 1)
        ],
    }
    return str(yaml.safe_dump(spec, sort_keys=False, width=200))
