"""A plan's result as data, the summary rendered from it, and the merge of a Plan stage fanned out to N shards.

``make plan`` (``org_backup.ops.terraform plan``) writes ``plan-result.json`` beside the plans: the stacks it planned
with their ``terraform plan -detailed-exitcode``, what removed blocks release, the backup plans retired and the
effective-policy diffs. ``summary.md`` is rendered from that result, so one build and a merge of N shards write the
same summary for the same plans.

With ``pipeline.plan_shards`` > 1 the Plan stage is a CodeBuild batch of N builds (org_backup/synth/fanout.py), each
planning every N-th changed stack (``org_backup.synth.incremental.shard``, as Deploy's shards), then one merge build
(``python -m org_backup.ops.plan_shards``) that writes the one artifact the approval, the pull-request comment and the
Deploy stage read. The merge trusts nothing it can check: every shard must have seen the same changed stacks, the same
organization (the accounts snapshot) and the same retired accounts; together the shards must have planned each
changed stack exactly once. Otherwise it refuses and writes nothing: a plan nobody saw whole is never approved.

Where each shard's files sit in the combined artifact is not something the merge relies on: CodeBuild's batch
documentation says only that combined artifacts are "one single ZIP file" ("AWS CodePipeline integration with
CodeBuild and batch builds"), so each shard writes its files into its own ``shard-<i>/`` folder and the merge finds
the shards by their ``plan-result.json``, wherever they are.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from org_backup.ops import retire_accounts
from org_backup.plans import diff as policy_diff

RESULT_FILE = "plan-result.json"
PLANNED_FILE = "changed-stacks.json"  # stack -> content hash: what the Deploy stage may deploy
# Written by every shard from the same inputs, so they must be byte-identical; copied once into the merged artifact.
SHARED_FILES = (PLANNED_FILE, "changed-stacks.txt", retire_accounts.RETIRING_FILE, "accounts.lock.yaml", "topology.md")


class MergeError(Exception):
    pass


@dataclass
class PlanResult:
    """What ``terraform plan`` of a set of stacks found (org_backup/ops/terraform.py ``plan_all``)."""

    shard: tuple[int, int] = (1, 1)
    codes: dict[str, int] = field(default_factory=dict)  # stack -> exit code of plan -detailed-exitcode (0, 2)
    released: dict[str, list[str]] = field(default_factory=dict)  # stack -> addresses removed blocks release
    retired_plans: dict[str, list[str]] = field(default_factory=dict)  # stack -> backup plans retired_plans removes
    policy_changes: dict[str, list[str]] = field(default_factory=dict)  # target OU -> diff of its effective plans

    def write(self, out: Path) -> None:
        body = {
            "shard": f"{self.shard[0]}/{self.shard[1]}",
            "codes": self.codes,
            "released": self.released,
            "retired_plans": self.retired_plans,
            "policy_changes": self.policy_changes,
        }
        (out / RESULT_FILE).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> PlanResult:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            index, count = (int(n) for n in body["shard"].split("/"))
            return cls(
                shard=(index, count),
                codes={str(k): int(v) for k, v in body["codes"].items()},
                released=dict(body["released"]),
                retired_plans=dict(body["retired_plans"]),
                policy_changes=dict(body["policy_changes"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MergeError(f"{path} is not a plan result written by `make plan` ({exc})") from exc


def render_summary(result: PlanResult, out: Path) -> str:
    """summary.md (the approval's and the pull-request comment's text) of ``result``; the retired accounts come
    from ``retired-accounts.json`` in ``out``, written by ``retire-accounts --plan`` before the plans ran."""
    retiring = out / retire_accounts.RETIRING_FILE
    accounts = retire_accounts.summary(json.loads(retiring.read_text("utf-8")) if retiring.is_file() else {})
    codes = result.codes
    if not codes:
        return (
            "\n".join(["# org-backup plan: nothing to plan", "", "No stack changed since the last deploy.", *accounts])
            + "\n"
        )
    changed = sorted(name for name, code in codes.items() if code == 2)
    lines = [f"# org-backup plan: {len(changed)} of {len(codes)} stacks change", ""]
    lines += [f"- `{name}`: changes (see {name}.txt)" for name in changed] or ["No changes."]
    kept = [f"- `{name}`: {address}" for name in sorted(result.released) for address in result.released[name]]
    if kept:
        lines += ["", "Released from Terraform and kept in AWS (removed blocks):", "", *kept]
    gone = [f"- {line}" for name in sorted(result.retired_plans) for line in result.retired_plans[name]]
    if gone:
        lines += ["", "Backup plans removed, as retired_plans says:", "", *gone]
    lines += policy_diff.summary(result.policy_changes) + accounts
    return "\n".join(lines) + "\n"


def _union(shards: Mapping[int, PlanResult]) -> PlanResult:
    merged = PlanResult()
    for index in sorted(shards):
        result = shards[index]
        for name in ("codes", "released", "retired_plans", "policy_changes"):
            part, theirs = getattr(merged, name), getattr(result, name)
            twice = sorted(set(part) & set(theirs))
            if twice:
                raise MergeError(f"shard {index} planned {', '.join(twice)} again ({name}): shards must not overlap")
            part.update(theirs)
    return merged


def _same(a: Path, b: Path) -> bool:
    """Both absent, or both present with the same bytes."""
    if a.is_file() != b.is_file():
        return False
    return not a.is_file() or filecmp.cmp(a, b, shallow=False)


def merge(shards_dir: Path, count: int, out: Path) -> PlanResult:
    """The plans of ``count`` shards found under ``shards_dir``, checked and merged into ``out`` (created; must not
    exist): the shared files once, every shard's plans, one plan-result.json and one summary.md."""
    found: dict[int, Path] = {}
    for path in sorted(shards_dir.rglob(RESULT_FILE)):
        result = PlanResult.read(path)
        index, of = result.shard
        if of != count:
            raise MergeError(f"{path} is shard {index}/{of}, but the Plan stage has {count} shards")
        if index in found:
            raise MergeError(f"shard {index}/{count} appears twice: {found[index].parent} and {path.parent}")
        found[index] = path.parent
    missing = [str(i) for i in range(1, count + 1) if i not in found]
    if missing:
        raise MergeError(
            f"no plan of shard {', '.join(missing)} of {count} under {shards_dir}; merged nothing. Fix: run the Plan "
            "stage again (every shard must succeed)."
        )
    first = found[1]
    for name in SHARED_FILES:
        differ = [str(i) for i, folder in sorted(found.items()) if not _same(first / name, folder / name)]
        if differ:
            raise MergeError(
                f"shard {', '.join(differ)} wrote a different {name} than shard 1: the shards did not plan from the "
                "same inputs (an account moved, or a deploy finished, while they ran). Fix: run the Plan stage again."
            )
    if not (first / PLANNED_FILE).is_file():
        raise MergeError(f"shard 1 ({first}) has no {PLANNED_FILE}: `make plan` did not finish there")
    candidates = set(json.loads((first / PLANNED_FILE).read_text(encoding="utf-8")))
    results = {index: PlanResult.read(folder / RESULT_FILE) for index, folder in found.items()}
    merged = _union(results)
    merged.shard = (1, 1)
    unplanned, extra = sorted(candidates - set(merged.codes)), sorted(set(merged.codes) - candidates)
    if unplanned or extra:
        raise MergeError(
            f"the shards' plans are not the changed stacks: not planned: {', '.join(unplanned) or 'none'}; "
            f"planned but not changed: {', '.join(extra) or 'none'}. Fix: run the Plan stage again."
        )
    if out.exists():
        raise MergeError(f"{out} exists; the merge writes a new folder. Fix: remove it first.")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in SHARED_FILES:
        if (first / name).is_file():
            shutil.copyfile(first / name, staging / name)
    for index, folder in sorted(found.items()):
        for stack in sorted(results[index].codes):
            for suffix in (".tfplan", ".txt"):
                source = folder / f"{stack}{suffix}"
                if not source.is_file():
                    raise MergeError(f"shard {index} planned {stack} but has no {source.name}")
                shutil.copyfile(source, staging / source.name)
    merged.write(staging)
    (staging / "summary.md").write_text(render_summary(merged, staging), encoding="utf-8")
    staging.rename(out)  # the artifact appears whole or not at all
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m org_backup.ops.plan_shards",
        description="Merge the Plan stage's shards into one plans artifact (CodeBuild runs it after the batch).",
    )
    parser.add_argument("shards_dir", type=Path, help="the batch's combined artifact (each shard in shard-<i>/)")
    parser.add_argument("--shards", type=int, required=True, help="the Plan stage's shard count (plan_shards)")
    parser.add_argument("--out", type=Path, required=True, help="the merged artifact's folder (must not exist)")
    args = parser.parse_args(argv)
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    try:
        merged = merge(args.shards_dir, args.shards, args.out)
    except MergeError as exc:
        print(f"plan merge: {exc}", file=sys.stderr)
        return 1
    print(f"Merged the plans of {args.shards} shards ({len(merged.codes)} stacks) into {args.out}.")
    print((args.out / "summary.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
