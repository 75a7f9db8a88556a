"""``make bootstrap`` with --auto-approve: steps 2-4 side by side, step 5 (pipeline, state in S3) once step 2's
bucket can hold state, not once step 2 has finished its ~1 minute lifecycle wait. The whole bootstrap runs for real
in the rehearsal (tests/rehearsal); here the ordering and the readiness check, against in-process moto."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from org_backup.config.loader import load_config
from org_backup.config.model import S3Backend
from org_backup.config.naming import STATE_KEY_ALIAS
from org_backup.ops import bootstrap
from tests.conftest import EXAMPLE_CONFIG

REGION = "eu-west-1"
BUCKET = "org-backup-tfstate-test"


def _config() -> Any:
    config = load_config(EXAMPLE_CONFIG)
    backend = S3Backend(type="s3", bucket=BUCKET, region=config.pipeline_region, key_prefix="org-backup")
    return config.model_copy(update={"state_backend": backend})


def _make_state_bucket(session: boto3.Session, *, up_to: str) -> None:
    """The state bucket as bootstrap-home's resources make it, in their order, stopping after ``up_to``."""
    s3, kms = session.client("s3", region_name=REGION), session.client("kms", region_name=REGION)
    steps = ["bucket", "versioning", "encryption", "public-access-block", "policy", "alias"]
    key = kms.create_key()["KeyMetadata"]["Arn"]
    for step in steps[: steps.index(up_to) + 1]:
        if step == "bucket":
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        elif step == "versioning":
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        elif step == "encryption":
            by_default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
            s3.put_bucket_encryption(
                Bucket=BUCKET,
                ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": by_default}]},
            )
        elif step == "public-access-block":
            s3.put_public_access_block(
                Bucket=BUCKET, PublicAccessBlockConfiguration=dict.fromkeys(bootstrap.PUBLIC_ACCESS_BLOCKS, True)
            )
        elif step == "policy":
            statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}"}
            s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
        else:
            kms.create_alias(AliasName=STATE_KEY_ALIAS, TargetKeyId=key)


@pytest.mark.parametrize("up_to", ["bucket", "versioning", "encryption", "public-access-block", "policy", "alias"])
def test_the_state_bucket_is_ready_only_once_everything_but_its_lifecycle_is_in_place(up_to: str) -> None:
    with mock_aws():
        session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)
        alias_arn = f"arn:aws:kms:{REGION}:123456789012:{STATE_KEY_ALIAS}"
        assert not bootstrap.state_bucket_ready(session, BUCKET, alias_arn, REGION)  # no bucket at all
        _make_state_bucket(session, up_to=up_to)
        assert bootstrap.state_bucket_ready(session, BUCKET, alias_arn, REGION) is (up_to == "alias")


class _Run:
    """A Bootstrap whose terraform applies are replaced by recorded, timed stand-ins."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, home_fails_early: bool = False) -> None:
        config = _config()
        self.events: list[str] = []
        self.bucket_ready = threading.Event()
        outdir = tmp_path / "cdktf.out"
        for stack in ("bootstrap-home", "bootstrap-management", "bootstrap-central", "pipeline"):
            (outdir / "stacks" / stack).mkdir(parents=True)
            (outdir / "stacks" / stack / "cdk.tf.json").write_text(json.dumps({"stack": stack}))
        self.bootstrap = bootstrap.Bootstrap(
            config,
            outdir,
            {"management": "m", "home": "h", "central": "c"},
            auto_approve=True,
            record_path=tmp_path / "bootstrap.json",
            say=lambda line: None,
            session=lambda profile: None,  # type: ignore[arg-type,return-value]
        )
        monkeypatch.setattr(bootstrap.Bootstrap, "_check_account", lambda self, number, step: None)
        monkeypatch.setattr(bootstrap.Bootstrap, "_prerequisites", lambda self, number, step: None)
        monkeypatch.setattr(bootstrap, "STATE_BUCKET_POLL_S", 0.01)
        monkeypatch.setattr(bootstrap, "state_bucket_ready", lambda *args: self.bucket_ready.is_set())
        monkeypatch.setattr(bootstrap.Bootstrap, "_apply", self._apply)
        self.home_fails_early = home_fails_early

    def _apply(self, number: int, total: int, step: bootstrap.Step, *, prefixed: bool = False) -> None:
        self.events.append(f"start {step.name}")
        if step.name == "bootstrap-home":
            time.sleep(0.1)
            if self.home_fails_early:
                self.events.append("fail bootstrap-home")
                raise bootstrap.BootstrapError("step 2 (bootstrap-home): `terraform apply` failed (exit 1)")
            self.bucket_ready.set()  # the bucket and its settings: the lifecycle rule's wait comes next
            self.events.append("bucket ready")
            time.sleep(0.5)
        self.events.append(f"end {step.name}")


def test_the_pipeline_starts_once_the_state_bucket_is_ready_not_once_step_2_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _Run(tmp_path, monkeypatch)
    assert run.bootstrap.run() == 0
    events = run.events
    side_by_side = ("start bootstrap-home", "start bootstrap-management", "start bootstrap-central")
    assert max(events.index(e) for e in side_by_side) < events.index("bucket ready")
    assert events.index("bucket ready") < events.index("start pipeline") < events.index("end bootstrap-home")
    recorded = json.loads((tmp_path / "bootstrap.json").read_text())
    assert sorted(recorded) == ["bootstrap-central", "bootstrap-home", "bootstrap-management", "pipeline"]


def test_a_step_2_that_fails_before_its_bucket_is_ready_stops_the_pipeline_and_keeps_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _Run(tmp_path, monkeypatch, home_fails_early=True)
    with pytest.raises(bootstrap.BootstrapError, match="bootstrap-home"):
        run.bootstrap.run()
    assert "start pipeline" not in run.events
    recorded = json.loads((tmp_path / "bootstrap.json").read_text())
    assert sorted(recorded) == ["bootstrap-central", "bootstrap-management"]  # done, skipped on the next run


def test_without_auto_approve_every_step_runs_alone_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _Run(tmp_path, monkeypatch)
    run.bootstrap.auto_approve = False
    assert run.bootstrap.run() == 0
    assert run.events == [
        "start bootstrap-home",
        "bucket ready",
        "end bootstrap-home",
        "start bootstrap-management",
        "end bootstrap-management",
        "start bootstrap-central",
        "end bootstrap-central",
        "start pipeline",
        "end pipeline",
    ]
