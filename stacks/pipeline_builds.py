"""The pipeline's CodeBuild projects (validate, plan, deploy, and the pull-request build with CodeCommit), their
roles and logs, and CodePipeline's own role: one builder role per kind, each with exactly what its stage runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from cdktf_cdktf_provider_aws.iam_role import IamRole

from org_backup import fanout
from org_backup.config import CodeCommitSource
from org_backup.naming import BUILDER_ROLES, PIPELINE_TOPIC, STATE_KEY_ALIAS
from stacks.pipeline_codecommit import codecommit_url

BUILD_IMAGE = "aws/codebuild/standard:7.0"
DEPLOY_COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"
BUILD_TIMEOUT_MINUTES = 120
REPORT_GROUP = "org-backup-checkov"
# CodeBuild project -> (buildspec, builder role kind)
PROJECTS = {
    "validate": ("buildspecs/validate.yml", "validate"),
    "plan": ("buildspecs/plan.yml", "plan"),
    "deploy": ("buildspecs/deploy.yml", "deploy"),
    "pull-request": ("buildspecs/pull-request.yml", "plan"),
}

if TYPE_CHECKING:
    from stacks.pipeline import PipelineStack


def add_builders(stack: PipelineStack) -> None:
    """One role per builder kind; every role may use the key, its logs, the artifacts and the reports."""
    p = stack.naming.partition
    org_id = stack.config.organization.id
    stack.builder_roles: dict[str, IamRole] = {}
    for kind, name in BUILDER_ROLES.items():
        role = stack.service_role(f"builder-{kind}", name, "codebuild.amazonaws.com")
        stack.builder_roles[kind] = role
        statements: list[dict[str, Any]] = [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": stack.arn("logs", "log-group:/aws/codebuild/org-backup-*:*"),
            },
            {
                "Sid": "Artifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                "Resource": f"{stack.bucket_arn}/*",
            },
            {
                "Sid": "Key",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stack.arn("kms", "key/*"),
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/org-backup/pipeline"}},
            },
            {
                "Sid": "Reports",
                "Effect": "Allow",
                "Action": ["codebuild:BatchPutTestCases", "codebuild:CreateReport", "codebuild:UpdateReport"],
                "Resource": stack.arn("codebuild", f"report-group/{REPORT_GROUP}"),
            },
        ]
        if kind in ("plan", "deploy"):
            target_role = stack.config.names.plan_role if kind == "plan" else stack.config.names.deploy_role
            state_actions = ["s3:GetObject", "s3:ListBucket"] + (
                ["s3:PutObject", "s3:DeleteObject"] if kind == "deploy" else []
            )
            state_bucket = f"arn:{p}:s3:::{stack.naming.state_bucket()}"
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
                    "Resource": stack.arn("kms", "key/*"),
                    "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": STATE_KEY_ALIAS}},
                },
            ]
        if kind == "plan" and isinstance(stack.config.pipeline.source, CodeCommitSource):
            statements.append(
                {
                    "Sid": "PullRequestFeedback",
                    "Effect": "Allow",
                    "Action": [
                        "codecommit:GitPull",
                        "codecommit:PostCommentForPullRequest",
                        "codecommit:UpdatePullRequestApprovalState",
                    ],
                    "Resource": stack.arn("codecommit", stack.config.pipeline.source.repository),
                }
            )
        stack.policy(f"builder-{kind}-policy", role, statements)

    CodebuildReportGroup(
        stack,
        "checkov-report",
        provider=stack.provider,
        name=REPORT_GROUP,
        type="TEST",
        export_config=CodebuildReportGroupExportConfig(type="NO_EXPORT"),
    )
    stack.projects: dict[str, CodebuildProject] = {}
    shards = stack.config.pipeline.deploy_shards
    batch = deploy_batch_config(stack, shards) if shards > 1 else None
    codecommit = isinstance(stack.config.pipeline.source, CodeCommitSource)
    for name, (buildspec, kind) in PROJECTS.items():
        if name == "pull-request" and not codecommit:
            continue  # connection sources review pull requests in their own V2 pipeline
        log_group = CloudwatchLogGroup(
            stack,
            f"logs-{name}",
            provider=stack.provider,
            name=f"/aws/codebuild/org-backup-{name}",
            retention_in_days=stack.config.pipeline.log_retention_days,
            kms_key_id=stack.key.arn,
        )
        in_pipeline = name != "pull-request"
        if name == "deploy" and batch:
            # Inline (the shard list depends on the config), so Terraform would read the shell's ${VAR} as its
            # own interpolation: escaped as $${VAR}, which Terraform writes back as ${VAR}.
            buildspec = fanout.batch_buildspec(shards).replace("${", "$${").replace("%{", "%%{")
        source = (
            CodebuildProjectSource(type="CODEPIPELINE", buildspec=buildspec)
            if in_pipeline
            else CodebuildProjectSource(type="CODECOMMIT", buildspec=buildspec, location=codecommit_url(stack))
        )
        stack.projects[name] = CodebuildProject(
            stack,
            f"project-{name}",
            provider=stack.provider,
            name=f"org-backup-{name}",
            description=f"org-backup {name} ({PROJECTS[name][0]}{', batch build' if name == 'deploy' and batch else ''})",
            service_role=stack.builder_roles[kind].arn,
            encryption_key=stack.key.arn,
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
                        name="DEPLOY_PARALLELISM", value=str(stack.config.pipeline.deploy_parallelism)
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
                cloudwatch_logs=CodebuildProjectLogsConfigCloudwatchLogs(status="ENABLED", group_name=log_group.name),
                s3_logs=CodebuildProjectLogsConfigS3Logs(status="DISABLED"),
            ),
        )


def deploy_batch_config(stack: PipelineStack, shards: int) -> CodebuildProjectBuildBatchConfig:
    """The Deploy stage as a batch of ``shards`` builds (org_backup/fanout.py). CodeBuild starts them with this
    role, which may only start, stop and retry builds of the deploy project: the builds themselves cannot."""
    role = stack.service_role("deploy-batch-role", "org-backup-deploy-batch", "codebuild.amazonaws.com")
    stack.policy(
        "deploy-batch-policy",
        role,
        [
            {
                "Sid": "RunDeployShards",
                "Effect": "Allow",
                "Action": ["codebuild:RetryBuild", "codebuild:StartBuild", "codebuild:StopBuild"],
                "Resource": stack.arn("codebuild", "project/org-backup-deploy"),
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


def add_pipeline_role(stack: PipelineStack) -> None:
    stack.pipeline_role = stack.service_role("pipeline-role", "org-backup-pipeline", "codepipeline.amazonaws.com")
    source = stack.config.pipeline.source
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
            "Resource": stack.repository_arn,
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
    stack.policy(
        "pipeline-policy",
        stack.pipeline_role,
        [
            source_statement,
            {
                "Sid": "Artifacts",
                "Effect": "Allow",
                "Action": ["s3:GetBucketVersioning", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                "Resource": [stack.bucket_arn, f"{stack.bucket_arn}/*"],
            },
            {
                "Sid": "Key",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stack.arn("kms", "key/*"),
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/org-backup/pipeline"}},
            },
            {
                "Sid": "Builds",
                "Effect": "Allow",
                "Action": ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                "Resource": [stack.arn("codebuild", f"project/org-backup-{n}") for n in ("validate", "plan", "deploy")],
            },
            *(
                [
                    {
                        "Sid": "DeployBatch",
                        "Effect": "Allow",
                        "Action": ["codebuild:BatchGetBuildBatches", "codebuild:StartBuildBatch"],
                        "Resource": stack.arn("codebuild", "project/org-backup-deploy"),
                    }
                ]
                if stack.config.pipeline.deploy_shards > 1
                else []
            ),
            {
                "Sid": "ApprovalNotice",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": stack.arn("sns", PIPELINE_TOPIC),
            },
        ],
    )
