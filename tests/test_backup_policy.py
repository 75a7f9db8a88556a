"""Backup policies: the shipped default matches the reference solution, AWS's documented examples pass the
validator, and broken plans fail with exact messages."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import load_config
from org_backup.config.templates import DEFAULT_PLANS_FILE
from org_backup.config.yaml_io import dump_yaml
from org_backup.plans.backup_policy import (
    render_policies,
    validate_plans,
    validate_policy_document,
)
from tests.conftest import EXAMPLE_CONFIG, FIXTURES, ROOT

CONFIG = load_config(EXAMPLE_CONFIG)
DEFAULT = yaml.safe_load(DEFAULT_PLANS_FILE.read_text())
AWS_EXAMPLES = sorted((FIXTURES / "aws_backup_policy_examples").glob("example[12]_*.json"))  # valid as AWS wrote them


def a(value: Any) -> dict[str, Any]:
    return {"@@assign": value}


REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]


def central(region: str) -> str:
    return f"arn:aws:backup:{region}:222222222222:backup-vault:AWSBackupSolutionCentralVault"


def reference_plan(plan: str, rule: str, selection: str, schedule: str, days: str, tag_value: str) -> dict[str, Any]:
    """The reference solution's aws-backup-org-policy.yaml, parameter defaults filled in, written out by hand.

    Three deliberate differences: "regions" uses @@assign (the reference uses @@append, which lets an inherited
    policy widen the Regions; every leaf here is an @@assign); the monthly selection is named for its plan (the
    reference reuses OrgDailyBackupSelection there); and the reference's one plan over three Regions, copying
    everything to the central vault in eu-west-1, is one plan per Region copying to the central vault of that
    Region (cross-account and cross-Region at once fails for RDS and Aurora).
    """
    project = {"project": {"tag_key": a("project"), "tag_value": a("aws-backup")}}
    return {
        "plans": {
            f"{plan}-{region}": {
                "rules": {
                    rule: {
                        "schedule_expression": a(schedule),
                        "start_backup_window_minutes": a("60"),
                        "complete_backup_window_minutes": a("1200"),
                        "lifecycle": {"delete_after_days": a(days)},
                        "target_backup_vault_name": a("AWSBackupSolutionVault"),
                        "recovery_point_tags": project,
                        "copy_actions": {
                            central(region): {
                                "target_backup_vault_arn": a(central(region)),
                                "lifecycle": {"delete_after_days": a(days)},
                            }
                        },
                    }
                },
                "backup_plan_tags": project,
                "regions": a([region]),
                "selections": {
                    "tags": {
                        selection: {
                            "iam_role_arn": a("arn:aws:iam::$account:role/AWSBackupSolutionRole"),
                            "tag_key": a("backup"),
                            "tag_value": a([tag_value]),
                        }
                    }
                },
            }
            for region in REGIONS
        }
    }


def test_default_policies_match_the_reference_solution_field_for_field() -> None:
    plans = validate_plans(DEFAULT, config=CONFIG, source="default")
    daily, monthly = render_policies(plans, CONFIG)
    assert (daily.name, monthly.name) == ("org-daily-backup-policy", "org-monthly-backup-policy")
    assert daily.target_ous == monthly.target_ous == ("ou-ab12-prod0001", "ou-ab12-nonprod01")
    assert json.loads(daily.content) == reference_plan(
        "OrgBackupPlanDaily", "OrgDailyBackupRule", "OrgDailyBackupSelection", "cron(0 5 ? * * *)", "35", "daily"
    )
    assert json.loads(monthly.content) == reference_plan(
        "OrgBackupPlanMonthly",
        "OrgMonthlyBackupRule",
        "OrgMonthlyBackupSelection",
        "cron(0 5 1 * ? *)",
        "366",
        "monthly",
    )


def test_a_plan_may_leave_out_its_policy_name_and_windows() -> None:
    """Issue 28: the plan's key names its policy, and the windows default to the reference solution's (60 and 1200
    minutes: aws-samples/backup-recovery-with-aws-backup, aws-backup-org-policy.yaml), so the policy is the same as
    with them written out."""
    written = copy.deepcopy(DEFAULT)
    plan = written["plans"]["OrgBackupPlanDaily"]
    plan["policy_name"] = "OrgBackupPlanDaily"
    rule = plan["rules"]["OrgDailyBackupRule"]
    assert (rule["start_window_minutes"], rule["complete_window_minutes"]) == (60, 1200)
    left_out = copy.deepcopy(written)
    del left_out["plans"]["OrgBackupPlanDaily"]["policy_name"]
    for key in ("start_window_minutes", "complete_window_minutes"):
        del left_out["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"][key]
    ours, theirs = (
        render_policies(validate_plans(p, config=CONFIG, source="plans"), CONFIG) for p in (left_out, written)
    )
    assert [(p.name, p.content) for p in ours] == [(p.name, p.content) for p in theirs]
    assert ours[0].name == "OrgBackupPlanDaily"


def test_all_in_capitals_is_told_to_be_written_in_lower_case() -> None:
    """Issue 28: target_ous: ALL was told "must be a list"; the fix is the word itself."""
    with pytest.raises(InputError) as raised:
        validate_plans(_broken(f"{DAILY}.target_ous", "ALL"), config=CONFIG, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"{DAILY}.target_ous: 'ALL' is neither 'all' nor a list. Fix: write all (in lower case)."
    ]


def test_a_copy_left_empty_is_refused_not_dropped() -> None:
    """New-user trials (issue 28): `copy_to_central:` with nothing under it is YAML's null, which equalled "no copy":
    the policy went out without its copy action. Refused, with its line in the plans file."""
    with pytest.raises(InputError) as raised:
        validate_plans(_broken(f"{RULE}.copy_to_central", None), config=CONFIG, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"{RULE}.copy_to_central: is empty: YAML reads a key with nothing after it as null, which would silently "
        "take the default (no copy, no vault lock, backups kept forever, ...). Fix: write its value or settings, or "
        "remove the key if the default is what you mean."
    ]


def test_recovery_point_tags_may_differ_only_in_case() -> None:
    """Only tags that reach IAM roles must differ in more than case (IAM User Guide, "Tagging IAM resources"): a
    recovery point's are AWS Backup's, whose tag keys are case sensitive."""
    plans = validate_plans(
        _broken(f"{RULE}.recovery_point_tags", {"Owner": "a", "owner": "b"}), config=CONFIG, source="plans.yaml"
    )
    assert plans.plans["OrgBackupPlanDaily"].rules["OrgDailyBackupRule"].recovery_point_tags == {
        "Owner": "a",
        "owner": "b",
    }


def test_rendering_is_deterministic_and_minified() -> None:
    plans = validate_plans(DEFAULT, config=CONFIG, source="default")
    first = [p.content for p in render_policies(plans, CONFIG)]
    second = [p.content for p in render_policies(plans, CONFIG)]
    assert first == second
    assert all(": " not in c and ", " not in c for c in first)
    assert all(c == json.dumps(json.loads(c), sort_keys=True, separators=(",", ":")) for c in first)


@pytest.mark.parametrize("example", AWS_EXAMPLES, ids=[p.stem for p in AWS_EXAMPLES])
def test_aws_documented_examples_pass(example: Path) -> None:
    assert validate_policy_document(json.loads(example.read_text())) == []


def test_there_are_aws_examples() -> None:
    assert len(AWS_EXAMPLES) == 3


LONG_TAGS = {f"cost-allocation-tag-{i:02d}": f"value-that-is-fairly-long-{i:02d}" for i in range(25)}


def _daily_parts(plans: dict[str, Any]) -> list[Any]:
    return [
        p
        for p in render_policies(validate_plans(plans, config=CONFIG, source="t"), CONFIG)
        if p.plan == "OrgBackupPlanDaily"
    ]


def test_a_too_large_plan_is_cut_per_region_and_rule_and_packed_into_policies_that_fit() -> None:
    """AWS Organizations quotas: "Backup policies: 10,000 characters". One Region's four rules with 25 long tags each
    do not fit one policy, so each (Region, rule) is a backup plan of its own (each with the plan's selections), and
    those are packed: two make 8,503-8,527 characters, a third would pass 10,000, so 12 units take 6 policies, each
    named after its first unit."""
    plans = copy.deepcopy(DEFAULT)
    daily = plans["plans"]["OrgBackupPlanDaily"]
    base_rule = daily["rules"].pop("OrgDailyBackupRule")
    for index in range(4):
        daily["rules"][f"Rule{index}"] = {**base_rule, "recovery_point_tags": LONG_TAGS}
    rendered = _daily_parts(plans)
    pairs = [(region, first) for region in REGIONS for first in (0, 2)]
    assert [p.name for p in rendered] == [f"org-daily-backup-policy-{region}-Rule{i}" for region, i in pairs]
    assert [p.split for p in rendered] == [
        f"{n} of 6: {region} rule Rule{i}, {region} rule Rule{i + 1}" for n, (region, i) in enumerate(pairs, start=1)
    ]
    assert all(len(p.content) <= 10_000 for p in rendered)
    units = {key: doc for p in rendered for key, doc in json.loads(p.content)["plans"].items()}
    assert sorted(units) == sorted(f"OrgBackupPlanDaily-{region}-Rule{i}" for region in REGIONS for i in range(4))
    three = dict(list(units.items())[:3])
    assert len(json.dumps({"plans": three}, sort_keys=True, separators=(",", ":"))) > 10_000  # why 2 a policy
    for key, document in units.items():
        region, rule = key.removeprefix("OrgBackupPlanDaily-").rsplit("-", 1)
        assert document["regions"] == a([region])
        assert list(document["rules"]) == [rule]
        assert list(document["rules"][rule]["copy_actions"]) == [central(region)]
        assert document["selections"]["tags"]["OrgDailyBackupSelection"]["tag_value"] == a(["daily"])


def test_a_plan_that_fits_per_region_is_packed_per_region() -> None:
    """With 25 long tags each Region's backup plan is ~4,250 characters: two Regions fit one policy (8,529), all
    three do not, so 2 policies, the first named after its first Region, the second after us-east-1."""
    plans = copy.deepcopy(DEFAULT)
    plans["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"]["recovery_point_tags"] = LONG_TAGS
    rendered = _daily_parts(plans)
    assert [(p.name, p.split) for p in rendered] == [
        ("org-daily-backup-policy-eu-west-1", "1 of 2: eu-west-1, eu-central-1"),
        ("org-daily-backup-policy-us-east-1", "2 of 2: us-east-1"),
    ]
    assert [sorted(json.loads(p.content)["plans"]) for p in rendered] == [
        ["OrgBackupPlanDaily-eu-central-1", "OrgBackupPlanDaily-eu-west-1"],
        ["OrgBackupPlanDaily-us-east-1"],
    ]
    assert all(len(p.content) <= 10_000 for p in rendered)
    assert rendered[0].description == (
        "BackupPolicy for Daily Backup as per the resource selection criteria (1 of 2: eu-west-1, eu-central-1)"
    )


def test_a_plan_in_a_region_without_a_central_vault_is_refused_naming_the_types_it_would_fail() -> None:
    config = CONFIG.model_copy(
        update={"central_backup": CONFIG.central_backup.model_copy(update={"regions": ("eu-west-1",)})}
    )
    with pytest.raises(InputError) as raised:
        validate_plans(copy.deepcopy(DEFAULT), config=config, source="plans.yaml")
    messages = [p.render() for p in raised.value.problems]
    assert len(messages) == 2  # both plans
    assert messages[0] == (
        "plans.OrgBackupPlanDaily.rules.OrgDailyBackupRule.copy_to_central: backs up in eu-central-1, us-east-1, "
        "where the central account has no vault (central_backup.regions: eu-west-1); a copy from there would be "
        "cross-account and cross-Region at once, which AWS Backup does not support for Amazon RDS and Aurora "
        'snapshots ("only supports automating either cross-account or cross-Region copies"). Fix: add those Regions '
        "to central_backup.regions, or remove the setting to get a central vault in every target Region."
    )


def _broken(path: str, value: Any, *more: tuple[str, Any]) -> dict[str, Any]:
    """The default plans with ``path`` set to ``value`` (and any further (path, value) pairs)."""
    plans = copy.deepcopy(DEFAULT)
    for change_path, change_value in ((path, value), *more):
        *parents, last = change_path.split(".")
        node: Any = plans
        for part in parents:
            node = node[part]
        node[last] = change_value
    return plans


DAILY = "plans.OrgBackupPlanDaily"
RULE = f"{DAILY}.rules.OrgDailyBackupRule"
MANY_RULES = {f"R{i}": DEFAULT["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"] for i in range(11)}
MANY_SELECTIONS = {f"S{i}": {"tag_key": "backup", "tag_values": ["daily"]} for i in range(11)}

# (case id, broken plans, exact problem lines)
BROKEN: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "cron-five-fields",
        _broken(f"{RULE}.schedule", "cron(0 5 * * ?)"),
        [
            f"{RULE}.schedule: 'cron(0 5 * * ?)' is a Unix (5-field) cron; AWS's has 6 fields. Fix: write "
            "cron(0 5 * * ? *)."
        ],
    ),
    (
        "cron-both-days",
        _broken(f"{RULE}.schedule", "cron(0 5 * * * *)"),
        [
            f"{RULE}.schedule: 'cron(0 5 * * * *)': exactly one of day-of-month ('*') and day-of-week ('*') must be "
            "'?'. Fix: write minutes hours day-of-month month day-of-week year, e.g. cron(0 5 ? * * *) for 05:00 UTC "
            "every day."
        ],
    ),
    (
        "cron-more-than-hourly",
        _broken(f"{RULE}.schedule", "cron(*/15 * ? * * *)"),
        [
            f"{RULE}.schedule: 'cron(*/15 * ? * * *)': minutes must be a single number; AWS Backup runs a rule at most "
            "once an hour. Fix: write minutes hours day-of-month month day-of-week year, e.g. cron(0 5 ? * * *) for "
            "05:00 UTC every day."
        ],
    ),
    (
        "cron-hour-out-of-range",
        _broken(f"{RULE}.schedule", "cron(0 24 ? * * *)"),
        [
            f"{RULE}.schedule: hours '24': '24' is outside 0-23. Fix: write minutes hours day-of-month month "
            "day-of-week year, e.g. cron(0 5 ? * * *) for 05:00 UTC every day."
        ],
    ),
    # A newcomer's first hour (issue 28); equivalents worked out by hand from the EventBridge cron reference (6
    # fields, day-of-week 1-7 SUN-SAT, '?' in one day field) and the Unix crontab(5) format (5 fields, 0-7 Sunday).
    (
        "unix-cron-on-weekdays",
        _broken(f"{RULE}.schedule", "cron(30 2 * * 1-5)"),
        [
            f"{RULE}.schedule: 'cron(30 2 * * 1-5)' is a Unix (5-field) cron; AWS's has 6 fields. Fix: write "
            "cron(30 2 ? * 2-6 *) (AWS numbers the days SUN=1 to SAT=7)."
        ],
    ),
    (
        "no-target-ous-and-no-regions",  # regions: [] was a traceback in plan_render
        _broken(f"{DAILY}.target_ous", [], (f"{DAILY}.regions", [])),
        [
            f"{DAILY}.target_ous: [] attaches the plan's policy to no OU: it would be created and protect nothing. "
            "Fix: list the OU ids it applies to, or write all (every target OU).",
            f"{DAILY}.regions: [] backs up in no Region: AWS needs at least one in a plan. Fix: list the Regions, or "
            "write all (every target Region).",
        ],
    ),
    (
        "rate-expression",
        _broken(f"{RULE}.schedule", "rate(12 hours)"),
        [
            f"{RULE}.schedule: 'rate(12 hours)' is a rate expression; AWS Backup schedules are cron expressions. Fix: "
            "write cron(0 0/12 * * ? *) (every 12 hours from midnight UTC)."
        ],
    ),
    (
        "never-fires",
        _broken(f"{RULE}.schedule", "cron(0 5 31 2 ? *)"),  # February never has 31 days
        [
            f"{RULE}.schedule: 'cron(0 5 31 2 ? *)' never runs in the next two years (a day that does not exist, like "
            "the 31st of February, or a past year), so it would protect nothing. Fix: choose a day every month has, "
            "e.g. cron(0 5 ? * * *) for 05:00 UTC every day."
        ],
    ),
    (
        "start-window-too-short",
        _broken(f"{RULE}.start_window_minutes", 30),
        [f"{RULE}.start_window_minutes: 30 is outside AWS Backup's range 60-52560000 minutes. Fix: use at least 60."],
    ),
    (
        "complete-window-not-after-start",
        _broken(f"{RULE}.complete_window_minutes", 60),
        [
            f"{RULE}.complete_window_minutes: 60 must be greater than start_window_minutes (60) and at most 52560000: "
            "AWS Backup counts it from the scheduled time, not from the start. Fix: raise it."
        ],
    ),
    (
        "cold-storage-too-short",
        _broken(f"{RULE}.lifecycle", {"move_to_cold_storage_after_days": 30, "delete_after_days": 100}),
        [
            f"{RULE}.lifecycle.delete_after_days: 100 must be at least move_to_cold_storage_after_days (30) + 90 (AWS "
            "Backup keeps cold storage at least 90 days). Fix: raise it to 120 or move to cold storage earlier."
        ],
    ),
    (
        "copy-cold-storage-too-short",
        _broken(
            f"{RULE}.copy_to_central", {"lifecycle": {"move_to_cold_storage_after_days": 7, "delete_after_days": 35}}
        ),
        [
            f"{RULE}.copy_to_central.lifecycle.delete_after_days: 35 must be at least move_to_cold_storage_after_days "
            "(7) + 90 (AWS Backup keeps cold storage at least 90 days). Fix: raise it to 97 or move to cold storage "
            "earlier."
        ],
    ),
    (
        "continuous-backup-kept-too-long",
        _broken(f"{RULE}.enable_continuous_backup", True, (f"{RULE}.lifecycle", {"delete_after_days": 60})),
        [
            f"{RULE}.lifecycle.delete_after_days: 60 is not allowed with enable_continuous_backup: AWS Backup keeps "
            "continuous backups 1-35 days. Fix: set 1-35."
        ],
    ),
    (
        "too-many-rules",
        _broken(f"{DAILY}.rules", MANY_RULES),
        [f"{DAILY}.rules: 11 rules; at most 10. Fix: split the plan."],
    ),
    (
        "too-many-selections",
        _broken(f"{DAILY}.selections", MANY_SELECTIONS),
        [f"{DAILY}.selections: 11 tag selections; at most 10. Fix: merge values or split the plan."],
    ),
    (
        "too-many-tag-values",
        _broken(f"{DAILY}.selections", {"Sel": {"tag_key": "backup", "tag_values": [f"v{i}" for i in range(31)]}}),
        [f"{DAILY}.selections.Sel.tag_values: 31 values; at most 30. Fix: split the selection."],
    ),
    (
        "region-not-targeted",
        _broken(f"{DAILY}.regions", ["eu-west-1", "ap-south-1"]),
        [
            f"{DAILY}.regions[1]: 'ap-south-1' is not one of backup.yaml's target_regions (eu-west-1, eu-central-1, "
            "us-east-1); member vaults exist only there. Fix: add it to target_regions or remove it."
        ],
    ),
    (
        "region-unknown",
        _broken(f"{DAILY}.regions", ["eu-west-9"]),
        [
            f"{DAILY}.regions[0]: 'eu-west-9' is not an AWS Region code known to botocore (rule: a Region such as "
            "'eu-west-1'). Fix: correct the spelling, or upgrade botocore if the Region is newer than the pinned "
            "version.",
        ],
    ),
    (
        "copy-into-own-region",
        _broken(f"{RULE}.copy_to_regions", {"eu-west-1": {"lifecycle": {"delete_after_days": 35}}}),
        [
            f"{RULE}.copy_to_regions.eu-west-1: 'eu-west-1' is also a Region this plan backs up in; a copy into the "
            "vault it came from fails. Fix: copy to a Region outside the plan's regions."
        ],
    ),
    (
        "copy-to-region-without-vault",
        _broken(f"{RULE}.copy_to_regions", {"ap-south-1": {"lifecycle": {"delete_after_days": 35}}}),
        [
            f"{RULE}.copy_to_regions.ap-south-1: 'ap-south-1' has no member vault (not in backup.yaml target_regions). "
            "Fix: use one of eu-west-1, eu-central-1, us-east-1."
        ],
    ),
    (
        "ou-not-targeted",
        _broken(f"{DAILY}.target_ous", ["ou-ab12-other001"]),
        [
            f"{DAILY}.target_ous[0]: 'ou-ab12-other001' is not one of backup.yaml's target_ous (ou-ab12-nonprod01, "
            "ou-ab12-prod0001). Fix: add it there or use one of those."
        ],
    ),
    (
        "duplicate-policy-name",
        _broken("plans.OrgBackupPlanMonthly.policy_name", "org-daily-backup-policy"),
        [
            "plans.OrgBackupPlanMonthly.policy_name: 'org-daily-backup-policy' is also used by "
            "plans.OrgBackupPlanDaily; Organizations policy names are unique. Fix: rename one."
        ],
    ),
    (
        "retention-outside-member-vault-lock",
        _broken(f"{RULE}.lifecycle", {"delete_after_days": 500}),
        [
            f"{RULE}.lifecycle.delete_after_days: 500 is outside the member vault lock's retention bounds 7-400 days in "
            "backup.yaml; AWS Backup would fail those jobs. Fix: adjust the retention or vault_lock."
        ],
    ),
    (
        "copy-kept-forever-into-locked-central-vault",
        _broken(f"{RULE}.copy_to_central", {"lifecycle": {}}),
        [
            f"{RULE}.copy_to_central.lifecycle.delete_after_days: is required: the central vault has a vault lock, "
            "which rejects recovery points kept forever (max_retention_days 400). Fix: set a retention within 7-400."
        ],
    ),
    (
        "unknown-rule-key",
        _broken(f"{RULE}.retention_days", 35),
        [
            f"{RULE}.retention_days: unknown key 'retention_days'. Fix: remove it or correct the spelling; allowed keys "
            "here: complete_window_minutes, copy_to_air_gapped, copy_to_central, copy_to_regions, "
            "enable_continuous_backup, index_actions, lifecycle, recovery_point_tags, schedule, start_window_minutes."
        ],
    ),
]


@pytest.mark.parametrize(("plans", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_plan_fails_with_exact_message(plans: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=CONFIG, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == expected


def test_at_least_fifteen_broken_plans() -> None:
    assert len(BROKEN) >= 15


def test_central_vault_copy_restriction_rejects_other_copy_targets() -> None:
    config = CONFIG.model_copy(
        update={
            "guardrails": CONFIG.guardrails.model_copy(
                update={
                    "copy_restriction": CONFIG.guardrails.copy_restriction.model_copy(update={"mode": "central_vault"})
                }
            )
        }
    )
    plans = _broken(
        f"{DAILY}.regions",
        ["eu-west-1"],
        (f"{RULE}.copy_to_regions", {"us-east-1": {"lifecycle": {"delete_after_days": 35}}}),
    )
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=config, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"{RULE}.copy_to_regions.us-east-1: guardrails.copy_restriction.mode is central_vault, whose SCP denies copies "
        "to any vault but the central one. Fix: remove the copy or use mode: organization."
    ]


DOC = json.loads((FIXTURES / "aws_backup_policy_examples" / "example2_child.json").read_text())


def _doc(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOC)
    change(document["plans"]["Monthly_Backup_Plan"]["rules"]["Monthly"])
    return document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            _doc(lambda r: r.update(start_backup_window_minutes="480")),
            [
                "plans.Monthly_Backup_Plan.rules.Monthly.start_backup_window_minutes: '480' is not wrapped in an "
                'inheritance operator. Fix: write {"@@assign": "480"}.'
            ],
        ),
        (
            _doc(
                lambda r: r["copy_actions"]["arn:aws:backup:us-east-1:$account:backup-vault:Default"].update(
                    target_backup_vault_arn={"@@assign": "arn:aws:backup:us-east-1:$account:backup-vault:Other"}
                )
            ),
            [
                "plans.Monthly_Backup_Plan.rules.Monthly.copy_actions.arn:aws:backup:us-east-1:$account:backup-vault:"
                "Default: key differs from target_backup_vault_arn 'arn:aws:backup:us-east-1:$account:backup-vault:Other'; "
                "AWS requires them to be equal."
            ],
        ),
        (
            _doc(lambda r: r.update(schedule_expression={"@@assign": "cron(0 5 1 * * *)"})),
            [
                "plans.Monthly_Backup_Plan.rules.Monthly.schedule_expression: 'cron(0 5 1 * * *)': exactly one of "
                "day-of-month ('1') and day-of-week ('*') must be '?'"
            ],
        ),
    ],
    ids=["unwrapped-leaf", "copy-key-mismatch", "cron-in-document"],
)
def test_broken_documents_fail_with_exact_message(document: dict[str, Any], expected: list[str]) -> None:
    assert [p.render() for p in validate_policy_document(document)] == expected


def test_plans_file_must_be_a_mapping(tmp_path: Path) -> None:
    from org_backup.plans.backup_policy import load_plans

    path = tmp_path / "plans.yaml"
    path.write_text("- a list\n")
    with pytest.raises(InputError) as raised:
        load_plans(path, CONFIG)
    assert raised.value.render() == (
        f"{path} has 1 problem:\n  - holds a list, not plans: a plans file is a 'plans:' mapping of plan names to "
        "plans. Fix: start from policies/backup_plans.yaml in the repository."
    )
    path.write_text("\n")  # an empty plans file names the plans example, not backup.yaml (issue 28)
    with pytest.raises(InputError) as raised:
        load_plans(path, CONFIG)
    assert raised.value.render() == (
        f"{path} has 1 problem:\n  - is empty. Fix: start from policies/backup_plans.yaml in the repository."
    )


def test_model_is_exported_for_editors(capsys: pytest.CaptureFixture[str]) -> None:
    """backup-plans.schema.json (issue 28): committed as `make schema` writes it, named by the plans file's
    yaml-language-server line; the committed plans pass it, and it refuses a misspelt key, a policy name with a space
    and a list where a mapping goes, as the validator does. policy_name and the windows may be left out (they have defaults)."""
    import jsonschema  # checkov's dependency, in Pipfile.lock

    from org_backup.__main__ import main as cli

    assert cli(["schema", "--plans"]) == 0
    committed = (ROOT / "backup-plans.schema.json").read_text()
    assert committed == capsys.readouterr().out, "run `make schema` and commit it"
    assert DEFAULT_PLANS_FILE.read_text().startswith("# yaml-language-server: $schema=../backup-plans.schema.json\n")
    validator = jsonschema.Draft202012Validator(json.loads(committed))
    assert list(validator.iter_errors(DEFAULT)) == []
    short = copy.deepcopy(DEFAULT)
    del short["plans"]["OrgBackupPlanDaily"]["policy_name"]
    del short["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"]["start_window_minutes"]
    assert list(validator.iter_errors(short)) == []
    for path, value in (
        (f"{RULE}.shedule", "cron(0 5 ? * * *)"),
        (f"{DAILY}.policy_name", "daily backups"),
        (f"{DAILY}.rules", [DEFAULT["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"]]),
    ):
        broken = _broken(path, value)
        assert list(validator.iter_errors(broken)), path
        with pytest.raises(InputError):
            validate_plans(broken, config=CONFIG, source="plans.yaml")


def test_a_plan_name_too_long_once_its_region_is_appended_is_refused() -> None:
    plans = copy.deepcopy(DEFAULT)
    plans["plans"]["OrgBackupPlanDailyWithAVeryLongDescriptiveName"] = plans["plans"].pop("OrgBackupPlanDaily")
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=CONFIG, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"org-daily-backup-policy: plans.OrgBackupPlanDailyWithAVeryLongDescriptiveName-{region}: "
        f"'OrgBackupPlanDailyWithAVeryLongDescriptiveName-{region}' is not a valid backup plan name (AWS Backup: 1-50 "
        "letters, digits, '-', '_' or '.'; org-backup appends '-<region>' and '-<rule>' when it splits a plan). Fix: "
        "shorten the plan or rule name."
        for region in ("eu-central-1", "eu-west-1", "us-east-1")  # 46 + 10 or more characters each
    ]


@pytest.mark.parametrize(("plans", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_plans_file_through_the_entry_point(
    plans: dict[str, Any],
    expected: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As `make synth` meets them: exit 2, the plans file named, each problem with its fix, output untouched."""
    import main

    (tmp_path / "plans.yaml").write_text(dump_yaml(plans))
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["backup_plans_file"] = "plans.yaml"
    (tmp_path / "backup.yaml").write_text(dump_yaml(config))
    (tmp_path / "cdktf.out").mkdir()
    (tmp_path / "cdktf.out" / "kept").write_text("the last good synth")
    monkeypatch.setenv("BACKUP_CONFIG", str(tmp_path / "backup.yaml"))
    monkeypatch.setenv("CDKTF_OUTDIR", str(tmp_path / "cdktf.out"))
    monkeypatch.delenv("ORG_BACKUP_LOCAL_API", raising=False)

    code = main.main()
    err = capsys.readouterr().err

    assert code == 2
    assert err.startswith(f"{tmp_path / 'plans.yaml'} has ") and "Traceback" not in err
    written = (tmp_path / "plans.yaml").read_text().splitlines()
    found = []
    for line in err.splitlines()[1:]:
        # each problem names its line in the plans file (issue 28): the line of the key it is about
        at = re.match(r"  - (?P<field>[^ :]+) \(line (?P<line>\d+)\): ", line)
        assert at, line
        text = written[int(at["line"]) - 1].lstrip()
        keys = [k for k in re.split(r"[.\[\]]", at["field"]) if k and not k.isdigit()]
        # the field's own key, or (a missing field) an enclosing one, or the list item it indexes
        assert any(text.startswith(f"{key}:") for key in keys) or text.startswith("- "), line
        found.append(line.removeprefix("  - ").replace(f" (line {at['line']})", "", 1))
    assert sorted(found) == sorted(expected)  # listed by line, which follows the file's key order
    assert all("Fix:" in line for line in err.splitlines()[1:])
    assert [p.name for p in (tmp_path / "cdktf.out").iterdir()] == ["kept"]


def test_a_copy_to_another_region_carries_its_own_lifecycle() -> None:
    """AWS Organizations backup policy syntax, copy_actions: each copy names its target vault (with $account) and its
    own lifecycle, independent of the rule's. A 90-day copy of a 35-day backup keeps 90 days, as a string."""
    plans = copy.deepcopy(DEFAULT)
    daily = plans["plans"]["OrgBackupPlanDaily"]
    daily["regions"] = ["eu-west-1"]
    daily["rules"]["OrgDailyBackupRule"]["copy_to_regions"] = {"eu-central-1": {"lifecycle": {"delete_after_days": 90}}}
    (policy,) = _daily_parts(plans)
    rule = json.loads(policy.content)["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"]
    copy_to_frankfurt = rule["copy_actions"]["arn:aws:backup:eu-central-1:$account:backup-vault:AWSBackupSolutionVault"]
    assert copy_to_frankfurt == {
        "target_backup_vault_arn": a("arn:aws:backup:eu-central-1:$account:backup-vault:AWSBackupSolutionVault"),
        "lifecycle": {"delete_after_days": a("90")},
    }
    assert rule["lifecycle"] == {"delete_after_days": a("35")}
