"""Shared fixtures: synthesize a named config once per session, and read the synthesized stacks."""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.loaders
import botocore.session
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLE_CONFIG = ROOT / "backup.yaml"
MINIMAL_CONFIG = ROOT / "backup.minimal.yaml"  # the smallest valid config, the README's starting point

sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Go's garbage collector runs 4x less often in every terraform and provider process the tests start: make test took
# 254 s of CPU with Go's default, 214 s with this (docs/testing.md, "Tests"), for ~290 MB instead of ~120 MB of heap per
# provider process. The suite's memory peak stays ~4 GB; users' runs keep Go's default.
os.environ.setdefault("GOGC", "400")
# Every `python main.py` a test starts synthesizes: a test comparing two synths must never compare a synth with a
# copy of itself (the synth cache, org_backup/synth/cache.py). Its own tests point it at a temporary directory; the
# rehearsal's `make` runs use it as a user's do, in their scratch repository.
os.environ["ORG_BACKUP_SYNTH_CACHE"] = "off"
# moto's EC2 loads ~30,000 default AMIs (JSON) into every account and Region it touches: 4 s of a 8 s test file. The
# tests that need an image make their own.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# One botocore data loader for the whole test process: every boto3 Session otherwise re-reads and re-parses each
# service model JSON it uses (888 loads, 15 s of make test-fast's CPU, measured with cProfile). The models are read-
# only data; the package's own code is unchanged (each of its Sessions still builds its own loader in production).
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)  # type: ignore[attr-defined]


# What every function's zip holds besides its own modules (lambda_src/shared/).
SHARED_FILES = ("shared/__init__.py", "shared/events.py", "shared/logs.py")


def load_lambda(function: str, *modules: str) -> tuple[ModuleType, ...]:
    """Import modules of ``lambda_src/<function>/`` as Lambda does (the zip's root on the path: the function's modules
    and ``shared``, plain module names), without leaving them in ``sys.modules``: two functions each have a
    ``handler`` and an ``event`` module, and one test session imports both."""
    folder = ROOT / "lambda_src" / function
    names = [path.stem for path in folder.glob("*.py")]
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path[:0] = [str(folder), str(ROOT / "lambda_src")]  # the zip's root: the function's files and shared/
    try:
        return tuple(importlib.import_module(name) for name in modules)
    finally:
        sys.path.remove(str(folder))
        sys.path.remove(str(ROOT / "lambda_src"))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def fixture_config(name: str | Path) -> Path:
    """A scenario name under tests/fixtures/ ("example" and "minimal" are the committed backup.yaml and backup.minimal.yaml), or a path."""
    if isinstance(name, Path):
        return name
    return {"example": EXAMPLE_CONFIG, "minimal": MINIMAL_CONFIG}.get(name, FIXTURES / f"{name}.yaml")


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
    """``synth("example")`` synthesizes a fixture config once per session (jsii start-up is the slow part).

    The output is shared by every test that asks for the same config, role and endpoint: read it, never change it
    (copy it with ``shutil.copytree`` first)."""
    from org_backup.synth.inputs import Inputs
    from stacks.app import synthesize
    from stacks.common import SynthOptions

    cache: dict[tuple[str | Path, bool, str], Synthesized] = {}

    def run(name: str | Path, *, local_api: bool = False, role: str = "deploy") -> Synthesized:
        key = (name, local_api, role)
        if key not in cache:
            label = name.stem if isinstance(name, Path) else name
            outdir = tmp_path_factory.mktemp(f"synth-{label}") / "cdktf.out"
            inputs = Inputs.load(fixture_config(name))
            options = SynthOptions(local_api=local_api, role=role)  # type: ignore[arg-type]
            synthesize(inputs=inputs, outdir=outdir, options=options)
            cache[key] = Synthesized(outdir)
        return cache[key]

    return run


@pytest.fixture(scope="session")
def policies_in_management(synth: Callable[..., Synthesized], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The example with its policies managed from the management account (``organization.policy_admin_account_id``
    set to it): the layout of deployments before delegation, and of organizations that keep it."""
    import yaml

    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["organization"]["policy_admin_account_id"] = data["organization"]["management_account_id"]
    data["backup_plans_file"] = str(ROOT / data["backup_plans_file"])
    path = tmp_path_factory.mktemp("policies-in-management") / "backup.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return synth(path)


# --- Early starts. Some fixtures wait on minutes of work in subprocesses (Terraform against moto, fresh Python
# interpreters). When collection has selected a test that uses one, its work starts right away, before the first
# test, so the rest of the suite runs meanwhile on the same cores; those tests run last, when it is nearly done.
# The fixture takes its handle from ``early_work(request, <fixture name>)``.
EARLY_STARTS = {  # fixture name -> "module:function" taking the pytest session, returning the handle
    "rehearsal": "tests.rehearsal.harness:start",
    "fresh_interpreter_synths": "tests.test_fast_import:start",
}
STARTED = pytest.StashKey[dict[str, Any]]()


def _waits_on_early_work(item: pytest.Item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in EARLY_STARTS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_waits_on_early_work)  # stable: every other test keeps its order


def pytest_collection_finish(session: pytest.Session) -> None:
    needed = {name for item in session.items for name in EARLY_STARTS if name in getattr(item, "fixturenames", ())}
    started: dict[str, Any] = {}
    session.config.stash[STARTED] = started
    if session.config.option.collectonly:
        return
    if hasattr(session.config, "workerinput"):
        # A pytest-xdist worker: each worker collects every test and would start its own copy of this work, whatever
        # tests it is then given. There the work starts when a test first asks for it (early_work).
        return
    for name in EARLY_STARTS:  # in this order: the longest first
        if name in needed:
            started[name] = _start(name, session)
    if "rehearsal" in started and sys.platform == "linux":  # elsewhere the nice value is per process: left alone
        # The rehearsal is the suite's critical path (make test ends when it does); the other tests finish minutes
        # earlier. On Linux the nice value is per thread (sched(7)) and inherited by what a thread starts: this
        # thread (the other tests, their synths and terraform runs) yields the CPU to the rehearsal's thread, moto
        # server and Terraform processes, started above at the default priority. The lowest priority (19): at 10 the
        # rehearsal still took 417 s inside make test against 403 s alone; the rehearsal leaves a core idle for most of
        # its run (its time is mostly the provider's waits), so the other tests still finish minutes before it.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    elif "fresh_interpreter_synths" in started and sys.platform == "linux":
        # Without the rehearsal (e.g. pytest -m slow) the critical path is this thread: the two fresh interpreters, done
        # long before it, yield the CPU to it instead (three runnable processes on a 2-core runner otherwise).
        for process in started["fresh_interpreter_synths"].processes.values():
            os.setpriority(os.PRIO_PROCESS, process.pid, 10)


def _start(name: str, session: pytest.Session) -> Any:
    module, function = EARLY_STARTS[name].split(":")
    return getattr(importlib.import_module(module), function)(session)


def early_work(request: pytest.FixtureRequest, name: str) -> Any:
    """The handle of the early start ``name``; started now if collection did not start it (a pytest-xdist worker)."""
    started = request.config.stash[STARTED]
    if name not in started:
        started[name] = _start(name, request.session)
    return started[name]


def terminal_fd(session: pytest.Session) -> int:
    """A copy of the real stderr, for progress lines while pytest captures output (closed at the session's end)."""
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        fd = os.dup(2)
    session.config.add_cleanup(lambda: os.close(fd))
    return fd
