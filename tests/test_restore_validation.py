"""The restore-test validation Lambda: every type's health check against moto, a failed check, a resource that is
still starting, events that are not restore tests, and a throttled PutRestoreValidationResult. moto has neither
PutRestoreValidationResult nor DescribeRestoreJob: botocore's Stubber answers those two, and fails the test if the
function calls them with other parameters (or at all, when no answer is queued)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.conftest import ROOT, SHARED_FILES, load_lambda

checks, handler = load_lambda("restore_validation", "checks", "handler")

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
JOB = "AB123456-78C9-0123-456D-789012E34567"
PLENTY_MS = 600_000


def restore_test(created: str | None, resource_type: str) -> dict[str, Any]:
    event = json.loads((ROOT / "tests" / "events" / "restore_test_completed.json").read_text())
    event["detail"].update(resourceType=resource_type)
    if created is None:
        event["detail"].pop("createdResourceArn")
    else:
        event["detail"]["createdResourceArn"] = created
    return event


class Aws:
    """moto clients, and a stubbed AWS Backup client that expects exactly the calls a test queues."""

    def __init__(self) -> None:
        self.made: dict[str, Any] = {}
        self.backup = boto3.client("backup", region_name=REGION)
        self.stub = Stubber(self.backup)
        self.stub.activate()

    def __call__(self, service: str) -> Any:
        if service == "backup":
            return self.backup
        if service not in self.made:
            self.made[service] = boto3.client(service, region_name=REGION)
        return self.made[service]

    def expect_result(self, status: str, message: str) -> None:
        self.stub.add_response(
            "put_restore_validation_result",
            {},
            {"RestoreJobId": JOB, "ValidationStatus": status, "ValidationStatusMessage": message},
        )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        clients = Aws()
        yield clients
        clients.stub.assert_no_pending_responses()


def run(aws: Aws, event: dict[str, Any], remaining_ms: int = PLENTY_MS, sleep: Any = None) -> dict[str, Any]:
    sleeps: list[float] = []
    result = handler.process(event, clients=aws, remaining_ms=lambda: remaining_ms, sleep=sleep or sleeps.append)
    assert sleeps == [] or sleep is not None
    return result


def test_a_running_instance_with_ok_status_checks_is_successful(aws: Aws) -> None:
    instance = aws("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"
    aws.expect_result("SUCCESSFUL", f"instance {instance} is running and both status checks are ok")
    assert run(aws, restore_test(arn, "EC2"))["result"] == "SUCCESSFUL"


def test_a_stopped_instance_fails_with_its_state(aws: Aws) -> None:
    instance = aws("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    aws("ec2").stop_instances(InstanceIds=[instance])
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"
    aws.expect_result("FAILED", f"instance {instance} is stopped, not running")
    assert run(aws, restore_test(arn, "EC2"))["result"] == "FAILED"


def _instance_status(instance: str, status: str) -> dict[str, Any]:
    return {
        "InstanceStatuses": [
            {
                "InstanceId": instance,
                "InstanceState": {"Code": 16, "Name": "running"},
                "InstanceStatus": {"Status": status},
                "SystemStatus": {"Status": "ok"},
            }
        ]
    }


def test_status_checks_still_initializing_are_asked_again_until_ok(aws: Aws) -> None:
    ec2 = aws("ec2")
    ec2_stub = Stubber(ec2)
    expected = {"InstanceIds": ["i-0abc"], "IncludeAllInstances": True}
    for status in ("initializing", "initializing", "ok"):
        ec2_stub.add_response("describe_instance_status", _instance_status("i-0abc", status), expected)
    slept: list[float] = []
    aws.expect_result("SUCCESSFUL", "instance i-0abc is running and both status checks are ok")
    with ec2_stub:
        result = run(aws, restore_test(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0abc", "EC2"), sleep=slept.append)
    assert result["result"] == "SUCCESSFUL"
    assert slept == [handler.POLL_SECONDS, handler.POLL_SECONDS]


def test_a_resource_not_ready_before_the_timeout_raises_and_reports_nothing(aws: Aws) -> None:
    ec2_stub = Stubber(aws("ec2"))
    ec2_stub.add_response("describe_instance_status", _instance_status("i-0abc", "initializing"))
    with ec2_stub, pytest.raises(handler.NotReady, match="status checks not ok yet"):
        run(aws, restore_test(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0abc", "EC2"), remaining_ms=40_000)


def test_an_impaired_instance_fails(aws: Aws) -> None:
    ec2_stub = Stubber(aws("ec2"))
    ec2_stub.add_response("describe_instance_status", _instance_status("i-0abc", "impaired"))
    aws.expect_result("FAILED", "instance i-0abc is running but its instance status check impaired")
    with ec2_stub:
        assert run(aws, restore_test(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0abc", "EC2"))["result"] == "FAILED"


def test_an_available_volume_is_successful_and_a_deleted_one_fails(aws: Aws) -> None:
    volume = aws("ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume}"
    aws.expect_result("SUCCESSFUL", f"volume {volume} is available")
    assert run(aws, restore_test(arn, "EBS"))["result"] == "SUCCESSFUL"
    aws("ec2").delete_volume(VolumeId=volume)
    aws.expect_result("FAILED", f"volume {volume} does not exist")
    assert run(aws, restore_test(arn, "EBS"))["result"] == "FAILED"


def test_an_available_db_instance_and_aurora_cluster_are_successful(aws: Aws) -> None:
    rds = aws("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="restored", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin1", MasterUserPassword="password123", AllocatedStorage=20,
    )  # fmt: skip
    rds.create_db_cluster(
        DBClusterIdentifier="restored-cluster", Engine="aurora-postgresql",
        MasterUsername="admin1", MasterUserPassword="password123",
    )  # fmt: skip
    aws.expect_result("SUCCESSFUL", "DB instance restored is available")
    assert run(aws, restore_test(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:restored", "RDS"))["result"] == "SUCCESSFUL"
    aws.expect_result("SUCCESSFUL", "DB cluster restored-cluster is available")
    event = restore_test(f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:restored-cluster", "Aurora")
    assert run(aws, event)["result"] == "SUCCESSFUL"


def test_an_active_table_is_successful(aws: Aws) -> None:
    aws("dynamodb").create_table(
        TableName="restored", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    aws.expect_result("SUCCESSFUL", "table restored is ACTIVE")
    event = restore_test(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/restored", "DynamoDB")
    assert run(aws, event)["result"] == "SUCCESSFUL"


def test_a_readable_bucket_is_successful_and_a_missing_one_fails(aws: Aws) -> None:
    aws("s3").create_bucket(Bucket="restored-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws("s3").put_object(Bucket="restored-bucket", Key="a", Body=b"x")
    aws.expect_result("SUCCESSFUL", "bucket restored-bucket is readable (1 object(s) in the first page)")
    assert run(aws, restore_test("arn:aws:s3:::restored-bucket", "S3"))["result"] == "SUCCESSFUL"
    aws.expect_result("FAILED", "bucket no-such-bucket does not exist")
    assert run(aws, restore_test("arn:aws:s3:::no-such-bucket", "S3"))["result"] == "FAILED"


def test_an_available_file_system_is_successful(aws: Aws) -> None:
    file_system = aws("efs").create_file_system(CreationToken="restored")["FileSystemId"]
    aws.expect_result("SUCCESSFUL", f"file system {file_system} is available")
    event = restore_test(f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{file_system}", "EFS")
    assert run(aws, event)["result"] == "SUCCESSFUL"


def test_a_type_without_a_check_is_skipped_and_nothing_is_reported(aws: Aws) -> None:
    event = restore_test(f"arn:aws:fsx:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0", "FSx")
    assert run(aws, event) == {
        "status": "skipped",
        "resource_type": "FSx",
        "created_resource_arn": f"arn:aws:fsx:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0",
    }


def test_the_created_resource_comes_from_describe_restore_job_when_the_event_lacks_it(aws: Aws) -> None:
    volume = aws("ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume}"
    aws.stub.add_response(
        "describe_restore_job", {"RestoreJobId": JOB, "CreatedResourceArn": arn}, {"RestoreJobId": JOB}
    )
    aws.expect_result("SUCCESSFUL", f"volume {volume} is available")
    assert run(aws, restore_test(None, "EBS"))["created_resource_arn"] == arn


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda e: e["detail"].pop("restoreTestingPlanArn"),
            "not a restore test: detail.restoreTestingPlanArn is absent",
        ),
        (lambda e: e["detail"].update(status="FAILED"), "restore job status is 'FAILED', not 'COMPLETED'"),
        (lambda e: e.update({"detail-type": "Backup Job State Change"}), "not a restore job event"),
    ],
)
def test_events_that_are_not_completed_restore_tests_are_ignored_without_any_call(
    aws: Aws, change: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    event = restore_test("arn:aws:s3:::restored-bucket", "S3")
    change(event)
    result = run(aws, event)
    assert result["status"] == "ignored" and result["reason"].startswith(reason)
    assert aws.made == {}  # no client was even created


def test_a_throttled_report_raises_so_lambda_retries(aws: Aws) -> None:
    aws("s3").create_bucket(Bucket="restored-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.stub.add_client_error("put_restore_validation_result", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(ClientError, match="ThrottlingException"):
        run(aws, restore_test("arn:aws:s3:::restored-bucket", "S3"))


def test_a_malformed_event_is_reported_not_retried(aws: Aws) -> None:
    event = restore_test("arn:aws:s3:::restored-bucket", "S3")
    event["detail"].pop("restoreJobId")
    assert run(aws, event) == {"status": "malformed", "reason": "detail.restoreJobId is missing"}


def test_every_log_line_is_json_with_the_restore_job_id(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    run(aws, restore_test(f"arn:aws:fsx:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0", "FSx"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all(line["restore_job_id"] == JOB for line in lines)


def test_checks_cover_every_type_the_issue_names() -> None:
    arns = {
        "EC2": "arn:aws:ec2:eu-west-1:1:instance/i-1",
        "EBS": "arn:aws:ec2:eu-west-1:1:volume/vol-1",
        "RDS": "arn:aws:rds:eu-west-1:1:db:x",
        "Aurora": "arn:aws:rds:eu-west-1:1:cluster:x",
        "DynamoDB": "arn:aws:dynamodb:eu-west-1:1:table/x",
        "S3": "arn:aws:s3:::x",
        "EFS": "arn:aws:elasticfilesystem:eu-west-1:1:file-system/fs-1",
    }
    kinds = {name: checks.check_for(arn) for name, arn in arns.items()}
    assert all(kinds.values()), kinds
    assert len({check.kind for check in kinds.values() if check}) == len(arns)


# -- the infrastructure: synthesized restore testing plan, selections and validation function ----------------------

CENTRAL = "central-backup"
CENTRAL_VAULT = "arn:aws:backup:eu-west-1:222222222222:backup-vault:AWSBackupSolutionCentralVault"


@pytest.fixture(scope="module")
def example(synth: Any) -> Any:
    return synth("example")


def test_the_example_tests_restores_of_the_central_vault_in_its_first_region(example: Any) -> None:
    (plan,) = example.resources(CENTRAL, "aws_backup_restore_testing_plan").values()
    assert plan["provider"] == "aws.eu-west-1"
    assert plan["name"] == "org_backup_restore_tests"
    assert plan["schedule_expression"] == "cron(0 5 ? * SAT *)"
    assert plan["recovery_point_selection"] == [
        {
            "algorithm": "LATEST_WITHIN_WINDOW",
            "include_vaults": [CENTRAL_VAULT],
            "recovery_point_types": ["SNAPSHOT"],
            "selection_window_days": 7,
        }
    ]
    selections = {s["name"]: s for s in example.resources(CENTRAL, "aws_backup_restore_testing_selection").values()}
    assert sorted(selections) == ["daily_ebs", "daily_rds"]
    assert selections["daily_rds"]["protected_resource_type"] == "RDS"
    assert selections["daily_rds"]["validation_window_hours"] == 2
    # backup.yaml's selections, by ARN: tag conditions would be matched against the cross-account copies' tags, which
    # AWS does not document (config_monitoring.RestoreTestSelection).
    assert selections["daily_rds"]["protected_resource_arns"] == ["arn:aws:rds:eu-west-1:555555555555:db:orders"]
    assert selections["daily_ebs"]["protected_resource_arns"] == [
        "arn:aws:ec2:eu-west-1:444444444444:volume/vol-0123456789abcdef0"
    ]
    # "Restore testing inferred metadata": an RDS instance restores into the default VPC unless dbSubnetGroupName says.
    assert selections["daily_rds"]["restore_metadata_overrides"] == {"dbSubnetGroupName": "org-backup-restore-tests"}
    assert "restore_metadata_overrides" not in selections["daily_ebs"]
    for selection in selections.values():
        assert selection["iam_role_arn"] == "arn:aws:iam::222222222222:role/AWSBackupSolutionRole"
        assert "protected_resource_conditions" not in selection


def test_the_validation_function_runs_on_completed_restores_of_that_plan_only(example: Any) -> None:
    (function,) = [
        f
        for f in example.resources(CENTRAL, "aws_lambda_function").values()
        if f["function_name"] == "org-backup-restore-validation"
    ]
    assert (function["handler"], function["runtime"], function["timeout"]) == (
        "handler.lambda_handler",
        "python3.12",
        600,
    )
    assert function["dead_letter_config"]["target_arn"].startswith("${aws_sqs_queue.restore-tests-eu-west-1_")
    (rule,) = [
        r
        for r in example.resources(CENTRAL, "aws_cloudwatch_event_rule").values()
        if r["name"] == "org-backup-restore-test-completed"
    ]
    assert json.loads(rule["event_pattern"]) == {
        "source": ["aws.backup"],
        "detail-type": ["Restore Job State Change"],
        "detail": {
            "status": ["COMPLETED"],
            "restoreTestingPlanArn": [
                {"prefix": "arn:aws:backup:eu-west-1:222222222222:restore-testing-plan:org_backup_restore_tests-"}
            ],
        },
    }
    asset = example.outdir / "stacks" / CENTRAL / function["filename"]
    with zipfile.ZipFile(asset) as archive:
        assert sorted(archive.namelist()) == ["checks.py", "event.py", "handler.py", *SHARED_FILES]


def test_the_function_role_grants_exactly_what_the_code_calls(example: Any) -> None:
    (policy,) = [
        p
        for p in example.resources(CENTRAL, "aws_iam_role_policy").values()
        if p["name"] == "restore-validation-eu-west-1"
    ]
    granted = {
        action
        for statement in json.loads(policy["policy"])["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    # What every event function needs (logs, its DLQ and key, tracing) beside what the code calls.
    runtime = {
        "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey",
        "xray:PutTelemetryRecords", "xray:PutTraceSegments",
    }  # fmt: skip
    used = {action for check in checks.ALL_CHECKS for action in check.actions} | set(checks.HANDLER_ACTIONS)
    assert granted == used | runtime


def test_no_restore_testing_without_selections(synth: Any) -> None:
    minimal = synth("minimal")
    resources = minimal.stack(CENTRAL)["resource"]
    assert "aws_backup_restore_testing_plan" not in resources and "aws_lambda_function" not in resources
