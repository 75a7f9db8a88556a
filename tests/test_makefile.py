"""`make help`, the first thing a newcomer runs: every target with a plain-text description."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT


def test_make_help_lists_every_documented_target_in_plain_text() -> None:
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = shown.stdout.splitlines()
    documented = re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert [line.split()[1] for line in lines] == documented
    assert not [line for line in lines if "$(" in line or "$$" in line]  # no unexpanded make variables
