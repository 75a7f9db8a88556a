"""`terraform validate` of every synthesized stack with the real hashicorp/aws provider (5.100.0)."""

from __future__ import annotations

from typing import Any

import pytest

from org_backup.terraform import stack_dirs, validate_all

SCENARIOS = ["example", "minimal", "central_is_member", "connection_source"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_stack_is_valid_terraform(synth: Any, scenario: str) -> None:
    out = synth(scenario)
    results = validate_all(out.outdir)
    assert sorted(results) == [d.name for d in stack_dirs(out.outdir)] == out.stack_names
    invalid = {name: r["diagnostics"] for name, r in results.items() if not r["valid"]}
    assert invalid == {}
    warnings = {name: r["warning_count"] for name, r in results.items() if r["warning_count"]}
    assert warnings == {}
