"""AWS Backup Audit Manager: a framework in every member account and Region (controls from ``org_backup.audit``),
and organization-wide report plans in the delegated administrator account, delivered to an encrypted, versioned
bucket whose reports expire.

Frameworks and report plans evaluate what AWS Config records, so the backup resource types must be recorded in
every member account and Region (``readiness`` checks it); AWS Backup Audit Manager uses its service-linked role
AWSServiceRoleForBackupReports, which AWS creates with the first framework or report plan. The key and bucket
policies name it through the account principal and ``aws:PrincipalArn``, which AWS accepts before the role exists
(a role principal that does not exist yet makes the policy invalid).
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.backup_framework import (
    BackupFramework,
    BackupFrameworkControl,
    BackupFrameworkControlInputParameter,
    BackupFrameworkControlScope,
)
from cdktf_cdktf_provider_aws.backup_report_plan import (
    BackupReportPlan,
    BackupReportPlanReportDeliveryChannel,
    BackupReportPlanReportSetting,
)
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from org_backup import deploy_roles
from org_backup.audit import FRAMEWORK_NAME, Control
from org_backup.config import BackupConfig
from org_backup.naming import REPORT_PLAN_PREFIX, REPORTS_KEY_ALIAS, REPORTS_SERVICE_ROLE_PATH, Naming, reports_bucket
from org_backup.policy_docs import dumps, render_template
from stacks.building_blocks import KEY_DELETION_WINDOW_DAYS, secure_bucket


class AuditFramework(Construct):
    """One account's framework in one Region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        controls: tuple[Control, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        tag = config.audit.frameworks.scope_tag
        BackupFramework(
            self,
            "framework",
            provider=provider,
            name=FRAMEWORK_NAME,
            description="What org-backup's backup plans promise, checked by AWS Backup Audit Manager",
            control=[
                BackupFrameworkControl(
                    name=control.name,
                    input_parameter=[
                        BackupFrameworkControlInputParameter(name=name, value=value)
                        for name, value in control.parameters
                    ]
                    or None,
                    scope=BackupFrameworkControlScope(tags={tag.key: tag.value}) if tag and control.scoped else None,
                )
                for control in controls
            ],
        )


class ReportPlans(Construct):
    """The report bucket, its key and one organization-wide report plan per template."""

    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, config: BackupConfig, account_id: str
    ) -> None:
        super().__init__(scope, construct_id)
        naming = Naming(config)
        region = config.reports_region
        reports = config.audit.reports
        service_role = naming.role_arn(account_id, REPORTS_SERVICE_ROLE_PATH)
        bucket_name = reports_bucket(account_id, region)
        bucket_arn = f"arn:{naming.partition}:s3:::{bucket_name}"
        key = KmsKey(
            self,
            "key",
            provider=provider,
            description="Encrypts the AWS Backup Audit Manager reports of org-backup",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=dumps(
                deploy_roles.key_policy(
                    "kms/reports-key.json",
                    config,
                    account_id,
                    account_root_arn=naming.account_root_arn(account_id),
                    reports_service_role_arn=service_role,
                )
            ),
        )
        key_arn = key.arn
        KmsAlias(self, "alias", provider=provider, name=REPORTS_KEY_ALIAS, target_key_id=key.key_id)
        bucket = S3Bucket(self, "bucket", provider=provider, bucket=bucket_name)
        secure_bucket(
            self,
            provider,
            bucket,
            key_arn,
            bucket_arn,
            also=render_template(
                "s3/reports-delivery.json",
                bucket_arn=bucket_arn,
                account_root_arn=naming.account_root_arn(account_id),
                reports_service_role_arn=service_role,
            )["Statement"],
        )
        S3BucketVersioningA(
            self,
            "versioning",
            provider=provider,
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            provider=provider,
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-reports",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=reports.retention_days)],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=30)
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
                    ],
                )
            ],
        )
        bucket_ref = bucket.bucket
        for template in reports.templates:
            BackupReportPlan(
                self,
                template.lower(),
                provider=provider,
                name=f"{REPORT_PLAN_PREFIX}{template.lower()}",
                description=f"org-backup: {template} of the organization's target OUs and Regions",
                report_delivery_channel=BackupReportPlanReportDeliveryChannel(
                    s3_bucket_name=bucket_ref, s3_key_prefix=template.lower(), formats=list(reports.formats)
                ),
                report_setting=BackupReportPlanReportSetting(
                    report_template=template,
                    organization_units=[ou.id for ou in config.target_ous],
                    regions=list(config.target_regions),
                ),
            )
