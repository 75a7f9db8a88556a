"""AWS Backup Audit Manager: control parameters derived from the plans, schedules measured from cron, the
frameworks in every member account and Region, and the organization's report plans with their bucket."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.cron import longest_gap_hours
from org_backup.config.errors import InputError
from org_backup.config.loader import load_config
from org_backup.config.yaml_io import dump_yaml
from org_backup.iam.evaluator import Policy, Principal, Request, evaluate
from org_backup.plans import audit
from org_backup.plans.model import BackupPlans
from org_backup.synth.inputs import Inputs
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
        # AWS Backup guide, "Working with audit reports": a report not "for the current region and current account"
        # "is available in CSV format" only; these plans cover two OUs and three Regions.
        assert channel["s3_key_prefix"] == template.lower() and channel["formats"] == ["CSV"]


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
    (policy,) = example.resources(stack, "aws_s3_bucket_policy").values()
    tls, delivery = json.loads(policy["policy"])["Statement"]
    assert tls["Effect"] == "Deny"
    # AWS Backup guide, create-report-plan-console.html, "Sample bucket policy": the role itself is the principal.
    assert delivery == {
        "Sid": "BackupAuditManagerDeliversReports",
        "Effect": "Allow",
        "Principal": {"AWS": SLR},
        "Action": "s3:PutObject",
        "Resource": f"{BUCKET_ARN}/*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
    }
    (writer,) = [s for s in _reports_key_policy(example)["Statement"] if s["Sid"] == "BackupAuditManagerWritesReports"]
    # AWS Backup guide, create-report-plan-api.html: "The Principal attribute must include the Backup Audit Manager
    # service-linked role ... ARN", "The Action attribute must include kms:GenerateDataKey and kms:Decrypt at minimum".
    assert writer["Principal"] == {"AWS": SLR} and "Condition" not in writer
    assert writer["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


SLR = "arn:aws:iam::222222222222:role/aws-service-role/reports.backup.amazonaws.com/AWSServiceRoleForBackupReports"
BUCKET_ARN = "arn:aws:s3:::org-backup-reports-222222222222-eu-west-1"
REPORTS_KEY_ARN = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# AWS Managed Policy Reference, AWSServiceRolePolicyForBackupReports (v2, the default version): the role's only
# permissions. No s3:PutObject and no kms action.
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSServiceRolePolicyForBackupReports.html
SLR_PERMISSIONS = Policy(
    "AWSServiceRolePolicyForBackupReports",
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "backup:DescribeFramework",
                    "backup:ListBackupJobs",
                    "backup:ListRestoreJobs",
                    "backup:ListCopyJobs",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "config:DescribeConfigurationRecorders",
                    "config:DescribeConfigurationRecorderStatus",
                    "config:BatchGetResourceConfig",
                    "config:SelectResourceConfig",
                    "config:DescribeConfigurationAggregators",
                    "config:SelectAggregateResourceConfig",
                    "config:DescribeConfigRuleEvaluationStatus",
                    "config:DescribeConfigRules",
                    "s3:GetBucketLocation",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "config:GetComplianceDetailsByConfigRule",
                    "config:PutConfigRule",
                    "config:DeleteConfigRule",
                ],
                "Resource": "arn:aws:config:*:*:config-rule/aws-service-rule/backup.amazonaws.com*",
            },
            {
                "Effect": "Allow",
                "Action": ["config:DeleteConfigurationAggregator", "config:PutConfigurationAggregator"],
                "Resource": "arn:aws:config:*:*:config-aggregator/aws-service-config-aggregator/backup.amazonaws.com*",
            },
        ],
    },
)
# The statements before issue 26: the account principal, narrowed by aws:PrincipalArn to the role.
OLD_DELIVERY = {
    "Sid": "BackupAuditManagerDeliversReports",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
    "Action": "s3:PutObject",
    "Resource": f"{BUCKET_ARN}/*",
    "Condition": {"ArnEquals": {"aws:PrincipalArn": SLR}},
}
OLD_WRITER = {
    "Sid": "BackupAuditManagerWritesReports",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": "*",
    "Condition": {"ArnEquals": {"aws:PrincipalArn": SLR}},
}


def _reports_key_policy(example: Synthesized) -> dict[str, Any]:
    (encryption,) = example.resources("central-backup", "aws_s3_bucket_server_side_encryption_configuration").values()
    key_id = encryption["rule"][0]["apply_server_side_encryption_by_default"]["kms_master_key_id"]
    key = example.resources("central-backup", "aws_kms_key")[
        key_id.removeprefix("${aws_kms_key.").removesuffix(".arn}")
    ]
    return dict(json.loads(key["policy"]))


def _replaced(policy: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    return {**policy, "Statement": [statement if s.get("Sid") == statement["Sid"] else s for s in policy["Statement"]]}


def test_audit_manager_s_role_may_deliver_reports_and_the_account_principal_shape_could_not(
    example: Synthesized,
) -> None:
    """The evaluator (org_backup/iam) decides the role's delivery as AWS does. Its identity side is only
    AWSServiceRolePolicyForBackupReports, so a grant to the account, which "doesn't give permission to any IAM principal. Instead, it gives the AWS account
    permission to use IAM policies to delegate" (KMS developer guide, key-policy-overview.html; for S3 the same: IAM
    reference_policies_evaluation-logic_policy-eval-denyallow.html, a resource policy naming the account delegates to
    identity policies), leaves it denied; a grant to the role ARN allows it alone."""
    role = Principal(SLR)
    (bucket,) = example.resources("central-backup", "aws_s3_bucket_policy").values()
    bucket_policy = json.loads(bucket["policy"])
    # create-report-plan-console.html: cross-account reports go to s3://bucket/prefix/Backup/crossaccount/Region/...;
    # the sample bucket policy's condition: the delivery is made with x-amz-acl bucket-owner-full-control.
    report = f"{BUCKET_ARN}/backup_job_report/Backup/crossaccount/eu-west-1/2026/12/03/report.csv"
    put = Request(
        role, "s3:PutObject", report, {"aws:SecureTransport": True, "s3:x-amz-acl": "bucket-owner-full-control"}
    )

    def s3(policy: dict[str, Any], request: Request = put) -> bool:
        return evaluate(
            request,
            identity_policies=[SLR_PERMISSIONS],
            resource_policy=Policy("bucket policy", policy),
            resource_account="222222222222",
        ).allowed

    def kms(policy: dict[str, Any], action: str) -> bool:
        request = Request(role, action, REPORTS_KEY_ARN, {"aws:SecureTransport": True})
        decision = evaluate(
            request, identity_policies=[SLR_PERMISSIONS], resource_policy=Policy("key policy", policy), key_policy=True
        )
        return decision.allowed

    key_policy = _reports_key_policy(example)
    assert s3(bucket_policy)
    assert all(kms(key_policy, action) for action in ("kms:GenerateDataKey", "kms:Decrypt"))
    assert not s3(_replaced(bucket_policy, OLD_DELIVERY))
    assert not any(kms(_replaced(key_policy, OLD_WRITER), a) for a in ("kms:GenerateDataKey", "kms:Decrypt"))
    # The sample policy's condition is kept: a delivery without bucket-owner-full-control is not allowed, nor is another
    # role of the account.
    assert not s3(bucket_policy, Request(role, "s3:PutObject", report, {"aws:SecureTransport": True}))
    admin = Principal("arn:aws:iam::222222222222:role/Admin")
    assert not s3(bucket_policy, Request(admin, "s3:PutObject", report, dict(put.context)))


def test_the_key_and_the_bucket_policy_wait_for_the_report_plans_that_create_the_role(example: Synthesized) -> None:
    """create-report-plan-console.html: until the role exists a policy naming it fails "Invalid principal"; AWS Backup
    guide, using-service-linked-roles-AWSServiceRoleForBackupReports.html: "When you create a framework or report plan
    ... AWS Backup creates the service-linked role for you"."""
    plans = sorted(
        f"aws_backup_report_plan.{name}" for name in example.resources("central-backup", "aws_backup_report_plan")
    )
    assert len(plans) == 5
    (bucket_policy,) = example.resources("central-backup", "aws_s3_bucket_policy").values()
    keys = [k for name, k in example.resources("central-backup", "aws_kms_key").items() if name.startswith("reports_")]
    assert [sorted(k["depends_on"]) for k in keys] == [plans]
    assert sorted(bucket_policy["depends_on"]) == plans
    for plan in example.resources("central-backup", "aws_backup_report_plan").values():
        assert "depends_on" not in plan  # nothing of the key or the policy before them: no cycle


