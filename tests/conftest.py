"""Shared fixtures: synthesize a named config once per session, and read the synthesized stacks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLE_CONFIG = ROOT / "backup.yaml"

sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def fixture_config(name: str | Path) -> Path:
    """A scenario name under tests/fixtures/ ("example" is the committed backup.yaml), or a path."""
    if isinstance(name, Path):
        return name
    return EXAMPLE_CONFIG if name == "example" else FIXTURES / f"{name}.yaml"


class Synthesized:
    """The output of one synth: stack names and their parsed cdk.tf.json."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir

    @property
    def stack_names(self) -> list[str]:
        return sorted(p.name for p in (self.outdir / "stacks").iterdir())

    def text(self, stack: str) -> str:
        return (self.outdir / "stacks" / stack / "cdk.tf.json").read_text(encoding="utf-8")

    def stack(self, stack: str) -> dict[str, Any]:
        return json.loads(self.text(stack))

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.stack(stack).get("resource", {}).get(resource_type, {})


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    """``synth("example")`` synthesizes a fixture config once per session (jsii start-up is the slow part)."""
    from org_backup.inputs import Inputs
    from stacks.app import synthesize
    from stacks.common import SynthOptions

    cache: dict[tuple[str | Path, str | None], Synthesized] = {}

    def run(name: str | Path, *, local_api_endpoint: str | None = None) -> Synthesized:
        key = (name, local_api_endpoint)
        if key not in cache:
            label = name.stem if isinstance(name, Path) else name
            outdir = tmp_path_factory.mktemp(f"synth-{label}") / "cdktf.out"
            inputs = Inputs.load(fixture_config(name))
            synthesize(inputs=inputs, outdir=outdir, options=SynthOptions(local_api_endpoint=local_api_endpoint))
            cache[key] = Synthesized(outdir)
        return cache[key]

    return run
