"""The roles the pipeline assumes in every account, as documents: permissions, trust and the CloudFormation
template of the StackSet that puts them into every account of the target OUs (new ones included).

Two roles per account: the deploy role (trusted only by the pipeline's deploy builder, or with the pipeline off by
the other CI system's ``pipeline.deployers``) with the permissions the stacks need and no more, and a read-only plan
role (trusted only by the plan and pull-request builders, or the deployers, and ``pipeline.plan_readers``) for the
Plan stage and pull requests, so code from an unmerged branch never holds write credentials. Resource ARNs use a
wildcard account and Region: the same template serves every account, and an identity policy only reaches its own
account's resources.

The deploy role cannot make itself (or anyone) more than it is: every role it creates or changes must carry one of
two permissions boundaries, which only the StackSet and bootstrap create (``iam:PermissionsBoundary`` on CreateRole,
PutRolePolicy, ...; IAM User Guide, "Permissions boundaries for IAM entities" and its delegation example); it may
attach only AWS Backup's own managed policies (``iam:PolicyARN``), never remove a boundary, and never assume a role
(an explicit Deny: a trust policy naming it would otherwise suffice within one account). Its functions' code is
replaced by creating the function anew, never by ``lambda:UpdateFunctionCode`` (stacks/event_function.py).
"""

from __future__ import annotations

from typing import Any

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    ALERT_ALARM_FORWARD_RULE,
    ALERT_ALARM_PREFIX,
    ALERT_BUS,
    ALERT_DLQ,
    ALERT_FORWARD_DLQ,
    ALERT_FORWARD_RULE,
    ALERT_FORWARDER_ROLE,
    ALERT_RULE_PREFIX,
    ALERT_TOPIC,
    BACKUP_MANAGED_POLICIES,
    BOUNDARIES,
    BOUNDARY_TEMPLATES,
    EBS_INDEXING_POLICY,
    ENROLMENT_FORWARDER_ROLE,
    ENROLMENT_RULE,
    FRAMEWORK_NAME,
    POLICY_PATH,
    REPORT_PLAN_PREFIX,
    REPORTS_SERVICE_ROLE_PATH,
    RESTORE_TEST_PLAN,
    RESTORE_TESTING_SERVICE_ROLE_PATH,
    RESTORE_VALIDATION_DLQ,
    RESTORE_VALIDATION_FUNCTION,
    RESTORE_VALIDATION_ROLE,
    RESTORE_VALIDATION_RULE,
    TAG_REAPPLY_DLQ,
    TAG_REAPPLY_FUNCTION,
    TAG_REAPPLY_LOG_GROUP,
    TAG_REAPPLY_RULE,
    Naming,
    key_aliases,
    reports_bucket,
)
from org_backup.config.templates import dumps, render_template
from org_backup.iam import organization_access


