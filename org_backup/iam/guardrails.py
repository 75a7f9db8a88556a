"""Service control policies (guardrails) rendered from ``policies/scp/`` and the config; all off by default.

SCPs apply to every principal of the accounts they are attached to except service-linked roles, and never to the
management account (AWS Organizations User Guide, "Service control policies": "SCPs don't affect users or roles in
the management account" and "SCPs do not affect service-linked roles"); so each guardrail names the few principals
it exempts, and everything else, an account's own administrators included, is denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from org_backup.config.errors import InputError, Problem
from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    ALERT_ALARM_PREFIX,
    ALERT_BUS,
    ALERT_FORWARDER_ROLE,
    DEPLOY_BATCH_ROLE,
    EVENTS_ENROLMENT_ROLE,
    EVENTS_START_PIPELINE_ROLE,
    EVENTS_START_PR_BUILD_ROLE,
    FRAMEWORK_NAME,
    PIPELINE,
    PIPELINE_ROLE,
    PLAN_BATCH_ROLE,
    POLICY_PATH,
    PR_APPROVAL_FUNCTION,
    PR_PIPELINE,
    PR_PIPELINE_ROLE,
    PROJECT_PREFIX,
    REPORT_PLAN_PREFIX,
    RESTORE_VALIDATION_ROLE,
    STACKSET_EXECUTION_ROLE,
    Naming,
    key_aliases,
)
from org_backup.config.paths import POLICIES_DIR
from org_backup.config.pipeline import CodeCommitSource
from org_backup.config.templates import dumps, render_template

MAX_SCP_CHARS = 5_120  # AWS Organizations quotas: maximum size of a service control policy document.
# What changes a role's trust or permissions (or removes it): denied on the roles a guardrail protects.
ROLE_WRITE_ACTIONS = [
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
]
BOUNDARY_WRITE_ACTIONS = [
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
]


@dataclass(frozen=True)
class RenderedScp:
    name: str
    description: str
    content: str
    target_ous: tuple[str, ...]


def render_scps(config: BackupConfig) -> list[RenderedScp]:
    """The enabled SCPs, each checked against the 5,120-character limit."""
    naming = Naming(config)
    guardrails = config.guardrails
    protected = [naming.any_account_role_arn(config.names.deploy_role)]
    scps: list[RenderedScp] = []
    copy = guardrails.copy_restriction
    if copy.mode == "organization":
        scps.append(
            RenderedScp(
                "org-backup-deny-copy-outside-organization",
                "Deny AWS Backup copies to vaults outside the organization (org-backup)",
                dumps(
                    render_template("scp/deny-copy-outside-organization.json", organization_id=config.organization.id)
                ),
                config.ous_of(copy.target_ous),
            )
        )
    elif copy.mode == "central_vault":
        # The air-gapped vaults too (central_backup.air_gapped): copies to them are copies to the central account.
        arns = [arn for region in config.central_regions for arn in naming.copy_target_arns(region)]
        scps.append(
            RenderedScp(
                "org-backup-deny-copy-outside-central-vault",
                "Deny AWS Backup copies to any vault but the central backup vault (org-backup)",
                dumps(render_template("scp/deny-copy-outside-central-vault.json", central_vault_arns=arns)),
                config.ous_of(copy.target_ous),
            )
        )
    if guardrails.deny_backup_tampering.enabled:
        scps.append(_tampering_scp(config, naming, protected))
    if guardrails.deny_leave_organization.enabled:
        scps.append(
            RenderedScp(
                "org-backup-deny-leave-organization",
                "Deny leaving the organization, which would escape its backup policies (org-backup)",
                dumps(render_template("scp/deny-leave-organization.json")),
                config.ous_of(guardrails.deny_leave_organization.target_ous),
            )
        )
    if guardrails.pipeline_account.enabled:
        scps += _pipeline_account_scps(config, naming)
    too_big = [
        Problem(
            scp.name,
            f"is {len(scp.content)} characters; AWS Organizations allows {MAX_SCP_CHARS} for an SCP. Fix: name fewer "
            "guardrails.administrators (one role per account, '*' for a generated suffix) or shorter names.",
        )
        for scp in scps
        if len(scp.content) > MAX_SCP_CHARS
    ]
    if too_big:
        raise InputError(str(POLICIES_DIR / "scp"), too_big)
    return scps


def _tampering_scp(config: BackupConfig, naming: Naming, protected: list[str]) -> RenderedScp:
    names = config.names
    role = naming.any_account_role_arn
    p = naming.partition
    # The vault keys, and the keys of what watches them (alerts, functions' logs and queues, reports): disabling any
    # of those silences detection as surely as deleting a rule.
    aliases = list(key_aliases(config))
    tampering = config.guardrails.deny_backup_tampering
    targets = config.ous_of(tampering.target_ous)
    targeted_members = {a for ou in config.target_ous if ou.id in targets for a in ou.accounts}
    central = config.central_backup.account_id
    if tampering.central_account and central not in targeted_members:
        targets = (*targets, central)  # attached to the account itself: no target OU of this SCP holds it
    administrators = list(config.guardrails.administrators)
    content = render_template(
        "scp/deny-backup-tampering.json",
        protected_principals=protected,
        backup_key_aliases=aliases,
        # KMS authorizes an alias operation on the alias and on the key (AWS KMS Developer Guide, "Controlling
        # access to aliases"); denying it on org-backup's alias names keeps anyone but the deploy role from
        # re-pointing or deleting the alias the key-destruction statement above recognises the keys by.
        backup_key_alias_arns=[f"arn:{p}:kms:*:*:{alias}" for alias in aliases],
        # What tells anyone that backups fail or restores no longer work: the forwarding and re-application rules
        # and their targets, the alarms on the alert path, the functions, their dead-letter queues, the alert bus and topic, the Audit Manager
        # frameworks and report plans (org-backup's names only: an account's own rules stay its own).
        detection_arns=[
            f"arn:{p}:events:*:*:rule/org-backup-*",
            f"arn:{p}:events:*:*:rule/{ALERT_BUS}/*",
            f"arn:{p}:events:*:*:event-bus/{ALERT_BUS}",
            f"arn:{p}:cloudwatch:*:*:alarm:{ALERT_ALARM_PREFIX}*",
            f"arn:{p}:lambda:*:*:function:org-backup-*",
            f"arn:{p}:sqs:*:*:org-backup-*",
            f"arn:{p}:sns:*:*:org-backup-*",
            f"arn:{p}:backup:*:*:framework:{FRAMEWORK_NAME}-*",
            f"arn:{p}:backup:*:*:report-plan:{REPORT_PLAN_PREFIX}*",
        ],
        role_write_actions=ROLE_WRITE_ACTIONS,
        # Roles that an account's administrator must neither create (squatting a name an exemption trusts), nor
        # re-trust, nor re-permission: the deploy and plan roles (the StackSet's execution role manages them; in a
        # central account outside the target OUs, the administrators who run bootstrap), that execution role
        # itself (created by a service-linked role, which SCPs do not restrict), and the roles the deploy role
        # manages. Administrators of other accounts never match a principal of the account the SCP governs.
        # With them, the customer managed policies the same principals create (the deploy role's permissions and the
        # workload boundaries, all under org-backup's IAM path): whoever could rewrite one could widen the deploy role
        # or every role it creates.
        role_and_boundary_write_actions=[*ROLE_WRITE_ACTIONS, *BOUNDARY_WRITE_ACTIONS],
        pipeline_roles_and_boundary=[
            role(names.deploy_role),
            role(names.plan_role),
            f"arn:{p}:iam::*:policy{POLICY_PATH}*",
        ],
        role_managers=[role(STACKSET_EXECUTION_ROLE), *administrators],
        stackset_execution_role=role(STACKSET_EXECUTION_ROLE),
        workload_roles=[
            role(names.backup_role),
            role(names.tag_reapply_role),
            role(ALERT_FORWARDER_ROLE),
            role(RESTORE_VALIDATION_ROLE),
        ],
        deploy_role=role(names.deploy_role),
    )
    return RenderedScp(
        "org-backup-deny-backup-tampering",
        "Deny deleting or weakening backups and their detection except for the deploy role (org-backup)",
        dumps(content),
        targets,
    )


def _pipeline_account_scps(config: BackupConfig, naming: Naming) -> list[RenderedScp]:
    """The home account: only the pipeline starts org-backup's builds (so nobody else receives a builder role's
    credentials), no build's buildspec is overridden (CodeBuild User Guide, "AWS CodeBuild condition keys":
    ``codebuild:source.buildspec`` with the Null operator), and only the administrators change the pipeline, its
    roles, its approval rules or (CodeCommit) the deploy branch outside a reviewed pull request."""
    home = config.pipeline.home_account_id
    region = config.pipeline_region
    administrators = list(config.guardrails.administrators)
    projects = [naming.regional_arn("codebuild", region, home, f"project/{PROJECT_PREFIX}*")]
    # Every role of the pipeline stack is named org-backup-* (naming.py): builders, service roles, the approval
    # function's role.
    pipeline_roles = [naming.role_arn(home, "org-backup-*")]
    pipelines = [naming.regional_arn("codepipeline", region, home, name) for name in (PIPELINE, PR_PIPELINE)]
    document = render_template(
        "scp/protect-pipeline.json",
        project_arns=projects,
        # CodePipeline starts a stage's build with the pipeline's service role, a batch's shards are started with
        # the batch's service role, and the pull-request rule's target with its EventBridge role (CodeBuild User
        # Guide: service roles; EventBridge User Guide: targets that need a role).
        pipeline_principals=[
            naming.role_arn(home, name)
            for name in (
                PIPELINE_ROLE,
                PR_PIPELINE_ROLE,
                PLAN_BATCH_ROLE,
                DEPLOY_BATCH_ROLE,
                EVENTS_START_PR_BUILD_ROLE,
            )
        ],
        pipeline_resources=[
            *projects,
            naming.regional_arn("codepipeline", region, home, PIPELINE),
            naming.regional_arn("codepipeline", region, home, PR_PIPELINE),
            naming.regional_arn("events", region, home, "rule/org-backup-*"),
            naming.regional_arn("lambda", region, home, f"function:{PR_APPROVAL_FUNCTION}"),
        ],
        # A pipeline started by hand may be given any commit of any branch (CodePipeline User Guide, "Start a
        # pipeline with a source revision override"): only the rules that start it on a push or an enrolment
        # event, and the administrators, may start, retry or roll back a stage.
        pipeline_arns=pipelines,
        pipeline_starters=[
            naming.role_arn(home, EVENTS_START_PIPELINE_ROLE),
            naming.role_arn(home, EVENTS_ENROLMENT_ROLE),
            *administrators,
        ],
        approval_action_arns=[f"{arn}/*" for arn in pipelines],
        deploy_approvers=[*administrators, *config.guardrails.pipeline_account.deploy_approvers],
        administrators=administrators,
        role_write_actions=ROLE_WRITE_ACTIONS,
        pipeline_roles=pipeline_roles,
    )
    scps = [
        RenderedScp(
            "org-backup-protect-pipeline",
            "Only the org-backup pipeline starts its builds and pipelines; only administrators change them",
            dumps(document),
            (home,),
        )
    ]
    source = config.pipeline.source
    if isinstance(source, CodeCommitSource):
        # The documented statement for protected branches (CodeCommit User Guide, customer managed policy examples,
        # "Deny or allow actions on branches"), without the MergePullRequestBy* actions: merging a pull request is
        # the reviewed path, which the approval rules gate; what is denied is every way around them. With a set
        # operator: codecommit:References holds every reference a push updates (a multivalued key, IAM User
        # Guide, "Single-valued vs. multivalued context keys").
        branch = render_template(
            "scp/protect-deploy-branch.json",
            repository_arn=naming.regional_arn("codecommit", region, home, source.repository),
            deploy_branch_ref=f"refs/heads/{source.branch}",
            administrators=administrators,
        )
        scps.append(
            RenderedScp(
                "org-backup-protect-deploy-branch",
                "The org-backup deploy branch changes only by a reviewed pull request",
                dumps(branch),
                (home,),
            )
        )
    return scps
