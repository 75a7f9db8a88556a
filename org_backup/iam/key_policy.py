"""Whether a KMS key policy lets another account of the organization copy what the key encrypts, decided by
``org_backup.iam.evaluator`` (AWS's documented evaluation logic) for the requests AWS Backup's cross-account copy makes to
AWS KMS. Used by ``org_backup.ops.readiness``.

Pages: BACKUP/ = https://docs.aws.amazon.com/aws-backup/latest/devguide/, KMS/ =
https://docs.aws.amazon.com/kms/latest/developerguide/. One request per action of shared_key_actions(kind):
- actions: SHARED_KEY_ACTIONS for every kind (the grant the copy creates, decrypting the data keys, reading the key);
  EBS volumes and EC2 instances (EBS snapshots) also EBS_SNAPSHOT_KEY_ACTIONS. Amazon EBS User Guide, "Share the KMS
  key used to encrypt a shared Amazon EBS snapshot" (https://docs.aws.amazon.com/ebs/latest/userguide/share-kms-key.html):
  users of the shared key "must be granted permissions to perform the following actions on the key: kms:DescribeKey,
  kms:CreateGrant, kms:GenerateDataKey, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncrypt, kms:Decrypt". "ReEncrypt"
  is authorized as two actions, ReEncryptFrom and ReEncryptTo: "To permit reencryption from or to a KMS key, include the
  "kms:ReEncrypt*" permission in your key policy" (KMS API Reference, ReEncrypt,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html). NOT FOUND for RDS, Aurora, DocumentDB and
  Neptune: a page listing the actions their snapshot copy needs (their guides add the account through the console,
  whose statements allow all of these), so they are checked for SHARED_KEY_ACTIONS only.
- principal: the destination account's service-linked role AWSServiceRoleForBackup (BACKUP/using-service-linked-roles.html:
  "For cross-account backup, the destination account uses a service-linked role to pull backups into the destination
  vault"), in the organization (BACKUP/create-cross-account-backup.html: the two accounts must "belong to the same
  organization"), so aws:PrincipalOrgID is the organization's id. Its own permissions (AWS's managed policy) are not
  read: they are taken to allow the action on the key, so only the key policy decides.
- resource: the key's ARN, in the source account: a cross-account request, which needs the key policy to allow it
  (KMS/key-policy-modifying-external-accounts.html: "Neither the key policy nor the IAM policy alone is sufficient").
- context (evaluator.request_context adds aws:PrincipalArn, aws:PrincipalAccount, aws:ResourceAccount and the like):
  - kms:GrantIsForAWSResource true on kms:CreateGrant (KMS/conditions-kms.html: it allows the grant operations "only when
    an AWS services integrated with AWS KMS calls the operation on the user's behalf", as the copy is made); absent on
    the other actions (its "API operations" are CreateGrant, ListGrants and RevokeGrant only).
  - kms:CallerAccount: the destination account (KMS/conditions-kms.html: the key that stands for "all identities (IAM
    users and roles) in an AWS account").
  - aws:SecureTransport true (KMS/data-protection.html: "All AWS KMS API calls must be signed and be transmitted using
    Transport Layer Security (TLS)").
  - kms:ViaService: NOT FOUND in AWS's pages: which service name the copy's KMS requests carry (AWS Backup's, or that of
    the service that copies the snapshot: EBS's ec2, RDS's and Aurora's rds; KMS/conditions-kms.html#viaService_table),
    nor which Region's. Each is tried in the key's Region ("Use the .amazonaws.com suffix ... in all AWS partitions"),
    and the action counts as allowed only when every one is. DocumentDB's and Neptune's APIs are served by RDS's
    endpoint (botocore's docdb and neptune models: endpointPrefix "rds"), so theirs is tried as rds.

Errs towards a false alarm, never towards silence: an action is missing when the evaluator denies it or refuses the
policy (ValueError: what AWS would refuse or leaves open), when the allow rests on a statement whose condition reads a
context key not listed above (aws:SourceIp, kms:GrantOperations...: the copy's value is unknown here), and when such a
condition could make a Deny apply. Grants on the key are not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from org_backup.iam.evaluator import ContextValue, Policy, Principal, Request, evaluate, request_context

# Actions a destination account needs on the source key to copy a snapshot encrypted with it (and to restore it
# back): the grant the copy creates, decrypting the snapshot's data keys, reading the key (see the module docstring).
SHARED_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant")
EBS_SNAPSHOT_KEY_ACTIONS = (
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
BACKUP_SERVICE_LINKED_ROLE = "aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"
# readiness's resource kinds (AWS Backup's type names) -> the KMS ViaService name of the service holding their snapshots.
_SNAPSHOT_SERVICE = {"EBS": "ec2", "EC2": "ec2", "RDS": "rds", "Aurora": "rds", "DocumentDB": "rds", "Neptune": "rds"}
_GRANT_ACTIONS = ("kms:creategrant", "kms:listgrants", "kms:revokegrant")  # where kms:GrantIsForAWSResource exists


def shared_key_actions(resource_kind: str) -> tuple[str, ...]:
    """What the copy of a ``resource_kind`` snapshot needs on its source key."""
    return SHARED_KEY_ACTIONS + (EBS_SNAPSHOT_KEY_ACTIONS if _SNAPSHOT_SERVICE.get(resource_kind) == "ec2" else ())


def copy_requests(key_arn: str, account: str, organization_id: str, resource_kind: str) -> list[Request]:
    """The requests of a copy to ``account`` of a ``resource_kind`` snapshot encrypted with ``key_arn``: one per action
    of shared_key_actions(resource_kind) and kms:ViaService value."""
    _, partition, _, region, *_ = (key_arn.split(":", 5) + [""] * 5)[:6]
    role = Principal(f"arn:{partition}:iam::{account}:role/{BACKUP_SERVICE_LINKED_ROLE}", org_id=organization_id)
    services = ["backup", *filter(None, [_SNAPSHOT_SERVICE.get(resource_kind)])]
    requests = []
    for action in shared_key_actions(resource_kind):
        context: dict[str, ContextValue] = {"kms:CallerAccount": account, "aws:SecureTransport": True}
        context |= {"kms:GrantIsForAWSResource": True} if action.lower() in _GRANT_ACTIONS else {}
        for service in services:
            via = {"kms:ViaService": f"{service}.{region}.amazonaws.com"}
            requests.append(Request(role, action, key_arn, context | via))
    return requests


def _statements(policy: Mapping[str, Any], keep: list[Any] | None = None) -> Policy:
    return Policy("key policy", {**policy, "Statement": keep} if keep is not None else policy)


def _decide(request: Request, key_policy: Policy) -> tuple[bool, str, tuple[str, ...]]:
    # The role's own side: allowed on this key (see the module docstring).
    own = Policy(
        f"{BACKUP_SERVICE_LINKED_ROLE.rsplit('/', 1)[1]} permissions (assumed)",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": request.action, "Resource": request.resource}],
        },
    )
    decision = evaluate(request, identity_policies=[own], resource_policy=key_policy, key_policy=True)
    return decision.allowed, decision.reason, decision.statements


def _unknown_keys(statement: Any, known: set[str]) -> list[str]:
    condition = statement.get("Condition", {}) if isinstance(statement, Mapping) else {}
    return sorted({key for block in condition.values() for key in block if key.lower() not in known})


def _why_not(policy: Mapping[str, Any], request: Request) -> str | None:
    """Why ``request`` may fail under ``policy`` (None: AWS allows it, whatever the copy's unknown context keys say)."""
    try:
        allowed, reason, _ = _decide(request, _statements(policy))
        if not allowed:
            return reason
        raw = policy["Statement"]
        statements = [raw] if isinstance(raw, Mapping) else list(raw)
        # kms:GrantIsForAWSResource is known on every action: absent where it does not apply, so AWS reads it as absent.
        known = {key.lower() for key in request_context(request)} | {"kms:grantisforawsresource"}
        unknown = {i: keys for i, s in enumerate(statements) if (keys := _unknown_keys(s, known))}
        for i, keys in unknown.items():
            bare = {k: v for k, v in statements[i].items() if k != "Condition"}
            if bare["Effect"] == "Deny" and _decide(request, _statements(policy, [bare]))[2]:
                sid = statements[i].get("Sid", i)
                return f"statement {sid} may deny it: it depends on {', '.join(keys)}, whose values are unknown here"
        rest = [s for i, s in enumerate(statements) if i not in unknown]
        if unknown and not (rest and _decide(request, _statements(policy, rest))[0]):
            keys = sorted({key for found in unknown.values() for key in found})
            return f"only statements conditioned on {', '.join(keys)} allow it, and the copy's values are unknown here"
    except ValueError as exc:
        return f"the policy cannot be evaluated: {exc}"
    return None


def shares_with(
    policy: Mapping[str, Any], *, key_arn: str, account: str, organization_id: str, resource_kind: str
) -> dict[str, str]:
    """The actions of shared_key_actions(resource_kind) the key policy does *not* let ``account``'s copy use, each with
    why (empty: shared)."""
    missing: dict[str, str] = {}
    for request in copy_requests(key_arn, account, organization_id, resource_kind):
        if request.action not in missing and (why := _why_not(policy, request)):
            missing[request.action] = f"{why} (kms:ViaService {request.context['kms:ViaService']})"
    return missing
