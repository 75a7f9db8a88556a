"""Job-failure alerts: every account forwards AWS Backup's failed job events to one bus, which tells people.

- ``AlertForwarderRole`` (global, once per account) and ``FailureForwarding`` (per Region): a rule on the default
  bus matching failed, aborted, expired and partial backup, copy and restore jobs, whose target is the alert bus in
  the monitoring account and Region. EventBridge routes to an event bus in another account and Region with an
  execution role in the sending account (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-restrict-rule.html).
- ``AlertHub`` (the monitoring account and Region): the alert bus, whose policy admits principals of the organization
  only (``aws:PrincipalOrgID``); one rule per job kind whose input transformer turns the event into a message a
  person can act on; a KMS-encrypted SNS topic that only those rules may publish to, with the configured email and
  HTTPS subscriptions.

Undeliverable events are never dropped silently: each forwarding rule and each alert rule has a dead-letter queue
(EventBridge retries for up to a day first), and alarms watch the path itself:
- in every account and Region that forwards, ``org-backup-alert-forwarding-*`` on the forwarding rule's
  FailedInvocations and InvocationsFailedToBeSentToDlq and on its dead-letter queue's depth. A second forwarding rule sends their state changes (the
  "CloudWatch Alarm State Change" events CloudWatch puts on the default bus) to the alert bus, where
  ``org-backup-failed-alert-forwarding`` publishes them. This reaches people when forwarding fails for some events
  (throttling, an oversized event, a transient outage that outlasts the retries); when the path itself is broken
  (the bus policy, the forwarder role) the alarm's event is dead-lettered too, and only the alarm's own state in that
  account shows it (docs/monitoring.md's alerts section says where to look).
- where an event function runs (tag re-application, restore validation), ``org-backup-alert-function-*`` on its
  dead-letter queue's depth: events the function did not process after every retry. The second forwarding rule
  takes these too; on the alert bus ``org-backup-failed-function`` publishes them with the queue's name
  (stacks/event_function.py). Where no forwarding runs in that account and Region, the alarm shows only there.
- in the monitoring account, ``org-backup-alert-hub-*`` on each alert rule's FailedInvocations and
  InvocationsFailedToBeSentToDlq and on the alert DLQ's depth, whose action publishes to the topic directly: CloudWatch is a different publisher from the rules whose
  failure it reports (stacks/alert_alarms.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.cloudwatch_event_bus import CloudwatchEventBus
from cdktf_cdktf_provider_aws.cloudwatch_event_bus_policy import CloudwatchEventBusPolicy
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetInputTransformer,
    CloudwatchEventTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    ALERT_ALARM_FORWARD_RULE,
    ALERT_ALARM_RULE,
    ALERT_BUS,
    ALERT_DLQ,
    ALERT_FORWARD_DLQ,
    ALERT_FORWARD_RULE,
    ALERT_FORWARDER_ROLE,
    ALERT_FORWARDING_ALARM_PREFIX,
    ALERT_FUNCTION_ALARM_PREFIX,
    ALERT_FUNCTION_RULE,
    ALERT_HUB_ALARM_PREFIX,
    ALERT_KEY_ALIAS,
    ALERT_RULE_PREFIX,
    ALERT_TOPIC,
    Naming,
)
from org_backup.config.templates import dumps, render_template
from org_backup.iam import deploy_roles
from stacks.alert_alarms import (
    ForwardingAlarms,
    alarm_pattern,
    alarm_transformer,
    dead_letter_alarm,
    function_alarm_transformer,
    rule_alarms,
)
from stacks.building_blocks import customer_managed_key
from stacks.event_function import DLQ_RETENTION_SECONDS

# The end states of a job that did not do what it should (AWS Backup API: BackupJob.State, CopyJob.State,
# RestoreJob.Status). EXPIRED: the backup window closed before the job ran; PARTIAL: some resources were not backed up.
FAILED_STATES = ("ABORTED", "EXPIRED", "FAILED", "PARTIAL")
MAX_EVENT_AGE_SECONDS = 24 * 3600
EVENTBRIDGE_RETRIES = 185  # EventBridge's maximum: retry for the whole day before dead-lettering


@dataclass(frozen=True)
class JobKind:
    """One kind of job as its EventBridge events describe it. Restore jobs report ``status`` where backup and copy
    jobs report ``state`` (AWS Backup Developer Guide, "Monitoring AWS Backup events using Amazon EventBridge")."""

    name: str
    detail_type: str
    state_field: str
    job_id_field: str
    resource_path: str

    @property
    def rule_name(self) -> str:
        return f"{ALERT_RULE_PREFIX}{self.name}"


JOB_KINDS = (
    JobKind("backup", "Backup Job State Change", "state", "backupJobId", "$.detail.resourceArn"),
    JobKind("copy", "Copy Job State Change", "state", "copyJobId", "$.detail.resourceArn"),
    # A restore event names the restored-from recovery point or snapshot in ``resources``, not a resourceArn.
    JobKind("restore", "Restore Job State Change", "status", "restoreJobId", "$.resources[0]"),
)

# Console hosts per partition; a partition without one gets no console line rather than a wrong link.
_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def forward_pattern() -> dict[str, object]:
    """Failed jobs of every kind, as the forwarding rule on each account's default bus matches them."""
    states = list(FAILED_STATES)
    return {
        "source": ["aws.backup"],
        "detail-type": [kind.detail_type for kind in JOB_KINDS],
        "$or": [{"detail": {"state": states}}, {"detail": {"status": states}}],
    }


