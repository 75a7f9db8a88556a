"""`make validate` says what it is doing: a line per stack as each finishes (hundreds of accounts took over ten
minutes with no output). Terraform is replaced by a fake here; tests/test_terraform_validate.py runs the real one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from org_backup.ops import terraform_validate


def test_validate_prints_a_line_per_stack_as_it_finishes(
    synth: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = synth("minimal").outdir
    invalid = "central-backup"

    def fake_batch(_env: Any, stacks: list[Path]) -> dict[Path, dict[str, object]]:
        return {s: {"valid": s.name != invalid, "diagnostics": [], "warning_count": 0} for s in stacks}

    monkeypatch.setattr(terraform_validate, "validate_batch", fake_batch)
    assert terraform_validate.main([str(outdir)]) == 1
    lines = capsys.readouterr().out.splitlines()
    stacks = sorted(p.name for p in (outdir / "stacks").iterdir())
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == len(stacks)
    assert [line.split("] ", 1)[0] for line in progress] == [f"[{n}/{len(stacks)}" for n in range(1, len(stacks) + 1)]
    assert sorted(line.split("] ", 1)[1] for line in progress) == sorted(
        f"{s}: {'INVALID' if s == invalid else 'valid'}" for s in stacks
    )
    assert lines[-1] == f"{len(stacks) - 1} valid, 1 invalid"
