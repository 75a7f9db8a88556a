"""The Plan stage's diff of effective backup plans per target OU (issue 29: a plan removed, renamed or changed is shown
in the plan summary, the pull-request comment; org_backup/plans/diff.py).

The plan document is hand-written in Terraform's JSON plan format (Terraform, "JSON Output Format": resource_changes
with before/after, unchanged resources as no-op, values known only after apply left out of ``after`` and listed in
``after_unknown``, and the configuration's ``expressions.<argument>.references``); the policies in AWS Organizations
backup policy syntax with ``@@assign`` ("Backup policy syntax and examples"). The expected effective plans are
computed by hand: with one level of policies that each assign their own plans, the effective policy is the union of
the plans (Organizations, "Inheritance for management policies": value-setting operators, no conflict)."""

from __future__ import annotations

import json
from typing import Any

from org_backup.plans import diff as policy_diff

ROLE = "arn:aws:iam::$account:role/OrgBackupServiceRole"


def _policy(plan: str, cron: str) -> str:
    return json.dumps(
        {
            "plans": {
                plan: {
                    "regions": {"@@assign": ["eu-west-1"]},
                    "rules": {
                        plan: {
                            "schedule_expression": {"@@assign": cron},
                            "target_backup_vault_name": {"@@assign": "org-backup-vault"},
                            "lifecycle": {"delete_after_days": {"@@assign": "35"}},
                        }
                    },
                    "selections": {
                        "tags": {
                            plan: {
                                "iam_role_arn": {"@@assign": ROLE},
                                "tag_key": {"@@assign": "backup"},
                                "tag_value": {"@@assign": [plan]},
                            }
                        }
                    },
                }
            }
        }
    )


def _change(address: str, actions: list[str], before: Any, after: Any) -> dict[str, Any]:
    kind, name = address.split(".")
    return {"address": address, "type": kind, "name": name, "change": {"actions": actions, "before": before,
            "after": after, "after_unknown": {"id": True} if after is not None and "id" not in after else {}}}  # fmt: skip


DAILY_5 = _policy("daily", "cron(0 5 ? * * *)")
DAILY_3 = _policy("daily", "cron(0 3 ? * * *)")
MONTHLY = _policy("monthly", "cron(0 5 1 * ? *)")
WEEKLY = _policy("weekly", "cron(0 5 ? * SUN *)")


def _plan() -> dict[str, Any]:
    """daily rescheduled (both OUs); monthly deleted with its attachment to ou-1; weekly new, attached to ou-2."""
    daily = {"id": "p-daily", "name": "org-backup-daily", "type": "BACKUP_POLICY"}
    return {
        "format_version": "1.2",
        "resource_changes": [
            _change("aws_organizations_policy.daily", ["update"], {**daily, "content": DAILY_5},
                    {**daily, "content": DAILY_3}),
            _change("aws_organizations_policy.monthly", ["delete"],
                    {"id": "p-monthly", "name": "org-backup-monthly", "type": "BACKUP_POLICY", "content": MONTHLY},
                    None),
            _change("aws_organizations_policy.weekly", ["create"], None,
                    {"name": "org-backup-weekly", "type": "BACKUP_POLICY", "content": WEEKLY}),
            _change("aws_organizations_policy.guardrail", ["no-op"],
                    *[{"id": "p-scp", "name": "guardrail", "type": "SERVICE_CONTROL_POLICY", "content": "{}"}] * 2),
            _change("aws_organizations_policy_attachment.daily-ou-1", ["no-op"],
                    *[{"policy_id": "p-daily", "target_id": "ou-1"}] * 2),
            _change("aws_organizations_policy_attachment.daily-ou-2", ["no-op"],
                    *[{"policy_id": "p-daily", "target_id": "ou-2"}] * 2),
            _change("aws_organizations_policy_attachment.monthly-ou-1", ["delete"],
                    {"policy_id": "p-monthly", "target_id": "ou-1"}, None),
            _change("aws_organizations_policy_attachment.weekly-ou-2", ["create"], None, {"target_id": "ou-2"}),
            _change("aws_organizations_policy_attachment.guardrail-ou-2", ["no-op"],
                    *[{"policy_id": "p-scp", "target_id": "ou-2"}] * 2),
        ],
        "configuration": {"root_module": {"resources": [
            {"address": f"aws_organizations_policy_attachment.{name}-ou-{n}", "type": "aws_organizations_policy_attachment",
             "expressions": {"policy_id": {"references": [f"aws_organizations_policy.{name}.id",
                                                          f"aws_organizations_policy.{name}"]},
                             "target_id": {"constant_value": f"ou-{n}"}}}
            for name, n in (("daily", 1), ("daily", 2), ("weekly", 2), ("guardrail", 2))
        ]}},
    }  # fmt: skip