def alert_pattern(kind: JobKind) -> dict[str, object]:
    """Failed jobs of one kind, as the alert rule on the alert bus matches them (again: the bus admits any
    principal of the organization, so it does not trust senders to have filtered)."""
    return {
        "source": ["aws.backup"],
        "detail-type": [kind.detail_type],
        "detail": {kind.state_field: list(FAILED_STATES)},
    }


def alert_transformer(kind: JobKind, partition: str) -> tuple[dict[str, str], str]:
    """The input paths and the text template of one kind's alert: what failed, where, why, and where to look."""
    paths = {
        "account": "$.account",
        "region": "$.region",
        "time": "$.time",
        "state": f"$.detail.{kind.state_field}",
        "job": f"$.detail.{kind.job_id_field}",
        "resource": kind.resource_path,
        "type": "$.detail.resourceType",
        "reason": "$.detail.statusMessage",
    }
    lines = [
        f"AWS Backup {kind.name} job <state> in account <account>, Region <region>.",
        "Resource: <resource> (<type>)",
        "Job id: <job>",
        "Reason: <reason>",
        "Time: <time>",
    ]
    host = _CONSOLE_HOSTS.get(partition)
    if host:
        lines.append(f"Jobs in the AWS Backup console: https://<region>.{host}/backup/home?region=<region>#/jobs")
    # A template that is a JSON string makes EventBridge deliver text, not JSON (EventBridge User Guide,
    # "Amazon EventBridge input transformation").
    return paths, json.dumps("\n".join(lines))


