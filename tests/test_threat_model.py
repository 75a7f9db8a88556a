"""docs/threat-model.md, row by row: each attacker position, what it could reach before, and that it no longer can,
decided by ``org_backup.iam.evaluator`` (AWS's documented evaluation logic) over the synthesized JSON of the example
organization. Every denial is paired with the allowed request that proves the test is not vacuous (the legitimate
principal, or the next resource over), and the doc's rows name these tests (test_every_row_names_a_test_that_exists).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from org_backup.iam.evaluator import Decision, Policy, Principal, Request, evaluate
from tests import synthesized_policies as policies
from tests.conftest import ROOT, Synthesized

ORG = "o-a1b2c3d4e5"
MANAGEMENT, CENTRAL, HOME = "111111111111", "222222222222", "333333333333"
MEMBER, MEMBER_OU = "444444444444", "ou-ab12-prod0001"
REGION = "eu-west-1"
MEMBER_KEY = f"arn:aws:kms:{REGION}:{MEMBER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CENTRAL_KEY = f"arn:aws:kms:{REGION}:{CENTRAL}:key/0987dcba-09fe-87dc-65ba-ab0987654321"


@pytest.fixture(scope="module")
def example(synth: Any) -> Synthesized:
    return synth("example")


def role(account: str, name: str) -> Principal:
    return Principal(f"arn:aws:iam::{account}:role/{name}", session_name="session", org_id=ORG)


def user(account: str, name: str) -> Principal:
    return Principal(f"arn:aws:iam::{account}:user/{name}", org_id=ORG)


ADMINISTRATOR_ACCESS = [Policy("AdministratorAccess", {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})]  # fmt: skip


def decide(
    principal: Principal,
    action: str,
    resource: str,
    *,
    identity: list[Policy],
    scps: list[list[Policy]] | None = None,
    boundary: Policy | None = None,
    resource_policy: Policy | None = None,
    resource_account: str | None = None,
    key_policy: bool = False,
    **context: Any,
) -> Decision:
    """``context``: request context keys, spelled as Python names: ``__`` for ":", ``_SLASH_`` for "/", ``_DOT_``
    for "." (``kms__ResourceAliases`` is kms:ResourceAliases)."""
    keys = {k.replace("__", ":").replace("_SLASH_", "/").replace("_DOT_", "."): v for k, v in context.items()}
    return evaluate(
        Request(principal, action, resource, keys),
        identity_policies=identity,
        permissions_boundary=boundary,
        resource_policy=resource_policy,
        resource_account=resource_account,
        key_policy=key_policy,
        scps=scps,
    )


# --- Pull-request author ---------------------------------------------------------------------------------------
def test_pull_request_builder_holds_no_approval_rights(example: Synthesized) -> None:
    """Before: the plan builder ran PR code and held UpdatePullRequestApprovalState. Now the PR builder may comment,
    never approve; only the approval function's role may."""
    repository = f"arn:aws:codecommit:{REGION}:{HOME}:org-backup"
    builder = role(HOME, "org-backup-pull-request")
    identity = policies.builder(example, "pull-request")
    for action in (
        "codecommit:UpdatePullRequestApprovalState",
        "codecommit:OverridePullRequestApprovalRules",
        "codecommit:MergePullRequestBySquash",
        "codecommit:GitPush",
    ):
        assert not decide(builder, action, repository, identity=identity).allowed, action
    assert decide(builder, "codecommit:PostCommentForPullRequest", repository, identity=identity).allowed
    approver = policies.role_policy(example, "pipeline", "pr-approval")
    approval = decide(role(HOME, "org-backup-pr-approval"), "codecommit:UpdatePullRequestApprovalState", repository,
                      identity=approver)  # fmt: skip
    assert approval.allowed, approval.reason
    for kind in ("validate", "plan", "deploy"):
        decision = decide(role(HOME, f"org-backup-{kind}"), "codecommit:UpdatePullRequestApprovalState", repository,
                          identity=policies.builder(example, kind))  # fmt: skip
        assert not decision.allowed, kind


def test_the_review_rule_counts_no_pipeline_principal(example: Synthesized) -> None:
    """CodeCommit counts an approval only when the approver matches the rule's pool (User Guide, "Create an approval
    rule"): no pipeline role's session matches the review pool, and only the approval function's matches the
    validation pool."""
    rules = {
        r["name"]: json.loads(r["content"])["Statements"][0]["ApprovalPoolMembers"]
        for r in example.resources("pipeline", "aws_codecommit_approval_rule_template").values()
    }
    pipeline_sessions = [
        f"arn:aws:sts::{HOME}:assumed-role/{name}/build"
        for name in (
            "org-backup-validate",
            "org-backup-plan",
            "org-backup-deploy",
            "org-backup-pull-request",
            "org-backup-pr-approval",
        )
    ]
    assert [s for s in pipeline_sessions if any(fnmatch.fnmatchcase(s, p) for p in rules["org-backup-review"])] == []
    assert [s for s in pipeline_sessions if any(fnmatch.fnmatchcase(s, p) for p in rules["org-backup-validation"])] == [
        f"arn:aws:sts::{HOME}:assumed-role/org-backup-pr-approval/build"
    ]
    assert fnmatch.fnmatchcase(
        f"arn:aws:sts::{HOME}:assumed-role/OrgBackupReviewers/ana", rules["org-backup-review"][0]
    )


