"""``moto_server`` with three narrow fixes for the end-to-end tests. Each makes moto answer as AWS does; none
changes what org-backup synthesizes, and nothing else in moto is changed. Each was found by the e2e re-plan check.

1. AWS Backup ListTags. moto 5.2.5 reads the ARN of ``GET /tags/{arn}/`` as ``path.split("/")[-2]``, which assumes
   the trailing slash botocore sends. The AWS Go SDK v2 (used by the Terraform provider) sends no trailing slash,
   so moto looked up the tags of the resource "tags", returned none, and every plan showed the vault's tags as a
   change that never converges. Real AWS accepts both forms; the fix takes everything after ``/tags/`` as the ARN.
2. Lambda DeadLetterConfig. moto 5.2.5 ignores ``DeadLetterConfig`` in CreateFunction/UpdateFunctionConfiguration
   and never returns it from GetFunction, so every plan re-added the function's dead-letter queue. Real AWS stores
   and returns it; the fix keeps it on the function and returns it in the configuration.
3. CodeBuild encryptionKey. moto 5.2.5 ignores the ``encryptionKey`` of CreateProject and always reports the AWS
   managed ``alias/aws/s3``, so every plan tried to put the project's customer-managed key back. Real AWS stores
   the key; the fix passes the requested key to the project moto creates.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.models import LambdaFunction
from moto.backup.responses import BackupResponse
from moto.codebuild.models import CodeBuild
from moto.codebuild.responses import CodeBuildResponse
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


_REQUESTED_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("codebuild_key", default=None)
_codebuild_init = CodeBuild.__init__
_codebuild_create = CodeBuildResponse.create_project


def _codebuild_project_init(self: CodeBuild, *args: Any, **kwargs: Any) -> None:
    _codebuild_init(self, *args, **kwargs)
    key = _REQUESTED_KEY.get()
    if key:
        self.project_metadata["encryptionKey"] = key


def _create_project(self: CodeBuildResponse) -> Any:
    token = _REQUESTED_KEY.set(json.loads(self.body).get("encryptionKey"))
    try:
        return _codebuild_create(self)
    finally:
        _REQUESTED_KEY.reset(token)


BackupResponse.list_tags = _list_tags  # type: ignore[method-assign]
CodeBuild.__init__ = _codebuild_project_init  # type: ignore[method-assign]
CodeBuildResponse.create_project = _create_project  # type: ignore[method-assign]
LambdaFunction.__init__ = _lambda_init  # type: ignore[method-assign]
LambdaFunction.update_configuration = _lambda_update  # type: ignore[method-assign]
LambdaFunction.get_configuration = _lambda_get  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