class AlertForwarderRole(Construct):
    """The role EventBridge assumes to put this account's failed job events on the alert bus (and nowhere else)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, config: BackupConfig, account_id: str
    ) -> None:
        super().__init__(scope, construct_id)
        role = IamRole(
            self,
            "role",
            provider=provider,
            name=ALERT_FORWARDER_ROLE,
            description="Forwards failed AWS Backup job events to the org-backup alert bus",
            assume_role_policy=dumps(
                render_template("iam/service-trust.json", service="events.amazonaws.com", account_id=account_id)
            ),
            permissions_boundary=Naming(config).boundary_arn(account_id, "functions"),
        )
        IamRolePolicy(
            self,
            "put-events",
            provider=provider,
            name="forward-to-alert-bus",
            role=role.name,
            policy=dumps(render_template("events/forward-to-bus.json", bus_arn=Naming(config).alert_bus_arn())),
        )
        self.arn = role.arn


class FailureForwarding(Construct):
    """In one Region: the rule on the default bus that sends failed job events to the alert bus, and its DLQ.

    The DLQ uses SQS-managed encryption (SSE-SQS), not a customer managed key: it holds only event metadata, and a
    key per account and Region would add a key policy that every sender's service must be named in."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        account_id: str,
        region: str,
        role_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        naming = Naming(config)
        rule_arns = [
            naming.regional_arn("events", region, account_id, f"rule/{name}")
            for name in (ALERT_FORWARD_RULE, ALERT_ALARM_FORWARD_RULE)
        ]
        dlq_arn = naming.regional_arn("sqs", region, account_id, ALERT_FORWARD_DLQ)
        dlq = SqsQueue(
            self,
            "dlq",
            provider=provider,
            name=ALERT_FORWARD_DLQ,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            policy=dumps(render_template("sqs/rule-dead-letters.json", dlq_arn=dlq_arn, rule_arns=rule_arns)),
        )
        rules = (
            ("", ALERT_FORWARD_RULE, "Failed AWS Backup jobs", forward_pattern()),
            (
                "alarms-",
                ALERT_ALARM_FORWARD_RULE,
                "org-backup forwarding and function alarms in ALARM",
                alarm_pattern(ALERT_FORWARDING_ALARM_PREFIX, ALERT_FUNCTION_ALARM_PREFIX),
            ),
        )
        for prefix, name, what, pattern in rules:
            rule = CloudwatchEventRule(
                self,
                f"{prefix}rule",
                provider=provider,
                name=name,
                description=f"{what}, forwarded to the org-backup alert bus",
                event_pattern=dumps(pattern),
            )
            CloudwatchEventTarget(
                self,
                f"{prefix}target",
                provider=provider,
                rule=rule.name,
                arn=naming.alert_bus_arn(),
                role_arn=role_arn,
                retry_policy=CloudwatchEventTargetRetryPolicy(
                    maximum_retry_attempts=EVENTBRIDGE_RETRIES, maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS
                ),
                dead_letter_config=CloudwatchEventTargetDeadLetterConfig(arn=dlq.arn),
            )
        ForwardingAlarms(self, "alarms", provider=provider)