def _arns(config: BackupConfig) -> dict[str, Any]:
    """The resources org-backup manages, as IAM Resource values: one set for the deploy and plan roles."""
    p = config.partition
    names = config.names
    return {
        "vault_arns": [
            f"arn:{p}:backup:*:*:backup-vault:{v}"
            for v in (
                names.member_vault,
                names.central_vault,
                *((names.air_gapped_vault,) if config.central_backup.air_gapped is not None else ()),
            )
        ],
        "role_arns": [
            f"arn:{p}:iam::*:role/{r}"
            for r in (names.backup_role, names.tag_reapply_role, ALERT_FORWARDER_ROLE, RESTORE_VALIDATION_ROLE)
        ],
        "resource_share_arns": f"arn:{p}:ram:*:*:resource-share/*",
        "function_role_arns": [f"arn:{p}:iam::*:role/{r}" for r in (names.tag_reapply_role, RESTORE_VALIDATION_ROLE)],
        "bounded_function_role_arns": [
            f"arn:{p}:iam::*:role/{r}" for r in (names.tag_reapply_role, RESTORE_VALIDATION_ROLE, ALERT_FORWARDER_ROLE)
        ],
        "function_arns": [
            f"arn:{p}:lambda:*:*:function:{f}" for f in (TAG_REAPPLY_FUNCTION, RESTORE_VALIDATION_FUNCTION)
        ],
        "rule_arns": [
            f"arn:{p}:events:*:*:rule/{TAG_REAPPLY_RULE}",
            f"arn:{p}:events:*:*:rule/{ALERT_FORWARD_RULE}",
            f"arn:{p}:events:*:*:rule/{ALERT_BUS}/{ALERT_RULE_PREFIX}*",
            f"arn:{p}:events:*:*:rule/{RESTORE_VALIDATION_RULE}",
            f"arn:{p}:events:*:*:rule/{ALERT_ALARM_FORWARD_RULE}",
        ],
        "alarm_arns": f"arn:{p}:cloudwatch:*:*:alarm:{ALERT_ALARM_PREFIX}*",
        "queue_arns": [
            f"arn:{p}:sqs:*:*:{q}" for q in (TAG_REAPPLY_DLQ, ALERT_FORWARD_DLQ, ALERT_DLQ, RESTORE_VALIDATION_DLQ)
        ],
        "alert_bus_arn": f"arn:{p}:events:*:*:event-bus/{ALERT_BUS}",
        "alert_topic_arn": f"arn:{p}:sns:*:*:{ALERT_TOPIC}",
        "restore_testing_plan_arn": f"arn:{p}:backup:*:*:restore-testing-plan:{RESTORE_TEST_PLAN}-*",
        "framework_arn": f"arn:{p}:backup:*:*:framework:{FRAMEWORK_NAME}-*",
        "report_plan_arn": f"arn:{p}:backup:*:*:report-plan:{REPORT_PLAN_PREFIX}*",
        "reports_bucket_arn": f"arn:{p}:s3:::{reports_bucket('*', '*')}",
        "log_group_arns": [
            arn
            for group in (TAG_REAPPLY_LOG_GROUP, f"/aws/lambda/{RESTORE_VALIDATION_FUNCTION}")
            for arn in (f"arn:{p}:logs:*:*:log-group:{group}", f"arn:{p}:logs:*:*:log-group:{group}:*")
        ],
        "enrolment_rule_arn": f"arn:{p}:events:*:*:rule/{ENROLMENT_RULE}",
        "forwarder_role_arn": f"arn:{p}:iam::*:role/{ENROLMENT_FORWARDER_ROLE}",
        **organization_access.organization_arns(config),
    }


# What creating a restore testing plan and its selections needs beyond backup:*Restore* on the plan, in the
# restore-testing account only and only while restore testing is on:
# - iam:PassRole of the backup role with iam:PassedToService restore-testing.backup.amazonaws.com: the Service
#   Authorization Reference, AWS Backup, "API operations": CreateRestoreTestingSelection and
#   UpdateRestoreTestingSelection need "iam:PassRole / Condition key: iam:PassedToService / Possible value(s):
#   restore-testing.backup.amazonaws.com" (https://docs.aws.amazon.com/service-authorization/latest/reference/
#   list_awsbackup.html); nothing else org-backup deploys passes the backup role.
# - iam:CreateServiceLinkedRole of AWSServiceRoleForBackupRestoreTesting: "When you create a restore testing plan,
#   we create a service-linked role for you" (AWS Backup, "Restore testing"), which "trusts ... restore-testing.
#   backup.amazonaws.com" and needs the creator to be allowed ("You must configure permissions to allow an IAM
#   entity ... to create ... a service-linked role": "Using roles for restore testing", https://docs.aws.amazon.com/
#   aws-backup/latest/devguide/using-service-linked-roles-AWSServiceRoleForBackupRestoreTesting.html); AWS added the
#   same service name to AWSBackupFullAccess's IamCreateServiceLinkedRolePermissions "for AWS Backup to conduct restore
#   tests" (AWS Backup, "AWS managed policies for AWS Backup", policy updates, November 27, 2023:
#   https://docs.aws.amazon.com/aws-backup/latest/devguide/security-iam-awsmanpol.html).
RESTORE_TESTING_STATEMENTS = ("PassTheBackupRoleToRestoreTestingOnly", "RestoreTestingServiceLinkedRole")


