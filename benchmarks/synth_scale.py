"""Synth at scale: the example organization and generated ones of 10, 100, 1,000 and 5,000 member accounts x 4
Regions (plus the management, central, pipeline and bootstrap stacks), each synthesized in a fresh process.

Three ways per size, in the same invocation:
- stamped: what `make synth` runs: ``python -O main.py`` (import bypass, no jsii type checks, two member stacks per
  shape built by CDKTF and the others written from them, org_backup/synth/member_stamp.py);
- plain: the same with ``ORG_BACKUP_MEMBER_STAMPING=off``: every stack through CDKTF;
- naive: ``python main.py`` after ``import cdktf_cdktf_provider_aws`` (the package ``__init__`` imports all
  2,214 submodules) with stamping off, i.e. what a plain CDKTF project does.
plain and naive run up to ``--plain-max`` accounts (default 1,000: at 5,000 they take most of an hour); their
outputs are compared with stamped's, file by file, for every size both ran.
Measured: wall time, CPU seconds (user + system of the process tree), peak RSS of the process tree (Python + node,
sampled every 20 ms from /proc), resources, output size. Then checkov over the largest stamped output: as
`make scan` runs it (one member stack per shape, org_backup/ops/scan_set.py) and, up to --plain-max accounts, over
every stack, for comparison.

    .venv/bin/python benchmarks/synth_scale.py [--sizes 10,100,1000,5000] [--plain-max 1000] [--no-naive]
                                               [--no-checkov]

Results go to stdout as a Markdown table (pasted into README "Scale") and to build/benchmarks/synth_scale.json.
Linux only (/proc). Nothing here is a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's own modules come from its checkout
from org_backup.config.yaml_io import dump_yaml  # noqa: E402

PYTHON = sys.executable
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"]
NAIVE = "import cdktf_cdktf_provider_aws, runpy; runpy.run_path('main.py', run_name='__main__')"
TARGETS = {
    "example_s": 3.0,
    "t1000_s": 60.0,
    "rss1000_gib": 1.5,
    "t5000_s": 240.0,
    "rss5000_gib": 2.0,
    "ratio": 11.0,
    "speedup1000": 10.0,
    "checkov_s": 60.0,
}


@dataclass
class Run:
    label: str
    mode: str
    accounts: int
    stacks: int
    resources: int
    output_mib: float
    wall_s: float
    cpu_s: float
    peak_rss_mib: float


def config_for(accounts: int, directory: Path) -> Path:
    """The example organization with ``accounts`` member accounts in its two OUs, in four Regions."""
    raw = yaml.safe_load((ROOT / "backup.yaml").read_text())
    raw["target_regions"] = REGIONS
    raw["backup_plans_file"] = str(ROOT / raw["backup_plans_file"])
    ids = [f"{700000000000 + i:012d}" for i in range(accounts)]
    half = (accounts + 1) // 2
    raw["target_ous"][0]["accounts"] = ids[:half]
    raw["target_ous"][1]["accounts"] = ids[half:]
    path = directory / f"backup-{accounts}.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    return path


TICKS = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    pids, tree = [root], []
    while pids:
        pid = pids.pop()
        tree.append(pid)
        pids.extend(children.get(pid, []))
    return tree


def _sample(pids: list[int], cpu_ticks: dict[int, int]) -> int:
    """RSS of ``pids`` in KiB; records each one's CPU ticks so far (user + system) in ``cpu_ticks``."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            cpu_ticks[pid] = max(cpu_ticks.get(pid, 0), int(fields[11]) + int(fields[12]))
            with open(f"/proc/{pid}/status", encoding="utf-8") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``command``; return (wall seconds, CPU seconds of its process tree, peak process-tree RSS in MiB).
    CPU is sampled from /proc like RSS (every process seen, its last reading): main.py exits without waiting for
    node, so the kernel's accounting of reaped children would leave node out. Fails loudly on a non-zero exit."""
    peak = 0
    cpu_ticks: dict[int, int] = {}
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read() if process.stderr else b""))
    reader.start()
    while process.poll() is None:
        peak = max(peak, _sample(_tree(process.pid), cpu_ticks))
        time.sleep(0.02)
    wall = time.monotonic() - started
    reader.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{b''.join(stderr).decode()[-3000:]}")
    return wall, sum(cpu_ticks.values()) / TICKS, peak / 1024