def test_pull_request_builder_cannot_write_state_or_artifacts_nor_reach_a_deploy_role(example: Synthesized) -> None:
    builder = role(HOME, "org-backup-pull-request")
    identity = policies.builder(example, "pull-request")
    state = f"arn:aws:s3:::org-backup-tfstate-{HOME}-{REGION}"
    artifacts = f"arn:aws:s3:::org-backup-pipeline-{HOME}-{REGION}"
    for action, resource in (
        ("s3:PutObject", f"{state}/org-backup/member-{MEMBER}.tfstate"),
        ("s3:DeleteObject", f"{state}/org-backup/member-{MEMBER}.tfstate"),
        ("s3:PutObject", f"{artifacts}/org-backup/plans/x.zip"),
        ("s3:GetObject", f"{artifacts}/org-backup/plans/x.zip"),
    ):
        assert not decide(builder, action, resource, identity=identity, resource_account=HOME).allowed, resource
    read = decide(builder, "s3:GetObject", f"{state}/org-backup/member-{MEMBER}.tfstate", identity=identity,
                  resource_account=HOME)  # fmt: skip
    assert read.allowed, read.reason  # terraform plan reads state; -lock=false writes no lock
    deploy_role = f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole"
    assume_deploy = decide(builder, "sts:AssumeRole", deploy_role, identity=identity,
                           resource_policy=policies.member_role_trust(example, "DeployRole"), aws__ResourceOrgID=ORG)  # fmt: skip
    assert not assume_deploy.allowed
    assume_plan = decide(builder, "sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/OrgBackupPlanRole", identity=identity,
                         resource_policy=policies.member_role_trust(example, "PlanRole"), aws__ResourceOrgID=ORG)  # fmt: skip
    assert assume_plan.allowed, assume_plan.reason


def test_pull_request_code_cannot_choose_its_buildspec(example: Synthesized) -> None:
    """The pull-request project carries the committed buildspec inline: a pull request that edits the file does not
    change what its own build runs."""
    (project,) = (
        p
        for p in example.resources("pipeline", "aws_codebuild_project").values()
        if p["name"] == "org-backup-pull-request"
    )
    assert project["source"]["buildspec"].replace("$${", "${") == (ROOT / "buildspecs" / "pull-request.yml").read_text()


def test_direct_changes_to_the_deploy_branch_are_denied(example: Synthesized) -> None:
    """The pipeline account's SCP (CodeCommit User Guide, "Deny or allow actions on branches"): nobody but the
    administrators pushes, commits or merges branches into main, nor overrides approval rules; merging a reviewed
    pull request stays allowed (the approval rules gate it)."""
    scps = policies.scp_levels(example, HOME, None)
    repository = f"arn:aws:codecommit:{REGION}:{HOME}:org-backup"
    developer = role(HOME, "Developer")
    main = {"codecommit__References": ["refs/heads/main"]}
    for action in (
        "codecommit:GitPush",
        "codecommit:PutFile",
        "codecommit:MergeBranchesBySquash",
        "codecommit:DeleteBranch",
    ):
        assert not decide(developer, action, repository, identity=ADMINISTRATOR_ACCESS, scps=scps, **main).allowed, (
            action
        )
    assert not decide(developer, "codecommit:OverridePullRequestApprovalRules", repository, identity=ADMINISTRATOR_ACCESS,
                      scps=scps).allowed  # fmt: skip
    feature = decide(developer, "codecommit:GitPush", repository, identity=ADMINISTRATOR_ACCESS, scps=scps,
                     codecommit__References=["refs/heads/feature"])  # fmt: skip
    assert feature.allowed, feature.reason
    merge = decide(developer, "codecommit:MergePullRequestBySquash", repository, identity=ADMINISTRATOR_ACCESS,
                   scps=scps, **main)  # fmt: skip
    assert merge.allowed, merge.reason
    administrator = role(HOME, "OrgBackupAdministrator")
    assert decide(
        administrator, "codecommit:GitPush", repository, identity=ADMINISTRATOR_ACCESS, scps=scps, **main
    ).allowed


# --- Member-account administrator ------------------------------------------------------------------------------
def _member_admin(example: Synthesized, action: str, resource: str, **context: Any) -> Decision:
    return decide(role(MEMBER, "MemberAdministrator"), action, resource, identity=ADMINISTRATOR_ACCESS,
                  scps=policies.scp_levels(example, MEMBER, MEMBER_OU), **context)  # fmt: skip


