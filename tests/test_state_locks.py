"""Fault injection (issue 29): a deploy killed mid-apply, and two deploys of one stack at once, with Terraform 1.11's
real S3 backend and S3-native locking (``use_lockfile``) against a local S3 (moto's server).

Terraform's built-in ``terraform_data`` with a slow provisioner stands in for a stack: what is under test is the
state and its lock, which are the same whatever the resources are. The lock object's name and content are
Terraform's (Terraform, "Backend Type: s3", State Locking: a ``.tflock`` object beside the state); the tests read
them as written, never as org_backup/ops/state_locks.py would write them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from org_backup.config.naming import BUILD_TIMEOUT_MINUTES
from org_backup.ops import state_locks
from org_backup.ops.terraform import TerraformEnv
from tests.conftest import ROOT
from tests.rehearsal.moto import MotoServer

pytestmark = [pytest.mark.terraform, pytest.mark.server]

BUCKET, PREFIX, STACK = "org-backup-tfstate", "org-backup", "member-100000000004"
KEY = f"{PREFIX}/{STACK}.tfstate"


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[tuple[MotoServer, Any]]:
    server = MotoServer(tmp_path / "moto.log")
    try:
        s3 = boto3.client(
            "s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        s3.create_bucket(Bucket=BUCKET)
        yield server, s3
    finally:
        server.stop()


def _stack(tmp_path: Path, url: str, seconds: int) -> tuple[Path, dict[str, str]]:
    stack = tmp_path / STACK
    stack.mkdir(exist_ok=True)
    backend = {
        "bucket": BUCKET, "key": KEY, "region": "us-east-1", "use_lockfile": True, "encrypt": True,
        "endpoints": {"s3": url}, "use_path_style": True, "skip_credentials_validation": True,
        "skip_requesting_account_id": True, "skip_metadata_api_check": True, "skip_region_validation": True,
    }  # fmt: skip
    slow = {"input": "vault", "provisioner": [{"local-exec": {"command": f"sleep {seconds}"}}]}
    document = {"terraform": {"backend": {"s3": backend}}, "resource": {"terraform_data": {"slow": slow}}}
    (stack / "main.tf.json").write_text(json.dumps(document))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1",
        TF_CLI_CONFIG_FILE=str(TerraformEnv.prepare().cli_config),
    )  # fmt: skip
    subprocess.run(
        ["terraform", "init", "-input=false", "-no-color"], cwd=stack, env=env, check=True, capture_output=True
    )
    return stack, env


def _apply(stack: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["terraform", "apply", "-input=false", "-no-color", "-auto-approve"],
        cwd=stack, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _wait_for_lock(s3: Any, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return dict(json.loads(s3.get_object(Bucket=BUCKET, Key=f"{KEY}.tflock")["Body"].read()))
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    raise AssertionError(f"no lock appeared; terraform said:\n{process.communicate()[0] if process.poll() else ''}")


def _resources(s3: Any) -> list[str]:
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())
    return [f"{r['type']}.{r['name']}" for r in state["resources"]]


def test_a_deploy_killed_mid_apply_leaves_a_lock_that_is_reported_then_cleared_and_the_next_run_converges(
    tmp_path: Path, s3_server: tuple[MotoServer, Any]
) -> None:
    server, s3 = s3_server
    stack, env = _stack(tmp_path, server.url, seconds=60)
    apply = _apply(stack, env)
    info = _wait_for_lock(s3, apply)
    time.sleep(1)  # into the provisioner: the apply is under way
    os.killpg(apply.pid, signal.SIGKILL)  # a CodeBuild timeout or a cancelled build: no clean-up runs
    apply.wait()
    assert s3.get_object(Bucket=BUCKET, Key=f"{KEY}.tflock")  # left behind

    (lock,) = state_locks.find(s3, BUCKET, PREFIX, [STACK])
    assert (lock.id, lock.operation, lock.who) == (info["ID"], info["Operation"], info["Who"])
    assert lock.operation == "OperationTypeApply"
    now = datetime.now(UTC)
    assert timedelta(0) <= lock.age(now) < timedelta(minutes=2)
    max_age = timedelta(minutes=BUILD_TIMEOUT_MINUTES)
    # Younger than the build timeout: its build may still run, so it is never removed, only reported.
    problems, notes = state_locks.check(s3, BUCKET, PREFIX, [STACK], max_age=max_age, clear=True, now=now)
    assert notes == []
    (problem,) = problems
    assert problem.startswith(f"{STACK}: state locked by {info['Who']} for OperationTypeApply since ")
    assert problem.endswith(
        f"another deploy may still be running. Fix: wait for it and run again; only if its build is certainly gone, "
        f"`(cd cdktf.out/stacks/{STACK} && terraform init && terraform force-unlock {info['ID']}) && "
        f"python -m org_backup.ops.unrecorded mark --stack {STACK}`."
    )
    # Older than the build timeout (CodeBuild stopped that build long ago): removed.
    later = now + max_age + timedelta(minutes=1)
    problems, notes = state_locks.check(s3, BUCKET, PREFIX, [STACK], max_age=max_age, clear=True, now=later)
    assert problems == [] and len(notes) == 1
    assert notes[0].endswith("the stale lock was removed and the stack marked interrupted.")
    assert state_locks.find(s3, BUCKET, PREFIX, [STACK]) == []
    # What the killed apply created but never recorded is adopted by the next deploy (org_backup/ops/unrecorded.py).
    marker = s3.get_object(Bucket=BUCKET, Key=state_locks.marker_key(PREFIX, STACK))["Body"].read()
    assert marker.decode() == info["ID"]

    # The next run converges: one resource, then nothing left to do.
    stack, env = _stack(tmp_path, server.url, seconds=0)
    again = _apply(stack, env)
    output = again.communicate(timeout=120)[0]
    assert again.returncode == 0, output
    assert _resources(s3) == ["terraform_data.slow"]
    plan = subprocess.run(
        ["terraform", "plan", "-input=false", "-no-color", "-detailed-exitcode"], cwd=stack, env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_two_deploys_of_one_stack_at_once_one_is_refused_and_the_state_stays_whole(
    tmp_path: Path, s3_server: tuple[MotoServer, Any]
) -> None:
    server, s3 = s3_server
    stack, env = _stack(tmp_path, server.url, seconds=8)
    first = _apply(stack, env)
    _wait_for_lock(s3, first)
    # make deploy's check before its cdktf deploy: a live lock stops the second deploy with a message.
    problems, _ = state_locks.check(
        s3, BUCKET, PREFIX, [STACK], max_age=timedelta(minutes=BUILD_TIMEOUT_MINUTES), clear=True,
        now=datetime.now(UTC),
    )  # fmt: skip
    assert len(problems) == 1 and "another deploy may still be running" in problems[0]
    # Terraform itself refuses too, should a second apply start anyway.
    second = _apply(stack, env)
    output = second.communicate(timeout=120)[0]
    assert second.returncode != 0
    assert "Error acquiring the state lock" in output, output
    assert first.communicate(timeout=120)[1] is None and first.returncode == 0
    assert _resources(s3) == ["terraform_data.slow"]
    assert state_locks.find(s3, BUCKET, PREFIX, [STACK]) == []  # released by the deploy that held it


def test_make_deploy_treats_a_lock_as_stale_after_the_pipelines_build_timeout() -> None:
    """The Makefile's default and the CodeBuild projects' timeout are one number (stacks/pipeline_builds.py)."""
    said = re.search(r"^LOCK_MAX_AGE_MINUTES \?= (\d+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert said is not None and int(said.group(1)) == BUILD_TIMEOUT_MINUTES
