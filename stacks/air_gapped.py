"""The central account's logically air-gapped vault of one Region (``central_backup.air_gapped``), and its AWS RAM
share for recovery.

AWS Backup locks such a vault in compliance mode, encrypts it with an AWS-owned key and keeps its recovery points
in an account AWS Backup owns; a copy enters it only with a retention inside the vault's bounds (AWS Backup
Developer Guide, "Logically air-gapped vault"). Its access policy is the central vault's: copies in only from
the organization, destructive actions denied to all but the deploy role. The RAM share lets the listed accounts
restore from it when the central account is lost; AWS shares such a vault "with an account in its organization or
with an account in another organization. The vault cannot be shared with an entire organization, only with
accounts within the organization", so every account is its own principal association. External principals are
refused; the management stack enables RAM sharing within the organization, so they need no invitation.
"""

from __future__ import annotations

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.backup_logically_air_gapped_vault import BackupLogicallyAirGappedVault
from cdktf_cdktf_provider_aws.backup_vault_policy import BackupVaultPolicy
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.ram_principal_association import RamPrincipalAssociation
from cdktf_cdktf_provider_aws.ram_resource_association import RamResourceAssociation
from cdktf_cdktf_provider_aws.ram_resource_share import RamResourceShare
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import AIR_GAPPED_SHARE
from org_backup.config.templates import dumps
from stacks.common import SynthOptions


class AirGappedVault(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        access_policy: dict[str, object],
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, construct_id)
        air_gapped = config.central_backup.air_gapped
        assert air_gapped is not None, "only for a config with central_backup.air_gapped"
        vault = BackupLogicallyAirGappedVault(
            self,
            "vault",
            provider=provider,
            name=config.names.air_gapped_vault,
            min_retention_days=air_gapped.min_retention_days,
            max_retention_days=air_gapped.max_retention_days,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=options.prevent_destroy),
        )
        BackupVaultPolicy(
            self, "access-policy", provider=provider, backup_vault_name=vault.name, policy=dumps(access_policy)
        )
        share = RamResourceShare(
            self, "share", provider=provider, name=AIR_GAPPED_SHARE, allow_external_principals=False
        )
        share_arn = share.arn  # attribute reads are jsii round trips: read once
        RamResourceAssociation(
            self, "vault-shared", provider=provider, resource_arn=vault.arn, resource_share_arn=share_arn
        )
        for account in config.air_gapped_share_accounts:
            RamPrincipalAssociation(
                self, f"shared-with-{account}", provider=provider, principal=account, resource_share_arn=share_arn
            )
