"""The rehearsal's negative controls: one broken permission of each kind AWS checks, each of which must make a real
Terraform apply (or plan) fail with a refusal naming what is missing. They prove the test server
(tests/rehearsal/moto_authz.py) enforces that kind of rule: a control that passed would mean the rehearsal's success
proves nothing about it.

Each control changes one thing with IAM enforcement paused (the test's own hand, not a principal under test),
runs Terraform as the deploy builder with enforcement on, and puts everything back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tests.rehearsal.moto import session_in

if TYPE_CHECKING:
    from tests.rehearsal.harness import Rehearsal, RehearsalJob

Change = Callable[[dict[str, Any]], bool]  # edits a policy document in place; True when it changed something
SCP_NAME = "org-backup-rehearsal-deny-vaults"


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return actions if isinstance(actions, list) else [actions]


def without_pass_role(document: dict[str, Any]) -> bool:
    kept = [s for s in document["Statement"] if "iam:PassRole" not in _actions(s) or s["Effect"] != "Allow"]
    changed = len(kept) != len(document["Statement"])
    document["Statement"] = kept or [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]
    return changed


def vaults_named_wrong(document: dict[str, Any]) -> bool:
    changed = False
    for statement in document["Statement"]:
        if "backup:CreateBackupVault" in _actions(statement) and statement["Effect"] == "Allow":
            statement["Resource"] = ["arn:aws:backup:*:*:backup-vault:not-the-vault"]
            changed = True
    return changed


def without_create_key(document: dict[str, Any]) -> bool:
    changed = False
    for statement in document["Statement"]:
        if "kms:CreateKey" in _actions(statement):
            statement["Action"] = [a for a in _actions(statement) if a != "kms:CreateKey"] or ["kms:ListAliases"]
            changed = True
    return changed


def create_policy_in_no_region(document: dict[str, Any]) -> bool:
    """A condition that never holds: Organizations calls go to us-east-1 (IAM/reference_policies_condition-keys.html
    aws:RequestedRegion: "for global services ... us-east-1"); no Region is called xx-nowhere-1."""
    changed = False
    for statement in document["Statement"]:
        if "organizations:CreatePolicy" in _actions(statement) and statement["Effect"] == "Allow":
            statement.setdefault("Condition", {}).setdefault("StringEquals", {})["aws:RequestedRegion"] = "xx-nowhere-1"
            changed = True
    return changed


@contextmanager
def role_policies_changed(endpoint: str, account: str, role: str, change: Change) -> Iterator[None]:
    """Every customer managed policy of ``role`` that ``change`` edits gets the edit as its new default version;
    the original versions are the defaults again afterwards."""
    iam = session_in(endpoint, account, "rehearsal-control").client(
        "iam", endpoint_url=endpoint, region_name="us-east-1"
    )
    swapped = []
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        if ":aws:policy/" in arn:
            continue
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        edited = copy.deepcopy(document)
        if change(edited):
            new = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(edited), SetAsDefault=True)
            swapped.append((arn, version, new["PolicyVersion"]["VersionId"]))
    if not swapped:
        raise RuntimeError(f"negative control: {change.__name__} changes no policy of {role} in {account}")
    try:
        yield
    finally:
        for arn, version, new_version in swapped:
            iam.set_default_policy_version(PolicyArn=arn, VersionId=version)
            iam.delete_policy_version(PolicyArn=arn, VersionId=new_version)


@contextmanager
def key_policy_without(endpoint: str, key_arn: str, principal: str) -> Iterator[None]:
    """The key's policy without the statements naming ``principal``; the original policy back afterwards."""
    account, region = key_arn.split(":")[4], key_arn.split(":")[3]
    kms = session_in(endpoint, account, "rehearsal-control").client("kms", endpoint_url=endpoint, region_name=region)
    original = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    document = json.loads(original)
    kept = [s for s in document["Statement"] if principal not in json.dumps(s.get("Principal", ""))]
    if len(kept) == len(document["Statement"]):
        raise RuntimeError(f"negative control: the policy of {key_arn} names no {principal}")
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps({**document, "Statement": kept}))
    try:
        yield
    finally:
        kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=original)


@contextmanager
def scp_denying(endpoint: str, management: str, target: str, action: str) -> Iterator[None]:
    """An SCP denying ``action``, attached to the account ``target``; detached and deleted afterwards."""
    org = session_in(endpoint, management, "rehearsal-control").client(
        "organizations", endpoint_url=endpoint, region_name="us-east-1"
    )
    content = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": action, "Resource": "*"}]}
    policy = org.create_policy(
        Name=SCP_NAME, Description="rehearsal negative control", Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps(content),
    )["Policy"]["PolicySummary"]["Id"]  # fmt: skip
    org.attach_policy(PolicyId=policy, TargetId=target)
    try:
        yield
    finally:
        org.detach_policy(PolicyId=policy, TargetId=target)
        org.delete_policy(PolicyId=policy)


def first_resource(result: Rehearsal, stack: str, resource_type: str) -> str:
    synthesized = json.loads((result.repo / "cdktf.out" / "stacks" / stack / "cdk.tf.json").read_text())
    return f"{resource_type}.{sorted(synthesized['resource'][resource_type])[0]}"


def targeted_apply(job: RehearsalJob, result: Rehearsal, stack: str, env: dict[str, str], target: str) -> str:
    done = job._terraform(
        result, stack, env, "apply", "-input=false", "-no-color", "-auto-approve", "-lock=false", f"-target={target}"
    )
    return f"exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
