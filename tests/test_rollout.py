"""Waves (org_backup/ops/rollout.py): which stacks each wave takes, and how a wave stops, with a deploy function that
fails where a test says. The expected stacks are computed by hand from the wave definitions; the stop rule is
StackSets' (AWS CloudFormation API Reference, StackSetOperationPreferences: FailureToleranceCount, and the default
STRICT_FAILURE_TOLERANCE: in-flight operations are lowered so that failures never exceed FailureToleranceCount + 1)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from org_backup.config.pipeline import Rollout, Wave
from org_backup.ops.rollout import WavePlan, assign, report, roll_out
from tests.conftest import EXAMPLE_CONFIG, ROOT

MEMBERS = [f"member-{100000000000 + n}" for n in range(30)]
DEFAULT_WAVES = Rollout().waves  # what a config without pipeline.rollout gets


def test_the_default_waves_are_one_canary_then_ten_percent_then_the_rest() -> None:
    """30 member stacks: canary 1 (the lowest account id, with central-backup), ten-percent ceil(30 x 10 %) = 3, the
    rest 26; tolerances 0, 0, 2; each at deploy_parallelism (4)."""
    plans = assign(DEFAULT_WAVES, ["central-backup", *reversed(MEMBERS)], {}, default_concurrency=4)
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
    """Records each call and the most stacks in flight at once; fails the stacks it is told to. With ``together``
    n, the first n calls wait for each other (a barrier): if fewer than n are ever in flight at once, they fail
    with BrokenBarrierError, which the rollout counts as failures, and the test's counts show it."""

    def __init__(self, failing: set[str], together: int = 1, seconds: float = 0.01) -> None:
        self.failing = failing
        self.seconds = seconds  # how long a successful deploy takes; a failing one returns at once
        self.calls: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(together, timeout=5)

    def __call__(self, stack: str) -> bool:
        with self._lock:
            self.calls.append(stack)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            first = len(self.calls) <= self._barrier.parties
        try:
            if first:
                self._barrier.wait()
            if stack not in self.failing:
                time.sleep(self.seconds)
        finally:
            with self._lock:
                self.in_flight -= 1
        return stack not in self.failing


def quiet(line: str) -> None:
    pass


def test_a_failed_canary_stops_the_rollout_and_touches_nothing_else() -> None:
    plans = assign(DEFAULT_WAVES, ["central-backup", *MEMBERS], {}, default_concurrency=4)
    deploy = FakeDeploy(failing={MEMBERS[0]})
    outcome = roll_out(plans, deploy=deploy, deployed=lambda s: False, say=quiet)
    assert sorted(deploy.calls) == sorted(["central-backup", MEMBERS[0]])
    assert (outcome.stopped_in, outcome.failed, outcome.deployed) == ("canary", [MEMBERS[0]], ["central-backup"])
    assert outcome.not_started == MEMBERS[1:]
    assert "Stopped in wave canary" in report(outcome)


def test_strict_keeps_tolerance_plus_one_in_flight_and_stops_after_as_many_failures() -> None:
    """strict, tolerance 2, max_concurrent 5: min(5, 2 + 1 - 0) = 3 start together; all three fail, so nothing more
    starts (min(5, 3 - 3) = 0) and exactly 3 failed."""
    plan = WavePlan("rest", tuple(MEMBERS), max_concurrent=5, failure_tolerance=2, strict=True)
    deploy = FakeDeploy(failing=set(MEMBERS), together=3)
    outcome = roll_out([plan], deploy=deploy, deployed=lambda s: False, say=quiet)
    assert deploy.most_in_flight == 3
    assert sorted(outcome.failed) == MEMBERS[:3]
    assert (outcome.stopped_in, outcome.deployed, outcome.not_started) == ("rest", [], MEMBERS[3:])


def test_strict_lowers_its_concurrency_with_each_failure() -> None:
    """strict, tolerance 1, max 5: 2 in flight; after the first failure min(5, 1 + 1 - 1) = 1, so one at a time."""
    plan = WavePlan("rest", tuple(MEMBERS[:6]), max_concurrent=5, failure_tolerance=1, strict=True)
    deploy = FakeDeploy(failing={MEMBERS[0]}, together=2)
    outcome = roll_out([plan], deploy=deploy, deployed=lambda s: False, say=quiet)
    assert deploy.most_in_flight == 2
    assert outcome.failed == [MEMBERS[0]] and outcome.stopped_in is None
    assert sorted(outcome.deployed) == MEMBERS[1:6]


def test_soft_keeps_max_concurrent_in_flight_and_stops_starting_after_the_tolerance() -> None:
    """soft, tolerance 0, max 4: four start together; one fails (at once, while the others still deploy), so nothing
    more starts, and the three others finish."""
    plan = WavePlan("ten-percent", tuple(MEMBERS), max_concurrent=4, failure_tolerance=0)
    deploy = FakeDeploy(failing={MEMBERS[1]}, together=4, seconds=0.5)
    outcome = roll_out([plan], deploy=deploy, deployed=lambda s: False, say=quiet)
    assert deploy.most_in_flight == 4
    assert outcome.failed == [MEMBERS[1]]
    assert sorted(outcome.deployed) == [MEMBERS[0], *MEMBERS[2:4]]
    assert (outcome.stopped_in, outcome.not_started) == ("ten-percent", MEMBERS[4:])


