"""Lint every policy document in synthesized stacks with parliament: unknown actions, actions whose resource
types can never match the policy's Resource, malformed statements, unknown condition keys.

parliament (PyPI) works offline from its bundled copy of AWS's Service Authorization Reference. Every IAM identity
policy, role trust policy, SCP and resource policy (KMS key, backup vault, S3 bucket, SQS queue, SNS topic, event
bus) is found by shape: any string attribute of a resource that parses as a JSON document with a ``Statement``,
including the IAM policies inside the deploy-role StackSet's CloudFormation template. Backup policies (type
BACKUP_POLICY) are not IAM documents and are checked by ``org_backup.plans.backup_policy``.

parliament's community auditors run too (privilege escalation, permissions management, credentials exposure, ...);
a PRIVILEGE_ESCALATION finding can never be allowlisted.

One rule is org-backup's own (``BROAD_ACCOUNT_TRUST``): a role trust policy may name an account only when an
``aws:PrincipalArn`` condition narrows it to one role.

Findings that are not defects are listed once, with the reason, in ``policies/lint-allowlist.yaml``; an allowlist
entry that matches nothing is itself reported, so the list cannot go stale.

    python -m org_backup.ops.policy_lint cdktf.out   # exit 1 on a finding the allowlist does not cover
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from org_backup.config.paths import POLICIES_DIR

ALLOWLIST = POLICIES_DIR / "lint-allowlist.yaml"


@dataclass(frozen=True)
class Document:
    stack: str
    address: str  # <resource type>.<resource name>
    path: str  # attribute path inside the resource, e.g. "policy" or "template_body.Resources.DeployRole..."
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        """What the allowlist matches on: resource type and attribute path, without the resource's name."""
        return f"{self.address.split('.', 1)[0]}.{self.path}"


@dataclass(frozen=True)
class Finding:
    document: Document
    issue: str
    detail: str

    def __str__(self) -> str:
        return f"{self.document.stack}: {self.document.address} {self.document.path}: {self.issue}: {self.detail}"


@dataclass(frozen=True)
class Allowed:
    issue: str
    kind: str  # shell pattern on Document.kind
    detail: str  # substring of the finding's detail ("" matches any)
    reason: str

    def covers(self, finding: Finding) -> bool:
        return (
            finding.issue == self.issue
            and fnmatch.fnmatchcase(finding.document.kind, self.kind)
            and self.detail in finding.detail
        )


