"""moto's IAM, made strict enough to rehearse a deployment as the roles that run it. ``install()`` applies it.

With enforcement on (``POST /moto-api/reset-auth``, body ``0``), moto 5.2.5 checks each call's action against the
caller's identity policies. Where that is wrong or missing for org-backup, this module replaces it:

1. Signatures of bodyless requests (REST GET/HEAD/DELETE): moto signed the parsed query as a form body, so every
   such call (DescribeBackupVault, GetFunction, ...) failed SignatureDoesNotMatch. They are signed with an empty
   body, as the SDKs do.
2. Identity policies, action by action. moto evaluates most calls against the resource "*", so an Allow scoped to
   an ARN never matched, and it lacks most condition keys, so an Allow with a Condition acted like a Deny. Here an
   Allow statement grants the actions it names whatever its Resource and Condition say; a Deny statement denies
   only when it names no condition and no specific resource. What this proves: every action Terraform calls is in
   the role's policy. What it cannot: that the policy's resource ARNs and conditions match. Those are checked
   where they are written (tests/test_pipeline.py, tests/test_policy_lint.py with parliament).
3. KMS key policies: moto never read them. A KMS call on a key that the caller's identity policy does not allow
   is allowed when the key's policy has an Allow statement naming the caller's role and the action (org-backup
   grants key administration to the deploy role that way, not in IAM). Statements with conditions, or whose
   principal is an account (delegation to IAM, already evaluated) or "*", grant nothing here.
4. Role trust policies on sts:AssumeRole: moto compared the caller's session ARN with the trust's principal, so an
   account principal never matched. Here a statement matches the caller when it names the caller's role or user
   ARN, its account (root ARN or id), or "*", and when every condition it has holds: StringEquals, StringLike,
   ArnEquals and ArnLike on aws:PrincipalArn, aws:PrincipalAccount and aws:PrincipalOrgID. Any other condition
   does not hold, so a trust this module cannot judge denies rather than allows.
5. Principals that do not exist: IAM, KMS, S3 and AWS Backup reject a trust, key, bucket or vault policy that
   names a role or user that does not exist, or an account that does not exist ("Invalid principal in policy");
   moto accepted anything. Roles and users must exist in moto's IAM of their account, accounts must belong to an
   organization in moto. Always on, like AWS.
6. Roles CloudFormation created (the StackSet's deploy and plan roles): moto stores their inline policies parsed,
   and its own policy reader failed on them (HTTP 500 on every call such a role made). Read as they are.
7. Refusals in the caller's protocol: moto answered every denied call with an XML error, which the SDKs of JSON
   services (KMS, Organizations, CodeBuild, SQS, AWS Backup, Lambda, ...) cannot read, so Terraform reported
   "deserialization failed" instead of AWS's AccessDeniedException naming the action. JSON services get JSON.
8. S3 bucket requests checked against the wrong action: moto asked for an ``s3:HeadBucket`` permission that does
   not exist (AWS: "To use HeadBucket, you must have permissions to perform the s3:ListBucket action", S3 API
   reference), and read or wrote a bucket's encryption, public access block, ownership controls, replication,
   Object Lock and request payment settings as ``s3:ListBucket`` / ``s3:CreateBucket`` / ``s3:DeleteBucket``,
   so a role lacking those permissions passed. Each is checked as the S3 action AWS names for it.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from typing import Any

from botocore.awsrequest import AWSRequest
from moto.backup.exceptions import InvalidParameterValueException
from moto.core.exceptions import JsonRESTError
from moto.iam import access_control
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.exceptions import NotFoundException as IamNotFound
from moto.iam.models import IAMBackend, iam_backends
from moto.iam.responses import IamResponse
from moto.kms.exceptions import NotFoundException as KmsNotFound
from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.organizations.models import organizations_backends
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend

_BODYLESS = ("GET", "HEAD", "DELETE")


def _create_aws_request(self: access_control.IAMRequestBase) -> AWSRequest:  # 1
    signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed, self._headers)
    data = self._body if (self._body or self._method in _BODYLESS) else self._data
    request = AWSRequest(method=self._method, url=self._path, data=data or b"", headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in as_list(patterns))


def _document(policy: Any) -> dict[str, Any]:
    if isinstance(policy, dict) and "Statement" in policy:
        return policy  # 6
    return access_control.IAMPolicy(policy)._policy_json


def _identity_decision(policies: list[Any], action: str) -> str:  # 2
    decision = "neutral"
    for policy in policies:
        for statement in as_list(_document(policy)["Statement"]):
            if "NotAction" in statement:
                concerned = not matches(statement["NotAction"], action)
            else:
                concerned = matches(statement.get("Action", []), action)
            if not concerned:
                continue
            if statement["Effect"] == "Deny":
                if not statement.get("Condition") and statement.get("Resource", "*") == "*":
                    return "denied"
            else:
                decision = "permitted"
    return decision


def _caller_principal(self: access_control.IAMRequestBase) -> str:
    """The IAM ARN that policies name for the caller: a role for an assumed-role session, else the user."""
    arn = self._access_key.arn
    if ":assumed-role/" in arn:
        partition, rest = arn.split(":sts::", 1)[0], arn.split(":sts::", 1)[1]
        account, role = rest.split(":assumed-role/", 1)[0], rest.split(":assumed-role/", 1)[1].split("/")[0]
        return f"{partition}:iam::{account}:role/{role}"
    return arn


def _request_value(self: access_control.IAMRequestBase, name: str) -> str | None:
    try:
        value = json.loads(self._body or b"{}").get(name)
    except ValueError:
        value = None
    if value is None:
        value = self._data.get(name)
    return value[0] if isinstance(value, list) else value


def _key_policy_allows(self: access_control.IAMRequestBase) -> bool:  # 3
    backend: KmsBackend = kms_backends[self.account_id][self._region]
    key_id = _request_value(self, "KeyId") or _request_value(self, "TargetKeyId")
    alias = _request_value(self, "AliasName")
    if not key_id and alias:
        key_id = backend.get_key_id_from_alias(alias)
    if not key_id:
        return False
    try:
        key = backend.describe_key(key_id)
    except (KeyError, KmsNotFound):  # no such key: the API answers NotFound after authorization
        return False
    caller = _caller_principal(self)
    for statement in as_list(json.loads(key.policy)["Statement"]):
        principals = statement.get("Principal", {})
        aws = as_list(principals.get("AWS", [])) if isinstance(principals, dict) else []
        if (
            statement["Effect"] == "Allow"
            and not statement.get("Condition")
            and caller in aws
            and matches(statement.get("Action", []), self._action)
        ):
            return True
    return False


def _organization_of(account_id: str) -> str | None:
    for backends in organizations_backends.values():
        for backend in backends.values():
            org = getattr(backend, "org", None)
            if org and any(a.id == account_id for a in backend.accounts):
                return str(org.id)
    return None


def _known_accounts() -> set[str]:
    return {a.id for backends in organizations_backends.values() for b in backends.values() for a in b.accounts}


_OPERATORS = {"StringEquals": False, "ArnEquals": False, "StringLike": True, "ArnLike": True, "Bool": False}


def _trust_allows(caller: str, role_arn: str) -> bool:  # 4
    account = role_arn.split(":")[4]
    role_name = role_arn.rsplit("/", 1)[-1]
    backend: IAMBackend = iam_backends[account]["aws"]
    try:
        role = backend.get_role(role_name)
    except IamNotFound:  # a role that does not exist cannot be assumed
        return False
    caller_account = caller.split(":")[4]
    context = {
        "aws:principalarn": caller,
        "aws:principalaccount": caller_account,
        "aws:principalorgid": _organization_of(caller_account) or "",
    }
    for statement in as_list(json.loads(role.assume_role_policy_document)["Statement"]):
        if statement["Effect"] != "Allow" or not matches(statement.get("Action", []), "sts:AssumeRole"):
            continue
        principals = statement.get("Principal")
        names = (
            ["*"] if principals == "*" else as_list(principals.get("AWS", [])) if isinstance(principals, dict) else []
        )
        named = any(p in ("*", caller, caller_account, f"arn:aws:iam::{caller_account}:root") for p in names)
        if named and conditions_hold(statement.get("Condition", {}), context):
            return True
    return False


def conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, keys in conditions.items():
        if operator not in _OPERATORS:
            return False
        for key, expected in keys.items():
            actual = context.get(key.lower())
            if actual is None:
                return False
            if _OPERATORS[operator]:
                if not matches(expected, actual):
                    return False
            elif actual.lower() not in {str(value).lower() for value in as_list(expected)}:
                return False
    return True


_REST_JSON = ("backup", "lambda")  # REST services whose errors are JSON (the others are XML, or carry X-Amz-Target)


class _AccessDeniedJson(JsonRESTError):
    code = 403


def _deny(self: access_control.IAMRequestBase, why: str) -> None:  # 7
    """Refuse, and say why in the server's log (moto.log): the answer AWS gives says only AccessDenied."""
    print(f"moto_iam: DENIED {self._action} for {self._access_key.arn}: {why}", file=sys.stderr, flush=True)
    headers = {k.lower(): v for k, v in self._headers.items()}
    if "x-amz-target" in headers or self._action.split(":")[0] in _REST_JSON:
        raise _AccessDeniedJson(
            "AccessDeniedException", f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
        )
    self._raise_access_denied()