def test_a_deploy_that_raises_is_a_failure_and_the_report_still_comes() -> None:
    def broken(stack: str) -> bool:
        raise OSError(f"cannot start make for {stack}")

    lines: list[str] = []
    plan = WavePlan("canary", (MEMBERS[0], MEMBERS[1]), max_concurrent=1, failure_tolerance=0)
    outcome = roll_out([plan], deploy=broken, deployed=lambda s: False, say=lines.append)
    assert (outcome.failed, outcome.not_started) == ([MEMBERS[0]], [MEMBERS[1]])
    assert f"--- {MEMBERS[0]}: FAILED before it finished: OSError: cannot start make for {MEMBERS[0]}" in lines


def test_failures_within_the_tolerance_do_not_stop_the_next_wave() -> None:
    plans = [
        WavePlan("first", tuple(MEMBERS[:10]), max_concurrent=3, failure_tolerance=1),
        WavePlan("second", tuple(MEMBERS[10:]), max_concurrent=3, failure_tolerance=0),
    ]
    deploy = FakeDeploy(failing={MEMBERS[4]})
    outcome = roll_out(plans, deploy=deploy, deployed=lambda s: False, say=quiet)
    assert outcome.stopped_in is None and outcome.failed == [MEMBERS[4]]
    assert sorted(deploy.calls) == sorted(MEMBERS)
    assert "the Deploy stage still fails" in report(outcome)


def test_a_re_run_continues_where_the_last_one_stopped() -> None:
    """The first run stops in ten-percent (MEMBERS[1..3], soft, 4 at once: MEMBERS[2] fails, the other two
    deploy); what it deployed is recorded at its planned hash, so the re-run deploys only MEMBERS[2] and the rest."""
    plans = assign(DEFAULT_WAVES, ["central-backup", *MEMBERS], {}, default_concurrency=4)
    first = FakeDeploy(failing={MEMBERS[2]})
    stopped = roll_out(plans, deploy=first, deployed=lambda s: False, say=quiet)
    assert stopped.stopped_in == "ten-percent"
    recorded = set(stopped.deployed)
    assert recorded == {"central-backup", MEMBERS[0], MEMBERS[1], MEMBERS[3]}

    again = FakeDeploy(failing=set())
    outcome = roll_out(plans, deploy=again, deployed=lambda s: s in recorded, say=quiet)
    assert outcome.stopped_in is None and outcome.failed == []
    assert sorted(again.calls) == sorted({"central-backup", *MEMBERS} - recorded)
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
            "'123456789012' is not a member account (target_ous[].accounts). Fix: remove it, or add it to its OU.",
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


def _rollout(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m org_backup.ops.rollout`` as ``make deploy`` runs it, from a scratch folder (its build/ stays there)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "org_backup.ops.rollout", *args],
        cwd=cwd, env=environ, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("listed", "outdir", "said"),
    [
        ("management", None, "the rollout deploys phase 2 only (central-backup, member-*), not management"),
        ("pipeline", None, "lists stacks the pipeline does not deploy: pipeline"),
        ("central-backup", "empty", "stacks does not exist. Fix: run `make synth` first."),
    ],
    ids=["phase-1-stack", "not-deployable", "nothing-synthesized"],
)
def test_the_rollout_command_refuses_what_it_cannot_deploy_before_deploying_anything(
    listed: str, outdir: str | None, said: str, tmp_path: Path
) -> None:
    """Exit 2 with the reason, and no stack started (no per-stack list in build/rollout/). The config comes from
    BACKUP_CONFIG, as make deploy passes it."""
    (tmp_path / "stacks.txt").write_text(listed + "\n")
    (tmp_path / "empty").mkdir()
    args = ["--stacks-file", "stacks.txt", "--outdir", outdir or str(ROOT / "cdktf.out")]
    run = _rollout(args, tmp_path, BACKUP_CONFIG=str(EXAMPLE_CONFIG))
    assert (run.returncode, run.stdout) == (2, ""), run.stderr
    assert said in run.stderr
    assert not (tmp_path / "build" / "rollout").exists()


def test_the_rollout_command_reports_a_bad_config_by_its_file(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["pipeline"]["rollout"] = {"waves": [{"name": "only", "count": 1}]}
    config = tmp_path / "backup.yaml"
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "stacks.txt").write_text("central-backup\n")
    run = _rollout(["--config", str(config), "--stacks-file", "stacks.txt"], tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith(f"{config} has 1 problem:")
    assert "  - pipeline.rollout.waves[0]" in run.stderr
    assert "is the last wave but selects by count" in run.stderr
