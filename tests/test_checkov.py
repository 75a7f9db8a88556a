"""checkov over every synthesized stack: zero failed checks, skips only in .checkov.yaml and each with a reason."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

CHECKOV = Path(sys.executable).parent / "checkov"


def run_checkov(directory: Path, config: Path = ROOT / ".checkov.yaml") -> dict[str, Any]:
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--config-file",
            str(config),
            "--framework",
            "terraform_json",
            "--skip-download",
            "-o",
            "json",
        ],
        cwd=directory,  # checkov also reads a .checkov.yaml from its working directory: only `config` may apply
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.mark.parametrize("scenario", ["example", "central_is_member", "connection_source"])
def test_checkov_finds_no_failed_checks(synth: Any, scenario: str) -> None:
    report = run_checkov(synth(scenario).outdir)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["failed"] == 0
    assert summary["passed"] > 50
    assert summary["parsing_errors"] == 0


def test_every_checkov_skip_has_a_reason() -> None:
    text = (ROOT / ".checkov.yaml").read_text()
    skips = yaml.safe_load(text).get("skip-check") or []
    for check in skips:
        line = next(line for line in text.splitlines() if check in line)
        assert re.search(rf"{re.escape(check)}\s*#\s*\S.{{10,}}", line), f"{check} needs a one-line reason"


def test_scan_set_keeps_one_member_stack_per_shape(synth: Any, tmp_path: Path) -> None:
    from org_backup import scan_set

    example = scan_set.build(synth("example").outdir, tmp_path / "scan")
    assert example["member-444444444444"] == ["member-555555555555", "member-666666666666"]
    assert sorted(p.name for p in (tmp_path / "scan").iterdir()) == sorted(example)
    assert len(example) == len(synth("example").stack_names) - 2
    # The member that is also the central account refers to itself where the others refer to it: its own shape.
    central = scan_set.representatives(synth("central_is_member").outdir)
    assert sorted(s for s in central if s.startswith("member-")) == ["member-200000000002", "member-200000000004"]


def test_checkov_judges_stacks_of_one_shape_alike(synth: Any, tmp_path: Path) -> None:
    """The scan set's assumption, checked on real output: two member stacks of one shape get the same verdicts."""
    outdir = synth("example").outdir
    settings = yaml.safe_load((ROOT / ".checkov.yaml").read_text())
    settings.pop("quiet")  # quiet reports failed checks only; here every verdict counts
    config = tmp_path / "checkov.yaml"
    config.write_text(yaml.safe_dump(settings))
    verdicts = []
    for stack in ("member-444444444444", "member-666666666666"):
        (tmp_path / stack).mkdir()
        shutil.copyfile(outdir / "stacks" / stack / "cdk.tf.json", tmp_path / stack / "cdk.tf.json")
        report = run_checkov(tmp_path / stack, config)
        verdicts.append(
            sorted(
                (c["check_id"], c["resource"], outcome)
                for outcome in ("passed_checks", "failed_checks", "skipped_checks")
                for c in report["results"][outcome]
            )
        )
    assert len(verdicts[0]) > 50
    assert verdicts[0] == verdicts[1]
