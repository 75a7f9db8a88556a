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

from cdktf_cdktf_provider_aws.cloudwatch_event_bus_policy import CloudwatchEventBusPolicy
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
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

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    BUILDER_ROLES,
    DEPLOY_PHASES,
    ENROLMENT_RULE,
    PIPELINE,
    PIPELINE_ROLE,
    PIPELINE_TOPIC,
    PR_PIPELINE,
    PR_PIPELINE_ROLE,
    enrolment_event_pattern,
)
from org_backup.config.pipeline import CodeCommitSource
from org_backup.config.templates import dumps, render_template
from org_backup.iam import deploy_roles
from org_backup.synth.lambda_package import LambdaPackage
from stacks.building_blocks import customer_managed_key, secure_bucket
from stacks.common import SynthOptions, aws_providers, configure_backend
from stacks.pipeline_base import PipelineBase
from stacks.pipeline_builds import add_builders, add_pipeline_role, add_pr_pipeline_role
from stacks.pipeline_codecommit import add_approval_rules, add_codecommit_triggers, add_pr_approval

# The Deploy stage's actions, one per deploy phase, and the variable that tells buildspecs/deploy.yml which.
DEPLOY_ACTIONS = {1: "DeployManagement", 2: "DeployAccounts", 3: "DeployBackupPolicies"}
DEPLOY_PHASE_VARIABLE = "ORG_BACKUP_DEPLOY_PHASE"


