"""What an interrupted apply created but never recorded, adopted by the next deploy (org_backup/ops/unrecorded.py).

The synthesized member stack of the example is the configuration; the objects "left by the killed apply" are created
here, in moto (in process), through the deploy role each provider assumes, with the names and tags the configuration
gives them. Every expected import id is the AWS provider's documented import format for that resource
(terraform-provider-aws 5.100, "Import": a vault and a role by name, an alias by its name, a key by its key id),
applied to the objects this test created. The lookups of a framework, a Lambda function and permission, an event bus
and a report plan are tested against botocore's models of those APIs (Stubber), each with the provider's import id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from org_backup.ops import state_locks, unrecorded
from org_backup.synth import adoption

STACK = "member-444444444444"
BUCKET, PREFIX = "org-backup-tfstate", "org-backup"


@pytest.fixture
def document(synth: Any) -> dict[str, Any]:
    """The example's member stack without its Audit Manager frameworks: moto has no DescribeFramework ("Not yet
    implemented"); the framework lookup is tested against botocore's model of the API below."""
    loaded = dict(json.loads(synth("example").text(STACK)))
    del loaded["resource"]["aws_backup_framework"]
    return loaded


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.Session()


def _one(document: dict[str, Any], kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    (name,) = [n for n in document["resource"][kind] if n.startswith(prefix)]
    return f"{kind}.{name}", document["resource"][kind][name]


def _tags(document: dict[str, Any], region: str) -> dict[str, str]:
    (provider,) = [p for p in document["provider"]["aws"] if p["alias"] == region]
    return dict(provider["default_tags"][0]["tags"])


def _key(clients: Any, region: str, config: dict[str, Any], tags: dict[str, str]) -> str:
    kms = clients[f"aws.{region}"]("kms")
    listed = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
    return str(kms.create_key(Description=config["description"], Tags=listed)["KeyMetadata"]["KeyId"])


def test_an_interrupted_apply_s_vault_key_alias_role_and_orphaned_key_are_adopted_and_nothing_else(
    document: dict[str, Any], aws: Any
) -> None:
    clients = unrecorded.provider_clients(document, aws)
    region, tags = "eu-west-1", _tags(document, "eu-west-1")
    key_address, key_config = _one(document, "aws_kms_key", f"member-vault-{region}_key")
    alias_address, alias_config = _one(document, "aws_kms_alias", f"member-vault-{region}_alias")
    vault_address, vault_config = _one(document, "aws_backup_vault", f"member-vault-{region}_vault")
    orphan_address, orphan_config = _one(document, "aws_kms_key", f"tag-reapply-{region}_key")
    role_address, role_config = _one(document, "aws_iam_role", "backup-role")
    logs_address, logs_config = _one(document, "aws_cloudwatch_log_group", f"tag-reapply-{region}_logs")
    # What the killed apply created, with the tags AWS's create calls carried (the provider's default_tags).
    vault_key = _key(clients, region, key_config, tags)
    kms = clients[f"aws.{region}"]("kms")
    kms.create_alias(AliasName=alias_config["name"], TargetKeyId=vault_key)
    backup = clients[f"aws.{region}"]("backup")
    vault_arn = kms.describe_key(KeyId=vault_key)["KeyMetadata"]["Arn"]
    backup.create_backup_vault(BackupVaultName=vault_config["name"], EncryptionKeyArn=vault_arn, BackupVaultTags=tags)
    orphan_key = _key(clients, region, orphan_config, tags)  # created, and killed before its alias
    clients[role_config["provider"]]("iam").create_role(
        RoleName=role_config["name"],
        AssumeRolePolicyDocument=role_config["assume_role_policy"],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    # Controls: a key with the same description and tags that another alias names is not an orphan of this stack;
    # a log group the state already holds is never looked up.
    other = _key(clients, region, orphan_config, tags)
    kms.create_alias(AliasName="alias/someone-else", TargetKeyId=other)
    clients[f"aws.{region}"]("logs").create_log_group(logGroupName=logs_config["name"], tags=tags)
    # Elsewhere, a vault under the same name that is not this deployment's (no tags): reported, never adopted.
    central = "eu-central-1"
    _, central_vault = _one(document, "aws_backup_vault", f"member-vault-{central}_vault")
    clients[f"aws.{central}"]("backup").create_backup_vault(BackupVaultName=central_vault["name"])

    result = unrecorded.plan(document, {logs_address: {"name": logs_config["name"]}}, clients)

    assert result.imports == {
        key_address: vault_key,
        alias_address: alias_config["name"],
        vault_address: vault_config["name"],
        orphan_address: orphan_key,
        role_address: role_config["name"],
    }
    (problem,) = result.problems
    central_address = f"aws_backup_vault.{next(n for n in document['resource']['aws_backup_vault'] if central in n)}"
    assert problem.startswith(
        f"{central_address}: {central_vault['name']} exists in AWS without this deployment's tags"
    )


def test_two_keys_that_could_be_the_orphan_are_reported_and_neither_is_adopted(
    document: dict[str, Any], aws: Any
) -> None:
    clients = unrecorded.provider_clients(document, aws)
    region, tags = "us-east-1", _tags(document, "us-east-1")
    orphan_address, orphan_config = _one(document, "aws_kms_key", f"tag-reapply-{region}_key")
    first, second = _key(clients, region, orphan_config, tags), _key(clients, region, orphan_config, tags)

    result = unrecorded.plan(document, {}, clients)

    assert orphan_address not in result.imports
    (problem,) = result.problems
    assert problem.startswith(f"{orphan_address}: 2 keys ({', '.join(sorted([first, second]))}) match")


def test_a_key_without_the_deployment_s_tags_is_never_taken_for_the_orphan(document: dict[str, Any], aws: Any) -> None:
    clients = unrecorded.provider_clients(document, aws)
    region = "us-east-1"
    orphan_address, orphan_config = _one(document, "aws_kms_key", f"tag-reapply-{region}_key")
    _key(clients, region, orphan_config, {"managed-by": "someone-else"})
    assert unrecorded.plan(document, {}, clients).imports == {}

    ours = _key(clients, region, orphan_config, _tags(document, region))  # control: the same key with the tags
    assert unrecorded.plan(document, {}, clients).imports == {orphan_address: ours}


def test_adopt_runs_only_for_a_stack_marked_interrupted_and_done_forgets_the_marker(
    document: dict[str, Any], aws: Any, tmp_path: Path
) -> None:
    stack_dir = tmp_path / "stacks" / STACK
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document))
    s3 = aws.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    clients = unrecorded.provider_clients(document, aws)
    _, vault_config = _one(document, "aws_backup_vault", "member-vault-eu-west-1_vault")
    tags = _tags(document, "eu-west-1")
    clients["aws.eu-west-1"]("backup").create_backup_vault(BackupVaultName=vault_config["name"], BackupVaultTags=tags)

    def run(command: str) -> int:
        return unrecorded._run(command, [STACK], tmp_path, s3, BUCKET, PREFIX, aws)

    assert run("adopt") == 0
    assert not (stack_dir / adoption.IMPORTS_FILE).exists()  # not marked: a first deploy takes over nothing

    assert run("mark") == 0
    assert s3.get_object(Bucket=BUCKET, Key=state_locks.marker_key(PREFIX, STACK))
    assert run("adopt") == 0
    blocks = json.loads((stack_dir / adoption.IMPORTS_FILE).read_text())["import"]
    vault_address, _ = _one(document, "aws_backup_vault", "member-vault-eu-west-1_vault")
    assert [(b["to"], b["id"], b["provider"]) for b in blocks] == [
        (vault_address, vault_config["name"], "aws.eu-west-1")
    ]

    assert run("done") == 0
    assert not (stack_dir / adoption.IMPORTS_FILE).exists()
    assert state_locks.read_object(s3, BUCKET, state_locks.marker_key(PREFIX, STACK)) is None


