"""The pipeline's CodeBuild projects (validate, plan, deploy, and the pull-request build with CodeCommit), their
roles and logs, and CodePipeline's own role: one builder role per kind, each with exactly what its stage runs."""

from __future__ import annotations

from typing import Any

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

from org_backup.config.naming import (
    BUILD_TIMEOUT_MINUTES,
    BUILDER_ROLES,
    DEPLOY_BATCH_ROLE,
    PIPELINE_ROLE,
    PIPELINE_TOPIC,
    PLAN_BATCH_ROLE,
    PR_PIPELINE_ROLE,
    PROJECT_PREFIX,
    PULL_REQUEST_PROJECT,
    STATE_KEY_ALIAS,
)
from org_backup.config.pipeline import CodeCommitSource
from org_backup.synth import fanout
from stacks.pipeline_base import PipelineBase
from stacks.pipeline_codecommit import codecommit_url

BUILD_IMAGE = "aws/codebuild/standard:7.0"
DEPLOY_COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"
REPORT_GROUP = "org-backup-checkov"
# CodeBuild project -> (buildspec, builder role kind)
PROJECTS = {
    "validate": ("buildspecs/validate.yml", "validate"),
    "plan": ("buildspecs/plan.yml", "plan"),
    "deploy": ("buildspecs/deploy.yml", "deploy"),
    "pull-request": ("buildspecs/pull-request.yml", "pull-request"),
}


