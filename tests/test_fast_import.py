"""How `make synth` runs fast: the provider-package import bypass (stacks/_provider_import.py) imports only the
submodules in use, and `python -O` skips the jsii type checks. The output must be byte-identical to a synth that
imports the whole package the normal way and runs with the checks on.

Two fresh interpreters (one per import route), started as soon as pytest has collected these tests (see
EARLY_STARTS in tests/conftest.py); the fast one also reports which provider submodules it loaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG, ROOT, early_work

# Two fresh interpreters, each a whole synth (~20 s of CPU together): in make test, not in make test-fast.
pytestmark = pytest.mark.slow

MAIN = "import runpy; runpy.run_path('main.py', run_name='__main__')"
# main.main(), then the provider submodules that synth imported, written to PROBE_OUT.
PROBE = (
    "import json, os, runpy, sys; code = runpy.run_path('main.py', run_name='probe')['main'](); "
    "modules = sorted(m for m in sys.modules if m.startswith('cdktf_cdktf_provider_aws.')); "
    "open(os.environ['PROBE_OUT'], 'w').write(json.dumps(modules)); sys.exit(code)"
)


def _start(code: str, outdir: Path, *, optimize: bool = False, **env_extra: str) -> subprocess.Popen[str]:
    # Without make's JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: main.py, run directly, must keep jsii quiet itself.
    env = {k: v for k, v in os.environ.items() if k != "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"}
    env.update(BACKUP_CONFIG=str(EXAMPLE_CONFIG), CDKTF_OUTDIR=str(outdir))
    env.update(env_extra)
    env.pop("ORG_BACKUP_LOCAL_API", None)
    return subprocess.Popen(
        [sys.executable, *(["-O"] if optimize else []), "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Interpreters:
    """The same synth in two fresh interpreters, running side by side: as `make synth` runs it (-O, bypass) into
    ``root/fast``, and the naive way (whole package, checks on) into ``root/naive``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes = {
            "fast": _start(PROBE, root / "fast", optimize=True, PROBE_OUT=str(root / "modules.json")),
            "naive": _start(
                "assert __debug__; import cdktf_cdktf_provider_aws; " + MAIN,
                root / "naive",
                JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",  # imports jsii before main.py can set it
            ),
        }

    def wait(self) -> Path:
        for name, process in self.processes.items():
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, f"{name} synth failed:\n{output[-3000:]}"
            (self.root / f"{name}.log").write_text(output)
        return self.root


def start(session: pytest.Session) -> Interpreters:
    """The early start of ``fresh_interpreter_synths`` (tests/conftest.py EARLY_STARTS)."""
    root = Path(tempfile.mkdtemp(prefix="org-backup-fast-import-"))
    interpreters = Interpreters(root)
    session.config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
    session.config.add_cleanup(lambda: [p.kill() for p in interpreters.processes.values() if p.poll() is None])
    return interpreters


def _outputs(outdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outdir)): p.read_bytes() for p in sorted((outdir / "stacks").rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def fresh_interpreter_synths(request: pytest.FixtureRequest) -> Path:
    return early_work(request, "fresh_interpreter_synths").wait()


def test_only_the_used_provider_submodules_are_imported(fresh_interpreter_synths: Path) -> None:
    modules = json.loads((fresh_interpreter_synths / "modules.json").read_text())
    assert "cdktf_cdktf_provider_aws.wafv2_web_acl" not in modules
    assert "cdktf_cdktf_provider_aws.backup_vault" in modules
    assert 0 < len(modules) < 200  # the package has 2,214 submodules; the stacks need about 80 (measured)


def test_output_is_byte_identical_to_a_normal_import_with_type_checks(fresh_interpreter_synths: Path) -> None:
    fast, naive = _outputs(fresh_interpreter_synths / "fast"), _outputs(fresh_interpreter_synths / "naive")
    assert len(fast) > 9
    assert fast == naive


def test_main_run_directly_prints_no_jsii_banner(fresh_interpreter_synths: Path) -> None:
    """Run without make (issue 28): jsii's Node 20 end-of-life banner came out as a dozen b'!!...' lines. main.py
    silences it for Node 20 only (docs/deploy.md, Set up, says so once); on another Node there is no banner to print."""
    log = (fresh_interpreter_synths / "fast.log").read_text()
    assert "b'!!" not in log and "end-of-life" not in log, log[:2000]
    assert "stacks (role deploy) from" in log