def _check_signature(self: access_control.IAMRequestBase) -> None:
    if self._get_string_between("Signature=", ",", self._headers["Authorization"]) != self._calculate_signature():
        print(f"moto_iam: SIGNATURE MISMATCH {self._method} {self._path} ({self._action})", file=sys.stderr, flush=True)
        self._raise_signature_does_not_match()


def _check_action_permitted(self: access_control.IAMRequestBase, resource: str) -> None:  # 2, 3, 4
    if self._action == "sts:GetCallerIdentity":  # always allowed, as in AWS
        return
    decision = _identity_decision(self._access_key.collect_policies(), self._action)
    if decision == "denied":
        _deny(self, "an unconditional Deny in its identity policies")
    if decision != "permitted" and not (self._action.startswith("kms:") and _key_policy_allows(self)):
        _deny(
            self,
            "no identity policy allows the action"
            + (" and no key policy names the caller" if self._action.startswith("kms:") else ""),
        )
    if self._action == "sts:AssumeRole":
        role = _request_value(self, "RoleArn") or ""
        if not _trust_allows(_caller_principal(self), role):
            _deny(self, f"the trust policy of {role} does not let {_caller_principal(self)} assume it")


class _InvalidKeyPolicy(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals."
        )


def invalid_principals(document: str | bytes | None) -> list[str]:  # 5
    """The AWS principals a policy names that do not exist."""
    if not document:
        return []
    statements = as_list(json.loads(document).get("Statement", []))
    accounts = _known_accounts()
    missing = []
    for statement in statements:
        principals = statement.get("Principal")
        aws = as_list(principals.get("AWS", [])) if isinstance(principals, dict) else []
        for principal in aws:
            if principal == "*" or ":assumed-role/" in principal:
                continue
            account = principal if principal.isdigit() else principal.split(":")[4] if principal.count(":") >= 5 else ""
            if account not in accounts:
                missing.append(principal)
                continue
            kind, _, name = principal.split(":", 5)[-1].partition("/")
            if kind in ("role", "user"):
                backend: IAMBackend = iam_backends[account]["aws"]
                names = {r.name for r in backend.roles.values()} if kind == "role" else set(backend.users)
                if name.rsplit("/", 1)[-1] not in names:
                    missing.append(principal)
    return missing


