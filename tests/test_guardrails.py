"""The anti-tampering SCP, evaluated statement by statement as AWS evaluates a Deny (Action, Resource and every
condition must match; IAM User Guide, policy evaluation logic): a member account's administrator can neither
create a role that one of its exemptions trusts, nor re-trust or re-permission the roles org-backup relies on."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from org_backup.config_loader import load_config
from org_backup.guardrails import render_scps
from tests.conftest import EXAMPLE_CONFIG

MEMBER = "444444444444"
ADMIN = f"arn:aws:iam::{MEMBER}:role/MemberAdministrator"
ROLE_WRITES = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
)


@pytest.fixture(scope="module")
def tampering() -> list[dict[str, Any]]:
    config = load_config(EXAMPLE_CONFIG)
    (scp,) = (s for s in render_scps(config) if s.name == "org-backup-deny-backup-tampering")
    return json.loads(scp.content)["Statement"]


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _like(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in _as_list(patterns))


def _denied(statements: list[dict[str, Any]], principal: str, action: str, resource: str) -> list[str]:
    """The Sids of the Deny statements that apply to this request (only the condition operators the SCP uses)."""
    applying = []
    for statement in statements:
        assert statement["Effect"] == "Deny"
        if not _like(statement["Action"], action) or not _like(statement["Resource"], resource):
            continue
        conditions = statement.get("Condition", {})
        assert set(conditions) <= {"ArnNotLike", "ForAnyValue:StringEquals"}, conditions
        if "ForAnyValue:StringEquals" in conditions:  # KMS aliases: not an IAM request
            continue
        exempt = conditions.get("ArnNotLike", {}).get("aws:PrincipalArn")
        if exempt is None or not _like(exempt, principal):
            applying.append(statement["Sid"])
    return applying


def _exempted_principals(statements: list[dict[str, Any]]) -> set[str]:
    return {
        arn
        for s in statements
        for arn in _as_list(s.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn", []))
    }


def test_no_role_an_exemption_trusts_can_be_created_by_a_member_administrator(
    tampering: list[dict[str, Any]],
) -> None:
    exempted = _exempted_principals(tampering)
    assert exempted == {
        "arn:aws:iam::*:role/OrgBackupDeployRole",
        "arn:aws:iam::*:role/stacksets-exec-*",
    }
    for pattern in exempted:
        squatted = pattern.replace("*:", f"{MEMBER}:").replace("stacksets-exec-*", "stacksets-exec-mine")
        assert _like(pattern, squatted)
        assert _denied(tampering, ADMIN, "iam:CreateRole", squatted), f"{ADMIN} could create {squatted}"


@pytest.mark.parametrize(
    "role", ["OrgBackupDeployRole", "OrgBackupPlanRole", "AWSBackupSolutionRole", "OrgBackupTagReapplyRole"]
)
def test_a_member_administrator_cannot_retrust_or_repermission_org_backup_roles(
    tampering: list[dict[str, Any]], role: str
) -> None:
    arn = f"arn:aws:iam::{MEMBER}:role/{role}"
    assert [a for a in ROLE_WRITES if not _denied(tampering, ADMIN, a, arn)] == []


def test_the_principals_that_manage_those_roles_still_can(tampering: list[dict[str, Any]]) -> None:
    """The StackSet's execution role manages the deploy and plan roles; the deploy role manages the backup and
    tag re-application roles; nobody's unrelated roles are touched."""
    stackset = f"arn:aws:iam::{MEMBER}:role/stacksets-exec-0123456789abcdef"
    deploy = f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole"
    for action in ROLE_WRITES:
        assert _denied(tampering, stackset, action, f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole") == []
        assert _denied(tampering, stackset, action, f"arn:aws:iam::{MEMBER}:role/OrgBackupPlanRole") == []
        assert _denied(tampering, deploy, action, f"arn:aws:iam::{MEMBER}:role/AWSBackupSolutionRole") == []
        assert _denied(tampering, ADMIN, action, f"arn:aws:iam::{MEMBER}:role/SomeWorkloadRole") == []
    # The deploy role cannot change itself (nor could an attacker holding it widen its own trust).
    assert _denied(tampering, deploy, "iam:UpdateAssumeRolePolicy", deploy)


def test_region_settings_the_scp_reserves_to_the_deploy_role_are_what_the_deploy_role_may_do(
    tampering: list[dict[str, Any]],
) -> None:
    """The member stacks manage aws_backup_region_settings: the deploy role can, a member administrator cannot."""
    from org_backup import deploy_roles

    config = load_config(EXAMPLE_CONFIG)
    deploy = f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole"
    assert _denied(tampering, ADMIN, "backup:UpdateRegionSettings", "*")
    assert _denied(tampering, deploy, "backup:UpdateRegionSettings", "*") == []
    template = json.loads(deploy_roles.stackset_template(config))["Resources"]
    granted = {
        f"{role}:{action}"
        for role in ("DeployRole", "PlanRole")
        for statement in template[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        for action in _as_list(statement["Action"])
        if "RegionSettings" in action
    }
    assert granted == {
        "DeployRole:backup:DescribeRegionSettings",
        "DeployRole:backup:UpdateRegionSettings",
        "PlanRole:backup:DescribeRegionSettings",
    }
