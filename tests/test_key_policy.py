"""Table tests of org_backup.iam.key_policy: whether a source key's policy lets the destination account's AWS Backup copy
use the key, as org_backup.iam.evaluator decides it. Each row's policy is AWS's documented example (cited beside it,
account ids changed to SOURCE and DESTINATION), and its expectation is what that page says the policy does."""

from __future__ import annotations

from typing import Any

import pytest

from org_backup.iam.key_policy import (
    BACKUP_SERVICE_LINKED_ROLE,
    EBS_SNAPSHOT_KEY_ACTIONS,
    SHARED_KEY_ACTIONS,
    copy_requests,
    shared_key_actions,
    shares_with,
)

KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/"
IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
SOURCE, DESTINATION, ORG = "111122223333", "444455556666", "o-a1b2c3d4e5"
KEY = f"arn:aws:kms:eu-west-1:{SOURCE}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EVERY = sorted(shared_key_actions("EBS"))  # the rows copy EBS snapshots
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]

# KMS key-policy-default.html, "Allows access to the AWS account and enables IAM policies".
OWNER = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
# KMS key-policy-modifying-external-accounts.html, "Creating KMS keys that other accounts can use": the two statements
# the console adds for an external account (the second one "only when the request comes from an AWS service").
EXTERNAL_USE = {
    "Sid": "Allow use of the key",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{DESTINATION}:root"},
    "Action": USE,
    "Resource": "*",
}
EXTERNAL_GRANTS = {
    "Sid": "Allow attachment of persistent resources",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{DESTINATION}:root"},
    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
    "Resource": "*",
    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
}
# Amazon EBS User Guide, share-kms-key.html: "kms:DescribeKey, kms:CreateGrant, kms:GenerateDataKey,
# kms:GenerateDataKeyWithoutPlaintext, kms:ReEncrypt, kms:Decrypt" (ReEncrypt as "kms:ReEncrypt*": KMS API_ReEncrypt.html).
COPY = ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def _org(org_id: str) -> dict[str, Any]:
    # IAM reference_policies_condition-keys.html#condition-keys-principalorgid: Principal "*" with StringEquals
    # aws:PrincipalOrgID lets in "only principals from the listed organization".
    return {
        "Sid": "Organization",
        "Effect": "Allow",
        "Principal": "*",
        "Action": COPY,
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
    }


def _deny_outside(org_id: str) -> dict[str, Any]:
    return {
        "Sid": "DenyOutsideTheOrganization",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": org_id}},
    }


def _missing(*statements: dict[str, Any], kind: str = "EBS") -> dict[str, str]:
    policy = {"Version": "2012-10-17", "Statement": [OWNER, *statements]}
    return shares_with(policy, key_arn=KEY, account=DESTINATION, organization_id=ORG, resource_kind=kind)


