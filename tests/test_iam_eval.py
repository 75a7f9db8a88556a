"""Table tests of org_backup.iam.evaluator, the policy evaluator other tests use as their oracle. Every expectation comes
from an AWS page, cited beside it (most reproduce the page's own example), never from what the evaluator happens to
do. IAM = https://docs.aws.amazon.com/IAM/latest/UserGuide/, ORG = https://docs.aws.amazon.com/organizations/latest/
userguide/, KMS = https://docs.aws.amazon.com/kms/latest/developerguide/."""

from __future__ import annotations

from typing import Any

import pytest

from org_backup.iam.evaluator import (
    ContextValue,
    Decision,
    Policy,
    Principal,
    Request,
    conditions_hold,
    evaluate,
    matches_action,
    matches_resource,
    request_context,
)

IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
ORG = "https://docs.aws.amazon.com/organizations/latest/userguide/"
KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/"
OPS = IAM + "reference_policies_elements_condition_operators.html"
MULTI = IAM + "reference_policies_condition-single-vs-multi-valued-context-keys.html"
MULTI_KEYS = IAM + "reference_policies_condition-logic-multiple-context-keys-or-values.html"
VARIABLES = IAM + "reference_policies_variables.html"
DENYALLOW = IAM + "reference_policies_evaluation-logic_policy-eval-denyallow.html"
CROSS = IAM + "reference_policies_evaluation-logic-cross-account.html"
BOUNDARIES = IAM + "access_policies_boundaries.html"
PRINCIPAL = IAM + "reference_policies_elements_principal.html"

A, B = "111122223333", "444455556666"
ADMIN = Principal(f"arn:aws:iam::{A}:role/admin", session_name="alice")
DEPLOY = Principal(f"arn:aws:iam::{A}:role/org-backup/OrgBackupDeployRole", session_name="codebuild")
USER = Principal(f"arn:aws:iam::{A}:user/David")
ROOT = Principal(f"arn:aws:iam::{A}:root")
OUTSIDER = Principal(f"arn:aws:iam::{B}:role/reader", session_name="s")
EVENTS = Principal("events.amazonaws.com")
SLR = Principal(
    f"arn:aws:iam::{A}:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup", session_name="b"
)
KEY = f"arn:aws:kms:eu-west-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:eu-west-1:{A}:org-backup-alerts"


def policy(name: str, *statements: dict[str, Any], version: str = "2012-10-17") -> Policy:
    return Policy(name, {"Version": version, "Statement": list(statements)})


def stmt(effect: str, action: str | list[str], resource: str | list[str] | None = "*", **rest: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, **({"Resource": resource} if resource else {}), **rest}


ADMIN_POLICY = policy("AdministratorAccess", stmt("Allow", "*"))
FULL = policy("FullAWSAccess", stmt("Allow", "*"))


def decide(
    principal: Principal,
    action: str,
    resource: str = "*",
    context: dict[str, ContextValue] | None = None,
    **kwargs: Any,
) -> Decision:
    return evaluate(Request(principal, action, resource, context or {}), **kwargs)


