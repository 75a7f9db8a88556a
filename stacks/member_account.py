"""A member account: in every target Region a CMK-encrypted vault protected by its access policy and AWS Backup's
Region settings (which of the resource types AWS Backup supports in that Region a tag-based plan may back up); once
per account the IAM role AWS Backup uses. Backup plans come from the organization's backup policies, not from here."""

from __future__ import annotations

from cdktf import AssetType, TerraformAsset, TerraformStack
from cdktf_cdktf_provider_aws.backup_region_settings import BackupRegionSettings
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming, iam_region
from org_backup.config.templates import render_template
from org_backup.iam import deploy_roles
from org_backup.plans.audit import Control
from org_backup.synth.lambda_package import LambdaPackage
from stacks.alerts import AlertHub, add_forwarding
from stacks.audit import AuditFramework
from stacks.building_blocks import BackupServiceRole, EncryptedVault
from stacks.common import SynthOptions, aws_providers, configure_backend, release_regions
from stacks.tag_reapply import TagReapplyFunction, TagReapplyRole


class MemberAccountStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        stack_id: str,
        *,
        config: BackupConfig,
        account_id: str,
        tag_reapply: LambdaPackage | None,
        frameworks: dict[str, tuple[Control, ...]],
        index_ebs: bool,
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, stack_id)
        naming = Naming(config)
        regions = config.target_regions
        retired = tuple(r for r in config.retired_regions if r not in regions)
        central_root = naming.account_root_arn(config.central_backup.account_id)
        configure_backend(self, config=config, stack_name=stack_id)
        # A retired Region's constructs are built as before, then released (release_regions): same addresses.
        providers = aws_providers(
            self, config=config, account_id=account_id, regions=(*regions, *retired), options=options
        )

        global_provider = providers[iam_region(regions)]
        BackupServiceRole(
            self,
            "backup-role",
            provider=global_provider,
            role_name=config.names.backup_role,
            partition=naming.partition,
            index_ebs=index_ebs,
        )
        add_forwarding(self, providers=providers, global_provider=global_provider, config=config, account_id=account_id)
        if (
            config.monitoring.alerts.active
            and account_id == config.monitoring_account_id != config.central_backup.account_id
        ):
            AlertHub(
                self, "alert-hub", provider=providers[config.monitoring_region], config=config, account_id=account_id
            )
        reapply_role, code_path = None, ""
        if tag_reapply:
            reapply_role = TagReapplyRole(
                self, "tag-reapply-role", provider=global_provider, config=config, account_id=account_id
            )
            # One copy of the function's zip per stack, shared by its Regions.
            code_path = TerraformAsset(self, "tag-reapply-code", path=str(tag_reapply.path), type=AssetType.FILE).path
        settings = config.region_settings
        for region, provider in providers.items():
            # A retired Region's settings are released with the rest when its types are still known.
            if settings.enabled and (region in regions or settings.types_in(region) is not None):
                # Exactly the types AWS Backup supports in this Region (config_region_settings says why: AWS refuses
                # any other, and hashicorp/aws plans every one it returns that the map lacks, on every run).
                BackupRegionSettings(
                    self,
                    f"region-settings-{region}",
                    provider=provider,
                    resource_type_opt_in_preference=settings.opt_in_preference(region),
                    resource_type_management_preference=settings.management_preference(region),
                )
            EncryptedVault(
                self,
                f"member-vault-{region}",
                provider=provider,
                vault_name=config.names.member_vault,
                key_alias=config.names.member_key_alias,
                key_policy=deploy_roles.key_policy(
                    "kms/member-vault-key.json",
                    config,
                    account_id,
                    account_root_arn=naming.account_root_arn(account_id),
                    central_account_root_arn=central_root,
                ),
                access_policy=render_template(
                    "vault/member-vault-access.json",
                    protected_principals=naming.protected_principals(account_id),
                    central_account_root_arn=central_root,
                ),
                lock=config.vault_lock.member,
                options=options,
            )
            if region in frameworks:
                AuditFramework(self, f"audit-{region}", provider=provider, config=config, controls=frameworks[region])
            if tag_reapply and reapply_role:
                TagReapplyFunction(
                    self,
                    f"tag-reapply-{region}",
                    provider=provider,
                    config=config,
                    account_id=account_id,
                    region=region,
                    role=reapply_role,
                    code_path=code_path,
                    package=tag_reapply,
                )
        release_regions(self, retired)