def _member_deploy(example: Synthesized, action: str, resource: str, **context: Any) -> Decision:
    return decide(role(MEMBER, "OrgBackupDeployRole"), action, resource, identity=ADMINISTRATOR_ACCESS,
                  scps=policies.scp_levels(example, MEMBER, MEMBER_OU), **context)  # fmt: skip


def test_member_administrator_cannot_destroy_the_backup_keys(example: Synthesized) -> None:
    """Before: delete the alias, then disable or schedule the key's deletion (the key guard matched on
    kms:ResourceAliases only). Now alias changes are denied too; the deploy role still may."""
    aliased = {"kms__ResourceAliases": ["alias/AWSBackupSolutionKey"]}
    for action in ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"):
        assert not _member_admin(example, action, MEMBER_KEY, **aliased).allowed, action
        assert _member_deploy(example, action, MEMBER_KEY, **aliased).allowed, action
        assert _member_admin(example, action, MEMBER_KEY, kms__ResourceAliases=["alias/their-own"]).allowed, action
    alias = f"arn:aws:kms:{REGION}:{MEMBER}:alias/AWSBackupSolutionKey"
    for action in ("kms:DeleteAlias", "kms:UpdateAlias", "kms:CreateAlias"):
        assert not _member_admin(example, action, alias).allowed, action
        assert _member_deploy(example, action, alias).allowed, action
    assert _member_admin(example, "kms:DeleteAlias", f"arn:aws:kms:{REGION}:{MEMBER}:alias/their-own").allowed


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("events:DeleteRule", f"arn:aws:events:{REGION}:{MEMBER}:rule/org-backup-job-failures"),
        ("events:RemoveTargets", f"arn:aws:events:{REGION}:{MEMBER}:rule/org-backup-job-failures"),
        ("events:DisableRule", f"arn:aws:events:{REGION}:{MEMBER}:rule/org-backup-restore-completed"),
        ("lambda:DeleteFunction", f"arn:aws:lambda:{REGION}:{MEMBER}:function:org-backup-tag-reapply"),
        ("lambda:PutFunctionConcurrency", f"arn:aws:lambda:{REGION}:{MEMBER}:function:org-backup-tag-reapply"),
        ("sqs:PurgeQueue", f"arn:aws:sqs:{REGION}:{MEMBER}:org-backup-alert-forward-dlq"),
        ("backup:DeleteFramework", f"arn:aws:backup:{REGION}:{MEMBER}:framework:org_backup-1a2b3c"),
        ("backup:DeleteReportPlan", f"arn:aws:backup:{REGION}:{MEMBER}:report-plan:org_backup_backup_job_report"),
        ("backup:PutBackupVaultNotifications", f"arn:aws:backup:{REGION}:{MEMBER}:backup-vault:AWSBackupSolutionVault"),
        ("backup:StopBackupJob", "*"),
        ("iam:PutRolePolicy", f"arn:aws:iam::{MEMBER}:role/org-backup-alert-forwarder"),
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole"),
        ("iam:CreatePolicyVersion", f"arn:aws:iam::{MEMBER}:policy/org-backup/OrgBackupFunctionBoundary"),
    ],
)
def test_member_administrator_cannot_silence_detection_or_stop_backups(
    example: Synthesized, action: str, resource: str
) -> None:
    """Before: forwarding rules, the forwarder role, frameworks, report plans, vault notifications and running backup
    jobs were unprotected. Now the SCP denies them to everyone but the deploy role (or, for the roles the StackSet
    manages, its execution role)."""
    assert not _member_admin(example, action, resource).allowed
    owner = "stacksets-exec-0123456789abcdef" if ("DeployRole" in resource or "policy/" in resource) else None
    principal = role(MEMBER, owner) if owner else role(MEMBER, "OrgBackupDeployRole")
    allowed = decide(principal, action, resource, identity=ADMINISTRATOR_ACCESS,
                     scps=policies.scp_levels(example, MEMBER, MEMBER_OU))  # fmt: skip
    assert allowed.allowed, allowed.reason
    # Their own rules, functions, queues, frameworks and report plans stay theirs (vault-wide denials, like vault
    # notifications and StopBackupJob, protect every vault of the account, as the SCP's first statement always did).
    theirs = re.sub(r"org-backup-[a-z-]+|org_backup[a-z_0-9-]*", "their-own", resource)
    if theirs != resource and not resource.startswith("arn:aws:iam::"):
        assert _member_admin(example, action, theirs).allowed, theirs