class PipelineStack(PipelineBase):
    def __init__(
        self,
        scope: Construct,
        stack_id: str,
        *,
        config: BackupConfig,
        options: SynthOptions,
        pr_approval: LambdaPackage | None = None,
    ) -> None:
        """``pr_approval``: the approval function's package, required with a CodeCommit source."""
        super().__init__(scope, stack_id, config=config)
        configure_backend(self, config=config, stack_name=stack_id)
        self.provider = aws_providers(
            self, config=config, account_id=self.account, regions=(self.region,), options=options, assume_role=False
        )[self.region]
        self._add_key()
        self._add_artifact_buckets()
        self._add_notifications()
        self.builder_roles, self.projects = add_builders(self)
        source = self.source
        if isinstance(source, CodeCommitSource):
            self.repository_arn = self.arn("codecommit", source.repository)
            repository = CodecommitRepository(
                self,
                "repository",
                provider=self.provider,
                repository_name=source.repository,
                description="org-backup configuration and code",
                kms_key_id=self.key.arn,
            )
            add_approval_rules(self, source, repository)
        self.pipeline_role = add_pipeline_role(self)
        self.pipeline = self._add_pipeline(PIPELINE, deploy=True)
        if isinstance(source, CodeCommitSource):
            add_codecommit_triggers(self, source)
            if pr_approval is None:
                raise ValueError("a CodeCommit source needs the pull-request approval function's package")
            add_pr_approval(self, source, pr_approval)
        else:
            self._add_pipeline(PR_PIPELINE, deploy=False)
        self._add_failure_notifications()
        self._add_enrolment()

    # -- pieces ---------------------------------------------------------------------------------------------------
    def _add_key(self) -> None:
        self.key = customer_managed_key(
            self,
            provider=self.provider,
            description="Encrypts org-backup pipeline artifacts, logs, repository and notifications",
            policy=render_template(
                "kms/pipeline-key.json",
                account_root_arn=self.naming.account_root_arn(self.account),
                logs_service=self.naming.service_host("logs", self.region),
                log_group_arn_pattern=self.arn("logs", "log-group:/aws/codebuild/org-backup-*"),
            ),
            alias="alias/org-backup/pipeline",
            alias_id="key-alias",
        )

    def _add_artifact_buckets(self) -> None:
        """The deploy branch's artifacts; with a connection source, the pull requests' in a bucket of their own."""
        writers = [self.naming.role_arn(self.account, r) for r in (PIPELINE_ROLE, *BUILDER_ROLES.values())]
        self.bucket, self.bucket_arn = self._artifact_bucket(
            "artifacts",
            f"org-backup-pipeline-{self.account}-{self.region}",
            [w for w in writers if not w.endswith(BUILDER_ROLES["pull-request"])],
        )
        self.pr_bucket = None
        self.pr_bucket_arn = None
        if not isinstance(self.source, CodeCommitSource):
            self.pr_bucket, self.pr_bucket_arn = self._artifact_bucket(
                "pr-artifacts",
                f"org-backup-pull-requests-{self.account}-{self.region}",
                [self.naming.role_arn(self.account, r) for r in (PR_PIPELINE_ROLE, BUILDER_ROLES["pull-request"])],
            )

    def _artifact_bucket(self, construct_id: str, name: str, writers: list[str]) -> tuple[S3Bucket, str]:
        """A versioned, encrypted artifact bucket that only ``writers`` (its pipeline and builders) write to."""
        bucket_arn = f"arn:{self.naming.partition}:s3:::{name}"
        bucket = S3Bucket(self, construct_id, provider=self.provider, bucket=name, force_destroy=False)
        S3BucketVersioningA(
            self, f"{construct_id}-versioning", provider=self.provider, bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )  # fmt: skip
        # The deploy branch's bucket keeps the construct ids it always had (its Terraform addresses do not move).
        secure = self if construct_id == "artifacts" else Construct(self, f"{construct_id}-security")
        also = deploy_roles.writers_only(self.config, bucket_arn, writers)
        secure_bucket(secure, self.provider, bucket, self.key.arn, bucket_arn, also=also)
        days = self.config.pipeline.artifact_retention_days
        S3BucketLifecycleConfiguration(
            self,
            f"{construct_id}-lifecycle",
            provider=self.provider,
            bucket=bucket.id,
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
        return bucket, bucket_arn

    def _add_notifications(self) -> None:
        self.topic = SnsTopic(
            self, "topic", provider=self.provider, name=PIPELINE_TOPIC, kms_master_key_id=self.key.arn
        )
        SnsTopicPolicy(
            self,
            "topic-policy",
            provider=self.provider,
            arn=self.topic.arn,
            policy=dumps(
                render_template(
                    "sns/rules-publish.json",
                    topic_arn=self.arn("sns", PIPELINE_TOPIC),
                    rule_arn_pattern=self.arn("events", "rule/org-backup-*"),
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

    def _plan_stage(self) -> CodepipelineStage:
        """The Plan stage fanned out (plan_shards > 1): the plan project as a batch whose shards' files CodePipeline
        combines into one artifact (CodeBuild User Guide, "Batch build with combined artifacts": BatchEnabled and
        CombineArtifacts), then one build of the same project (ORG_BACKUP_PLAN_MERGE=1) that checks and merges them
        into "plans", the artifact the approval and the Deploy stage read, as with one Plan build."""
        plan = self.projects["plan"].name
        shards = CodepipelineStageAction(
            name="Plan",
            category="Build",
            owner="AWS",
            provider="CodeBuild",
            version="1",
            run_order=1,
            input_artifacts=["source"],
            output_artifacts=["plan_shards"],
            configuration={"ProjectName": plan, "BatchEnabled": "true", "CombineArtifacts": "true"},
        )
        merge = CodepipelineStageAction(
            name="MergePlans",
            category="Build",
            owner="AWS",
            provider="CodeBuild",
            version="1",
            run_order=2,
            input_artifacts=["source", "plan_shards"],
            output_artifacts=["plans"],
            configuration={
                "ProjectName": plan,
                "PrimarySource": "source",
                "EnvironmentVariables": json.dumps([{"name": "ORG_BACKUP_PLAN_MERGE", "value": "1"}]),
            },
        )
        return CodepipelineStage(name="Plan", action=[shards, merge])

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
        source = self.source
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

        if deploy:
            stages = [
                CodepipelineStage(name="Source", action=[source_action]),
                build("Validate", "validate"),
                self._plan_stage() if self.config.pipeline.plan_shards > 1 else build("Plan", "plan", ["plans"]),
            ]
            if self.config.pipeline.manual_approval:
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
            stages.append(self._deploy_stage())  # deploys what Plan listed, no more, phase by phase
            role_arn, bucket = self.pipeline_role.arn, self.bucket
        else:
            # Pull requests: their own project, role and artifact bucket; lint, test and plan in one build.
            if self.pr_bucket is None:
                raise ValueError("the pull-request pipeline needs its artifact bucket")
            stages = [CodepipelineStage(name="Source", action=[source_action]), build("Check", "pull-request")]
            role_arn, bucket = add_pr_pipeline_role(self).arn, self.pr_bucket
        return Codepipeline(
            self,
            f"pipeline-{name}",
            provider=self.provider,
            name=name,
            pipeline_type="V2",
            execution_mode="QUEUED" if deploy else "SUPERSEDED",
            role_arn=role_arn,
            artifact_store=[
                CodepipelineArtifactStore(
                    location=bucket.bucket,
                    type="S3",
                    encryption_key=CodepipelineArtifactStoreEncryptionKey(id=self.key.arn, type="KMS"),
                )
            ],
            stage=stages,
            trigger=trigger,
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
                    bus_arn=self.arn("events", "event-bus/default"),
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
        start = self.events_role(
            "events-enrolment",
            "org-backup-events-enrolment",
            {
                "Effect": "Allow",
                "Action": "codepipeline:StartPipelineExecution",
                "Resource": self.arn("codepipeline", PIPELINE),
            },
        )
        self.start_pipeline_target("enrolment-target", rule, start)
