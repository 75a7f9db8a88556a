"""The anti-tampering SCP, as rendered from the config, decided by ``org_backup.iam.evaluator`` (AWS's SCP evaluation: an
Allow at every level, any Deny wins; FullAWSAccess at each level as AWS attaches it by default): a member account's
administrator can neither create a role that one of its exemptions trusts, nor re-trust or re-permission the roles
org-backup relies on, while the principals that manage those roles still can. tests/test_threat_model.py covers the
keys, aliases, detection resources and the other guardrails over the synthesized stacks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from org_backup.config.loader import load_config
from org_backup.iam.evaluator import Decision, Policy, Principal, Request, evaluate
from org_backup.iam.guardrails import ROLE_WRITE_ACTIONS, render_scps
from tests.conftest import EXAMPLE_CONFIG
from tests.synthesized_policies import FULL_AWS_ACCESS

MEMBER = "444444444444"
ANYTHING = [Policy("AdministratorAccess", {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})]  # fmt: skip


@pytest.fixture(scope="module")
def tampering() -> Policy:
    config = load_config(EXAMPLE_CONFIG)
    (scp,) = (s for s in render_scps(config) if s.name == "org-backup-deny-backup-tampering")
    return Policy(f"SCP {scp.name}", json.loads(scp.content))


def _principal(name: str) -> Principal:
    return Principal(f"arn:aws:iam::{MEMBER}:role/{name}", session_name="s")


def _decide(tampering: Policy, principal: str, action: str, resource: str, **context: Any) -> Decision:
    """A member account of a target OU: FullAWSAccess at the root, the OU (with the SCP) and the account."""
    levels = [[FULL_AWS_ACCESS], [FULL_AWS_ACCESS, tampering], [FULL_AWS_ACCESS]]
    request = Request(_principal(principal), action, resource, context)
    return evaluate(request, identity_policies=ANYTHING, scps=levels)


def test_no_role_an_exemption_trusts_can_be_created_by_a_member_administrator(tampering: Policy) -> None:
    """The exemptions name the deploy role, the StackSet's execution role (stacksets-exec-*) and the guardrails'
    administrators, whose ARNs are in the home and central accounts, never a member account's."""
    for squatted in ("OrgBackupDeployRole", "stacksets-exec-mine"):
        arn = f"arn:aws:iam::{MEMBER}:role/{squatted}"
        decision = _decide(tampering, "MemberAdministrator", "iam:CreateRole", arn)
        assert not decision.allowed, f"a member administrator could create {arn}"
    named = [
        s.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn", [])
        for s in tampering.document["Statement"]
    ]
    exempted = {principal for value in named for principal in ([value] if isinstance(value, str) else value)}
    assert {p.split(":")[4] for p in exempted} == {"*", "333333333333", "222222222222"}


@pytest.mark.parametrize(
    "role",
    [
        "OrgBackupDeployRole",
        "OrgBackupPlanRole",
        "AWSBackupSolutionRole",
        "OrgBackupTagReapplyRole",
        "org-backup-alert-forwarder",
        "org-backup-restore-validation",
    ],
)
def test_a_member_administrator_cannot_retrust_or_repermission_org_backup_roles(tampering: Policy, role: str) -> None:
    arn = f"arn:aws:iam::{MEMBER}:role/{role}"
    allowed = [a for a in ROLE_WRITE_ACTIONS if _decide(tampering, "MemberAdministrator", a, arn).allowed]
    assert allowed == []


def test_the_principals_that_manage_those_roles_still_can(tampering: Policy) -> None:
    """The StackSet's execution role manages the deploy and plan roles; the deploy role manages the backup and
    function roles; nobody's unrelated roles are touched; the deploy role cannot change itself."""
    stackset = "stacksets-exec-0123456789abcdef"
    for action in ROLE_WRITE_ACTIONS:
        for managed in ("OrgBackupDeployRole", "OrgBackupPlanRole"):
            assert _decide(tampering, stackset, action, f"arn:aws:iam::{MEMBER}:role/{managed}").allowed
        assert _decide(
            tampering, "OrgBackupDeployRole", action, f"arn:aws:iam::{MEMBER}:role/AWSBackupSolutionRole"
        ).allowed
        assert _decide(tampering, "MemberAdministrator", action, f"arn:aws:iam::{MEMBER}:role/SomeWorkloadRole").allowed
    deploy = f"arn:aws:iam::{MEMBER}:role/OrgBackupDeployRole"
    assert not _decide(tampering, "OrgBackupDeployRole", "iam:UpdateAssumeRolePolicy", deploy).allowed


