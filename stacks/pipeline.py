"""The pipeline in the home account: pull requests validate and plan; the deploy branch validates, plans, waits for
an optional approval and deploys.

CodePipeline V2: Source -> Validate (make test, checkov JUnit report) -> Plan (make discover, then make plan of
the stacks changed since the last deploy, read-only plan role; plans, stack list and accounts snapshot kept as the
"plans" artifact) -> Approval (optional) -> Deploy (make deploy of exactly the planned stacks; a CodeBuild batch of
pipeline.deploy_shards parallel builds when above 1). Pull requests never reach Deploy: with a
connection source a second V2 pipeline is triggered by pull requests and stops after Plan; with CodeCommit an
EventBridge rule on pull-request events starts a CodeBuild project that validates and plans with the read-only
role and posts the result back on the pull request. New accounts in the organization start the pipeline through
the enrolment rule (the management stack forwards Organizations events to this account's default bus).

This stack is applied by an administrator of the home account, never by the pipeline itself: a pipeline that can
rewrite its own permissions could grant itself anything.
"""

from __future__ import annotations

import json
from typing import Any

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.cloudwatch_event_bus_policy import CloudwatchEventBusPolicy
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetInputTransformer,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject,
    CodebuildProjectArtifacts,
    CodebuildProjectBuildBatchConfig,
    CodebuildProjectBuildBatchConfigRestrictions,
    CodebuildProjectEnvironment,
    CodebuildProjectEnvironmentEnvironmentVariable,
    CodebuildProjectLogsConfig,
    CodebuildProjectLogsConfigCloudwatchLogs,
    CodebuildProjectLogsConfigS3Logs,
    CodebuildProjectSource,
)
from cdktf_cdktf_provider_aws.codebuild_report_group import CodebuildReportGroup, CodebuildReportGroupExportConfig
from cdktf_cdktf_provider_aws.codecommit_approval_rule_template import CodecommitApprovalRuleTemplate
from cdktf_cdktf_provider_aws.codecommit_approval_rule_template_association import (
    CodecommitApprovalRuleTemplateAssociation,
)
from cdktf_cdktf_provider_aws.codecommit_repository import CodecommitRepository
from cdktf_cdktf_provider_aws.codepipeline import (
    Codepipeline,
    CodepipelineArtifactStore,
    CodepipelineArtifactStoreEncryptionKey,
    CodepipelineStage,
    CodepipelineStageAction,
    CodepipelineTrigger,
    CodepipelineTriggerGitConfiguration,
    CodepipelineTriggerGitConfigurationPullRequest,
    CodepipelineTriggerGitConfigurationPullRequestBranches,
    CodepipelineTriggerGitConfigurationPush,
    CodepipelineTriggerGitConfigurationPushBranches,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from org_backup import fanout
from org_backup.config import BackupConfig, CodeCommitSource
from org_backup.naming import (
    BUILDER_ROLES,
    DEPLOY_PHASES,
    ENROLMENT_RULE,
    STATE_KEY_ALIAS,
    Naming,
    enrolment_event_pattern,
)
from org_backup.policy_docs import dumps, render_template
from stacks.bootstrap import secure_bucket
from stacks.building_blocks import KEY_DELETION_WINDOW_DAYS
from stacks.common import SynthOptions, aws_providers, configure_backend

PIPELINE = "org-backup"
PR_PIPELINE = "org-backup-pull-requests"
BUILD_IMAGE = "aws/codebuild/standard:7.0"
DEPLOY_COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"
BUILD_TIMEOUT_MINUTES = 120
REPORT_GROUP = "org-backup-checkov"
# The Deploy stage's actions, one per deploy phase, and the variable that tells buildspecs/deploy.yml which.
DEPLOY_ACTIONS = {1: "DeployManagement", 2: "DeployAccounts", 3: "DeployBackupPolicies"}
DEPLOY_PHASE_VARIABLE = "ORG_BACKUP_DEPLOY_PHASE"
TOPIC = "org-backup-pipeline"
# CodeBuild project -> (buildspec, builder role kind)
PROJECTS = {
    "validate": ("buildspecs/validate.yml", "validate"),
    "plan": ("buildspecs/plan.yml", "plan"),
    "deploy": ("buildspecs/deploy.yml", "deploy"),
    "pull-request": ("buildspecs/pull-request.yml", "plan"),
}


class PipelineStack(TerraformStack):
    def __init__(self, scope: Construct, stack_id: str, *, config: BackupConfig, options: SynthOptions) -> None:
        super().__init__(scope, stack_id)
        self.config = config
        self.naming = Naming(config)
        self.account = config.pipeline.home_account_id
        self.region = config.pipeline_region
        configure_backend(self, config=config, stack_name=stack_id)
        self.provider = aws_providers(
            self, config=config, account_id=self.account, regions=(self.region,), options=options, assume_role=False
        )[self.region]
        self._add_key()
        self._add_artifact_bucket()
        self._add_notifications()
        self._add_builders()
        source = config.pipeline.source
        if isinstance(source, CodeCommitSource):
            self.repository_arn = self._arn("codecommit", source.repository)
            repository = CodecommitRepository(
                self,
                "repository",
                provider=self.provider,
                repository_name=source.repository,
                description="org-backup configuration and code",
                kms_key_id=self.key.arn,
            )
            self._add_approval_rules(source, repository)
        self._add_pipeline_role()
        self.pipeline = self._add_pipeline(PIPELINE, deploy=True)
        if isinstance(source, CodeCommitSource):
            self._add_codecommit_triggers(source)
        else:
            self._add_pipeline(PR_PIPELINE, deploy=False)
        self._add_failure_notifications()
        self._add_enrolment()

    # -- helpers ------------------------------------------------------------------------------------------------
    def _arn(self, service: str, resource: str) -> str:
        return self.naming.regional_arn(service, self.region, self.account, resource)

    def _policy(self, construct_id: str, role: IamRole, statements: list[dict[str, Any]]) -> None:
        IamRolePolicy(
            self,
            construct_id,
            provider=self.provider,
            role=role.name,
            name=construct_id,
            policy=dumps({"Version": "2012-10-17", "Statement": statements}),
        )

    def _service_role(self, construct_id: str, name: str, service: str) -> IamRole:
        return IamRole(
            self,
            construct_id,
            provider=self.provider,
            name=name,
            assume_role_policy=dumps(
                render_template("iam/service-trust.json", service=service, account_id=self.account)
            ),
        )

    # -- pieces ---------------------------------------------------------------------------------------------------
    def _add_key(self) -> None:
        self.key = KmsKey(
            self,
            "key",
            provider=self.provider,
            description="Encrypts org-backup pipeline artifacts, logs, repository and notifications",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=dumps(
                render_template(
                    "kms/pipeline-key.json",
                    account_root_arn=self.naming.account_root_arn(self.account),
                    logs_service=self.naming.service_host("logs", self.region),
                    log_group_arn_pattern=self._arn("logs", "log-group:/aws/codebuild/org-backup-*"),
                    rule_arn_pattern=self._arn("events", "rule/org-backup-*"),
                )
            ),
        )
        KmsAlias(
            self, "key-alias", provider=self.provider, name="alias/org-backup/pipeline", target_key_id=self.key.key_id
        )

    def _add_artifact_bucket(self) -> None:
        name = f"org-backup-pipeline-{self.account}-{self.region}"
        self.bucket_arn = f"arn:{self.naming.partition}:s3:::{name}"
        self.bucket = S3Bucket(self, "artifacts", provider=self.provider, bucket=name, force_destroy=False)
        S3BucketVersioningA(
            self, "artifacts-versioning", provider=self.provider, bucket=self.bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )  # fmt: skip
        secure_bucket(self, self.provider, self.bucket, self.key.arn, self.bucket_arn)
        days = self.config.pipeline.artifact_retention_days
        S3BucketLifecycleConfiguration(
            self,
            "artifacts-lifecycle",
            provider=self.provider,
            bucket=self.bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-artifacts",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=days)],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=days)
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
                    ],
                )
            ],
        )

    def _add_notifications(self) -> None:
        self.topic = SnsTopic(self, "topic", provider=self.provider, name=TOPIC, kms_master_key_id=self.key.arn)
        SnsTopicPolicy(
            self,
            "topic-policy",
            provider=self.provider,
            arn=self.topic.arn,
            policy=dumps(
                render_template(
                    "sns/pipeline-topic.json",
                    topic_arn=self._arn("sns", TOPIC),
                    rule_arn_pattern=self._arn("events", "rule/org-backup-*"),
                )
            ),
        )
        for index, email in enumerate(self.config.pipeline.notification_emails):
            SnsTopicSubscription(
                self,
                f"email-{index}",
                provider=self.provider,
                topic_arn=self.topic.arn,
                protocol="email",
                endpoint=email,
            )

    def _add_builders(self) -> None:
        """One role per builder kind; every role may use the key, its logs, the artifacts and the reports."""
        p = self.naming.partition
        org_id = self.config.organization.id
        self.builder_roles: dict[str, IamRole] = {}
        for kind, name in BUILDER_ROLES.items():
            role = self._service_role(f"builder-{kind}", name, "codebuild.amazonaws.com")
            self.builder_roles[kind] = role
            statements: list[dict[str, Any]] = [
                {
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": self._arn("logs", "log-group:/aws/codebuild/org-backup-*:*"),
                },
                {
                    "Sid": "Artifacts",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                    "Resource": f"{self.bucket_arn}/*",
                },
                {
                    "Sid": "Key",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": self._arn("kms", "key/*"),
                    "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/org-backup/pipeline"}},
                },
                {
                    "Sid": "Reports",
                    "Effect": "Allow",
                    "Action": ["codebuild:BatchPutTestCases", "codebuild:CreateReport", "codebuild:UpdateReport"],
                    "Resource": self._arn("codebuild", f"report-group/{REPORT_GROUP}"),
                },
            ]
            if kind in ("plan", "deploy"):
                target_role = self.config.names.plan_role if kind == "plan" else self.config.names.deploy_role
                state_actions = ["s3:GetObject", "s3:ListBucket"] + (
                    ["s3:PutObject", "s3:DeleteObject"] if kind == "deploy" else []
                )
                state_bucket = f"arn:{p}:s3:::{self.naming.state_bucket()}"
                statements += [
                    {
                        "Sid": "AssumeOwnRoleInOrganizationAccountsOnly",
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Resource": f"arn:{p}:iam::*:role/{target_role}",
                        "Condition": {"StringEquals": {"aws:ResourceOrgID": org_id}},
                    },
                    {
                        "Sid": "TerraformState",
                        "Effect": "Allow",
                        "Action": state_actions,
                        "Resource": [state_bucket, f"{state_bucket}/*"],
                    },
                    {
                        "Sid": "TerraformStateKey",
                        "Effect": "Allow",
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": self._arn("kms", "key/*"),
                        "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": STATE_KEY_ALIAS}},
                    },
                ]
            if kind == "plan" and isinstance(self.config.pipeline.source, CodeCommitSource):
                statements.append(
                    {
                        "Sid": "PullRequestFeedback",
                        "Effect": "Allow",
                        "Action": [
                            "codecommit:GitPull",
                            "codecommit:PostCommentForPullRequest",
                            "codecommit:UpdatePullRequestApprovalState",
                        ],
                        "Resource": self._arn("codecommit", self.config.pipeline.source.repository),
                    }
                )
            self._policy(f"builder-{kind}-policy", role, statements)

        CodebuildReportGroup(
            self,
            "checkov-report",
            provider=self.provider,
            name=REPORT_GROUP,
            type="TEST",
            export_config=CodebuildReportGroupExportConfig(type="NO_EXPORT"),
        )
        self.projects: dict[str, CodebuildProject] = {}
        shards = self.config.pipeline.deploy_shards
        batch = self._deploy_batch_config(shards) if shards > 1 else None
        codecommit = isinstance(self.config.pipeline.source, CodeCommitSource)
        for name, (buildspec, kind) in PROJECTS.items():
            if name == "pull-request" and not codecommit:
                continue  # connection sources review pull requests in their own V2 pipeline
            log_group = CloudwatchLogGroup(
                self,
                f"logs-{name}",
                provider=self.provider,
                name=f"/aws/codebuild/org-backup-{name}",
                retention_in_days=self.config.pipeline.log_retention_days,
                kms_key_id=self.key.arn,
            )
            in_pipeline = name != "pull-request"
            if name == "deploy" and batch:
                # Inline (the shard list depends on the config), so Terraform would read the shell's ${VAR} as its
                # own interpolation: escaped as $${VAR}, which Terraform writes back as ${VAR}.
                buildspec = fanout.batch_buildspec(shards).replace("${", "$${").replace("%{", "%%{")
            source = (
                CodebuildProjectSource(type="CODEPIPELINE", buildspec=buildspec)
                if in_pipeline
                else CodebuildProjectSource(type="CODECOMMIT", buildspec=buildspec, location=self._codecommit_url())
            )
            self.projects[name] = CodebuildProject(
                self,
                f"project-{name}",
                provider=self.provider,
                name=f"org-backup-{name}",
                description=f"org-backup {name} ({PROJECTS[name][0]}{', batch build' if name == 'deploy' and batch else ''})",
                service_role=self.builder_roles[kind].arn,
                encryption_key=self.key.arn,
                build_timeout=BUILD_TIMEOUT_MINUTES,
                # One deploy at a time; a batch's shards count as builds, and a build over the limit fails, not waits.
                concurrent_build_limit=shards if name == "deploy" else None,
                build_batch_config=batch if name == "deploy" else None,
                artifacts=CodebuildProjectArtifacts(type="CODEPIPELINE" if in_pipeline else "NO_ARTIFACTS"),
                source=source,
                environment=CodebuildProjectEnvironment(
                    compute_type=DEPLOY_COMPUTE_TYPE,
                    image=BUILD_IMAGE,
                    type="LINUX_CONTAINER",
                    privileged_mode=False,
                    environment_variable=[
                        CodebuildProjectEnvironmentEnvironmentVariable(
                            name="DEPLOY_PARALLELISM", value=str(self.config.pipeline.deploy_parallelism)
                        ),
                        CodebuildProjectEnvironmentEnvironmentVariable(
                            name="TF_PLUGIN_CACHE_DIR", value="/root/.terraform.d/plugin-cache"
                        ),
                        # Overridden per build by the batch's build-list; a single Deploy build is shard 1 of 1.
                        CodebuildProjectEnvironmentEnvironmentVariable(name="ORG_BACKUP_SHARD", value="1"),
                        CodebuildProjectEnvironmentEnvironmentVariable(name="ORG_BACKUP_SHARDS", value="1"),
                    ],
                ),
                logs_config=CodebuildProjectLogsConfig(
                    cloudwatch_logs=CodebuildProjectLogsConfigCloudwatchLogs(
                        status="ENABLED", group_name=log_group.name
                    ),
                    s3_logs=CodebuildProjectLogsConfigS3Logs(status="DISABLED"),
                ),
            )

    def _deploy_batch_config(self, shards: int) -> CodebuildProjectBuildBatchConfig:
        """The Deploy stage as a batch of ``shards`` builds (org_backup/fanout.py). CodeBuild starts them with this
        role, which may only start, stop and retry builds of the deploy project: the builds themselves cannot."""
        role = self._service_role("deploy-batch-role", "org-backup-deploy-batch", "codebuild.amazonaws.com")
        self._policy(
            "deploy-batch-policy",
            role,
            [
                {
                    "Sid": "RunDeployShards",
                    "Effect": "Allow",
                    "Action": ["codebuild:RetryBuild", "codebuild:StartBuild", "codebuild:StopBuild"],
                    "Resource": self._arn("codebuild", "project/org-backup-deploy"),
                }
            ],
        )
        return CodebuildProjectBuildBatchConfig(
            service_role=role.arn,
            combine_artifacts=False,
            restrictions=CodebuildProjectBuildBatchConfigRestrictions(
                maximum_builds_allowed=shards, compute_types_allowed=[DEPLOY_COMPUTE_TYPE]
            ),
            timeout_in_mins=BUILD_TIMEOUT_MINUTES,
        )

    def _codecommit_url(self) -> str:
        source = self.config.pipeline.source
        if not isinstance(source, CodeCommitSource):  # synth runs with -O, so no assert
            raise TypeError(f"pipeline.source is {type(source).__name__}, not a CodeCommit source")
        return f"https://git-codecommit.{self.region}.amazonaws.com/v1/repos/{source.repository}"

    def _add_approval_rules(self, source: CodeCommitSource, repository: CodecommitRepository) -> None:
        """A pull request merges only with a passing validation build and one human review."""
        validator = f"arn:{self.naming.partition}:sts::{self.account}:assumed-role/{BUILDER_ROLES['plan']}/*"
        rules = {
            "org-backup-validation": ("The org-backup validation build passed", [validator]),
            "org-backup-review": ("One reviewer approved", None),
        }
        for name, (description, pool) in rules.items():
            statement: dict[str, Any] = {"Type": "Approvers", "NumberOfApprovalsNeeded": 1}
            if pool:
                statement["ApprovalPoolMembers"] = pool
            template = CodecommitApprovalRuleTemplate(
                self,
                f"approval-{name}",
                provider=self.provider,
                name=name,
                description=description,
                content=json.dumps(
                    {
                        "Version": "2018-11-08",
                        "DestinationReferences": [f"refs/heads/{source.branch}"],
                        "Statements": [statement],
                    },
                    sort_keys=True,
                ),
            )
            CodecommitApprovalRuleTemplateAssociation(
                self,
                f"approval-{name}-association",
                provider=self.provider,
                approval_rule_template_name=template.name,
                repository_name=repository.repository_name,
            )

    def _add_pipeline_role(self) -> None:
        self.pipeline_role = self._service_role("pipeline-role", "org-backup-pipeline", "codepipeline.amazonaws.com")
        source = self.config.pipeline.source
        source_statement: dict[str, Any]
        if isinstance(source, CodeCommitSource):
            source_statement = {
                "Sid": "Source",
                "Effect": "Allow",
                "Action": [
                    "codecommit:GetBranch",
                    "codecommit:GetCommit",
                    "codecommit:GetUploadArchiveStatus",
                    "codecommit:UploadArchive",
                ],
                "Resource": self.repository_arn,
            }
        else:
            source_statement = {
                "Sid": "Source",
                "Effect": "Allow",
                # The action's service prefix must match the connection ARN's (codeconnections since the 2024
                # rename, codestar-connections before): https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html
                "Action": f"{source.connection_arn.split(':')[2]}:UseConnection",
                "Resource": source.connection_arn,
            }
        self._policy(
            "pipeline-policy",
            self.pipeline_role,
            [
                source_statement,
                {
                    "Sid": "Artifacts",
                    "Effect": "Allow",
                    "Action": ["s3:GetBucketVersioning", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                    "Resource": [self.bucket_arn, f"{self.bucket_arn}/*"],
                },
                {
                    "Sid": "Key",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": self._arn("kms", "key/*"),
                    "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/org-backup/pipeline"}},
                },
                {
                    "Sid": "Builds",
                    "Effect": "Allow",
                    "Action": ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                    "Resource": [
                        self._arn("codebuild", f"project/org-backup-{n}") for n in ("validate", "plan", "deploy")
                    ],
                },
                *(
                    [
                        {
                            "Sid": "DeployBatch",
                            "Effect": "Allow",
                            "Action": ["codebuild:BatchGetBuildBatches", "codebuild:StartBuildBatch"],
                            "Resource": self._arn("codebuild", "project/org-backup-deploy"),
                        }
                    ]
                    if self.config.pipeline.deploy_shards > 1
                    else []
                ),
                {
                    "Sid": "ApprovalNotice",
                    "Effect": "Allow",
                    "Action": "sns:Publish",
                    "Resource": self._arn("sns", TOPIC),
                },
            ],
        )

    def _deploy_stage(self) -> CodepipelineStage:
        """One action per deploy phase (naming.deploy_phase), in order: an action starts when the one before it
        succeeded: the guardrail SCPs are in place before the vaults they protect, and backup
        policies are attached only once every member stack of the run is deployed. Phase 2 (many stacks) runs as
        the batch build when deploy_shards > 1; phases 1 and 3 are one stack each."""
        actions = []
        for phase in DEPLOY_PHASES:
            configuration = {
                "ProjectName": self.projects["deploy"].name,
                "PrimarySource": "source",
                "EnvironmentVariables": json.dumps([{"name": DEPLOY_PHASE_VARIABLE, "value": str(phase)}]),
            }
            if phase == 2 and self.config.pipeline.deploy_shards > 1:
                configuration["BatchEnabled"] = "true"
            actions.append(
                CodepipelineStageAction(
                    name=DEPLOY_ACTIONS[phase],
                    category="Build",
                    owner="AWS",
                    provider="CodeBuild",
                    version="1",
                    run_order=phase,
                    input_artifacts=["source", "plans"],
                    configuration=configuration,
                )
            )
        return CodepipelineStage(name="Deploy", action=actions)

    def _add_pipeline(self, name: str, *, deploy: bool) -> Codepipeline:
        source = self.config.pipeline.source
        trigger = None
        if isinstance(source, CodeCommitSource):
            provider = "CodeCommit"
            configuration = {"RepositoryName": source.repository, "PollForSourceChanges": "false"}
        else:
            provider = "CodeStarSourceConnection"
            configuration = {"ConnectionArn": source.connection_arn, "FullRepositoryId": source.repository}
        source_action = CodepipelineStageAction(
            name="Source",
            category="Source",
            owner="AWS",
            provider=provider,
            version="1",
            output_artifacts=["source"],
            configuration={**configuration, "BranchName": source.branch, "OutputArtifactFormat": "CODE_ZIP"},
        )
        if not isinstance(source, CodeCommitSource):
            git = (
                CodepipelineTriggerGitConfiguration(
                    source_action_name="Source",
                    push=[
                        CodepipelineTriggerGitConfigurationPush(
                            branches=CodepipelineTriggerGitConfigurationPushBranches(includes=[source.branch])
                        )
                    ],
                )
                if deploy
                else CodepipelineTriggerGitConfiguration(
                    source_action_name="Source",
                    pull_request=[
                        CodepipelineTriggerGitConfigurationPullRequest(
                            events=["OPEN", "UPDATED"],
                            branches=CodepipelineTriggerGitConfigurationPullRequestBranches(includes=[source.branch]),
                        )
                    ],
                )
            )
            trigger = [CodepipelineTrigger(provider_type="CodeStarSourceConnection", git_configuration=git)]

        def build(stage: str, project: str, outputs: list[str] | None = None) -> CodepipelineStage:
            action = CodepipelineStageAction(
                name=stage,
                category="Build",
                owner="AWS",
                provider="CodeBuild",
                version="1",
                input_artifacts=["source"],
                output_artifacts=outputs,
                configuration={"ProjectName": self.projects[project].name},
            )
            return CodepipelineStage(name=stage, action=[action])

        stages = [
            CodepipelineStage(name="Source", action=[source_action]),
            build("Validate", "validate"),
            build("Plan", "plan", ["plans"]),
        ]
        if deploy and self.config.pipeline.manual_approval:
            approval = CodepipelineStageAction(
                name="Approve",
                category="Approval",
                owner="AWS",
                provider="Manual",
                version="1",
                configuration={
                    "NotificationArn": self.topic.arn,
                    "CustomData": "Review the plans in the Plan stage's 'plans' artifact, then approve.",
                },
            )
            stages.append(CodepipelineStage(name="Approve", action=[approval]))
        if deploy:
            stages.append(self._deploy_stage())  # deploys what Plan listed, no more, phase by phase
        return Codepipeline(
            self,
            f"pipeline-{name}",
            provider=self.provider,
            name=name,
            pipeline_type="V2",
            execution_mode="QUEUED" if deploy else "SUPERSEDED",
            role_arn=self.pipeline_role.arn,
            artifact_store=[
                CodepipelineArtifactStore(
                    location=self.bucket.bucket,
                    type="S3",
                    encryption_key=CodepipelineArtifactStoreEncryptionKey(id=self.key.arn, type="KMS"),
                )
            ],
            stage=stages,
            trigger=trigger,
        )

    def _events_role(self, construct_id: str, name: str, statement: dict[str, Any]) -> IamRole:
        role = self._service_role(construct_id, name, "events.amazonaws.com")
        self._policy(f"{construct_id}-policy", role, [statement])
        return role

    def _start_pipeline_target(self, construct_id: str, rule: CloudwatchEventRule, role: IamRole) -> None:
        CloudwatchEventTarget(
            self, construct_id, provider=self.provider, rule=rule.name, arn=self.pipeline.arn, role_arn=role.arn
        )

    def _add_codecommit_triggers(self, source: CodeCommitSource) -> None:
        start = self._events_role(
            "events-start-pipeline",
            "org-backup-events-start-pipeline",
            {
                "Effect": "Allow",
                "Action": "codepipeline:StartPipelineExecution",
                "Resource": self._arn("codepipeline", PIPELINE),
            },
        )
        push = CloudwatchEventRule(
            self,
            "push-rule",
            provider=self.provider,
            name="org-backup-source-push",
            description="Pushes to the deploy branch start the org-backup pipeline",
            event_pattern=json.dumps(
                {
                    "source": ["aws.codecommit"],
                    "detail-type": ["CodeCommit Repository State Change"],
                    "resources": [self.repository_arn],
                    "detail": {"event": ["referenceUpdated"], "referenceName": [source.branch]},
                },
                sort_keys=True,
            ),
        )
        self._start_pipeline_target("push-target", push, start)
        build = self._events_role(
            "events-start-pr-build",
            "org-backup-events-start-pr-build",
            {
                "Effect": "Allow",
                "Action": "codebuild:StartBuild",
                "Resource": self._arn("codebuild", "project/org-backup-pull-request"),
            },
        )
        pull_requests = CloudwatchEventRule(
            self,
            "pr-rule",
            provider=self.provider,
            name="org-backup-pull-requests",
            description="Pull requests to the deploy branch are validated and planned, never deployed",
            event_pattern=json.dumps(
                {
                    "source": ["aws.codecommit"],
                    "detail-type": ["CodeCommit Pull Request State Change"],
                    "resources": [self.repository_arn],
                    "detail": {
                        "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
                        "destinationReference": [f"refs/heads/{source.branch}"],
                    },
                },
                sort_keys=True,
            ),
        )
        CloudwatchEventTarget(
            self,
            "pr-target",
            provider=self.provider,
            rule=pull_requests.name,
            arn=self.projects["pull-request"].arn,
            role_arn=build.arn,
            input_transformer=CloudwatchEventTargetInputTransformer(
                input_paths={
                    "commit": "$.detail.sourceCommit",
                    "destination": "$.detail.destinationCommit",
                    "pr": "$.detail.pullRequestId",
                    "revision": "$.detail.revisionId",
                    "repository": "$.detail.repositoryNames[0]",
                },
                input_template=(
                    '{"sourceVersion": <commit>, "environmentVariablesOverride": ['
                    '{"name": "PULL_REQUEST_ID", "value": <pr>, "type": "PLAINTEXT"}, '
                    '{"name": "REVISION_ID", "value": <revision>, "type": "PLAINTEXT"}, '
                    '{"name": "REPOSITORY_NAME", "value": <repository>, "type": "PLAINTEXT"}, '
                    '{"name": "SOURCE_COMMIT", "value": <commit>, "type": "PLAINTEXT"}, '
                    '{"name": "DESTINATION_COMMIT", "value": <destination>, "type": "PLAINTEXT"}]}'
                ),
            ),
        )

    def _add_failure_notifications(self) -> None:
        rule = CloudwatchEventRule(
            self,
            "failed-rule",
            provider=self.provider,
            name="org-backup-pipeline-failed",
            description="org-backup pipeline executions that failed",
            event_pattern=json.dumps(
                {
                    "source": ["aws.codepipeline"],
                    "detail-type": ["CodePipeline Pipeline Execution State Change"],
                    "detail": {"state": ["FAILED"], "pipeline": [PIPELINE, PR_PIPELINE]},
                },
                sort_keys=True,
            ),
        )
        CloudwatchEventTarget(self, "failed-target", provider=self.provider, rule=rule.name, arn=self.topic.arn)

    def _add_enrolment(self) -> None:
        """Organizations events forwarded by the management account start the pipeline: a new account in a target
        OU gets its stack without a commit (once account discovery lands; until then add it to backup.yaml)."""
        management = self.config.organization.management_account_id
        CloudwatchEventBusPolicy(
            self,
            "bus-policy",
            provider=self.provider,
            event_bus_name="default",
            policy=dumps(
                render_template(
                    "events/home-bus.json",
                    management_root_arn=self.naming.account_root_arn(management),
                    bus_arn=self._arn("events", "event-bus/default"),
                )
            ),
        )
        rule = CloudwatchEventRule(
            self,
            "enrolment-rule",
            provider=self.provider,
            name=ENROLMENT_RULE,
            description="Accounts created, moved or invited in the organization start the org-backup pipeline",
            event_pattern=json.dumps(enrolment_event_pattern(management), sort_keys=True),
        )
        start = self._events_role(
            "events-enrolment",
            "org-backup-events-enrolment",
            {
                "Effect": "Allow",
                "Action": "codepipeline:StartPipelineExecution",
                "Resource": self._arn("codepipeline", PIPELINE),
            },
        )
        self._start_pipeline_target("enrolment-target", rule, start)
