"""AWS Backup Audit Manager: a framework in every member account and Region (controls from ``org_backup.plans.audit``),
and organization-wide report plans in the delegated administrator account, delivered to an encrypted, versioned
bucket whose reports expire.

Frameworks and report plans evaluate what AWS Config records, so the backup resource types must be recorded in
every member account and Region (``readiness`` checks it).

Report delivery. AWS Backup Audit Manager writes the reports as its service-linked role AWSServiceRoleForBackupReports,
so the bucket policy and the key policy name that role itself, as AWS documents:
- AWS Backup guide, "Creating report plans using the AWS Backup console"
  (https://docs.aws.amazon.com/aws-backup/latest/devguide/create-report-plan-console.html): its sample bucket policy
  has "Principal":{"AWS":"arn:aws:iam::123456789012:role/aws-service-role/reports.backup.amazonaws.com/
  AWSServiceRoleForBackupReports"}, "Action":"s3:PutObject" on "arn:aws:s3:::BucketName/*", with StringEquals
  "s3:x-amz-acl":"bucket-owner-full-control" (policies/s3/reports-delivery.json is that statement).
- AWS Backup guide, "Creating report plans using the AWS Backup API"
  (https://docs.aws.amazon.com/aws-backup/latest/devguide/create-report-plan-api.html): with a customer managed key,
  "The Principal attribute must include the Backup Audit Manager service-linked role ... ARN" and "The Action attribute
  must include kms:GenerateDataKey and kms:Decrypt at minimum" (policies/kms/reports-key.json).
An account principal narrowed by ``aws:PrincipalArn`` would not do: it "doesn't give permission to any IAM principal.
Instead, it gives the AWS account permission to use IAM policies to delegate" (KMS developer guide, "Creating a key
policy", key-policy-overview.html), and the role's only policy, AWSServiceRolePolicyForBackupReports, grants no s3:PutObject and no kms action
(AWS Managed Policy Reference, AWSServiceRolePolicyForBackupReports).

A policy naming a role that does not exist is refused: "until the backup report is created the first time, the
service-linked role referred to in the S3 bucket policy will not yet exist, resulting in the error 'Invalid principal'"
(create-report-plan-console.html). AWS creates the role with the first report plan: "When you create a framework or
report plan ... AWS Backup creates the service-linked role for you" (AWS Backup guide, "Using roles for AWS Backup
Audit Manager", using-service-linked-roles-AWSServiceRoleForBackupReports.html; this sentence read in the page's zh_TW
edition, the English copy at hand stops just before it), as the deploy role (it may call iam:CreateServiceLinkedRole
for reports.backup.amazonaws.com only). So the report plans are created first and the key
and the bucket policy depend on them; the provider retries a policy IAM has not propagated yet (CreateKey on
MalformedPolicyDocumentException, PutBucketPolicy on MalformedPolicy, for 2 minutes). No aws_iam_service_linked_role:
it fails where the role already exists (created by a framework, the console or an earlier deployment).
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

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    FRAMEWORK_NAME,
    REPORT_PLAN_PREFIX,
    REPORTS_KEY_ALIAS,
    REPORTS_SERVICE_ROLE_PATH,
    Naming,
    reports_bucket,
)
from org_backup.config.templates import render_template
from org_backup.iam import deploy_roles
from org_backup.plans.audit import Control
from stacks.building_blocks import customer_managed_key, secure_bucket


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
    """The report bucket, its key and one organization-wide report plan per template (see the module docstring for the
    order in which they are created)."""

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
        bucket = S3Bucket(self, "bucket", provider=provider, bucket=bucket_name)
        # CSV only: these plans are cross-account and cross-Region, and AWS delivers such reports in CSV
        # (org_backup/config/rules.py refuses JSON, citing "Working with audit reports").
        formats = list(reports.formats)
        plans = [
            BackupReportPlan(
                self,
                template.lower(),
                provider=provider,
                name=f"{REPORT_PLAN_PREFIX}{template.lower()}",
                description=f"org-backup: {template} of the organization's target OUs and Regions",
                report_delivery_channel=BackupReportPlanReportDeliveryChannel(
                    s3_bucket_name=bucket.bucket, s3_key_prefix=template.lower(), formats=formats
                ),
                report_setting=BackupReportPlanReportSetting(
                    report_template=template,
                    organization_units=[ou.id for ou in config.target_ous],
                    regions=list(config.target_regions),
                ),
            )
            for template in reports.templates
        ]
        key = customer_managed_key(
            self,
            provider=provider,
            description="Encrypts the AWS Backup Audit Manager reports of org-backup",
            policy=deploy_roles.key_policy(
                "kms/reports-key.json",
                config,
                account_id,
                account_root_arn=naming.account_root_arn(account_id),
                reports_service_role_arn=service_role,
            ),
            alias=REPORTS_KEY_ALIAS,
            depends_on=[*plans],  # the report plans create the role the policy names
        )
        secure_bucket(
            self,
            provider,
            bucket,
            key.arn,
            bucket_arn,
            also=render_template(
                "s3/reports-delivery.json", bucket_arn=bucket_arn, reports_service_role_arn=service_role
            )["Statement"],
            policy_depends_on=plans,
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
