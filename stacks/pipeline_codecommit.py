"""What only a CodeCommit source has: the repository URL, the approval rules a pull request must pass, the
EventBridge rules that start the pipeline on a push and the pull-request build on pull-request events, and the
function that approves a pull request when its build passed."""

from __future__ import annotations

import json
from typing import Any

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetInputTransformer,
)
from cdktf_cdktf_provider_aws.codecommit_approval_rule_template import CodecommitApprovalRuleTemplate
from cdktf_cdktf_provider_aws.codecommit_approval_rule_template_association import (
    CodecommitApprovalRuleTemplateAssociation,
)
from cdktf_cdktf_provider_aws.codecommit_repository import CodecommitRepository

from org_backup.config.naming import (
    EVENTS_START_PIPELINE_ROLE,
    EVENTS_START_PR_BUILD_ROLE,
    PIPELINE,
    PR_APPROVAL_DLQ,
    PR_APPROVAL_FUNCTION,
    PR_APPROVAL_KEY_ALIAS,
    PR_APPROVAL_ROLE,
    PR_APPROVAL_RULE,
    PULL_REQUEST_PROJECT,
)
from org_backup.config.pipeline import CodeCommitSource
from org_backup.config.templates import render_template
from org_backup.synth.lambda_package import LambdaPackage
from stacks.event_function import EventFunction, FunctionRole, FunctionSpec
from stacks.pipeline_base import PipelineBase


def codecommit_url(stack: PipelineBase) -> str:
    source = stack.source
    if not isinstance(source, CodeCommitSource):  # synth runs with -O, so no assert
        raise TypeError(f"pipeline.source is {type(source).__name__}, not a CodeCommit source")
    return f"https://git-codecommit.{stack.region}.amazonaws.com/v1/repos/{source.repository}"


def add_approval_rules(stack: PipelineBase, source: CodeCommitSource, repository: CodecommitRepository) -> None:
    """A pull request merges only with a passing validation build and a human review. Each rule has an approval
    pool, "only approvals from those users count" (CodeCommit User Guide, "Create an approval rule"): the
    validation rule counts only the approval function's sessions, the review rule only the configured reviewers
    (validation refuses the pipeline's own roles there), so neither rule can be satisfied by the other's approver."""
    validator = f"arn:{stack.naming.partition}:sts::{stack.account}:assumed-role/{PR_APPROVAL_ROLE}/*"
    rules: dict[str, tuple[str, list[str], int]] = {
        "org-backup-validation": ("The org-backup validation build passed (approval function)", [validator], 1),
        "org-backup-review": (
            f"{source.required_reviews} of the configured reviewers approved",
            list(source.reviewers),
            source.required_reviews,
        ),
    }
    for name, (description, pool, needed) in rules.items():
        statement: dict[str, Any] = {
            "Type": "Approvers",
            "NumberOfApprovalsNeeded": needed,
            "ApprovalPoolMembers": pool,
        }
        template = CodecommitApprovalRuleTemplate(
            stack,
            f"approval-{name}",
            provider=stack.provider,
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
            stack,
            f"approval-{name}-association",
            provider=stack.provider,
            approval_rule_template_name=template.name,
            repository_name=repository.repository_name,
        )


def add_codecommit_triggers(stack: PipelineBase, source: CodeCommitSource) -> None:
    start = stack.events_role(
        "events-start-pipeline",
        EVENTS_START_PIPELINE_ROLE,
        {
            "Effect": "Allow",
            "Action": "codepipeline:StartPipelineExecution",
            "Resource": stack.arn("codepipeline", PIPELINE),
        },
    )
    push = CloudwatchEventRule(
        stack,
        "push-rule",
        provider=stack.provider,
        name="org-backup-source-push",
        description="Pushes to the deploy branch start the org-backup pipeline",
        event_pattern=json.dumps(
            {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [stack.repository_arn],
                "detail": {"event": ["referenceUpdated"], "referenceName": [source.branch]},
            },
            sort_keys=True,
        ),
    )
    stack.start_pipeline_target("push-target", push, start)
    build = stack.events_role(
        "events-start-pr-build",
        EVENTS_START_PR_BUILD_ROLE,
        {
            "Effect": "Allow",
            "Action": "codebuild:StartBuild",
            "Resource": stack.arn("codebuild", f"project/{PULL_REQUEST_PROJECT}"),
        },
    )
    pull_requests = CloudwatchEventRule(
        stack,
        "pr-rule",
        provider=stack.provider,
        name="org-backup-pull-requests",
        description="Pull requests to the deploy branch are validated and planned, never deployed",
        event_pattern=json.dumps(
            {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Pull Request State Change"],
                "resources": [stack.repository_arn],
                "detail": {
                    "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
                    "destinationReference": [f"refs/heads/{source.branch}"],
                },
            },
            sort_keys=True,
        ),
    )
    CloudwatchEventTarget(
        stack,
        "pr-target",
        provider=stack.provider,
        rule=pull_requests.name,
        arn=stack.projects["pull-request"].arn,
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


def add_pr_approval(stack: PipelineBase, source: CodeCommitSource, package: LambdaPackage) -> None:
    """The function that approves a pull request whose build passed (lambda_src/pr_approval), on the build's
    state-change event. Code of this stack, applied by an administrator: never the pull request's."""
    role = FunctionRole(
        stack,
        "pr-approval-role",
        provider=stack.provider,
        name=PR_APPROVAL_ROLE,
        description="Approves org-backup pull requests whose build passed, revokes when it did not",
        account_id=stack.account,
        partition=stack.naming.partition,
        bounded=False,
    )
    spec = FunctionSpec(
        function_name=PR_APPROVAL_FUNCTION,
        rule_name=PR_APPROVAL_RULE,
        dlq_name=PR_APPROVAL_DLQ,
        key_alias=PR_APPROVAL_KEY_ALIAS,
        description="Approves org-backup pull requests whose build passed (org-backup)",
        key_description="Encrypts the org-backup pull-request approval logs, environment and dead-letter queue",
        rule_description="Builds of the org-backup pull-request project that finished",
        event_pattern={
            "source": ["aws.codebuild"],
            "detail-type": ["CodeBuild Build State Change"],
            "detail": {
                "project-name": [PULL_REQUEST_PROJECT],
                "build-status": ["SUCCEEDED", "FAILED", "STOPPED"],
            },
        },
        permission_statement_id="AllowPullRequestBuildRule",
        log_retention_days=stack.config.pipeline.log_retention_days,
        environment={
            "PROJECT_NAME": PULL_REQUEST_PROJECT,
            "REPOSITORY_NAME": source.repository,
            "APPROVER_ROLE_NAME": PR_APPROVAL_ROLE,
        },
        timeout=60,
        memory_size=256,
    )

    def permissions(log_group_arn: str, dlq_arn: str) -> dict[str, object]:
        return render_template(
            "iam/pr-approval.json",
            log_group_arn=log_group_arn,
            dlq_arn=dlq_arn,
            key_arn_pattern=stack.arn("kms", "key/*"),
            key_alias=PR_APPROVAL_KEY_ALIAS,
            project_arn=stack.arn("codebuild", f"project/{PULL_REQUEST_PROJECT}"),
            repository_arn=stack.repository_arn,
        )

    EventFunction(
        stack,
        "pr-approval",
        provider=stack.provider,
        config=stack.config,
        account_id=stack.account,
        region=stack.region,
        role=role,
        code_path=TerraformAsset(stack, "pr-approval-code", path=str(package.path), type=AssetType.FILE).path,
        package=package,
        spec=spec,
        permissions=permissions,
        deployed_by_pipeline=False,
    )
