"""``moto_server`` with one fix for the end-to-end tests: AWS Backup ListTags.

moto 5.2.5 reads the ARN of ``GET /tags/{arn}/`` as ``path.split("/")[-2]``, which assumes the trailing slash
botocore sends. The AWS Go SDK v2 (used by the Terraform provider) sends no trailing slash, so moto looks up the
tags of the resource "tags", returns none, and every plan shows the vault's tags as a change that never
converges. Real AWS accepts both forms. The fix takes everything after ``/tags/`` as the ARN, with or without
the slash; nothing else in moto is changed.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from moto.backup.responses import BackupResponse
from moto.server import main


def _list_tags(self: BackupResponse) -> str:
    resource_arn = unquote(self.path.split("/tags/", 1)[1].rstrip("/"))
    return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})


BackupResponse.list_tags = _list_tags  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
