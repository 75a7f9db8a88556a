"""Organization-wide rules enforced at synth: a violation is an error annotation and fails the synth."""

from __future__ import annotations

import jsii
from cdktf import Annotations, IAspect
from cdktf_cdktf_provider_aws.backup_vault import BackupVault
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import IConstruct


@jsii.implements(IAspect)
class EncryptionGuardrails:
    """Every backup vault uses a customer-managed key, and every KMS key rotates.

    A vault without ``kms_key_arn`` silently falls back to the AWS managed key, which cannot be shared across
    accounts: copies to the central vault would then fail at run time, long after deploy.
    """

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, BackupVault) and node.kms_key_arn_input is None:
            Annotations.of(node).add_error("Backup vault has no customer-managed KMS key (kms_key_arn).")
        if isinstance(node, KmsKey) and node.enable_key_rotation_input is not True:
            Annotations.of(node).add_error("KMS key does not enable automatic rotation (enable_key_rotation).")