def test_json_reports_are_refused_for_organization_wide_plans(tmp_path: Path) -> None:
    raw = _example()
    raw["audit"]["reports"] = {"enabled": True, "formats": ["CSV", "JSON"]}
    with pytest.raises(InputError) as caught:
        _config(tmp_path, raw)
    assert [(p.field, p.message) for p in caught.value.problems] == [
        (
            "audit.reports.formats",
            "['CSV', 'JSON'] includes JSON, but the report plans are cross-account and cross-Region (every target OU "
            "and Region), and AWS delivers such reports in CSV only (AWS Backup guide, Working with audit reports). "
            "Fix: set formats to [CSV] or remove the line (CSV is the default).",
        )
    ]
    raw["audit"]["reports"] = {"enabled": True}
    assert _config(tmp_path, raw).audit.reports.formats == ("CSV",)


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
        "resources": ["arn:aws:rds:eu-west-1:555555555555:db:orders"],
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

    from org_backup.ops import aws_config_recording as config_recording

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

    from org_backup.ops import readiness

    config = _config(tmp_path, _example())
    with mock_aws():
        session = boto3.Session(region_name="eu-west-1")
        report = readiness.run(config, (), lambda _account: session, accounts=["444444444444"], regions=["eu-west-1"])
    (finding,) = report.findings
    assert (finding.account, finding.region, finding.problem) == ("444444444444", "eu-west-1", "config-not-recording")
    assert finding.detail == "no AWS Config recorder exists, so the Audit Manager framework here evaluates nothing."
    assert report.exit_code == 1