def synth(label: str, config: Path, accounts: int, mode: str, outdir: Path) -> Run:
    env = dict(os.environ, BACKUP_CONFIG=str(config), CDKTF_OUTDIR=str(outdir))
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env.pop("ORG_BACKUP_LOCAL_API", None)
    env["ORG_BACKUP_SYNTH_CACHE"] = "off"  # measure synths, not copies of one
    if mode != "stamped":
        env["ORG_BACKUP_MEMBER_STAMPING"] = "off"
    command = [PYTHON, "-c", NAIVE] if mode == "naive" else [PYTHON, "-O", "main.py"]
    wall, cpu, peak = measure(command, env)
    stacks = sorted((outdir / "stacks").iterdir())
    resources = 0
    for stack in stacks:
        document = json.loads((stack / "cdk.tf.json").read_text())
        resources += sum(len(of_type) for of_type in document.get("resource", {}).values())
    size = sum(p.stat().st_size for p in (outdir / "stacks").rglob("*") if p.is_file())
    size_mib = round(size / 2**20, 1)
    return Run(label, mode, accounts, len(stacks), resources, size_mib, round(wall, 1), round(cpu, 1), round(peak))


def same_output(first: Path, second: Path) -> bool:
    """Every file of both outputs, compared byte for byte."""
    files = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    if files != sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file()):
        return False
    _, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    return not mismatch and not errors


