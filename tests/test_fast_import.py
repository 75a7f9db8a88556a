"""How `make synth` runs fast: the provider-package import bypass (stacks/_provider_import.py) imports only the
submodules in use, and `python -O` skips the jsii type checks. The output must be byte-identical to a synth that
imports the whole package the normal way and runs with the checks on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_CONFIG, ROOT

PROBE = (
    "import sys; import stacks.app; "
    "mods = [m for m in sys.modules if m.startswith('cdktf_cdktf_provider_aws.')]; "
    "print(len(mods)); print('cdktf_cdktf_provider_aws.wafv2_web_acl' in sys.modules)"
)


def _run(code: str, outdir: Path | None = None, *, optimize: bool = False) -> str:
    env = dict(os.environ, BACKUP_CONFIG=str(EXAMPLE_CONFIG), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    if outdir is not None:
        env["CDKTF_OUTDIR"] = str(outdir)
    env.pop("ORG_BACKUP_LOCAL_API_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, *(["-O"] if optimize else []), "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def test_only_the_used_provider_submodules_are_imported() -> None:
    count, whole_package = _run(PROBE).split()
    assert whole_package == "False"
    assert 0 < int(count) < 200  # the package has 2,214 submodules; the stacks need about 80 (measured)


def _outputs(outdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outdir)): p.read_bytes() for p in sorted((outdir / "stacks").rglob("*")) if p.is_file()}


def test_output_is_byte_identical_to_a_normal_import_with_type_checks(tmp_path: Path) -> None:
    main = "import runpy; runpy.run_path('main.py', run_name='__main__')"
    _run(main, tmp_path / "fast", optimize=True)
    _run("assert __debug__; import cdktf_cdktf_provider_aws; " + main, tmp_path / "naive")
    fast, naive = _outputs(tmp_path / "fast"), _outputs(tmp_path / "naive")
    assert len(fast) > 9
    assert fast == naive
