"""Selections by resource type: rendered as AWS's ``resources`` selections (one per tag value, since AWS ANDs a
selection's conditions), checked in documents against AWS's list of types, and required where a plan copies to the
air-gapped vault, which refuses the types AWS does not list for it."""

from __future__ import annotations

import copy
import json
from typing import Any, get_args

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import load_config
from org_backup.config.resource_types import RESOURCE_TYPES, SelectableType
from org_backup.plans.backup_policy import render_policies, validate_plans, validate_policy_document
from tests.conftest import FIXTURES, Synthesized

CONFIG_FILE = FIXTURES / "air_gapped.yaml"
PLANS = yaml.safe_load((FIXTURES / "air_gapped.plans.yaml").read_text())
SELECTION = "plans.Daily.selections.Tagged.resource_types"
ROLE = "arn:aws:iam::$account:role/AWSBackupSolutionRole"


def _refused(plans: dict[str, Any], config: Any = None) -> list[str]:
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=config or load_config(CONFIG_FILE), source="plans.yaml")
    return [p.render() for p in raised.value.problems]


def _with_types(*types: str) -> dict[str, Any]:
    plans = copy.deepcopy(PLANS)
    plans["plans"]["Daily"]["selections"]["Tagged"]["resource_types"] = list(types)
    return plans


def test_every_selectable_type_has_an_arn_pattern_and_an_air_gapped_verdict() -> None:
    assert sorted(get_args(SelectableType)) == sorted(RESOURCE_TYPES)


def test_the_backup_policy_selects_each_tag_value_and_only_the_named_types(synth: Any) -> None:
    out: Synthesized = synth(CONFIG_FILE)
    (policy,) = out.resources("backup-policies", "aws_organizations_policy").values()
    for plan in json.loads(policy["content"])["plans"].values():
        assert set(plan["selections"]) == {"resources"}
        selections = plan["selections"]["resources"]
        assert sorted(selections) == ["Tagged-1", "Tagged-2"]
        for name, value in (("Tagged-1", "daily"), ("Tagged-2", "critical")):
            assert selections[name] == {
                "iam_role_arn": {"@@assign": ROLE},
                "resource_types": {
                    "@@assign": [
                        "arn:aws:ec2:*:*:instance/*",
                        "arn:aws:ec2:*:*:volume/*",
                        "arn:aws:s3:::*",
                        "arn:aws:elasticfilesystem:*:*:file-system/*",
                        "arn:aws:rds:*:*:cluster:*",
                        "arn:aws:dynamodb:*:*:table/*",
                    ]
                },
                "conditions": {
                    "string_equals": {
                        "tag": {
                            "condition_key": {"@@assign": "aws:ResourceTag/backup"},
                            "condition_value": {"@@assign": value},
                        }
                    }
                },
            }


def test_a_selection_without_types_beside_one_with_types_takes_every_type() -> None:
    plans = copy.deepcopy(PLANS)
    del plans["plans"]["Daily"]["rules"]["Nightly"]["copy_to_air_gapped"]
    plans["plans"]["Daily"]["selections"]["Other"] = {"tag_key": "tier", "tag_values": ["gold"]}
    config = load_config(CONFIG_FILE)
    (policy, *_) = render_policies(validate_plans(plans, config=config, source="plans.yaml"), config)
    for plan in json.loads(policy.content)["plans"].values():
        assert plan["selections"]["resources"]["Other"]["resource_types"] == {"@@assign": ["*"]}


def test_plans_without_types_keep_awss_tags_selections(synth: Any) -> None:
    out: Synthesized = synth("minimal")
    for policy in out.resources("backup-policies", "aws_organizations_policy").values():
        for plan in json.loads(policy["content"])["plans"].values():
            assert set(plan["selections"]) == {"tags"}


def test_a_type_the_air_gapped_vault_does_not_take_is_refused_with_a_fix() -> None:
    assert _refused(_with_types("EBS", "RDS", "Redshift")) == [
        f"{SELECTION}: RDS, Redshift: rule Nightly copies this selection to the air-gapped vault, and AWS Backup's "
        "documentation does not list these types for logically air-gapped vaults (it lists EC2, EBS, S3, EFS, "
        "RDSCluster, DynamoDB, FSx, FSxVolume, StorageGateway, VirtualMachine; sources in "
        "org_backup/config/resource_types.py). Fix: move them to a selection of a plan without copy_to_air_gapped."
    ]


def test_a_selection_of_every_type_copied_to_the_air_gapped_vault_is_refused_with_a_fix() -> None:
    plans = copy.deepcopy(PLANS)
    del plans["plans"]["Daily"]["selections"]["Tagged"]["resource_types"]
    (problem,) = _refused(plans)
    assert problem.startswith(
        f"{SELECTION}: is empty, so the selection takes every type, and rule Nightly copies them all to the "
        "air-gapped vault, which takes only some; copies of the others would fail in every account. Fix: list the "
        "types to copy (the vault takes EC2, EBS,"
    )


def test_dynamodb_needs_the_advanced_features_to_reach_the_air_gapped_vault() -> None:
    config = load_config(CONFIG_FILE)
    config = config.model_copy(
        update={"region_settings": config.region_settings.model_copy(update={"full_management": ("EFS",)})}
    )
    assert _refused(_with_types("DynamoDB"), config) == [
        f"{SELECTION}: DynamoDB: rule Nightly copies it to the air-gapped vault, which takes it only with AWS "
        "Backup's advanced features (full management), and region_settings.full_management in backup.yaml leaves "
        "them off. Fix: add DynamoDB to region_settings.full_management, or remove DynamoDB here."
    ]


