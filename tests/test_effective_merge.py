"""The effective-policy merge (org_backup/plans/effective.py) and `python -m org_backup policy effective` (issue 27, items 2
and 3). Expectations are AWS's documented result (example 2 of "Backup policy syntax and examples", as
tests/test_preview_doctor.py also checks it) or hand computations from AWS's "Inheritance operators" page:
- "@@operators_allowed_for_child_policies": ["@@all"] lets children use any operator ("By default, all operators
  (@@all) are allowed");
- "If an inherited child control operator limits the use of an operator, you can't reverse that rule": two controls
  on one setting both hold (intersection);
- of two same-level assignments, "Policies are evaluated based on the order in which they were attached" ("Inheritance
  examples", example 6): the first attached wins;
- settings a parent's controls refuse are not in the effective policy, nor are the objects left empty by them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from org_backup.__main__ import main
from org_backup.plans.effective import effective_policy
from tests.conftest import FIXTURES

EXAMPLES = FIXTURES / "aws_backup_policy_examples"
CONTROL = "@@operators_allowed_for_child_policies"


def test_all_lets_every_operator_through() -> None:
    parent = {"plans": {"P": {"regions": {"@@assign": ["us-east-1"], CONTROL: ["@@all"]}}}}
    child = {"plans": {"P": {"regions": {"@@append": ["eu-west-1"]}}}}
    merge = effective_policy([[("root", parent)], [("ou", child)]])
    assert merge.effective == {"plans": {"P": {"regions": ["us-east-1", "eu-west-1"]}}}
    assert merge.refused == []


def test_two_controls_at_one_level_both_hold() -> None:
    first = {"plans": {"P": {"regions": {"@@assign": ["us-east-1"], CONTROL: ["@@append"]}}}}
    second = {"plans": {"P": {"regions": {CONTROL: ["@@assign", "@@append"]}}}}
    child_assign = {"plans": {"P": {"regions": {"@@assign": ["eu-west-1"]}}}}
    child_append = {"plans": {"P": {"regions": {"@@append": ["eu-central-1"]}}}}
    for order in ([("a", first), ("b", second)], [("b", second), ("a", first)]):
        merge = effective_policy([order, [("x", child_assign), ("y", child_append)]], keep_order=True)
        assert merge.effective["plans"]["P"]["regions"] == ["us-east-1", "eu-central-1"], order
        assert merge.refused == ["x: @@assign on plans.P.regions is not allowed by a parent policy"], order


def test_of_two_assignments_at_one_level_the_first_attached_wins_and_is_noted() -> None:
    """AWS Organizations User Guide, "Inheritance examples", example 6: "Policies are evaluated based on the order in
    which they were attached" - the value of the policy attached first is used."""
    first = {"plans": {"P": {"regions": {"@@assign": ["us-east-1"]}}}}
    second = {"plans": {"P": {"regions": {"@@assign": ["eu-west-1"]}}}}
    merge = effective_policy([[("a", first), ("b", second)]], keep_order=True)
    assert merge.effective == {"plans": {"P": {"regions": ["us-east-1"]}}}
    assert merge.notes == [
        'plans.P.regions: a and b, attached at the same level, both @@assign it (["us-east-1"] and ["eu-west-1"]); '
        "AWS keeps the one attached first: a's (as given)."
    ]
    by_name = effective_policy([[("z", first), ("b", second)]])  # org-backup's own: attachment order unknown
    assert by_name.effective == {"plans": {"P": {"regions": ["eu-west-1"]}}}
    assert by_name.notes[0].endswith(
        "AWS keeps the one attached first: b's (by name; the attachment order is not known here)."
    )
    same = effective_policy([[("a", first), ("c", first)]], keep_order=True)
    assert same.notes == []  # the same value twice is no conflict


