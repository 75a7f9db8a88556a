"""Fleet rollout benchmark (issue 31): a first deployment of simulated fleets through the real path, the model fitted
on the smaller fleets and checked against the largest, then projected to 1,000 and 5,000 accounts.

    .venv/bin/python benchmarks/fleet.py [--sizes 4 8 16] [--json benchmarks/results/fleet-<date>.json]

Each fleet is the rehearsal's (tests/rehearsal/harness.py): a test server that enforces IAM as AWS documents it,
an organization with SIZE member accounts in two target Regions, ``make bootstrap`` by the administrators, then as
the pipeline's builder roles: ``make plan`` (every stack new, so every one planned) and ``make deploy`` phase by
phase, phase 2 (central-backup and the member stacks) in the product's default waves. Measured per fleet: each
step's wall and CPU seconds (rusage of the processes make waited for) and, in phase 2, every API call the test
server authorized, by calling account (``ORG_BACKUP_TEST_CALL_LOG``, tests/rehearsal/moto_iam.py).

The model (docs/scale.md, "Scale"): Plan ~ A_p + B_p x stacks planned per build; Deploy phase 2 ~ A_d + B_d x
rounds, where a round is up to P stacks deployed at once and each wave needs ceil(its stacks / P) rounds. A and B
are fitted (least squares) on every fleet but the largest; the largest checks the prediction
(``model_error_percent``: plan + phase 2 predicted against measured). The projection for S accounts with N shards
per stage: Plan = A_p + B_p x ceil((S + 3) / N) + a merge build; Deploy = phase 1 + phase 2 of one shard's
ceil((S + 1) / N) stacks in the default waves + phase 3; plus CodeBuild's own fixed cost per build, which cannot be
measured here (an assumption, in the results).

Not a test: timings depend on the machine (record its CPU count and steal), and the per-stack cost here comes from a
2-core machine deploying 4 stacks at once; a CodeBuild BUILD_GENERAL1_MEDIUM build has 4 vCPUs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from org_backup.config.naming import CENTRAL_STACK, MEMBER_STACK_PREFIX  # noqa: E402
from org_backup.config.pipeline import Rollout  # noqa: E402
from org_backup.config.yaml_io import dump_yaml  # noqa: E402
from org_backup.ops.rollout import assign  # noqa: E402

REGIONS = 2  # the rehearsal's: two of the example's three Regions
# Stacks deployed at once (pipeline.deploy_parallelism, each wave's max_concurrent): one per core here, so that a
# round's time is one stack's; a CodeBuild BUILD_GENERAL1_MEDIUM build (4 vCPUs) is projected with the product's
# default of 4 at that same per-round time (an assumption, in the results).
PARALLELISM = os.cpu_count() or 1
CODEBUILD_PARALLELISM = 4
# The example's organization has two member accounts (one per target OU); the rest are added to the last OU.
BASE_MEMBERS = 2
# CodeBuild's own cost per build, not measurable here: provisioning, `make ci-tools`, `pipenv sync`, npm ci.
# An assumption, stated in the results.
CODEBUILD_BUILD_OVERHEAD_S = 180
# CodeBuild User Guide, "Quotas for AWS CodeBuild": concurrently running builds, "for some platforms and compute
# types, the default is 20" (a new account may start lower: between 1 and 5).
CODEBUILD_CONCURRENT_BUILDS = 20

# Published per-second request quotas for calls the deployment makes, by the account they count against.
# AWS KMS Developer Guide, "Request quotas" (per account and Region; the values of its last version in
# awsdocs/aws-kms-developer-guide, which AWS may have raised since).
KMS_QUOTAS = {
    "kms:CreateKey": 5, "kms:CreateAlias": 5, "kms:PutKeyPolicy": 5, "kms:EnableKeyRotation": 5,
    "kms:TagResource": 5, "kms:UntagResource": 5, "kms:ScheduleKeyDeletion": 5, "kms:UpdateAlias": 5,
    "kms:DescribeKey": 100, "kms:GetKeyPolicy": 30, "kms:GetKeyRotationStatus": 30, "kms:ListResourceTags": 100,
    "kms:ListAliases": 100, "kms:CreateGrant": 50,
}  # fmt: skip
# Amazon S3 User Guide, "Best practices design patterns: optimizing Amazon S3 performance": per partitioned prefix,
# 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests per second. Every stack's state is under one prefix.
S3_WRITE_QUOTA, S3_READ_QUOTA = 3500, 5500
# KMS "Request quotas", shared quota for cryptographic operations on symmetric keys: 5,500 per second in the
# Regions with the lowest; each read or write of an SSE-KMS object is one Decrypt or GenerateDataKey ("API requests
# made on your behalf").
KMS_CRYPTO_QUOTA = 5500


def _rusage_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _steal_percent(seconds: float = 1.0) -> float:
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(fields), fields[7] if len(fields) > 7 else 0

    total0, steal0 = sample()
    time.sleep(seconds)
    total1, steal1 = sample()
    return round(100 * (steal1 - steal0) / max(1, total1 - total0), 1)


def _rounds(stacks: list[str], parallelism: int = PARALLELISM) -> int:
    """Rounds of up to P stacks at once over the default waves (org_backup/ops/rollout.py assign)."""
    waves = assign(Rollout().waves, stacks, {}, parallelism)
    return sum(math.ceil(len(wave.stacks) / wave.max_concurrent) for wave in waves)


def _phase2_stacks(members: int) -> list[str]:
    return [CENTRAL_STACK, *(f"{MEMBER_STACK_PREFIX}{i:012d}" for i in range(members))]


def measure(size: int, workdir: Path) -> dict[str, Any]:
    """One fleet of ``size`` member accounts: bootstrap, plan, deploy by phase; times, CPU and phase 2's calls."""
    workdir = workdir.resolve()  # the steps run in the scratch repository
    calls = workdir / "calls.log"
    os.environ["ORG_BACKUP_TEST_CALL_LOG"] = str(calls)  # read by the test server when it starts
    from tests.rehearsal.harness import RehearsalJob

    class FleetJob(RehearsalJob):
        extra_members = tuple(f"7{i:011d}" for i in range(size - BASE_MEMBERS))

    job = FleetJob(workdir, sys.stderr.fileno())
    result = job.prepare()
    steps: dict[str, dict[str, float]] = {}

    def step(name: str, args: list[str], env: dict[str, str]) -> None:
        cpu = _rusage_children()
        done = job._make(result, name, args, env)
        steps[name] = {"wall_s": round(done.seconds, 1), "cpu_s": round(_rusage_children() - cpu, 1)}

    try:
        config = result.config
        config["pipeline"].pop("rollout", None)  # the product's default waves, not the rehearsal's single wave
        config["pipeline"]["deploy_parallelism"] = PARALLELISM
        (workdir / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        accounts, _profiles, base = job.enforce(result)
        step("bootstrap", ["bootstrap", "BOOTSTRAP_FLAGS=--auto-approve"], base)
        builders = job._builder_credentials(result.endpoint, accounts["home"])
        plan_env, deploy_env = {**base, **builders["plan"]}, {**base, **builders["deploy"]}
        step("discover", ["discover", "DISCOVER_FLAGS=--if-configured"], plan_env)
        step("plan", ["plan"], plan_env)
        planned = json.loads((result.repo / "build" / "plans" / "changed-stacks.json").read_text())
        deploy = ["deploy", "PLANNED=build/plans/changed-stacks.json"]
        step("deploy phase 1", [*deploy, "PHASE=1"], deploy_env)
        before = calls.stat().st_size if calls.exists() else 0
        step("deploy phase 2", [*deploy, "PHASE=2"], deploy_env)
        with calls.open(encoding="utf-8") as log:
            log.seek(before)
            phase2_calls = [line.split() for line in log if line.strip()]
        step("deploy phase 3", [*deploy, "PHASE=3"], deploy_env)
    finally:
        job.stop()
        os.environ.pop("ORG_BACKUP_TEST_CALL_LOG", None)
    members = [a for ou in config["target_ous"] for a in ou["accounts"]]
    assert len(members) == size, (len(members), size)
    return {
        "members": size,
        "stacks_planned": len(planned),
        "phase2_rounds": _rounds(_phase2_stacks(size)),
        "steps": steps,
        "calls": _calls_per_stack(phase2_calls, members, accounts["home"]),
    }


def _calls_per_stack(lines: list[list[str]], members: list[str], home: str) -> dict[str, dict[str, float]]:
    """Phase 2's calls: by each member account (its stack's deploy role) averaged over the members, per Region where
    the API is regional; by the home account (the builder: state, AssumeRole) per phase-2 stack."""
    member_set = set(members)
    per_member: Counter[str] = Counter()
    per_home: Counter[str] = Counter()
    for account, action, region, _role in lines:
        if account in member_set:
            per_member[action if action.startswith(("iam:", "sts:")) else f"{action}@{region}"] += 1
        elif account == home:
            per_home[action] += 1
    regional: Counter[str] = Counter()
    for key, count in per_member.items():
        action = key.split("@")[0]
        regional[action] = max(regional[action], count)  # the busiest Region's count
    stacks = len(members) + 1
    return {
        "member_account_per_stack_busiest_region": {a: round(c / len(members), 2) for a, c in sorted(regional.items())},
        "home_account_per_stack": {a: round(c / stacks, 2) for a, c in sorted(per_home.items())},
    }


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares y = a + b x."""
    n = len(points)
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return mean_y - b * mean_x, b


def project(model: dict[str, Any], accounts: int, shards: int, fixed: dict[str, float]) -> dict[str, float]:
    """Plan + deploy minutes for ``accounts`` member stacks, every one changed, with ``shards`` builds per stage."""
    (a_p, b_p), (a_d, b_d) = model["plan"], model["deploy_phase2"]
    plan = a_p + b_p * math.ceil((accounts + 3) / shards) + (fixed["merge_s"] if shards > 1 else 0)
    shard_stacks = _phase2_stacks(math.ceil(accounts / shards))
    phase2 = a_d + b_d * _rounds(shard_stacks, CODEBUILD_PARALLELISM)
    builds = 2 if shards > 1 else 1  # the plan batch and its merge; the deploy's three phases
    overhead = CODEBUILD_BUILD_OVERHEAD_S * (builds + 3)
    total = plan + fixed["phase1_s"] + phase2 + fixed["phase3_s"] + overhead
    return {
        "shards": shards,
        "plan_min": round(plan / 60, 1),
        "deploy_min": round((fixed["phase1_s"] + phase2 + fixed["phase3_s"]) / 60, 1),
        "codebuild_overhead_min": round(overhead / 60, 1),
        "total_min": round(total / 60, 1),
    }


def rate_check(calls: dict[str, dict[str, float]], b_deploy: float, shards: int) -> dict[str, Any]:
    """Average request rates at scale against the published quotas. A member account's calls count against that
    account (one stack at a time: a stack lasts about B_d); the builder's count against the home account, where
    shards x P stacks run at once."""
    rows = []
    for action, per_stack in calls["member_account_per_stack_busiest_region"].items():
        quota = KMS_QUOTAS.get(action)
        rows.append({"action": action, "account": "member", "per_second": round(per_stack / b_deploy, 3),
                     "quota_per_second": quota})  # fmt: skip
    home = calls["home_account_per_stack"]
    in_flight = shards * CODEBUILD_PARALLELISM
    reads = sum(c for a, c in home.items() if a in ("s3:GetObject", "s3:ListBucket"))
    writes = sum(c for a, c in home.items() if a in ("s3:PutObject", "s3:DeleteObject"))
    for action, per_stack in home.items():
        rows.append({"action": action, "account": "home", "per_second": round(in_flight * per_stack / b_deploy, 3),
                     "quota_per_second": None})  # fmt: skip
    rows += [
        {"action": "s3 writes (state prefix)", "account": "home",
         "per_second": round(in_flight * writes / b_deploy, 3), "quota_per_second": S3_WRITE_QUOTA},
        {"action": "s3 reads (state prefix)", "account": "home",
         "per_second": round(in_flight * reads / b_deploy, 3), "quota_per_second": S3_READ_QUOTA},
        {"action": "kms crypto for SSE-KMS state", "account": "home",
         "per_second": round(in_flight * (reads + writes) / b_deploy, 3), "quota_per_second": KMS_CRYPTO_QUOTA},
    ]  # fmt: skip
    checked = [r for r in rows if r["quota_per_second"]]
    worst = max((r["per_second"] / r["quota_per_second"] for r in checked), default=0.0)
    return {
        "shards": shards,
        "in_flight_stacks": in_flight,
        "max_utilization": round(worst, 4),
        "passed": worst < 1.0,
        "not_checked": "IAM and STS publish no per-second request quota (IAM User Guide, 'IAM and AWS STS quotas'): "
        "their rates are listed, not checked",
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16], help="member accounts per fleet")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 5, 10, 15, 20], help="N to project with")
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes)
    if len(sizes) < 3 or sizes[0] < BASE_MEMBERS:
        parser.error(f"give at least three sizes of {BASE_MEMBERS} or more: two to fit, the largest to check")
    started = time.monotonic()
    steal_before = _steal_percent()
    fleets = []
    (ROOT / "build").mkdir(exist_ok=True)  # absent on a fresh clone
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"fleet-{size}-", dir=ROOT / "build") as tmp:
            fleets.append(measure(size, Path(tmp)))
        print(json.dumps(fleets[-1]["steps"]), file=sys.stderr)
    fit_on, check = fleets[:-1], fleets[-1]
    model = {
        "plan": _fit([(f["stacks_planned"], f["steps"]["plan"]["wall_s"]) for f in fit_on]),
        "deploy_phase2": _fit([(f["phase2_rounds"], f["steps"]["deploy phase 2"]["wall_s"]) for f in fit_on]),
    }
    (a_p, b_p), (a_d, b_d) = model["plan"], model["deploy_phase2"]
    predicted = a_p + b_p * check["stacks_planned"] + a_d + b_d * check["phase2_rounds"]
    measured = check["steps"]["plan"]["wall_s"] + check["steps"]["deploy phase 2"]["wall_s"]
    fixed = {
        "phase1_s": max(f["steps"]["deploy phase 1"]["wall_s"] for f in fleets),
        "phase3_s": max(f["steps"]["deploy phase 3"]["wall_s"] for f in fleets),
        "merge_s": 30.0,  # make plan-merge: file copies and a summary (tests/test_plan_shards.py: about a second)
    }
    projections = {
        str(accounts): [project(model, accounts, n, fixed) for n in args.shards] for accounts in (1000, 5000)
    }
    allowed = [p for p in projections["1000"] if p["shards"] <= CODEBUILD_CONCURRENT_BUILDS and p["total_min"] <= 60]
    chosen = min(allowed, key=lambda p: p["shards"]) if allowed else projections["1000"][-1]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    results = {
        "date": datetime.date.today().isoformat(),
        "commit": commit.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "cpu_steal_percent_at_start": steal_before,
        "regions": REGIONS,
        "parallelism_p_measured": PARALLELISM,
        "parallelism_p_projected": CODEBUILD_PARALLELISM,
        "fleets": fleets,
        "model": {
            "plan_a_s": round(a_p, 1),
            "plan_b_s_per_stack": round(b_p, 2),
            "deploy_a_s": round(a_d, 1),
            "deploy_b_s_per_round": round(b_d, 2),
            "fitted_on_members": [f["members"] for f in fit_on],
            "checked_on_members": check["members"],
        },
        "predicted_largest_s": round(predicted, 1),
        "measured_largest_s": round(measured, 1),
        "model_error_percent": round(100 * abs(predicted - measured) / measured, 1),
        "projections": projections,
        "chosen_shards": chosen["shards"],
        "projected_1000_accounts_minutes": chosen["total_min"],
        "projected_5000_accounts_minutes": next(
            p["total_min"] for p in projections["5000"] if p["shards"] == chosen["shards"]
        ),
        "api_rate_check": rate_check(check["calls"], b_d, chosen["shards"]),
        "assumptions": {
            "codebuild_build_overhead_s": CODEBUILD_BUILD_OVERHEAD_S,
            "codebuild_concurrent_builds_quota": CODEBUILD_CONCURRENT_BUILDS,
            "per_stack_cost": "measured here (2 Regions, one stack per core at once), not on CodeBuild; projected "
            "with P = 4 stacks at once on a 4-vCPU build at the round time measured here",
            "plan_per_stack": "a build plans 2 stacks at once per 2 cores (org_backup/ops/terraform.py workers); "
            "projected at the per-stack time measured here",
            "validate_stage": "not included (one build, independent of the fleet size)",
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    text = json.dumps(results, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