def _reject_in_iam(document: str) -> None:
    missing = invalid_principals(document)
    if missing:
        raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{missing[0]}"')


_create_role = IamResponse.create_role
_update_assume_role_policy = IamResponse.update_assume_role_policy
_create_key = KmsResponse.create_key
_put_key_policy = KmsResponse.put_key_policy
_put_bucket_policy = S3Backend.put_bucket_policy


# Checked on the API, not in moto's backends: moto itself creates roles (CreateOrganization, StackSet instances)
# whose trust it does not need to justify; AWS's own service calls are not what the rehearsal tests.
def _create_role_strict(self: IamResponse) -> Any:
    _reject_in_iam(self._get_param("AssumeRolePolicyDocument"))
    return _create_role(self)


def _update_assume_role_policy_strict(self: IamResponse) -> Any:
    _reject_in_iam(self._get_param("PolicyDocument"))
    return _update_assume_role_policy(self)


def _create_key_strict(self: KmsResponse) -> Any:
    if invalid_principals(self._get_param("Policy")):
        raise _InvalidKeyPolicy()
    return _create_key(self)


def _put_key_policy_strict(self: KmsResponse) -> Any:
    if invalid_principals(self._get_param("Policy")):
        raise _InvalidKeyPolicy()
    return _put_key_policy(self)


class _InvalidBucketPolicy(S3ClientError):
    code = 400

    def __init__(self) -> None:
        super().__init__("MalformedPolicy", "Invalid principal in policy")


def _put_bucket_policy_strict(self: S3Backend, bucket_name: str, policy: bytes) -> None:
    if invalid_principals(policy):
        raise _InvalidBucketPolicy()
    _put_bucket_policy(self, bucket_name, policy)


def check_vault_policy(policy: str) -> None:
    """AWS Backup, like IAM, rejects a vault access policy naming a principal that does not exist."""
    missing = invalid_principals(policy)
    if missing:
        raise InvalidParameterValueException(f"Invalid principal in policy: {missing[0]}")


# fix 8: (method, query parameter) -> the IAM action of the S3 API reference for it
_S3_BUCKET_ACTIONS = {
    "HEAD": {"DEFAULT": "ListBucket"},
    "GET": {
        "encryption": "GetEncryptionConfiguration",
        "publicAccessBlock": "GetBucketPublicAccessBlock",
        "ownershipControls": "GetBucketOwnershipControls",
        "replication": "GetReplicationConfiguration",
        "object-lock": "GetBucketObjectLockConfiguration",
        "requestPayment": "GetBucketRequestPayment",
    },
    "PUT": {
        "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
        "ownershipControls": "PutBucketOwnershipControls",
    },
    "DELETE": {
        "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
        "ownershipControls": "PutBucketOwnershipControls",
    },
}


def install() -> None:
    for method, actions in _S3_BUCKET_ACTIONS.items():
        s3_responses.ACTION_MAP["BUCKET"][method].update(actions)
    access_control.IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]
    access_control.IAMRequestBase.check_action_permitted = _check_action_permitted  # type: ignore[method-assign]
    access_control.IAMRequestBase.check_signature = _check_signature  # type: ignore[method-assign]
    IamResponse.create_role = _create_role_strict  # type: ignore[method-assign]
    IamResponse.update_assume_role_policy = _update_assume_role_policy_strict  # type: ignore[method-assign]
    KmsResponse.create_key = _create_key_strict  # type: ignore[method-assign]
    KmsResponse.put_key_policy = _put_key_policy_strict  # type: ignore[method-assign]
    S3Backend.put_bucket_policy = _put_bucket_policy_strict  # type: ignore[method-assign]
