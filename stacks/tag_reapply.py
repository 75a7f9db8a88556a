"""The tag re-application function of a member account: its role (global, once per account) and, per Region, the
function, its encrypted log group, dead-letter queue and key, and the EventBridge rule that triggers it.

Failure path: EventBridge retries delivery and sends undeliverable events to the DLQ; the function's own failures
(a throttled tag write, say) are retried by Lambda's asynchronous invocation and then also land in the DLQ.
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionDeadLetterConfig,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
)
from cdktf_cdktf_provider_aws.lambda_function_event_invoke_config import LambdaFunctionEventInvokeConfig
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from org_backup import deploy_roles
from org_backup.config import BackupConfig
from org_backup.lambda_package import LambdaPackage
from org_backup.naming import (
    TAG_REAPPLY_DLQ,
    TAG_REAPPLY_FUNCTION,
    TAG_REAPPLY_LOG_GROUP,
    TAG_REAPPLY_RULE,
    Naming,
)
from org_backup.policy_docs import dumps, render_template
from stacks.building_blocks import KEY_DELETION_WINDOW_DAYS

RUNTIME = "python3.12"
EVENT_PATTERN = {
    "source": ["aws.backup"],
    "detail-type": ["Restore Job State Change"],
    "detail": {"status": ["COMPLETED"]},  # restore jobs report "status", not "state"
}
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to investigate before a dead letter expires
MAX_EVENT_AGE_SECONDS = 6 * 3600
EVENTBRIDGE_RETRIES = 24
LAMBDA_ASYNC_RETRIES = 2


class TagReapplyRole(Construct):
    """The function's role: trust Lambda in this account only. Permissions are added per Region.

    ``arn`` and ``name`` are read once here: every read of a resource attribute is a round trip to the jsii
    runtime, and with thousands of accounts those add up to seconds of synth.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, config: BackupConfig, account_id: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = IamRole(
            self,
            "role",
            provider=provider,
            name=config.names.tag_reapply_role,
            description="Re-applies original tags to resources restored by AWS Backup (org-backup)",
            assume_role_policy=dumps(render_template("iam/lambda-trust.json", account_id=account_id)),
        )
        self.arn = self.role.arn
        self.name = self.role.name


class TagReapplyFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        account_id: str,
        region: str,
        role: TagReapplyRole,
        code_path: str,
        package: LambdaPackage,
    ) -> None:
        super().__init__(scope, construct_id)
        naming = Naming(config)
        log_group_arn = naming.regional_arn("logs", region, account_id, f"log-group:{TAG_REAPPLY_LOG_GROUP}")
        rule_arn = naming.regional_arn("events", region, account_id, f"rule/{TAG_REAPPLY_RULE}")
        dlq_arn = naming.regional_arn("sqs", region, account_id, TAG_REAPPLY_DLQ)

        key = KmsKey(
            self,
            "key",
            provider=provider,
            description="Encrypts the org-backup tag re-application logs, environment and dead-letter queue",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=dumps(
                deploy_roles.key_policy(
                    "kms/operations-key.json",
                    config,
                    account_id,
                    account_root_arn=naming.account_root_arn(account_id),
                    logs_service=naming.service_host("logs", region),
                    log_group_arn=log_group_arn,
                    rule_arn=rule_arn,
                )
            ),
        )
        key_arn = key.arn  # attribute reads are jsii round trips: each is read once
        KmsAlias(self, "alias", provider=provider, name=config.names.operations_key_alias, target_key_id=key.key_id)
        log_group = CloudwatchLogGroup(
            self,
            "logs",
            provider=provider,
            name=TAG_REAPPLY_LOG_GROUP,
            retention_in_days=config.tag_reapply.log_retention_days,
            kms_key_id=key_arn,
        )
        dlq = SqsQueue(
            self,
            "dlq",
            provider=provider,
            name=TAG_REAPPLY_DLQ,
            kms_master_key_id=key_arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            # On the queue, not an aws_sqs_queue_policy: the provider waits ~25 s for every change of a queue's
            # attributes to propagate (three equal reads 7 s apart), so a separate policy resource adds a second
            # wait to every deploy and every destroy of a member stack, per Region.
            policy=dumps(render_template("sqs/rule-dead-letters.json", dlq_arn=dlq_arn, rule_arns=[rule_arn])),
        )
        dlq_token_arn = dlq.arn
        permissions = IamRolePolicy(
            self,
            "permissions",
            provider=provider,
            name=f"tag-reapply-{region}",
            role=role.name,
            policy=dumps(
                render_template(
                    "iam/tag-reapply-regional.json",
                    partition=naming.partition,
                    region=region,
                    account_id=account_id,
                    log_group_arn=log_group_arn,
                    dlq_arn=dlq_arn,
                    operations_key_alias=config.names.operations_key_alias,
                )
            ),
        )
        function = LambdaFunction(
            self,
            "function",
            provider=provider,
            function_name=TAG_REAPPLY_FUNCTION,
            description="Re-applies original tags to resources restored by AWS Backup (org-backup)",
            role=role.arn,
            runtime=RUNTIME,
            architectures=["arm64"],
            handler="handler.lambda_handler",
            filename=code_path,
            source_code_hash=package.source_code_hash,
            timeout=120,
            memory_size=256,
            # Opt-in: reserving fails where the account's quota leaves less than the 100 executions Lambda keeps
            # unreserved. https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
            reserved_concurrent_executions=config.tag_reapply.reserved_concurrency,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            environment=LambdaFunctionEnvironment(
                variables={"EXCLUDED_TAG_KEYS": ",".join(config.tag_reapply.excluded_tag_keys)}
            ),
            kms_key_arn=key_arn,
            dead_letter_config=LambdaFunctionDeadLetterConfig(target_arn=dlq_token_arn),
            depends_on=[log_group, permissions],
        )
        function_name = function.function_name
        LambdaFunctionEventInvokeConfig(
            self,
            "async",
            provider=provider,
            function_name=function_name,
            maximum_retry_attempts=LAMBDA_ASYNC_RETRIES,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
        )
        rule = CloudwatchEventRule(
            self,
            "rule",
            provider=provider,
            name=TAG_REAPPLY_RULE,
            description="AWS Backup restore jobs that completed (org-backup tag re-application)",
            event_pattern=json.dumps(EVENT_PATTERN, sort_keys=True, separators=(",", ":")),
        )
        CloudwatchEventTarget(
            self,
            "target",
            provider=provider,
            rule=rule.name,
            arn=function.arn,
            retry_policy=CloudwatchEventTargetRetryPolicy(
                maximum_retry_attempts=EVENTBRIDGE_RETRIES, maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS
            ),
            dead_letter_config=CloudwatchEventTargetDeadLetterConfig(arn=dlq_token_arn),
        )
        LambdaPermission(
            self,
            "invoke",
            provider=provider,
            statement_id="AllowRestoreCompletedRule",
            action="lambda:InvokeFunction",
            function_name=function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )
