"""The alarms on the alert path itself, and how their state changes become alerts (see stacks/alerts.py).

Forwarding accounts get three alarms per Region without actions, and one more on each event function's dead-letter
queue (tag re-application, restore validation); CloudWatch puts their state changes on the default
bus ("CloudWatch guarantees the delivery of alarm state change events to EventBridge": CloudWatch User Guide, "Alarm
events and EventBridge"), whence a second forwarding rule takes them to the alert bus. The monitoring account's
alarms publish to the topic themselves.
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from org_backup.config.naming import (
    ALERT_FORWARD_DLQ,
    ALERT_FORWARD_RULE,
    ALERT_FORWARDING_ALARM_PREFIX,
    ALERT_FUNCTION_ALARM_PREFIX,
)

ALARM_PERIOD_SECONDS = 300


def alarm_pattern(*prefixes: str) -> dict[str, object]:
    """An org-backup alarm whose name starts with one of ``prefixes`` (default: the forwarding alarms) entering
    ALARM: the second forwarding rule matches both kinds, each alert bus rule one (event shape: CloudWatch User Guide,
    "Alarm events and EventBridge", single metric alarm; several ``prefix`` matchers in one array match any of them:
    EventBridge User Guide, "Creating event patterns")."""
    names = [{"prefix": prefix} for prefix in prefixes or (ALERT_FORWARDING_ALARM_PREFIX,)]
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": names, "state": {"value": ["ALARM"]}},
    }


def alarm_transformer() -> tuple[dict[str, str], str]:
    """The input paths and text of a forwarding alarm's alert: which account and Region lost alerts, and where
    they are."""
    paths = {
        "account": "$.account",
        "region": "$.region",
        "time": "$.time",
        "alarm": "$.detail.alarmName",
        "reason": "$.detail.state.reason",
    }
    lines = [
        "org-backup alarm <alarm> in account <account>, Region <region>: failed-job alerts from there were not"
        " delivered to the alert bus.",
        f"The undelivered events are in the queue {ALERT_FORWARD_DLQ} in that account and Region.",
        "Reason: <reason>",
        "Time: <time>",
    ]
    return paths, json.dumps("\n".join(lines))


def function_alarm_transformer() -> tuple[dict[str, str], str]:
    """The input paths and text of a function dead-letter alarm's alert: the alarm's description says which events
    wait in which queue (``detail.configuration.description``, in the single metric alarm event of CloudWatch User
    Guide, "Alarm events and EventBridge")."""
    paths = {
        "account": "$.account",
        "region": "$.region",
        "time": "$.time",
        "alarm": "$.detail.alarmName",
        "description": "$.detail.configuration.description",
        "reason": "$.detail.state.reason",
    }
    lines = [
        "org-backup alarm <alarm> in account <account>, Region <region>: <description>",
        "Read them with aws sqs receive-message in that account and Region; delete each once handled.",
        "Reason: <reason>",
        "Time: <time>",
    ]
    return paths, json.dumps("\n".join(lines))


def function_dead_letter_alarm(
    scope: Construct, construct_id: str, *, provider: AwsProvider, function_name: str, queue: str
) -> None:
    """The alarm ``org-backup-alert-function-<function>-dead-letters`` on the depth of an event function's DLQ,
    without actions: its ALARM reaches the topic through the alert bus, like the forwarding alarms."""
    queue_alarm(
        scope,
        construct_id,
        provider=provider,
        name=f"{ALERT_FUNCTION_ALARM_PREFIX}{function_name.removeprefix('org-backup-')}-dead-letters",
        description=f"Events {function_name} did not process after every retry are in the queue {queue}.",
        queue=queue,
        actions=[],
    )


def alarm_on(
    scope: Construct,
    construct_id: str,
    *,
    provider: AwsProvider,
    name: str,
    description: str,
    metric: tuple[str, str, dict[str, str]],
    statistic: str,
    actions: list[str],
) -> None:
    """One alarm that enters ALARM on any non-zero datapoint in five minutes. ``metric`` is (namespace, name,
    dimensions). Missing data is not breaching: EventBridge sends FailedInvocations "only ... if it isn't zero"
    (EventBridge User Guide, "Monitoring Amazon EventBridge"), and SQS stops sending metrics for a queue inactive
    for six hours (SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS")."""
    namespace, metric_name, dimensions = metric
    CloudwatchMetricAlarm(
        scope,
        construct_id,
        provider=provider,
        alarm_name=name,
        alarm_description=description,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        statistic=statistic,
        period=ALARM_PERIOD_SECONDS,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        actions_enabled=True,
        alarm_actions=actions,
    )


# A rule's two ways of losing an event (EventBridge User Guide, "Monitoring Amazon EventBridge"): FailedInvocations,
# "invocations that failed permanently", and InvocationsFailedToBeSentToDlq, "invocations that couldn't be moved to a
# dead-letter queue" (permissions, an unavailable queue, size limits). What reached the DLQ shows in its depth.
RULE_FAILURE_METRICS = {"failed": "FailedInvocations", "lost": "InvocationsFailedToBeSentToDlq"}


def rule_alarms(
    scope: Construct,
    *,
    provider: AwsProvider,
    prefix: str,
    rule: str,
    dimensions: dict[str, str],
    what: str,
    actions: list[str],
) -> None:
    """The alarms ``prefix``failed-... and ``prefix``lost-... on one rule's failure metrics."""
    for kind, metric in RULE_FAILURE_METRICS.items():
        alarm_on(
            scope,
            f"{kind}-{rule}",
            provider=provider,
            name=f"{prefix}{kind}-{what}",
            description=f"{metric} of the rule {rule}",
            metric=("AWS/Events", metric, dimensions),
            statistic="Sum",
            actions=actions,
        )


class ForwardingAlarms(Construct):
    """In one forwarding account and Region: the forwarding rule's failure metrics and its DLQ's depth."""

    def __init__(self, scope: Construct, construct_id: str, *, provider: AwsProvider) -> None:
        super().__init__(scope, construct_id)
        rule_alarms(
            self,
            provider=provider,
            prefix=ALERT_FORWARDING_ALARM_PREFIX,
            rule=ALERT_FORWARD_RULE,
            dimensions={"RuleName": ALERT_FORWARD_RULE},  # a rule on the default bus: RuleName alone
            what="invocations",
            actions=[],
        )
        dead_letter_alarm(
            self,
            "dead-letters",
            provider=provider,
            prefix=ALERT_FORWARDING_ALARM_PREFIX,
            queue=ALERT_FORWARD_DLQ,
            actions=[],
        )


def dead_letter_alarm(
    scope: Construct, construct_id: str, *, provider: AwsProvider, prefix: str, queue: str, actions: list[str]
) -> None:
    """The alarm ``prefix``dead-letters on the depth of one dead-letter queue of the alert path."""
    queue_alarm(
        scope,
        construct_id,
        provider=provider,
        name=f"{prefix}dead-letters",
        description=f"Undelivered alert events waiting in {queue}",
        queue=queue,
        actions=actions,
    )


def queue_alarm(
    scope: Construct,
    construct_id: str,
    *,
    provider: AwsProvider,
    name: str,
    description: str,
    queue: str,
    actions: list[str],
) -> None:
    """An alarm on the messages waiting in one queue (the largest count in the period: one message is enough)."""
    alarm_on(
        scope,
        construct_id,
        provider=provider,
        name=name,
        description=description,
        metric=("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}),
        statistic="Maximum",
        actions=actions,
    )