def accounts_policy(config: BackupConfig) -> dict[str, Any]:
    """Permissions of the deploy role in member and central accounts."""
    arns = _arns(config)
    names = config.names
    p = config.partition
    naming = Naming(config)
    restore_account = config.restore_testing_account_id
    policy = render_template(
        "iam/deploy-role-accounts.json",
        vault_arns=arns["vault_arns"],
        alias_arns=[f"arn:{p}:kms:*:*:{a}" for a in key_aliases(config)],
        key_tag_keys=sorted(config.tags),
        # The tags a key is created with, exactly (provider default_tags): IAM's kms:TagResource has to name no key
        # to cover tags given to CreateKey, so what it may write is pinned by the request's tags instead.
        key_request_tags={f"aws:RequestTag/{k}": v for k, v in sorted(config.tags.items())},
        resource_share_arns=arns["resource_share_arns"],
        role_arns=arns["role_arns"],
        function_role_arns=arns["function_role_arns"],
        bounded_function_role_arns=arns["bounded_function_role_arns"],
        backup_role_arn=f"arn:{p}:iam::*:role/{names.backup_role}",
        function_boundary_arn=naming.boundary_arn("*", "functions"),
        backup_managed_policy_arns=[
            f"arn:{p}:iam::aws:policy/{name}" for name in (*BACKUP_MANAGED_POLICIES, EBS_INDEXING_POLICY)
        ],
        monitoring_account_id=config.monitoring_account_id,
        monitoring_region=config.monitoring_region,
        function_arns=arns["function_arns"],
        restore_testing_plan_arn=arns["restore_testing_plan_arn"],
        framework_arn=arns["framework_arn"],
        report_plan_arn=arns["report_plan_arn"],
        reports_bucket_arn=arns["reports_bucket_arn"],
        reports_service_role_arn=f"arn:{p}:iam::*:role/{REPORTS_SERVICE_ROLE_PATH}",
        # Restore testing, in its one account: the StackSet gives every account the same policy, so the account is
        # in the ARN (an identity policy reaches only its own account's IAM roles).
        restore_testing_backup_role_arn=naming.role_arn(restore_account, names.backup_role),
        restore_testing_service_role_arn=f"arn:{p}:iam::{restore_account}:role/{RESTORE_TESTING_SERVICE_ROLE_PATH}",
        rule_arns=arns["rule_arns"],
        alarm_arns=arns["alarm_arns"],
        alert_forwarder_role_arn=f"arn:{p}:iam::*:role/{ALERT_FORWARDER_ROLE}",
        alert_bus_arn=arns["alert_bus_arn"],
        alert_topic_arn=arns["alert_topic_arn"],
        queue_arns=arns["queue_arns"],
        log_group_arns=arns["log_group_arns"],
    )
    if config.policies_delegated:
        policy["Statement"] += organization_access.policy_admin_statements(config)
    dropped: set[str] = set()
    if not config.tags:  # no tags: keys are created without any, and IAM rejects a condition with no values
        dropped.add("TagKeysOnCreation")
    if not config.restore_testing.active:  # the role passes the backup role only to restore testing
        dropped |= set(RESTORE_TESTING_STATEMENTS)
    policy["Statement"] = [st for st in policy["Statement"] if st["Sid"] not in dropped]
    return policy


def key_policy(template: str, config: BackupConfig, account_id: str, **values: Any) -> dict[str, Any]:
    """A key policy template plus the statement that lets this account's deploy role manage and use the key.

    Key administration is granted here, on the keys org-backup creates, not in the deploy role's IAM policy: an IAM
    grant on ``key/*`` would reach every key in the account whose policy delegates to IAM (the default). The IAM
    policy keeps only what precedes a key: CreateKey, and TagResource limited to the configured tag keys (KMS checks
    tagging at creation against IAM, on no particular key:
    https://docs.aws.amazon.com/kms/latest/developerguide/tag-permissions.html).
    """
    document = render_template(template, **values)
    deploy_role_arn = Naming(config).role_arn(account_id, config.names.deploy_role)
    document["Statement"] += render_template("kms/deploy-role-on-key.json", deploy_role_arn=deploy_role_arn)[
        "Statement"
    ]
    return document


MAX_MANAGED_POLICY_CHARS = 6_144
MAX_MANAGED_POLICIES_PER_ROLE = 10


def management_policy(config: BackupConfig) -> dict[str, Any]:
    """Permissions of the deploy role in the management account, which exists only while the policies are managed
    there (``config.policies_delegated`` false): org-backup's Organizations policies, and what the management
    stack holds then (global settings, the delegated administrator, RAM sharing, the enrolment rule)."""
    arns = _arns(config)
    document = render_template(
        "iam/deploy-role-management.json",
        organization_account_arns=arns["organization_account_arns"],
        enrolment_rule_arn=arns["enrolment_rule_arn"],
        forwarder_role_arn=arns["forwarder_role_arn"],
        function_boundary_arn=Naming(config).boundary_arn("*", "functions"),
        partition=config.partition,
    )
    document["Statement"] = organization_access.organization_policies(config) + document["Statement"]
    return document


