"""benchmarks/fleet.py's arithmetic, each expectation computed by hand: the model's fit, the rounds of the default
waves, the projection and the API-rate check. (The benchmark itself deploys fleets for many minutes; it is run by
hand and its results are in benchmarks/results/fleet-*.json.)"""

from __future__ import annotations

import math

import pytest

from benchmarks import fleet


def test_least_squares_through_two_points_and_a_noisy_third() -> None:
    assert fleet._fit([(1, 3), (2, 5)]) == pytest.approx((1.0, 2.0))
    # y = 1 + 2x with +1, -2, +1 added: residuals that sum to zero and are symmetric leave the same line
    assert fleet._fit([(1, 4), (2, 3), (3, 8)]) == pytest.approx((1.0, 2.0))


def test_rounds_of_the_default_waves() -> None:
    """Default waves (docs/scale.md, Waves): canary = central-backup + the first member; ten-percent = ceil(10 % of
    the members); rest. With 2 at once: 4 members -> canary 2 stacks (1 round), 10 % = 1 (1 round), rest 2 (1);
    20 members -> canary 2 (1), 2 (1), 17 (9)."""
    assert fleet._rounds(fleet._phase2_stacks(4), 2) == 3
    assert fleet._rounds(fleet._phase2_stacks(20), 2) == 1 + 1 + math.ceil(17 / 2)
    # 1,000 members, 4 at once: canary 2 (1), 100 (25), 899 (225)
    assert fleet._rounds(fleet._phase2_stacks(1000), 4) == 1 + 25 + 225


def test_projection_adds_plan_phases_and_codebuild_overhead() -> None:
    model = {"plan": (10.0, 2.0), "deploy_phase2": (20.0, 30.0)}
    fixed = {"phase1_s": 60.0, "phase3_s": 40.0, "merge_s": 30.0}
    projected = fleet.project(model, 100, 10, fixed)
    # plan: 10 + 2 x ceil(103 / 10) + 30 = 62 s; phase 2: one shard of 10 members (+ central-backup), 4 at once:
    # canary 2 (1 round), 1 (1), 8 (2) = 4 rounds -> 20 + 120 = 140 s; deploy 60 + 140 + 40 = 240 s;
    # CodeBuild: 180 s x (2 plan builds + 3 deploy builds) = 900 s.
    assert projected == {
        "shards": 10,
        "plan_min": round(62 / 60, 1),
        "deploy_min": 4.0,
        "codebuild_overhead_min": 15.0,
        "total_min": round((62 + 240 + 900) / 60, 1),
    }


def test_calls_are_counted_per_member_stack_and_per_phase_2_stack_in_the_home_account() -> None:
    lines = [
        ["111111111111", "kms:CreateKey", "eu-west-1", "-"],
        ["111111111111", "kms:CreateKey", "eu-west-1", "-"],
        ["111111111111", "kms:CreateKey", "eu-central-1", "-"],
        ["222222222222", "kms:CreateKey", "eu-west-1", "-"],
        ["111111111111", "iam:CreateRole", "us-east-1", "-"],
        ["999999999999", "sts:AssumeRole", "us-east-1", "arn:aws:iam::111111111111:role/d"],
        ["999999999999", "s3:PutObject", "eu-west-1", "-"],
        ["333333333333", "kms:CreateKey", "eu-west-1", "-"],  # central account: neither
    ]
    calls = fleet._calls_per_stack(lines, ["111111111111", "222222222222"], "999999999999")
    # busiest Region for kms:CreateKey: eu-west-1, 2 + 1 = 3 calls over 2 members; IAM is global: 1 over 2;
    # the home account's calls over the 3 phase-2 stacks (2 members + central-backup)
    assert calls == {
        "member_account_per_stack_busiest_region": {"iam:CreateRole": 0.5, "kms:CreateKey": 1.5},
        "home_account_per_stack": {"s3:PutObject": round(1 / 3, 2), "sts:AssumeRole": round(1 / 3, 2)},
    }


def test_rate_check_compares_published_quotas_only() -> None:
    calls = {
        "member_account_per_stack_busiest_region": {"kms:CreateKey": 2.0, "iam:CreateRole": 4.0},
        "home_account_per_stack": {"s3:GetObject": 10.0, "s3:PutObject": 5.0, "sts:AssumeRole": 3.0},
    }
    check = fleet.rate_check(calls, 10.0, 10)
    rows = {row["action"]: row for row in check["rows"]}
    assert rows["kms:CreateKey"]["per_second"] == 0.2 and rows["kms:CreateKey"]["quota_per_second"] == 5
    assert rows["iam:CreateRole"]["quota_per_second"] is None  # IAM publishes no per-second quota
    # 10 shards x 4 stacks at once = 40 stacks; each stack lasts 10 s: writes 40 x 5 / 10 = 20/s of 3,500
    assert check["in_flight_stacks"] == 40
    assert rows["s3 writes (state prefix)"]["per_second"] == 20.0
    assert rows["kms crypto for SSE-KMS state"]["per_second"] == 60.0
    # the highest use: reads 40 x 10 / 10 = 40/s of 5,500 (0.73 %) < crypto 60/5,500 (1.09 %) > CreateKey 0.2/5
    assert check["max_utilization"] == round(0.2 / 5, 4) and check["passed"]
