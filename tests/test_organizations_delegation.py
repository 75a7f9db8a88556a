"""The test server's AWS Organizations delegation (tests/rehearsal/moto_organizations.py and moto_authz.py), with IAM
enforced, against a real delegation policy written by others: the reference solution's
(tests/fixtures/delegation/reference-solution.json), put by the management account for the example's central account.

What each expectation rests on:
- "From the management account, create a resource-based delegation policy for your organization ... Additionally,
  you must grant roles and users in the delegated administrator account the corresponding IAM permissions to the
  required actions" (Organizations User Guide, "Create a resource-based delegation policy"): a delegated call needs
  the delegation policy and the caller's own IAM policy, as any request for another account's resource
  (IAM User Guide, "Cross-account policy evaluation logic").
- PutResourcePolicy: "You can call this operation only from the organization's management account" (API reference).
- DescribeOrganization: "This operation can be called from any account in the organization" (API reference).
- The policy's statements: CreatePolicy only with organizations:PolicyType BACKUP_POLICY; Attach/DetachPolicy on
  roots, OUs, accounts and backup policies only for that type; reads by Describe* and List*; nothing for another
  account (its principal is the delegated account).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.conftest import EXAMPLE_CONFIG, FIXTURES
from tests.rehearsal.harness import _set_auth
from tests.rehearsal.moto import MotoServer, seed_organization, session, session_in

pytestmark = pytest.mark.server
DENIED = "AccessDeniedException"  # what a JSON-protocol service answers a refused request (IAM, "Troubleshoot access denied")

BACKUP_CONTENT = json.dumps({"plans": {}})
SCP_CONTENT = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "backup:DeleteBackupVault", "Resource": "*"}]}
)
EVERYTHING_IN_ORGANIZATIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "organizations:*", "Resource": "*"}],
}
ONLY_READS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["organizations:Describe*", "organizations:List*"], "Resource": "*"}],
}


def _role_session(endpoint: str, account: str, name: str, policy: dict[str, Any]) -> Any:
    """A role in ``account`` with ``policy`` as its only permissions, and a session as that role (taken while IAM
    is not enforced, as CodeBuild would hand a build its role's credentials)."""
    iam = session_in(endpoint, account).client("iam", endpoint_url=endpoint, region_name="us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="permissions", PolicyDocument=json.dumps(policy))
    return session_in(endpoint, account, role_name=name)


@pytest.fixture(scope="module")
def organization(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("delegation")
    moto = MotoServer(workdir / "moto.log")
    try:
        config = seed_organization(moto.url, yaml.safe_load(EXAMPLE_CONFIG.read_text()), EXAMPLE_CONFIG.parent)
        management = config["organization"]["management_account_id"]
        delegated = config["central_backup"]["account_id"]
        other = config["target_ous"][0]["accounts"][0]
        iam = session_in(moto.url, management).client("iam", endpoint_url=moto.url, region_name="us-east-1")
        iam.create_user(UserName="admin")
        iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        admin = session(moto.url, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        sessions = {
            "admin": admin,
            "delegated": _role_session(moto.url, delegated, "policy-admin", EVERYTHING_IN_ORGANIZATIONS),
            "reader": _role_session(moto.url, delegated, "reader", ONLY_READS),
            "other": _role_session(moto.url, other, "policy-admin", EVERYTHING_IN_ORGANIZATIONS),
        }
        policy = (FIXTURES / "delegation" / "reference-solution.json").read_text()
        policy = policy.replace("MANAGEMENT_ACCOUNT", management).replace("DELEGATED_ACCOUNT", delegated)
        _set_auth(moto.url, "0")
        yield {
            "url": moto.url,
            "config": config,
            "policy": policy,
            "clients": {
                k: s.client("organizations", endpoint_url=moto.url, region_name="us-east-1")
                for k, s in sessions.items()
            },
        }
    finally:
        moto.stop()


def _refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_without_a_delegation_policy_a_member_account_can_describe_its_organization_and_nothing_else(
    organization: dict[str, Any],
) -> None:
    clients = organization["clients"]
    organization_id = organization["config"]["organization"]["id"]
    assert clients["delegated"].describe_organization()["Organization"]["Id"] == organization_id
    assert _refused(clients["delegated"].list_policies, Filter="BACKUP_POLICY") == DENIED
    assert (
        _refused(
            clients["delegated"].create_policy, Name="x", Description="x", Type="BACKUP_POLICY", Content=BACKUP_CONTENT
        )
        == DENIED
    )


def test_only_the_management_account_puts_the_delegation_policy(organization: dict[str, Any]) -> None:
    clients = organization["clients"]
    assert _refused(clients["delegated"].put_resource_policy, Content=organization["policy"]) == DENIED
    put = clients["admin"].put_resource_policy(Content=organization["policy"])["ResourcePolicy"]
    management = organization["config"]["organization"]["management_account_id"]
    organization_id = organization["config"]["organization"]["id"]
    summary = put["ResourcePolicySummary"]
    assert summary["Arn"] == f"arn:aws:organizations::{management}:resourcepolicy/{organization_id}/{summary['Id']}"
    described = clients["delegated"].describe_resource_policy()["ResourcePolicy"]
    assert json.loads(described["Content"]) == json.loads(organization["policy"])


def test_the_delegated_account_manages_backup_policies_and_no_other_type(organization: dict[str, Any]) -> None:
    clients = organization["clients"]
    clients["admin"].put_resource_policy(Content=organization["policy"])
    delegated = clients["delegated"]
    ou = organization["config"]["target_ous"][0]["id"]

    created = delegated.create_policy(Name="daily", Description="d", Type="BACKUP_POLICY", Content=BACKUP_CONTENT)
    policy_id = created["Policy"]["PolicySummary"]["Id"]
    delegated.attach_policy(PolicyId=policy_id, TargetId=ou)
    assert [p["Id"] for p in delegated.list_policies_for_target(TargetId=ou, Filter="BACKUP_POLICY")["Policies"]] == [
        policy_id
    ]
    delegated.update_policy(PolicyId=policy_id, Description="nightly")
    # The negative control: a policy type outside the delegation.
    assert (
        _refused(
            delegated.create_policy, Name="scp", Description="s", Type="SERVICE_CONTROL_POLICY", Content=SCP_CONTENT
        )
        == DENIED
    )
    scp = clients["admin"].create_policy(
        Name="scp", Description="s", Type="SERVICE_CONTROL_POLICY", Content=SCP_CONTENT
    )
    scp_id = scp["Policy"]["PolicySummary"]["Id"]
    assert _refused(delegated.attach_policy, PolicyId=scp_id, TargetId=ou) == DENIED
    assert _refused(delegated.delete_policy, PolicyId=scp_id) == DENIED
    delegated.detach_policy(PolicyId=policy_id, TargetId=ou)
    delegated.delete_policy(PolicyId=policy_id)


def test_a_delegated_call_needs_the_callers_own_permission_and_the_delegated_account(
    organization: dict[str, Any],
) -> None:
    clients = organization["clients"]
    clients["admin"].put_resource_policy(Content=organization["policy"])
    args = {"Name": "x", "Description": "x", "Type": "BACKUP_POLICY", "Content": BACKUP_CONTENT}
    assert clients["reader"].list_policies(Filter="BACKUP_POLICY")["Policies"] == []  # reads: both allow
    assert _refused(clients["reader"].create_policy, **args) == DENIED  # its own policy does not
    assert _refused(clients["other"].create_policy, **args) == DENIED  # the delegation names another account


def test_deleting_the_delegation_policy_ends_the_delegation(organization: dict[str, Any]) -> None:
    clients = organization["clients"]
    clients["admin"].put_resource_policy(Content=organization["policy"])
    clients["admin"].delete_resource_policy()
    assert _refused(clients["admin"].describe_resource_policy) == "ResourcePolicyNotFoundException"
    assert _refused(clients["delegated"].describe_resource_policy) == DENIED  # no longer a delegated administrator
    args = {"Name": "y", "Description": "y", "Type": "BACKUP_POLICY", "Content": BACKUP_CONTENT}
    assert _refused(clients["delegated"].create_policy, **args) == DENIED