def test_a_framework_is_found_by_name_with_its_tags_and_an_absent_one_is_none() -> None:
    """Against botocore's model of AWS Backup (the Stubber refuses a request or answer that does not fit it):
    DescribeFramework then ListTags on the framework's ARN; ResourceNotFoundException when there is none."""
    from botocore.stub import Stubber

    client = boto3.client("backup", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    arn = "arn:aws:backup:eu-west-1:444444444444:framework:org_backup-0a1b2c3d"
    with Stubber(client) as stub:
        stub.add_response("describe_framework", {"FrameworkArn": arn, "FrameworkName": "org_backup"},
                          {"FrameworkName": "org_backup"})  # fmt: skip
        stub.add_response("list_tags", {"Tags": {"managed-by": "org-backup"}}, {"ResourceArn": arn})
        stub.add_client_error("describe_framework", "ResourceNotFoundException", http_status_code=404)
        found = unrecorded.FINDERS["aws_backup_framework"](lambda service: client, {"name": "org_backup"})
        assert found == unrecorded.Remote("org_backup", {"managed-by": "org-backup"})
        assert unrecorded.FINDERS["aws_backup_framework"](lambda service: client, {"name": "other"}) is None


def _stubbed(service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_a_function_and_its_permission_are_found_by_name_and_statement_id() -> None:
    """GetFunction answers the function's tags; GetPolicy its resource policy, searched for the statement id. Import ids
    as terraform-provider-aws 5.100 documents them: a function by its name, a permission as
    ``function_name/statement_id`` (aws_lambda_permission, "Import"). A function without a policy has no permission."""
    from botocore.stub import Stubber

    client = _stubbed("lambda")
    name, sid = "org-backup-tag-reapply", "AllowEventBridge"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": sid, "Effect": "Allow", "Action": "lambda:InvokeFunction"}],
    }
    with Stubber(client) as stub:
        stub.add_response("get_function", {"Configuration": {"FunctionName": name}, "Tags": {"managed-by": "org-backup"}},
                          {"FunctionName": name})  # fmt: skip
        stub.add_client_error("get_function", "ResourceNotFoundException", http_status_code=404)
        stub.add_response("get_policy", {"Policy": json.dumps(policy)}, {"FunctionName": name})
        stub.add_response("get_policy", {"Policy": json.dumps(policy)}, {"FunctionName": name})
        stub.add_client_error("get_policy", "ResourceNotFoundException", http_status_code=404)
        find_function, find_permission = (
            unrecorded.FINDERS["aws_lambda_function"],
            unrecorded.FINDERS["aws_lambda_permission"],
        )
        assert find_function(lambda service: client, {"function_name": name}) == unrecorded.Remote(
            name, {"managed-by": "org-backup"}
        )
        assert find_function(lambda service: client, {"function_name": "other"}) is None
        permission = {"function_name": name, "statement_id": sid}
        assert find_permission(lambda service: client, permission) == unrecorded.Remote(f"{name}/{sid}", None)
        assert find_permission(lambda service: client, {**permission, "statement_id": "Other"}) is None
        assert find_permission(lambda service: client, permission) is None  # no policy: ResourceNotFoundException


def test_an_event_bus_and_a_report_plan_are_found_by_name_with_their_tags() -> None:
    """DescribeEventBus then ListTagsForResource (a Key/Value list); DescribeReportPlan then ListTags (a map). Both
    are imported by name (aws_cloudwatch_event_bus and aws_backup_report_plan, "Import")."""
    from botocore.stub import Stubber

    events, backup = _stubbed("events"), _stubbed("backup")
    bus_arn = "arn:aws:events:eu-west-1:222222222222:event-bus/org-backup-alerts"
    plan_arn = "arn:aws:backup:eu-west-1:222222222222:report-plan:org_backup_jobs-0a1b"
    with Stubber(events) as bus_stub, Stubber(backup) as plan_stub:
        bus_stub.add_response(
            "describe_event_bus", {"Name": "org-backup-alerts", "Arn": bus_arn}, {"Name": "org-backup-alerts"}
        )
        bus_stub.add_response("list_tags_for_resource", {"Tags": [{"Key": "managed-by", "Value": "org-backup"}]},
                              {"ResourceARN": bus_arn})  # fmt: skip
        bus_stub.add_client_error("describe_event_bus", "ResourceNotFoundException", http_status_code=400)
        plan_stub.add_response("describe_report_plan", {"ReportPlan": {"ReportPlanArn": plan_arn}},
                               {"ReportPlanName": "org_backup_jobs"})  # fmt: skip
        plan_stub.add_response("list_tags", {"Tags": {"managed-by": "org-backup"}}, {"ResourceArn": plan_arn})
        plan_stub.add_client_error("describe_report_plan", "ResourceNotFoundException", http_status_code=400)
        find_bus, find_plan = (
            unrecorded.FINDERS["aws_cloudwatch_event_bus"],
            unrecorded.FINDERS["aws_backup_report_plan"],
        )
        tags = {"managed-by": "org-backup"}
        assert find_bus(lambda service: events, {"name": "org-backup-alerts"}) == unrecorded.Remote(
            "org-backup-alerts", tags
        )
        assert find_bus(lambda service: events, {"name": "other"}) is None
        assert find_plan(lambda service: backup, {"name": "org_backup_jobs"}) == unrecorded.Remote(
            "org_backup_jobs", tags
        )
        assert find_plan(lambda service: backup, {"name": "other"}) is None


def test_a_vault_aws_answers_access_denied_for_is_absent() -> None:
    """AWS Backup answers DescribeBackupVault for a vault that does not exist with AccessDeniedException (aws/aws-sdk-js
    issue 2625; the AWS provider's findVault takes it as not found): the vault is left to the apply to create."""
    from botocore.stub import Stubber

    client = boto3.client("backup", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("describe_backup_vault", "AccessDeniedException", http_status_code=403)
        assert (
            unrecorded.FINDERS["aws_backup_vault"](lambda service: client, {"name": "AWSBackupSolutionVault"}) is None
        )


def test_mark_as_the_unlock_step_types_it_marks_the_stack_in_the_configured_state_bucket(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m org_backup.ops.unrecorded mark --stack S`, the step `locks` prints after a hand force-unlock, through its
    argument parsing and the config's S3 state backend; a stack list file that does not exist is exit 2, one line."""
    import yaml

    from tests.conftest import MINIMAL_CONFIG

    config = yaml.safe_load(MINIMAL_CONFIG.read_text())
    config["state_backend"] = {"type": "s3", "bucket": BUCKET, "region": "us-east-1", "key_prefix": PREFIX}
    path = tmp_path / "backup.yaml"
    path.write_text(yaml.safe_dump(config))
    aws.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.chdir(tmp_path)

    assert unrecorded.main(["--config", str(path), "mark", "--stack", STACK]) == 0
    s3 = aws.client("s3", region_name="us-east-1")
    assert s3.get_object(Bucket=BUCKET, Key=state_locks.marker_key(PREFIX, STACK))["Body"].read() == b"marked by hand"
    missing = tmp_path / "no-such-list.txt"
    assert unrecorded.main(["--config", str(path), "done", "--stacks-file", str(missing)]) == 2
