"""The structure of the code: the layer contracts themselves run in ``make lint`` (import-linter, ``.importlinter``);
here, that the tool sees this code's imports at all (a contract that must break does), and the length rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_a_contract_this_code_breaks_is_reported_broken(tmp_path: Path) -> None:
    """Negative control: ``discover`` loads the config (org_backup/ops/discover.py imports org_backup.config.loader),
    so a contract putting config above ops must fail, naming that import; if import-linter saw no imports, every
    contract would pass vacuously."""
    contract = tmp_path / "reversed.ini"
    contract.write_text(
        "[importlinter]\nroot_packages =\n    org_backup\n\n"
        "[importlinter:contract:reversed]\nname = reversed\ntype = layers\n"
        "layers =\n    org_backup.config\n    org_backup.ops\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", str(contract)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stdout
    assert "reversed BROKEN" in run.stdout
    assert "org_backup.ops.discover -> org_backup.config.loader" in run.stdout


def test_no_python_file_over_450_lines() -> None:
    """A module a newcomer can read in one sitting; declarative data would be the exception, and there is none."""
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("stacks", "org_backup", "lambda_src")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {name: n for name, n in lengths.items() if n > 450} == {}