def test_a_refused_child_plan_leaves_nothing_behind() -> None:
    parent = {"plans": {CONTROL: ["@@none"], "P": {"regions": {"@@assign": ["us-east-1"]}}}}
    child = {"plans": {"Q": {"rules": {"R": {"lifecycle": {"delete_after_days": {"@@assign": "1"}}}}}}}
    merge = effective_policy([[("root", parent)], [("ou", child)]])
    assert merge.effective == {"plans": {"P": {"regions": ["us-east-1"]}}}
    assert merge.refused == [
        "ou: @@assign on plans.Q.rules.r.lifecycle.delete_after_days is not allowed by a parent policy"
    ]


def test_policy_effective_reproduces_aws_example_two(capsys: pytest.CaptureFixture[str]) -> None:
    parent, child = EXAMPLES / "example2_parent.json", EXAMPLES / "example2_child.json"
    assert main(["policy", "effective", "--level", str(parent), "--level", str(child)]) == 0
    out, err = capsys.readouterr()
    plans = json.loads(out)["plans"]
    # AWS's documented result: both plans, each with its own Regions, rules and selections.
    assert sorted(plans) == ["Monthly_Backup_Plan", "PII_Backup_Plan"]
    assert plans["PII_Backup_Plan"]["regions"] == ["us-east-1", "ap-northeast-3", "eu-north-1"]
    assert plans["Monthly_Backup_Plan"]["regions"] == ["us-east-1", "eu-central-1"]
    assert plans["Monthly_Backup_Plan"]["rules"]["monthly"]["lifecycle"]["delete_after_days"] == "365"
    assert err == ""