# --- Pipeline-account developer with CodeBuild access -----------------------------------------------------------
def test_a_pipeline_account_developer_cannot_start_or_override_org_backup_builds(example: Synthesized) -> None:
    """Before: anyone allowed codebuild:StartBuild on the deploy project could override its buildspec and receive
    deploy credentials. Now only the pipeline's own roles start builds, and nobody overrides a buildspec."""
    scps = policies.scp_levels(example, HOME, None)
    deploy_project = f"arn:aws:codebuild:{REGION}:{HOME}:project/org-backup-deploy"
    developer = role(HOME, "Developer")
    for action in (
        "codebuild:StartBuild",
        "codebuild:RetryBuild",
        "codebuild:StartBuildBatch",
        "codebuild:UpdateProject",
    ):
        assert not decide(developer, action, deploy_project, identity=ADMINISTRATOR_ACCESS, scps=scps).allowed, action
    pipeline = role(HOME, "org-backup-pipeline")
    started = decide(pipeline, "codebuild:StartBuild", deploy_project, identity=ADMINISTRATOR_ACCESS, scps=scps)
    assert started.allowed, started.reason
    overridden = decide(pipeline, "codebuild:StartBuild", deploy_project, identity=ADMINISTRATOR_ACCESS, scps=scps,
                        codebuild__source_DOT_buildspec="version: 0.2")  # fmt: skip
    assert not overridden.allowed
    administrator = role(HOME, "OrgBackupAdministrator")
    assert decide(
        administrator, "codebuild:UpdateProject", deploy_project, identity=ADMINISTRATOR_ACCESS, scps=scps
    ).allowed
    builder_role = f"arn:aws:iam::{HOME}:role/org-backup-deploy"
    assert not decide(
        developer, "iam:UpdateAssumeRolePolicy", builder_role, identity=ADMINISTRATOR_ACCESS, scps=scps
    ).allowed
    other = decide(developer, "codebuild:StartBuild", f"arn:aws:codebuild:{REGION}:{HOME}:project/their-own",
                   identity=ADMINISTRATOR_ACCESS, scps=scps)  # fmt: skip
    assert other.allowed, other.reason


# --- Central-account administrator ------------------------------------------------------------------------------
def test_central_administrator_cannot_destroy_the_central_vault_keys(example: Synthesized) -> None:
    """Before: the central account sat under no SCP (target OUs are member OUs). Now the anti-tampering SCP is
    attached to the central account itself."""
    scps = policies.scp_levels(example, CENTRAL, None)
    aliased = {"kms__ResourceAliases": ["alias/AWSBackupSolutionCentralKey"]}
    for action in ("kms:ScheduleKeyDeletion", "kms:DisableKey"):
        admin = decide(role(CENTRAL, "CentralAdministrator"), action, CENTRAL_KEY, identity=ADMINISTRATOR_ACCESS,
                       scps=scps, **aliased)  # fmt: skip
        assert not admin.allowed, action
        deploy = decide(role(CENTRAL, "OrgBackupDeployRole"), action, CENTRAL_KEY, identity=ADMINISTRATOR_ACCESS,
                        scps=scps, **aliased)  # fmt: skip
        assert deploy.allowed, deploy.reason
    trust = f"arn:aws:iam::{CENTRAL}:role/OrgBackupDeployRole"
    assert not decide(role(CENTRAL, "CentralAdministrator"), "iam:UpdateAssumeRolePolicy", trust,
                      identity=ADMINISTRATOR_ACCESS, scps=scps).allowed  # fmt: skip
    bootstrap = decide(role(CENTRAL, "OrgBackupAdministrator"), "iam:UpdateAssumeRolePolicy", trust,
                       identity=ADMINISTRATOR_ACCESS, scps=scps)  # fmt: skip
    assert bootstrap.allowed, bootstrap.reason  # guardrails.administrators: who runs make bootstrap there


# --- Compromised deploy role ------------------------------------------------------------------------------------
def _deploy(example: Synthesized, action: str, resource: str, **context: Any) -> Decision:
    return decide(role(MEMBER, "OrgBackupDeployRole"), action, resource, identity=policies.member_deploy_role(example),
                  **context)  # fmt: skip


BACKUP_ROLE = f"arn:aws:iam::{MEMBER}:role/AWSBackupSolutionRole"
FUNCTION_ROLE = f"arn:aws:iam::{MEMBER}:role/OrgBackupTagReapplyRole"
BOUNDARY = f"arn:aws:iam::{MEMBER}:policy/org-backup/OrgBackupFunctionBoundary"


def test_deploy_role_cannot_attach_any_policy_but_aws_backups_own(example: Synthesized) -> None:
    """Before: AttachRolePolicy on the workload roles with no iam:PolicyARN condition (attach AdministratorAccess to a
    function's role). Now only AWS Backup's managed policies, and only to the backup role."""
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    backup = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
    assert not _deploy(example, "iam:AttachRolePolicy", BACKUP_ROLE, iam__PolicyARN=admin).allowed
    assert not _deploy(example, "iam:AttachRolePolicy", FUNCTION_ROLE, iam__PolicyARN=backup,
                       iam__PermissionsBoundary=BOUNDARY).allowed  # fmt: skip
    allowed = _deploy(example, "iam:AttachRolePolicy", BACKUP_ROLE, iam__PolicyARN=backup)
    assert allowed.allowed, allowed.reason
    assert not _deploy(example, "iam:PutRolePolicy", BACKUP_ROLE).allowed  # no inline policy on the backup role


