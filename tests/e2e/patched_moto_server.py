"""``moto_server`` with two narrow fixes for the end-to-end tests. Both make moto answer as AWS does; neither
changes what org-backup synthesizes, and nothing else in moto is changed.

1. AWS Backup ListTags. moto 5.2.5 reads the ARN of ``GET /tags/{arn}/`` as ``path.split("/")[-2]``, which assumes
   the trailing slash botocore sends. The AWS Go SDK v2 (used by the Terraform provider) sends no trailing slash,
   so moto looked up the tags of the resource "tags", returned none, and every plan showed the vault's tags as a
   change that never converges. Real AWS accepts both forms; the fix takes everything after ``/tags/`` as the ARN.
2. Lambda DeadLetterConfig. moto 5.2.5 ignores ``DeadLetterConfig`` in CreateFunction/UpdateFunctionConfiguration
   and never returns it from GetFunction, so every plan re-added the function's dead-letter queue. Real AWS stores
   and returns it; the fix keeps it on the function and returns it in the configuration.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.models import LambdaFunction
from moto.backup.responses import BackupResponse
from moto.server import main


def _list_tags(self: BackupResponse) -> str:
    resource_arn = unquote(self.path.split("/tags/", 1)[1].rstrip("/"))
    return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})


_init = LambdaFunction.__init__
_update = LambdaFunction.update_configuration
_get = LambdaFunction.get_configuration


def _lambda_init(self: LambdaFunction, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    spec = kwargs.get("spec", args[1] if len(args) > 1 else {})
    self.dead_letter_config = spec.get("DeadLetterConfig")


def _lambda_update(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "DeadLetterConfig" in config_updates:
        self.dead_letter_config = config_updates["DeadLetterConfig"]
    return _update(self, config_updates)


def _lambda_get(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
    config = _get(self, *args, **kwargs)
    if getattr(self, "dead_letter_config", None):
        config["DeadLetterConfig"] = self.dead_letter_config
    return config


BackupResponse.list_tags = _list_tags  # type: ignore[method-assign]
LambdaFunction.__init__ = _lambda_init  # type: ignore[method-assign]
LambdaFunction.update_configuration = _lambda_update  # type: ignore[method-assign]
LambdaFunction.get_configuration = _lambda_get  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
