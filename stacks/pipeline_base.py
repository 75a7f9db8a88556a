"""What the pipeline's parts (``pipeline_builds.py``, ``pipeline_codecommit.py``) build on: the home account's stack,
its provider, key, artifact buckets and topic, and the helpers every part uses. A class of its own so that the parts
are typed against it without importing ``stacks/pipeline.py``, which composes them (no import circle in stacks/)."""

from __future__ import annotations

from typing import Any

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.codebuild_project import CodebuildProject
from cdktf_cdktf_provider_aws.codepipeline import Codepipeline
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import Naming
from org_backup.config.pipeline import CodeCommitSource, ConnectionSource
from org_backup.config.templates import dumps, render_template


class PipelineBase(TerraformStack):
    """The attributes below are set by ``PipelineStack`` as it builds, in the order its constructor shows; a part
    reads only what was built before it is called."""

    provider: AwsProvider
    key: KmsKey
    bucket: S3Bucket
    bucket_arn: str
    pr_bucket: S3Bucket | None  # the pull requests' artifacts: a connection source only
    pr_bucket_arn: str | None
    topic: SnsTopic
    repository_arn: str  # a CodeCommit source only
    builder_roles: dict[str, IamRole]  # builder kind -> role
    projects: dict[str, CodebuildProject]  # project name (validate, plan, deploy, pull-request) -> project
    pipeline_role: IamRole
    pipeline: Codepipeline  # the deploy branch's

    def __init__(self, scope: Construct, stack_id: str, *, config: BackupConfig) -> None:
        super().__init__(scope, stack_id)
        self.config = config
        self.naming = Naming(config)
        self.account = config.pipeline.home_account_id
        self.region = config.pipeline_region

    @property
    def source(self) -> CodeCommitSource | ConnectionSource:
        """The pipeline's source; the config's rules require one whenever the pipeline (this stack) exists."""
        source = self.config.pipeline.source
        if source is None:
            raise ValueError("the pipeline stack needs pipeline.source (the config's rules require it when enabled)")
        return source

    def arn(self, service: str, resource: str) -> str:
        return self.naming.regional_arn(service, self.region, self.account, resource)

    def policy(self, construct_id: str, role: IamRole, statements: list[dict[str, Any]]) -> None:
        IamRolePolicy(
            self,
            construct_id,
            provider=self.provider,
            role=role.name,
            name=construct_id,
            policy=dumps({"Version": "2012-10-17", "Statement": statements}),
        )

    def service_role(self, construct_id: str, name: str, service: str) -> IamRole:
        return IamRole(
            self,
            construct_id,
            provider=self.provider,
            name=name,
            assume_role_policy=dumps(
                render_template("iam/service-trust.json", service=service, account_id=self.account)
            ),
        )

    def events_role(self, construct_id: str, name: str, statement: dict[str, Any]) -> IamRole:
        role = self.service_role(construct_id, name, "events.amazonaws.com")
        self.policy(f"{construct_id}-policy", role, [statement])
        return role

    def start_pipeline_target(self, construct_id: str, rule: CloudwatchEventRule, role: IamRole) -> None:
        CloudwatchEventTarget(
            self, construct_id, provider=self.provider, rule=rule.name, arn=self.pipeline.arn, role_arn=role.arn
        )