def test_deploy_role_cannot_create_or_change_a_function_role_without_the_boundary(example: Synthesized) -> None:
    other = f"arn:aws:iam::{MEMBER}:policy/SomethingBroader"
    for action in (
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePermissionsBoundary",
    ):
        assert not _deploy(example, action, FUNCTION_ROLE).allowed, action
        assert not _deploy(example, action, FUNCTION_ROLE, iam__PermissionsBoundary=other).allowed, action
        bounded = _deploy(example, action, FUNCTION_ROLE, iam__PermissionsBoundary=BOUNDARY)
        assert bounded.allowed, bounded.reason
    removed = _deploy(example, "iam:DeleteRolePermissionsBoundary", FUNCTION_ROLE, iam__PermissionsBoundary=BOUNDARY)
    assert not removed.allowed and "explicit deny" in removed.reason
    assert not _deploy(example, "iam:CreateRole", f"arn:aws:iam::{MEMBER}:role/SomeOtherRole",
                       iam__PermissionsBoundary=BOUNDARY).allowed  # fmt: skip


def test_the_boundary_caps_whatever_a_function_role_is_given(example: Synthesized) -> None:
    """Even a function role given Allow * could do no more than the boundary: no IAM, STS, Lambda, Organizations,
    key administration or instances; the functions' real permissions all fit within it."""
    boundary = policies.function_boundary(example)
    function = role(MEMBER, "OrgBackupTagReapplyRole")
    for action, resource in (
        ("iam:PassRole", f"arn:aws:iam::{MEMBER}:role/Admin"),
        ("iam:AttachRolePolicy", FUNCTION_ROLE),
        ("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/Admin"),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{MEMBER}:function:org-backup-tag-reapply"),
        ("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{MEMBER}:instance/*"),
        ("kms:ScheduleKeyDeletion", MEMBER_KEY),
        ("organizations:LeaveOrganization", "*"),
        ("backup:DeleteRecoveryPoint", f"arn:aws:backup:{REGION}:{MEMBER}:recovery-point:x"),
    ):
        assert not decide(function, action, resource, identity=ADMINISTRATOR_ACCESS, boundary=boundary).allowed, action
    granted = [
        *policies.role_policy(example, f"member-{MEMBER}", "tag-reapply"),
        *policies.role_policy(example, f"member-{MEMBER}", "alert-forwarder"),
        *policies.role_policy(example, "central-backup", "restore-validation"),
    ]
    assert len(granted) >= 3
    for policy in granted:
        for statement in policy.document["Statement"]:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            for action in actions:
                inside = decide(function, action, "*", identity=ADMINISTRATOR_ACCESS, boundary=boundary)
                assert inside.allowed, f"{policy.name}: {action} is outside the boundary"


def test_deploy_role_cannot_assume_a_role_nor_replace_function_code(example: Synthesized) -> None:
    """Before: lambda:UpdateFunctionCode (parliament: EditExistingLambdaFunctionWithRole), and a trust naming the
    deploy role would have sufficed within the account. Now new code replaces the function, and an explicit Deny
    beats any trust."""
    trusting_the_deploy_role = Policy("a trust naming the deploy role", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole"},
        "Action": "sts:AssumeRole"}]})  # fmt: skip
    assumed = _deploy(example, "sts:AssumeRole", FUNCTION_ROLE, resource_policy=trusting_the_deploy_role)
    assert not assumed.allowed and "explicit deny" in assumed.reason
    function = f"arn:aws:lambda:{REGION}:{MEMBER}:function:org-backup-tag-reapply"
    assert not _deploy(example, "lambda:UpdateFunctionCode", function).allowed
    created = _deploy(example, "lambda:CreateFunction", function)
    assert created.allowed, created.reason