def _rule(plan: str, cron: str) -> str:
    return (
        f"      rule {plan}: {cron}, start within AWS Backup's default, complete within AWS Backup's default, "
        "keep 35 days, vault org-backup-vault"
    )


def _selection(plan: str) -> str:
    return f"      selection {plan}: tag backup in [{plan}], role {ROLE}"


def test_each_ous_effective_plans_before_and_after_as_a_diff() -> None:
    diffs = policy_diff.effective_changes(_plan())
    assert set(diffs) == {"ou-1", "ou-2"}
    removed = {line[1:] for line in diffs["ou-1"] if line.startswith("-")}
    added = {line[1:] for line in diffs["ou-1"] if line.startswith("+")}
    assert removed == {
        _rule("daily", "cron(0 5 ? * * *)"),
        "    plan monthly  regions: eu-west-1",
        _rule("monthly", "cron(0 5 1 * ? *)"),
        _selection("monthly"),
    }
    assert added == {_rule("daily", "cron(0 3 ? * * *)")}
    removed = {line[1:] for line in diffs["ou-2"] if line.startswith("-")}
    added = {line[1:] for line in diffs["ou-2"] if line.startswith("+")}
    assert removed == {_rule("daily", "cron(0 5 ? * * *)")}
    assert added == {
        _rule("daily", "cron(0 3 ? * * *)"),
        "    plan weekly  regions: eu-west-1",
        _rule("weekly", "cron(0 5 ? * SUN *)"),
        _selection("weekly"),
    }


def test_an_unchanged_plan_shows_nothing() -> None:
    """The daily policy and its two attachments planned as no-op (before equal to after): nothing to show."""
    daily = {"id": "p-daily", "name": "org-backup-daily", "type": "BACKUP_POLICY", "content": DAILY_5}
    plan = _plan()
    plan["resource_changes"] = [
        _change("aws_organizations_policy.daily", ["no-op"], daily, daily),
        *[c for c in plan["resource_changes"] if c["address"].endswith(("daily-ou-1", "daily-ou-2", "guardrail"))],
    ]
    assert policy_diff.effective_changes(plan) == {}
    assert policy_diff.summary({}) == []
    # The control: the same plan with the schedule changed shows both OUs.
    plan["resource_changes"][0] = _change("aws_organizations_policy.daily", ["update"], daily, {**daily,
                                          "content": DAILY_3})  # fmt: skip
    assert set(policy_diff.effective_changes(plan)) == {"ou-1", "ou-2"}


def test_an_ou_losing_every_policy_shows_no_backup_plans_afterwards() -> None:
    plan = _plan()
    for change in plan["resource_changes"]:
        if change["address"] == "aws_organizations_policy_attachment.daily-ou-2":
            change["change"].update(actions=["delete"], after=None)
        if change["address"] == "aws_organizations_policy_attachment.weekly-ou-2":
            change["change"].update(after=None)
    diff = policy_diff.effective_changes(plan)["ou-2"]
    assert "+    no backup plans" in diff
    assert "-    plan daily  regions: eu-west-1" in diff


def test_the_summary_names_each_ou_with_its_diff_block() -> None:
    text = "\n".join(policy_diff.summary(policy_diff.effective_changes(_plan())))
    assert "Effective backup plans per target OU (org-backup's policies only; - before, + after):" in text
    assert "`ou-1`:\n\n```diff\n" in text
    assert f"\n-{_selection('monthly')}\n" in text
