"""benchmarks/fleet.py's arithmetic, each expectation computed by hand: the model's fit, the rounds of the default
waves, the projection and the API-rate check. (The benchmark itself deploys fleets for many minutes; it is run by
hand and its results are in benchmarks/results/fleet-*.json.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

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


def _fleet(members: int, planned: int, rounds: int, plan_s: float, phase2_s: float) -> dict[str, object]:
    steps = {"bootstrap": 90.0, "discover": 1.0, "plan": plan_s, "deploy phase 1": 15.0, "deploy phase 2": phase2_s,
             "deploy phase 3": 16.0}  # fmt: skip
    return {
        "members": members,
        "stacks_planned": planned,
        "phase2_rounds": rounds,
        "steps": {name: {"wall_s": wall, "cpu_s": wall} for name, wall in steps.items()},
        "calls": {"member_account_per_stack_busiest_region": {"kms:CreateKey": 2.0},
                  "home_account_per_stack": {"s3:PutObject": 3.0}},
    }  # fmt: skip


def test_main_fits_on_the_smaller_fleets_and_checks_the_largest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command as run by hand (``python benchmarks/fleet.py --sizes ... --json ...``), with each fleet's
    deployment replaced by hand-made measurements: plan 20 s at 7 stacks and 28 s at 11 -> A_p = 6, B_p = 2;
    phase 2 100 s at 3 rounds and 160 s at 5 -> A_d = 10, B_d = 30. For 16 members (19 stacks, 9 rounds) that
    predicts 6 + 38 + 10 + 270 = 324 s; measured 44 + 316 = 360 s -> 36 / 360 = 10.0 % off."""
    made = {4: _fleet(4, 7, 3, 20.0, 100.0), 8: _fleet(8, 11, 5, 28.0, 160.0), 16: _fleet(16, 19, 9, 44.0, 316.0)}
    monkeypatch.setattr(fleet, "measure", lambda size, workdir: made[size])
    monkeypatch.setattr(fleet, "_steal_percent", lambda: 0.0)
    out = tmp_path / "fleet.json"
    assert fleet.main(["--sizes", "16", "4", "8", "--json", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["model"]["plan_a_s"] == 6.0 and results["model"]["plan_b_s_per_stack"] == 2.0
    assert results["model"]["deploy_a_s"] == 10.0 and results["model"]["deploy_b_s_per_round"] == 30.0
    assert (results["predicted_largest_s"], results["measured_largest_s"]) == (324.0, 360.0)
    assert results["model_error_percent"] == 10.0
    # the smallest N within 60 min and within CodeBuild's 20 concurrent builds; its 1,000-account total is reported
    chosen = next(p for p in results["projections"]["1000"] if p["shards"] == results["chosen_shards"])
    assert results["projected_1000_accounts_minutes"] == chosen["total_min"] <= 60
    assert all(p["total_min"] > 60 for p in results["projections"]["1000"] if p["shards"] < chosen["shards"])
    assert results["api_rate_check"]["shards"] == chosen["shards"] and results["api_rate_check"]["passed"]
    assert json.loads(capsys.readouterr().out) == results


def test_main_refuses_fewer_than_three_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        fleet.main(["--sizes", "4", "8"])
    assert exit_.value.code == 2
    assert "give at least three sizes of 2 or more" in capsys.readouterr().err