def test_management_deploy_role_changes_only_org_backups_policies(policies_in_management: Synthesized) -> None:
    """Before: Update/Delete/Detach/Attach on every SCP and backup policy of the organization, and CreatePolicy of
    any type. Now only policies tagged org-backup=managed (aws:ResourceTag on the policy resource), created only as
    BACKUP_POLICY or SERVICE_CONTROL_POLICY with that tag. (Policies managed from the management account; the
    delegated case is test_policy_admin_*.)"""
    deploy = role(MANAGEMENT, "OrgBackupDeployRole")
    identity = policies.management_deploy_role(policies_in_management)
    ours = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG}/service_control_policy/p-ours1234"
    theirs = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG}/service_control_policy/p-theirs12"
    tagged = {"aws__ResourceTag_SLASH_org-backup": "managed"}
    for action in ("organizations:UpdatePolicy", "organizations:DeletePolicy", "organizations:DetachPolicy",
                   "organizations:AttachPolicy"):  # fmt: skip
        assert decide(deploy, action, ours, identity=identity, **tagged).allowed, action
        assert not decide(deploy, action, theirs, identity=identity).allowed, action
    full_access = "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"
    assert not decide(deploy, "organizations:DetachPolicy", full_access, identity=identity).allowed
    create = {"aws__RequestTag_SLASH_org-backup": "managed"}
    for kind in ("SERVICE_CONTROL_POLICY", "BACKUP_POLICY"):
        assert decide(deploy, "organizations:CreatePolicy", "*", identity=identity, organizations__PolicyType=kind,
                      **create).allowed  # fmt: skip
        assert not decide(deploy, "organizations:CreatePolicy", "*", identity=identity,
                          organizations__PolicyType=kind).allowed  # fmt: skip
    assert not decide(deploy, "organizations:CreatePolicy", "*", identity=identity,
                      organizations__PolicyType="TAG_POLICY", **create).allowed  # fmt: skip
    ou = f"arn:aws:organizations::{MANAGEMENT}:ou/{ORG}/{MEMBER_OU}"
    assert decide(deploy, "organizations:AttachPolicy", ou, identity=identity,
                  organizations__PolicyType="BACKUP_POLICY").allowed  # fmt: skip
    assert not decide(deploy, "organizations:AttachPolicy", ou, identity=identity,
                      organizations__PolicyType="RESOURCE_CONTROL_POLICY").allowed  # fmt: skip


def _delegated(
    example: Synthesized, principal: Principal, action: str, resource: str, identity: list[Policy], **context: Any
) -> Decision:
    """A request from the policy administrator's account (the example's central account) for a resource of the
    management account: the caller's IAM policies and the organization's delegation policy must both allow it (IAM
    User Guide, "Cross-account policy evaluation logic"; Organizations User Guide, "Create a resource-based
    delegation policy": "you must grant roles and users in the delegated administrator account the corresponding IAM
    permissions")."""
    return decide(principal, action, resource, identity=identity, resource_policy=policies.delegation_policy(example),
                  resource_account=MANAGEMENT, **context)  # fmt: skip


def test_policy_admin_deploy_role_changes_only_org_backups_policies_through_the_delegation(
    example: Synthesized,
) -> None:
    """The example delegates policy management to its central account (organization.policy_admin_account_id defaults
    to the backup delegated administrator, 222222222222): its deploy role may do exactly what the management deploy
    role may do when the policies stay there, nobody else in that account or another may."""
    deploy = role(CENTRAL, "OrgBackupDeployRole")
    identity = policies.central_deploy_role(example)
    ours = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG}/service_control_policy/p-ours1234"
    theirs = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG}/service_control_policy/p-theirs12"
    tagged = {"aws__ResourceTag_SLASH_org-backup": "managed"}
    for action in ("organizations:UpdatePolicy", "organizations:DeletePolicy", "organizations:DetachPolicy",
                   "organizations:AttachPolicy"):  # fmt: skip
        allowed = _delegated(example, deploy, action, ours, identity, **tagged)
        assert allowed.allowed, (action, allowed.reason)
        assert not _delegated(example, deploy, action, theirs, identity).allowed, action
    create = {"aws__RequestTag_SLASH_org-backup": "managed"}
    for kind in ("SERVICE_CONTROL_POLICY", "BACKUP_POLICY"):
        assert _delegated(example, deploy, "organizations:CreatePolicy", "*", identity, organizations__PolicyType=kind,
                          **create).allowed  # fmt: skip
    for kind in ("TAG_POLICY", "RESOURCE_CONTROL_POLICY", "AISERVICES_OPT_OUT_POLICY"):  # outside the delegation
        assert not _delegated(example, deploy, "organizations:CreatePolicy", "*", identity,
                              organizations__PolicyType=kind, **create).allowed  # fmt: skip
    ou = f"arn:aws:organizations::{MANAGEMENT}:ou/{ORG}/{MEMBER_OU}"
    assert _delegated(example, deploy, "organizations:AttachPolicy", ou, identity,
                      organizations__PolicyType="BACKUP_POLICY").allowed  # fmt: skip
    root = f"arn:aws:organizations::{MANAGEMENT}:root/{ORG}/r-ab12"
    assert not _delegated(example, deploy, "organizations:AttachPolicy", root, identity,
                          organizations__PolicyType="SERVICE_CONTROL_POLICY").allowed  # fmt: skip
    # The delegation policy alone grants nothing: an administrator of the central account is not the deploy role.
    admin = role(CENTRAL, "Administrator")
    assert not _delegated(example, admin, "organizations:UpdatePolicy", ours, ADMINISTRATOR_ACCESS, **tagged).allowed
    # Nor do the deploy role's IAM statements elsewhere: a member account's deploy role has the same StackSet policy.
    member = role(MEMBER, "OrgBackupDeployRole")
    assert not _delegated(example, member, "organizations:UpdatePolicy", ours, policies.member_deploy_role(example),
                          **tagged).allowed  # fmt: skip


