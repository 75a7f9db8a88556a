"""moto's IAM, made strict enough to rehearse a deployment as the roles that run it. ``install()`` applies it.

With enforcement on (``POST /moto-api/reset-auth``, body ``0``), moto 5.2.5 checks each call's action against the
caller's identity policies. Where that is wrong or missing for org-backup, this module replaces it:

1. Signatures of bodyless requests (REST GET/HEAD/DELETE): moto signed the parsed query as a form body, so every
   such call (DescribeBackupVault, GetFunction, ...) failed SignatureDoesNotMatch. They are signed with an empty
   body, as the SDKs do.
2. Authorization: moto evaluated most calls against the resource "*", without conditions, key policies, resource
   policies, SCPs or the permissions AWS checks behind a call (iam:PassRole ...), so an Allow for another
   resource, an Allow whose condition never holds, or a missing PassRole all passed. Every request is decided by
   tests/rehearsal/moto_authz.py with org_backup.iam.evaluator, as AWS documents its evaluation; see that module for
   what it builds and what it still does not model.
3. Principals that do not exist: IAM, KMS, S3 and AWS Backup reject a trust, key, bucket or vault policy that
   names a role or user that does not exist, or an account that does not exist ("Invalid principal in policy");
   moto accepted anything. Roles and users must exist in moto's IAM of their account, accounts must belong to an
   organization in moto. Always on, like AWS.
4. Roles CloudFormation created (the StackSet's deploy and plan roles): moto stores their inline policies parsed,
   and its own policy reader failed on them (HTTP 500 on every call such a role made). Read as they are.
5. Refusals in the caller's protocol: moto answered every denied call with an XML error, which the SDKs of JSON
   services (KMS, Organizations, CodeBuild, SQS, AWS Backup, Lambda, ...) cannot read, so Terraform reported
   "deserialization failed" instead of AWS's AccessDeniedException naming the action. JSON services get JSON.
6. S3 bucket requests checked against the wrong action: moto asked for an ``s3:HeadBucket`` permission that does
   not exist (AWS: "To use HeadBucket, you must have permissions to perform the s3:ListBucket action", S3 API
   reference), and read or wrote a bucket's encryption, public access block, ownership controls, replication,
   Object Lock and request payment settings as ``s3:ListBucket`` / ``s3:CreateBucket`` / ``s3:DeleteBucket``,
   so a role lacking those permissions passed. Each is checked as the S3 action AWS names for it.
7. With ``ORG_BACKUP_TEST_CALL_LOG`` naming a file (benchmarks/fleet.py), every call checked is appended to it as
   ``<caller account> <action> <Region> <role ARN, for sts:AssumeRole>``: the API calls a deployment makes, by the account
   that makes them (AWS counts request quotas against the calling account).
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import threading
from typing import Any, NoReturn

from botocore.awsrequest import AWSRequest
from moto.backup.exceptions import InvalidParameterValueException
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam import access_control
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.models import IAMBackend, iam_backends
from moto.iam.responses import IamResponse
from moto.kms.responses import KmsResponse
from moto.organizations.models import organizations_backends
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend

from tests.rehearsal import moto_authz

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


_REST_JSON = ("backup", "lambda")  # REST services whose errors are JSON (the others are XML, or carry X-Amz-Target)


class _AccessDeniedJson(JsonRESTError):
    code = 403


class _AccessDeniedXml(_RESTError):
    code = 403


def _deny(self: access_control.IAMRequestBase, why: str) -> NoReturn:  # 5
    """Refuse with AWS's kind of message: who, which action, on which resource, because of which policy (also in the
    server's log, moto.log). S3 answers its own AccessDenied document, which carries no reason."""
    print(f"moto_iam: DENIED {self._action} for {self._access_key.arn}: {why}", file=sys.stderr, flush=True)
    headers = {k.lower(): v for k, v in self._headers.items()}
    if "x-amz-target" in headers or self._action.split(":")[0] in _REST_JSON:
        raise _AccessDeniedJson("AccessDeniedException", why)
    if self._action.startswith("s3:"):
        self._raise_access_denied()
    raise _AccessDeniedXml("AccessDenied", why)


def _check_signature(self: access_control.IAMRequestBase) -> None:
    if self._get_string_between("Signature=", ",", self._headers["Authorization"]) != self._calculate_signature():
        print(f"moto_iam: SIGNATURE MISMATCH {self._method} {self._path} ({self._action})", file=sys.stderr, flush=True)
        self._raise_signature_does_not_match()


_CALL_LOG = os.environ.get("ORG_BACKUP_TEST_CALL_LOG")
_CALL_LOG_LOCK = threading.Lock()


def _log_call(self: access_control.IAMRequestBase) -> None:  # 7
    call = moto_authz.Call.of(self)
    role = call.param("RoleArn") if call.action == "sts:AssumeRole" else None
    line = f"{call.account} {call.action} {call.region} {role or '-'}\n"
    assert _CALL_LOG is not None
    with _CALL_LOG_LOCK, open(_CALL_LOG, "a", encoding="utf-8") as out:
        out.write(line)


def _check_action_permitted(self: access_control.IAMRequestBase, resource: str) -> None:  # 2, 5
    if _CALL_LOG:
        _log_call(self)
    try:
        decision = moto_authz.decide(self)
    except (moto_authz.Unmodelled, ValueError) as error:  # ValueError: a policy AWS would refuse or cannot decide
        _deny(self, f"the test server cannot decide this request as AWS would: {error}")
    if decision is not None:
        _deny(self, decision.reason)


class _InvalidKeyPolicy(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals."
        )


def invalid_principals(document: str | bytes | None) -> list[str]:  # 3
    """The AWS principals a policy names that do not exist."""
    if not document:
        return []
    statements = as_list(json.loads(document).get("Statement", []))
    accounts = {a.id for backends in organizations_backends.values() for b in backends.values() for a in b.accounts}
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


# fix 6: (method, query parameter) -> the IAM action of the S3 API reference for it
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
