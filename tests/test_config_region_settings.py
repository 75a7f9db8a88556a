"""The Region settings model per Region: exactly the Region's types, opted in or out as configured; a Region whose
types nobody established raises instead of guessing; a plan selection of a type the Region lacks is refused.
(The refusals of the config itself, with their exact text, are cases in tests/test_config.py.)"""

from __future__ import annotations

import pytest

from org_backup.config.region_settings import RegionSettings, selection_type_problems

# What `aws backup describe-region-settings --region eu-west-2` might list (an example, not AWS's answer): no
# Timestream, no DSQL.
LONDON = ("Aurora", "CloudFormation", "DynamoDB", "EBS", "EC2", "EFS", "RDS", "Redshift", "S3")


def test_a_region_of_supported_types_gets_exactly_those_with_opt_outs_and_full_management() -> None:
    settings = RegionSettings(
        opt_out=("S3", "Timestream"), full_management=("DynamoDB",), supported_types={"eu-west-2": LONDON}
    )
    assert settings.opt_in_preference("eu-west-2") == {
        "Aurora": True,
        "CloudFormation": True,
        "DynamoDB": True,
        "EBS": True,
        "EC2": True,
        "EFS": True,
        "RDS": True,
        "Redshift": True,
        "S3": False,
    }
    # DSQL is a full-management type (hashicorp/aws 5.100.0 docs) the Region lacks: not sent.
    assert settings.management_preference("eu-west-2") == {"CloudFormation": False, "DynamoDB": True, "EFS": False}


def test_a_region_nobody_established_raises_rather_than_guess() -> None:
    with pytest.raises(ValueError, match="eu-west-2"):
        RegionSettings().opt_in_preference("eu-west-2")


def test_a_plan_selection_of_a_type_the_region_lacks_is_refused_where_it_applies() -> None:
    settings = RegionSettings(supported_types={"eu-west-2": LONDON})
    problems = selection_type_problems(
        "plans.Daily.selections.Tagged.resource_types",
        ("EC2", "Timestream", "RDSCluster"),
        ("us-east-1", "eu-west-2", "eu-west-3"),  # eu-west-3: types unknown, nothing said
        settings,
    )
    assert [p.render() for p in problems] == [
        "plans.Daily.selections.Tagged.resource_types: Timestream: AWS Backup does not support it in eu-west-2 "
        "(region_settings.supported_types.eu-west-2), where the plan applies. Fix: remove it from this selection, "
        "or limit the plan's regions to Regions that support it."
    ]


def test_the_plans_file_refuses_a_selection_of_a_type_a_target_region_lacks() -> None:
    """The same rule, wired into plan validation: tests/fixtures/central_is_member.yaml lists eu-west-1's types by hand
    (no "Redshift Serverless", no DSQL), and a plan selecting RedshiftServerless in every target Region is refused."""
    from org_backup.config.errors import InputError
    from org_backup.config.loader import load_config
    from org_backup.plans.rules import validate_plans
    from tests.conftest import FIXTURES

    config = load_config(FIXTURES / "central_is_member.yaml")
    plans = {
        "plans": {
            "Daily": {
                "policy_name": "org-daily",
                "target_ous": "all",
                "rules": {
                    "Nightly": {
                        "schedule": "cron(0 3 ? * * *)",
                        "start_window_minutes": 60,
                        "complete_window_minutes": 600,
                        "lifecycle": {"delete_after_days": 35},
                    }
                },
                "selections": {
                    "Tagged": {"tag_key": "backup", "tag_values": ["daily"], "resource_types": ["RedshiftServerless"]}
                },
            }
        }
    }
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=config, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        "plans.Daily.selections.Tagged.resource_types: RedshiftServerless: AWS Backup does not support it in eu-west-1 "
        "(region_settings.supported_types.eu-west-1), where the plan applies. Fix: remove it from this selection, "
        "or limit the plan's regions to Regions that support it."
    ]
