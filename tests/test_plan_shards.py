"""The Plan stage fanned out (pipeline.plan_shards): N shards, each planning every N-th changed stack, merged into one
artifact (org_backup/ops/plan_shards.py) that must equal what one Plan build writes.

The equality test runs the real Terraform 1.11 over stand-in stacks made of its built-in terraform_data resource (no
provider, no AWS), as tests/test_plan_guard.py does: some stacks deployed and changed, one unchanged, one new, one
releasing a resource with a removed block. The merge's refusals are checked on shard folders laid out as `make
plan-shard` packs them; each expected message is written here by hand from the rule it enforces.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from org_backup.ops import plan_shards
from org_backup.ops.plan_shards import MergeError, PlanResult, merge
from org_backup.ops.terraform import TerraformEnv, plan_all
from org_backup.synth import incremental
from tests.conftest import ROOT
from tests.stand_in_stacks import terraform_env, write_stack

STACKS = ["backup-policies", "central-backup", "management", "member-100000000001", "member-100000000002"]


@pytest.fixture
def env(tmp_path: Path) -> TerraformEnv:
    return terraform_env(tmp_path)


@pytest.fixture
def outdir(tmp_path: Path, env: TerraformEnv) -> Path:
    """Four stacks applied, then changed (or not) as a new synth would; a fifth never deployed."""
    out = tmp_path / "cdktf.out"
    stacks = out / "stacks"
    for name in STACKS[:4]:
        write_stack(stacks / name, {"a": {"input": "1"}, "b": {"input": "2"}})
        env.init(stacks / name, backend=True)
        env.run(stacks / name, "apply", "-input=false", "-no-color", "-auto-approve")
    write_stack(stacks / "backup-policies", {"a": {"input": "1"}, "b": {"input": "changed"}})
    write_stack(
        stacks / "central-backup",
        {"a": {"input": "1"}},
        removed=[{"from": "terraform_data.b", "lifecycle": {"destroy": False}}],
    )
    # management: unchanged; member-...01: one resource added; member-...02: new
    write_stack(stacks / "member-100000000001", {"a": {"input": "1"}, "b": {"input": "2"}, "c": {"input": "3"}})
    write_stack(stacks / "member-100000000002", {"a": {"input": "new"}})
    return out


def _shared_files(folder: Path, accounts: str = "accounts: []\n") -> None:
    """What `make plan` writes beside the plans from the same synth in every shard (the Makefile's plan target)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "changed-stacks.json").write_text(json.dumps({s: f"hash-{s}" for s in STACKS}, indent=2) + "\n")
    (folder / "changed-stacks.txt").write_text("".join(f"{s}\n" for s in STACKS))
    (folder / "accounts.lock.yaml").write_text(accounts)


def _show(env: TerraformEnv, outdir: Path, plan: Path) -> Any:
    shown = json.loads(env.run(outdir / "stacks" / plan.stem, "show", "-json", "-no-color", str(plan)).stdout)
    return shown["resource_changes"]


@pytest.mark.terraform
def test_two_shards_merged_are_the_plans_of_one_build(outdir: Path, env: TerraformEnv, tmp_path: Path) -> None:
    single = tmp_path / "single"
    _shared_files(single)
    codes = plan_all(outdir, single, STACKS, env=env)
    # By hand: management has no change (0); each other stack changes (2).
    assert codes == {s: 0 if s == "management" else 2 for s in STACKS}

    shards_root = tmp_path / "combined"
    for index in (1, 2):
        folder = shards_root / f"shard_{index}" / f"shard-{index}"  # wherever CodeBuild puts a build's files
        _shared_files(folder)
        plan_all(outdir, folder, incremental.shard(STACKS, index, 2), env=env, shard=(index, 2))
    merged_dir = tmp_path / "merged"
    merged = merge(shards_root, 2, merged_dir)

    assert merged.codes == codes
    assert sorted(p.name for p in merged_dir.glob("*.tfplan")) == sorted(f"{s}.tfplan" for s in STACKS)
    for stack in STACKS:
        one = (single / f"{stack}.txt").read_text().replace(str(single.resolve()), "<plans>")
        sharded = (merged_dir / f"{stack}.txt").read_text()
        for folder in shards_root.glob("shard_*/shard-*"):
            sharded = sharded.replace(str(folder.resolve()), "<plans>")
        # Terraform refreshes a stack's resources in parallel, so those lines come in any order.
        assert sorted(sharded.splitlines()) == sorted(one.splitlines()), stack
        assert [line for line in sharded.splitlines() if "Refreshing state" not in line] == [
            line for line in one.splitlines() if "Refreshing state" not in line
        ], stack
        assert _show(env, outdir, merged_dir / f"{stack}.tfplan") == _show(env, outdir, single / f"{stack}.tfplan")
    assert (merged_dir / "summary.md").read_text() == (single / "summary.md").read_text()
    summary = (merged_dir / "summary.md").read_text()
    assert summary.startswith("# org-backup plan: 4 of 5 stacks change\n")
    assert "- `central-backup`: terraform_data.b\n" in summary  # released by its removed block
    for name in ("changed-stacks.json", "changed-stacks.txt", "accounts.lock.yaml"):
        assert (merged_dir / name).read_bytes() == (single / name).read_bytes()
    assert PlanResult.read(merged_dir / "plan-result.json").codes == codes


def _shard(root: Path, index: int, count: int, codes: dict[str, int], accounts: str = "accounts: []\n") -> Path:
    folder = root / f"shard-{index}"
    _shared_files(folder, accounts)
    PlanResult(shard=(index, count), codes=codes).write(folder)
    for stack in codes:
        (folder / f"{stack}.tfplan").write_bytes(b"plan")
        (folder / f"{stack}.txt").write_text("No changes.\n")
    return folder


def _halves() -> tuple[dict[str, int], dict[str, int]]:
    return ({s: 2 for s in incremental.shard(STACKS, 1, 2)}, {s: 2 for s in incremental.shard(STACKS, 2, 2)})


def test_a_missing_shard_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    first, _ = _halves()
    _shard(tmp_path / "in", 1, 2, first)
    with pytest.raises(MergeError, match=r"^no plan of shard 2 of 2 under .*; merged nothing"):
        merge(tmp_path / "in", 2, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_shards_that_saw_another_organization_are_refused(tmp_path: Path) -> None:
    """An account moved between the shards' discovery: their accounts snapshots differ, so might their plans."""
    first, second = _halves()
    _shard(tmp_path / "in", 1, 2, first)
    _shard(tmp_path / "in", 2, 2, second, accounts="accounts: [{id: '100000000009'}]\n")
    with pytest.raises(MergeError, match=r"^shard 2 wrote a different accounts.lock.yaml than shard 1"):
        merge(tmp_path / "in", 2, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_stack_planned_twice_or_not_at_all_is_refused(tmp_path: Path) -> None:
    first, second = _halves()
    _shard(tmp_path / "twice", 1, 2, first)
    _shard(tmp_path / "twice", 2, 2, {**second, STACKS[0]: 2})
    with pytest.raises(MergeError, match=rf"^shard 2 planned {STACKS[0]} again"):
        merge(tmp_path / "twice", 2, tmp_path / "out")
    _shard(tmp_path / "short", 1, 2, first)
    _shard(tmp_path / "short", 2, 2, dict(list(second.items())[1:]))
    missing = sorted(second)[0]
    with pytest.raises(MergeError, match=rf"not planned: {missing}; planned but not changed: none"):
        merge(tmp_path / "short", 2, tmp_path / "out")


def test_a_shard_of_another_shard_count_or_a_duplicate_is_refused(tmp_path: Path) -> None:
    first, second = _halves()
    _shard(tmp_path / "count", 1, 2, first)
    _shard(tmp_path / "count", 2, 3, second)
    with pytest.raises(MergeError, match=r"is shard 2/3, but the Plan stage has 2 shards"):
        merge(tmp_path / "count", 2, tmp_path / "out")
    _shard(tmp_path / "dup" / "a", 1, 2, first)
    _shard(tmp_path / "dup" / "b", 1, 2, first)
    with pytest.raises(MergeError, match=r"shard 1/2 appears twice"):
        merge(tmp_path / "dup", 2, tmp_path / "out")


def test_the_merge_command_exits_1_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _halves()
    _shard(tmp_path / "in", 1, 2, first)
    assert plan_shards.main([str(tmp_path / "in"), "--shards", "2", "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith("plan merge: no plan of shard 2 of 2")
    _shard(tmp_path / "in", 2, 2, second)
    assert plan_shards.main([str(tmp_path / "in"), "--shards", "2", "--out", str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "changed-stacks.json").read_text()) == {s: f"hash-{s}" for s in STACKS}


def test_make_plan_merge_runs_the_merge(tmp_path: Path) -> None:
    """The Makefile target the merge build runs (buildspecs/plan-shards.yml): it needs SHARDS_DIR, and writes
    PLAN_ARTIFACT (build/plan-artifact; here a temporary folder) from the shards."""
    first, second = _halves()
    _shard(tmp_path / "in", 1, 2, first)
    _shard(tmp_path / "in", 2, 2, second)
    missing = subprocess.run(["make", "--no-print-directory", "plan-merge"], cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "no SHARDS_DIR" in missing.stderr
    artifact = tmp_path / "artifact"
    merge_args = [f"SHARDS_DIR={tmp_path / 'in'}", "PLAN_SHARDS=2", f"PLAN_ARTIFACT={artifact}"]
    done = subprocess.run(
        ["make", "--no-print-directory", "plan-merge", *merge_args], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in artifact.glob("*.tfplan")) == STACKS
    assert "Merged the plans of 2 shards (5 stacks)" in done.stdout
