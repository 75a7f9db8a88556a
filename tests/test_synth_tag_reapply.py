"""Synth tests of the tag re-application infrastructure in member stacks, and of its deterministic zip."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from org_backup.config.yaml_io import dump_yaml
from org_backup.synth import lambda_package
from tests.conftest import MINIMAL_CONFIG, SHARED_FILES, Synthesized, load_lambda

# cdktf and stacks are imported where used: importing them starts jsii (~3 s), and make test's rehearsal starts only
# once pytest has collected every test file (tests/conftest.py, EARLY_STARTS).

(resources,) = load_lambda("tag_reapply", "resources")

STACK = "member-444444444444"
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]


@pytest.fixture(scope="module")
def example(synth: Any) -> Synthesized:
    return synth("example")


def _by_region(resources_: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["provider"].removeprefix("aws."): r for r in resources_.values()}


def test_one_function_per_region_with_the_required_settings(example: Synthesized) -> None:
    functions = _by_region(example.resources(STACK, "aws_lambda_function"))
    (role_id,) = [
        i for i, r in example.resources(STACK, "aws_iam_role").items() if r["name"] == "OrgBackupTagReapplyRole"
    ]
    assert sorted(functions) == sorted(REGIONS)
    for function in functions.values():
        assert function["function_name"] == "org-backup-tag-reapply"
        assert function["runtime"] == "python3.12"
        assert function["architectures"] == ["arm64"]
        assert function["handler"] == "handler.lambda_handler"
        assert function["tracing_config"] == {"mode": "Active"}
        assert "reserved_concurrent_executions" not in function  # opt-in: see the next test
        assert function["environment"] == {"variables": {"EXCLUDED_TAG_KEYS": ""}}
        assert function["kms_key_arn"].startswith("${aws_kms_key.tag-reapply-")
        assert function["dead_letter_config"]["target_arn"].startswith("${aws_sqs_queue.tag-reapply-")
        assert function["role"] == f"${{aws_iam_role.{role_id}.arn}}"


def test_source_code_hash_is_the_hash_of_the_shipped_zip(example: Synthesized) -> None:
    for name, function in example.resources(STACK, "aws_lambda_function").items():
        asset = example.outdir / "stacks" / STACK / function["filename"]
        digest = base64.b64encode(hashlib.sha256(asset.read_bytes()).digest()).decode()
        assert function["source_code_hash"] == digest, name
        with zipfile.ZipFile(asset) as archive:
            assert sorted(archive.namelist()) == ["event.py", "handler.py", "resources.py", *SHARED_FILES, "tags.py"]


def test_logs_and_dead_letters_are_encrypted_and_kept(example: Synthesized) -> None:
    for group in example.resources(STACK, "aws_cloudwatch_log_group").values():
        assert group["name"] == "/aws/lambda/org-backup-tag-reapply"
        assert group["retention_in_days"] == 365
        assert group["kms_key_id"].startswith("${aws_kms_key.")
    queues = [q for q in example.resources(STACK, "aws_sqs_queue").values() if "tag-reapply" in q["name"]]
    assert len(queues) == 3
    for queue in queues:
        assert queue["kms_master_key_id"].startswith("${aws_kms_key.")
        assert queue["message_retention_seconds"] == 1209600
        send, tls = json.loads(queue["policy"])["Statement"]
        assert send["Principal"] == {"Service": "events.amazonaws.com"} and send["Action"] == "sqs:SendMessage"
        (rule_arn,) = send["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert rule_arn.endswith(":rule/org-backup-restore-completed")
        assert send["Resource"] == tls["Resource"] and send["Resource"].endswith(":org-backup-tag-reapply-dlq")
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert "aws_sqs_queue_policy" not in example.stack(STACK)["resource"]  # the policy is the queue's: one wait


def test_rule_matches_completed_restores_and_target_retries_into_the_dlq(example: Synthesized) -> None:
    rules = {n: r for n, r in example.resources(STACK, "aws_cloudwatch_event_rule").items() if "tag-reapply" in n}
    assert len(rules) == 3
    for rule in rules.values():
        assert json.loads(rule["event_pattern"]) == {
            "source": ["aws.backup"],
            "detail-type": ["Restore Job State Change"],
            "detail": {"status": ["COMPLETED"]},
        }
    targets = [t for n, t in example.resources(STACK, "aws_cloudwatch_event_target").items() if "tag-reapply" in n]
    assert len(targets) == 3
    for target in targets:
        assert target["retry_policy"] == {"maximum_retry_attempts": 24, "maximum_event_age_in_seconds": 21600}
        assert target["dead_letter_config"]["arn"].startswith("${aws_sqs_queue.")
    for permission in example.resources(STACK, "aws_lambda_permission").values():
        assert permission["principal"] == "events.amazonaws.com"
        assert permission["source_arn"].startswith("${aws_cloudwatch_event_rule.") and permission[
            "source_arn"
        ].endswith(".arn}")
    import cdktf

    assert cdktf.Testing.to_have_resource_with_properties(
        example.text(STACK),
        "aws_lambda_function_event_invoke_config",
        {"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 21600},
    )


def test_role_grants_exactly_what_the_function_uses(example: Synthesized) -> None:
    (role,) = [r for r in example.resources(STACK, "aws_iam_role").values() if r["name"] == "OrgBackupTagReapplyRole"]
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "444444444444"}
    }
    used = {action for adapter in resources.ALL_ADAPTERS for action in adapter.actions} | set(resources.LOOKUP_ACTIONS)
    own = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey",
           "xray:PutTelemetryRecords", "xray:PutTraceSegments"}  # fmt: skip
    policies = _by_region(example.resources(STACK, "aws_iam_role_policy"))
    assert sorted(policies) == sorted(REGIONS)
    for region, policy in policies.items():
        statements = json.loads(policy["policy"])["Statement"]
        granted = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert granted == used | own, region
        resources_ = [
            r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        ]
        for arn in resources_:
            # EBS snapshots and AMIs are the only ARNs with a Region and no account (AWS Backup, access control).
            in_scope = f":{region}:444444444444:" in arn or arn.startswith(f"arn:aws:ec2:{region}::")
            assert arn == "*" or arn.startswith("arn:aws:s3:::") or in_scope, arn
        # The recovery point of an EBS volume, EC2 instance or RDS database is a snapshot or AMI, not a
        # backup:recovery-point ARN: DescribeRecoveryPoint must reach those too.
        describe = [
            r
            for s in statements
            if "backup:DescribeRecoveryPoint" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        ]
        for arn in (
            f"arn:aws:backup:{region}:444444444444:recovery-point:*",
            f"arn:aws:ec2:{region}::snapshot/*",
            f"arn:aws:ec2:{region}::image/ami-*",
            f"arn:aws:rds:{region}:444444444444:snapshot:awsbackup:*",
            f"arn:aws:rds:{region}:444444444444:cluster-snapshot:awsbackup:*",
        ):
            assert arn in describe, (region, arn)


def test_operations_key_lets_logs_and_eventbridge_use_it_only_for_this_function(example: Synthesized) -> None:
    keys = [k for k in example.resources(STACK, "aws_kms_key").values() if "tag re-application" in k["description"]]
    assert len(keys) == 3
    for key in keys:
        region = key["provider"].removeprefix("aws.")
        statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
        logs = statements["CloudWatchLogsForTheFunctionLogGroup"]
        assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
        assert logs["Condition"] == {
            "ArnEquals": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:444444444444:log-group:/aws/lambda/org-backup-tag-reapply"
            }
        }
        # EventBridge user guide: for an encrypted SQS target (the DLQ) the key policy statement has no condition.
        events = statements["EventBridgeDeadLetterQueueOfTheRestoreRule"]
        assert events["Principal"] == {"Service": "events.amazonaws.com"} and "Condition" not in events
        assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_reserved_concurrency_is_set_only_when_configured(synth: Any) -> None:
    """Off by default (Lambda keeps 100 executions unreserved; accounts with a quota of 10 cannot reserve any)."""
    (function,) = synth("connection_source").resources("member-300000000004", "aws_lambda_function").values()
    assert function["reserved_concurrent_executions"] == 5


def test_disabled_function_synthesizes_nothing_of_it(synth: Any, tmp_path: Path) -> None:
    import yaml

    config = yaml.safe_load((MINIMAL_CONFIG).read_text())
    config["tag_reapply"] = {"enabled": False}
    path = tmp_path / "no-reapply.yaml"
    path.write_text(dump_yaml(config))
    out = synth(path)
    stack = out.stack("member-100000000004")["resource"]
    assert "aws_lambda_function" not in stack and "aws_cloudwatch_event_rule" not in stack
    assert [r["name"] for r in stack["aws_iam_role"].values()] == ["AWSBackupSolutionRole"]


def test_zip_is_deterministic_and_follows_the_sources(tmp_path: Path) -> None:
    src = tmp_path / "fn"
    shutil.copytree(lambda_package.LAMBDA_SRC / "tag_reapply", src, ignore=shutil.ignore_patterns("__pycache__"))
    first = lambda_package.zip_bytes(src)
    (src / "handler.py").touch()  # a new mtime alone changes nothing
    (src / "__pycache__").mkdir(exist_ok=True)
    (src / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"cache")
    assert lambda_package.zip_bytes(src) == first
    (src / "tags.py").write_text((src / "tags.py").read_text() + "\n# changed\n")
    assert lambda_package.zip_bytes(src) != first


@pytest.mark.parametrize("function", ["tag_reapply", "restore_validation", "pr_approval"])
def test_each_shipped_zip_imports_its_handler_on_its_own(function: str, tmp_path: Path) -> None:
    """The zip as Lambda unpacks it (its root on sys.path, nothing of this checkout): the handler and what it imports
    from shared/ load, so a file left out of the package fails here, not on the first event."""
    package = lambda_package.build(function, tmp_path / "zips")
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(tmp_path / "task")
    # Lambda resolves the function's handler setting, handler.lambda_handler (stacks/event_function.py), this way.
    code = "import sys; sys.path.insert(0, '.'); import handler; print(callable(handler.lambda_handler))"
    run = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=tmp_path / "task", env={"AWS_DEFAULT_REGION": "eu-west-1", "PATH": os.environ["PATH"]},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert (run.returncode, run.stdout.strip()) == (0, "True"), run.stderr


def test_a_zip_appears_under_its_name_only_once_written_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A synth stopped between writing and naming the zip (here: the rename fails) leaves no file under the name a
    concurrent synth would trust; a whole build leaves only the zip."""
    out = tmp_path / "zips"

    def stopped(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lambda_package.os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        lambda_package.build("tag_reapply", out)
    assert not list(out.iterdir())
    monkeypatch.undo()
    package = lambda_package.build("tag_reapply", out)
    assert sorted(p.name for p in out.iterdir()) == [package.path.name]
    assert zipfile.ZipFile(package.path).testzip() is None
