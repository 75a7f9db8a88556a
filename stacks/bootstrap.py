"""Bootstrap stacks: the chicken-and-egg step, applied once per account by an administrator with that account's
own credentials (no deploy role exists yet), with local state.

- ``bootstrap-home``: the S3 state bucket every other stack's backend uses (versioned, KMS-encrypted with its own
  key, public access blocked, TLS only, old versions expire), with S3-native locking (``use_lockfile``).
- ``bootstrap-management``: the workload permissions boundaries, and the StackSet that puts org-backup's deploy
  and plan roles and the same boundaries into every account of the target OUs, accounts that join later included
  (auto-deployment). With the policies delegated (``config.policies_delegated``, the default when a backup
  delegated administrator is configured) also the organization's delegation policy and the settings only the
  management account can change (stacks/management.py ``add_management_settings``), and no deploy or plan role: the
  pipeline never assumes a role in the management account. Otherwise the management account's deploy and plan
  roles, with which the pipeline deploys the management and backup-policies stacks there.
- ``bootstrap-central``: the central account's roles and boundaries, when it is not in a target OU (a
  service-managed StackSet reaches only the accounts of its target OUs, never the management account).

The StackSet is bootstrap, not pipeline, for two reasons. The pipeline's first run plans every member stack with
that account's plan role, so the role must exist before the pipeline runs at all; and every role the pipeline
assumes is then defined by an administrator's apply, never by the pipeline itself, so a merged change cannot
widen the permissions it deploys with (changing them means running ``make bootstrap`` again).
"""

from __future__ import annotations

from typing import Any, Literal

from cdktf import LocalBackend, TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_aws.cloudformation_stack_set import (
    CloudformationStackSet,
    CloudformationStackSetAutoDeployment,
    CloudformationStackSetOperationPreferences,
)
from cdktf_cdktf_provider_aws.cloudformation_stack_set_instance import (
    CloudformationStackSetInstance,
    CloudformationStackSetInstanceDeploymentTargets,
    CloudformationStackSetInstanceOperationPreferences,
)
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.organizations_resource_policy import OrganizationsResourcePolicy
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import BOUNDARIES, DEPLOY_ROLES_STACKSET, POLICY_PATH, STATE_KEY_ALIAS, Naming
from org_backup.config.templates import dumps, render_template
from org_backup.iam import deploy_roles, organization_access
from stacks.building_blocks import customer_managed_key, secure_bucket
from stacks.common import SynthOptions, aws_providers
from stacks.management import add_management_settings, settings_regions

NONCURRENT_STATE_DAYS = 90

BootstrapKind = Literal["home", "management", "central"]


class BootstrapStack(TerraformStack):
    def __init__(
        self, scope: Construct, stack_id: str, *, config: BackupConfig, kind: BootstrapKind, options: SynthOptions
    ) -> None:
        super().__init__(scope, stack_id)
        # Local state beside the stack: bootstrap creates what remote state needs. Keep this file safe.
        LocalBackend(self, path="terraform.tfstate")
        account_id = {
            "home": config.pipeline.home_account_id,
            "management": config.organization.management_account_id,
            "central": config.central_backup.account_id,
        }[kind]
        region = config.pipeline_region
        delegated_management = kind == "management" and config.policies_delegated
        providers = aws_providers(
            self,
            config=config,
            account_id=account_id,
            regions=tuple(dict.fromkeys((region, *(settings_regions(config) if delegated_management else ())))),
            options=options,
            assume_role=False,
        )
        provider = providers[region]
        if kind == "home":
            StateBucket(self, "state", provider=provider, config=config, account_id=account_id)
            return
        # The boundaries every role the deploy role creates must carry: created here, by an administrator, so the
        # pipeline can never widen them (in member accounts the StackSet's template creates them).
        boundaries = {
            boundary_kind: IamPolicy(
                self,
                f"{boundary_kind}-boundary",
                provider=provider,
                name=name,
                path=POLICY_PATH,
                description=f"org-backup: the most a {boundary_kind} role the deploy role manages may do",
                policy=dumps(deploy_roles.boundary_policy(boundary_kind)),
            )
            for boundary_kind, name in BOUNDARIES.items()
        }
        if kind == "management":
            _member_roles(self, provider, config)
        if delegated_management:
            # No deploy or plan role here: the pipeline never assumes a role in the management account. What only
            # this account can change is applied from here, by its administrator (stacks/management.py).
            OrganizationsResourcePolicy(
                self,
                "policy-delegation",
                provider=provider,
                content=dumps(organization_access.delegation_policy(config)),
            )
            add_management_settings(self, config=config, providers=providers, function_boundary=boundaries["functions"])
            return
        policy = (
            deploy_roles.management_policy(config) if kind == "management" else deploy_roles.accounts_policy(config)
        )
        deploy_role = _role(self, "deploy-role", provider, config.names.deploy_role, deploy_roles.deploy_trust(config))
        # Managed policies, not inline: the deploy role's permissions exceed what a role's inline policies may
        # total (deploy_roles.split_policy).
        for index, document in enumerate(deploy_roles.split_policy(policy), start=1):
            managed = IamPolicy(
                self,
                f"deploy-role-policy-{index}",
                provider=provider,
                name=f"{config.names.deploy_role}-{index}",
                path=POLICY_PATH,
                policy=dumps(document),
            )
            IamRolePolicyAttachment(
                self, f"deploy-role-policy-{index}-attachment", provider=provider, role=deploy_role.name,
                policy_arn=managed.arn,
            )  # fmt: skip
        plan_role = _role(self, "plan-role", provider, config.names.plan_role, deploy_roles.plan_trust(config))
        IamRolePolicy(
            self,
            "plan-role-policy",
            provider=provider,
            role=plan_role.name,
            name=config.names.plan_role,
            policy=dumps(deploy_roles.plan_policy(config)),
        )


