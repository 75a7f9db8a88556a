"""The management account: backup policies attached to the target OUs, guardrail SCPs, cross-account backup,
and the optional delegated administrator for AWS Backup.

Enabling the BACKUP_POLICY and SERVICE_CONTROL_POLICY types on the root and trusted access for AWS Backup are
prerequisites this stack does not own: managing ``aws_organizations_organization`` would take over the whole
organization. ``python -m org_backup doctor`` checks them.
"""

from __future__ import annotations

import re

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.backup_global_settings import BackupGlobalSettings
from cdktf_cdktf_provider_aws.organizations_delegated_administrator import OrganizationsDelegatedAdministrator
from cdktf_cdktf_provider_aws.organizations_policy import OrganizationsPolicy
from cdktf_cdktf_provider_aws.organizations_policy_attachment import OrganizationsPolicyAttachment
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from org_backup.backup_policy import RenderedPolicy
from org_backup.config import BackupConfig
from org_backup.guardrails import RenderedScp
from stacks.common import SynthOptions, aws_providers, configure_backend

BACKUP_SERVICE_PRINCIPAL = "backup.amazonaws.com"


def _construct_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", name)


class ManagementStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        stack_id: str,
        *,
        config: BackupConfig,
        backup_policies: list[RenderedPolicy],
        scps: list[RenderedScp],
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, stack_id)
        configure_backend(self, config=config, stack_name=stack_id)
        # Organizations and the AWS Backup global settings are not regional; one provider is enough.
        region = config.target_regions[0]
        provider = aws_providers(
            self,
            config=config,
            account_id=config.organization.management_account_id,
            regions=(region,),
            options=options,
        )[region]
        self._add_policies(
            provider, "BACKUP_POLICY", [(p.name, p.description, p.content, p.target_ous) for p in backup_policies]
        )
        self._add_policies(
            provider, "SERVICE_CONTROL_POLICY", [(s.name, s.description, s.content, s.target_ous) for s in scps]
        )
        self._add_cross_account_backup(provider)
        self._add_delegated_administrator(provider, config.organization.backup_delegated_admin_account_id)

    def _add_policies(
        self, provider: AwsProvider, policy_type: str, policies: list[tuple[str, str, str, tuple[str, ...]]]
    ) -> None:
        for name, description, content, target_ous in policies:
            policy = OrganizationsPolicy(
                self,
                _construct_id(name),
                provider=provider,
                name=name,
                description=description,
                type=policy_type,
                content=content,
            )
            for ou in target_ous:
                OrganizationsPolicyAttachment(
                    self,
                    f"{_construct_id(name)}-{ou}",
                    provider=provider,
                    policy_id=policy.id,
                    target_id=ou,
                )

    def _add_cross_account_backup(self, provider: AwsProvider) -> None:
        """Copies into the central vault of another account need cross-account backup on for the organization."""
        BackupGlobalSettings(
            self,
            "cross-account-backup",
            provider=provider,
            global_settings={"isCrossAccountBackupEnabled": "true"},
        )

    def _add_delegated_administrator(self, provider: AwsProvider, account_id: str | None) -> None:
        if account_id is None:
            return
        OrganizationsDelegatedAdministrator(
            self,
            "backup-delegated-administrator",
            provider=provider,
            account_id=account_id,
            service_principal=BACKUP_SERVICE_PRINCIPAL,
        )
