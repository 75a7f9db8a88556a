"""The policies of a synthesized organization as ``org_backup.iam.evaluator`` takes them: identity policies of each role,
trust policies, SCPs by what they are attached to, and the SCP levels that govern an account. Read from the
synthesized JSON only, so what the evaluator judges is exactly what Terraform would apply."""

from __future__ import annotations

import json
import re
from typing import Any

from org_backup.iam.evaluator import Policy
from tests.conftest import Synthesized

# AWS attaches FullAWSAccess to the root, every OU and every account by default (AWS Organizations User Guide,
# "Service control policies (SCPs)": "Attaching FullAWSAccess", the policy being Allow * on *).
FULL_AWS_ACCESS = Policy(
    "SCP FullAWSAccess", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def _parsed(value: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(value)
    return document


def stackset_template(out: Synthesized) -> dict[str, Any]:
    (stack_set,) = out.resources("bootstrap-management", "aws_cloudformation_stack_set").values()
    return _parsed(stack_set["template_body"])


def member_deploy_role(out: Synthesized) -> list[Policy]:
    """The deploy role of a target-OU account: the StackSet's managed policies attached to it."""
    template = stackset_template(out)
    return [
        Policy(
            f"OrgBackupDeployRole policy {ref['Ref']}",
            template["Resources"][ref["Ref"]]["Properties"]["PolicyDocument"],
        )
        for ref in template["Resources"]["DeployRole"]["Properties"]["ManagedPolicyArns"]
    ]


def member_role_trust(out: Synthesized, logical_id: str) -> Policy:
    template = stackset_template(out)
    return Policy(f"trust of {logical_id}", template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"])


def member_plan_role(out: Synthesized) -> list[Policy]:
    (inline,) = stackset_template(out)["Resources"]["PlanRole"]["Properties"]["Policies"]
    return [Policy("OrgBackupPlanRole inline policy", inline["PolicyDocument"])]


def function_boundary(out: Synthesized) -> Policy:
    template = stackset_template(out)
    return Policy(
        "OrgBackupFunctionBoundary", template["Resources"]["FunctionsBoundary"]["Properties"]["PolicyDocument"]
    )


def management_deploy_role(out: Synthesized) -> list[Policy]:
    return [
        Policy(f"{p['name']} (management)", _parsed(p["policy"]))
        for p in out.resources("bootstrap-management", "aws_iam_policy").values()
        if re.fullmatch(r".+-\d+", p["name"])
    ]


def central_deploy_role(out: Synthesized) -> list[Policy]:
    """The central account's deploy role, from bootstrap-central (the example's central account is no member)."""
    return [
        Policy(f"{p['name']} (central)", _parsed(p["policy"]))
        for p in out.resources("bootstrap-central", "aws_iam_policy").values()
        if re.fullmatch(r".+-\d+", p["name"])
    ]


def delegation_policy(out: Synthesized) -> Policy:
    """The organization's resource-based delegation policy, which bootstrap-management puts."""
    (found,) = out.resources("bootstrap-management", "aws_organizations_resource_policy").values()
    return Policy("the delegation policy", _parsed(found["content"]))


def builder(out: Synthesized, kind: str) -> list[Policy]:
    """A pipeline builder role's inline policy (builder-<kind>-policy)."""
    return [
        Policy(f"org-backup-{kind} inline policy", _parsed(p["policy"]))
        for p in out.resources("pipeline", "aws_iam_role_policy").values()
        if p["name"] == f"builder-{kind}-policy"
    ]


def role_policy(out: Synthesized, stack: str, name_part: str) -> list[Policy]:
    """Inline role policies of a stack whose name contains ``name_part`` (e.g. the tag function's per Region)."""
    return [
        Policy(f"{p['name']} inline policy", _parsed(p["policy"]))
        for p in out.resources(stack, "aws_iam_role_policy").values()
        if name_part in p["name"]
    ]


def scps_attached_to(out: Synthesized, target: str) -> list[Policy]:
    """The org-backup SCPs the management stack attaches to ``target`` (an OU or account id)."""
    policies = out.resources("management", "aws_organizations_policy")
    attached = [
        a["policy_id"].removeprefix("${aws_organizations_policy.").removesuffix(".id}")
        for a in out.resources("management", "aws_organizations_policy_attachment").values()
        if a["target_id"] == target
    ]
    return [Policy(f"SCP {policies[key]['name']}", _parsed(policies[key]["content"])) for key in attached]


def scp_levels(out: Synthesized, account: str, ou: str | None) -> list[list[Policy]]:
    """What governs ``account``: the root, its OU (when it is in one directly under the root), the account itself;
    FullAWSAccess at each level, and org-backup's SCPs where the management stack attaches them."""
    levels = [[FULL_AWS_ACCESS]]
    if ou is not None:
        levels.append([FULL_AWS_ACCESS, *scps_attached_to(out, ou)])
    levels.append([FULL_AWS_ACCESS, *scps_attached_to(out, account)])
    return levels
