"""org-backup's AWS Organizations stacks: ``management`` (the guardrail SCPs) and ``backup-policies`` (the backup
policies attached to the target OUs, deployed after every member stack), and the management account's own settings
(``add_management_settings``: cross-account backup, the optional delegated administrator for AWS Backup, RAM sharing, the
enrolment rule).

Where they live follows ``organization.policy_admin_account_id`` (``config.policies_delegated``):
- delegated (the default with a backup delegated administrator): both stacks deploy into the policy administrator's
  account, which manages the policies through the organization's delegation policy, so the pipeline never assumes a
  role in the management account. The settings only the management account can change are bootstrap-management's,
  applied by an administrator (stacks/bootstrap.py). The stacks keep their names and state: switching moves no
  policy, only the role Terraform reaches it with.
- not delegated: both stacks, and the settings, deploy into the management account with its deploy role.

The StackSet that gives every target account its deploy and plan roles is bootstrap-management's in both cases.
Enabling the BACKUP_POLICY and SERVICE_CONTROL_POLICY types on the root and trusted access for AWS Backup are
prerequisites no stack owns: managing ``aws_organizations_organization`` would take over the whole organization.
``python -m org_backup doctor`` checks them.
"""

from __future__ import annotations

import json
import re

from cdktf import TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_aws.backup_global_settings import BackupGlobalSettings
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.organizations_delegated_administrator import OrganizationsDelegatedAdministrator
from cdktf_cdktf_provider_aws.organizations_policy import OrganizationsPolicy
from cdktf_cdktf_provider_aws.organizations_policy_attachment import OrganizationsPolicyAttachment
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.ram_sharing_with_organization import RamSharingWithOrganization
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    ENROLMENT_FORWARDER_ROLE,
    ENROLMENT_RULE,
    MANAGED_POLICY_TAG,
    ORGANIZATIONS_EVENTS_REGION,
    RETIRED_PLANS_LOCAL,
    Naming,
    enrolment_event_pattern,
)
from org_backup.config.templates import dumps, render_template
from org_backup.iam.guardrails import RenderedScp
from org_backup.plans.backup_policy import RenderedPolicy
from org_backup.synth import adoption
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
        # delivered in us-east-1 only, so the enrolment rule needs a provider there. Delegated, the stack keeps both
        # providers: what an older deployment's state holds names them, until the removed blocks below forget it.
        providers = aws_providers(
            self,
            config=config,
            account_id=config.policy_admin_account_id,
            regions=settings_regions(config),
            options=options,
        )
        provider = providers[config.target_regions[0]]
        add_organization_policies(
            self, provider, "SERVICE_CONTROL_POLICY", [(s.name, s.description, s.content, s.target_ous) for s in scps]
        )
        if not config.policies_delegated:
            add_management_settings(self, config=config, providers=providers)
            return
        # Terraform >= 1.7: forget, never destroy, what bootstrap-management now owns (it imports the same
        # resources first: org_backup/synth/adoption.py). A removed block whose resource is not in state does nothing.
        # https://developer.hashicorp.com/terraform/language/resources/syntax#removing-resources
        self.add_override(
            "removed",
            [{"from": address, "lifecycle": {"destroy": False}} for address in adoption.MANAGEMENT_SETTINGS],
        )


def settings_regions(config: BackupConfig) -> tuple[str, ...]:
    """The Regions of add_management_settings' providers: the first target Region, and us-east-1 for the enrolment rule
    (which starts org-backup's pipeline: none without it)."""
    events = (ORGANIZATIONS_EVENTS_REGION,) if config.pipeline.enabled else ()
    return tuple(dict.fromkeys((config.target_regions[0], *events)))


def add_management_settings(
    scope: TerraformStack,
    *,
    config: BackupConfig,
    providers: dict[str, AwsProvider],
    function_boundary: IamPolicy | None = None,
) -> None:
    """What only the management account can change, and org-backup needs there. The resources are top-level in
    ``scope``, so their Terraform addresses are the same in either stack that holds them
    (``org_backup.synth.adoption.MANAGEMENT_SETTINGS``)."""
    provider = providers[config.target_regions[0]]
    # The enrolment forwarder's boundary: bootstrap-management's own, when it creates the role beside it (the
    # reference orders the two); else the one bootstrap made before the pipeline ran.
    boundary = (
        function_boundary.arn
        if function_boundary is not None
        else Naming(config).boundary_arn(config.organization.management_account_id, "functions")
    )
    _add_global_settings(scope, provider, delegated=config.organization.backup_delegated_admin_account_id is not None)
    _add_delegated_administrator(scope, provider, config.organization.backup_delegated_admin_account_id)
    if (
        config.pipeline.enabled
    ):  # another CI system is started by its own means (docs/deploy.md, Deploy from another CI)
        _add_enrolment_forwarding(scope, config, providers[ORGANIZATIONS_EVENTS_REGION], boundary)
    if config.central_backup.air_gapped is not None:
        # The air-gapped vaults' RAM shares name accounts of the organization and refuse external principals:
        # with sharing enabled within the organization they get access "without an invitation" (AWS RAM User
        # Guide, sharing within AWS Organizations). Only the management account can enable it.
        RamSharingWithOrganization(scope, "ram-sharing-with-organization", provider=provider)