def _documents_in(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "Statement" in node and "Version" in node:
            yield path, node
            return
        for key, value in node.items():
            if key != "//":
                yield from _documents_in(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _documents_in(value, f"{path}[{index}]")
    elif isinstance(node, str) and node.lstrip().startswith("{"):
        try:
            parsed = json.loads(node)
        except ValueError:
            return
        yield from _documents_in(parsed, path)


def documents(outdir: Path) -> list[Document]:
    found = []
    for stack_dir in sorted(p for p in (outdir / "stacks").iterdir() if (p / "cdk.tf.json").is_file()):
        stack = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
        for rtype, items in stack.get("resource", {}).items():
            for name, body in items.items():
                if rtype == "aws_organizations_policy" and body.get("type") != "SERVICE_CONTROL_POLICY":
                    continue  # a backup (or tag) policy is not an IAM document
                for path, document in _documents_in(body, ""):
                    if rtype == "aws_iam_policy" and isinstance(body.get("name"), str):
                        # A managed policy's kind carries its name: a permissions boundary (which grants nothing)
                        # and a deploy role's permissions are different kinds of document for the allowlist.
                        path = f"{path}({body['name']})"
                    found.append(Document(stack_dir.name, f"{rtype}.{name}", path, document))
    return found


_ACCOUNT_PRINCIPAL = re.compile(r"^(\d{12}|arn:aws[\w-]*:iam::\d{12}:root)$")
BROAD_ACCOUNT_TRUST = "ORG_BACKUP_ACCOUNT_TRUST_WITHOUT_PRINCIPAL_ARN"


def _trust_findings(doc: Document) -> Iterator[Finding]:
    """org-backup's own rule, stricter than checkov's CKV_AWS_61 (which fails every account principal, condition or
    not, and is skipped for that reason): a role trust policy may name an account only if an aws:PrincipalArn
    condition narrows it to exactly one role of that account."""
    if not doc.kind.endswith(("assume_role_policy", "AssumeRolePolicyDocument")):
        return
    for statement in doc.document.get("Statement", []):
        principals = statement.get("Principal", {})
        aws = principals.get("AWS", []) if isinstance(principals, dict) else []
        accounts = [a for a in ([aws] if isinstance(aws, str) else aws) if _ACCOUNT_PRINCIPAL.match(a)]
        if statement.get("Effect") != "Allow" or not accounts:
            continue
        narrowed = [
            value
            for operator in ("ArnEquals", "StringEquals")
            for value in [statement.get("Condition", {}).get(operator, {}).get("aws:PrincipalArn")]
            if isinstance(value, str) and ":role/" in value and "*" not in value
        ]
        if len(narrowed) != 1:
            detail = f"{accounts} may assume without an aws:PrincipalArn condition naming one role"
            yield Finding(doc, BROAD_ACCOUNT_TRUST, json.dumps(detail))


def lint(docs: Iterable[Document]) -> list[Finding]:
    findings = []
    for doc in docs:
        findings += [
            Finding(doc, issue, detail) for issue, detail in _analyze(json.dumps(doc.document, sort_keys=True))
        ]
        findings.extend(_trust_findings(doc))
    return findings


@functools.cache
def _analyze(document: str) -> tuple[tuple[str, str], ...]:
    """parliament's (issue, detail) pairs for one policy document. A pure function of the text, so each distinct
    document is analyzed once: the same policy recurs in every account and Region (138 documents in the example's
    output, far fewer distinct ones)."""
    with warnings.catch_warnings():  # parliament imports pkg_resources, which warns that it is deprecated
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string, statement

    _understand_arrays_of_arns(statement)
    found = []
    # The community auditors too: privilege escalation, permissions management, credentials exposure,
    # NotPrincipal/NotResource with Allow, single-valued keys under set operators.
    for finding in analyze_policy_string(document, include_community_auditors=True).findings:
        # The community auditors put what they found in the location (the actions), not in the detail.
        actions = finding.location.get("actions") if isinstance(finding.location, dict) else None
        detail = finding.detail if finding.detail or not actions else sorted(actions)
        found.append((finding.issue, json.dumps(detail, sort_keys=True)))
    return tuple(found)


def _understand_arrays_of_arns(statement: Any) -> None:
    """parliament raised "Unknown data format: ArrayOfARN" on backup:CopyTargets (its action database types that
    key ArrayOfARN; its type table knows Arn, and reads ArrayOfString as String), so the copy SCP of mode
    central_vault could not be linted. Read as its element type, as parliament reads ArrayOfString: a
    ForAllValues/ForAnyValue operator compares each element, and each element of an ArrayOfARN is an ARN."""
    translate = statement.translate_documentation_types
    if getattr(translate, "knows_arrays_of_arns", False):
        return

    def with_arrays(kind: str) -> str:
        return str(translate("Arn" if kind == "ArrayOfARN" else kind))

    with_arrays.knows_arrays_of_arns = True  # type: ignore[attr-defined]
    statement.translate_documentation_types = with_arrays


# Findings no allowlist entry may cover, whatever its reason: a policy that lets its holder escalate is a defect.
NEVER_ALLOWED = ("PRIVILEGE_ESCALATION",)


def load_allowlist(path: Path = ALLOWLIST) -> list[Allowed]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    refused = [e["issue"] for e in entries if e["issue"] in NEVER_ALLOWED]
    if refused:
        raise ValueError(f"{path}: {', '.join(refused)} cannot be allowlisted: fix the policy instead")
    return [Allowed(e["issue"], e["kind"], e.get("detail", ""), e["reason"]) for e in entries]


def unallowed(findings: list[Finding], allowlist: list[Allowed]) -> tuple[list[Finding], list[Allowed]]:
    """Findings no entry covers, and entries that cover no finding (stale)."""
    left = [f for f in findings if not any(a.covers(f) for a in allowlist)]
    unused = [a for a in allowlist if not any(a.covers(f) for f in findings)]
    return left, unused


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m org_backup.ops.policy_lint <cdktf.out>", file=sys.stderr)
        return 2
    docs = documents(Path(argv[0]))
    findings = lint(docs)
    left, _ = unallowed(findings, load_allowlist())
    for finding in left:
        print(finding)
    print(f"parliament: {len(docs)} policy documents, {len(findings)} findings, {len(left)} not allowlisted")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