def checkov_seconds(directory: Path, *, scan_set: bool) -> tuple[float, int]:
    """checkov with the `make scan` settings over ``directory`` (its stacks/, or the scan set built from it)."""
    started = time.monotonic()
    if scan_set:
        target = directory.parent / "scan"
        subprocess.run(
            [PYTHON, "-m", "org_backup.ops.scan_set", str(directory), str(target)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    else:
        target = directory / "stacks"
    command = [str(Path(PYTHON).parent / "checkov"), "-d", str(target), "--config-file", str(ROOT / ".checkov.yaml")]
    command += ["--framework", "terraform_json", "--skip-download", "-o", "json"]
    result = subprocess.run(command, cwd=target, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"checkov failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = sum(r["summary"]["failed"] for r in reports)
    return round(seconds, 1), failed


def table(runs: list[Run]) -> str:
    lines = [
        "| org | accounts x Regions | stacks | resources | output | stamped: wall / CPU / peak RSS "
        "| plain CDKTF: wall / CPU / peak RSS | naive: wall / CPU / peak RSS | plain / stamped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cells(run: Run | None) -> str:
        return f"{run.wall_s} s / {run.cpu_s} s / {run.peak_rss_mib:,.0f} MiB" if run else "-"

    for label in dict.fromkeys(r.label for r in runs):
        by_mode = {r.mode: r for r in runs if r.label == label}
        stamped, plain = by_mode["stamped"], by_mode.get("plain")
        regions = 3 if label == "example" else len(REGIONS)
        speedup = f"{plain.wall_s / stamped.wall_s:.1f}x" if plain else "-"
        lines.append(
            f"| {label} | {stamped.accounts} x {regions} | {stamped.stacks} | {stamped.resources:,} "
            f"| {stamped.output_mib} MiB | {cells(stamped)} | {cells(plain)} | {cells(by_mode.get('naive'))} "
            f"| {speedup} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000,5000", help="member-account counts (comma-separated)")
    parser.add_argument("--plain-max", type=int, default=1000, help="largest size plain and naive run for")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive-import comparison")
    parser.add_argument("--no-checkov", action="store_true", help="skip checkov over the largest output")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="synth-scale-"))
    runs: list[Run] = []
    identical: dict[str, bool] = {}
    try:
        cases = [("example", ROOT / "backup.yaml", 3)] + [(f"{n} accounts", config_for(n, work), n) for n in sizes]
        for label, config, accounts in cases:
            modes = ["stamped"]
            if accounts <= args.plain_max:
                modes += ["plain"] if args.no_naive else ["plain", "naive"]
            for mode in modes:
                outdir = work / f"out-{accounts}-{mode}"
                runs.append(synth(label, config, accounts, mode, outdir))
                print(
                    f"{label:>14} {mode:>7}: {runs[-1].wall_s:6.1f} s wall, {runs[-1].cpu_s:6.1f} s CPU, "
                    f"{runs[-1].peak_rss_mib:6.0f} MiB",
                    file=sys.stderr,
                )
                if mode != "stamped":
                    identical[f"{label} {mode}"] = same_output(work / f"out-{accounts}-stamped", outdir)
                    shutil.rmtree(outdir)
            if label != cases[-1][0]:
                shutil.rmtree(work / f"out-{accounts}-stamped")
        checkov = None
        if not args.no_checkov:
            largest = work / f"out-{cases[-1][2]}-stamped"
            checkov = {"accounts": cases[-1][2]}
            scans = [("make_scan", True)] + ([("every_stack", False)] if cases[-1][2] <= args.plain_max else [])
            for name, scan_set in scans:
                seconds, failed = checkov_seconds(largest, scan_set=scan_set)
                checkov[name] = {"seconds": seconds, "failed_checks": failed}
                print(f"checkov ({name}) over {cases[-1][0]}: {seconds} s, {failed} failed", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    stamped = {r.accounts if r.label != "example" else "example": r for r in runs if r.mode == "stamped"}
    plain = {r.accounts: r for r in runs if r.mode == "plain" and r.label != "example"}
    verdicts = {"example <= 3 s": stamped["example"].wall_s <= TARGETS["example_s"]}
    verdicts.update({f"{name}: output identical to stamped": same for name, same in identical.items()})
    if 1000 in stamped:
        verdicts["1,000 x 4 <= 60 s"] = stamped[1000].wall_s <= TARGETS["t1000_s"]
        verdicts["1,000 x 4 <= 1.5 GiB"] = stamped[1000].peak_rss_mib <= TARGETS["rss1000_gib"] * 1024
        if 1000 in plain:
            speedup = plain[1000].wall_s / stamped[1000].wall_s
            verdicts[f"1,000 x 4: plain / stamped = {speedup:.1f} >= 10"] = speedup >= TARGETS["speedup1000"]
        if 100 in stamped:
            ratio = stamped[1000].wall_s / stamped[100].wall_s
            verdicts[f"t(1000)/t(100) = {ratio:.1f} <= 11"] = ratio <= TARGETS["ratio"]
    if 5000 in stamped:
        verdicts["5,000 x 4 <= 240 s"] = stamped[5000].wall_s <= TARGETS["t5000_s"]
        verdicts["5,000 x 4 <= 2 GiB"] = stamped[5000].peak_rss_mib <= TARGETS["rss5000_gib"] * 1024
    if checkov:
        verdicts["checkov (make scan) <= 60 s"] = checkov["make_scan"]["seconds"] <= TARGETS["checkov_s"]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"Machine: {machine}\n")
    print(table(runs))
    if checkov:
        scan, every = checkov["make_scan"], checkov.get("every_stack")
        print(
            f"\ncheckov over the {checkov['accounts']}-account output: {scan['seconds']} s as `make scan` runs it "
            f"(scan set, building it included; {scan['failed_checks']} failed checks); "
            + (
                f"{every['seconds']} s over every stack ({every['failed_checks']} failed checks)"
                if every
                else "not run over every stack (above --plain-max)"
            )
        )
    print("\nTargets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdicts.items()))
    results: dict[str, Any] = {"machine": machine, "runs": [asdict(r) for r in runs], "checkov": checkov}
    results["targets"] = verdicts
    out = ROOT / "build" / "benchmarks" / "synth_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
