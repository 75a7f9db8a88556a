"""The management account's two stacks: ``management`` (guardrail SCPs, cross-account backup, the optional
delegated administrator for AWS Backup, account enrolment) and ``backup-policies`` (the backup policies attached
to the target OUs), which the pipeline deploys after every member stack. The StackSet that gives every target
account its deploy and plan roles is not here but in bootstrap-management (stacks/bootstrap.py says why).

Enabling the BACKUP_POLICY and SERVICE_CONTROL_POLICY types on the root and trusted access for AWS Backup are
prerequisites this stack does not own: managing ``aws_organizations_organization`` would take over the whole
organization. ``python -m org_backup doctor`` checks them.
"""

from __future__ import annotations

import json
import re

from cdktf import TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_aws.backup_global_settings import BackupGlobalSettings
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.organizations_delegated_administrator import OrganizationsDelegatedAdministrator
from cdktf_cdktf_provider_aws.organizations_policy import OrganizationsPolicy
from cdktf_cdktf_provider_aws.organizations_policy_attachment import OrganizationsPolicyAttachment
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.ram_sharing_with_organization import RamSharingWithOrganization
from constructs import Construct

from org_backup.backup_policy import RenderedPolicy
from org_backup.config import BackupConfig
from org_backup.guardrails import RenderedScp
from org_backup.naming import (
    ENROLMENT_FORWARDER_ROLE,
    ENROLMENT_RULE,
    MANAGED_POLICY_TAG,
    ORGANIZATIONS_EVENTS_REGION,
    Naming,
    enrolment_event_pattern,
)
from org_backup.policy_docs import dumps, render_template
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
        scps: list[RenderedScp],
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, stack_id)
        configure_backend(self, config=config, stack_name=stack_id)
        # Organizations and the AWS Backup global settings are not regional; Organizations events, though, are
        # delivered in us-east-1 only, so the enrolment rule needs a provider there.
        region = config.target_regions[0]
        self.config = config
        providers = aws_providers(
            self,
            config=config,
            account_id=config.organization.management_account_id,
            regions=tuple(dict.fromkeys((region, ORGANIZATIONS_EVENTS_REGION))),
            options=options,
        )
        provider = providers[region]
        add_organization_policies(
            self, provider, "SERVICE_CONTROL_POLICY", [(s.name, s.description, s.content, s.target_ous) for s in scps]
        )
        self._add_global_settings(provider, delegated=config.organization.backup_delegated_admin_account_id is not None)
        self._add_delegated_administrator(provider, config.organization.backup_delegated_admin_account_id)
        self._add_enrolment_forwarding(providers[ORGANIZATIONS_EVENTS_REGION])
        if config.central_backup.air_gapped is not None:
            # The air-gapped vaults' RAM shares name accounts of the organization and refuse external principals:
            # with sharing enabled within the organization they get access "without an invitation" (AWS RAM User
            # Guide, sharing within AWS Organizations). Only the management account can enable it.
            RamSharingWithOrganization(self, "ram-sharing-with-organization", provider=provider)

    def _add_enrolment_forwarding(self, provider: AwsProvider) -> None:
        """Forward account creation, moves and accepted invitations to the home account, which starts the pipeline."""
        naming = Naming(self.config)
        home_bus = naming.regional_arn(
            "events", self.config.pipeline_region, self.config.pipeline.home_account_id, "event-bus/default"
        )
        management = self.config.organization.management_account_id
        role = IamRole(
            self,
            "enrolment-forwarder",
            provider=provider,
            name=ENROLMENT_FORWARDER_ROLE,
            assume_role_policy=dumps(
                render_template("iam/service-trust.json", service="events.amazonaws.com", account_id=management)
            ),
            permissions_boundary=naming.boundary_arn(management, "functions"),
        )
        IamRolePolicy(
            self,
            "enrolment-forwarder-policy",
            provider=provider,
            role=role.name,
            name=ENROLMENT_FORWARDER_ROLE,
            policy=dumps(render_template("events/forward-to-bus.json", bus_arn=home_bus)),
        )
        rule = CloudwatchEventRule(
            self,
            "enrolment-rule",
            provider=provider,
            name=ENROLMENT_RULE,
            description="Accounts created, moved or invited: start the org-backup pipeline in the home account",
            event_pattern=json.dumps(enrolment_event_pattern(management), sort_keys=True),
        )
        CloudwatchEventTarget(
            self, "enrolment-target", provider=provider, rule=rule.name, arn=home_bus, role_arn=role.arn
        )

    def _add_global_settings(self, provider: AwsProvider, *, delegated: bool) -> None:
        """Cross-account backup on (copies into the central vault of another account need it), and
        isDelegatedAdministratorEnabled, which lets AWS Backup keep a delegated administrator's permissions in step
        with Organizations. Multi-party approval (isMpaEnabled) is not org-backup's to decide: forcing it off would
        undo an organization's own choice on every deploy. It is left out and its difference ignored, since the
        provider compares the whole map DescribeGlobalSettings returns; UpdateGlobalSettings changes only the flags it
        is given ("GlobalSettings: A value for isCrossAccountBackupEnabled and a Region", API_UpdateGlobalSettings.html).
        https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeGlobalSettings.html"""
        BackupGlobalSettings(
            self,
            "cross-account-backup",
            provider=provider,
            global_settings={
                "isCrossAccountBackupEnabled": "true",
                "isDelegatedAdministratorEnabled": "true" if delegated else "false",
            },
            lifecycle=TerraformResourceLifecycle(ignore_changes=['global_settings["isMpaEnabled"]']),
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


class BackupPoliciesStack(TerraformStack):
    """The organization's backup policies and their attachments, in the management account.

    Their own stack, deployed last (naming.deploy_phase): attaching a backup policy makes AWS create the backup plan
    in every account below the OU, and the plan's IAM role and target vault, which the member stacks create, must
    exist by then. https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_backup.html

    A policy's Terraform address comes from its name, so a renamed policy is deleted and created anew (and its
    attachments with it): plan_render.render_policies names the parts of a split plan after their first Region to keep
    names across a re-packing. How many are attached to each OU is checked before synth (organizations_limits).
    """

    def __init__(
        self,
        scope: Construct,
        stack_id: str,
        *,
        config: BackupConfig,
        backup_policies: list[RenderedPolicy],
        options: SynthOptions,
    ) -> None:
        super().__init__(scope, stack_id)
        configure_backend(self, config=config, stack_name=stack_id)
        region = config.target_regions[0]
        provider = aws_providers(
            self,
            config=config,
            account_id=config.organization.management_account_id,
            regions=(region,),
            options=options,
        )[region]
        add_organization_policies(
            self, provider, "BACKUP_POLICY", [(p.name, p.description, p.content, p.target_ous) for p in backup_policies]
        )


def add_organization_policies(
    scope: Construct, provider: AwsProvider, policy_type: str, policies: list[tuple[str, str, str, tuple[str, ...]]]
) -> None:
    for name, description, content, target_ous in policies:
        policy = OrganizationsPolicy(
            scope,
            _construct_id(name),
            provider=provider,
            name=name,
            description=description,
            type=policy_type,
            content=content,
            # The management deploy role may change only policies that carry this tag (deploy_roles.py).
            tags=dict([MANAGED_POLICY_TAG]),
        )
        for target in target_ous:  # OU ids, or account ids for a guardrail attached to one account
            OrganizationsPolicyAttachment(
                scope,
                f"{_construct_id(name)}-{target}",
                provider=provider,
                policy_id=policy.id,
                target_id=target,
            )
