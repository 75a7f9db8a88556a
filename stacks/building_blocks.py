"""Constructs used by more than one account kind: an encrypted, policy-protected vault, the backup role, and the
settings every org-backup bucket gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.backup_vault import BackupVault
from cdktf_cdktf_provider_aws.backup_vault_lock_configuration import BackupVaultLockConfiguration
from cdktf_cdktf_provider_aws.backup_vault_policy import BackupVaultPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from constructs import Construct

from org_backup.config.naming import BACKUP_MANAGED_POLICIES, EBS_INDEXING_POLICY
from org_backup.config.templates import dumps, render_template
from org_backup.config.vaults import VaultLock
from stacks.common import SynthOptions

KEY_DELETION_WINDOW_DAYS = 30  # KMS allows 7-30 days; the longest leaves the most time to cancel a mistaken deletion


def customer_managed_key(
    scope: Construct,
    *,
    provider: AwsProvider,
    description: str,
    policy: dict[str, Any],
    alias: str,
    alias_id: str = "alias",
    lifecycle: TerraformResourceLifecycle | None = None,
    depends_on: Sequence[ITerraformDependable] | None = None,
) -> KmsKey:
    """Every KMS key org-backup creates: customer managed, rotated automatically every year, deleted only after the
    longest waiting period, with its own key policy and an alias. A function, not a construct: the key ("key") and
    its alias are created in the caller's scope, so they keep the Terraform addresses they were deployed under (a
    construct level more would rename them, and Terraform would replace the keys and what they encrypt)."""
    key = KmsKey(
        scope,
        "key",
        provider=provider,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
        policy=dumps(policy),
        lifecycle=lifecycle,
        depends_on=depends_on,
    )
    KmsAlias(scope, alias_id, provider=provider, name=alias, target_key_id=key.key_id)
    return key


class EncryptedVault(Construct):
    """A backup vault encrypted with its own customer-managed key, an access policy and an optional vault lock.

    The key and the vault refuse ``terraform destroy`` (prevent_destroy): losing either loses the backups.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        vault_name: str,
        key_alias: str,
        key_policy: dict[str, Any],
        access_policy: dict[str, Any],
        lock: VaultLock | None,
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, construct_id)
        lifecycle = TerraformResourceLifecycle(prevent_destroy=options.prevent_destroy)
        self.key = customer_managed_key(
            self,
            provider=provider,
            description=f"Encrypts recovery points in backup vault {vault_name}",
            policy=key_policy,
            alias=key_alias,
            lifecycle=lifecycle,
        )
        self.vault = BackupVault(
            self,
            "vault",
            provider=provider,
            name=vault_name,
            kms_key_arn=self.key.arn,
            force_destroy=False,
            lifecycle=lifecycle,
        )
        vault_name_ref = self.vault.name  # attribute reads are jsii round trips: read once
        BackupVaultPolicy(
            self, "access-policy", provider=provider, backup_vault_name=vault_name_ref, policy=dumps(access_policy)
        )
        if lock is not None:
            BackupVaultLockConfiguration(
                self,
                "lock",
                provider=provider,
                backup_vault_name=vault_name_ref,
                min_retention_days=lock.min_retention_days,
                max_retention_days=lock.max_retention_days,
                changeable_for_days=lock.changeable_for_days,
            )


class BackupServiceRole(Construct):
    """The IAM role AWS Backup assumes to back up and restore resources (global: created once per account);
    ``index_ebs`` where a plan of the account builds EBS backup indexes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        role_name: str,
        partition: str,
        index_ebs: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = IamRole(
            self,
            "role",
            provider=provider,
            name=role_name,
            description="Assumed by AWS Backup to create backups and restore them (org-backup)",
            assume_role_policy=dumps(render_template("iam/backup-service-trust.json")),
        )
        for policy in (*BACKUP_MANAGED_POLICIES, *((EBS_INDEXING_POLICY,) if index_ebs else ())):
            IamRolePolicyAttachment(
                self,
                policy.rsplit("/", 1)[-1],
                provider=provider,
                role=self.role.name,
                policy_arn=f"arn:{partition}:iam::aws:policy/{policy}",
            )


def secure_bucket(
    scope: Construct,
    provider: AwsProvider,
    bucket: S3Bucket,
    key_arn: str,
    bucket_arn: str,
    *,
    also: list[dict[str, Any]] | None = None,
    policy_depends_on: Sequence[ITerraformDependable] = (),
) -> None:
    """KMS default encryption, public access blocked, TLS-only policy: what every org-backup bucket gets.
    ``also``: statements the bucket's policy needs beside the TLS rule (one bucket has one policy);
    ``policy_depends_on``: what must exist before the policy is applied (a principal it names)."""
    S3BucketServerSideEncryptionConfigurationA(
        scope,
        "encryption",
        provider=provider,
        bucket=bucket.id,
        rule=[
            S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                    sse_algorithm="aws:kms", kms_master_key_id=key_arn
                ),
                bucket_key_enabled=True,
            )
        ],
    )
    S3BucketPublicAccessBlock(
        scope,
        "public-access-block",
        provider=provider,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )
    S3BucketPolicy(
        scope,
        "tls-only",
        provider=provider,
        bucket=bucket.id,
        policy=dumps(_with_statements(render_template("s3/tls-only.json", bucket_arn=bucket_arn), also or [])),
        depends_on=list(policy_depends_on) or None,
    )


def _with_statements(policy: dict[str, Any], statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {**policy, "Statement": [*policy["Statement"], *statements]} if statements else policy
