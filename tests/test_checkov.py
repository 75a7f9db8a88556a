"""checkov over every synthesized stack: zero failed checks, skips only in .checkov.yaml and each with a reason."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.yaml_io import dump_yaml
from org_backup.ops import scan_set
from tests.conftest import ROOT

CHECKOV = Path(sys.executable).parent / "checkov"


def run_checkov(directory: Path, config: Path) -> dict[str, Any]:
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


SCENARIOS = ["example", "central_is_member", "connection_source", "air_gapped", "external_ci"]


@pytest.fixture(scope="module")
def verdicts(synth: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over every stack of every scenario (checkov's start-up is ~4 s): ``<scenario>/<stack>/``.

    Run with every verdict reported (the project config without ``quiet``, which lists failed checks only), so the
    same report also shows what passed. Returns the report with each check's scenario and stack split out."""
    root = tmp_path_factory.mktemp("checkov")
    for scenario in SCENARIOS:
        outdir = synth(scenario).outdir
        for stack in synth(scenario).stack_names:
            scan_set.copy(outdir / "stacks" / stack, root / "scan" / scenario / stack)
    settings = yaml.safe_load((ROOT / ".checkov.yaml").read_text())
    settings.pop("quiet")
    config = root / "checkov.yaml"
    config.write_text(dump_yaml(settings))
    report = run_checkov(root / "scan", config)
    checks: dict[str, list[tuple[str, str, str, str]]] = {scenario: [] for scenario in SCENARIOS}
    for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
        for check in report["results"][outcome]:
            scenario, stack, _ = check["file_path"].strip("/").split("/")
            checks[scenario].append((stack, check["check_id"], check["resource"], outcome))
    return {"summary": report["summary"], "checks": checks}


@pytest.mark.checkov
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_checkov_finds_no_failed_checks(verdicts: dict[str, Any], scenario: str) -> None:
    checks = verdicts["checks"][scenario]
    assert [c for c in checks if c[3] == "failed_checks"] == []
    assert len([c for c in checks if c[3] == "passed_checks"]) > 50
    assert verdicts["summary"]["failed"] == 0
    assert verdicts["summary"]["parsing_errors"] == 0


@pytest.mark.checkov
def test_every_scanned_stack_was_checked(synth: Any, verdicts: dict[str, Any]) -> None:
    for scenario in SCENARIOS:
        assert sorted({c[0] for c in verdicts["checks"][scenario]}) == synth(scenario).stack_names


def test_every_checkov_skip_has_a_reason() -> None:
    text = (ROOT / ".checkov.yaml").read_text()
    skips = yaml.safe_load(text).get("skip-check") or []
    for check in skips:
        line = next(line for line in text.splitlines() if check in line)
        assert re.search(rf"{re.escape(check)}\s*#\s*\S.{{10,}}", line), f"{check} needs a one-line reason"


def test_scan_set_keeps_one_member_stack_per_shape(synth: Any, tmp_path: Path) -> None:
    from org_backup.ops import scan_set

    example = scan_set.build(synth("example").outdir, tmp_path / "scan")
    assert example["member-444444444444"] == ["member-555555555555", "member-666666666666"]
    assert sorted(p.name for p in (tmp_path / "scan").iterdir()) == sorted(example)
    assert len(example) == len(synth("example").stack_names) - 2
    # The member that is also the central account refers to itself where the others refer to it: its own shape.
    central = scan_set.representatives(synth("central_is_member").outdir)
    assert sorted(s for s in central if s.startswith("member-")) == ["member-200000000002", "member-200000000004"]


@pytest.mark.checkov
def test_checkov_judges_stacks_of_one_shape_alike(verdicts: dict[str, Any]) -> None:
    """The scan set's assumption, checked on real output: two member stacks of one shape get the same verdicts."""
    by_stack: dict[str, list[tuple[str, str, str]]] = {"member-444444444444": [], "member-666666666666": []}
    for stack, check_id, resource, outcome in verdicts["checks"]["example"]:
        if stack in by_stack:
            by_stack[stack].append((check_id, resource, outcome))
    first, second = (sorted(v) for v in by_stack.values())
    assert len(first) > 50
    assert first == second
