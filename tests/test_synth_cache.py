"""The synth cache (org_backup/synth/cache.py): `python main.py` with inputs it has synthesized before copies that
output in instead of synthesizing; anything a synth reads changes the key; a damaged entry is never used."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from org_backup.synth.cache import FILES, KEEP, SynthCache
from org_backup.synth.inputs import Inputs
from tests.conftest import EXAMPLE_CONFIG, MINIMAL_CONFIG, ROOT

CONFIG = MINIMAL_CONFIG


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _main(
    cache: Path | str,
    outdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    role: str = "deploy",
    config: Path = CONFIG,
) -> str:
    import main

    monkeypatch.setenv("BACKUP_CONFIG", str(config))
    monkeypatch.setenv("CDKTF_OUTDIR", str(outdir))
    monkeypatch.setenv("ORG_BACKUP_ROLE", role)
    monkeypatch.setenv("ORG_BACKUP_SYNTH_CACHE", str(cache))
    monkeypatch.delenv("ORG_BACKUP_LOCAL_API", raising=False)
    # A plan-role synth first asks STS whether there are credentials (tests/test_credentials.py); here there are.
    monkeypatch.setattr("org_backup.ops.credentials.caller", lambda region: "arn:aws:iam::100000000003:role/Reader")
    code = main.main()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_an_unchanged_synth_is_a_copy_and_keeps_terraform_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, outdir = tmp_path / "cache", tmp_path / "cdktf.out"
    first = _main(cache, outdir, monkeypatch, capsys)
    assert " synthesized into " in first
    synthesized = _files(outdir)
    state = outdir / "stacks" / "bootstrap-home" / "terraform.tfstate"
    state.write_text('{"serial": 7}')

    plan = _main(cache, outdir, monkeypatch, capsys, role="plan")  # another role: another key
    assert " synthesized into " in plan and "(role plan)" in plan
    again = _main(cache, outdir, monkeypatch, capsys)

    assert "copied from the synth cache (inputs unchanged)" in again
    assert state.read_text() == '{"serial": 7}'  # carried over, as after a synth
    state.unlink()
    assert _files(outdir) == synthesized
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2


def test_a_damaged_entry_is_removed_and_the_synth_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, outdir = tmp_path / "cache", tmp_path / "cdktf.out"
    _main(cache, outdir, monkeypatch, capsys)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    stack = next((entry / "stacks").iterdir()) / "cdk.tf.json"
    stack.write_text(stack.read_text().replace("org-backup", "edited"))

    out = _main(cache, outdir, monkeypatch, capsys)

    assert " synthesized into " in out
    assert "edited" not in "".join(p.read_text() for p in (outdir / "stacks").rglob("cdk.tf.json"))
    assert (entry / FILES).is_file()  # stored again, from the new synth


def test_off_synthesizes_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(SynthCache, "store", lambda *_: pytest.fail("off stores nothing"))
    _main("off", tmp_path / "cdktf.out", monkeypatch, capsys)
    assert " synthesized into " in _main("off", tmp_path / "cdktf.out", monkeypatch, capsys)


def test_the_key_covers_inputs_options_and_every_code_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name in ("main.py", "cdktf.json", "Pipfile.lock"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    for name in ("org_backup", "stacks", "policies", "lambda_src"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    cache = SynthCache(tmp_path / "cache", root=root)
    inputs = Inputs.load(CONFIG)
    base = cache.key(inputs, role="deploy", local_api=False)

    assert cache.key(Inputs.load(CONFIG), role="deploy", local_api=False) == base  # deterministic
    assert cache.key(inputs, role="plan", local_api=False) != base
    assert cache.key(inputs, role="deploy", local_api=True) != base
    changed = tmp_path / "changed.yaml"
    changed.write_text(CONFIG.read_text().replace('accounts: ["100000000004"]', 'accounts: ["100000000005"]'))
    assert Inputs.load(changed).config != inputs.config
    assert cache.key(Inputs.load(changed), role="deploy", local_api=False) != base
    for code in ("policies/kms/operations-key.json", "lambda_src/tag_reapply/handler.py", "stacks/member_account.py"):
        original = (root / code).read_bytes()
        (root / code).write_bytes(original + b"\n")
        assert cache.key(inputs, role="deploy", local_api=False) != base, code
        (root / code).write_bytes(original)
    (root / "stacks" / "__pycache__").mkdir(exist_ok=True)
    (root / "stacks" / "__pycache__" / "x.pyc").write_bytes(b"compiled")  # not an input
    assert cache.key(inputs, role="deploy", local_api=False) == base


def test_only_the_newest_entries_are_kept(tmp_path: Path) -> None:
    cache = SynthCache(tmp_path / "cache")
    staging = tmp_path / "staging"
    (staging / "stacks" / "one").mkdir(parents=True)
    (staging / "stacks" / "one" / "cdk.tf.json").write_text("{}")
    for number in range(KEEP + 2):
        cache.store(f"key{number}", staging)
        os.utime(cache.directory / f"key{number}", (number, number))
    kept = sorted(p.name for p in cache.directory.iterdir())
    assert kept == [f"key{n}" for n in range(2, KEEP + 2)]


def test_synth_prints_a_summary_and_lists_stacks_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _main("off", tmp_path / "cdktf.out", monkeypatch, capsys)
    lines = out.splitlines()
    assert lines[1:] == [
        "  stacks: 1 member, 3 bootstrap, backup-policies, central-backup, management, pipeline",
        "  accounts: 1 members in 1 target OUs; Regions: 1 target, 1 with a central vault",
        "  backup plans: 2 in 2 policies (0 split); SCPs: 0",
        lines[4],  # resources and size: counted below, not copied from the output
    ]
    stacks = tmp_path / "cdktf.out" / "stacks"
    resources = sum(
        len(items)
        for p in stacks.iterdir()
        for items in json.loads((p / "cdk.tf.json").read_text())["resource"].values()
    )
    assert lines[4].startswith(f"  resources: {resources}; output: ")
    monkeypatch.setenv("ORG_BACKUP_SYNTH_LIST", "1")
    listed = _main("off", tmp_path / "cdktf.out", monkeypatch, capsys).splitlines()
    assert listed[5:] == [f"  {p.name}" for p in sorted(stacks.iterdir())]


def test_the_summary_names_what_a_deploy_cannot_take_back_or_costs_on_its_own() -> None:
    """Issue 28: backup.yaml turns on a compliance lock, restore tests, audit frameworks and reports, and five SCPs;
    each is named after every synth (the values below are backup.yaml's, read by hand); the minimal config has none."""
    from org_backup.synth.inputs import Inputs
    from org_backup.synth.summary import lasting_settings

    assert lasting_settings(Inputs.load(EXAMPLE_CONFIG)) == [
        "the member vaults' lock is in governance mode (removable by principals allowed to)",
        "the central vaults' lock is in compliance mode: 3 days after the deploy nobody, AWS included, can remove it "
        "or shorten retention (AWS Backup, vault lock)",
        "restore tests (cron(0 5 ? * SAT *) Etc/UTC): each restores real resources on a schedule, which costs like "
        "any restore",
        "AWS Backup Audit Manager frameworks in every member account and Region: charged per evaluation",
        "AWS Backup Audit Manager reports, delivered daily to a bucket",
        "5 guardrail SCPs: they deny actions to every principal of the accounts they bind",
    ]
    assert lasting_settings(Inputs.load(MINIMAL_CONFIG)) == []
