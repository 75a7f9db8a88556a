"""A Lambda function that an EventBridge rule invokes, with everything around it that org-backup requires of one:
its own KMS key (logs, environment, dead-letter queue), an encrypted log group with retention, a dead-letter queue,
inline permissions per Region, asynchronous retries, and the rule with its retry policy.

Failure path: EventBridge retries delivery and sends undeliverable events to the DLQ; the function's own failures
(a throttled call, say) are retried by Lambda's asynchronous invocation and then also land in the DLQ. With alerts
on, an alarm on the DLQ's depth reaches the alert topic (stacks/alert_alarms.py); the pipeline's own function, which
an administrator applies in the home account, has none.

New code replaces the function (and its invoke settings and permission) instead of updating it in place: the
deploy role then needs no ``lambda:UpdateFunctionCode``, which would let it run code of its choosing with a
function's role (parliament's privilege-escalation auditor, "EditExistingLambdaFunctionWithRole"). While the function
is being re-created (seconds), an event for it goes straight to the DLQ: EventBridge does not retry a target that
does not exist (EventBridge User Guide, "Using dead-letter queues to process undelivered events"). After a code
change, look in the DLQ (docs/configuration.md, Tag re-application on restore).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdktf import DataResource, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
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

from org_backup.config.model import BackupConfig
from org_backup.config.naming import BOUNDARIES, POLICY_PATH, Naming
from org_backup.config.templates import dumps, render_template
from org_backup.iam import deploy_roles
from org_backup.synth.lambda_package import LambdaPackage
from stacks.alert_alarms import function_dead_letter_alarm
from stacks.building_blocks import customer_managed_key

RUNTIME = "python3.12"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to investigate before a dead letter expires
MAX_EVENT_AGE_SECONDS = 6 * 3600
EVENTBRIDGE_RETRIES = 24
LAMBDA_ASYNC_RETRIES = 2


class FunctionRole(Construct):
    """A function's role: trust Lambda in this account only; permissions are added per Region.

    ``arn`` and ``name`` are read once here: every read of a resource attribute is a round trip to the jsii
    runtime, and with thousands of accounts those add up to seconds of synth.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        name: str,
        description: str,
        account_id: str,
        partition: str,
        bounded: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = IamRole(
            self,
            "role",
            provider=provider,
            name=name,
            description=description,
            assume_role_policy=dumps(render_template("iam/lambda-trust.json", account_id=account_id)),
            # The deploy role may create and change a function's role only with this boundary (deploy_roles.py);
            # ``bounded=False`` for the pipeline stack's function, which an administrator applies.
            permissions_boundary=(
                f"arn:{partition}:iam::{account_id}:policy{POLICY_PATH}{BOUNDARIES['functions']}" if bounded else None
            ),
        )
        self.arn = self.role.arn
        self.name = self.role.name


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between org-backup's event-driven functions."""

    function_name: str
    rule_name: str
    dlq_name: str
    key_alias: str
    description: str  # of the function
    key_description: str
    rule_description: str
    event_pattern: dict[str, Any]
    permission_statement_id: str
    log_retention_days: int
    environment: dict[str, str]
    timeout: int
    memory_size: int
    reserved_concurrency: int | None = None

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