ROLE = f"arn:aws:iam::{DESTINATION}:role/{BACKUP_SERVICE_LINKED_ROLE}"
TABLE: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    # KMS key-policy-modifying-external-accounts.html: with both console statements the external account may use the
    # key and let AWS services create grants on it; KMS conditions-kms.html#conditions-kms-grant-is-for-aws-resource.
    ("console-external-account", [EXTERNAL_USE, EXTERNAL_GRANTS], []),
    # The same page: "Neither the key policy nor the IAM policy alone is sufficient"; KMS key-policy-default.html: the
    # owner statement "allows the account to use IAM policies", the account that owns the key only.
    ("source-root-only", [], EVERY),
    # KMS conditions-kms.html: the condition "doesn't allow the user to call these grant operations directly", so a grant
    # statement that requires it to be false never matches an AWS service's call.
    (
        "grant-not-for-aws-resource",
        [EXTERNAL_USE, {**EXTERNAL_GRANTS, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}}}],
        ["kms:CreateGrant"],
    ),
    # KMS key-policy-modifying-external-accounts.html: the use statement alone gives no kms:CreateGrant.
    ("use-without-grants", [EXTERNAL_USE], ["kms:CreateGrant"]),
    # IAM reference_policies_evaluation-logic_policy-eval-denyallow.html: "an explicit deny in any of these policies
    # overrides the allow"; IAM reference_policies_elements_principal.html: the account principal stands for all of it.
    (
        "deny-the-account",
        [
            EXTERNAL_USE,
            EXTERNAL_GRANTS,
            {"Effect": "Deny", "Principal": {"AWS": DESTINATION}, "Action": "kms:*", "Resource": "*"},
        ],
        EVERY,
    ),
    # IAM reference_policies_elements_principal.html: the account may be named by its id as well as its root ARN, and a
    # role ARN names that role only, so a Deny of another role of the account leaves the copy's role allowed.
    (
        "account-id",
        [{**EXTERNAL_USE, "Principal": {"AWS": DESTINATION}}, {**EXTERNAL_GRANTS, "Principal": {"AWS": DESTINATION}}],
        [],
    ),
    (
        "deny-another-role",
        [
            EXTERNAL_USE,
            EXTERNAL_GRANTS,
            {
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{DESTINATION}:role/Admin"},
                "Action": "kms:*",
                "Resource": "*",
            },
        ],
        [],
    ),
    ("principal-org-of-this-org", [_org(ORG)], []),
    ("principal-org-of-another-org", [_org("o-otherorg00")], EVERY),
    # The AWS Storage Blog, "How encryption works in AWS Backup": the key "should be shared with the destination account
    # service-linked role" (https://aws.amazon.com/blogs/storage/how-encryption-works-in-aws-backup/); another role of
    # that account is not the one that copies.
    (
        "the-service-linked-role",
        [{**EXTERNAL_USE, "Principal": {"AWS": ROLE}}, {**EXTERNAL_GRANTS, "Principal": {"AWS": ROLE}}],
        [],
    ),
    (
        "another-role",
        [{**EXTERNAL_USE, "Principal": {"AWS": f"arn:aws:iam::{DESTINATION}:role/Admin"}}, EXTERNAL_GRANTS],
        sorted(set(EVERY) - {"kms:CreateGrant"}),
    ),
    # KMS conditions-kms.html#conditions-kms-caller-account: Principal "*" with kms:CallerAccount lets in "all
    # identities (IAM users and roles) in an AWS account".
    (
        "caller-account",
        [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": COPY,
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": DESTINATION}},
            }
        ],
        [],
    ),
    # IAM reference_policies_elements_condition_operators.html: StringNotEquals is "Negated matching"; with
    # aws:PrincipalOrgID (IAM reference_policies_condition-keys.html) a Deny of every principal outside the organization
    # leaves the destination's role, whose organization is ORG, allowed; one naming another organization denies it.
    (
        "deny-outside-this-org",
        [EXTERNAL_USE, EXTERNAL_GRANTS, _deny_outside(ORG)],
        [],
    ),
    ("deny-outside-another-org", [EXTERNAL_USE, EXTERNAL_GRANTS, _deny_outside("o-otherorg00")], EVERY),
    # Amazon EBS User Guide, share-kms-key.html: Decrypt, DescribeKey and the grant are not enough for an EBS snapshot:
    # GenerateDataKey, GenerateDataKeyWithoutPlaintext and ReEncrypt (From and To) are missing.
    (
        "ebs-without-reencrypt-and-data-keys",
        [{**EXTERNAL_USE, "Action": ["kms:Decrypt", "kms:DescribeKey"]}, EXTERNAL_GRANTS],
        sorted(EBS_SNAPSHOT_KEY_ACTIONS),
    ),
    # The same page's list, action by action: GenerateDataKey* and ReEncrypt* cover two actions each.
    (
        "ebs-listed-actions",
        [
            {
                **EXTERNAL_USE,
                "Action": [
                    "kms:DescribeKey",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:Decrypt",
                ],
            },
            EXTERNAL_GRANTS,
        ],
        [],
    ),
]