def plan_policy(config: BackupConfig) -> dict[str, Any]:
    """Read-only: what Terraform's refresh and `discover` read of the resources the deploy roles manage."""
    arns = _arns(config)
    return render_template(
        "iam/plan-role.json",
        partition=config.partition,
        vault_arns=arns["vault_arns"],
        resource_share_arns=arns["resource_share_arns"],
        role_arns=arns["role_arns"] + [arns["forwarder_role_arn"]],
        function_arns=arns["function_arns"],
        restore_testing_plan_arn=arns["restore_testing_plan_arn"],
        framework_arn=arns["framework_arn"],
        report_plan_arn=arns["report_plan_arn"],
        reports_bucket_arn=arns["reports_bucket_arn"],
        rule_arns=[*arns["rule_arns"], arns["enrolment_rule_arn"]],
        alarm_arns=arns["alarm_arns"],
        queue_arns=arns["queue_arns"],
        alert_bus_arn=arns["alert_bus_arn"],
        alert_topic_arn=arns["alert_topic_arn"],
        log_group_arns=arns["log_group_arns"],
        organization_arns=arns["organization_policy_arns"]
        + arns["organization_target_arns"]
        + arns["organization_account_arns"],
    )


def trust(config: BackupConfig, *builders: str) -> dict[str, Any]:
    """Only the pipeline's ``builders`` may assume: the home account as principal, narrowed to each builder role's
    ARN, one statement per builder (so each statement names exactly one role: policy_lint's rule).

    Not the role as principal: IAM rejects a trust policy naming a role that does not exist yet ("Invalid principal
    in policy"), and the builder roles are created by the pipeline stack, after the deploy and plan roles that
    trust them. An account principal with an ``aws:PrincipalArn`` condition is accepted before the role exists
    and, unlike a role principal (stored as its unique id), keeps working if the role is recreated.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
    """
    naming = Naming(config)
    statements = []
    for builder in builders:
        (statement,) = render_template(
            "iam/codebuild-trust.json",
            home_account_root_arn=naming.account_root_arn(config.pipeline.home_account_id),
            builder_role_arn=naming.builder_role_arn(builder),
        )["Statement"]
        statements.append({**statement, "Sid": f"{statement['Sid']}{builder.title().replace('-', '')}"})
    return {"Version": "2012-10-17", "Statement": statements}


def _named_roles(config: BackupConfig, sid: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """One statement per configured role: its account as principal narrowed to the role's ARN, as ``trust`` does
    for the builders (and for the same reasons: accepted before the role exists, survives its re-creation)."""
    naming = Naming(config)
    return [
        {
            "Sid": f"{sid}{index}",
            "Effect": "Allow",
            "Principal": {"AWS": naming.account_root_arn(role.split(":")[4])},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": role}},
        }
        for index, role in enumerate(roles, start=1)
    ]


def deploy_trust(config: BackupConfig) -> dict[str, Any]:
    """The deploy roles: the pipeline's deploy builder, or (``pipeline.enabled: false``) exactly the other CI
    system's ``pipeline.deployers``."""
    if config.pipeline.enabled:
        return trust(config, "deploy")
    return {"Version": "2012-10-17", "Statement": _named_roles(config, "Deployer", config.pipeline.deployers)}


def plan_trust(config: BackupConfig) -> dict[str, Any]:
    """The plan roles: the Plan stage's builder and the pull-request builder (read-only, both) or, with the pipeline
    off, the deployers (``make deploy`` follows ``make plan``); and the people of ``pipeline.plan_readers``."""
    pipeline = config.pipeline
    statements: list[dict[str, Any]] = (
        trust(config, "plan", "pull-request")["Statement"]
        if pipeline.enabled
        else _named_roles(config, "Deployer", pipeline.deployers)
    )
    return {
        "Version": "2012-10-17",
        "Statement": statements + _named_roles(config, "PlanReader", pipeline.plan_readers),
    }


def boundary_policy(kind: str) -> dict[str, Any]:
    """One of the two workload permissions boundaries (naming.BOUNDARIES)."""
    return render_template(BOUNDARY_TEMPLATES[kind])


def stackset_template(config: BackupConfig) -> str:
    """CloudFormation template (JSON) creating the deploy and plan roles in an account."""
    names = config.names
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "org-backup: the roles its pipeline assumes to deploy (write) and plan (read-only)",
        "Resources": {
            **_role_with_managed_policies(
                "DeployRole", names.deploy_role, deploy_trust(config), accounts_policy(config)
            ),
            "PlanRole": _role(names.plan_role, plan_trust(config), "org-backup-plan", plan_policy(config)),
            **{
                f"{kind.title().replace('-', '')}Boundary": {
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {
                        "ManagedPolicyName": name,
                        "Path": POLICY_PATH,
                        "Description": f"org-backup: the most a {kind} role the deploy role manages may do",
                        "PolicyDocument": boundary_policy(kind),
                    },
                }
                for kind, name in BOUNDARIES.items()
            },
        },
    }
    return dumps(template)


