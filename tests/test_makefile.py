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


def test_make_schema_writes_both_committed_schemas_unchanged() -> None:
    """`make schema` as a user runs it: the config's and the plans file's JSON schemas, byte for byte as committed
    (tests/test_config.py and tests/test_backup_policy.py compare each with the model)."""
    files = [ROOT / "backup.schema.json", ROOT / "backup-plans.schema.json"]
    before = [path.read_bytes() for path in files]
    subprocess.run(["make", "--no-print-directory", "schema"], cwd=ROOT, capture_output=True, check=True)
    assert [path.read_bytes() for path in files] == before
    assert all(b'"$schema": "https://json-schema.org/draft/2020-12/schema"' in content for content in before)
