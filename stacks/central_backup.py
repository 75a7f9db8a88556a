"""The central backup account: the isolated vault(s) that receive copies from every member account."""

from __future__ import annotations

from cdktf import AssetType, TerraformAsset, TerraformStack
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming, central_stack_owns_backup_role, iam_region
from org_backup.config.templates import render_template
from org_backup.iam import deploy_roles
from org_backup.synth.lambda_package import LambdaPackage
from stacks.air_gapped import AirGappedVault
from stacks.alerts import AlertHub, add_forwarding
from stacks.audit import ReportPlans
from stacks.building_blocks import BackupServiceRole, EncryptedVault
from stacks.common import SynthOptions, aws_providers, configure_backend, release_regions
from stacks.restore_testing import RestoreTests, RestoreValidationRole

# The services through which a member account copying a recovery point back from the central vault uses its key: for
# EBS/EC2, RDS/Aurora and FSx the copy is the snapshot service's, not AWS Backup's (kms:ViaService names, KMS developer
# guide conditions-kms.html "kms:ViaService"; FSx was missing, so FSx copy-backs could not decrypt).
COPY_BACK_SERVICES = ("ec2", "fsx", "rds")


class CentralBackupStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        stack_id: str,
        *,
        config: BackupConfig,
        restore_validation: LambdaPackage | None,
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, stack_id)
        naming = Naming(config)
        account_id = config.central_backup.account_id
        regions = config.central_regions
        retired = tuple(r for r in config.retired_regions if r not in regions)
        configure_backend(self, config=config, stack_name=stack_id)
        # A retired Region's constructs are built as before, then released (release_regions): same addresses.
        providers = aws_providers(
            self, config=config, account_id=account_id, regions=(*regions, *retired), options=options
        )

        global_provider = providers[iam_region(regions)]
        if central_stack_owns_backup_role(config):  # else the account's member stack owns its global resources
            BackupServiceRole(
                self,
                "backup-role",
                provider=global_provider,
                role_name=config.names.backup_role,
                partition=naming.partition,
            )
            add_forwarding(
                self, providers=providers, global_provider=global_provider, config=config, account_id=account_id
            )
        if config.monitoring.alerts.active and config.monitoring_account_id == account_id:
            AlertHub(
                self, "alert-hub", provider=providers[config.monitoring_region], config=config, account_id=account_id
            )
        access_policy = render_template(
            "vault/central-vault-access.json",
            protected_principals=naming.protected_principals(account_id),
            organization_id=config.organization.id,
        )
        for region, provider in providers.items():
            EncryptedVault(
                self,
                f"central-vault-{region}",
                provider=provider,
                vault_name=config.names.central_vault,
                key_alias=config.names.central_key_alias,
                # Copies into this vault are encrypted with this key ("AWS Backup encrypts your copy with the customer
                # managed key of your destination vault"); copying one back to a member account makes that account
                # the destination, and "the source AWS KMS key policy [must allow] the destination account" (AWS
                # re:Post Knowledge Center, troubleshoot AWS Backup cross-account copy). For EBS, RDS and FSx the
                # destination account's side of that copy is the snapshot service's (COPY_BACK_SERVICES), so
                # organization principals may use the key through those services as well, in this Region only.
                key_policy=deploy_roles.key_policy(
                    "kms/central-vault-key.json",
                    config,
                    account_id,
                    account_root_arn=naming.account_root_arn(account_id),
                    organization_id=config.organization.id,
                    backup_service_host=naming.backup_service_host(region),
                    copy_back_service_hosts=[naming.service_host(s, region) for s in COPY_BACK_SERVICES],
                ),
                access_policy=access_policy,
                lock=config.vault_lock.central,
                options=options,
            )
            if config.central_backup.air_gapped is not None:
                AirGappedVault(
                    self,
                    f"air-gapped-vault-{region}",
                    provider=provider,
                    config=config,
                    access_policy=access_policy,
                    options=options,
                )
        release_regions(self, retired)
        if config.audit.reports.enabled and config.organization.backup_delegated_admin_account_id == account_id:
            ReportPlans(
                self, "reports", provider=providers[config.reports_region], config=config, account_id=account_id
            )
        if restore_validation is not None:  # validation allows only the central account (config_restore_testing)
            role = RestoreValidationRole(
                self,
                "restore-validation-role",
                provider=global_provider,
                account_id=account_id,
                partition=naming.partition,
            )
            code_path = TerraformAsset(
                self, "restore-validation-code", path=str(restore_validation.path), type=AssetType.FILE
            ).path
            for region in config.restore_testing_regions:
                RestoreTests(
                    self,
                    f"restore-tests-{region}",
                    provider=providers[region],
                    config=config,
                    region=region,
                    role=role,
                    code_path=code_path,
                    package=restore_validation,
                )