def _role(name: str, trust_policy: dict[str, Any], policy_name: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": trust_policy,
            "Policies": [{"PolicyName": policy_name, "PolicyDocument": policy}],
        },
    }


def _role_with_managed_policies(
    logical_id: str, name: str, trust_policy: dict[str, Any], policy: dict[str, Any]
) -> dict[str, Any]:
    """A role whose permissions are customer managed policies (split_policy), created beside it."""
    documents = split_policy(policy)
    resources: dict[str, Any] = {
        f"{logical_id}Policy{index}": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"ManagedPolicyName": f"{name}-{index}", "Path": POLICY_PATH, "PolicyDocument": document},
        }
        for index, document in enumerate(documents, start=1)
    }
    resources[logical_id] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": trust_policy,
            "ManagedPolicyArns": [{"Ref": key} for key in resources],
        },
    }
    return resources


def split_policy(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of ``policy``, in order, packed into as few documents as fit IAM's size of a managed policy.

    A role's inline policies may total 10,240 characters, a managed policy 6,144, and a role may have 10 managed
    policies attached (IAM User Guide, "IAM and AWS STS quotas"; white space is not counted, and dumps() writes
    none). The deploy role's permissions outgrew the inline limit, so they are managed policies.
    """
    documents: list[dict[str, Any]] = []
    for statement in policy["Statement"]:
        if documents and len(dumps({**documents[-1], "Statement": [*documents[-1]["Statement"], statement]})) <= (
            MAX_MANAGED_POLICY_CHARS
        ):
            documents[-1]["Statement"].append(statement)
            continue
        document = {"Version": policy["Version"], "Statement": [statement]}
        if len(dumps(document)) > MAX_MANAGED_POLICY_CHARS:
            raise ValueError(f"statement {statement.get('Sid')} alone exceeds {MAX_MANAGED_POLICY_CHARS} characters")
        documents.append(document)
    if len(documents) > MAX_MANAGED_POLICIES_PER_ROLE:
        raise ValueError(f"{len(documents)} managed policies exceed IAM's {MAX_MANAGED_POLICIES_PER_ROLE} per role")
    return documents


def state_writers(config: BackupConfig) -> list[str]:
    """Who writes Terraform state and deploy records: the pipeline's deploy builder, or the deployers without it
    (``make plan`` reads state with the same principal, which the bucket's account-only key policy allows)."""
    if config.pipeline.enabled:
        return [Naming(config).builder_role_arn("deploy")]
    return list(config.pipeline.deployers)


def writers_only(config: BackupConfig, bucket_arn: str, writers: list[str]) -> list[dict[str, Any]]:
    """Bucket policy statements: only ``writers`` (and guardrails.administrators) put or delete objects, and, when
    administrators are named, only they change the bucket's policy. Without them, anyone in the account with S3
    and KMS permissions could swap a pipeline artifact between Plan and Deploy, or a stack's state."""
    administrators = list(config.guardrails.administrators)
    statements: list[dict[str, Any]] = render_template(
        "s3/writers-only.json", bucket_arn=bucket_arn, writers=[*writers, *administrators]
    )["Statement"]
    if administrators:
        statements += render_template(
            "s3/administrators-own-the-policy.json", bucket_arn=bucket_arn, administrators=administrators
        )["Statement"]
    return statements