# --- Condition operators: (name, Condition block, request context, expected). Each row cites its page. ---------------
CONDITIONS: list[tuple[str, dict[str, Any], dict[str, ContextValue], bool]] = [
    # IAM reference_policies_elements_condition.html: StringEquals "johndoe": "Users named JohnDoe are denied access".
    ("StringEquals exact", {"StringEquals": {"aws:username": "johndoe"}}, {"aws:username": "johndoe"}, True),
    (
        "StringEquals is case-sensitive",
        {"StringEquals": {"aws:username": "johndoe"}},
        {"aws:username": "JohnDoe"},
        False,
    ),
    # Same page: StringEqualsIgnoreCase "to match users named johndoe or JohnDoe"; key names are not case-sensitive.
    (
        "StringEqualsIgnoreCase",
        {"StringEqualsIgnoreCase": {"aws:username": "johndoe"}},
        {"aws:username": "JohnDoe"},
        True,
    ),
    ("key names ignore case", {"StringEquals": {"AWS:UserName": "johndoe"}}, {"aws:username": "johndoe"}, True),
    ("StringNotEquals", {"StringNotEquals": {"aws:username": "johndoe"}}, {"aws:username": "bob"}, True),
    (
        "StringNotEquals on the value",
        {"StringNotEquals": {"aws:username": "johndoe"}},
        {"aws:username": "johndoe"},
        False,
    ),
    (
        "StringNotEqualsIgnoreCase",
        {"StringNotEqualsIgnoreCase": {"aws:username": "JOHNDOE"}},
        {"aws:username": "johndoe"},
        False,
    ),
    # OPS String: StringLike "can include multi-character match wildcards (*) and single-character ... (?)".
    ("StringLike *", {"StringLike": {"s3:prefix": "janedoe/*"}}, {"s3:prefix": "janedoe/photos/1.jpg"}, True),
    ("StringLike ?", {"StringLike": {"s3:prefix": "jane?oe"}}, {"s3:prefix": "janeDoe"}, True),
    ("StringLike is case-sensitive", {"StringLike": {"s3:prefix": "janedoe/*"}}, {"s3:prefix": "JaneDoe/x"}, False),
    ("StringEquals * is literal", {"StringEquals": {"s3:prefix": "janedoe/*"}}, {"s3:prefix": "janedoe/x"}, False),
    ("StringNotLike", {"StringNotLike": {"s3:prefix": "janedoe/*"}}, {"s3:prefix": "bob/x"}, True),
    # OPS "Important": a missing key is false; a negated operator ("such as StringNotLike or ArnNotLike") is true.
    (
        "missing key: StringEquals false",
        {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
        {},
        False,
    ),
    ("missing key: StringLike false", {"StringLike": {"s3:prefix": "*"}}, {}, False),
    ("missing key: StringNotLike true", {"StringNotLike": {"s3:prefix": "janedoe/*"}}, {}, True),
    ("missing key: StringNotEquals true", {"StringNotEquals": {"aws:PrincipalAccount": A}}, {}, True),
    ("missing key: ArnNotLike true", {"ArnNotLike": {"aws:SourceArn": TOPIC}}, {}, True),
    ("missing key: NumericNotEquals true", {"NumericNotEquals": {"s3:max-keys": "10"}}, {}, True),
    ("missing key: NotIpAddress true", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    # OPS ...IfExists: "If the key is not present, evaluate the condition element as true".
    ("IfExists, key missing", {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {}, True),
    (
        "IfExists, key present",
        {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}},
        {"ec2:InstanceType": "m5.large"},
        False,
    ),
    (
        "IfExists, key matches",
        {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}},
        {"ec2:InstanceType": "t2.micro"},
        True,
    ),
    ("negated IfExists, key missing", {"StringNotEqualsIfExists": {"aws:RequestTag/team": "x"}}, {}, True),
    ("NumericLessThanEqualsIfExists missing", {"NumericLessThanEqualsIfExists": {"s3:max-keys": "10"}}, {}, True),
    # OPS Numeric: "NumericLessThanEquals": {"s3:max-keys": "10"} lets a requester list "up to 10 objects".
    ("NumericLessThanEquals 10", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": 10}, True),
    ("NumericLessThanEquals 11", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, False),
    ("NumericLessThan", {"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": 10}, False),
    ("NumericGreaterThan", {"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": 10.5}, True),
    ("NumericGreaterThanEquals", {"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": 10}, True),
    ("NumericEquals", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.0"}, True),
    ("NumericNotEquals", {"NumericNotEquals": {"s3:max-keys": ["10", "20"]}}, {"s3:max-keys": 20}, False),
    # OPS Date: DateGreaterThan aws:TokenIssueTime "2020-01-01T00:00:01Z"; ISO 8601 or epoch; missing key: denied.
    (
        "DateGreaterThan ISO",
        {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
        {"aws:TokenIssueTime": "2020-06-01T12:00:00Z"},
        True,
    ),
    (
        "DateGreaterThan earlier",
        {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
        {"aws:TokenIssueTime": "2019-12-31T23:59:59Z"},
        False,
    ),
    ("DateGreaterThan missing", {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}, {}, False),
    (
        "DateLessThan epoch",
        {"DateLessThan": {"aws:CurrentTime": "1577836800"}},
        {"aws:CurrentTime": "2019-12-31T00:00:00Z"},
        True,
    ),
    (
        "DateLessThanEquals date only",
        {"DateLessThanEquals": {"aws:CurrentTime": "2020-01-01"}},
        {"aws:CurrentTime": 1577836800},
        True,
    ),
    (
        "DateGreaterThanEquals offset",
        {"DateGreaterThanEquals": {"aws:CurrentTime": "2020-01-01T01:00:00+01:00"}},
        {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
        True,
    ),
    ("DateEquals", {"DateEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": 1577836800}, True),
    (
        "DateNotEquals",
        {"DateNotEquals": {"aws:CurrentTime": "2020-01"}},
        {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
        False,
    ),
    # OPS Boolean: Deny s3:* when "aws:SecureTransport": "false".
    ("Bool false matches", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": False}, True),
    ("Bool false vs true", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": True}, False),
    ("Bool JSON true", {"Bool": {"aws:MultiFactorAuthPresent": True}}, {"aws:MultiFactorAuthPresent": "true"}, True),
    ("BoolIfExists missing", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}, True),
    # OPS Binary: "compares the value of the specified key byte for byte against a base-64 encoded representation".
    (
        "BinaryEquals",
        {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
        {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="},
        True,
    ),
    ("BinaryEquals other bytes", {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"key": "QUJD"}, False),
    # OPS IP address: "203.0.113.0/24", IPv6 "2001:DB8:1234:5678::/64", no prefix means /32.
    ("IpAddress in range", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    (
        "IpAddress out of range",
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "198.51.100.7"},
        False,
    ),
    (
        "IpAddress IPv6",
        {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}},
        {"aws:SourceIp": "2001:db8:1234:5678::1"},
        True,
    ),
    ("IpAddress /32 default", {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.8"}, False),
    ("NotIpAddress", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.7"}, True),
    # OPS ARN: ArnEquals aws:SourceArn (SQS queue policy example); ArnEquals and ArnLike "behave identically".
    ("ArnEquals", {"ArnEquals": {"aws:SourceArn": TOPIC}}, {"aws:SourceArn": TOPIC}, True),
    (
        "ArnEquals wildcard",
        {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:111122223333:*"}},
        {"aws:SourceArn": TOPIC},
        True,
    ),
    (
        "ArnLike other account",
        {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:*"}},
        {"aws:SourceArn": TOPIC.replace(A, B)},
        False,
    ),
    ("ArnNotEquals", {"ArnNotEquals": {"aws:PrincipalArn": DEPLOY.arn}}, {"aws:PrincipalArn": ADMIN.arn}, True),
    (
        "ArnNotLike",
        {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/org-backup/*"}},
        {"aws:PrincipalArn": DEPLOY.arn},
        False,
    ),
    ("ArnLike missing key (OPS: SourceArn absent for direct calls)", {"ArnLike": {"aws:SourceArn": TOPIC}}, {}, False),
    # OPS ARN: "arn:aws:someservice:*:111122223333:finance/*" against "arn:aws:someservice:us-east-2:999999999999:
    # store/abc:111122223333:finance/document.txt": StringLike matches, ArnLike does not (the * stays in its part).
    (
        "the page's StringLike example",
        {"StringLike": {"k": "arn:aws:someservice:*:111122223333:finance/*"}},
        {"k": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"},
        True,
    ),
    (
        "the page's ArnLike example",
        {"ArnLike": {"k": "arn:aws:someservice:*:111122223333:finance/*"}},
        {"k": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"},
        False,
    ),
    # OPS Null: "true (the key doesn't exist — it is null) or false (the key exists and its value is not null)".
    ("Null true, key missing", {"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    (
        "Null true, key present",
        {"Null": {"aws:TokenIssueTime": "true"}},
        {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"},
        False,
    ),
    ("Null false, key present", {"Null": {"aws:TagKeys": "false"}}, {"aws:TagKeys": ["a"]}, True),
    ("Null false, key missing", {"Null": {"aws:TagKeys": "false"}}, {}, False),
    # IAM reference_policies_elements_condition.html: an empty string in the request context is null.
    ("Null true, empty string", {"Null": {"aws:RequestTag/team": "true"}}, {"aws:RequestTag/team": ""}, True),
    # MULTI_KEYS: several values of one key are OR; negated operators are NOR ("cannot match any of the
    # aws:PrincipalAccount values listed"); several keys and several operators are AND (the department/role example).
    ("values OR", {"StringEquals": {"aws:PrincipalAccount": [B, A]}}, {"aws:PrincipalAccount": A}, True),
    ("negated values NOR", {"StringNotEquals": {"aws:PrincipalAccount": [B, A]}}, {"aws:PrincipalAccount": A}, False),
    (
        "negated values NOR, none match",
        {"StringNotEquals": {"aws:PrincipalAccount": [B, "999999999999"]}},
        {"aws:PrincipalAccount": A},
        True,
    ),
    (
        "keys and operators AND",
        {
            "StringEqualsIgnoreCase": {
                "aws:PrincipalTag/department": ["finance", "hr", "legal"],
                "aws:PrincipalTag/role": ["audit", "security"],
            },
            "StringEquals": {"aws:PrincipalAccount": "123456789012"},
        },
        {"aws:PrincipalTag/department": "HR", "aws:PrincipalTag/role": "audit", "aws:PrincipalAccount": "123456789012"},
        True,
    ),
    (
        "keys AND: one key missing",
        {
            "StringEqualsIgnoreCase": {
                "aws:PrincipalTag/department": ["finance", "hr", "legal"],
                "aws:PrincipalTag/role": ["audit", "security"],
            }
        },
        {"aws:PrincipalTag/department": "hr"},
        False,
    ),
    (
        "operators AND: one fails",
        {
            "StringEqualsIgnoreCase": {"aws:PrincipalTag/role": "audit"},
            "StringEquals": {"aws:PrincipalAccount": "123456789012"},
        },
        {"aws:PrincipalTag/role": "audit", "aws:PrincipalAccount": A},
        False,
    ),
    # MULTI ForAllValues (the DynamoDB Thread example): every requested attribute must be listed; "It also returns true
    # if there are no keys in the request, or if the key values resolve to a null data set, such as an empty string".
    (
        "ForAllValues all listed",
        {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["ID", "Message", "Tags"]}},
        {"dynamodb:Attributes": ["ID", "Message", "Tags"]},
        True,
    ),
    (
        "ForAllValues one not listed",
        {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PostDateTime", "Message", "Tags"]}},
        {"dynamodb:Attributes": ["PostDateTime", "UserName"]},
        False,
    ),
    ("ForAllValues key missing", {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
    ("ForAllValues empty list", {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": []}, True),
    ("ForAllValues empty string", {"ForAllValues:StringLike": {"aws:TagKeys": ["a*"]}}, {"aws:TagKeys": ""}, True),
    ("ForAllValues:StringNotLike missing", {"ForAllValues:StringNotLike": {"aws:TagKeys": ["key1*"]}}, {}, True),
    (
        "ForAllValues:StringNotLike",
        {"ForAllValues:StringNotLike": {"aws:TagKeys": ["key1*", "key2*"]}},
        {"aws:TagKeys": ["key1:hr", "key3:x"]},
        False,
    ),
    # MULTI ForAnyValue (the PutItem Deny example): "UserName, Message, PostDateTime" vs [ID, PostDateTime] is true;
    # just UserName is false; "For no matching key or a null dataset, the condition returns false".
    (
        "ForAnyValue one match",
        {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["ID", "PostDateTime"]}},
        {"dynamodb:Attributes": ["UserName", "Message", "PostDateTime"]},
        True,
    ),
    (
        "ForAnyValue no match",
        {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["ID", "PostDateTime"]}},
        {"dynamodb:Attributes": ["UserName"]},
        False,
    ),
    ("ForAnyValue key missing", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
    ("ForAnyValue empty list", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": []}, False),
    (
        "ForAnyValue:StringLike org paths",
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}},
        {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"]},
        True,
    ),
    ("ForAllValuesIfExists missing", {"ForAllValues:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, {}, True),
    # IAM access-analyzer-reference-policy-checks.html "Null with qualifier": ForAllValues always true, ForAnyValue false.
    ("ForAllValues:Null", {"ForAllValues:Null": {"aws:TagKeys": "false"}}, {}, True),
    ("ForAnyValue:Null", {"ForAnyValue:Null": {"aws:TagKeys": "true"}}, {}, False),
    # A bare operator on a key holding one value: one value is one value, whatever the set operator would say.
    ("bare operator, one-element list", {"StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["a"]}, True),
    # VARIABLES: "${aws:username}" is replaced; a variable with no value: "StringEquals or StringLike do not match",
    # "Inverted condition operators like StringNotEquals ... do match"; defaults; ${*} is a literal *.
    (
        "variable",
        {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
        {"s3:prefix": "home/David/a", "aws:username": "David"},
        True,
    ),
    (
        "variable other user",
        {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
        {"s3:prefix": "home/Adele/a", "aws:username": "David"},
        False,
    ),
    (
        "variable without value, StringEquals",
        {"StringEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}},
        {"s3:ExistingObjectTag/Team": ""},
        False,
    ),
    (
        "variable without value, StringNotEquals",
        {"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}},
        {"s3:ExistingObjectTag/Team": "red"},
        True,
    ),
    (
        "variable with a default",
        {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'company-wide'}"}},
        {"s3:prefix": "company-wide"},
        True,
    ),
    (
        "variable is literal, not a wildcard",
        {"StringLike": {"k": "a${aws:username}"}},
        {"k": "ab", "aws:username": "*"},
        False,
    ),
    ("${*} is a literal *", {"StringLike": {"k": "a${*}b"}}, {"k": "a*b"}, True),
    ("${*} is not a wildcard", {"StringLike": {"k": "a${*}b"}}, {"k": "axxb"}, False),
    (
        "ArnEquals with a variable ARN",
        {"ArnEquals": {"aws:SourceArn": "${aws:PrincipalArn}"}},
        {"aws:SourceArn": ADMIN.arn, "aws:PrincipalArn": ADMIN.arn},
        True,
    ),
]


@pytest.mark.parametrize(
    ("conditions", "context", "expected"), [c[1:] for c in CONDITIONS], ids=[c[0] for c in CONDITIONS]
)
def test_condition_operators(conditions: dict[str, Any], context: dict[str, ContextValue], expected: bool) -> None:
    assert conditions_hold(conditions, context) is expected


# Each raises: AWS's pages give no outcome, or AWS would refuse the policy.
BAD_CONDITIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("unknown operator", {"StringEqualz": {"k": "v"}}, {}),
    ("lower-case operator", {"stringequals": {"k": "v"}}, {}),
    ("unknown set operator", {"ForSomeValues:StringEquals": {"k": "v"}}, {}),
    ("NullIfExists (OPS: IfExists on any operator 'except the Null condition')", {"NullIfExists": {"k": "true"}}, {}),
    ("Null value not true/false", {"Null": {"k": "maybe"}}, {}),
    ("not a number", {"NumericEquals": {"k": "ten"}}, {"k": "10"}),
    ("not a date", {"DateEquals": {"k": "yesterday"}}, {"k": "2020-01-01"}),
    ("not base-64", {"BinaryEquals": {"k": "***"}}, {"k": "QUJD"}),
    ("not a CIDR", {"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}}, {"aws:SourceIp": "1.1.1.1"}),
    ("ArnLike value is not an ARN", {"ArnLike": {"aws:SourceArn": "*"}}, {"aws:SourceArn": TOPIC}),
    ("condition value is an object", {"StringEquals": {"k": {"a": 1}}}, {"k": "a"}),
    ("context value is an object", {"StringEquals": {"k": "a"}}, {"k": {"a": 1}}),
    ("context list of numbers", {"StringEquals": {"k": "a"}}, {"k": [1, 2]}),
    # MULTI: multivalued keys "require" a set operator; the pages say nothing of a bare operator on several values.
    ("bare operator on a multivalued key", {"StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["a", "b"]}),
    # MULTI says ForAnyValue is false for a missing key, OPS says ...IfExists makes a missing key true.
    ("ForAnyValue with IfExists, key missing", {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, {}),
    # VARIABLES: "You can't use a multivalued condition key as a variable"; defaults are single-quoted.
    ("multivalued key as a variable", {"StringEquals": {"k": "${aws:TagKeys}"}}, {"k": "a", "aws:TagKeys": ["a"]}),
    ("unquoted default", {"StringEquals": {"k": "${aws:username, nobody}"}}, {"k": "nobody"}),
]


@pytest.mark.parametrize(("conditions", "context"), [c[1:] for c in BAD_CONDITIONS], ids=[c[0] for c in BAD_CONDITIONS])
def test_conditions_aws_would_refuse_or_leaves_open_raise(conditions: dict[str, Any], context: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        conditions_hold(conditions, context)


# --- Action and Resource matching -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patterns", "action", "expected"),
    [
        # IAM reference_policies_elements_action.html: "iam:ListAccessKeys is the same as IAM:listaccesskeys";
        # "iam:*AccessKey*" covers CreateAccessKey, DeleteAccessKey, ListAccessKeys, UpdateAccessKey.
        ("IAM:listaccesskeys", "iam:ListAccessKeys", True),
        ("iam:*AccessKey*", "iam:UpdateAccessKey", True),
        ("iam:*AccessKey*", "iam:ListUsers", False),
        ("s3:*", "s3:GetObject", True),
        ("s3:*", "s3control:GetJob", False),
        ("s3:Get?bject", "s3:GetObject", True),
        ("*", "kms:ScheduleKeyDeletion", True),
        (["sqs:SendMessage", "sns:Publish"], "sns:publish", True),
    ],
)
def test_matches_action(patterns: str | list[str], action: str, expected: bool) -> None:
    assert matches_action(patterns, action) is expected


RESOURCE_PATTERN = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # IAM reference_policies_elements_resource.html: the wildcards in "DOC-EXAMPLE-BUCKET/*/test/*" "apply to all
        # of the following objects" and "The ARN would not match the following objects".
        ("1/test/object.jpg", True),
        ("1/2/test/object.jpg", True),
        ("1/2/test/3/object.jpg", True),
        ("1/2/3/test/4/object.jpg", True),
        ("1///test///object.jpg", True),
        ("1/test/.jpg", True),
        ("/test/object.jpg", True),
        ("1/test/", True),
        ("1-test/object.jpg", False),
        ("test/object.jpg", False),
        ("1/2/test.jpg", False),
    ],
)
def test_resource_wildcards_reproduce_the_resource_page(key: str, expected: bool) -> None:
    assert matches_resource(RESOURCE_PATTERN, f"arn:aws:s3:::DOC-EXAMPLE-BUCKET/{key}") is expected


@pytest.mark.parametrize(
    ("patterns", "resource", "expected"),
    [
        ("*", TOPIC, True),
        ("*", "*", True),
        # IAM reference_policies_elements_notaction.html: ListAllMyBuckets "requires the "*" resource", so an ARN
        # pattern does not cover an action without a resource type.
        ("arn:aws:s3:::*", "*", False),
        ("arn:aws:sns:*:111122223333:*", TOPIC, True),
        ("arn:aws:sns:*:111122223333:*", TOPIC.replace(A, B), False),
        ("arn:aws:sns:eu-west-1:111122223333:ORG-BACKUP-ALERTS", TOPIC, False),  # ARNs are case-sensitive
        # "within ARN segments": a * in the account segment does not reach into the resource segment.
        ("arn:aws:logs:*:*:log-group:app", f"arn:aws:logs:eu-west-1:{A}:log-group:other:log-group:app", False),
        ("arn:aws:kms:eu-west-1:*:key/*", KEY, True),
        (
            "arn:aws:logs:*:*:log-group:/aws/lambda/*:*",
            f"arn:aws:logs:eu-west-1:{A}:log-group:/aws/lambda/f:log-stream:x",
            True,
        ),
    ],
)
def test_matches_resource(patterns: str, resource: str, expected: bool) -> None:
    assert matches_resource(patterns, resource) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "bucket/*",  # "Resource ... must be in ARN format or *"
        "arn:aws:kms:eu-west-1:*",  # not six parts
        "arn:aws:s3*:::bucket",  # IAM reference_policies_elements_resource.html: no wildcard in the service segment
    ],
)
def test_malformed_resource_patterns_raise(pattern: str) -> None:
    with pytest.raises(ValueError):
        matches_resource(pattern, "arn:aws:s3:::bucket")


def test_malformed_actions_raise() -> None:
    for patterns, action in [("s3", "s3:GetObject"), ("s3:*", "GetObject"), ([], "s3:GetObject")]:
        with pytest.raises(ValueError):
            matches_action(patterns, action)


# --- Principals and the request context -----------------------------------------------------------------------------
def test_principal_properties() -> None:
    # PRINCIPAL #principal-role-session: "arn:aws:sts::AWS-account-ID:assumed-role/role-name/role-session-name"
    # (the role name, without the role's path).
    assert DEPLOY.session_arn == f"arn:aws:sts::{A}:assumed-role/OrgBackupDeployRole/codebuild"
    assert (DEPLOY.account, DEPLOY.is_service, DEPLOY.is_service_linked_role) == (A, False, False)
    assert (EVENTS.account, EVENTS.is_service, EVENTS.session_arn) == (None, True, None)
    assert SLR.is_service_linked_role and USER.session_arn is None and ROOT.account == A


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sts::111122223333:assumed-role/R/s",
        "arn:aws:iam::1111:role/R",
        "arn:aws:iam::111122223333:group/G",
        "events",
    ],
)
def test_unsupported_principals_raise(arn: str) -> None:
    with pytest.raises(ValueError):
        Principal(arn)


def test_only_roles_have_sessions() -> None:
    with pytest.raises(ValueError):
        Principal(USER.arn, session_name="s")


def test_request_context_of_a_role_session() -> None:
    principal = Principal(ADMIN.arn, "alice", "o-a1b2c3d4e5", ("o-a1b2c3d4e5/r-ab12/ou-ab12-1/",), {"team": "backup"})
    ctx = request_context(Request(principal, "kms:Decrypt", KEY, {"AWS:PrincipalTag/team": "override"}))
    # IAM reference_policies_condition-keys.html aws:PrincipalArn: "For IAM roles, the request context returns the ARN
    # of the role, not the ARN of the user that assumed the role"; aws:PrincipalOrgPaths is multivalued.
    assert ctx["aws:PrincipalArn"] == ADMIN.arn
    assert ctx["aws:PrincipalAccount"] == A and ctx["aws:ResourceAccount"] == A
    assert ctx["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"
    assert ctx["aws:PrincipalOrgPaths"] == ["o-a1b2c3d4e5/r-ab12/ou-ab12-1/"]
    assert ctx["aws:PrincipalIsAWSService"] is False and ctx["aws:PrincipalType"] == "AssumedRole"
    assert ctx["AWS:PrincipalTag/team"] == "override" and "aws:PrincipalTag/team" not in ctx  # request.context wins
    assert "aws:PrincipalServiceName" not in ctx


def test_request_context_of_a_service_principal() -> None:
    # IAM reference_policies_condition-keys.html: aws:PrincipalServiceName is "present in the request when the call is
    # made by an AWS service principal"; aws:PrincipalArn and aws:PrincipalOrgID are not.
    ctx = request_context(Request(EVENTS, "sns:Publish", TOPIC))
    assert ctx["aws:PrincipalIsAWSService"] is True and ctx["aws:PrincipalServiceName"] == "events.amazonaws.com"
    assert "aws:PrincipalArn" not in ctx and "aws:PrincipalOrgID" not in ctx


# --- Evaluation within one account ----------------------------------------------------------------------------------
# IAM reference_policies_evaluation-logic_policy-eval-basics.html: the carlossalazar example.
CARLOS = Principal("arn:aws:iam::123456789012:user/carlossalazar")
CARLOS_POLICY = policy(
    "carlossalazar policy",
    {
        "Sid": "AllowS3ListRead",
        "Effect": "Allow",
        "Action": ["s3:GetBucketLocation", "s3:ListAllMyBuckets"],
        "Resource": "arn:aws:s3:::*",
    },
    {
        "Sid": "AllowS3Self",
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)
CARLOS_BUCKET = policy(
    "carlossalazar bucket policy",
    {
        "Effect": "Allow",
        "Principal": {"AWS": CARLOS.arn},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
)


def test_single_account_example_explicit_deny() -> None:
    # "It finds one, because the identity-based policy explicitly denies Carlos access to any S3 buckets used for
    # logging. Carlos is denied access."
    d = decide(
        CARLOS,
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar-logs",
        identity_policies=[CARLOS_POLICY],
        resource_account="123456789012",
    )
    assert not d.allowed and d.statements == ("carlossalazar policy#DenyS3Logs",)
    assert "with an explicit deny in a identity-based policy" in d.reason


def test_single_account_example_allowed_by_both() -> None:
    # "Both the identity-based policy and the resource-based policy allow the request. Therefore, AWS allows the request."
    d = decide(
        CARLOS,
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar/report.txt",
        identity_policies=[CARLOS_POLICY],
        resource_policy=CARLOS_BUCKET,
        resource_account="123456789012",
    )
    assert d.allowed


def test_single_account_either_policy_is_enough() -> None:
    # "If either the identity-based policy or the resource-based policy within the same account allows the request
    # and the other doesn't, the request is still allowed."
    bucket: dict[str, Any] = {"resource_account": "123456789012"}
    assert decide(
        CARLOS, "s3:GetObject", "arn:aws:s3:::carlossalazar/a", resource_policy=CARLOS_BUCKET, **bucket
    ).allowed
    assert decide(
        CARLOS, "s3:GetObject", "arn:aws:s3:::carlossalazar/a", identity_policies=[CARLOS_POLICY], **bucket
    ).allowed


def test_implicit_and_explicit_deny_example() -> None:
    # IAM reference_policies_evaluation-logic.html#AccessPolicyLanguage_Interplay: AllowGetList/DenyReports.
    p = policy(
        "read-only",
        {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
        {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
    )
    assert decide(ADMIN, "iam:GetRole", identity_policies=[p]).allowed
    implicit = decide(ADMIN, "iam:CreatePolicy", identity_policies=[p])
    assert implicit.reason.endswith("because no identity-based policy allows the iam:CreatePolicy action")
    # "report-related requests are still denied because of this explicit deny" even with another policy allowing them.
    explicit = decide(ADMIN, "iam:GetOrganizationsAccessReport", identity_policies=[p, ADMIN_POLICY])
    assert not explicit.allowed and explicit.statements == ("read-only#DenyReports",)


def test_root_user_has_full_access_in_its_account() -> None:
    # DENYALLOW: "all requests are implicitly denied with the exception of the AWS account root user".
    assert decide(ROOT, "s3:CreateBucket", "arn:aws:s3:::b", resource_account=A).allowed


def test_resource_policy_naming_the_account_only_delegates() -> None:
    # PRINCIPAL #principal-accounts: an account principal "delegates authority to the account ... an administrator in
    # that account must then grant access to an identity".
    topic_policy = policy("topic policy", stmt("Allow", "sns:Publish", TOPIC, Principal={"AWS": A}))
    assert not decide(ADMIN, "sns:Publish", TOPIC, resource_policy=topic_policy).allowed
    grant = policy("publisher", stmt("Allow", "sns:Publish", TOPIC))
    assert decide(ADMIN, "sns:Publish", TOPIC, resource_policy=topic_policy, identity_policies=[grant]).allowed


def test_resource_policy_naming_star_needs_nothing_else_in_the_account() -> None:
    # PRINCIPAL #principal-anonymous: "For IAM users and role principals within your account, no other permissions
    # are required."
    topic_policy = policy("topic policy", stmt("Allow", "sns:Publish", TOPIC, Principal={"AWS": "*"}))
    assert decide(ADMIN, "sns:Publish", TOPIC, resource_policy=topic_policy).allowed


# BOUNDARIES: the ShirleyRodriguez boundary (S3, CloudWatch, EC2 only) and her iam:CreateUser permissions policy.
SHIRLEY_BOUNDARY = policy("boundary", stmt("Allow", ["s3:*", "cloudwatch:*", "ec2:*"]))
CREATE_USER = policy("create users", stmt("Allow", "iam:CreateUser"))


def test_boundary_intersects_identity_policies() -> None:
    # "If you attach this permissions policy to the ShirleyRodriguez user, and Shirley tries to create a user, the
    # operation fails. It fails because the permissions boundary does not allow the iam:CreateUser operation."
    d = decide(
        USER,
        "iam:CreateUser",
        f"arn:aws:iam::{A}:user/x",
        identity_policies=[CREATE_USER],
        permissions_boundary=SHIRLEY_BOUNDARY,
    )
    assert d.reason.endswith("because no permissions boundary allows the iam:CreateUser action")
    # A boundary "does not provide permissions on its own".
    assert not decide(
        USER, "s3:GetObject", "arn:aws:s3:::b/k", resource_account=A, permissions_boundary=SHIRLEY_BOUNDARY
    ).allowed
    both = policy("s3", stmt("Allow", "s3:*"))
    assert decide(
        USER,
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        resource_account=A,
        identity_policies=[both],
        permissions_boundary=SHIRLEY_BOUNDARY,
    ).allowed


@pytest.mark.parametrize(
    ("principal", "named", "expected"),
    [
        # DENYALLOW / BOUNDARIES: grants to a role ARN "are limited by an implicit deny in a permissions boundary";
        # to a role session ARN "are not limited by an implicit deny in an identity-based policy, a permissions
        # boundary"; to an IAM user ARN "are not limited by an implicit deny in an identity-based policy or
        # permissions boundary"; PRINCIPAL #principal-roles: a "*" Principal with aws:PrincipalArn is not limited.
        (ADMIN, ADMIN.arn, False),
        (ADMIN, ADMIN.session_arn, True),
        (USER, USER.arn, True),
        (ADMIN, "*", True),
    ],
)
def test_boundary_and_resource_policies(principal: Principal, named: str, expected: bool) -> None:
    condition = {"ArnEquals": {"aws:PrincipalArn": principal.arn}} if named == "*" else {}
    topic_policy = policy(
        "topic policy", stmt("Allow", "sns:Publish", TOPIC, Principal={"AWS": named}, Condition=condition)
    )
    d = decide(principal, "sns:Publish", TOPIC, resource_policy=topic_policy, permissions_boundary=SHIRLEY_BOUNDARY)
    assert d.allowed is expected


def test_role_arn_grant_without_boundary_stands_alone() -> None:
    # DENYALLOW: "For most resources, you only need an explicit allow ... in either an identity-based policy or a
    # resource-based policy"; only a boundary (or session policy) limits a grant to the role ARN.
    topic_policy = policy("topic policy", stmt("Allow", "sns:Publish", TOPIC, Principal={"AWS": ADMIN.arn}))
    assert decide(ADMIN, "sns:Publish", TOPIC, resource_policy=topic_policy).allowed


@pytest.mark.parametrize("layer", ["identity_policies", "permissions_boundary", "resource_policy", "scps"])
def test_explicit_deny_wins_in_every_layer(layer: str) -> None:
    # DENYALLOW "Deny evaluation": "If the enforcement code finds even one explicit deny that applies, the
    # enforcement code returns a final decision of Deny."
    deny = policy(
        "deny", stmt("Deny", "sns:Publish", TOPIC, **({"Principal": "*"} if layer == "resource_policy" else {}))
    )
    allow_all = policy("topic policy", stmt("Allow", "sns:*", TOPIC, Principal="*"))
    layers: dict[str, Any] = {
        "identity_policies": [ADMIN_POLICY],
        "permissions_boundary": ADMIN_POLICY,
        "resource_policy": allow_all,
        "scps": [[FULL], [FULL]],
    }
    assert decide(ADMIN, "sns:Publish", TOPIC, **layers).allowed
    layers[layer] = {
        "identity_policies": [ADMIN_POLICY, deny],
        "permissions_boundary": policy("b", stmt("Allow", "*"), stmt("Deny", "sns:Publish")),
        "resource_policy": policy("topic policy", *allow_all.document["Statement"], *deny.document["Statement"]),
        "scps": [[FULL], [FULL, deny]],
    }[layer]
    assert not decide(ADMIN, "sns:Publish", TOPIC, **layers).allowed


def test_not_action_with_allow() -> None:
    # IAM reference_policies_elements_notaction.html: "allows users to access every action in every AWS service
    # except for IAM".
    p = policy("everything but IAM", {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(ADMIN, "s3:ListAllMyBuckets", identity_policies=[p]).allowed
    assert not decide(ADMIN, "iam:CreateUser", f"arn:aws:iam::{A}:user/x", identity_policies=[p]).allowed


def test_not_action_with_deny_and_mfa() -> None:
    # Same page, "NotAction with Deny": deny non-IAM actions unless signed in with MFA (BoolIfExists false).
    deny = policy(
        "mfa",
        {
            "Sid": "DenyAllUsersNotUsingMFA",
            "Effect": "Deny",
            "NotAction": "iam:*",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        },
    )
    assert not decide(ADMIN, "ec2:DescribeInstances", identity_policies=[ADMIN_POLICY, deny]).allowed
    assert decide(ADMIN, "iam:ListUsers", identity_policies=[ADMIN_POLICY, deny]).allowed
    mfa: dict[str, ContextValue] = {"aws:MultiFactorAuthPresent": True}
    assert decide(ADMIN, "ec2:DescribeInstances", context=mfa, identity_policies=[ADMIN_POLICY, deny]).allowed


def test_not_resource_with_deny() -> None:
    # IAM reference_policies_elements_notresource.html: HRPayroll members denied every S3 resource but Payroll.
    deny = policy(
        "HRPayroll",
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
        },
    )
    kw: dict[str, Any] = {"identity_policies": [ADMIN_POLICY, deny], "resource_account": A}
    assert decide(ADMIN, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/march.csv", **kw).allowed
    assert not decide(ADMIN, "s3:GetObject", "arn:aws:s3:::HRBucket/Other/x", **kw).allowed
    # "If the action also included Amazon EC2 actions, then the policy would not deny access to any EC2 resources":
    # ec2 actions are not in Action here, so the statement never applies to them.
    assert decide(ADMIN, "ec2:DescribeInstances", **kw).allowed


def test_action_without_resource_type_needs_star() -> None:
    # IAM reference_policies_elements_notaction.html: the S3 NotAction example "does not allow users to use the
    # ListAllMyBuckets S3 API operation, because that action requires the "*" resource".
    p = policy("s3 resources", {"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"})
    assert not decide(ADMIN, "s3:ListAllMyBuckets", identity_policies=[p]).allowed
    assert decide(ADMIN, "s3:GetObject", "arn:aws:s3:::b/k", resource_account=A, identity_policies=[p]).allowed


def test_policy_variables_in_resource() -> None:
    # VARIABLES: "arn:aws:s3:::mybucket/${aws:username}/*"; without Version 2012-10-17 variables "are treated as
    # literal strings"; a variable with no value in Resource "will not match any resource".
    home = stmt("Allow", ["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::mybucket/${aws:username}/*")
    kw: dict[str, Any] = {"resource_account": A}
    assert decide(
        USER, "s3:GetObject", "arn:aws:s3:::mybucket/David/a", identity_policies=[policy("home", home)], **kw
    ).allowed
    assert not decide(
        USER, "s3:GetObject", "arn:aws:s3:::mybucket/Adele/a", identity_policies=[policy("home", home)], **kw
    ).allowed
    old = policy("home", home, version="2008-10-17")
    assert not decide(USER, "s3:GetObject", "arn:aws:s3:::mybucket/David/a", identity_policies=[old], **kw).allowed
    assert not decide(
        ADMIN, "s3:GetObject", "arn:aws:s3:::mybucket/alice/a", identity_policies=[policy("home", home)], **kw
    ).allowed
    team = stmt("Allow", "s3:*", "arn:aws:s3:::bucket-${aws:PrincipalTag/team, 'company-wide'}/*")
    assert decide(
        ADMIN, "s3:GetObject", "arn:aws:s3:::bucket-company-wide/x", identity_policies=[policy("team", team)], **kw
    ).allowed


def test_policy_variable_before_the_fifth_colon_raises() -> None:
    # VARIABLES: "You can't use a variable to replace parts of the ARN before the fifth colon".
    p = policy("bad", stmt("Allow", "sns:Publish", "arn:aws:sns:eu-west-1:${aws:PrincipalAccount}:topic"))
    with pytest.raises(ValueError):
        decide(ADMIN, "sns:Publish", TOPIC, identity_policies=[p])


# --- SCPs -------------------------------------------------------------------------------------------------------------
def scp(name: str, *statements: dict[str, Any]) -> Policy:
    return policy(f"SCP {name}", *statements)


def test_scp_inheritance_illustration() -> None:
    # ORG orgs_manage_policies_inheritance_auth.html: the root's SCP allows A, B, C and the OU's SCP C, D, E: "Because
    # the SCP attached to the root doesn't allow D or E, no OUs or accounts in the organization can use them", and
    # "Because the OU's SCP doesn't allow A or B, those permissions are blocked for the OU".
    root = scp("root", stmt("Allow", ["s3:*", "ec2:*", "sqs:*"]))
    ou = scp("ou", stmt("Allow", ["sqs:*", "sns:*", "lambda:*"]))
    levels = [[root], [ou], [FULL]]
    assert decide(ADMIN, "sqs:ListQueues", identity_policies=[ADMIN_POLICY], scps=levels).allowed
    denied = decide(ADMIN, "sns:ListTopics", identity_policies=[ADMIN_POLICY], scps=levels)
    assert "because no service control policy allows the sns:ListTopics action (none at level 0" in denied.reason
    assert not decide(ADMIN, "s3:ListAllMyBuckets", identity_policies=[ADMIN_POLICY], scps=levels).allowed


def test_scp_allow_missing_at_the_account_level() -> None:
    # ORG orgs_manage_policies_scps_evaluation.html: an explicit Allow is needed at every level "including the target
    # account itself"; a level with nothing allowing it denies.
    assert not decide(ADMIN, "sqs:ListQueues", identity_policies=[ADMIN_POLICY], scps=[[FULL], [FULL], []]).allowed
    only_s3 = scp("s3 only", stmt("Allow", "s3:*"))
    assert not decide(ADMIN, "sqs:ListQueues", identity_policies=[ADMIN_POLICY], scps=[[FULL], [only_s3]]).allowed


def test_scps_never_grant() -> None:
    # ORG orgs_manage_policies_scps.html: "A user without any IAM permission policies has no access, even if the
    # applicable SCPs allow all services and all actions."
    d = decide(ADMIN, "sqs:ListQueues", scps=[[FULL]])
    assert d.reason.endswith("because no identity-based policy allows the sqs:ListQueues action")


DENY_KEY_DESTRUCTION = scp(
    "org-backup-deny-backup-tampering",
    {
        "Sid": "DenyBackupKeyDestructionExceptDeployRole",
        "Effect": "Deny",
        "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"],
        "Resource": "*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/org-backup/OrgBackupDeployRole"}},
    },
)
DEFAULT_KEY_POLICY = policy(
    "key policy",
    {
        "Sid": "Enable IAM policies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
        "Action": "kms:*",
        "Resource": "*",
    },
)


def test_member_account_administrator_cannot_schedule_key_deletion() -> None:
    # ORG orgs_manage_policies_scps.html: a permission blocked by a Deny at any level can't be used "even if the account
    # administrator attaches the AdministratorAccess IAM policy"; IAM troubleshoot_access-denied.html message format.
    d = decide(
        ADMIN,
        "kms:ScheduleKeyDeletion",
        KEY,
        identity_policies=[ADMIN_POLICY],
        resource_policy=DEFAULT_KEY_POLICY,
        key_policy=True,
        scps=[[FULL, DENY_KEY_DESTRUCTION], [FULL]],
    )
    assert d == Decision(
        False,
        f"arn:aws:sts::{A}:assumed-role/admin/alice is not authorized to perform: kms:ScheduleKeyDeletion on resource: {KEY} "
        "with an explicit deny in a service control policy (SCP org-backup-deny-backup-tampering, statement "
        "DenyBackupKeyDestructionExceptDeployRole)",
        ("SCP org-backup-deny-backup-tampering#DenyBackupKeyDestructionExceptDeployRole",),
    )
    deploy = decide(
        DEPLOY,
        "kms:ScheduleKeyDeletion",
        KEY,
        identity_policies=[ADMIN_POLICY],
        resource_policy=DEFAULT_KEY_POLICY,
        key_policy=True,
        scps=[[FULL, DENY_KEY_DESTRUCTION], [FULL]],
    )
    assert deploy.allowed and deploy.statements == ("AdministratorAccess#0", "key policy#Enable IAM policies")


def test_scps_do_not_apply_to_the_management_account() -> None:
    # ORG orgs_manage_policies_scps.html: "SCPs don't affect users or roles in the management account" (scps=None).
    assert decide(
        ADMIN,
        "kms:ScheduleKeyDeletion",
        KEY,
        identity_policies=[ADMIN_POLICY],
        resource_policy=DEFAULT_KEY_POLICY,
        key_policy=True,
    ).allowed


def test_scps_do_not_apply_to_service_linked_roles() -> None:
    # ORG orgs_manage_policies_scps.html: "SCPs do not affect any service-linked role".
    deny_all = scp("deny all", stmt("Deny", "*"))
    backup = policy("AWSBackupServiceRolePolicy", stmt("Allow", "backup:*"))
    assert decide(SLR, "backup:StartBackupJob", identity_policies=[backup], scps=[[FULL, deny_all]]).allowed
    assert not decide(ADMIN, "backup:StartBackupJob", identity_policies=[backup], scps=[[FULL, deny_all]]).allowed


def test_scps_restrict_the_member_root_user() -> None:
    # IAM reference_policies_condition-keys.html aws:PrincipalArn: the root user ARN "in AWS Organizations service
    # control policies"; ORG: SCPs affect "the member account's root user".
    deny_root = scp(
        "deny root", stmt("Deny", "*", Condition={"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}})
    )
    d = decide(ROOT, "s3:CreateBucket", "arn:aws:s3:::b", resource_account=A, scps=[[FULL, deny_root]])
    assert not d.allowed and d.statements == ("SCP deny root#0",)


def test_scp_with_principal_raises() -> None:
    # ORG orgs_manage_policies_scps_syntax.html "Unsupported elements": Principal, NotPrincipal.
    with pytest.raises(ValueError):
        decide(
            ADMIN,
            "s3:ListAllMyBuckets",
            identity_policies=[ADMIN_POLICY],
            scps=[[scp("bad", stmt("Deny", "*", Principal="*"))]],
        )


# --- KMS key policies -------------------------------------------------------------------------------------------------
def test_kms_root_statement_only_enables_iam_policies() -> None:
    # KMS key-policy-default.html: with the account principal, "the policy statement doesn't give any IAM users or
    # roles permission to use the KMS key. Instead, it allows the account to use IAM policies to delegate".
    kw: dict[str, Any] = {"resource_policy": DEFAULT_KEY_POLICY, "key_policy": True}
    assert not decide(ADMIN, "kms:Decrypt", KEY, **kw).allowed
    assert decide(
        ADMIN, "kms:Decrypt", KEY, identity_policies=[policy("use key", stmt("Allow", "kms:Decrypt", KEY))], **kw
    ).allowed
    # "Without this permission, IAM policies that allow access to the key are ineffective, although IAM policies that
    # deny access to the key are still effective."
    deny = policy("no decrypt", stmt("Deny", "kms:Decrypt", KEY))
    assert not decide(ADMIN, "kms:Decrypt", KEY, identity_policies=[ADMIN_POLICY, deny], **kw).allowed


def test_kms_iam_policy_alone_grants_nothing() -> None:
    key_policy = policy(
        "key policy",
        {"Sid": "Users", "Effect": "Allow", "Principal": {"AWS": DEPLOY.arn}, "Action": "kms:*", "Resource": "*"},
    )
    d = decide(ADMIN, "kms:Decrypt", KEY, identity_policies=[ADMIN_POLICY], resource_policy=key_policy, key_policy=True)
    assert d.reason.endswith("because no resource-based policy allows the kms:Decrypt action")


def test_kms_key_policy_grants_directly() -> None:
    # KMS key-policy-default.html: the key users and administrators statements name roles; DENYALLOW: KMS key policies
    # "must explicitly allow access for principals", and they can on their own.
    key_policy = policy(
        "key policy",
        {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": DEPLOY.arn}, "Action": "kms:*", "Resource": "*"},
    )
    assert decide(DEPLOY, "kms:ScheduleKeyDeletion", KEY, resource_policy=key_policy, key_policy=True).allowed
    star = policy(
        "key policy",
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": A}},
        },
    )
    assert decide(ADMIN, "kms:Decrypt", KEY, {"kms:CallerAccount": A}, resource_policy=star, key_policy=True).allowed
    assert not decide(
        ADMIN, "kms:Decrypt", KEY, {"kms:CallerAccount": B}, resource_policy=star, key_policy=True
    ).allowed


def test_kms_cross_account_needs_key_policy_and_iam() -> None:
    # KMS key-policy-modifying-external-accounts.html: "Neither the key policy nor the IAM policy alone is sufficient".
    external = policy(
        "key policy",
        DEFAULT_KEY_POLICY.document["Statement"][0],
        {
            "Sid": "External",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": ["kms:Decrypt", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        },
    )
    use = policy("use key", stmt("Allow", ["kms:Decrypt", "kms:ScheduleKeyDeletion"], KEY))
    assert decide(
        OUTSIDER, "kms:Decrypt", KEY, identity_policies=[use], resource_policy=external, key_policy=True
    ).allowed
    assert not decide(OUTSIDER, "kms:Decrypt", KEY, resource_policy=external, key_policy=True).allowed
    assert not decide(
        OUTSIDER, "kms:Decrypt", KEY, identity_policies=[use], resource_policy=DEFAULT_KEY_POLICY, key_policy=True
    ).allowed
    # "if you give ... kms:ScheduleKeyDeletion permission on a KMS key in a key policy, the user's attempts to call
    # those operations on your resources still fail."
    d = decide(
        OUTSIDER, "kms:ScheduleKeyDeletion", KEY, identity_policies=[use], resource_policy=external, key_policy=True
    )
    assert d.reason.endswith("because AWS KMS does not allow kms:ScheduleKeyDeletion on a KMS key of another account")


# --- Cross-account ----------------------------------------------------------------------------------------------------
# CROSS: Carlos in 111111111111 saves a file to buckets of 222222222222.
CARLOS_A = Principal("arn:aws:iam::111111111111:user/carlossalazar")
CARLOS_A_POLICY = policy(
    "carlossalazar policy",
    {"Sid": "AllowS3ListRead", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
    {
        "Sid": "AllowS3ProductionObjectActions",
        "Effect": "Allow",
        "Action": "s3:*Object*",
        "Resource": "arn:aws:s3:::Production/*",
    },
    {
        "Sid": "DenyS3Logs",
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"],
    },
)
PRODUCTION = policy(
    "Production bucket policy",
    {
        "Effect": "Allow",
        "Action": ["s3:GetObject*", "s3:PutObject*", "s3:ReplicateObject", "s3:RestoreObject"],
        "Principal": {"AWS": CARLOS_A.arn},
        "Resource": "arn:aws:s3:::Production/*",
    },
)


def test_cross_account_example() -> None:
    kw: dict[str, Any] = {"identity_policies": [CARLOS_A_POLICY], "resource_account": "222222222222"}
    # "Because the request is explicitly denied within one of the accounts, the final decision is to deny the request."
    assert not decide(CARLOS_A, "s3:PutObject", "arn:aws:s3:::Production-logs/f", **kw).allowed
    # "Because both accounts allow the request, the final decision is to allow the request."
    assert decide(CARLOS_A, "s3:PutObject", "arn:aws:s3:::Production/f", resource_policy=PRODUCTION, **kw).allowed
    # Without the bucket policy, the trusting account does not allow it.
    d = decide(CARLOS_A, "s3:PutObject", "arn:aws:s3:::Production/f", **kw)
    assert d.reason.endswith("because no resource-based policy allows the s3:PutObject action")
    # He "can't manage the bucket itself" and the bucket policy does not allow deleting.
    assert not decide(
        CARLOS_A, "s3:DeleteObject", "arn:aws:s3:::Production/f", resource_policy=PRODUCTION, **kw
    ).allowed


def test_cross_account_needs_the_identity_side_too() -> None:
    # CROSS: "the requester in the trusted AccountA must have an identity-based policy"; PRINCIPAL: a "*" grant still
    # needs "identity-based permissions in their account".
    bucket = policy("bucket", stmt("Allow", "s3:GetObject", "arn:aws:s3:::shared/*", Principal="*"))
    kw: dict[str, Any] = {"resource_policy": bucket, "resource_account": A}
    assert not decide(OUTSIDER, "s3:GetObject", "arn:aws:s3:::shared/x", **kw).allowed
    assert decide(OUTSIDER, "s3:GetObject", "arn:aws:s3:::shared/x", identity_policies=[ADMIN_POLICY], **kw).allowed
    boundary = policy("boundary", stmt("Allow", "ec2:*"))
    assert not decide(
        OUTSIDER,
        "s3:GetObject",
        "arn:aws:s3:::shared/x",
        identity_policies=[ADMIN_POLICY],
        permissions_boundary=boundary,
        **kw,
    ).allowed


def test_not_principal_bob_example() -> None:
    # IAM reference_policies_elements_notprincipal.html: everyone but Bob (named with his account) is denied.
    bob = Principal(f"arn:aws:iam::{B}:user/Bob")
    bucket = policy(
        "bucket",
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [bob.arn, f"arn:aws:iam::{B}:root"]},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"],
        },
        stmt("Allow", "s3:GetObject", "arn:aws:s3:::BUCKETNAME/*", Principal={"AWS": B}),
    )
    kw: dict[str, Any] = {"resource_policy": bucket, "resource_account": A, "identity_policies": [ADMIN_POLICY]}
    assert decide(bob, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", **kw).allowed
    assert not decide(OUTSIDER, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", **kw).allowed
    # BOUNDARIES: NotPrincipal with Deny "will always deny any IAM principal that has a permissions boundary".
    assert not decide(bob, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", permissions_boundary=ADMIN_POLICY, **kw).allowed
    # Naming Bob without his account: "the effect of the policy might be to explicitly deny access to the AWS account
    # that contains the user Bob" (might: AWS leaves it open), but it surely denies everyone else.
    partial = policy(
        "bucket",
        {"Effect": "Deny", "NotPrincipal": {"AWS": bob.arn}, "Action": "s3:*", "Resource": "arn:aws:s3:::BUCKETNAME/*"},
    )
    with pytest.raises(ValueError):
        decide(bob, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", resource_policy=partial, resource_account=A)
    assert not decide(
        OUTSIDER, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", resource_policy=partial, resource_account=A
    ).allowed


# --- Role trust policies (sts:AssumeRole) -----------------------------------------------------------------------------
DEPLOY_ROLE = DEPLOY.arn
PR_BUILDER = Principal(f"arn:aws:iam::{A}:role/org-backup-pull-request", session_name="build")
TRUST = policy(
    "OrgBackupDeployRole trust policy",
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/org-backup-deploy"}, "Action": "sts:AssumeRole"},
)


def test_trust_policy_must_name_the_caller() -> None:
    # DENYALLOW: "IAM role trust policies and KMS key policies are exceptions ... they must explicitly allow access
    # for principals": the pull-request builder, even with AdministratorAccess, cannot assume the deploy role.
    d = decide(PR_BUILDER, "sts:AssumeRole", DEPLOY_ROLE, identity_policies=[ADMIN_POLICY], resource_policy=TRUST)
    assert d.reason.endswith("because no resource-based policy allows the sts:AssumeRole action")
    builder = Principal(f"arn:aws:iam::{A}:role/org-backup-deploy", session_name="build")
    assert decide(
        builder, "sts:AssumeRole", DEPLOY_ROLE, resource_policy=TRUST
    ).allowed  # named role: no IAM policy needed


def test_trust_policy_naming_the_account_delegates() -> None:
    trust = policy("trust", {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"})
    assert not decide(PR_BUILDER, "sts:AssumeRole", DEPLOY_ROLE, resource_policy=trust).allowed
    assume = policy("assume", stmt("Allow", "sts:AssumeRole", DEPLOY_ROLE))
    assert decide(PR_BUILDER, "sts:AssumeRole", DEPLOY_ROLE, resource_policy=trust, identity_policies=[assume]).allowed
    # A role with no trust policy given: nothing lets anyone assume it.
    assert not decide(PR_BUILDER, "sts:AssumeRole", DEPLOY_ROLE, identity_policies=[ADMIN_POLICY]).allowed


# --- Service principals -----------------------------------------------------------------------------------------------
TOPIC_POLICY = policy(
    "alerts topic policy",
    {
        "Sid": "EventBridge",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": TOPIC,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:events:eu-west-1:{A}:rule/*"}},
    },
)


def test_service_principal_needs_the_resource_policy() -> None:
    # PRINCIPAL #principal-services; IAM reference_policies_condition-keys.html aws:SourceArn: present "only if
    # accessing a resource triggers an AWS service to call another service on behalf of the resource owner".
    rule: dict[str, ContextValue] = {"aws:SourceArn": f"arn:aws:events:eu-west-1:{A}:rule/backup-failed"}
    assert decide(EVENTS, "sns:Publish", TOPIC, rule, resource_policy=TOPIC_POLICY).statements == (
        "alerts topic policy#EventBridge",
    )
    assert not decide(EVENTS, "sns:Publish", TOPIC, resource_policy=TOPIC_POLICY).allowed
    assert not decide(Principal("s3.amazonaws.com"), "sns:Publish", TOPIC, rule, resource_policy=TOPIC_POLICY).allowed
    assert not decide(EVENTS, "sns:Publish", TOPIC, rule).allowed
    # SCPs restrict IAM users and roles of member accounts, not service principals.
    assert decide(
        EVENTS, "sns:Publish", TOPIC, rule, resource_policy=TOPIC_POLICY, scps=[[scp("deny", stmt("Deny", "*"))]]
    ).allowed


def test_service_principal_has_no_identity_policies() -> None:
    with pytest.raises(ValueError):
        decide(EVENTS, "sns:Publish", TOPIC, identity_policies=[ADMIN_POLICY], resource_policy=TOPIC_POLICY)


# --- Malformed input --------------------------------------------------------------------------------------------------
MALFORMED: list[tuple[str, dict[str, Any]]] = [
    (
        "no Effect",
        {"identity_policies": [Policy("p", {"Version": "2012-10-17", "Statement": {"Action": "*", "Resource": "*"}})]},
    ),
    ("Effect is not Allow/Deny", {"identity_policies": [policy("p", stmt("allow", "*"))]}),
    (
        "Action and NotAction",
        {"identity_policies": [policy("p", {"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"})]},
    ),
    ("neither Action nor NotAction", {"identity_policies": [policy("p", {"Effect": "Allow", "Resource": "*"})]}),
    ("Resource and NotResource", {"identity_policies": [policy("p", stmt("Allow", "*", NotResource="*"))]}),
    ("identity statement without Resource", {"identity_policies": [policy("p", stmt("Allow", "*", None))]}),
    ("misspelt element", {"identity_policies": [policy("p", stmt("Allow", "*", Conditions={}))]}),
    ("Principal in an identity policy", {"identity_policies": [policy("p", stmt("Allow", "*", Principal="*"))]}),
    ("resource policy without Principal", {"resource_policy": policy("p", stmt("Allow", "*"))}),
    (
        "wildcard inside a principal ARN",
        {"resource_policy": policy("p", stmt("Allow", "*", Principal={"AWS": f"arn:aws:iam::{A}:role/*"}))},
    ),
    ("unknown principal type", {"resource_policy": policy("p", stmt("Allow", "*", Principal={"Aws": "*"}))}),
    ("unknown Version", {"identity_policies": [policy("p", stmt("Allow", "*"), version="2012-10-18")]}),
    ("no Statement", {"identity_policies": [Policy("p", {"Version": "2012-10-17"})]}),
    ("Resource not an ARN", {"identity_policies": [policy("p", stmt("Allow", "*", "my-topic"))]}),
    (
        "unknown operator",
        {"identity_policies": [policy("p", stmt("Allow", "*", Condition={"StringEqualsIgnorecase": {"k": "v"}}))]},
    ),
    ("key_policy without the key policy", {"key_policy": True}),
    ("scps with no level", {"scps": []}),
]


@pytest.mark.parametrize("kwargs", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_policies_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        decide(ADMIN, "sns:Publish", TOPIC, **kwargs)


def test_malformed_requests_raise() -> None:
    with pytest.raises(ValueError):  # resource_account is needed: an S3 bucket ARN has no account
        decide(ADMIN, "s3:GetObject", "arn:aws:s3:::bucket/k", resource_policy=CARLOS_BUCKET)
    with pytest.raises(ValueError):
        decide(ADMIN, "sns:Publish", "my-topic")
    with pytest.raises(ValueError):
        decide(ADMIN, "sns:Publish", TOPIC, {"aws:SecureTransport": {"yes": True}}, identity_policies=[ADMIN_POLICY])  # type: ignore[dict-item]


def test_a_malformed_statement_raises_even_when_another_decides() -> None:
    # "a policy AWS would refuse must not silently evaluate": the bad statement comes after a Deny that applies.
    p = policy("p", stmt("Deny", "*"), stmt("Allow", "*", Condition={"StringEqualz": {"k": "v"}}))
    with pytest.raises(ValueError):
        decide(ADMIN, "sns:Publish", TOPIC, identity_policies=[p])


# --- Properties over many requests ------------------------------------------------------------------------------------
def test_a_deny_beats_any_allow_for_every_action_and_layer() -> None:
    # DENYALLOW: "An explicit deny in any policy overrides any allows."
    for action in ["sns:Publish", "kms:Decrypt", "s3:GetObject", "iam:PassRole", "backup:DeleteRecoveryPoint"]:
        deny = policy("deny", stmt("Deny", action))
        allow_everything: dict[str, Any] = {
            "identity_policies": [ADMIN_POLICY, deny],
            "scps": [[FULL]],
            "resource_account": A,
        }
        assert not decide(ADMIN, action, **allow_everything).allowed
        assert decide(ADMIN, action, identity_policies=[ADMIN_POLICY], scps=[[FULL]], resource_account=A).allowed


def test_not_action_is_the_complement_of_action() -> None:
    # IAM reference_policies_elements_notaction.html: NotAction "matches everything except the specified list".
    actions = ["s3:GetObject", "S3:putobject", "iam:CreateUser", "kms:Decrypt", "sqs:SendMessage"]
    for action in actions:
        with_action = decide(ADMIN, action, identity_policies=[policy("a", stmt("Allow", ["s3:*", "kms:*"]))])
        with_not_action = decide(
            ADMIN,
            action,
            identity_policies=[policy("n", {"Effect": "Allow", "NotAction": ["s3:*", "kms:*"], "Resource": "*"})],
        )
        assert with_action.allowed != with_not_action.allowed, action


OPERATOR_VALUES = {
    "StringEquals": "a",
    "StringNotEquals": "a",
    "StringEqualsIgnoreCase": "a",
    "StringNotEqualsIgnoreCase": "a",
    "StringLike": "a*",
    "StringNotLike": "a*",
    "NumericEquals": "1",
    "NumericNotEquals": "1",
    "NumericLessThan": "1",
    "NumericLessThanEquals": "1",
    "NumericGreaterThan": "1",
    "NumericGreaterThanEquals": "1",
    "DateEquals": "2020-01-01",
    "DateNotEquals": "2020-01-01",
    "DateLessThan": "2020-01-01",
    "DateLessThanEquals": "2020-01-01",
    "DateGreaterThan": "2020-01-01",
    "DateGreaterThanEquals": "2020-01-01",
    "Bool": "true",
    "BinaryEquals": "QUJD",
    "IpAddress": "203.0.113.0/24",
    "NotIpAddress": "203.0.113.0/24",
    "ArnEquals": TOPIC,
    "ArnLike": TOPIC,
    "ArnNotEquals": TOPIC,
    "ArnNotLike": TOPIC,
}


@pytest.mark.parametrize("operator", sorted(OPERATOR_VALUES))
def test_missing_key_for_every_operator(operator: str) -> None:
    # OPS "Important": a key missing from the request context makes the condition false, or true if the operator
    # "requires that the key is *not* matched"; "You can add IfExists to the end of any condition operator name except
    # the Null condition" and then a missing key is true. MULTI: ForAllValues true, ForAnyValue false.
    negated = "Not" in operator
    value = OPERATOR_VALUES[operator]
    assert conditions_hold({operator: {"k": value}}, {}) is negated
    assert conditions_hold({f"{operator}IfExists": {"k": value}}, {}) is True
    assert conditions_hold({f"ForAllValues:{operator}": {"k": value}}, {}) is True
    assert conditions_hold({f"ForAnyValue:{operator}": {"k": value}}, {}) is False


def test_root_user_of_another_account() -> None:
    # CROSS with DENYALLOW: the root user "has full access" in its own account's evaluation; the bucket policy in the
    # trusting account must still allow its account.
    root_b = Principal(f"arn:aws:iam::{B}:root")
    bucket = policy("bucket", stmt("Allow", "s3:GetObject", "arn:aws:s3:::shared/*", Principal={"AWS": B}))
    assert decide(root_b, "s3:GetObject", "arn:aws:s3:::shared/x", resource_policy=bucket, resource_account=A).allowed
    assert not decide(root_b, "s3:GetObject", "arn:aws:s3:::shared/x", resource_account=A).allowed


def test_resource_policy_deny_naming_an_account_covers_its_principals() -> None:
    # PRINCIPAL #principal-accounts: "Using the account ARN in the Principal element does not limit permissions to
    # only the root user of the account"; a Deny naming the account applies to its roles' sessions.
    bucket = policy(
        "bucket",
        stmt("Allow", "s3:GetObject", "arn:aws:s3:::shared/*", Principal="*"),
        stmt("Deny", "s3:GetObject", "arn:aws:s3:::shared/*", Principal={"AWS": f"arn:aws:iam::{B}:root"}, Sid="NoB"),
    )
    d = decide(
        OUTSIDER,
        "s3:GetObject",
        "arn:aws:s3:::shared/x",
        identity_policies=[ADMIN_POLICY],
        resource_policy=bucket,
        resource_account=A,
    )
    assert not d.allowed and d.statements == ("bucket#NoB",) and "explicit deny in a resource-based policy" in d.reason


def test_org_id_condition_across_accounts() -> None:
    # IAM reference_policies_condition-keys.html aws:PrincipalOrgID: "allows members of any account in the
    # o-xxxxxxxxxxx organization" with Principal "*".
    bucket = policy(
        "bucket",
        stmt(
            "Allow",
            "s3:PutObject",
            "arn:aws:s3:::policy-ninja-dev/*",
            Principal="*",
            Condition={"StringEquals": {"aws:PrincipalOrgID": "o-xxxxxxxxxxx"}},
        ),
    )
    member = Principal(OUTSIDER.arn, "s", org_id="o-xxxxxxxxxxx")
    kw: dict[str, Any] = {"identity_policies": [ADMIN_POLICY], "resource_policy": bucket, "resource_account": A}
    assert decide(member, "s3:PutObject", "arn:aws:s3:::policy-ninja-dev/k", **kw).allowed
    assert not decide(OUTSIDER, "s3:PutObject", "arn:aws:s3:::policy-ninja-dev/k", **kw).allowed


def test_service_principal_and_star() -> None:
    # PRINCIPAL #principal-anonymous: "Principal": "*" grants access "to all users"; {"AWS": "*"} is equivalent.
    for element in ["*", {"AWS": "*"}]:
        topic_policy = policy("topic", stmt("Allow", "sns:Publish", TOPIC, Principal=element))
        assert decide(EVENTS, "sns:Publish", TOPIC, resource_policy=topic_policy).allowed


def test_allowed_decision_names_its_statements() -> None:
    p = policy("publisher", stmt("Allow", "sns:Publish", TOPIC, Sid="Publish"))
    d = decide(ADMIN, "sns:Publish", TOPIC, identity_policies=[p])
    assert d == Decision(
        True,
        f"{ADMIN.session_arn} is allowed to perform: sns:Publish on {TOPIC} by publisher#Publish",
        ("publisher#Publish",),
    )