def test_policy_admin_plan_role_reads_the_organization_and_writes_nothing(example: Synthesized) -> None:
    plan = role(CENTRAL, "OrgBackupPlanRole")
    identity = policies.member_plan_role(example)
    ou = f"arn:aws:organizations::{MANAGEMENT}:ou/{ORG}/{MEMBER_OU}"
    read = _delegated(example, plan, "organizations:ListAccountsForParent", ou, identity)
    assert read.allowed, read.reason
    ours = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG}/backup_policy/p-ours1234"
    assert not _delegated(example, plan, "organizations:UpdatePolicy", ours, identity,
                          **{"aws__ResourceTag_SLASH_org-backup": "managed"}).allowed  # fmt: skip


# --- Compromised plan role --------------------------------------------------------------------------------------
def test_the_plan_roles_can_only_read(example: Synthesized) -> None:
    """Every action the plan role holds is of access level Read or List in the Service Authorization Reference
    (parliament's bundled copy of it, an independent source), so stealing plan or pull-request credentials gives
    no write anywhere."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import iam_definition

    access_levels = {
        f"{service['prefix']}:{privilege['privilege']}".lower(): privilege["access_level"]
        for service in iam_definition
        for privilege in service["privileges"]
    }
    levels = {}
    for policy in policies.member_plan_role(example):
        for statement in policy.document["Statement"]:
            for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
                matching = [level for name, level in access_levels.items() if fnmatch.fnmatchcase(name, action.lower())]
                assert matching, f"{action} is not in the Service Authorization Reference"
                levels.update({f"{action} ({n})": level for n, level in enumerate(matching)})
    assert levels and {a: level for a, level in levels.items() if level not in ("Read", "List")} == {}


# --- The document ------------------------------------------------------------------------------------------------
def test_every_row_names_a_test_that_exists() -> None:
    text = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| ---")][1:]
    assert len(rows) >= 6
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", text))
    for row in rows:
        assert re.search(r"`test_[a-z0-9_]+`", row), row
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^def (test_[a-z0-9_]+)\(", path.read_text(encoding="utf-8"), re.MULTILINE)
    }
    assert named - defined == set()


# --- Review findings: further paths, each closed ------------------------------------------------------------------
def test_nobody_starts_the_pipeline_with_another_commit_or_approves_a_deploy_but_the_named(
    example: Synthesized,
) -> None:
    """A pipeline started by hand may be given any commit of any branch (CodePipeline User Guide, "Start a pipeline
    with a source revision override"): only its rules and the administrators start it; only the administrators (and
    deploy_approvers) approve its Approve stage."""
    scps = policies.scp_levels(example, HOME, None)
    pipeline = f"arn:aws:codepipeline:{REGION}:{HOME}:org-backup"
    developer, administrator = role(HOME, "Developer"), role(HOME, "OrgBackupAdministrator")
    for action in (
        "codepipeline:StartPipelineExecution",
        "codepipeline:RetryStageExecution",
        "codepipeline:RollbackStage",
    ):
        assert not decide(developer, action, pipeline, identity=ADMINISTRATOR_ACCESS, scps=scps).allowed, action
    started = decide(role(HOME, "org-backup-events-start-pipeline"), "codepipeline:StartPipelineExecution", pipeline,
                     identity=ADMINISTRATOR_ACCESS, scps=scps)  # fmt: skip
    assert started.allowed, started.reason
    approve = f"{pipeline}/Approve/Approve"
    assert not decide(
        developer, "codepipeline:PutApprovalResult", approve, identity=ADMINISTRATOR_ACCESS, scps=scps
    ).allowed
    assert decide(
        administrator, "codepipeline:PutApprovalResult", approve, identity=ADMINISTRATOR_ACCESS, scps=scps
    ).allowed


def test_nobody_but_administrators_passes_a_pipeline_role_to_something_new(example: Synthesized) -> None:
    """With iam:PassRole a developer could create a project that runs as the deploy builder, a pipeline that runs
    as the pipeline's role, or a function that runs as the approver (IAM User Guide, "Grant a user permissions to
    pass a role to an AWS service")."""
    scps = policies.scp_levels(example, HOME, None)
    for name in ("org-backup-deploy", "org-backup-pipeline", "org-backup-pr-approval"):
        arn = f"arn:aws:iam::{HOME}:role/{name}"
        assert not decide(
            role(HOME, "Developer"), "iam:PassRole", arn, identity=ADMINISTRATOR_ACCESS, scps=scps
        ).allowed
        passed = decide(role(HOME, "OrgBackupAdministrator"), "iam:PassRole", arn, identity=ADMINISTRATOR_ACCESS,
                        scps=scps)  # fmt: skip
        assert passed.allowed, passed.reason


