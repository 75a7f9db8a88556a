"""The end-to-end run, started in the background as soon as pytest has collected an e2e test.

The run is a few minutes of Terraform against a moto server, mostly spent in subprocesses and in the AWS
provider's own waits (KMS and SQS propagation). Started when collection finishes, it overlaps the rest of the suite
on the same cores; the e2e tests run last and wait for it. Only the set-up (moto server, seeding, synth: jsii is
not thread-safe) runs on pytest's thread; the background thread starts nothing but Terraform and boto3 calls.

Progress goes straight to the terminal (a copy of stderr taken before pytest captures it), one line per stack and
step, so nobody watches a silent terminal: ``[e2e 1:05] member-123456789012: apply 54 resources ... ok (38 s)``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup import scan_set
from org_backup.naming import MEMBER_STACK_PREFIX
from org_backup.terraform import BUILD_DIR, TerraformEnv, stack_dirs
from tests.conftest import EXAMPLE_CONFIG
from tests.e2e.lifecycle import StackRun, run_lifecycle
from tests.e2e.moto import MotoServer, seed_organization, session_in, warm_iam


@dataclass
class E2E:
    endpoint: str
    config: dict[str, Any]
    outdir: Path
    runs: dict[str, StackRun]
    same_shape: dict[str, list[str]]  # member stack run -> member stacks of its shape, not run again
    seconds: float = 0.0
    failure: str | None = None  # set when the run itself broke (not one stack's step)
    log: list[str] = field(default_factory=list)

    def kind(self, stack: str) -> str:
        return stack.split("-", 1)[0] if stack.startswith(MEMBER_STACK_PREFIX) else stack


class ProgressLog:
    """Writes progress lines to a terminal file descriptor, and keeps them for the report."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._last_write = 0.0

    def __call__(self, stack: str, message: str) -> None:
        now = time.monotonic()
        elapsed = int(now - self.started)
        line = f"[e2e {elapsed // 60}:{elapsed % 60:02d}] {stack}: {message}"
        with self._lock:
            self.lines.append(line)
            # pytest may have written test dots since the last line: start on a new line unless ours came just before
            lead = "" if now - self._last_write < 1 else "\n"
            self._last_write = now
            if self.fd is not None:
                try:
                    os.write(self.fd, f"{lead}{line}\n".encode())
                except OSError:  # the session ended under us (interrupted): the report still gets the line
                    self.fd = None


E2E_STACKS_AT_ONCE = 3


def _cost(stack_dir: Path) -> int:
    """Longest first: Terraform's work grows with Regions (provider processes) times resources."""
    stack = json.loads((stack_dir / "cdk.tf.json").read_text())
    regions = len(stack.get("provider", {}).get("aws", []))
    return regions * sum(len(items) for items in stack.get("resource", {}).values())


class E2EJob:
    """Set up on the calling thread, then plan/apply/re-plan/destroy every stack on a background thread."""

    def __init__(self, workdir: Path, terminal_fd: int | None, synthesize: Callable[[Path], Path]) -> None:
        self.workdir = workdir
        self.progress = ProgressLog(terminal_fd)
        self._synthesize = synthesize
        self._server: MotoServer | None = None
        self._thread: threading.Thread | None = None
        self._result: E2E | None = None

    def start(self) -> None:
        self._server = MotoServer(self.workdir / "moto.log")
        endpoint = self._server.url
        try:
            config = seed_organization(endpoint, yaml.safe_load(EXAMPLE_CONFIG.read_text()), EXAMPLE_CONFIG.parent)
            config_path = self.workdir / "backup.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            outdir = self._synthesize(config_path)
        except BaseException:
            self._server.stop()
            raise
        groups = scan_set.representatives(outdir)
        result = E2E(endpoint=endpoint, config=config, outdir=outdir, runs={}, same_shape=groups)
        self._result = result
        self._thread = threading.Thread(target=self._run, args=(result,), name="e2e", daemon=True)
        self._thread.start()

    def _run(self, result: E2E) -> None:
        started = time.monotonic()
        try:
            env = TerraformEnv.prepare(AWS_ENDPOINT_URL=result.endpoint)  # see SynthOptions.local_api
            dirs = sorted(
                (d for d in stack_dirs(result.outdir) if d.name in result.same_shape), key=_cost, reverse=True
            )
            skipped = sorted(s for others in result.same_shape.values() for s in others)
            if skipped:
                self.progress(
                    "e2e", f"{len(dirs)} stacks; not run again (same shape as one that is): {', '.join(skipped)}"
                )
            organization = result.config["organization"]["management_account_id"]
            accounts = {organization, result.config["central_backup"]["account_id"]}
            accounts |= {result.config["pipeline"]["home_account_id"]}
            accounts |= {a for ou in result.config["target_ous"] for a in ou["accounts"]}
            for account in sorted(accounts):
                warm_iam(result.endpoint, account)
            verify = _verify(result.endpoint, result.config)
            plans = self.workdir / "plans"
            # Stacks are independent (own state, own accounts) and a stack's run is mostly the provider's propagation
            # waits (KMS ~12 s, SQS ~25 s per resource), not CPU: more run at once than there are cores. Three keep
            # the longest (the member stack, started first) on the critical path while the others pass beside it;
            # each running stack holds ~0.3 GB of Terraform plus its providers, which bounds the peak memory.
            with ThreadPoolExecutor(max_workers=E2E_STACKS_AT_ONCE) as pool:
                runs = list(
                    pool.map(lambda d: run_lifecycle(env, d, plans, progress=self.progress, verify=verify), dirs)
                )
            result.runs = {r.name: r for r in runs}
        except Exception as exc:
            result.failure = repr(exc)
        finally:
            assert self._server is not None
            self._server.stop()
            result.seconds = time.monotonic() - started
            result.log = self.progress.lines
            self.progress("e2e", f"done in {result.seconds:.0f} s")
            _write_report(result)

    def result(self) -> E2E:
        assert self._thread is not None and self._result is not None, "start() was not called"
        self._thread.join()
        return self._result

    def stop(self) -> None:
        """pytest's clean-up, also after an interrupt: the moto server never outlives the session."""
        if self._server is not None:
            self._server.stop()