@pytest.mark.parametrize(("statements", "missing"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_documented_key_policies(statements: list[dict[str, Any]], missing: list[str]) -> None:
    assert sorted(_missing(*statements)) == missing


def test_via_service_must_allow_every_name_the_copy_may_carry() -> None:
    """KMS conditions-kms.html#conditions-kms-via-service; which name AWS Backup's copy carries is not documented, so a
    statement naming one of AWS Backup's and EBS's reads as not shared, naming both as shared."""
    names = {"backup": "backup.eu-west-1.amazonaws.com", "ec2": "ec2.eu-west-1.amazonaws.com"}

    def via(*services: str) -> dict[str, Any]:
        condition = {"StringEquals": {"kms:ViaService": [names[s] for s in services]}}
        return {**EXTERNAL_USE, "Action": [*USE, "kms:CreateGrant"], "Condition": condition}

    assert _missing(via("backup", "ec2")) == {}
    only_backup = _missing(via("backup"))
    assert sorted(only_backup) == EVERY and all(
        why.endswith("(kms:ViaService ec2.eu-west-1.amazonaws.com)") for why in only_backup.values()
    )
    assert sorted(_missing(via("ec2"))) == EVERY
    # RDS snapshots: rds.eu-west-1.amazonaws.com, for the actions every kind needs.
    assert sorted(_missing(via("backup", "ec2"), kind="RDS")) == sorted(SHARED_KEY_ACTIONS)


def test_the_requests_carry_the_copy_context() -> None:
    requests = copy_requests(KEY, DESTINATION, ORG, "Aurora")
    assert [(r.action, r.context["kms:ViaService"]) for r in requests] == [
        (action, f"{service}.eu-west-1.amazonaws.com") for action in SHARED_KEY_ACTIONS for service in ("backup", "rds")
    ]
    assert {r.principal.arn for r in requests} == {ROLE} and {r.principal.org_id for r in requests} == {ORG}
    assert {r.resource for r in requests} == {KEY}
    assert all(
        r.context["aws:SecureTransport"] is True and r.context["kms:CallerAccount"] == DESTINATION for r in requests
    )
    assert [r.action for r in requests if r.context.get("kms:GrantIsForAWSResource") is True] == ["kms:CreateGrant"] * 2


def test_a_policy_the_evaluator_refuses_reads_as_not_shared_with_its_reason() -> None:
    # IAM reference_policies_elements_principal.html: "You cannot use a wildcard to match part of a principal name".
    partial = {**EXTERNAL_USE, "Principal": {"AWS": "arn:aws:iam::*:root"}}
    missing = _missing(partial, EXTERNAL_GRANTS)
    assert sorted(missing) == EVERY
    assert all("cannot be evaluated" in why and "wildcard in part of a name" in why for why in missing.values())


def test_conditions_on_keys_the_copy_context_lacks_read_as_not_shared() -> None:
    """Keys whose value for the copy is unknown: an allow resting on them, or a deny that may depend on them, is not
    counted as shared, whichever way the evaluator reads an absent key."""
    # IAM reference_policies_condition-single-vs-multi-valued-context-keys.html: ForAllValues on an absent key is true.
    operations = {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}
    only_if_operations = {**EXTERNAL_GRANTS, "Condition": operations}
    missing = _missing(EXTERNAL_USE, only_if_operations)
    assert list(missing) == ["kms:CreateGrant"] and "kms:GrantOperations" in missing["kms:CreateGrant"]
    # A plain IpAddress on an absent key is false, so this Deny would not apply in the evaluator; AWS's copy may match.
    deny_from = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    }
    missing = _missing(EXTERNAL_USE, EXTERNAL_GRANTS, deny_from)
    assert sorted(missing) == EVERY and all("may deny it" in why and "aws:SourceIp" in why for why in missing.values())
    # The same keys in statements that do not decide the copy change nothing.
    other_account = {**deny_from, "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}
    assert _missing(EXTERNAL_USE, EXTERNAL_GRANTS, other_account) == {}


def test_ebs_snapshots_need_the_longer_list_the_databases_the_shorter() -> None:
    """Amazon EBS User Guide, share-kms-key.html names six actions for a shared snapshot's key (ReEncrypt as
    ReEncryptFrom and ReEncryptTo); EBS volumes and EC2 instances are backed up as EBS snapshots."""
    ebs = {
        "kms:DescribeKey",
        "kms:CreateGrant",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:Decrypt",
    }
    assert set(shared_key_actions("EBS")) == set(shared_key_actions("EC2")) == ebs
    for kind in ("RDS", "Aurora", "DocumentDB", "Neptune"):
        assert shared_key_actions(kind) == SHARED_KEY_ACTIONS
    # DocumentDB and Neptune snapshots are tried through RDS's endpoint name, like RDS's and Aurora's.
    vias = {r.context["kms:ViaService"] for r in copy_requests(KEY, DESTINATION, ORG, "Neptune")}
    assert vias == {"backup.eu-west-1.amazonaws.com", "rds.eu-west-1.amazonaws.com"}