def _role(scope: Construct, construct_id: str, provider: AwsProvider, name: str, trust: dict[str, Any]) -> IamRole:
    return IamRole(
        scope,
        construct_id,
        provider=provider,
        name=name,
        description="Assumed by the org-backup pipeline (org-backup bootstrap)",
        assume_role_policy=dumps(trust),
        max_session_duration=3600,
    )


def _member_roles(scope: Construct, provider: AwsProvider, config: BackupConfig) -> None:
    """The deploy and plan roles in every account of the target OUs, new accounts included (auto-deployment).
    IAM is global, so one stack instance per account (in the pipeline Region) is enough."""
    stack_set = CloudformationStackSet(
        scope,
        "member-roles",
        provider=provider,
        name=DEPLOY_ROLES_STACKSET,
        description="org-backup: roles its pipeline assumes in every account of the target OUs",
        permission_model="SERVICE_MANAGED",
        auto_deployment=CloudformationStackSetAutoDeployment(enabled=True, retain_stacks_on_account_removal=False),
        capabilities=["CAPABILITY_NAMED_IAM"],
        template_body=deploy_roles.stackset_template(config),
        operation_preferences=CloudformationStackSetOperationPreferences(
            failure_tolerance_percentage=10, max_concurrent_percentage=100, region_concurrency_type="PARALLEL"
        ),
        # SERVICE_MANAGED stack sets get an administration role from AWS; without this every plan shows it.
        lifecycle=TerraformResourceLifecycle(ignore_changes=["administration_role_arn"]),
    )
    CloudformationStackSetInstance(
        scope,
        "member-roles-instances",
        provider=provider,
        stack_set_name=stack_set.name,
        region=config.pipeline_region,
        deployment_targets=CloudformationStackSetInstanceDeploymentTargets(
            organizational_unit_ids=[ou.id for ou in config.target_ous]
        ),
        operation_preferences=CloudformationStackSetInstanceOperationPreferences(
            failure_tolerance_percentage=10, max_concurrent_percentage=100
        ),
    )


class StateBucket(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, config: BackupConfig, account_id: str
    ) -> None:
        super().__init__(scope, construct_id)
        naming = Naming(config)
        name = naming.state_bucket()
        key = customer_managed_key(
            self,
            provider=provider,
            description="Encrypts the org-backup Terraform state bucket",
            policy=render_template("kms/account-admin-key.json", account_root_arn=naming.account_root_arn(account_id)),
            alias=STATE_KEY_ALIAS,
        )
        bucket = S3Bucket(self, "bucket", provider=provider, bucket=name, force_destroy=False)
        S3BucketVersioningA(
            self,
            "versioning",
            provider=provider,
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        bucket_arn = f"arn:{naming.partition}:s3:::{name}"
        # State and deploy records are written by the deploy builder (or the other CI system's deployers), and (the
        # pipeline stack's) by the administrators who run bootstrap: with administrators named, nobody else
        # (deploy_roles.writers_only).
        also = (
            deploy_roles.writers_only(config, bucket_arn, deploy_roles.state_writers(config))
            if config.guardrails.administrators
            else []
        )
        secure_bucket(self, provider, bucket, key.arn, bucket_arn, also=also)
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            provider=provider,
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-old-state-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=NONCURRENT_STATE_DAYS
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
                    ],
                )
            ],
        )