class BackupPoliciesStack(TerraformStack):
    """The organization's backup policies and their attachments, deployed from the policy administrator's account.

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
        retired_plans: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, stack_id)
        configure_backend(self, config=config, stack_name=stack_id)
        if retired_plans:  # read by make plan, which refuses the deletion of any other deployed plan (plan_guard)
            self.add_override("locals", {RETIRED_PLANS_LOCAL: list(retired_plans)})
        region = config.target_regions[0]
        provider = aws_providers(
            self,
            config=config,
            account_id=config.policy_admin_account_id,
            regions=(region,),
            options=options,
        )[region]
        add_organization_policies(
            self, provider, "BACKUP_POLICY", [(p.name, p.description, p.content, p.target_ous) for p in backup_policies]
        )


def _add_enrolment_forwarding(scope: Construct, config: BackupConfig, provider: AwsProvider, boundary: str) -> None:
    """Forward account creation, moves and accepted invitations to the home account, which starts the pipeline.
    Organizations' events reach the management account only (its CloudTrail), so the rule is there in either mode."""
    naming = Naming(config)
    home_bus = naming.regional_arn(
        "events", config.pipeline_region, config.pipeline.home_account_id, "event-bus/default"
    )
    management = config.organization.management_account_id
    role = IamRole(
        scope,
        "enrolment-forwarder",
        provider=provider,
        name=ENROLMENT_FORWARDER_ROLE,
        assume_role_policy=dumps(
            render_template("iam/service-trust.json", service="events.amazonaws.com", account_id=management)
        ),
        permissions_boundary=boundary,
    )
    IamRolePolicy(
        scope,
        "enrolment-forwarder-policy",
        provider=provider,
        role=role.name,
        name=ENROLMENT_FORWARDER_ROLE,
        policy=dumps(render_template("events/forward-to-bus.json", bus_arn=home_bus)),
    )
    rule = CloudwatchEventRule(
        scope,
        "enrolment-rule",
        provider=provider,
        name=ENROLMENT_RULE,
        description="Accounts created, moved or invited: start the org-backup pipeline in the home account",
        event_pattern=json.dumps(enrolment_event_pattern(management), sort_keys=True),
    )
    CloudwatchEventTarget(scope, "enrolment-target", provider=provider, rule=rule.name, arn=home_bus, role_arn=role.arn)


def _add_global_settings(scope: Construct, provider: AwsProvider, *, delegated: bool) -> None:
    """Cross-account backup on (copies into the central vault of another account need it), and
    isDelegatedAdministratorEnabled, which lets AWS Backup keep a delegated administrator's permissions in step
    with Organizations. Both are the management account's to set: UpdateGlobalSettings "Returns an error if the
    account is not an Organizations management account" (AWS Backup API reference).
    Multi-party approval (isMpaEnabled) is not org-backup's to decide: forcing it off would undo an organization's
    own choice on every deploy. It is left out and its difference ignored, since the provider compares the whole map
    DescribeGlobalSettings returns; UpdateGlobalSettings changes only the flags it is given ("GlobalSettings: A value
    for isCrossAccountBackupEnabled and a Region", API_UpdateGlobalSettings.html).
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeGlobalSettings.html"""
    BackupGlobalSettings(
        scope,
        "cross-account-backup",
        provider=provider,
        global_settings={
            "isCrossAccountBackupEnabled": "true",
            "isDelegatedAdministratorEnabled": "true" if delegated else "false",
        },
        lifecycle=TerraformResourceLifecycle(ignore_changes=['global_settings["isMpaEnabled"]']),
    )


def _add_delegated_administrator(scope: Construct, provider: AwsProvider, account_id: str | None) -> None:
    """RegisterDelegatedAdministrator: "This operation can be called only from the organization's management
    account" (Organizations API reference)."""
    if account_id is None:
        return
    OrganizationsDelegatedAdministrator(
        scope,
        "backup-delegated-administrator",
        provider=provider,
        account_id=account_id,
        service_principal=BACKUP_SERVICE_PRINCIPAL,
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
            # The deploy role may change only policies that carry this tag (org_backup/iam/organization_access.py).
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