def _verify(endpoint: str, config: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    """After apply: each member vault exists in the member's own account and Region, under that account's key;
    the SCPs are attached to exactly the OUs the config names."""

    def verify(stack: str) -> dict[str, Any]:
        if stack == "management":
            org = session_in(endpoint, config["organization"]["management_account_id"]).client(
                "organizations", endpoint_url=endpoint, region_name="us-east-1"
            )
            return {
                ou["id"]: sorted(
                    p["Name"]
                    for p in org.list_policies_for_target(TargetId=ou["id"], Filter="SERVICE_CONTROL_POLICY")[
                        "Policies"
                    ]
                )
                for ou in config["target_ous"]
            }
        if not stack.startswith(MEMBER_STACK_PREFIX):
            return {}
        account = stack.removeprefix(MEMBER_STACK_PREFIX)
        session = session_in(endpoint, account)
        found = {}
        for region in config["target_regions"]:
            backup = session.client("backup", endpoint_url=endpoint, region_name=region)
            vaults = {v["BackupVaultName"]: v for v in backup.list_backup_vaults()["BackupVaultList"]}
            vault = vaults.get(config["names"]["member_vault"])
            found[region] = vault and vault["EncryptionKeyArn"].split(":")[4] == account
            policy = backup.get_backup_vault_access_policy(BackupVaultName=config["names"]["member_vault"])
            found[f"{region} access policy"] = json.loads(policy["Policy"])["Statement"] != []
        return found

    return verify


def _write_report(result: E2E) -> None:
    """build/e2e-report.json: what was applied and planned only, per stack (quoted in closing notes)."""
    BUILD_DIR.mkdir(exist_ok=True)
    report = {
        "seconds": round(result.seconds, 1),
        "failure": result.failure,
        "same_shape_not_run_again": result.same_shape,
        "progress": result.log,
        "stacks": {
            name: {
                "planned": len(run.planned),
                "applied": len(run.applied),
                "planned_only": run.excluded,
                "seconds": round(run.seconds, 1),
            }
            for name, run in result.runs.items()
        },
    }
    (BUILD_DIR / "e2e-report.json").write_text(json.dumps(report, indent=2, sort_keys=True))


def start(session: pytest.Session) -> E2EJob:
    """The early start of the ``e2e`` fixture (tests/conftest.py EARLY_STARTS)."""
    import shutil

    from org_backup.inputs import Inputs
    from stacks.app import synthesize
    from stacks.common import SynthOptions
    from tests.conftest import terminal_fd

    workdir = BUILD_DIR / "e2e"  # kept after the run for inspection: moto.log, plans, states
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    def synthesize_for(config: Path) -> Path:
        outdir = workdir / "cdktf.out"
        synthesize(inputs=Inputs.load(config), outdir=outdir, options=SynthOptions(local_api=True))
        return outdir

    job = E2EJob(workdir, terminal_fd(session), synthesize_for)
    session.config.add_cleanup(job.stop)
    job.start()
    return job