def add_builders(stack: PipelineBase) -> tuple[dict[str, IamRole], dict[str, CodebuildProject]]:
    """One role per builder kind, each with exactly what its builds run: its own logs; the artifacts of its own
    pipeline; the checkov report (validate); the state and its own role in the organization's accounts (plan,
    deploy); and, for pull requests, the plan role and a read of the state, nothing the deploy branch consumes and
    no approval rights (CodeCommit: comments only). Returns the roles by builder kind and the projects by name."""
    p = stack.naming.partition
    org_id = stack.config.organization.id
    codecommit = isinstance(stack.source, CodeCommitSource)
    state_bucket = f"arn:{p}:s3:::{stack.naming.state_bucket()}"
    builder_roles: dict[str, IamRole] = {}
    for kind, name in BUILDER_ROLES.items():
        role = stack.service_role(f"builder-{kind}", name, "codebuild.amazonaws.com")
        builder_roles[kind] = role
        bucket_arn = stack.pr_bucket_arn if kind == "pull-request" else stack.bucket_arn
        statements: list[dict[str, Any]] = [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": stack.arn("logs", f"log-group:/aws/codebuild/{PROJECT_PREFIX}{kind}:*"),
            },
            {
                "Sid": "Key",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stack.arn("kms", "key/*"),
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/org-backup/pipeline"}},
            },
        ]
        if bucket_arn is not None:  # a CodeCommit pull-request build has no pipeline, so no artifacts
            statements.append(
                {
                    "Sid": "Artifacts",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                    "Resource": f"{bucket_arn}/*",
                }
            )
        if kind == "validate":
            statements.append(
                {
                    "Sid": "Reports",
                    "Effect": "Allow",
                    "Action": ["codebuild:BatchPutTestCases", "codebuild:CreateReport", "codebuild:UpdateReport"],
                    "Resource": stack.arn("codebuild", f"report-group/{REPORT_GROUP}"),
                }
            )
        if kind in ("plan", "deploy", "pull-request"):
            target_role = stack.config.names.deploy_role if kind == "deploy" else stack.config.names.plan_role
            # Plans run with -lock=false (org_backup.ops.terraform plan): reading state needs no write.
            state_actions = ["s3:GetObject", "s3:ListBucket"] + (
                ["s3:PutObject", "s3:DeleteObject"] if kind == "deploy" else []
            )
            statements += [
                {
                    "Sid": "AssumeOwnRoleInOrganizationAccountsOnly",
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": f"arn:{p}:iam::*:role/{target_role}",
                    "Condition": {"StringEquals": {"aws:ResourceOrgID": org_id}},
                },
                *(
                    [
                        {
                            # Delegated policy management: the management account has no org-backup role, and no
                            # builder may assume any role there (an explicit Deny wins over every Allow).
                            "Sid": "NeverAssumeARoleInTheManagementAccount",
                            "Effect": "Deny",
                            "Action": "sts:AssumeRole",
                            "Resource": f"arn:{p}:iam::{stack.config.organization.management_account_id}:role/*",
                        }
                    ]
                    if stack.config.policies_delegated
                    else []
                ),
                {
                    "Sid": "TerraformState",
                    "Effect": "Allow",
                    "Action": state_actions,
                    "Resource": [state_bucket, f"{state_bucket}/*"],
                },
                {
                    "Sid": "TerraformStateKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"] if kind == "deploy" else ["kms:Decrypt"],
                    "Resource": stack.arn("kms", "key/*"),
                    "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": STATE_KEY_ALIAS}},
                },
            ]
        if kind == "pull-request" and codecommit:
            statements.append(
                {
                    "Sid": "SourceAndPlanComment",
                    "Effect": "Allow",
                    "Action": ["codecommit:GitPull", "codecommit:PostCommentForPullRequest"],
                    "Resource": stack.arn("codecommit", stack.source.repository),
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
    projects: dict[str, CodebuildProject] = {}
    shards = {"plan": stack.config.pipeline.plan_shards, "deploy": stack.config.pipeline.deploy_shards}
    batches = {
        name: batch_config(stack, name, count) for name, count in shards.items() if count > 1
    }  # plan: its shards' files combined into one artifact for the merge build
    for name, (buildspec, kind) in PROJECTS.items():
        log_group = CloudwatchLogGroup(
            stack,
            f"logs-{name}",
            provider=stack.provider,
            name=f"/aws/codebuild/org-backup-{name}",
            retention_in_days=stack.config.pipeline.log_retention_days,
            kms_key_id=stack.key.arn,
        )
        # A CodeCommit pull request is built straight from the repository (an EventBridge rule starts the build);
        # with a connection, the pull-request pipeline runs it.
        in_pipeline = name != "pull-request" or not codecommit
        # Inline buildspecs (the shard list depends on the config; a pull request must not choose its own), so
        # Terraform would read the shell's ${VAR} as its own interpolation: escaped as $${VAR}, which Terraform
        # writes back as ${VAR}.
        if name == "deploy" and name in batches:
            buildspec = _terraform_literal(fanout.batch_buildspec(shards[name]))
        if name == "plan" and name in batches:
            buildspec = _terraform_literal(fanout.plan_batch_buildspec(shards[name]))
        if name == "pull-request":
            buildspec = _terraform_literal(fanout.pull_request_buildspec())
        source = (
            CodebuildProjectSource(type="CODEPIPELINE", buildspec=buildspec)
            if in_pipeline
            else CodebuildProjectSource(type="CODECOMMIT", buildspec=buildspec, location=codecommit_url(stack))
        )
        projects[name] = CodebuildProject(
            stack,
            f"project-{name}",
            provider=stack.provider,
            name=f"org-backup-{name}",
            description=f"org-backup {name} ({PROJECTS[name][0]}"
            f"{', batch build' if name in batches else ', inline' if name == 'pull-request' else ''})",
            service_role=builder_roles[kind].arn,
            encryption_key=stack.key.arn,
            build_timeout=BUILD_TIMEOUT_MINUTES,
            # One deploy at a time; a batch's shards count as builds, and a build over the limit fails, not waits.
            concurrent_build_limit=shards["deploy"] if name == "deploy" else None,
            build_batch_config=batches.get(name),
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
                    # The plan merge build is no batch member: it reads the shard count from here.
                    *(
                        [
                            CodebuildProjectEnvironmentEnvironmentVariable(
                                name="ORG_BACKUP_PLAN_SHARDS", value=str(shards["plan"])
                            )
                        ]
                        if name == "plan" and name in batches
                        else []
                    ),
                ],
            ),
            logs_config=CodebuildProjectLogsConfig(
                cloudwatch_logs=CodebuildProjectLogsConfigCloudwatchLogs(status="ENABLED", group_name=log_group.name),
                s3_logs=CodebuildProjectLogsConfigS3Logs(status="DISABLED"),
            ),
        )
    return builder_roles, projects


def _terraform_literal(text: str) -> str:
    return text.replace("${", "$${").replace("%{", "%%{")


