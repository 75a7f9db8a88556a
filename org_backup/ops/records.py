"""Where the hashes of deployed stacks are kept (``synth.incremental.Records``): the S3 state bucket under
``<key_prefix>/deployed/`` with an S3 backend, else ``build/deployed`` (local state, offline). ``record``,
``changed``, ``retire-accounts`` and the rollout read and write the same place (a command's ``--records DIR`` reads a
directory of its own instead)."""

from __future__ import annotations

from pathlib import Path

import boto3

from org_backup.config.model import LocalBackend, S3Backend
from org_backup.synth.incremental import LocalRecords, Records, S3Records

LOCAL_RECORDS = Path("build/deployed")


def deploy_records(backend: LocalBackend | S3Backend) -> Records:
    if isinstance(backend, S3Backend):
        client = boto3.client("s3", region_name=backend.region)
        return S3Records(client, backend.bucket, f"{backend.key_prefix}/deployed")
    return LocalRecords(LOCAL_RECORDS)
