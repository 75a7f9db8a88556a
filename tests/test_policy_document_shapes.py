"""The backup policy validator (org_backup/plans/document.py) on documents of any shape: it reports problems with the
JSON path and a fix, and never raises (issue 27, item 1). Two property tests (hypothesis) feed it random JSON and
random mutations of AWS's documented examples (tests/fixtures/aws_backup_policy_examples); table tests pin the
messages for the shape mix-ups users make, and the copy action AWS lets omit its target ARN.

Sources: AWS Organizations User Guide, "Backup policy syntax and examples" (orgs_manage_policies_backup_syntax):
plans, rules, selections and copy actions are objects keyed by their names; ``regions``, ``tag_value`` and
``resource_types`` are lists; of ``target_backup_vault_arn``: "If this key is missing, then an all lower-case version
of the ARN in the parent key name is used."
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from org_backup.config.errors import Problem
from org_backup.plans.document import validate_policy_document
from tests.conftest import FIXTURES

EXAMPLES = sorted(
    (FIXTURES / "aws_backup_policy_examples").glob("example[12678]_*.json")
)  # valid (6, 7: fragments completed)
DOCUMENTS = [json.loads(path.read_text()) for path in EXAMPLES]
# Deterministic (the same examples on every run, so CI cannot flake) and sized for make test-fast.
PROPERTY = settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
JSON = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found += _paths(child, (*at, key))
    return found


def _checked(document: Any) -> list[Problem]:
    problems = validate_policy_document(document)
    assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems)
    return problems


@PROPERTY
@given(JSON)
def test_any_json_as_a_document_or_a_plan_gives_problems_never_an_exception(value: Any) -> None:
    _checked(value)
    _checked({"plans": {"Plan": value}})
    _checked({"plans": {"Plan": {"rules": {"Rule": value}, "selections": value}}})


@PROPERTY
@given(st.data())
def test_any_mutation_of_a_documented_example_gives_problems_never_an_exception(data: st.DataObject) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(DOCUMENTS)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)))
        if not path:
            document = data.draw(JSON)
            break
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(JSON)
    _checked(json.loads(json.dumps(document)))  # as read from a file: JSON object keys are strings


def _example_with(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENTS[0])
    change(document["plans"][next(iter(document["plans"]))])
    return document


def _rendered(document: dict[str, Any]) -> list[str]:
    return [p.render() for p in _checked(document)]


def _plan_name() -> str:
    return next(iter(DOCUMENTS[0]["plans"]))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda plan: plan.update(rules=[{"rule_name": "Daily"}]),
            "rules: must be an object keyed by rule name, not a list. AWS Backup's plan JSON lists them; a backup "
            'policy names each: {"<rule name>": {...}}.',
        ),
        (
            lambda plan: plan.update(regions={"@@assign": "us-east-1"}),
            "regions: 'us-east-1' must be a list of strings. Fix: write [\"us-east-1\"].",
        ),
        (
            lambda plan: plan.update(regions={"@@assign": 3}),
            "regions: must be a list of strings, not a number.",
        ),
        (
            lambda plan: plan["selections"].update(tags=[{"tag_key": "backup"}]),
            "selections.tags: must be an object keyed by selection name, not a list. AWS Backup's plan JSON lists "
            'them; a backup policy names each: {"<selection name>": {...}}.',
        ),
        (
            lambda plan: plan["selections"]["tags"].update(Named="backup=daily"),
            "selections.tags.Named: must be an object (the selection's settings), not a string.",
        ),
    ],
    ids=["rules-as-list", "regions-as-string", "regions-as-number", "tags-as-list", "selection-as-string"],
)
def test_shape_mix_ups_are_one_problem_each_with_its_fix(change: Any, expected: str) -> None:
    assert f"plans.{_plan_name()}.{expected}" in _rendered(_example_with(change))


def test_copy_actions_and_conditions_of_the_wrong_shape_are_problems() -> None:
    def copies_as_string(plan: dict[str, Any]) -> None:
        rule = next(iter(plan["rules"].values()))
        rule["copy_actions"] = {"arn:aws:backup:us-east-1:$account:backup-vault:secondary_vault": "copy"}
        plan["selections"] = {"resources": {"All": {"resource_types": {"@@assign": ["*"]}, "conditions": []}}}

    rendered = _rendered(_example_with(copies_as_string))
    rule = next(iter(DOCUMENTS[0]["plans"][_plan_name()]["rules"]))
    at = f"plans.{_plan_name()}"
    assert (
        f"{at}.rules.{rule}.copy_actions.arn:aws:backup:us-east-1:$account:backup-vault:secondary_vault: must be an "
        "object (the copy's settings), not a string."
    ) in rendered
    assert (
        f"{at}.selections.resources.All.conditions: must be an object keyed by condition, not a list. AWS "
        in " ".join(rendered)
    )


def test_a_copy_action_without_its_target_arn_is_valid() -> None:
    """AWS: "If this key is missing, then an all lower-case version of the ARN in the parent key name is used"."""

    def without_targets(plan: dict[str, Any]) -> None:
        for rule in plan["rules"].values():
            for action in rule.get("copy_actions", {}).values():
                action.pop("target_backup_vault_arn", None)

    document = _example_with(without_targets)
    assert "target_backup_vault_arn" not in json.dumps(document)
    assert _checked(document) == []


def test_the_examples_are_aws_documented_ones() -> None:
    assert [p.name for p in EXAMPLES] == [
        "example1_parent.json",
        "example2_child.json",
        "example2_parent.json",
        "example6_completed.json",
        "example7_completed.json",
        "example8_malware_scan.json",
    ]
    assert all(_checked(document) == [] for document in DOCUMENTS)


def test_the_mutation_test_reaches_every_part_of_the_examples() -> None:
    """The mutations can hit rules, copy actions, selections and regions (the paths they draw from)."""
    keys = {str(path[-1]) for document in DOCUMENTS for path in _paths(document) if path}
    assert {"rules", "copy_actions", "selections", "regions", "tag_value", "lifecycle"} <= keys


def _first_rule(plan: dict[str, Any]) -> dict[str, Any]:
    return dict(next(iter(plan["rules"].values())))


def _set_rule(plan: dict[str, Any], **settings: Any) -> None:
    next(iter(plan["rules"].values())).update(settings)


def _rename_rule(plan: dict[str, Any], name: str) -> None:
    plan["rules"] = {name: _first_rule(plan)}


def _retag(plan: dict[str, Any], **settings: Any) -> None:
    next(iter(plan["selections"]["tags"].values())).update(settings)


def _recopy(plan: dict[str, Any], key: str) -> None:
    rule = next(iter(plan["rules"].values()))
    rule["copy_actions"] = {key: next(iter(rule["copy_actions"].values()))}


# Each row: what AWS documents as invalid, and the message that must name it. Sources: "Inheritance operators"
# (@@append and @@remove "can be used only with multi-valued settings"; child controls ["@@all"], ["@@none"] or
# value-setting operators), "Backup policy syntax and examples" (every setting under an operator; tag selections of
# iam_role_arn, tag_key, tag_value, conditions; copy actions keyed by the target vault's ARN; advanced_backup_settings
# of ec2 and s3, enabled or disabled), the AWS Backup API reference (vault names ^[a-zA-Z0-9\-\_]{2,50}$; rule names
# "1 to 50 alphanumeric or '-_.' characters").
FALSE_ACCEPTANCES = [
    (
        "unknown-operator",
        lambda p: p.update(regions={"@@set": ["us-east-1"]}),
        "'@@set' is not an inheritance operator",
    ),
    (
        "append-single-valued",
        lambda p: _set_rule(p, schedule_expression={"@@append": "cron(0 5 ? * * *)"}),
        "@@append can be used only with multi-valued settings",
    ),
    (
        "remove-single-valued",
        lambda p: _set_rule(p, target_backup_vault_name={"@@remove": "FortKnox"}),
        "@@remove can be used only with multi-valued settings",
    ),
    (
        "assign-null-days",
        lambda p: _set_rule(p, lifecycle={"delete_after_days": {"@@assign": None}}),
        "null is not a number of days",
    ),
    (
        "vault-name-characters",
        lambda p: _set_rule(p, target_backup_vault_name={"@@assign": "my vault"}),
        "'my vault' is not a backup vault name",
    ),
    (
        "vault-name-bare",
        lambda p: _set_rule(p, target_backup_vault_name="FortKnox"),
        "is not wrapped in an inheritance",
    ),
    ("rule-name-characters", lambda p: _rename_rule(p, "Daily backup"), "is not a valid backup rule name"),
    ("tag-selection-unknown-key", lambda p: _retag(p, tag_values={"@@assign": ["x"]}), "tag_values: unknown element"),
    ("tag-key-bare", lambda p: _retag(p, tag_key="dataType"), "tag_key: 'dataType' is not wrapped"),
    (
        "advanced-setting-value",
        lambda p: p.update(advanced_backup_settings={"ec2": {"windows_vss": {"@@assign": "on"}}}),
        "'on': must be {\"ec2\"",
    ),
    (
        "advanced-setting-type",
        lambda p: p.update(advanced_backup_settings={"rds": {"windows_vss": {"@@assign": "enabled"}}}),
        "(the advanced settings AWS Backup has)",
    ),
    (
        "child-control-value",
        lambda p: p.update(regions={"@@assign": ["us-east-1"], "@@operators_allowed_for_child_policies": ["@@set"]}),
        'must be ["@@all"], ["@@none"] or a list of',
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), FALSE_ACCEPTANCES, ids=[row[0] for row in FALSE_ACCEPTANCES])
def test_what_aws_documents_as_invalid_is_refused(name: str, change: Any, expected: str) -> None:
    rendered = " | ".join(_rendered(_example_with(change)))
    assert expected in rendered, name


def test_a_copy_action_keyed_by_something_other_than_a_vault_arn_is_refused() -> None:
    document = copy.deepcopy(DOCUMENTS[0])
    plan = document["plans"][_plan_name()]
    rule = next(iter(plan["rules"].values()))
    if "copy_actions" not in rule:  # the first example's first rule copies; guard the fixture, not the behaviour
        pytest.fail("the first AWS example is expected to have a copy action")
    _recopy(plan, "secondary_vault")
    assert any("a copy action is keyed by its target vault's ARN" in r for r in _rendered(document))


def _with_controls(node: Any) -> Any:
    """``node`` with ``"@@operators_allowed_for_child_policies": ["@@none"]`` in every object that names things."""
    if not isinstance(node, dict):
        return node
    if any(str(k).startswith("@@") for k in node):
        return node  # an operator leaf: its own control is a separate case
    return {**{k: _with_controls(v) for k, v in node.items()}, "@@operators_allowed_for_child_policies": ["@@none"]}


def test_child_controls_on_every_node_are_valid() -> None:
    """AWS's example 3: "The presence of "@@operators_allowed_for_child_policies": ["@@none"] at every node of the
    policy means that a child policy can't make changes of any kind" (a valid document)."""
    for document in DOCUMENTS:
        assert _checked(_with_controls(document)) == []


def test_documented_selection_conditions_and_advanced_settings_are_valid() -> None:
    """Backup policy syntax: tag selections may have "conditions"; advanced settings for "ec2" (windows_vss) and "s3"
    (backup_acls, backup_object_tags), enabled or disabled; AWS's 2023 examples wrote the EC2 option WindowsVSS."""

    def documented(plan: dict[str, Any]) -> None:
        tag = "aws:ResourceTag/Department"
        selection = next(iter(plan["selections"]["tags"].values()))
        selection["conditions"] = {
            "string_equals": {"dept": {"condition_key": {"@@assign": tag}, "condition_value": {"@@assign": "finance"}}}
        }
        plan["advanced_backup_settings"] = {
            "ec2": {"WindowsVSS": {"@@assign": "disabled"}},
            "s3": {"backup_acls": {"@@assign": "enabled"}, "backup_object_tags": {"@@assign": "disabled"}},
        }

    assert _checked(_example_with(documented)) == []
