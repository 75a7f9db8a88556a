"""Waves (org_backup/ops/rollout.py): which stacks each wave takes, and how a wave stops, with a deploy function that
fails where a test says. The expected stacks are computed by hand from the wave definitions; the stop rule is
StackSets' (AWS CloudFormation API Reference, StackSetOperationPreferences: FailureToleranceCount, and the default
STRICT_FAILURE_TOLERANCE: in-flight operations are lowered so that failures never exceed FailureToleranceCount + 1)."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from org_backup.config.pipeline import Wave, _default_waves
from org_backup.ops.rollout import WavePlan, assign, report, roll_out
from tests.conftest import EXAMPLE_CONFIG

MEMBERS = [f"member-{100000000000 + n}" for n in range(30)]


def test_the_default_waves_are_one_canary_then_ten_percent_then_the_rest() -> None:
    """30 member stacks: canary 1 (the lowest account id, with central-backup), ten-percent ceil(30 x 10 %) = 3, the
    rest 26; tolerances 0, 0, 2; each at deploy_parallelism (4)."""
    plans = assign(_default_waves(), ["central-backup", *reversed(MEMBERS)], {}, default_concurrency=4)
    assert [(p.name, p.stacks, p.max_concurrent, p.failure_tolerance) for p in plans] == [
        ("canary", ("central-backup", MEMBERS[0]), 4, 0),
        ("ten-percent", tuple(MEMBERS[1:4]), 4, 0),
        ("rest", tuple(MEMBERS[4:]), 4, 2),
    ]


def test_waves_by_account_and_ou_take_theirs_and_empty_waves_are_dropped() -> None:
    ou_of = {
        m.removeprefix("member-"): ("ou-ab12-prod0001" if int(m[-2:]) % 2 else "ou-ab12-dev00001") for m in MEMBERS
    }
    waves = [
        Wave(name="pilot", accounts=("100000000007", "100000000003")),
        Wave(name="nobody", accounts=("999999999999",)),
        Wave(name="dev", ous=("ou-ab12-dev00001",)),
        Wave(name="rest"),
    ]
    plans = assign(waves, MEMBERS, ou_of, default_concurrency=2)
    assert [p.name for p in plans] == ["pilot", "dev", "rest"]
    assert plans[0].stacks == ("member-100000000003", "member-100000000007")
    assert plans[1].stacks == tuple(m for m in MEMBERS if int(m[-2:]) % 2 == 0)
    assert plans[2].stacks == tuple(m for m in MEMBERS if int(m[-2:]) % 2 and m not in plans[0].stacks)


class FakeDeploy:
    """Records each call and the most stacks in flight at once; fails the stacks it is told to."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, stack: str) -> bool:
        with self._lock:
            self.calls.append(stack)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.01)
        with self._lock:
            self.in_flight -= 1
        return stack not in self.failing


def test_a_failed_canary_stops_the_rollout_and_touches_nothing_else() -> None:
    plans = assign(_default_waves(), ["central-backup", *MEMBERS], {}, default_concurrency=4)
    deploy = FakeDeploy(failing={MEMBERS[0]})
    outcome = roll_out(plans, deploy=deploy, deployed=lambda s: False, say=lambda line: None)
    assert sorted(deploy.calls) == sorted(["central-backup", MEMBERS[0]])
    assert (outcome.stopped_in, outcome.failed, outcome.deployed) == ("canary", [MEMBERS[0]], ["central-backup"])
    assert outcome.not_started == MEMBERS[1:]
    assert "Stopped in wave canary" in report(outcome)