class AlertHub(Construct):
    """The alert bus, its rules, the encrypted topic and its subscriptions, in the monitoring account and Region."""

    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, config: BackupConfig, account_id: str
    ) -> None:
        super().__init__(scope, construct_id)
        naming = Naming(config)
        region = config.monitoring_region
        bus_arn = naming.alert_bus_arn()
        rule_names = [kind.rule_name for kind in JOB_KINDS] + [ALERT_ALARM_RULE, ALERT_FUNCTION_RULE]
        rule_arns = [naming.regional_arn("events", region, account_id, f"rule/{ALERT_BUS}/{n}") for n in rule_names]
        alarm_arn_pattern = naming.regional_arn("cloudwatch", region, account_id, f"alarm:{ALERT_HUB_ALARM_PREFIX}*")
        rule_arn_pattern = naming.regional_arn("events", region, account_id, f"rule/{ALERT_BUS}/{ALERT_RULE_PREFIX}*")
        topic_arn = naming.regional_arn("sns", region, account_id, ALERT_TOPIC)
        dlq_arn = naming.regional_arn("sqs", region, account_id, ALERT_DLQ)

        key = customer_managed_key(
            self,
            provider=provider,
            description="Encrypts the org-backup job-failure alert topic and its dead-letter queue",
            policy=deploy_roles.key_policy(
                "kms/alerts-key.json", config, account_id, account_root_arn=naming.account_root_arn(account_id)
            ),
            alias=ALERT_KEY_ALIAS,
        )
        key_arn = key.arn
        topic = SnsTopic(self, "topic", provider=provider, name=ALERT_TOPIC, kms_master_key_id=key_arn)
        topic_ref = topic.arn
        # The alert rules publish, and CloudWatch for this account's alert-path alarms only: aws:SourceArn, the alarm
        # ARNs (which name the account), as AWS's example restricts a topic to alarms (re:Post, "Why didn't I receive
        # an SNS notification for my CloudWatch alarm trigger?"). Not aws:SourceAccount: no AWS page shows CloudWatch
        # sending it with an alarm action, and a condition it does not meet would drop every notification silently.
        topic_policy = render_template("sns/rules-publish.json", topic_arn=topic_arn, rule_arn_pattern=rule_arn_pattern)
        topic_policy["Statement"] += render_template(
            "sns/alarms-publish.json", topic_arn=topic_arn, alarm_arn_pattern=alarm_arn_pattern
        )["Statement"]
        SnsTopicPolicy(self, "topic-policy", provider=provider, arn=topic_ref, policy=dumps(topic_policy))
        alerts = config.monitoring.alerts
        for index, email in enumerate(alerts.emails):
            SnsTopicSubscription(
                self, f"email-{index}", provider=provider, topic_arn=topic_ref, protocol="email", endpoint=email
            )
        for index, url in enumerate(alerts.https_endpoints):
            SnsTopicSubscription(
                self, f"https-{index}", provider=provider, topic_arn=topic_ref, protocol="https", endpoint=url
            )
        dlq = SqsQueue(
            self,
            "dlq",
            provider=provider,
            name=ALERT_DLQ,
            kms_master_key_id=key_arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            policy=dumps(render_template("sqs/rule-dead-letters.json", dlq_arn=dlq_arn, rule_arns=rule_arns)),
        )
        dlq_ref = dlq.arn
        bus = CloudwatchEventBus(self, "bus", provider=provider, name=ALERT_BUS)
        bus_name = bus.name
        CloudwatchEventBusPolicy(
            self,
            "bus-policy",
            provider=provider,
            event_bus_name=bus_name,
            policy=dumps(
                render_template("events/alert-bus.json", bus_arn=bus_arn, organization_id=config.organization.id)
            ),
        )
        alerts_of = [
            (
                kind.name,
                kind.rule_name,
                f"Failed AWS Backup {kind.name} jobs of the organization, to the alert topic",
                alert_pattern(kind),
                alert_transformer(kind, naming.partition),
            )
            for kind in JOB_KINDS
        ]
        alerts_of.append(
            (
                "alert-forwarding",
                ALERT_ALARM_RULE,
                "org-backup forwarding alarms of the organization in ALARM, to the alert topic",
                alarm_pattern(ALERT_FORWARDING_ALARM_PREFIX),
                alarm_transformer(),
            )
        )
        alerts_of.append(
            (
                "function",
                ALERT_FUNCTION_RULE,
                "org-backup function dead-letter alarms of the organization in ALARM, to the alert topic",
                alarm_pattern(ALERT_FUNCTION_ALARM_PREFIX),
                function_alarm_transformer(),
            )
        )
        for suffix, rule_name, description, pattern, (paths, template) in alerts_of:
            rule = CloudwatchEventRule(
                self,
                f"rule-{suffix}",
                provider=provider,
                name=rule_name,
                event_bus_name=bus_name,
                description=description,
                event_pattern=dumps(pattern),
            )
            CloudwatchEventTarget(
                self,
                f"target-{suffix}",
                provider=provider,
                rule=rule.name,
                event_bus_name=bus_name,
                arn=topic_ref,
                input_transformer=CloudwatchEventTargetInputTransformer(input_paths=paths, input_template=template),
                retry_policy=CloudwatchEventTargetRetryPolicy(
                    maximum_retry_attempts=EVENTBRIDGE_RETRIES, maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS
                ),
                dead_letter_config=CloudwatchEventTargetDeadLetterConfig(arn=dlq_ref),
            )
            rule_alarms(
                self,
                provider=provider,
                prefix=ALERT_HUB_ALARM_PREFIX,
                rule=rule_name,
                dimensions={"EventBusName": ALERT_BUS, "RuleName": rule_name},  # a rule on a custom bus
                what=suffix,
                actions=[topic_ref],
            )
        dead_letter_alarm(
            self,
            "alarm-dead-letters",
            provider=provider,
            prefix=ALERT_HUB_ALARM_PREFIX,
            queue=ALERT_DLQ,
            actions=[topic_ref],
        )


def add_forwarding(
    scope: Construct,
    *,
    providers: dict[str, AwsProvider],
    global_provider: AwsProvider,
    config: BackupConfig,
    account_id: str,
) -> None:
    """The forwarder role and one forwarding rule per Region of the stack (no-op with alerts off)."""
    if not config.monitoring.alerts.active:
        return
    role = AlertForwarderRole(scope, "alert-forwarder", provider=global_provider, config=config, account_id=account_id)
    for region, provider in providers.items():
        FailureForwarding(
            scope,
            f"alert-forwarding-{region}",
            provider=provider,
            config=config,
            account_id=account_id,
            region=region,
            role_arn=role.arn,
        )
