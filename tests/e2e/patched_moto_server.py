"""``moto_server`` with narrow fixes for the end-to-end tests. Each makes moto answer as AWS does; none changes
what org-backup synthesizes, and nothing else in moto is changed. Fixes 1-3 were found by the e2e re-plan check;
4 adds an API moto lacks, so vault access policies are applied rather than only planned.

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
4. AWS Backup vault access policies. moto 5.2.5 has no Put/Get/DeleteBackupVaultAccessPolicy. Added as the API
   reference documents them (PUT/GET/DELETE ``/backup-vaults/{name}/access-policy``; Get returns BackupVaultArn,
   BackupVaultName and Policy; ResourceNotFoundException for a vault that does not exist): the policy is stored on
   the vault, so deleting the vault deletes it. A vault without a policy answers Get with ResourceNotFoundException,
   which the Terraform provider reads as "no policy". moto's own IAM-style policy checks are not applied to it.
   https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultAccessPolicy.html
"""

from __future__ import annotations

import contextvars
import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.models import LambdaFunction
from moto.backup import urls as backup_urls
from moto.backup.exceptions import ResourceNotFoundException
from moto.backup.responses import BackupResponse
from moto.codebuild.models import CodeBuild
from moto.codebuild.responses import CodeBuildResponse
from moto.server import main


def _list_tags(self: BackupResponse) -> str:
    resource_arn = unquote(self.path.split("/tags/", 1)[1].rstrip("/"))
    return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})


def _vault_name(self: BackupResponse) -> str:
    return unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])


def _put_vault_policy(self: BackupResponse) -> str:
    vault = self.backup_backend.describe_backup_vault(_vault_name(self))  # raises ResourceNotFoundException
    vault.access_policy = json.loads(self.body).get("Policy")
    return ""


def _get_vault_policy(self: BackupResponse) -> str:
    vault = self.backup_backend.describe_backup_vault(_vault_name(self))
    policy = getattr(vault, "access_policy", None)
    if policy is None:
        raise ResourceNotFoundException(f"Backup vault {vault.backup_vault_name} has no access policy")
    return json.dumps(
        {"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn, "Policy": policy}
    )


def _delete_vault_policy(self: BackupResponse) -> str:
    self.backup_backend.describe_backup_vault(_vault_name(self)).access_policy = None
    return ""


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
BackupResponse.put_backup_vault_access_policy = _put_vault_policy  # type: ignore[attr-defined]
BackupResponse.get_backup_vault_access_policy = _get_vault_policy  # type: ignore[attr-defined]
BackupResponse.delete_backup_vault_access_policy = _delete_vault_policy  # type: ignore[attr-defined]
backup_urls.url_paths["{0}/backup-vaults/(?P<name>[^/]+)/access-policy$"] = backup_urls.response.dispatch
CodeBuild.__init__ = _codebuild_project_init  # type: ignore[method-assign]
CodeBuildResponse.create_project = _create_project  # type: ignore[method-assign]
LambdaFunction.__init__ = _lambda_init  # type: ignore[method-assign]
LambdaFunction.update_configuration = _lambda_update  # type: ignore[method-assign]
LambdaFunction.get_configuration = _lambda_get  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
