"""org-backup's access to AWS Organizations' policies: the identity-policy statements that manage its backup
policies and SCPs, and the organization's resource-based delegation policy that lets the policy administrator's
deploy role use them from a member account (``organization.policy_admin_account_id``), so that the pipeline never
assumes a role in the management account (AWS Organizations User Guide, "Delegated administrator for AWS
Organizations"; "Best practices for the management account": use it only for tasks that require it).
"""

from __future__ import annotations

from typing import Any

from org_backup.config.model import BackupConfig
from org_backup.config.naming import MANAGED_POLICY_TAG, Naming
from org_backup.config.templates import render_template

ORGANIZATION_POLICY_TYPES = ("BACKUP_POLICY", "SERVICE_CONTROL_POLICY")  # the only types org-backup writes


def organization_arns(config: BackupConfig) -> dict[str, list[str]]:
    """AWS Organizations resources of this organization only: the policy types org-backup writes, and targets. They
    name the management account, whichever account calls (Service Authorization Reference, AWS Organizations,
    resource types)."""
    organizations = f"arn:{config.partition}:organizations::{config.organization.management_account_id}"
    org = config.organization.id
    return {
        "organization_policy_arns": [
            f"{organizations}:policy/{org}/backup_policy/*",
            f"{organizations}:policy/{org}/service_control_policy/*",
        ],
        "organization_target_arns": [f"{organizations}:root/{org}/*", f"{organizations}:ou/{org}/*"],
        "organization_ou_arns": [f"{organizations}:ou/{org}/*"],
        "organization_account_arns": [f"{organizations}:account/{org}/*"],
    }


def organization_policies(config: BackupConfig) -> list[dict[str, Any]]:
    """What managing org-backup's AWS Organizations policies takes, as identity-policy statements.

    It creates only BACKUP_POLICY and SERVICE_CONTROL_POLICY policies, and only tagged as org-backup's
    (``organizations:PolicyType``, ``aws:RequestTag``), and updates, attaches, detaches, tags and deletes only policies
    that carry that tag (``aws:ResourceTag`` on the policy resource; Service Authorization Reference, AWS
    Organizations: resource type ``policy``, condition key ``aws:ResourceTag/${TagKey}``; "How AWS Organizations works
    with IAM": ABAC supported). Others' SCPs and backup policies, FullAWSAccess included, are out of its reach.
    """
    arns = organization_arns(config)
    key, value = MANAGED_POLICY_TAG
    statements: list[dict[str, Any]] = render_template(
        "iam/organization-policies.json",
        organization_policy_arns=arns["organization_policy_arns"],
        # OUs and accounts, never the root: org-backup attaches nothing there, so neither can a compromised role.
        organization_target_arns=arns["organization_ou_arns"] + arns["organization_account_arns"],
        organization_read_arns=arns["organization_policy_arns"]
        + arns["organization_target_arns"]
        + arns["organization_account_arns"],
        create_condition={f"aws:RequestTag/{key}": value, "organizations:PolicyType": list(ORGANIZATION_POLICY_TYPES)},
        # CreatePolicy with tags also needs organizations:TagResource (Organizations API reference, CreatePolicy:
        # "If the request includes tags, then the requester must have the organizations:TagResource permission"):
        # allowed only for requests that carry the managed tag, and only the tags org-backup writes.
        managed_request_tag={f"aws:RequestTag/{key}": value},
        managed_tag_keys=sorted({key, *config.tags}),
        policy_types=list(ORGANIZATION_POLICY_TYPES),
        managed_resource_tag={f"aws:ResourceTag/{key}": value},
    )["Statement"]
    return statements


def policy_admin_statements(config: BackupConfig) -> list[dict[str, Any]]:
    """``organization_policies`` for the deploy role in the policy administrator's account only.

    Every member account's deploy role has the same policy (one StackSet template); ``aws:PrincipalAccount`` ("the
    account to which the requesting principal belongs", IAM User Guide, global condition keys) keeps these
    statements to the one account the delegation policy names. Without the delegation policy they would grant
    nothing anyway: Organizations' resources are the management account's, and a cross-account request needs the
    resource's policy too (IAM User Guide, "Cross-account policy evaluation logic").
    """
    account = config.policy_admin_account_id
    scoped = []
    for statement in organization_policies(config):
        condition = {op: dict(keys) for op, keys in statement.get("Condition", {}).items()}
        condition.setdefault("StringEquals", {})["aws:PrincipalAccount"] = account
        scoped.append({**statement, "Sid": f"PolicyAdmin{statement['Sid']}", "Condition": condition})
    return scoped


def delegation_policy(config: BackupConfig) -> dict[str, Any]:
    """The organization's resource-based delegation policy: the policy administrator's deploy role may create,
    change, tag, attach, detach and delete org-backup's backup policies and SCPs, as its IAM policy says
    (``organization_policies``); its deploy and plan roles may read the organization (Describe*, List*, as AWS's
    "View organization, OUs, accounts, and policies" example delegates). Nobody else in that account may do anything.

    The principal is the account, narrowed by ``aws:PrincipalArn`` to the roles, as AWS's examples name the account
    ("Resource-based policy examples for AWS Organizations"): the condition holds for a role that does not exist yet
    (the StackSet creates it in the same bootstrap) and survives its re-creation (IAM User Guide, "Principal").
    Management account only: "You can call this operation only from the organization's management account"
    (Organizations API reference, PutResourcePolicy).
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs-policy-delegate.html
    """
    naming = Naming(config)
    account = config.policy_admin_account_id
    principal = {"AWS": naming.account_root_arn(account)}
    deploy_role = naming.role_arn(account, config.names.deploy_role)
    plan_role = naming.role_arn(account, config.names.plan_role)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "PolicyAdminRolesReadTheOrganization",
            "Effect": "Allow",
            "Principal": principal,
            "Action": ["organizations:Describe*", "organizations:List*"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": [deploy_role, plan_role]}},
        }
    ]
    for statement in organization_policies(config):
        if all(a.startswith(("organizations:Describe", "organizations:List")) for a in _actions(statement)):
            continue  # the read statement covers it
        statements.append(
            {
                **statement,
                "Sid": f"DeployRole{statement['Sid']}",
                "Principal": principal,
                "Condition": {**statement.get("Condition", {}), "ArnEquals": {"aws:PrincipalArn": deploy_role}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)