def test_a_wave_stops_after_tolerance_plus_one_failures_with_strict_concurrency() -> None:
    """Tolerance 2, at most 5 at once: in flight never above min(5, 2 + 1 - failures) = 3, so at most 3 fail."""
    plan = WavePlan("rest", tuple(MEMBERS), max_concurrent=5, failure_tolerance=2)
    failing = set(MEMBERS[:10])
    deploy = FakeDeploy(failing=failing)
    outcome = roll_out([plan], deploy=deploy, deployed=lambda s: False, say=lambda line: None)
    assert deploy.most_in_flight <= 3
    assert len(outcome.failed) == 3 and set(outcome.failed) <= failing
    assert outcome.stopped_in == "rest"
    assert set(outcome.not_started) == set(MEMBERS) - set(deploy.calls)
    assert len(deploy.calls) == 3  # the first three all failed: nothing more started


def test_failures_within_the_tolerance_do_not_stop_the_next_wave() -> None:
    plans = [
        WavePlan("first", tuple(MEMBERS[:10]), max_concurrent=3, failure_tolerance=1),
        WavePlan("second", tuple(MEMBERS[10:]), max_concurrent=3, failure_tolerance=0),
    ]
    deploy = FakeDeploy(failing={MEMBERS[4]})
    outcome = roll_out(plans, deploy=deploy, deployed=lambda s: False, say=lambda line: None)
    assert outcome.stopped_in is None and outcome.failed == [MEMBERS[4]]
    assert sorted(deploy.calls) == sorted(MEMBERS)


def test_a_re_run_continues_where_the_last_one_stopped() -> None:
    """The first run stops in ten-percent; the stacks it deployed are recorded at their planned hash, so the re-run
    deploys only the rest of that wave, then the later waves."""
    plans = assign(_default_waves(), ["central-backup", *MEMBERS], {}, default_concurrency=4)
    first = FakeDeploy(failing={MEMBERS[2]})
    stopped = roll_out(plans, deploy=first, deployed=lambda s: False, say=lambda line: None)
    assert stopped.stopped_in == "ten-percent"
    recorded = set(stopped.deployed)
    assert {"central-backup", MEMBERS[0]} <= recorded

    again = FakeDeploy(failing=set())
    outcome = roll_out(plans, deploy=again, deployed=lambda s: s in recorded, say=lambda line: None)
    assert outcome.stopped_in is None and outcome.failed == []
    assert sorted(again.calls) == sorted(set(["central-backup", *MEMBERS]) - recorded)
    assert sorted(outcome.skipped) == sorted(recorded)


BASE: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("waves", "field", "message"),
    [
        (
            [{"name": "a", "count": 1, "percent": 10}, {"name": "rest"}],
            "pipeline.rollout.waves[0]",
            "selects by count and percent. Fix: one of accounts, ous, count or percent.",
        ),
        (
            [{"name": "a", "count": 1}],
            "pipeline.rollout.waves[0]",
            "is the last wave but selects by count: stacks it does not select would never deploy. Fix: add a last "
            "wave with only a name (and limits): the rest.",
        ),
        (
            [{"name": "rest"}, {"name": "b"}],
            "pipeline.rollout.waves[0]",
            "selects nothing, so it takes the rest, but it is not the last wave. Fix: move it last.",
        ),
        (
            [{"name": "a", "count": 1}, {"name": "a"}],
            "pipeline.rollout.waves[1].name",
            "'a' names two waves. Fix: give each its own name.",
        ),
        (
            [{"name": "a", "accounts": ["123456789012"]}, {"name": "rest"}],
            "pipeline.rollout.waves[0].accounts[0]",
            "'123456789012' is not a member account (target_ous[].accounts).",
        ),
    ],
    ids=["two-selectors", "last-selects", "rest-not-last", "duplicate-name", "not-a-member"],
)
def test_bad_waves_are_refused_naming_the_wave_and_the_fix(
    waves: list[dict[str, Any]], field: str, message: str
) -> None:
    data = copy.deepcopy(BASE)
    data["pipeline"]["rollout"] = {"waves": waves}
    with pytest.raises(InputError) as raised:
        config_from_dict(data, source="backup.yaml")
    assert [(p.field, p.message) for p in raised.value.problems] == [(field, message)]
