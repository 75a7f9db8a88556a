"""Incremental deploy: `changed` finds exactly the stacks a change touches; `shard` splits them and refuses content
that differs from what was planned; records live in a local directory or one S3 object per stack."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from org_backup.__main__ import main as cli
from org_backup.config.errors import UsageError
from org_backup.config.yaml_io import dump_yaml
from org_backup.synth import incremental, lambda_package
from tests.conftest import EXAMPLE_CONFIG, ROOT

MEMBERS = ["member-444444444444", "member-555555555555", "member-666666666666"]


@pytest.fixture(scope="module")
def synthesize(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A new synth each call, for changed configs and for proving that synthesizing again changes nothing."""
    from org_backup.synth.inputs import Inputs
    from stacks.app import synthesize as synth
    from stacks.common import SynthOptions

    def run(config: Path, *, role: str = "deploy") -> Path:
        outdir = tmp_path_factory.mktemp("incremental") / "cdktf.out"
        synth(inputs=Inputs.load(config), outdir=outdir, options=SynthOptions(role=role))  # type: ignore[arg-type]
        return outdir

    return run


@pytest.fixture(scope="module")
def example(synth: Any) -> Path:
    """The session's shared synth of the example (read-only; copy it before changing anything)."""
    return Path(synth("example").outdir)


@pytest.fixture(scope="module")
def baseline(example: Path) -> dict[str, str]:
    return incremental.stack_hashes(example)