def test_region_settings_the_scp_reserves_to_the_deploy_role_are_what_the_deploy_role_may_do(
    tampering: Policy,
) -> None:
    """The member stacks manage aws_backup_region_settings: the deploy role can, a member administrator cannot."""
    from org_backup.iam import deploy_roles

    config = load_config(EXAMPLE_CONFIG)
    assert not _decide(tampering, "MemberAdministrator", "backup:UpdateRegionSettings", "*").allowed
    assert _decide(tampering, "OrgBackupDeployRole", "backup:UpdateRegionSettings", "*").allowed
    granted = {
        f"{name}:{action}"
        for name, document in (
            ("DeployRole", deploy_roles.accounts_policy(config)),
            ("PlanRole", deploy_roles.plan_policy(config)),
        )
        for statement in document["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if "RegionSettings" in action
    }
    assert granted == {
        "DeployRole:backup:DescribeRegionSettings",
        "DeployRole:backup:UpdateRegionSettings",
        "PlanRole:backup:DescribeRegionSettings",
    }


# The copy restriction SCPs, decided as AWS decides multivalued keys (backup:CopyTargets and
# backup:CopyTargetOrgPaths are ArrayOfARN / ArrayOfString in the Service Authorization Reference, AWS Backup):
# IAM/reference_policies_condition-logic-multiple-context-keys-or-values.html, a negated operator's values are "NOR";
# IAM/reference_policies_condition-single-vs-multi-valued-context-keys.html, ForAnyValue is true when at least one
# request value satisfies the operator and false when the key is missing; ..._elements_condition_operators.html, Null
# "true" holds when the key is absent. A Deny with ForAllValues:...NotLike would not deny a request whose values mix
# an allowed and a forbidden target (IAM/reference_policies_condition_examples-multi-valued-context-keys.html: for
# ForAllValues:StringNotLike "key1*", aws:TagKeys key1:hr and key1:personnel is "no match"; every value must fail to
# match): a plan copying to the central vault and to a vault of one's own would pass. Hence ForAnyValue, and a Null
# statement for a request without the key (which ForAllValues used to deny, and ForAnyValue alone would not).
ORGANIZATION_ID = "o-a1b2c3d4e5"
RECOVERY_POINT = f"arn:aws:backup:eu-west-1:{MEMBER}:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"


def _copy_scp(mode: str) -> Policy:
    config = load_config(EXAMPLE_CONFIG)
    guardrails = config.guardrails.model_copy(
        update={"copy_restriction": config.guardrails.copy_restriction.model_copy(update={"mode": mode})}
    )
    config = config.model_copy(
        update={
            "guardrails": guardrails,
            "organization": config.organization.model_copy(update={"id": ORGANIZATION_ID}),
        }
    )
    (scp,) = (s for s in render_scps(config) if "deny-copy" in s.name)
    return Policy(f"SCP {scp.name}", json.loads(scp.content))


def _copy(scp: Policy, **context: Any) -> Decision:
    levels = [[FULL_AWS_ACCESS], [FULL_AWS_ACCESS, scp], [FULL_AWS_ACCESS]]
    request = Request(_principal("AWSBackupSolutionRole"), "backup:CopyFromBackupVault", RECOVERY_POINT, context)
    return evaluate(request, identity_policies=ANYTHING, scps=levels)


CENTRAL = "arn:aws:backup:eu-west-1:222222222222:backup-vault:AWSBackupSolutionCentralVault"
OWN = f"arn:aws:backup:eu-west-1:{MEMBER}:backup-vault:Elsewhere"


INSIDE, OUTSIDE = f"{ORGANIZATION_ID}/r-ab12/ou-ab12-11111111/", "o-zzzzzzzzzz/r-zz99/"


@pytest.mark.parametrize(
    ("mode", "key", "values", "allowed"),
    [
        ("central_vault", "backup:CopyTargets", [CENTRAL], True),
        ("central_vault", "backup:CopyTargets", [OWN], False),
        ("central_vault", "backup:CopyTargets", [CENTRAL, OWN], False),  # the mixed request ForAllValues let through
        ("central_vault", "backup:CopyTargets", None, False),  # no key in the request
        ("organization", "backup:CopyTargetOrgPaths", [INSIDE], True),
        ("organization", "backup:CopyTargetOrgPaths", [OUTSIDE], False),
        ("organization", "backup:CopyTargetOrgPaths", [INSIDE, OUTSIDE], False),
        ("organization", "backup:CopyTargetOrgPaths", None, False),
    ],
)
def test_a_copy_restriction_denies_a_copy_with_any_target_outside_and_one_naming_none(
    mode: str, key: str, values: list[str] | None, allowed: bool
) -> None:
    context = {} if values is None else {key: values}
    assert _copy(_copy_scp(mode), **context).allowed is allowed
