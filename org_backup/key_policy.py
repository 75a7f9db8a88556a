"""Reading a KMS key policy literally: which of the actions a cross-account copy needs it lets another account use.

Allow statements count when they name the whole account (its root, the account id, or ``*``) and their
conditions, if any, only narrow to that account or its organization (``aws:PrincipalOrgID``,
``aws:PrincipalAccount``, ``aws:SourceAccount`` with StringEquals); an Allow for one role of the account does not
count (which principal of the destination account does the copy is AWS Backup's business). An explicit Deny
naming the account or any principal in it, on the same action, wins. Grants, other conditions and IAM policies of the destination account are not evaluated: a key
that relies on them reads as not shared, which errs towards a false alarm, never towards silence. Used by
``org_backup.readiness``.
"""

from __future__ import annotations

import fnmatch
from typing import Any

# Actions a destination account needs on the source key to copy a snapshot encrypted with it (and to restore it
# back): the grant the copy creates, decrypting the snapshot's data keys, reading the key.
SHARED_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant")
# The conditions under which a "*" principal still means "accounts of this organization" (or one account).
_NARROWING_KEYS = ("aws:principalorgid", "aws:principalaccount", "aws:sourceaccount")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _names_account(principal: Any, account: str, partition: str, *, or_one_of_its_principals: bool) -> bool:
    if principal == "*":
        return True
    aws = principal.get("AWS", []) if isinstance(principal, dict) else []
    return any(
        p in ("*", account, f"arn:{partition}:iam::{account}:root")
        or (or_one_of_its_principals and p.startswith(f"arn:{partition}:iam::{account}:"))
        for p in _as_list(aws)
    )


def _covers(statement: dict[str, Any], action: str) -> bool:
    patterns = [a.lower() for a in _as_list(statement.get("Action", []))]
    return any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in patterns)


def _narrowed_to_the_account(statement: dict[str, Any], account: str, organization_id: str) -> bool:
    """Whether the statement's conditions, if any, still admit ``account`` and go no further than we can read."""
    for operator, conditions in statement.get("Condition", {}).items():
        for key, values in conditions.items():
            if key.lower() not in _NARROWING_KEYS or not operator.startswith("StringEquals"):
                return False  # a condition we do not evaluate: not counted as sharing
            if organization_id not in _as_list(values) and account not in _as_list(values):
                return False
    return True


def shares_with(policy: dict[str, Any], account: str, organization_id: str, partition: str = "aws") -> list[str]:
    """The actions of SHARED_KEY_ACTIONS the key policy does *not* let ``account`` use (empty: shared)."""
    missing = []
    for action in SHARED_KEY_ACTIONS:
        allowed = denied = False
        for statement in _as_list(policy.get("Statement", [])):
            if not _covers(statement, action):
                continue
            deny = statement.get("Effect") == "Deny"
            if not _names_account(statement.get("Principal", {}), account, partition, or_one_of_its_principals=deny):
                continue
            if deny:
                denied = True
            elif _narrowed_to_the_account(statement, account, organization_id):
                allowed = True
        if denied or not allowed:
            missing.append(action)
    return missing
