"""Commands that need AWS credentials check for them first (issue 28): without any, `make plan`, `readiness`,
`wait-roles` and `credentials` stop with one line that says so and how to fix it, exit 2, and write nothing. Before,
`make plan` rewrote cdktf.out and died in a 50-line NoCredentialsError traceback, and `readiness` reported "all 0
tagged resources will be protected"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG, ROOT

NO_CREDENTIALS = "no AWS credentials found. Fix: sign in"


def _without_credentials(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ORG_BACKUP_"))}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",  # no instance metadata here: fail at once instead of after its timeouts
        BACKUP_CONFIG=str(EXAMPLE_CONFIG),
        HOME=str(tmp_path),
    )
    return env


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["credentials"], "credentials"),
        (["readiness"], "readiness"),
        (["wait-roles", "--role", "plan", "--stacks-file", "STACKS"], "wait-roles"),
    ],
)
def test_a_command_without_credentials_stops_in_one_line(argv: list[str], command: str, tmp_path: Path) -> None:
    stacks = tmp_path / "stacks.txt"
    stacks.write_text("member-444444444444\n")
    argv = [str(stacks) if a == "STACKS" else a for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "org_backup", *argv], cwd=ROOT, env=_without_credentials(tmp_path),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{command}: {NO_CREDENTIALS}"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("target", [["plan"], ["diff", "STACK=central-backup"]])
def test_make_plan_and_diff_without_credentials_write_nothing(target: list[str], tmp_path: Path) -> None:
    """The credentials check is the plan and diff targets' first command: cdktf.out and build/plans are not touched."""
    outdir, plans = ROOT / "cdktf.out", ROOT / "build" / "plans"

    def state() -> list[tuple[str, float]]:
        return [(str(p), p.stat().st_mtime) for d in (outdir, plans) if d.exists() for p in sorted(d.iterdir())]

    before = state()
    done = subprocess.run(
        ["make", "--no-print-directory", *target], cwd=ROOT, env=_without_credentials(tmp_path),
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{target[0]}: {NO_CREDENTIALS}" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert state() == before


def test_a_plan_role_synth_without_credentials_stops_before_writing(tmp_path: Path) -> None:
    """`ORG_BACKUP_ROLE=plan npx cdktf diff` runs main.py as its app, and the cdktf CLI tells it nothing about the
    command: the plan role's synth itself checks for credentials, so a diff without any stops in one line with the
    fix, before cdktf.out is written."""
    env = _without_credentials(tmp_path)
    env.update(ORG_BACKUP_ROLE="plan", CDKTF_OUTDIR=str(tmp_path / "cdktf.out"), ORG_BACKUP_SYNTH_CACHE="off")
    done = subprocess.run(
        [sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"ORG_BACKUP_ROLE=plan (make plan, cdktf diff): {NO_CREDENTIALS}"), line
    assert not (tmp_path / "cdktf.out").exists()
