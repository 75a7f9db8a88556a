"""Every IAM, SCP, key and resource policy in the synthesized output passes parliament (offline action database):
no finding except those in policies/lint-allowlist.yaml, each with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from org_backup.ops import policy_lint
from org_backup.ops.policy_lint import Allowed, Document, Finding

SCENARIOS = ["example", "minimal", "central_is_member", "connection_source", "air_gapped", "external_ci"]


@pytest.fixture(scope="module")
def findings(synth: Any) -> dict[str, list[Finding]]:
    return {s: policy_lint.lint(policy_lint.documents(synth(s).outdir)) for s in SCENARIOS}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_policy_has_a_finding_outside_the_allowlist(findings: dict[str, list[Finding]], scenario: str) -> None:
    left, _ = policy_lint.unallowed(findings[scenario], policy_lint.load_allowlist())
    assert [str(f) for f in left] == []


@pytest.mark.slow
def test_no_policy_lets_its_holder_escalate(findings: dict[str, list[Finding]]) -> None:
    """parliament's community privilege-escalation auditor over every synthesized policy of every scenario: no
    finding at all (the allowlist may not cover one; the deploy role's lambda:UpdateFunctionCode was one)."""
    escalations = [str(f) for scenario in SCENARIOS for f in findings[scenario] if f.issue == "PRIVILEGE_ESCALATION"]
    assert escalations == []


def test_the_escalation_auditor_runs_and_cannot_be_allowlisted(tmp_path: Any) -> None:
    """The negative control: the defect this issue found is reported, and an allowlist entry for it is refused."""
    edit_function = Document(
        "member-444444444444",
        "aws_iam_role_policy.x",
        "policy",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "lambda:UpdateFunctionCode",
                    "Resource": "arn:aws:lambda:*:*:function:org-backup-tag-reapply",
                }
            ],
        },
    )
    assert "PRIVILEGE_ESCALATION" in [f.issue for f in policy_lint.lint([edit_function])]
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("- issue: PRIVILEGE_ESCALATION\n  kind: '*'\n  reason: because\n")
    with pytest.raises(ValueError, match="PRIVILEGE_ESCALATION cannot be allowlisted"):
        policy_lint.load_allowlist(allowlist)


@pytest.mark.slow
def test_every_allowlist_entry_has_a_reason_and_is_still_needed(findings: dict[str, list[Finding]]) -> None:
    allowlist = policy_lint.load_allowlist()
    assert all(len(entry.reason) > 40 for entry in allowlist)
    everything = [f for scenario in SCENARIOS for f in findings[scenario]]
    _, unused = policy_lint.unallowed(everything, allowlist)
    assert unused == []


def test_every_kind_of_policy_document_is_linted(synth: Any) -> None:
    kinds = {d.kind for d in policy_lint.documents(synth("example").outdir)}
    assert {
        "aws_iam_role.assume_role_policy",
        "aws_iam_role_policy.policy",
        "aws_kms_key.policy",
        "aws_backup_vault_policy.policy",
        "aws_s3_bucket_policy.policy",
        "aws_sqs_queue.policy",
        "aws_sns_topic_policy.policy",
        "aws_organizations_policy.content",
        "aws_cloudformation_stack_set.template_body.Resources.DeployRolePolicy1.Properties.PolicyDocument",
        "aws_cloudformation_stack_set.template_body.Resources.PlanRole.Properties.Policies[0].PolicyDocument",
        "aws_cloudformation_stack_set.template_body.Resources.FunctionsBoundary.Properties.PolicyDocument",
        "aws_iam_policy.policy(OrgBackupDeployRole-1)",
    } <= kinds
    contents = [
        d for d in policy_lint.documents(synth("example").outdir) if d.kind == "aws_organizations_policy.content"
    ]
    assert contents and all("Deny" in str(d.document) for d in contents)  # SCPs only; backup policies are not IAM


def test_a_scoped_create_stack_set_is_reported() -> None:
    """The defect this lint was brought in for: an action that takes only "*", scoped to an ARN."""
    document = Document(
        "management",
        "aws_iam_role_policy.x",
        "policy",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "cloudformation:CreateStackSet",
                    "Resource": "arn:aws:cloudformation:*:*:stackset/org-backup-deploy-roles:*",
                }
            ],
        },
    )
    (finding,) = policy_lint.lint([document])
    assert finding.issue == "RESOURCE_MISMATCH" and "cloudformation:CreateStackSet" in finding.detail
    left, _ = policy_lint.unallowed([finding], policy_lint.load_allowlist())
    assert left == [finding]


def test_an_allowlist_entry_covers_only_its_kind_and_detail() -> None:
    entry = Allowed("RESOURCE_STAR", "aws_kms_key.policy", "", "reason")
    key_policy = Finding(Document("s", "aws_kms_key.k", "policy", {}), "RESOURCE_STAR", "[]")
    role_policy = Finding(Document("s", "aws_iam_role_policy.r", "policy", {}), "RESOURCE_STAR", "[]")
    assert entry.covers(key_policy) and not entry.covers(role_policy)


def _trust(statement: dict[str, Any]) -> Document:
    return Document(
        "bootstrap-management",
        "aws_iam_role.deploy-role",
        "assume_role_policy",
        {"Version": "2012-10-17", "Statement": [statement]},
    )


def test_an_account_may_be_trusted_only_when_narrowed_to_one_role() -> None:
    """Replaces checkov's CKV_AWS_61 (skipped: it fails every account principal, with or without a condition)."""
    account = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "sts:AssumeRole"}
    narrowed = account | {"Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::333333333333:role/b"}}}
    wildcard = account | {"Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::333333333333:role/*"}}}
    broad = [f.issue for f in policy_lint.lint([_trust(account)])]
    assert policy_lint.BROAD_ACCOUNT_TRUST in broad
    assert policy_lint.BROAD_ACCOUNT_TRUST in [f.issue for f in policy_lint.lint([_trust(wildcard)])]
    assert policy_lint.BROAD_ACCOUNT_TRUST not in [f.issue for f in policy_lint.lint([_trust(narrowed)])]
