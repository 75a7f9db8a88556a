"""Waves (``pipeline.rollout``): the Deploy stage's phase 2 (central-backup and the member stacks) in ordered waves
that stop on the first failures, as AWS CloudFormation StackSets do for a stack set operation.

The rules are StackSets' (AWS CloudFormation API Reference, ``StackSetOperationPreferences``): a wave deploys at
most ``max_concurrent`` stacks at once ("MaxConcurrentCount"), and with ``failure_tolerance`` K it stops once more
than K have failed ("FailureToleranceCount: the number of accounts ... for which this operation can fail before AWS
CloudFormation stops the operation"). ``concurrency_mode`` is StackSets' ``ConcurrencyMode``: ``soft``
(SOFT_FAILURE_TOLERANCE, org-backup's default) keeps ``max_concurrent`` in flight whatever fails, so up to K +
``max_concurrent`` may fail; ``strict`` (STRICT_FAILURE_TOLERANCE, StackSets' default) keeps at most
min(max_concurrent, K + 1 - failures so far) in flight, so at most K + 1 fail, and K = 0 deploys one at a time. A
stopped wave finishes what it started, starts nothing more, and no later wave begins; the stacks not reached keep
their last deployed state and stay unrecorded, so the next plan lists them again.

A re-run of the same plan continues where the last one stopped: a stack whose recorded hash is already its planned
one (deployed by the earlier run) is not deployed again. Each stack is deployed by ``make deploy-stacks`` on its own
(its roles waited for, stale locks cleared, unrecorded resources adopted, ``cdktf deploy``, recorded on success);
the providers every stack pins are installed once before the first wave, so parallel deploys never install them
at the same moment.

With ``pipeline.deploy_shards`` N > 1, each shard runs the waves over its own 1/N of the stacks: waves, concurrency
and tolerance hold per shard, not across shards (nothing coordinates the shards' builds).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from org_backup.config.errors import InputError, UsageError
from org_backup.config.loader import load_config
from org_backup.config.model import DEFAULT_CONFIG, BackupConfig
from org_backup.config.naming import CENTRAL_STACK, MEMBER_STACK_PREFIX
from org_backup.config.pipeline import Wave
from org_backup.ops.records import deploy_records
from org_backup.ops.terraform import TerraformEnv, TerraformError, select
from org_backup.synth.incremental import read_stack_list, stack_hashes

ROLLOUT_DIR = Path("build/rollout")  # one stack list per stack deployed (make deploy-stacks reads it)


@dataclass(frozen=True)
class WavePlan:
    """One wave of this run: its stacks in deploy order."""

    name: str
    stacks: tuple[str, ...]
    max_concurrent: int
    failure_tolerance: int
    strict: bool = False  # concurrency_mode: strict

    def in_flight(self, failures: int) -> int:
        """How many stacks may be deploying at once after ``failures`` failures."""
        if self.strict:
            return max(0, min(self.max_concurrent, self.failure_tolerance + 1 - failures))
        return self.max_concurrent if failures <= self.failure_tolerance else 0


@dataclass
class Outcome:
    deployed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # recorded at their planned hash by an earlier run
    failed: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # left as they were: the rollout stopped before them
    stopped_in: str | None = None  # the wave whose failures went over its tolerance


def assign(
    waves: Sequence[Wave], stacks: Sequence[str], ou_of: Mapping[str, str], default_concurrency: int
) -> list[WavePlan]:
    """Phase 2's stacks by wave. central-backup goes first, with the first wave: the member stacks copy into its
    vaults. Each member stack goes to the first wave that selects its account (by id, by OU, or by position among
    the member stacks still unassigned, sorted: ``count`` of them, or ``percent`` of all of this run's, rounded up);
    the last wave selects the rest. Waves left empty by this run are dropped."""
    members = sorted(s for s in stacks if s.startswith(MEMBER_STACK_PREFIX))
    others = [s for s in stacks if not s.startswith(MEMBER_STACK_PREFIX)]
    unknown = [s for s in others if s != CENTRAL_STACK]
    if unknown:
        raise UsageError(f"the rollout deploys phase 2 only (central-backup, member-*), not {', '.join(unknown)}")
    left = list(members)
    plans = []
    for index, wave in enumerate(waves):
        if wave.accounts:
            chosen = [s for s in left if s.removeprefix(MEMBER_STACK_PREFIX) in wave.accounts]
        elif wave.ous:
            chosen = [s for s in left if ou_of.get(s.removeprefix(MEMBER_STACK_PREFIX)) in wave.ous]
        elif wave.count is not None:
            chosen = left[: wave.count]
        elif wave.percent is not None:
            chosen = left[: math.ceil(len(members) * wave.percent / 100)]
        else:
            chosen = list(left)
        taken = set(chosen)
        left = [s for s in left if s not in taken]
        if index == 0 and others:
            chosen = [*others, *chosen]
        if chosen:
            concurrency = wave.max_concurrent or default_concurrency
            strict = wave.concurrency_mode == "strict"
            plans.append(WavePlan(wave.name, tuple(chosen), concurrency, wave.failure_tolerance, strict))
    return plans


def roll_out(
    plans: Sequence[WavePlan],
    *,
    deploy: Callable[[str], bool],
    deployed: Callable[[str], bool],
    say: Callable[[str], None] = print,
    outcome: Outcome | None = None,
) -> Outcome:
    """Deploy wave by wave; ``deploy(stack)`` returns whether it succeeded (and was recorded); an exception it raises
    counts as a failure. ``deployed(stack)``: whether its record already holds its planned hash. ``outcome`` is
    filled as the rollout goes (a caller may report it when interrupted)."""
    outcome = outcome if outcome is not None else Outcome()
    for position, plan in enumerate(plans):
        todo = [s for s in plan.stacks if not deployed(s)]
        outcome.skipped += [s for s in plan.stacks if s not in todo]
        done_before = len(plan.stacks) - len(todo)
        mode = "strict" if plan.strict else "soft"
        say(
            f"Wave {plan.name} ({position + 1}/{len(plans)}): {len(todo)} of {len(plan.stacks)} stacks to deploy"
            + (f" ({done_before} deployed by an earlier run)" if done_before else "")
            + f", at most {plan.in_flight(0)} at once ({mode}), stopping after {plan.failure_tolerance + 1} failures."
        )
        failed = _run_wave(todo, plan, deploy, outcome, say)
        if len(failed) > plan.failure_tolerance:
            outcome.stopped_in = plan.name
            finished = {*outcome.deployed, *failed}
            outcome.not_started += [s for s in todo if s not in finished]
            outcome.not_started += [s for later in plans[position + 1 :] for s in later.stacks if not deployed(s)]
            break
    return outcome


def _run_wave(
    todo: list[str], plan: WavePlan, deploy: Callable[[str], bool], outcome: Outcome, say: Callable[[str], None]
) -> list[str]:
    failed: list[str] = []
    queue = list(todo)

    def attempt(stack: str) -> bool:
        try:
            return deploy(stack)
        except Exception as error:  # a deploy that could not even run is a failed deploy, not the end of the report
            say(f"--- {stack}: FAILED before it finished: {type(error).__name__}: {error}")
            return False

    with ThreadPoolExecutor(max_workers=plan.max_concurrent) as pool:
        running: dict[Future[bool], str] = {}
        while queue or running:
            while queue and len(running) < plan.in_flight(len(failed)):
                stack = queue.pop(0)
                say(f"--- {stack}: deploying (wave {plan.name})")
                running[pool.submit(attempt, stack)] = stack
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                stack = running.pop(future)
                (outcome.deployed if future.result() else failed).append(stack)
    outcome.failed += failed
    return failed


def report(outcome: Outcome) -> str:
    lines = [f"Deployed {len(outcome.deployed)} stacks; {len(outcome.skipped)} were already deployed at this plan."]
    if outcome.failed:
        lines.append(f"Failed: {', '.join(outcome.failed)}.")
        if not outcome.stopped_in:
            lines.append(
                "Within the waves' failure tolerance, so the rollout went on; the Deploy stage still fails, and phase "
                "3 (backup policies) waits for a run in which every stack deployed."
            )
    if outcome.stopped_in:
        lines.append(
            f"Stopped in wave {outcome.stopped_in}: more failures than its failure_tolerance. Not started, left as "
            f"last deployed and planned again next run: {', '.join(outcome.not_started) or 'none'}. Fix the failure "
            "(the build log names it), then re-run the Deploy stage: it continues where it stopped."
        )
    return "\n".join(lines)


def make_deployer(outdir: Path, phase: int) -> Callable[[str], bool]:
    """Each stack through ``make deploy-stacks`` with a stack list of its own (the same steps ``make deploy`` runs
    for phases 1 and 3). Its output goes to ``build/rollout/<stack>.log`` as it runs and is printed whole when it
    ends, so parallel deploys do not interleave lines."""

    def deploy(stack: str) -> bool:
        ROLLOUT_DIR.mkdir(parents=True, exist_ok=True)
        stacks_file = ROLLOUT_DIR / f"{stack}.txt"
        stacks_file.write_text(stack + "\n", encoding="utf-8")
        log = ROLLOUT_DIR / f"{stack}.log"
        with log.open("wb") as out:
            run = subprocess.run(
                ["make", "--no-print-directory", "deploy-stacks", f"STACKS_FILE={stacks_file}", f"OUTDIR={outdir}",
                 f"OUTPUTS={ROLLOUT_DIR}/outputs-{stack}.json"],
                stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        with _PRINT:
            print(f"--- {stack} (phase {phase}): {'deployed' if run.returncode == 0 else 'FAILED'} ({log})")
            sys.stdout.write(log.read_text(encoding="utf-8", errors="replace"))
            sys.stdout.flush()
        return run.returncode == 0

    return deploy


_PRINT = threading.Lock()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup.ops.rollout", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.environ.get("BACKUP_CONFIG", DEFAULT_CONFIG))
    parser.add_argument("--outdir", type=Path, default=Path("cdktf.out"))
    parser.add_argument("--stacks-file", type=Path, required=True, help="this shard's phase-2 stacks (make deploy)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        stacks = read_stack_list(args.stacks_file)
        plans = assign(config.pipeline.rollout.waves, stacks, _ous(config), config.pipeline.deploy_parallelism)
        hashes = stack_hashes(args.outdir)
    except (InputError, UsageError) as error:
        print(error, file=sys.stderr)
        return 2
    missing = [s for s in stacks if s not in hashes]
    if missing:
        print(f"rollout: {', '.join(missing)} not synthesized in {args.outdir}. Fix: run make deploy.", file=sys.stderr)
        return 2
    try:
        terraform = TerraformEnv.prepare()
        for stack_dir in select(args.outdir, stacks):  # providers installed once, before any deploy runs in parallel
            terraform.shared_providers(stack_dir)
    except TerraformError as error:
        print(f"rollout: installing the providers failed, nothing deployed: {error}", file=sys.stderr)
        return 1
    recorded = deploy_records(config.state_backend).read()
    outcome = Outcome()
    try:
        roll_out(
            plans,
            deploy=make_deployer(args.outdir, phase=2),
            deployed=lambda stack: recorded.get(stack) == hashes[stack],
            outcome=outcome,
        )
    finally:
        print(report(outcome))
    return 1 if outcome.failed else 0


def _ous(config: BackupConfig) -> dict[str, str]:
    return {account: ou.id for ou in config.target_ous for account in ou.accounts}


if __name__ == "__main__":
    sys.exit(main())