def _bucket_policy(example: Synthesized, stack: str, bucket_name: str) -> Policy:
    buckets = {key: b for key, b in example.resources(stack, "aws_s3_bucket").items() if b["bucket"] == bucket_name}
    (key,) = buckets
    (policy,) = (
        p
        for p in example.resources(stack, "aws_s3_bucket_policy").values()
        if p["bucket"] == f"${{aws_s3_bucket.{key}.id}}"
    )
    return Policy(f"bucket policy of {bucket_name}", json.loads(policy["policy"]))


def test_only_the_pipeline_writes_its_artifacts_and_state(example: Synthesized) -> None:
    """An account user with S3 and KMS permissions could otherwise swap the source or plans between Plan and Deploy,
    or a stack's state: the buckets' policies deny object writes to all but their writers."""
    artifacts = f"org-backup-pipeline-{HOME}-{REGION}"
    policy = _bucket_policy(example, "pipeline", artifacts)
    key = f"arn:aws:s3:::{artifacts}/org-backup/plans/x.zip"
    denied = decide(role(HOME, "PowerUser"), "s3:PutObject", key, identity=ADMINISTRATOR_ACCESS, resource_policy=policy,
                    resource_account=HOME)  # fmt: skip
    assert not denied.allowed and "explicit deny" in denied.reason
    written = decide(role(HOME, "org-backup-plan"), "s3:PutObject", key, identity=policies.builder(example, "plan"),
                     resource_policy=policy, resource_account=HOME)  # fmt: skip
    assert written.allowed, written.reason
    state_bucket = f"org-backup-tfstate-{HOME}-{REGION}"
    state = _bucket_policy(example, "bootstrap-home", state_bucket)
    object_ = f"arn:aws:s3:::{state_bucket}/org-backup/member-{MEMBER}.tfstate"
    assert not decide(role(HOME, "PowerUser"), "s3:PutObject", object_, identity=ADMINISTRATOR_ACCESS,
                      resource_policy=state, resource_account=HOME).allowed  # fmt: skip
    deploy = decide(role(HOME, "org-backup-deploy"), "s3:PutObject", object_, identity=policies.builder(example, "deploy"),
                    resource_policy=state, resource_account=HOME)  # fmt: skip
    assert deploy.allowed, deploy.reason
    assert not decide(role(HOME, "PowerUser"), "s3:PutBucketPolicy", f"arn:aws:s3:::{state_bucket}",
                      identity=ADMINISTRATOR_ACCESS, resource_policy=state, resource_account=HOME).allowed  # fmt: skip


def test_management_deploy_role_tags_only_as_it_creates_and_attaches_nothing_to_the_root(
    policies_in_management: Synthesized,
) -> None:
    """CreatePolicy with tags needs organizations:TagResource too (Organizations API reference, CreatePolicy)."""
    deploy = role(MANAGEMENT, "OrgBackupDeployRole")
    identity = policies.management_deploy_role(policies_in_management)
    new = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG}/service_control_policy/p-new12345"
    tagging = decide(deploy, "organizations:TagResource", new, identity=identity,
                     **{"aws__RequestTag_SLASH_org-backup": "managed", "aws__TagKeys": ["org-backup", "owner"]})  # fmt: skip
    assert tagging.allowed, tagging.reason
    assert not decide(deploy, "organizations:TagResource", new, identity=identity, aws__TagKeys=["owner"]).allowed
    root = f"arn:aws:organizations::{MANAGEMENT}:root/{ORG}/r-ab12"
    assert not decide(deploy, "organizations:AttachPolicy", root, identity=identity,
                      organizations__PolicyType="SERVICE_CONTROL_POLICY").allowed  # fmt: skip


def test_deploy_role_adds_no_layer_to_a_function(example: Synthesized) -> None:
    """A layer is code: UpdateFunctionConfiguration with Layers would run code of the deploy role's choosing."""
    function = f"arn:aws:lambda:{REGION}:{MEMBER}:function:org-backup-tag-reapply"
    layer = f"arn:aws:lambda:{REGION}:999999999999:layer:anything:1"
    assert not _deploy(example, "lambda:UpdateFunctionConfiguration", function, lambda__Layer=[layer]).allowed
    assert _deploy(example, "lambda:UpdateFunctionConfiguration", function).allowed


def test_member_administrator_cannot_disable_the_keys_or_topic_that_carry_detection(example: Synthesized) -> None:
    for alias in ("alias/org-backup/alerts", "alias/org-backup/operations", "alias/org-backup/reports"):
        denied = _member_admin(example, "kms:DisableKey", MEMBER_KEY, kms__ResourceAliases=[alias])
        assert not denied.allowed, alias
    subscription = f"arn:aws:sns:{REGION}:{MEMBER}:org-backup-job-failures:0f5d5a3b-1e2c-4f7a-9a1e-0123456789ab"
    assert not _member_admin(example, "sns:Unsubscribe", subscription).allowed
    assert not _member_admin(
        example, "sns:RemovePermission", f"arn:aws:sns:{REGION}:{MEMBER}:org-backup-job-failures"
    ).allowed