def test_policy_effective_prints_refusals_and_notes_and_refuses_invalid_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def write(name: str, document: Any) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return str(path)

    root = write("root.json", {"plans": {"P": {"regions": {"@@assign": ["us-east-1"], CONTROL: ["@@none"]}}}})
    ou_a = write("ou-a.json", {"plans": {"P": {"regions": {"@@append": ["eu-west-1"]}}}})
    assert main(["policy", "effective", "--level", root, "--level", ou_a]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"plans": {"P": {"regions": ["us-east-1"]}}}
    assert err.splitlines() == [
        f"refused: {ou_a}: @@append on plans.P.regions is not allowed by a parent policy",
        "note: plans.P is incomplete (no rules, selections): AWS keeps it in the effective policy, but it does not "
        "back up anything until a policy supplies them.",
    ]

    broken = write("broken.json", {"plans": {"P": {"rules": [{"RuleName": "x"}]}}})
    assert main(["policy", "effective", "--level", f"{root},{broken}"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{broken}: plans.P.rules: must be an object keyed by rule name, not a list.")


def _example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def _documented_pii_plan(plan: dict[str, Any]) -> None:
    """Example 3's documented effective PII_Backup_Plan (the settings AWS's page shows resolved; its lifecycle and
    copy-action figures contradict the policy above them, so the policy's own are checked)."""
    rule = plan["rules"]["hourly"]
    assert plan["regions"] == ["us-east-1", "ap-northeast-3", "eu-north-1"]
    assert (rule["schedule_expression"], rule["start_backup_window_minutes"], rule["target_backup_vault_name"]) == (
        "cron(0 0/1 ? * * *)",
        "60",
        "FortKnox",
    )
    assert plan["selections"]["tags"]["datatype"] == {
        "iam_role_arn": "arn:aws:iam::$account:role/MyIamRole",
        "tag_key": "dataType",
        "tag_value": ["PII", "RED"],
    }
    assert plan["advanced_backup_settings"] == {"ec2": {"windows_vss": "enabled"}}


def _documented_monthly_plan(plan: dict[str, Any]) -> None:
    """Example 2's documented effective Monthly_Backup_Plan, the plan its child policy defines."""
    rule = plan["rules"]["monthly"]
    assert plan["regions"] == ["us-east-1", "eu-central-1"]
    assert (rule["schedule_expression"], rule["start_backup_window_minutes"], rule["target_backup_vault_name"]) == (
        "cron(0 5 1 * ? *)",
        "480",
        "Default",
    )
    assert (rule["lifecycle"]["delete_after_days"], rule["lifecycle"]["move_to_cold_storage_after_days"]) == (
        "365",
        "30",
    )
    assert plan["selections"]["tags"]["monthlydatatype"]["tag_value"] == ["MONTHLY", "RED"]


def test_aws_example_three_a_parent_locking_every_node_ignores_any_child() -> None:
    """Example 3: "If any child backup policies exist, they are ignored and the parent policy becomes the effective
    policy" (a new plan and changes to the locked one alike; the child here is example 2's child, a new plan, plus
    a change of the locked plan's Regions)."""
    parent = _example("example3_parent")
    child = _example("example2_child")
    child["plans"]["PII_Backup_Plan"] = {"regions": {"@@assign": ["eu-west-1"]}}
    merge = effective_policy([[("parent", parent)], [("child", child)]])
    assert sorted(merge.effective["plans"]) == ["PII_Backup_Plan"]
    _documented_pii_plan(merge.effective["plans"]["PII_Backup_Plan"])
    assert "child: @@assign on plans.PII_Backup_Plan.regions is not allowed by a parent policy" in merge.refused
    assert len(merge.refused) > 10  # every setting of the child's new plan too


def test_aws_example_four_a_parent_locking_its_plan_still_lets_a_child_add_one() -> None:
    """Example 4: "similar to the previous example with all child inheritance operators blocked, except at the
    plans top level. The @@append setting at that level enables child policies to add other plans ... Any changes to
    the inherited plan are still blocked." Result: "The effective policy includes both plans"."""
    parent = _example("example3_parent")
    parent["plans"]["@@operators_allowed_for_child_policies"] = ["@@append"]
    child = _example("example2_child")  # "This child policy defines a new plan"
    child["plans"]["PII_Backup_Plan"] = {"regions": {"@@assign": ["eu-west-1"]}}
    merge = effective_policy([[("parent", parent)], [("child", child)]])
    plans = merge.effective["plans"]
    assert sorted(plans) == ["Monthly_Backup_Plan", "PII_Backup_Plan"]
    _documented_pii_plan(plans["PII_Backup_Plan"])
    _documented_monthly_plan(plans["Monthly_Backup_Plan"])
    assert merge.refused == ["child: @@assign on plans.PII_Backup_Plan.regions is not allowed by a parent policy"]


def test_aws_example_five_a_child_overrides_its_parents_settings() -> None:
    """Example 5's documented changes: "The list of Regions is replaced", "every other hour", "80 minutes", "the
    Default vault instead of FortKnox", "The lifecycle is extended" (30 and 365 days); the parent's copy action
    stays. (AWS shows the rule as "hourly" in lower case and its copy target under another name than the parent's:
    neither is asserted.)"""
    merge = effective_policy([[("parent", _example("example5_parent"))], [("child", _example("example5_child"))]])
    plan = merge.effective["plans"]["PII_Backup_Plan"]
    rule = plan["rules"]["hourly"]
    assert plan["regions"] == ["us-west-2", "eu-central-1"]
    assert (rule["schedule_expression"], rule["start_backup_window_minutes"], rule["target_backup_vault_name"]) == (
        "cron(0 0/2 ? * * *)",
        "80",
        "Default",
    )
    assert (rule["lifecycle"]["move_to_cold_storage_after_days"], rule["lifecycle"]["delete_after_days"]) == (
        "30",
        "365",
    )
    assert list(rule["copy_actions"]) == ["arn:aws:backup:us-east-1:$account:backup-vault:t2"]
    assert plan["selections"]["tags"]["datatype"]["tag_value"] == ["PII", "RED"]
    assert merge.refused == []


def test_incomplete_plans_are_said_and_text_is_the_preview_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan without what AWS marks Required (a rule's target_backup_vault_name, the plan's selections) stays in the
    effective policy, as AWS keeps it, with a note that it backs up nothing ("the effective backup policy contains a
    backup plan that is not valid and doesn't back up your resources as expected", example 5)."""
    document = {
        "plans": {
            "P": {
                "regions": {"@@assign": ["eu-west-1"]},
                "rules": {"R": {"schedule_expression": {"@@assign": "cron(0 5 ? * * *)"}}},
            }
        }
    }
    path = tmp_path / "incomplete.json"
    path.write_text(json.dumps(document))
    assert main(["policy", "effective", "--level", str(path), "--format", "text"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "    plan P  regions: eu-west-1",
        "      rule r: cron(0 5 ? * * *), start within AWS Backup's default, complete within AWS Backup's default, "
        "no expiry, vault None",
    ]
    assert err.splitlines() == [
        "note: plans.P is incomplete (no selections, rules.r.target_backup_vault_name): AWS keeps it in the effective "
        "policy, but it does not back up anything until a policy supplies them."
    ]


def test_rule_and_selection_names_are_lower_case_as_aws_shows_them() -> None:
    """AWS's effective policies show rule and selection names in lower case ("Hourly" as "hourly", "MonthlyDatatype"
    as "monthlydatatype": Backup policy syntax and examples, examples 1-3 and 5), plan names as written; so a child
    naming the parent's rule in another case changes that rule."""
    parent = {
        "plans": {
            "PII_Backup_Plan": {
                "rules": {"Hourly": {"schedule_expression": {"@@assign": "cron(0 0/1 ? * * *)"}}},
                "selections": {"tags": {"MonthlyDatatype": {"tag_key": {"@@assign": "BackupType"}}}},
            }
        }
    }
    child = {
        "plans": {
            "PII_Backup_Plan": {"rules": {"HOURLY": {"schedule_expression": {"@@assign": "cron(0 0/2 ? * * *)"}}}}
        }
    }
    merge = effective_policy([[("parent", parent)], [("child", child)]])
    assert merge.effective == {
        "plans": {
            "PII_Backup_Plan": {
                "rules": {"hourly": {"schedule_expression": "cron(0 0/2 ? * * *)"}},
                "selections": {"tags": {"monthlydatatype": {"tag_key": "BackupType"}}},
            }
        }
    }


def test_the_readmes_three_level_example(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/backup-policies.md, "Any backup policy": root, OU and account (tests/fixtures/three_levels). By hand, from AWS's
    "Inheritance operators": the root lets children only @@append to regions, so the OU's eu-west-1 is added; it
    allows no operator on delete_after_days ("@@none"), so the OU's 7 is refused and 35 stays; the vault name has no
    control (by default "@@all"), so the account's @@assign replaces Default. Rule and selection names in lower case,
    as AWS's effective policies show them."""
    folder = FIXTURES / "three_levels"
    levels = [arg for name in ("root", "ou", "account") for arg in ("--level", str(folder / f"{name}.json"))]
    assert main(["policy", "effective", *levels]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "plans": {
            "Daily": {
                "regions": ["us-east-1", "eu-west-1"],
                "rules": {
                    "nightly": {
                        "schedule_expression": "cron(0 5 ? * * *)",
                        "target_backup_vault_name": "AccountVault",
                        "lifecycle": {"delete_after_days": "35"},
                    }
                },
                "selections": {
                    "tags": {
                        "tagged": {
                            "iam_role_arn": "arn:aws:iam::$account:role/BackupRole",
                            "tag_key": "backup",
                            "tag_value": ["daily"],
                        }
                    }
                },
            }
        }
    }
    assert err.splitlines() == [
        f"refused: {folder / 'ou.json'}: @@assign on plans.Daily.rules.nightly.lifecycle.delete_after_days is not "
        "allowed by a parent policy"
    ]