def test_a_region_without_cross_account_copies_to_air_gapped_vaults_is_refused() -> None:
    config = load_config(CONFIG_FILE)
    config = config.model_copy(update={"target_regions": (*config.target_regions, "ca-west-1")})
    config = config.model_copy(
        update={"central_backup": config.central_backup.model_copy(update={"regions": config.target_regions})}
    )
    plans = copy.deepcopy(PLANS)
    assert (
        "plans.Daily.rules.Nightly.copy_to_air_gapped: the plan backs up in ca-west-1, where AWS Backup offers no "
        "cross-account copy to a logically air-gapped vault (feature availability by Region, footnote 1). Fix: "
        "leave those Regions out of the plan's regions, or copy from there to the central vault only."
    ) in _refused(plans, config)


def test_one_selection_per_tag_value_must_still_fit_awss_selection_limit() -> None:
    plans = _with_types("EBS")
    plans["plans"]["Daily"]["selections"]["Tagged"]["tag_values"] = [f"v{i}" for i in range(11)]
    assert _refused(plans) == [
        "plans.Daily.selections: names resource types, so each tag value is its own selection (AWS ANDs the "
        "conditions of a 'resources' selection): 11 selections; at most 10. Fix: fewer tag values, or split the plan."
    ]


def test_a_type_named_twice_is_refused() -> None:
    assert _refused(_with_types("EBS", "EBS")) == [
        f"{SELECTION}: ['EBS', 'EBS'] names a type twice. Fix: list each once."
    ]


def test_an_unknown_type_is_refused_by_the_schema() -> None:
    (problem,) = _refused(_with_types("Lambda"))
    assert problem.startswith(f"{SELECTION}[0]: 'Lambda' is not one of")


def _resources_doc(selection: dict[str, Any]) -> dict[str, Any]:
    return {
        "plans": {
            "P": {
                "regions": {"@@assign": ["eu-west-1"]},
                "rules": {"R": {"schedule_expression": {"@@assign": "cron(0 5 ? * * *)"}}},
                "selections": {"resources": {"S": {"iam_role_arn": {"@@assign": ROLE}, **selection}}},
            }
        }
    }


def test_awss_documented_resources_selection_passes() -> None:
    document = _resources_doc(
        {
            "resource_types": {"@@assign": ["arn:aws:ec2:*:*:volume/*", "arn:aws:rds:*:*:db:*"]},
            "not_resource_types": {"@@assign": ["arn:aws-us-gov:fsx:*:*:file-system/*"]},
            "conditions": {
                "string_equals": {
                    "c1": {
                        "condition_key": {"@@assign": "aws:ResourceTag/backup"},
                        "condition_value": {"@@assign": "true"},
                    }
                }
            },
        }
    )
    assert validate_policy_document(document) == []


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (
            {"resource_types": {"@@assign": ["arn:aws:lambda:*:*:function:*"]}},
            "plans.P.selections.resources.S.resource_types: 'arn:aws:lambda:*:*:function:*' is not one of the resource "
            "types AWS Organizations supports here (e.g. arn:aws:ec2:*:*:volume/*, or '*').",
        ),
        ({}, "plans.P.selections.resources.S.resource_types: is required in a 'resources' selection."),
        (
            {"resource_types": {"@@assign": ["*"]}, "tag_key": {"@@assign": "backup"}},
            "plans.P.selections.resources.S.tag_key: unknown element. Allowed: conditions, iam_role_arn, "
            "not_resource_types, resource_types.",
        ),
        (
            {
                "resource_types": {"@@assign": ["*"]},
                "conditions": {
                    "string_like": {
                        f"c{i}": {
                            "condition_key": {"@@assign": f"aws:ResourceTag/k{i}"},
                            "condition_value": {"@@assign": "x*"},
                        }
                        for i in range(31)
                    }
                },
            },
            "plans.P.selections.resources.S.conditions: 31 conditions; at most 30.",
        ),
    ],
    ids=["unsupported-type", "types-missing", "tag-key-in-resources", "too-many-conditions"],
)
def test_resources_selections_are_checked_with_awss_rules(selection: dict[str, Any], expected: str) -> None:
    assert [p.render() for p in validate_policy_document(_resources_doc(selection))] == [expected]


def test_tags_and_resources_in_one_plan_are_refused() -> None:
    document = _resources_doc({"resource_types": {"@@assign": ["*"]}})
    document["plans"]["P"]["selections"]["tags"] = {
        "T": {
            "iam_role_arn": {"@@assign": ROLE},
            "tag_key": {"@@assign": "backup"},
            "tag_value": {"@@assign": ["daily"]},
        }
    }
    assert [p.render() for p in validate_policy_document(document)] == [
        "plans.P.selections: has both 'tags' and 'resources'; AWS allows one of them (mutually exclusive)."
    ]


def test_preview_shows_the_tag_and_the_types_of_each_selection(capsys: pytest.CaptureFixture[str]) -> None:
    from org_backup.__main__ import main

    assert main(["preview", "--config", str(CONFIG_FILE)]) == 0
    text = capsys.readouterr().out
    assert (
        "selection tagged-2: tag backup = critical, types arn:aws:ec2:*:*:instance/*, arn:aws:ec2:*:*:volume/*, "
        "arn:aws:s3:::*, arn:aws:elasticfilesystem:*:*:file-system/*, arn:aws:rds:*:*:cluster:*, "
        "arn:aws:dynamodb:*:*:table/*, role arn:aws:iam::<account>:role/AWSBackupSolutionRole"
    ) in text
