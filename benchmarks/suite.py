"""How long the test tiers take: `make test` and `make test-fast`, each run several times.

    .venv/bin/python benchmarks/suite.py [--runs 3] [--targets test test-fast] [--json build/suite-benchmark.json]

Per run: wall time; CPU seconds (user + sys) of the whole process tree, two ways: the rusage of every process
make waited for (exact, but blind to processes whose parent exits without waiting, like the node process of a
synth that ends with os._exit) and /proc sampled every 100 ms (sees every process, misses at most a sample's worth
of each); peak memory as the sum of the tree's proportional set sizes (PSS: shared pages, like the 675 MB provider
binary every provider process maps, are counted once); the number of provider processes started, seen by the same
sampling (/proc/<pid>/comm; a provider lives seconds, a sample is 100 ms apart: a wrapper binary is no longer
possible, since `terraform init -lockfile=readonly` refuses any provider whose checksum is not in the committed
lock file); and pytest's closing line. Needs a warm environment (`make install` done) and a provider mirror on the
machine. The machines are noisy: report the median and compare runs of one invocation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from org_backup.ops.terraform import find_provider_mirror  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SUMMARY = re.compile(r"^=+ (.*(passed|failed).*) in [0-9.]+s")


@dataclass
class Run:
    """One run of one target; ``commit``, ``machine`` and ``date`` key it among the results of other days and
    machines (benchmarks/results/, rendered in docs/benchmarks.md)."""

    target: str
    commit: str
    machine: str
    date: str
    wall_s: float
    cpu_s_rusage: float
    cpu_s_sampled: float
    peak_pss_mib: float
    provider_launches: int
    summary: str
    exit_code: int


PROVIDER_COMM = "terraform-provi"  # the kernel keeps 15 characters of terraform-provider-aws_v5.100.0_x5


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Follows every process below ``root`` (also after it is re-parented): CPU per pid, summed PSS."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.cpu: dict[int, float] = {}
        self.peak_pss_kib = 0
        self.providers: set[int] = set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree = _children()
            pids, todo = set(), [self.root]
            while todo:
                pid = todo.pop()
                pids.add(pid)
                todo.extend(tree.get(pid, []))
            pids |= set(self.cpu)  # orphans keep being followed
            for pid in pids:
                if pid not in self.cpu and _comm(pid).startswith(PROVIDER_COMM):
                    self.providers.add(pid)
                seconds = _cpu_seconds(pid)
                if seconds is not None:
                    self.cpu[pid] = max(self.cpu.get(pid, 0.0), seconds)
            self.peak_pss_kib = max(self.peak_pss_kib, sum(_pss_kib(pid) for pid in pids))
            self.done.wait(0.1)


def run_once(target: str) -> Run:
    started = time.monotonic()
    process = subprocess.Popen(["make", target], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = TreeSampler(process.pid)
    sampler.start()
    assert process.stdout is not None
    lines = []
    for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        lines.append(line)
        print(f"  | {line}", flush=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    summary = next((m.group(1) for line in reversed(lines) if (m := SUMMARY.match(line))), "no pytest summary")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return Run(
        target=target,
        commit=commit.strip(),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        date=datetime.datetime.now(datetime.UTC).date().isoformat(),
        wall_s=round(wall, 1),
        cpu_s_rusage=round(usage.ru_utime + usage.ru_stime, 1),
        cpu_s_sampled=round(sum(sampler.cpu.values()), 1),
        peak_pss_mib=round(sampler.peak_pss_kib / 1024),
        provider_launches=len(sampler.providers),
        summary=summary,
        exit_code=os.waitstatus_to_exitcode(status),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--targets", nargs="+", default=["test", "test-fast"])
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "suite-benchmark.json")
    args = parser.parse_args(argv)
    mirror = find_provider_mirror()
    if mirror is None:
        print(
            "No Terraform provider mirror found (TF_PROVIDER_MIRROR or on this machine): the suite cannot run offline."
        )
        return 2
    runs: list[Run] = []
    for index in range(args.runs):
        for target in args.targets:
            print(f"== make {target}, run {index + 1} of {args.runs}", flush=True)
            runs.append(run_once(target))
            print(f"== {asdict(runs[-1])}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    print(
        "\n| target | runs | wall s (median; min-max) | CPU s, sampled (median) | CPU s, rusage (median) "
        "| peak PSS MiB (max) | provider launches | pytest |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for target in args.targets:
        mine = [r for r in runs if r.target == target]
        walls = [r.wall_s for r in mine]
        print(
            f"| `make {target}` | {len(mine)} | {statistics.median(walls):.0f} ({min(walls):.0f}-{max(walls):.0f}) "
            f"| {statistics.median(r.cpu_s_sampled for r in mine):.0f} "
            f"| {statistics.median(r.cpu_s_rusage for r in mine):.0f} | {max(r.peak_pss_mib for r in mine):,.0f} "
            f"| {statistics.median(r.provider_launches for r in mine):.0f} | {mine[-1].summary} |"
        )
    return 1 if any(r.exit_code for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
