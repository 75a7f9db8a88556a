"""The roles the pipeline assumes in every account, as documents: permissions, trust and the CloudFormation
template of the StackSet that puts them into every account of the target OUs (new ones included).

Two roles per account: the deploy role (trusted only by the pipeline's deploy builder) with the permissions the
stacks need and no more, and a read-only plan role (trusted only by the plan builder) for the Plan stage and pull
requests, so code from an unmerged branch never holds write credentials. Resource ARNs use a wildcard account and
Region: the same template serves every account, and an identity policy only reaches its own account's resources.
"""

from __future__ import annotations

from typing import Any

from org_backup.config import BackupConfig
from org_backup.naming import (
    DEPLOY_ROLES_STACKSET,
    ENROLMENT_FORWARDER_ROLE,
    ENROLMENT_RULE,
    TAG_REAPPLY_DLQ,
    TAG_REAPPLY_FUNCTION,
    TAG_REAPPLY_LOG_GROUP,
    TAG_REAPPLY_RULE,
    Naming,
)
from org_backup.policy_docs import dumps, render_template


def accounts_policy(config: BackupConfig) -> dict[str, Any]:
    """Permissions of the deploy role in member and central accounts."""
    p = config.partition
    names = config.names
    aliases = (names.member_key_alias, names.central_key_alias, names.operations_key_alias)
    return render_template(
        "iam/deploy-role-accounts.json",
        partition=p,
        vault_arns=[f"arn:{p}:backup:*:*:backup-vault:{v}" for v in (names.member_vault, names.central_vault)],
        alias_and_key_arns=[f"arn:{p}:kms:*:*:{a}" for a in aliases] + [f"arn:{p}:kms:*:*:key/*"],
        role_arns=[f"arn:{p}:iam::*:role/{r}" for r in (names.backup_role, names.tag_reapply_role)],
        tag_reapply_role_arn=f"arn:{p}:iam::*:role/{names.tag_reapply_role}",
        function_arn=f"arn:{p}:lambda:*:*:function:{TAG_REAPPLY_FUNCTION}",
        rule_arn=f"arn:{p}:events:*:*:rule/{TAG_REAPPLY_RULE}",
        queue_arn=f"arn:{p}:sqs:*:*:{TAG_REAPPLY_DLQ}",
        log_group_arns=[
            f"arn:{p}:logs:*:*:log-group:{TAG_REAPPLY_LOG_GROUP}",
            f"arn:{p}:logs:*:*:log-group:{TAG_REAPPLY_LOG_GROUP}:*",
        ],
    )


def management_policy(config: BackupConfig) -> dict[str, Any]:
    """Permissions of the deploy role in the management account (the management stack)."""
    p = config.partition
    return render_template(
        "iam/deploy-role-management.json",
        stackset_arns=[
            f"arn:{p}:cloudformation:*:*:stackset/{DEPLOY_ROLES_STACKSET}:*",
            f"arn:{p}:cloudformation:*:*:stackset-target/{DEPLOY_ROLES_STACKSET}:*",
        ],
        enrolment_rule_arn=f"arn:{p}:events:*:*:rule/{ENROLMENT_RULE}",
        forwarder_role_arn=f"arn:{p}:iam::*:role/{ENROLMENT_FORWARDER_ROLE}",
    )


def plan_policy() -> dict[str, Any]:
    return render_template("iam/plan-role.json")


def trust(config: BackupConfig, builder: str) -> dict[str, Any]:
    return render_template("iam/codebuild-trust.json", builder_role_arn=Naming(config).builder_role_arn(builder))


def stackset_template(config: BackupConfig) -> str:
    """CloudFormation template (JSON) creating the deploy and plan roles in an account."""
    names = config.names
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "org-backup: the roles its pipeline assumes to deploy (write) and plan (read-only)",
        "Resources": {
            "DeployRole": _role(
                names.deploy_role, trust(config, "deploy"), "org-backup-deploy", accounts_policy(config)
            ),
            "PlanRole": _role(names.plan_role, trust(config, "plan"), "org-backup-plan", plan_policy()),
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