def batch_config(stack: PipelineBase, project: str, shards: int) -> CodebuildProjectBuildBatchConfig:
    """The Plan or Deploy stage as a batch of ``shards`` builds (org_backup/synth/fanout.py). CodeBuild starts them
    with the batch's own role, which may only start, stop and retry builds of that project: the builds themselves
    cannot ("Batch builds in AWS CodeBuild", Security role). The plan's shards combine their artifacts into one, the
    merge build's input; the deploy's shards produce none."""
    role_name, construct = (PLAN_BATCH_ROLE, "plan-batch") if project == "plan" else (DEPLOY_BATCH_ROLE, "deploy-batch")
    role = stack.service_role(f"{construct}-role", role_name, "codebuild.amazonaws.com")
    stack.policy(
        f"{construct}-policy",
        role,
        [
            {
                "Sid": "RunPlanShards" if project == "plan" else "RunDeployShards",
                "Effect": "Allow",
                "Action": ["codebuild:RetryBuild", "codebuild:StartBuild", "codebuild:StopBuild"],
                "Resource": stack.arn("codebuild", f"project/{PROJECT_PREFIX}{project}"),
            }
        ],
    )
    return CodebuildProjectBuildBatchConfig(
        service_role=role.arn,
        combine_artifacts=project == "plan",
        restrictions=CodebuildProjectBuildBatchConfigRestrictions(
            maximum_builds_allowed=shards, compute_types_allowed=[DEPLOY_COMPUTE_TYPE]
        ),
        timeout_in_mins=BUILD_TIMEOUT_MINUTES,
    )


def add_pipeline_role(stack: PipelineBase) -> IamRole:
    """CodePipeline's role for the deploy branch's pipeline: its source, its artifacts, its three projects."""
    role = stack.service_role("pipeline-role", PIPELINE_ROLE, "codepipeline.amazonaws.com")
    stack.policy(
        "pipeline-policy",
        role,
        [
            _source_statement(stack),
            *_artifact_statements(stack, stack.bucket_arn),
            {
                "Sid": "Builds",
                "Effect": "Allow",
                "Action": ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                "Resource": [
                    stack.arn("codebuild", f"project/{PROJECT_PREFIX}{n}") for n in ("validate", "plan", "deploy")
                ],
            },
            *(
                {
                    "Sid": f"{project.capitalize()}Batch",
                    "Effect": "Allow",
                    "Action": ["codebuild:BatchGetBuildBatches", "codebuild:StartBuildBatch"],
                    "Resource": stack.arn("codebuild", f"project/{PROJECT_PREFIX}{project}"),
                }
                for project, shards in (
                    ("plan", stack.config.pipeline.plan_shards),
                    ("deploy", stack.config.pipeline.deploy_shards),
                )
                if shards > 1
            ),
            {
                "Sid": "ApprovalNotice",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": stack.arn("sns", PIPELINE_TOPIC),
            },
        ],
    )
    return role


def add_pr_pipeline_role(stack: PipelineBase) -> IamRole:
    """CodePipeline's role for the pull requests' pipeline (connection sources): the same source, but its own
    artifact bucket and only the pull-request project, so nothing of a pull request reaches the deploy branch's
    artifacts or projects."""
    if stack.pr_bucket_arn is None:
        raise ValueError("the pull-request pipeline needs its artifact bucket")
    role = stack.service_role("pr-pipeline-role", PR_PIPELINE_ROLE, "codepipeline.amazonaws.com")
    stack.policy(
        "pr-pipeline-policy",
        role,
        [
            _source_statement(stack),
            *_artifact_statements(stack, stack.pr_bucket_arn),
            {
                "Sid": "Builds",
                "Effect": "Allow",
                "Action": ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                "Resource": stack.arn("codebuild", f"project/{PULL_REQUEST_PROJECT}"),
            },
        ],
    )
    return role


def _source_statement(stack: PipelineBase) -> dict[str, Any]:
    source = stack.source
    if isinstance(source, CodeCommitSource):
        return {
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
    return {
        "Sid": "Source",
        "Effect": "Allow",
        # The action's service prefix must match the connection ARN's (codeconnections since the 2024
        # rename, codestar-connections before): https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html
        "Action": f"{source.connection_arn.split(':')[2]}:UseConnection",
        "Resource": source.connection_arn,
    }


def _artifact_statements(stack: PipelineBase, bucket_arn: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "Artifacts",
            "Effect": "Allow",
            "Action": ["s3:GetBucketVersioning", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
        },
        {
            "Sid": "Key",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": stack.arn("kms", "key/*"),
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/org-backup/pipeline"}},
        },
    ]