class EventFunction(Construct):
    """One function in one Region. ``permissions(log_group_arn, dlq_arn)`` renders the Region's IAM policy: each
    function keeps its permissions in its own template."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        account_id: str,
        region: str,
        role: FunctionRole,
        code_path: str,
        package: LambdaPackage,
        spec: FunctionSpec,
        permissions: Callable[[str, str], dict[str, Any]],
        deployed_by_pipeline: bool = True,
    ) -> None:
        """``deployed_by_pipeline=False``: a stack an administrator applies (the pipeline's own function), where no
        deploy role exists to manage the key."""
        super().__init__(scope, construct_id)
        naming = Naming(config)
        log_group_arn = naming.regional_arn("logs", region, account_id, f"log-group:{spec.log_group}")
        rule_arn = naming.regional_arn("events", region, account_id, f"rule/{spec.rule_name}")
        dlq_arn = naming.regional_arn("sqs", region, account_id, spec.dlq_name)

        key = customer_managed_key(
            self,
            provider=provider,
            description=spec.key_description,
            policy=(deploy_roles.key_policy if deployed_by_pipeline else _admin_key_policy)(
                "kms/operations-key.json",
                config,
                account_id,
                account_root_arn=naming.account_root_arn(account_id),
                logs_service=naming.service_host("logs", region),
                log_group_arn=log_group_arn,
            ),
            alias=spec.key_alias,
        )
        key_arn = key.arn  # attribute reads are jsii round trips: each is read once
        log_group = CloudwatchLogGroup(
            self,
            "logs",
            provider=provider,
            name=spec.log_group,
            retention_in_days=spec.log_retention_days,
            kms_key_id=key_arn,
        )
        dlq = SqsQueue(
            self,
            "dlq",
            provider=provider,
            name=spec.dlq_name,
            kms_master_key_id=key_arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            # On the queue, not an aws_sqs_queue_policy: the provider waits ~25 s for every change of a queue's
            # attributes to propagate (three equal reads 7 s apart), so a separate policy resource adds a second
            # wait to every deploy and every destroy, per Region.
            policy=dumps(render_template("sqs/rule-dead-letters.json", dlq_arn=dlq_arn, rule_arns=[rule_arn])),
        )
        dlq_token_arn = dlq.arn
        if deployed_by_pipeline and config.monitoring.alerts.active:
            function_dead_letter_alarm(
                self, "dead-letters", provider=provider, function_name=spec.function_name, queue=spec.dlq_name
            )
        policy = IamRolePolicy(
            self,
            "permissions",
            provider=provider,
            name=f"{spec.function_name.removeprefix('org-backup-')}-{region}",
            role=role.name,
            policy=dumps(permissions(log_group_arn, dlq_arn)),
        )
        # terraform_data replaced whenever the code changes; the function and what AWS deletes with it follow it.
        code_version = DataResource(
            self, "code-version", triggers_replace={"source_code_hash": package.source_code_hash}
        )
        # A bare address: Terraform refuses an interpolation ("${...}") in replace_triggered_by, which is what CDKTF
        # renders for a resource object.
        replaced_with_the_code = TerraformResourceLifecycle(
            replace_triggered_by=[f"{code_version.terraform_resource_type}.{code_version.friendly_unique_id}"]
        )
        function = LambdaFunction(
            self,
            "function",
            provider=provider,
            function_name=spec.function_name,
            description=spec.description,
            role=role.arn,
            runtime=RUNTIME,
            architectures=["arm64"],
            handler="handler.lambda_handler",
            filename=code_path,
            source_code_hash=package.source_code_hash,
            timeout=spec.timeout,
            memory_size=spec.memory_size,
            # Opt-in: reserving fails where the account's quota leaves less than the 100 executions Lambda keeps
            # unreserved. https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
            reserved_concurrent_executions=spec.reserved_concurrency,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            environment=LambdaFunctionEnvironment(variables=spec.environment) if spec.environment else None,
            # Only with an environment to encrypt: a key without one is a perpetual diff (the provider reads none back).
            kms_key_arn=key_arn if spec.environment else None,
            dead_letter_config=LambdaFunctionDeadLetterConfig(target_arn=dlq_token_arn),
            depends_on=[log_group, policy],
            lifecycle=replaced_with_the_code,
        )
        function_name = function.function_name
        LambdaFunctionEventInvokeConfig(
            self,
            "async",
            provider=provider,
            function_name=function_name,
            maximum_retry_attempts=LAMBDA_ASYNC_RETRIES,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            lifecycle=replaced_with_the_code,
        )
        rule = CloudwatchEventRule(
            self,
            "rule",
            provider=provider,
            name=spec.rule_name,
            description=spec.rule_description,
            event_pattern=dumps(spec.event_pattern),
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
            statement_id=spec.permission_statement_id,
            action="lambda:InvokeFunction",
            function_name=function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            lifecycle=replaced_with_the_code,
        )


def _admin_key_policy(template: str, config: BackupConfig, account_id: str, **values: Any) -> dict[str, Any]:
    """The key policy template alone: the account's administrators manage the key through IAM."""
    return render_template(template, **values)
