"""AWS Backup Audit Manager: control parameters derived from the plans, schedules measured from cron, the
frameworks in every member account and Region, and the organization's report plans with their bucket."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup import audit
from org_backup.config_loader import load_config
from org_backup.cron import longest_gap_hours
from org_backup.errors import InputError
from org_backup.inputs import Inputs
from org_backup.plan_model import BackupPlans
from org_backup.yaml_io import dump_yaml
from tests.conftest import EXAMPLE_CONFIG, ROOT, Synthesized

PLANS = yaml.safe_load((ROOT / "policies" / "backup_plans.yaml").read_text())
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("cron(0 5 ? * * *)", 24),  # daily
        ("cron(0 */6 ? * * *)", 6),
        ("cron(0 0,12 ? * * *)", 12),
        ("cron(0 5 ? * MON-FRI *)", 72),  # Friday to Monday
        ("cron(0 5 ? * SUN *)", 168),
        ("cron(0 5 1 * ? *)", 744),  # the 1st: 31 days after a 31-day month
        ("cron(0 5 L * ? *)", 744),  # the last day: Feb 28 to Mar 31 is 31 days
        ("cron(0 5 ? * 2#1 *)", 840),  # the first Monday: up to five weeks apart
        ("cron(0 5 1 1 ? *)", 8760),  # yearly: two runs in the two-year window
        ("cron(0 5 1 1 ? 2031)", None),  # once: no gap
    ],
)
def test_the_longest_gap_between_runs(schedule: str, hours: int | None) -> None:
    assert longest_gap_hours(schedule) == hours


def _plans(change: Any = None) -> BackupPlans:
    data = copy.deepcopy(PLANS)
    if change:
        change(data)
    return BackupPlans.model_validate(data)


def _example(**audit_config: Any) -> Any:
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["audit"] = {"frameworks": {"enabled": True, **audit_config}}
    return raw


def _config(tmp_path: Path, raw: dict[str, Any]) -> Any:
    raw["backup_plans_file"] = str(ROOT / "policies" / "backup_plans.yaml")
    path = tmp_path / "backup.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    return load_config(path)


def _parameters(controls: tuple[audit.Control, ...]) -> dict[str, dict[str, str]]:
    return {control.name: dict(control.parameters) for control in controls}


def test_the_shipped_plans_give_the_frameworks_their_weakest_promise(tmp_path: Path) -> None:
    """Daily kept 35 days and monthly kept 366: every plan has a rule at least every 31 days (the monthly gap)
    keeping at least 35 days, and every recovery point is kept at least 35 days."""
    config = _config(tmp_path, _example())
    controls, problems = audit.controls(config, _plans(), "444444444444", "ou-ab12-prod0001", "eu-west-1")
    assert problems == []
    assert _parameters(controls) == {
        "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN": {},
        "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK": {"requiredRetentionDays": "35"},
        "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK": {
            "requiredFrequencyUnit": "days",
            "requiredFrequencyValue": "31",
            "requiredRetentionDays": "35",
        },
        "BACKUP_RECOVERY_POINT_ENCRYPTED": {},
        "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED": {
            "principalArnList": "arn:aws:iam::444444444444:role/OrgBackupDeployRole"
        },
        "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK": {},
        "BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT": {},
    }


def test_a_plan_limited_to_one_region_sets_the_parameters_only_there(tmp_path: Path) -> None:
    def hourly_in_one_region(data: dict[str, Any]) -> None:
        data["plans"] = {"OrgBackupPlanDaily": data["plans"]["OrgBackupPlanDaily"]}
        plan = data["plans"]["OrgBackupPlanDaily"]
        plan["regions"] = ["eu-west-1"]
        plan["rules"]["OrgDailyBackupRule"]["schedule"] = "cron(0 */12 ? * * *)"

    config = _config(tmp_path, _example(controls={"last_recovery_point_created": True}))
    plans = _plans(hourly_in_one_region)
    there, _ = audit.controls(config, plans, "444444444444", "ou-ab12-prod0001", "eu-west-1")
    assert _parameters(there)["BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK"]["requiredFrequencyUnit"] == "hours"
    assert _parameters(there)["BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK"]["requiredFrequencyValue"] == "12"
    # 12 hours apart, and the job may take its 1,200-minute completion window: 32 hours at most
    assert _parameters(there)["BACKUP_LAST_RECOVERY_POINT_CREATED"] == {
        "recoveryPointAgeUnit": "hours",
        "recoveryPointAgeValue": "32",
    }
    elsewhere, _ = audit.controls(config, plans, "444444444444", "ou-ab12-prod0001", "us-east-1")
    names = {control.name for control in elsewhere}
    assert "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK" not in names  # no plan applies there
    assert "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK" not in names


def test_controls_aws_cannot_express_for_these_plans_are_refused_with_a_fix(tmp_path: Path) -> None:
    raw = _example(controls={"last_recovery_point_created": True, "cross_region_copy": True})
    del raw["vault_lock"]["member"]
    config = _config(tmp_path, raw)
    problems = audit.framework_problems(config, _plans())
    assert [(p.field, p.message) for p in problems] == [
        (
            "audit.frameworks.controls.protected_by_vault_lock",
            "is on, but vault_lock.member is not set: every resource would be reported non-compliant. Fix: set "
            "vault_lock.member, or set this control to false.",
        ),
        (
            "audit.frameworks.controls.cross_region_copy",
            "is on, but no plan rule has copy_to_regions: every resource would be reported non-compliant. Fix: add "
            "copy_to_regions to a rule, or set this control to false.",
        ),
        (
            "audit.frameworks.controls.last_recovery_point_created",
            "a plan's recovery points may be 764 hours apart, beyond the 31 days AWS's control measures. Fix: set "
            "it to false, or schedule the plans more often.",
        ),
    ]


def test_synth_refuses_them_before_writing_anything(tmp_path: Path) -> None:
    raw = _example(controls={"last_recovery_point_created": True})
    raw["backup_plans_file"] = str(ROOT / "policies" / "backup_plans.yaml")
    path = tmp_path / "backup.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    with pytest.raises(InputError) as caught:
        Inputs.load(path)
    assert caught.value.source == str(path)
    assert [p.field for p in caught.value.problems] == ["audit.frameworks.controls.last_recovery_point_created"]


@pytest.fixture(scope="module")
def example(synth: Any) -> Synthesized:
    return synth("example")


def test_every_member_account_and_region_has_its_framework(example: Synthesized) -> None:
    for stack in ("member-444444444444", "member-555555555555", "member-666666666666"):
        frameworks = {f["provider"]: f for f in example.resources(stack, "aws_backup_framework").values()}
        assert sorted(frameworks) == sorted(f"aws.{r}" for r in REGIONS)
        for framework in frameworks.values():
            assert framework["name"] == "org_backup"
            deletion = [
                c for c in framework["control"] if c["name"] == "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED"
            ]
            account = stack.removeprefix("member-")
            assert deletion[0]["input_parameter"] == [
                {"name": "principalArnList", "value": f"arn:aws:iam::{account}:role/OrgBackupDeployRole"}
            ]
    assert "aws_backup_framework" not in example.stack("central-backup")["resource"]


def test_the_organization_report_plans_cover_the_target_ous_and_regions(example: Synthesized) -> None:
    plans = {
        p["report_setting"]["report_template"]: p
        for p in example.resources("central-backup", "aws_backup_report_plan").values()
    }
    assert sorted(plans) == [
        "BACKUP_JOB_REPORT",
        "CONTROL_COMPLIANCE_REPORT",
        "COPY_JOB_REPORT",
        "RESOURCE_COMPLIANCE_REPORT",
        "RESTORE_JOB_REPORT",
    ]
    for template, plan in plans.items():
        assert plan["provider"] == "aws.eu-west-1"
        assert plan["report_setting"]["organization_units"] == ["ou-ab12-prod0001", "ou-ab12-nonprod01"]
        assert plan["report_setting"]["regions"] == list(REGIONS)
        channel = plan["report_delivery_channel"]
        assert channel["s3_bucket_name"].startswith("${aws_s3_bucket.reports_bucket")
        assert channel["s3_key_prefix"] == template.lower() and channel["formats"] == ["CSV", "JSON"]


def test_the_report_bucket_is_encrypted_versioned_expiring_and_written_only_by_audit_manager(
    example: Synthesized,
) -> None:
    stack = "central-backup"
    (bucket,) = example.resources(stack, "aws_s3_bucket").values()
    assert bucket["bucket"] == "org-backup-reports-222222222222-eu-west-1"
    (versioning,) = example.resources(stack, "aws_s3_bucket_versioning").values()
    assert versioning["versioning_configuration"] == {"status": "Enabled"}
    (lifecycle,) = example.resources(stack, "aws_s3_bucket_lifecycle_configuration").values()
    assert lifecycle["rule"][0]["expiration"] == [{"days": 731}]
    (encryption,) = example.resources(stack, "aws_s3_bucket_server_side_encryption_configuration").values()
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"]
    assert default["sse_algorithm"] == "aws:kms" and default["kms_master_key_id"].startswith(
        "${aws_kms_key.reports_key"
    )
    role = "arn:aws:iam::222222222222:role/aws-service-role/reports.backup.amazonaws.com/AWSServiceRoleForBackupReports"
    (policy,) = example.resources(stack, "aws_s3_bucket_policy").values()
    tls, delivery = json.loads(policy["policy"])["Statement"]
    assert tls["Effect"] == "Deny"
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert delivery["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role}}
    keys = example.resources(stack, "aws_kms_key")
    key = keys[default["kms_master_key_id"].removeprefix("${aws_kms_key.").removesuffix(".arn}")]
    (writer,) = [s for s in json.loads(key["policy"])["Statement"] if s["Sid"] == "BackupAuditManagerWritesReports"]
    assert writer["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert writer["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role}}


def test_monitoring_shows_what_watches_the_backups_and_where(capsys: pytest.CaptureFixture[str]) -> None:
    from org_backup.__main__ import main as cli

    assert cli(["--config", str(EXAMPLE_CONFIG), "monitoring", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["alerts"]["forwarding"] == {
        "444444444444": list(REGIONS),
        "555555555555": list(REGIONS),
        "666666666666": list(REGIONS),
        "222222222222": list(REGIONS),  # the central account's own jobs too
    }
    assert view["alerts"]["topic"] == "arn:aws:sns:eu-west-1:222222222222:org-backup-job-failures"
    assert view["frameworks"]["ou-ab12-nonprod01"]["regions"]["us-east-1"][
        "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK"
    ] == {"requiredRetentionDays": "35"}
    assert view["reports"]["bucket"] == "org-backup-reports-222222222222-eu-west-1"
    assert view["restore_testing"]["selections"]["daily_rds"] == {
        "type": "RDS",
        "tags": {"backup": "daily"},
        "validation_window_hours": 2,
    }
    assert cli(["--config", str(EXAMPLE_CONFIG), "monitoring"]) == 0
    text = capsys.readouterr().out
    assert "  to the bus arn:aws:events:eu-west-1:222222222222:event-bus/org-backup-alerts\n" in text
    assert "  workloads-nonprod (ou-ab12-nonprod01, 1 account)\n" in text
    assert "Restore tests: org_backup_restore_tests in 222222222222 eu-west-1, cron(0 5 ? * SAT *) (Etc/UTC)\n" in text


def _recorder(config: Any, name: str, group: dict[str, Any], recording: bool) -> None:
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": name,
            "roleARN": "arn:aws:iam::123456789012:role/config",
            "recordingGroup": group,
        }
    )
    if recording:
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"})
        config.start_configuration_recorder(ConfigurationRecorderName=name)


@pytest.mark.parametrize(
    ("group", "recording", "gap"),
    [
        (None, False, "no AWS Config recorder exists"),
        ({"allSupported": True, "includeGlobalResourceTypes": False}, False, "recorder 'default' is stopped"),
        ({"allSupported": True, "includeGlobalResourceTypes": False}, True, None),
        (
            {"allSupported": False, "resourceTypes": ["AWS::Backup::BackupPlan", "AWS::Backup::BackupVault"]},
            True,
            "recorder 'default' does not record AWS::Backup::BackupSelection, AWS::Backup::RecoveryPoint",
        ),
    ],
)
def test_readiness_says_where_config_does_not_record_what_the_frameworks_evaluate(
    group: dict[str, Any] | None, recording: bool, gap: str | None
) -> None:
    import boto3
    from moto import mock_aws

    from org_backup import config_recording

    with mock_aws():
        session = boto3.Session(region_name="eu-west-1")
        if group is not None:
            s3 = session.client("s3")
            s3.create_bucket(Bucket="config-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            _recorder(session.client("config"), "default", group, recording)
        assert config_recording.config_recording_gap(session, "eu-west-1") == gap


def test_readiness_reports_the_gap_as_a_finding_of_the_account_and_region(tmp_path: Path) -> None:
    import boto3
    from moto import mock_aws

    from org_backup import readiness

    config = _config(tmp_path, _example())
    with mock_aws():
        session = boto3.Session(region_name="eu-west-1")
        report = readiness.run(config, (), lambda _account: session, accounts=["444444444444"], regions=["eu-west-1"])
    (finding,) = report.findings
    assert (finding.account, finding.region, finding.problem) == ("444444444444", "eu-west-1", "config-not-recording")
    assert finding.detail == "no AWS Config recorder exists, so the Audit Manager framework here evaluates nothing."
    assert report.exit_code == 1
