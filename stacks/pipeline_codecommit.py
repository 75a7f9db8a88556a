"""What only a CodeCommit source has: the repository URL, the approval rules a pull request must pass, and the
EventBridge rules that start the pipeline on a push and the pull-request build on pull-request events."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

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

from org_backup.config import CodeCommitSource
from org_backup.naming import (
    BUILDER_ROLES,
    PIPELINE,
)

if TYPE_CHECKING:
    from stacks.pipeline import PipelineStack


def codecommit_url(stack: PipelineStack) -> str:
    source = stack.config.pipeline.source
    if not isinstance(source, CodeCommitSource):  # synth runs with -O, so no assert
        raise TypeError(f"pipeline.source is {type(source).__name__}, not a CodeCommit source")
    return f"https://git-codecommit.{stack.region}.amazonaws.com/v1/repos/{source.repository}"


def add_approval_rules(stack: PipelineStack, source: CodeCommitSource, repository: CodecommitRepository) -> None:
    """A pull request merges only with a passing validation build and one human review."""
    validator = f"arn:{stack.naming.partition}:sts::{stack.account}:assumed-role/{BUILDER_ROLES['plan']}/*"
    rules = {
        "org-backup-validation": ("The org-backup validation build passed", [validator]),
        "org-backup-review": ("One reviewer approved", None),
    }
    for name, (description, pool) in rules.items():
        statement: dict[str, Any] = {"Type": "Approvers", "NumberOfApprovalsNeeded": 1}
        if pool:
            statement["ApprovalPoolMembers"] = pool
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


def add_codecommit_triggers(stack: PipelineStack, source: CodeCommitSource) -> None:
    start = stack.events_role(
        "events-start-pipeline",
        "org-backup-events-start-pipeline",
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
        "org-backup-events-start-pr-build",
        {
            "Effect": "Allow",
            "Action": "codebuild:StartBuild",
            "Resource": stack.arn("codebuild", "project/org-backup-pull-request"),
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