def _example(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The example in its first Region only, changed by ``change``: which stacks a change touches does not depend on
    how many Regions each stack has, and a synth of one Region takes a third of the time (make test-fast's budget)."""
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["backup_plans_file"] = str(ROOT / raw["backup_plans_file"])
    raw["target_regions"] = raw["target_regions"][:1]
    change(raw)
    path = tmp_path / "backup.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def one_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _example(tmp_path_factory.mktemp("one-region"), lambda raw: None)


@pytest.fixture(scope="module")
def small_baseline(one_region: Path, synthesize: Callable[..., Path]) -> dict[str, str]:
    """What the changes below are compared with: the unchanged example in its first Region."""
    return incremental.stack_hashes(synthesize(one_region))


def _changed(baseline: dict[str, str], outdir: Path) -> tuple[str, ...]:
    return incremental.compare(incremental.stack_hashes(outdir), baseline).changed


def test_only_deployable_stacks_are_hashed(baseline: dict[str, str]) -> None:
    assert sorted(baseline) == ["backup-policies", "central-backup", "management", *MEMBERS]


@pytest.mark.slow
def test_an_unchanged_config_changes_nothing_whichever_role_synthesized_it(
    small_baseline: dict[str, str], synthesize: Callable[..., Path], one_region: Path
) -> None:
    assert _changed(small_baseline, synthesize(one_region)) == ()  # a second synth
    assert _changed(small_baseline, synthesize(one_region, role="plan")) == ()  # Plan and Deploy agree


def test_one_new_account_changes_only_its_stack(
    small_baseline: dict[str, str], synthesize: Callable[..., Path], tmp_path: Path
) -> None:
    config = _example(tmp_path, lambda raw: raw["target_ous"][1]["accounts"].append("777777777777"))
    assert _changed(small_baseline, synthesize(config)) == ("member-777777777777",)


def test_one_stack_edited_changes_only_that_stack(baseline: dict[str, str], example: Path, tmp_path: Path) -> None:
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(example, outdir)
    document = outdir / "stacks" / MEMBERS[1] / "cdk.tf.json"
    data = json.loads(document.read_text())
    data["provider"]["aws"][0]["default_tags"][0]["tags"]["owner"] = "someone-else"
    document.write_text(json.dumps(data))
    assert _changed(baseline, outdir) == (MEMBERS[1],)


def test_a_backup_policy_change_touches_only_the_backup_policies_stack(
    small_baseline: dict[str, str], synthesize: Callable[..., Path], tmp_path: Path
) -> None:
    plans = yaml.safe_load((ROOT / "policies" / "backup_plans.yaml").read_text())
    plans["plans"]["OrgBackupPlanDaily"]["rules"]["OrgDailyBackupRule"]["recovery_point_tags"]["project"] = "other"
    (tmp_path / "plans.yaml").write_text(dump_yaml(plans, sort_keys=False))
    config = _example(tmp_path, lambda raw: raw.update(backup_plans_file=str(tmp_path / "plans.yaml")))
    assert _changed(small_baseline, synthesize(config)) == ("backup-policies",)


def test_a_retention_change_also_touches_the_member_frameworks_that_check_it(
    small_baseline: dict[str, str], synthesize: Callable[..., Path], tmp_path: Path
) -> None:
    """The audit frameworks derive their minimum retention from the plans (org_backup/plans/audit.py)."""
    plans = yaml.safe_load((ROOT / "policies" / "backup_plans.yaml").read_text())
    for rule in plans["plans"]["OrgBackupPlanDaily"]["rules"].values():
        rule["lifecycle"]["delete_after_days"] = 36
        rule["copy_to_central"]["lifecycle"]["delete_after_days"] = 36
    (tmp_path / "plans.yaml").write_text(dump_yaml(plans, sort_keys=False))
    config = _example(tmp_path, lambda raw: raw.update(backup_plans_file=str(tmp_path / "plans.yaml")))
    assert _changed(small_baseline, synthesize(config)) == ("backup-policies", *MEMBERS)


def test_lambda_code_change_touches_every_member_stack(
    small_baseline: dict[str, str],
    synthesize: Callable[..., Path],
    one_region: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = tmp_path / "lambda_src"
    shutil.copytree(lambda_package.LAMBDA_SRC, sources, ignore=shutil.ignore_patterns("__pycache__"))
    handler = sources / "tag_reapply" / "handler.py"
    handler.write_text(handler.read_text() + "\n# a code change\n")
    monkeypatch.setattr(lambda_package, "LAMBDA_SRC", sources)
    monkeypatch.setattr(lambda_package, "BUILD_DIR", tmp_path / "zips")
    assert _changed(small_baseline, synthesize(one_region)) == tuple(MEMBERS)


def test_volatile_metadata_and_the_assumed_role_are_ignored(tmp_path: Path) -> None:
    stack = tmp_path / "stacks" / "management"
    stack.mkdir(parents=True)

    def write(version: str, role: str, retention: int) -> str:
        document = {
            "//": {"metadata": {"version": version}},
            "provider": {"aws": [{"region": "eu-west-1", "assume_role": [{"role_arn": role}]}]},
            "resource": {"aws_x": {"a": {"//": {"metadata": {"path": version}}, "days": retention}}},
        }
        (stack / "cdk.tf.json").write_text(json.dumps(document))
        return incremental.stack_hash(stack)

    first = write("0.21.0", "arn:aws:iam::1:role/Deploy", 35)
    assert write("0.22.0", "arn:aws:iam::1:role/Plan", 35) == first
    assert write("0.21.0", "arn:aws:iam::1:role/Deploy", 36) != first


def test_shards_are_disjoint_balanced_and_cover_every_stack() -> None:
    stacks = ["management", "central-backup", *(f"member-{i:012d}" for i in range(103))]
    shards = [incremental.shard(stacks, i, 8) for i in range(1, 9)]
    assert sorted(s for shard in shards for s in shard) == sorted(stacks)
    assert {len(shard) for shard in shards} == {13, 14}
    with pytest.raises(UsageError, match="between 1 and 8"):
        incremental.shard(stacks, 9, 8)


def test_cli_plan_shard_deploy_record_round_trip(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = example
    records = tmp_path / "records"
    common = ["--config", str(EXAMPLE_CONFIG)]
    listed = tmp_path / "plans" / "changed-stacks.txt"
    assert cli([*common, "changed", "--outdir", str(outdir), "--records", str(records), "--out", str(listed)]) == 0
    assert listed.read_text().split() == sorted(["backup-policies", "central-backup", "management", *MEMBERS])
    planned = listed.with_suffix(".json")
    assert set(json.loads(planned.read_text())) == set(listed.read_text().split())

    capsys.readouterr()
    shards = []
    for index in (1, 2):
        assert cli([*common, "shard", f"{index}/2", "--outdir", str(outdir), "--planned", str(planned)]) == 0
        shards.append(capsys.readouterr().out.split())
    assert sorted(shards[0] + shards[1]) == sorted(listed.read_text().split())

    mine = tmp_path / "shard-1.txt"
    mine.write_text("\n".join(shards[0]) + "\n")
    assert cli([*common, "record", "--outdir", str(outdir), "--records", str(records), "--stacks-file", str(mine)]) == 0
    capsys.readouterr()
    assert cli([*common, "changed", "--outdir", str(outdir), "--records", str(records)]) == 0
    assert capsys.readouterr().out.split() == sorted(shards[1])  # shard 2 not recorded yet


def test_shard_refuses_content_that_differs_from_the_plan(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = example
    planned = tmp_path / "planned.json"
    planned.write_text(json.dumps({"management": "0" * 64}))
    args = ["--config", str(EXAMPLE_CONFIG), "shard", "1/1", "--outdir", str(outdir), "--planned", str(planned)]
    assert cli(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "management differ from what the Plan stage planned" in captured.err


def test_s3_records_one_object_per_stack() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        records = incremental.S3Records(s3, "state", "org-backup/deployed")
        assert records.read() == {}
        records.write({"management": "a" * 64, "member-444444444444": "b" * 64})
        records.write({"member-444444444444": "c" * 64})
        assert records.read() == {"management": "a" * 64, "member-444444444444": "c" * 64}
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="state")["Contents"]]
        assert keys == ["org-backup/deployed/management.sha256", "org-backup/deployed/member-444444444444.sha256"]


def test_changed_without_a_synth_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(EXAMPLE_CONFIG), "changed", "--outdir", str(tmp_path / "none"), "--records", str(tmp_path)]
    assert cli(args) == 2
    assert (
        capsys.readouterr().err
        == f"changed: {tmp_path / 'none' / 'stacks'} does not exist. Fix: run `make synth` first.\n"
    )


def test_a_stack_list_naming_a_non_deployable_stack_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "stacks.txt"
    listed.write_text("management\npipeline\n")
    args = ["--config", str(EXAMPLE_CONFIG), "record", "--stacks-file", str(listed), "--records", str(tmp_path)]
    assert cli(args) == 2
    assert "lists stacks the pipeline does not deploy: pipeline (only management" in capsys.readouterr().err
    assert list(tmp_path.glob("*.sha256")) == []


def test_deploy_phases_order_roles_then_accounts_then_backup_policies(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Phase 1 (management: the guardrails) before phase 2 (central and member stacks: the vaults they protect)
    before phase 3 (backup policies, whose plans need the member backup role and vaults)."""
    from org_backup.config.naming import deploy_phase

    assert [deploy_phase(s) for s in ("management", "central-backup", MEMBERS[0], "backup-policies")] == [1, 2, 2, 3]
    with pytest.raises(ValueError, match="pipeline is not a stack the pipeline deploys"):
        deploy_phase("pipeline")
    planned = tmp_path / "planned.json"
    planned.write_text(json.dumps(incremental.stack_hashes(example)))
    shards = {}
    for phase in (1, 2, 3):
        args = ["--config", str(EXAMPLE_CONFIG), "shard", "1/1", "--outdir", str(example), "--planned", str(planned)]
        assert cli([*args, "--phase", str(phase)]) == 0
        shards[phase] = capsys.readouterr().out.split()
    assert shards == {1: ["management"], 2: ["central-backup", *MEMBERS], 3: ["backup-policies"]}


def test_shard_without_an_approved_plan_deploys_nothing(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """make plan writes the stack list only once every plan passed its guard (org_backup/ops/plan_guard.py): after a
    refused plan there is none, and make deploy's first step stops instead of deploying anything."""
    missing = tmp_path / "plans" / "changed-stacks.json"
    common = ["--config", str(EXAMPLE_CONFIG)]
    assert cli([*common, "shard", "1/1", "--outdir", str(example), "--planned", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"shard: no approved plan at {missing}; nothing deployed. Fix: run `make plan` and let it pass (a refused "
        "plan leaves no stack list behind).\n"
    )


def test_record_with_a_missing_stack_list_or_output_is_exit_2_in_one_line(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The project's own input errors (UsageError) are exit 2 with the fix, no traceback; nothing is recorded."""
    common = ["--config", str(EXAMPLE_CONFIG)]
    records = ["--records", str(tmp_path / "records")]
    missing = tmp_path / "stacks.txt"
    assert cli([*common, "record", "--outdir", str(example), *records, "--stacks-file", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"record: {missing} does not exist. Fix: give the stack list the step before writes (make plan, shard).\n"
    )
    listed = tmp_path / "listed.txt"
    listed.write_text("member-444444444444\n")
    assert cli([*common, "record", "--outdir", str(tmp_path / "none"), *records, "--stacks-file", str(listed)]) == 2
    assert (
        capsys.readouterr().err
        == f"record: {tmp_path / 'none' / 'stacks'} does not exist. Fix: run `make synth` first.\n"
    )
    assert not (tmp_path / "records").exists()
