"""The configuration's security rules (org_backup/config/security.py and the reviewer/administrator formats): each
mistake refused with its field, the bad value, the rule and the fix; the example and fixtures still load."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from tests.conftest import EXAMPLE_CONFIG, MINIMAL_CONFIG

MINIMAL: dict[str, Any] = yaml.safe_load((MINIMAL_CONFIG).read_text())
HOME, MANAGEMENT, CENTRAL = "100000000003", "100000000001", "100000000002"


def _problems(change: dict[str, Any]) -> list[str]:
    raw = copy.deepcopy(MINIMAL)
    for path, value in change.items():
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    with pytest.raises(InputError) as refused:
        config_from_dict(raw, source="backup.yaml")
    return [p.render() for p in refused.value.problems]


def test_reviewers_are_required_with_codecommit() -> None:
    assert _problems({"pipeline.source.reviewers": None}) == [
        "pipeline.source.codecommit.reviewers: is required but missing. Fix: add 'reviewers' under pipeline.source: the ARNs of "
        "the people whose approval counts as a pull request's review, e.g. [\"arn:aws:sts::<home account>:assumed-role/"
        "<reviewers' role>/*\"] (docs/security.md, Pipeline)."
    ]


def test_a_reviewer_must_be_a_fully_qualified_principal_arn() -> None:
    (problem,) = _problems({"pipeline.source.reviewers": ["Mary_Major"]})
    assert problem.startswith(
        "pipeline.source.codecommit.reviewers[0]: 'Mary_Major' is not a reviewer ARN for a CodeCommit"
    )
    assert "Fix: name the people who review" in problem


def test_a_reviewer_in_another_account_is_refused() -> None:
    assert _problems({"pipeline.source.reviewers": ["arn:aws:sts::999999999999:assumed-role/Reviewers/*"]}) == [
        "pipeline.source.reviewers[0]: 'arn:aws:sts::999999999999:assumed-role/Reviewers/*' is in account "
        f"999999999999, not the home account {HOME} where the repository and its pull requests are: CodeCommit "
        "counts approvals by the principal that gives them. Fix: name the role reviewers assume in the home account."
    ]


@pytest.mark.parametrize("role", ["org-backup-plan", "org-backup-pull-request", "org-backup-pr-approval"])
def test_no_pipeline_role_can_be_a_reviewer(role: str) -> None:
    reviewer = f"arn:aws:sts::{HOME}:assumed-role/{role}/*"
    assert _problems({"pipeline.source.reviewers": [reviewer]}) == [
        f"pipeline.source.reviewers[0]: {reviewer!r} matches the pipeline's own role {role}, whose approval would let "
        "a build review itself. Fix: name the role human reviewers assume."
    ]


def test_more_required_reviews_than_named_reviewers_could_never_merge() -> None:
    reviewer = f"arn:aws:iam::{HOME}:user/ana"
    assert _problems({"pipeline.source.reviewers": [reviewer], "pipeline.source.required_reviews": 2}) == [
        "pipeline.source.required_reviews: 2 approvals are required but the pool names only 1 principal(s), so no "
        "pull request could ever merge. Fix: lower it or name more reviewers."
    ]


def test_the_pipeline_guardrail_needs_administrators_and_a_member_home_account() -> None:
    assert _problems({"guardrails.pipeline_account": {"enabled": True}}) == [
        "guardrails.administrators: is empty, but guardrails.pipeline_account exempt only these principals from what "
        "they deny, so nobody could run `make bootstrap` there again. Fix: list the role ARNs of the administrators "
        'who apply bootstrap, e.g. ["arn:aws:iam::<home account>:role/Admin"].'
    ]
    problems = _problems(
        {
            "pipeline.home_account_id": MANAGEMENT,
            "pipeline.source.reviewers": [f"arn:aws:sts::{MANAGEMENT}:assumed-role/Reviewers/*"],
            "guardrails.pipeline_account": {"enabled": True},
            "guardrails.administrators": [f"arn:aws:iam::{MANAGEMENT}:role/Admin"],
        }
    )
    assert problems == [
        f"guardrails.pipeline_account.enabled: the home account {MANAGEMENT} is the management account, where SCPs "
        "never apply. Fix: run the pipeline in a member account (AWS: use the management account only for tasks that "
        "need it), or turn it off."
    ]


@pytest.mark.parametrize(
    ("administrator", "matched"),
    [
        (f"arn:aws:iam::{HOME}:role/org-backup-*", "org-backup-validate"),
        (f"arn:aws:iam::{HOME}:role/*", "org-backup-validate"),
        (f"arn:aws:iam::{CENTRAL}:role/OrgBackupDeployRole", "OrgBackupDeployRole"),
    ],
)
def test_an_administrator_pattern_may_not_exempt_the_roles_the_guardrails_hold(
    administrator: str, matched: str
) -> None:
    problems = _problems(
        {"guardrails.pipeline_account": {"enabled": True}, "guardrails.administrators": [administrator]}
    )
    assert problems == [
        f"guardrails.administrators[0]: {administrator!r} matches {matched}, one of the roles the guardrails hold (the "
        "pipeline's, the deploy and plan roles): it would exempt them from what they deny. Fix: name the "
        "administrators' own role."
    ]


def test_administrators_of_other_accounts_are_refused() -> None:
    outsider = "arn:aws:iam::999999999999:role/Admin"
    assert _problems({"guardrails.pipeline_account": {"enabled": True}, "guardrails.administrators": [outsider]}) == [
        f"guardrails.administrators[0]: {outsider!r} is in account 999999999999; the exemptions apply in the home "
        f"({HOME}) and central ({CENTRAL}) accounts only, where `make bootstrap` runs. Fix: name a principal of one of "
        "those."
    ]


def test_an_administrator_is_a_role_or_user_arn_not_a_session() -> None:
    session = f"arn:aws:sts::{HOME}:assumed-role/Admin/ana"
    (problem,) = _problems({"guardrails.pipeline_account": {"enabled": True}, "guardrails.administrators": [session]})
    assert problem.startswith(f"guardrails.administrators[0]: {session!r} is not an IAM role or user ARN")
    assert "for a role session use the role's ARN" in problem


def test_the_central_account_guardrail_needs_administrators_when_bootstrap_runs_there() -> None:
    """The central account outside the target OUs gets its roles from bootstrap-central, run by its administrators."""
    assert _problems({"guardrails.deny_backup_tampering": {"enabled": True}}) == [
        "guardrails.administrators: is empty, but guardrails.deny_backup_tampering.central_account exempt only these "
        "principals from what they deny, so nobody could run `make bootstrap` there again. Fix: list the role ARNs "
        'of the administrators who apply bootstrap, e.g. ["arn:aws:iam::<home account>:role/Admin"].'
    ]
    loaded = config_from_dict(
        {
            **copy.deepcopy(MINIMAL),
            "guardrails": {"deny_backup_tampering": {"enabled": True, "central_account": False}},
        },
        source="backup.yaml",
    )
    assert loaded.guardrails.deny_backup_tampering.central_account is False


def test_the_example_enables_every_guardrail_with_its_administrators() -> None:
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config = config_from_dict(example, source=str(EXAMPLE_CONFIG))
    assert config.guardrails.pipeline_account.enabled and config.guardrails.deny_backup_tampering.central_account
    assert {a.split(":")[4] for a in config.guardrails.administrators} == {"333333333333", "222222222222"}


def test_the_pipeline_may_not_live_where_the_tampering_guardrail_holds_org_backups_rules() -> None:
    """The tampering SCP reserves org-backup's rules, functions and queues to the deploy role; the pipeline stack's
    own (approval function, rules) are applied by administrators, so the two cannot share an account."""
    problems = _problems(
        {
            "pipeline.home_account_id": "100000000004",  # the minimal fixture's member account
            "pipeline.source.reviewers": ["arn:aws:sts::100000000004:assumed-role/Reviewers/*"],
            "guardrails.deny_backup_tampering": {"enabled": True, "central_account": False},
        }
    )
    assert problems == [
        "pipeline.home_account_id: 100000000004 is also governed by guardrails.deny_backup_tampering, which lets only "
        "the deploy role change org-backup's rules, functions and queues: the administrators who apply the pipeline "
        "stack there would be denied its approval function and rules. Fix: run the pipeline in an account of its "
        "own, outside the target OUs and apart from the central account (AWS recommends a dedicated tooling account)."
    ]
