"""Job-failure alerts: what every account forwards, what the monitoring account admits and publishes, and a failed
copy job delivered end to end through moto's EventBridge and SNS to a subscriber."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws
from moto.events.models import EventPattern

from org_backup.config.yaml_io import dump_yaml
from org_backup.iam.evaluator import Policy, Principal, Request, evaluate
from org_backup.synth.inputs import Inputs
from tests.conftest import EXAMPLE_CONFIG, ROOT, Synthesized
from tests.rehearsal import moto_fixes
from tests.rehearsal.moto import seed_organization, session_in

# cdktf and stacks are imported where used: importing them starts jsii (~3 s), and make test's rehearsal starts only
# once pytest has collected every test file (tests/conftest.py, EARLY_STARTS).

MEMBERS = ("member-444444444444", "member-555555555555", "member-666666666666")
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")
ALERT_BUS = "arn:aws:events:eu-west-1:222222222222:event-bus/org-backup-alerts"
FAILED = ["ABORTED", "EXPIRED", "FAILED", "PARTIAL"]


@pytest.fixture(scope="module")
def example(synth: Any) -> Synthesized:
    return synth("example")


def _only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (resource,) = resources.values()
    return resource


def test_every_member_account_and_region_forwards_failed_jobs_to_the_alert_bus(example: Synthesized) -> None:
    for stack in MEMBERS:
        account = stack.removeprefix("member-")
        rules = {
            r["provider"]: r
            for r in example.resources(stack, "aws_cloudwatch_event_rule").values()
            if r["name"] == "org-backup-job-failures"
        }
        assert sorted(rules) == sorted(f"aws.{region}" for region in REGIONS)
        for rule in rules.values():
            assert "event_bus_name" not in rule  # the default bus, where AWS Backup sends its events
            assert json.loads(rule["event_pattern"]) == {
                "source": ["aws.backup"],
                "detail-type": ["Backup Job State Change", "Copy Job State Change", "Restore Job State Change"],
                "$or": [{"detail": {"state": FAILED}}, {"detail": {"status": FAILED}}],
            }
        targets = [t for t in example.resources(stack, "aws_cloudwatch_event_target").values() if t["arn"] == ALERT_BUS]
        assert len(targets) == 2 * len(REGIONS)  # failed jobs, and the alert path's own alarms
        (role_id,) = [
            i for i, r in example.resources(stack, "aws_iam_role").items() if r["name"] == "org-backup-alert-forwarder"
        ]
        for target in targets:
            assert target["role_arn"] == f"${{aws_iam_role.{role_id}.arn}}"
            assert target["retry_policy"] == {"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 86400}
            assert target["dead_letter_config"]["arn"].startswith("${aws_sqs_queue.alert-forwarding-")
        role = example.resources(stack, "aws_iam_role")[role_id]
        (trust,) = json.loads(role["assume_role_policy"])["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
        (permission,) = [
            p for p in example.resources(stack, "aws_iam_role_policy").values() if p["name"] == "forward-to-alert-bus"
        ]
        (statement,) = json.loads(permission["policy"])["Statement"]
        assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", ALERT_BUS)
        queues = [q for q in example.resources(stack, "aws_sqs_queue").values() if "alert" in q["name"]]
        assert len(queues) == len(REGIONS)
        assert all(q["sqs_managed_sse_enabled"] is True for q in queues)


def test_the_alert_bus_admits_only_principals_of_the_organization(example: Synthesized) -> None:
    bus = _only(example.resources("central-backup", "aws_cloudwatch_event_bus"))
    assert (bus["name"], bus["provider"]) == ("org-backup-alerts", "aws.eu-west-1")
    policy = _only(example.resources("central-backup", "aws_cloudwatch_event_bus_policy"))
    assert json.loads(policy["policy"])["Statement"] == [
        {
            "Sid": "OrganizationForwardsJobFailures",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "events:PutEvents",
            "Resource": ALERT_BUS,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        }
    ]


def test_the_topic_is_encrypted_and_only_the_alert_rules_may_publish(example: Synthesized) -> None:
    rule_pattern = "arn:aws:events:eu-west-1:222222222222:rule/org-backup-alerts/org-backup-failed-*"
    topic = _only(example.resources("central-backup", "aws_sns_topic"))
    assert topic["name"] == "org-backup-job-failures"
    keys = example.resources("central-backup", "aws_kms_key")
    key_id = topic["kms_master_key_id"].removeprefix("${aws_kms_key.").removesuffix(".arn}")
    key_statements = json.loads(keys[key_id]["policy"])["Statement"]
    (events_on_key,) = [s for s in key_statements if s["Principal"] == {"Service": "events.amazonaws.com"}]
    # EventBridge user guide (targets, "encrypted Amazon SQS queue as a target") and the Amazon Q Developer guide
    # (encrypted SNS topics): the key statement AWS documents for EventBridge delivery carries no condition. A
    # condition on aws:SourceArn, which AWS does not document EventBridge sending to KMS, could silence every alert.
    assert events_on_key == {
        "Sid": "EventBridgeAlertRulesPublishAndDeadLetter",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
    }
    assert keys[key_id]["enable_key_rotation"] is True
    topic_policy = json.loads(_only(example.resources("central-backup", "aws_sns_topic_policy"))["policy"])
    publish, tls, _alarms = topic_policy["Statement"]
    assert publish["Principal"] == {"Service": "events.amazonaws.com"} and publish["Action"] == "sns:Publish"
    assert publish["Condition"] == {"ArnLike": {"aws:SourceArn": rule_pattern}}
    assert tls["Effect"] == "Deny"
    import cdktf

    assert cdktf.Testing.to_have_resource_with_properties(
        example.text("central-backup"),
        "aws_sns_topic_subscription",
        {"protocol": "email", "endpoint": "backup-alerts@example.com"},
    )
    rules = example.resources("central-backup", "aws_cloudwatch_event_rule")
    hub = sorted(r["name"] for r in rules.values() if "event_bus_name" in r)
    assert hub == [
        "org-backup-failed-alert-forwarding",
        "org-backup-failed-backup",
        "org-backup-failed-copy",
        "org-backup-failed-function",
        "org-backup-failed-restore",
    ]
    dlq = [
        q for q in example.resources("central-backup", "aws_sqs_queue").values() if q["name"] == "org-backup-alerts-dlq"
    ]
    assert dlq[0]["kms_master_key_id"] == topic["kms_master_key_id"]


# The alert path's own alarms. EventBridge User Guide, "Monitoring Amazon EventBridge": "Metrics that specify only the
# RuleName dimension refer to the default event bus. Metrics that specify both the EventBusName and RuleName dimensions
# refer to a custom event bus"; FailedInvocations is sent "only ... if it isn't zero" (so missing data is not
# breaching). SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS": ApproximateNumberOfMessagesVisible,
# dimension QueueName.
ALARM_EVENT = json.loads((ROOT / "tests" / "events" / "forwarding_alarm.json").read_text())
FORWARDING_ALARMS = (
    "org-backup-alert-forwarding-dead-letters",
    "org-backup-alert-forwarding-failed-invocations",
    "org-backup-alert-forwarding-lost-invocations",
)
# The event functions' dead-letter alarms (stacks/event_function.py), named by function; queue names from naming.py.
TAG_REAPPLY_ALARM = "org-backup-alert-function-tag-reapply-dead-letters"
VALIDATION_ALARM = "org-backup-alert-function-restore-validation-dead-letters"
FUNCTION_ALARM_DESCRIPTION = (
    "Events org-backup-tag-reapply did not process after every retry are in the queue org-backup-tag-reapply-dlq."
)
KINDS = {"failed": "FailedInvocations", "lost": "InvocationsFailedToBeSentToDlq"}
ANY_DATAPOINT = ("GreaterThanThreshold", 0, 1, 300, "notBreaching", True)


def _alarm_shape(alarm: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        alarm[k]
        for k in (
            "comparison_operator",
            "threshold",
            "evaluation_periods",
            "period",
            "treat_missing_data",
            "actions_enabled",
        )
    )


def _alarm_event(name: str, state: str = "ALARM") -> dict[str, Any]:
    event = copy.deepcopy(ALARM_EVENT)
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["value"] = state
    return event


def test_every_forwarding_account_and_region_alarms_when_alerts_are_not_delivered(example: Synthesized) -> None:
    for stack in MEMBERS:
        alarms = {
            (a["provider"], a["alarm_name"]): a
            for a in example.resources(stack, "aws_cloudwatch_metric_alarm").values()
        }
        names = (*FORWARDING_ALARMS, TAG_REAPPLY_ALARM)
        assert sorted(alarms) == sorted((f"aws.{region}", name) for region in REGIONS for name in names)
        queues = {q["provider"]: q for q in example.resources(stack, "aws_sqs_queue").values() if "alert" in q["name"]}
        for region in REGIONS:
            failed = alarms[(f"aws.{region}", "org-backup-alert-forwarding-failed-invocations")]
            lost = alarms[(f"aws.{region}", "org-backup-alert-forwarding-lost-invocations")]
            dead = alarms[(f"aws.{region}", "org-backup-alert-forwarding-dead-letters")]
            for alarm, metric in ((failed, "FailedInvocations"), (lost, "InvocationsFailedToBeSentToDlq")):
                assert (alarm["namespace"], alarm["metric_name"], alarm["dimensions"], alarm["statistic"]) == (
                    "AWS/Events",
                    metric,
                    {"RuleName": "org-backup-job-failures"},  # a rule on the default bus: RuleName alone
                    "Sum",
                )
                assert _alarm_shape(alarm) == ANY_DATAPOINT and alarm["alarm_actions"] == []
            assert (dead["namespace"], dead["metric_name"], dead["dimensions"], dead["statistic"]) == (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": queues[f"aws.{region}"]["name"]},
                "Maximum",
            )
            function = alarms[(f"aws.{region}", TAG_REAPPLY_ALARM)]
            assert (function["namespace"], function["metric_name"], function["dimensions"], function["statistic"]) == (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": "org-backup-tag-reapply-dlq"},
                "Maximum",
            )
            assert function["alarm_description"] == FUNCTION_ALARM_DESCRIPTION  # the delivery test's event
            assert _alarm_shape(failed) == _alarm_shape(dead) == _alarm_shape(function) == ANY_DATAPOINT
            # they reach people through the bus
            assert failed["alarm_actions"] == dead["alarm_actions"] == function["alarm_actions"] == []

        (forward,) = {
            r["provider"]: r
            for r in example.resources(stack, "aws_cloudwatch_event_rule").values()
            if r["name"] == "org-backup-alert-alarms" and r["provider"] == "aws.eu-central-1"
        }.values()
        pattern = EventPattern.load(forward["event_pattern"])
        assert all(pattern.matches_event(_alarm_event(name)) for name in names)
        assert not pattern.matches_event(_alarm_event(FORWARDING_ALARMS[0], state="OK"))
        assert not pattern.matches_event(_alarm_event("ServerCpuTooHigh"))  # the account's own alarms stay its own
        rule_ids = {
            i: r["name"]
            for i, r in example.resources(stack, "aws_cloudwatch_event_rule").items()
            if r["provider"] == "aws.eu-central-1"
        }
        targets = [
            t
            for t in example.resources(stack, "aws_cloudwatch_event_target").values()
            if t["provider"] == "aws.eu-central-1" and t["arn"] == ALERT_BUS
        ]
        assert sorted(rule_ids[t["rule"].split(".")[1]] for t in targets) == [
            "org-backup-alert-alarms",
            "org-backup-job-failures",
        ]
        assert len({t["dead_letter_config"]["arn"] for t in targets}) == 1
        (senders,) = json.loads(queues["aws.eu-central-1"]["policy"])["Statement"][:1]
        account = stack.removeprefix("member-")
        assert senders["Condition"]["ArnEquals"]["aws:SourceArn"] == [
            f"arn:aws:events:eu-central-1:{account}:rule/org-backup-job-failures",
            f"arn:aws:events:eu-central-1:{account}:rule/org-backup-alert-alarms",
        ]


def test_the_monitoring_account_alarms_on_undelivered_alerts_and_publishes_them_itself(example: Synthesized) -> None:
    central = "222222222222"
    alarms = {
        a["alarm_name"]: a
        for a in example.resources("central-backup", "aws_cloudwatch_metric_alarm").values()
        if a["alarm_name"].startswith("org-backup-alert-hub-")
    }
    rules = {
        r["name"]
        for r in example.resources("central-backup", "aws_cloudwatch_event_rule").values()
        if r.get("event_bus_name")
    }
    assert sorted(alarms) == sorted(
        ["org-backup-alert-hub-dead-letters"]
        + [f"org-backup-alert-hub-{kind}-{rule.removeprefix('org-backup-failed-')}" for rule in rules for kind in KINDS]
    )
    (topic_id,) = example.resources("central-backup", "aws_sns_topic")
    for name, alarm in alarms.items():
        assert alarm["provider"] == "aws.eu-west-1" and _alarm_shape(alarm) == ANY_DATAPOINT, name
        assert alarm["alarm_actions"] == [f"${{aws_sns_topic.{topic_id}.arn}}"], name
    for rule in rules:  # a rule on a custom bus: EventBusName and RuleName
        for kind, metric in KINDS.items():
            alarm = alarms[f"org-backup-alert-hub-{kind}-{rule.removeprefix('org-backup-failed-')}"]
            assert (alarm["metric_name"], alarm["dimensions"]) == (
                metric,
                {"EventBusName": "org-backup-alerts", "RuleName": rule},
            )
    dead = alarms["org-backup-alert-hub-dead-letters"]
    assert (dead["metric_name"], dead["dimensions"]) == (
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": "org-backup-alerts-dlq"},
    )

    # CloudWatch publishes for these alarms, and only these: the topic policy as IAM evaluates it.
    topic_arn = f"arn:aws:sns:eu-west-1:{central}:org-backup-job-failures"
    topic_policy = Policy(
        "topic", json.loads(_only(example.resources("central-backup", "aws_sns_topic_policy"))["policy"])
    )

    def publish(alarm: str, account: str = central) -> bool:
        context = {
            "aws:SourceArn": f"arn:aws:cloudwatch:eu-west-1:{account}:alarm:{alarm}",
            "aws:SecureTransport": True,
        }
        request = Request(Principal("cloudwatch.amazonaws.com"), "sns:Publish", topic_arn, context)
        return evaluate(request, resource_policy=topic_policy).allowed

    assert all(publish(name) for name in alarms)
    assert not publish("org-backup-alert-forwarding-dead-letters")  # those travel through the alert bus
    assert not publish("org-backup-alert-hub-dead-letters", account="444444444444")
    # SNS Developer Guide, "Enable compatibility between event sources from AWS services and encrypted topics": the key
    # policy statement for CloudWatch alarms, without conditions.
    key_id = _only(example.resources("central-backup", "aws_sns_topic"))["kms_master_key_id"].split(".")[1]
    key_statements = json.loads(example.resources("central-backup", "aws_kms_key")[key_id]["policy"])["Statement"]
    (cloudwatch,) = [s for s in key_statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert (cloudwatch["Action"], cloudwatch["Resource"], "Condition" in cloudwatch) == (
        ["kms:Decrypt", "kms:GenerateDataKey*"],
        "*",
        False,
    )


def test_the_restore_validation_dead_letters_alarm_in_the_central_account(example: Synthesized) -> None:
    """The restore validation function (first central Region, eu-west-1, in the example) has its DLQ alarm; the
    central account forwards its own Regions, so the alarm's state change reaches the bus like a member's."""
    (alarm,) = [
        a
        for a in example.resources("central-backup", "aws_cloudwatch_metric_alarm").values()
        if a["alarm_name"] == VALIDATION_ALARM
    ]
    assert (alarm["provider"], alarm["metric_name"], alarm["dimensions"], alarm["alarm_actions"]) == (
        "aws.eu-west-1",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": "org-backup-restore-validation-dlq"},
        [],
    )
    assert _alarm_shape(alarm) == ANY_DATAPOINT
    forward = [
        r
        for r in example.resources("central-backup", "aws_cloudwatch_event_rule").values()
        if r["name"] == "org-backup-alert-alarms" and r["provider"] == "aws.eu-west-1"
    ]
    assert [EventPattern.load(r["event_pattern"]).matches_event(_alarm_event(VALIDATION_ALARM)) for r in forward] == [
        True
    ]


def test_no_alert_path_without_recipients(synth: Any) -> None:
    """The deploy roles keep the alert permissions (turning alerts on later needs no new bootstrap)."""
    minimal = synth("minimal")
    for stack in minimal.stack_names:
        resources = minimal.stack(stack).get("resource", {})
        assert "aws_cloudwatch_event_bus" not in resources and "aws_sns_topic_subscription" not in resources, stack
        names = {
            r.get("name")
            for kind in ("aws_cloudwatch_event_rule", "aws_iam_role")
            for r in resources.get(kind, {}).values()
        }
        assert not names & {"org-backup-job-failures", "org-backup-alert-forwarder"}, stack
        alarms = {a["alarm_name"] for a in resources.get("aws_cloudwatch_metric_alarm", {}).values()}
        assert not {a for a in alarms if a.startswith("org-backup-alert-")}, stack  # no function alarm without a path


def test_the_central_account_that_is_also_a_member_forwards_once(synth: Any, tmp_path_factory: Any) -> None:
    """Its member stack owns its global resources (two forwarder roles of one name would collide); the central
    stack keeps the alert hub."""
    fixture = ROOT / "tests" / "fixtures" / "central_is_member.yaml"
    config = yaml.safe_load(fixture.read_text())
    config["monitoring"] = {"alerts": {"emails": ["ops@example.com"]}}
    for key in ("backup_plans_file", "accounts_file"):
        if config.get(key):
            config[key] = str((fixture.parent / config[key]).resolve())
    path = tmp_path_factory.mktemp("central-is-member") / "backup.yaml"
    path.write_text(dump_yaml(config, sort_keys=False))
    both = synth(path)
    central = config["central_backup"]["account_id"]
    forwarders = [
        (stack, r["provider"])
        for stack in both.stack_names
        for r in both.resources(stack, "aws_iam_role").values()
        if r["name"] == "org-backup-alert-forwarder"
    ]
    members = [f"member-{account}" for ou in config["target_ous"] for account in ou["accounts"]]
    assert f"member-{central}" in members
    assert sorted(stack for stack, _ in forwarders) == sorted(members)  # one each; none in central-backup
    hubs = [stack for stack in both.stack_names if both.resources(stack, "aws_cloudwatch_event_bus")]
    assert hubs == ["central-backup"]


def _create_from_synth(session: Any, region: str, stack: dict[str, Any], prefix: str, topic_arn: str | None) -> None:
    """Create the stack's rules and targets whose construct id starts with ``prefix`` exactly as synthesized."""
    events = session.client("events", region_name=region)
    rules = stack["resource"]["aws_cloudwatch_event_rule"]
    for construct_id, target in stack["resource"]["aws_cloudwatch_event_target"].items():
        if not construct_id.startswith(prefix) or target["provider"] != f"aws.{region}":
            continue
        rule_id = target["rule"].removeprefix("${aws_cloudwatch_event_rule.").removesuffix(".name}")
        rule = rules[rule_id]
        bus = "org-backup-alerts" if "event_bus_name" in rule else "default"
        events.put_rule(Name=rule["name"], EventBusName=bus, EventPattern=rule["event_pattern"])
        spec: dict[str, Any] = {"Id": "1", "Arn": topic_arn if target["arn"].startswith("${") else target["arn"]}
        if "input_transformer" in target:
            transformer = target["input_transformer"]
            spec["InputTransformer"] = {
                "InputPathsMap": transformer["input_paths"],
                "InputTemplate": transformer["input_template"],
            }
        events.put_targets(Rule=rule["name"], EventBusName=bus, Targets=[spec])


def _delivered(tmp_path: Path, events: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The acceptance path: ``events`` put on a member account's default bus in eu-central-1 (cross-account and
    cross-Region) -> alert bus in the central account, eu-west-1 -> the alert rules with their input transformers ->
    SNS topic -> an SQS subscriber; returns the member account and the texts the subscriber received.
    moto delivers neither to SNS targets nor, across accounts, the event as it was sent: tests/rehearsal/moto_fixes.py
    fixes 13 and 14 add both, and make a bus refuse senders its policy does not admit."""
    moto_fixes.install_events()
    with mock_aws():
        config = seed_organization(None, yaml.safe_load(EXAMPLE_CONFIG.read_text()), EXAMPLE_CONFIG.parent)
        (tmp_path / "backup.yaml").write_text(dump_yaml(config, sort_keys=False))
        from stacks.app import synthesize
        from stacks.common import SynthOptions

        outdir = tmp_path / "cdktf.out"
        synthesize(inputs=Inputs.load(tmp_path / "backup.yaml"), outdir=outdir, options=SynthOptions())
        member = config["target_ous"][0]["accounts"][0]
        central = config["central_backup"]["account_id"]
        read = lambda name: json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text())  # noqa: E731

        hub = session_in(None, central)
        hub.client("events", region_name="eu-west-1").create_event_bus(Name="org-backup-alerts")
        policy = _only({k: v for k, v in read("central-backup")["resource"]["aws_cloudwatch_event_bus_policy"].items()})
        hub.client("events", region_name="eu-west-1").put_permission(
            EventBusName="org-backup-alerts", Policy=policy["policy"]
        )
        sns = hub.client("sns", region_name="eu-west-1")
        topic_arn = sns.create_topic(Name="org-backup-job-failures")["TopicArn"]
        sqs = hub.client("sqs", region_name="eu-west-1")
        queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        _create_from_synth(hub, "eu-west-1", read("central-backup"), "alert-hub_", topic_arn)
        member_session = session_in(None, member)
        _create_from_synth(member_session, "eu-central-1", read(f"member-{member}"), "alert-forwarding-", None)

        texts = []
        for event in events:
            text = json.dumps(event).replace("123456789012", member)
            sent = json.loads(text)
            member_session.client("events", region_name="eu-central-1").put_events(
                Entries=[
                    {
                        "Source": sent["source"],
                        "DetailType": sent["detail-type"],
                        "Detail": json.dumps(sent["detail"]),
                        "Resources": sent["resources"],
                    }
                ]
            )
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            texts += [json.loads(m["Body"])["Message"] for m in messages]
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return member, texts


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """One delivery run for the tests below (a synth and a moto organization each are the slow part): a failed copy
    job, then the member's dead-letter alarm (tests/events/forwarding_alarm.json, as CloudWatch puts it on the default
    bus), the same alarm returning to OK, an alarm of the account's own, and the tag re-application DLQ's alarm (its
    description as the synthesized alarm has it); each put on its own, the subscriber read after each."""
    copy_failed = json.loads((ROOT / "tests" / "events" / "copy_failed.json").read_text())
    ok = _alarm_event(FORWARDING_ALARMS[0], state="OK")
    own = _alarm_event("ServerCpuTooHigh")
    function = _alarm_event(TAG_REAPPLY_ALARM)
    function["detail"]["configuration"]["description"] = FUNCTION_ALARM_DESCRIPTION
    events = [copy_failed, ALARM_EVENT, ok, own, function]
    return _delivered(tmp_path_factory.mktemp("delivered"), events)


def test_a_failed_copy_job_reaches_the_topic_subscriber_as_a_message_a_person_can_act_on(
    delivered: tuple[str, list[str]],
) -> None:
    member, texts = delivered
    lines = texts[0].splitlines()
    assert lines[0] == f"AWS Backup copy job FAILED in account {member}, Region eu-central-1."
    assert lines[1] == f"Resource: arn:aws:ec2:eu-central-1:{member}:volume/vol-0123456789abcdef0 (EBS)"
    assert lines[2] == "Job id: 8E5E5C3B-1E0F-4B3A-9A1C-6F2D7E8C9B0A"
    assert lines[3] == "Reason: Access denied to the destination vault's KMS key."
    assert lines[5] == (
        "Jobs in the AWS Backup console: https://eu-central-1.console.aws.amazon.com/backup/home"
        "?region=eu-central-1#/jobs"
    )


def test_a_forwarding_alarm_reaches_the_topic_subscriber_and_its_ok_transition_does_not(
    delivered: tuple[str, list[str]],
) -> None:
    """Of the forwarding alarm's events only the one entering ALARM is published (the OK transition and the
    account's own alarm are not): the subscriber's second message, of three."""
    member, texts = delivered
    assert len(texts) == 3
    text = texts[1]
    assert text.splitlines()[:-1] == [
        f"org-backup alarm org-backup-alert-forwarding-dead-letters in account {member}, Region eu-central-1:"
        " failed-job alerts from there were not delivered to the alert bus.",
        "The undelivered events are in the queue org-backup-alert-forward-dlq in that account and Region.",
        "Reason: Threshold Crossed: 1 out of the last 1 datapoints [2.0 (02/10/19 16:59:00)] was greater than the"
        " threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
    ]
    assert text.splitlines()[-1].startswith("Time: ")  # EventBridge's time of the put, which moto writes its own way


def test_a_function_dead_letter_alarm_reaches_the_topic_subscriber_with_its_queue(
    delivered: tuple[str, list[str]],
) -> None:
    """Through the same forwarding rule, but published by org-backup-failed-function with the alarm's description,
    not as a forwarding failure (the alert bus's two alarm rules split them by name prefix)."""
    member, texts = delivered
    assert texts[2].splitlines()[:-1] == [
        f"org-backup alarm {TAG_REAPPLY_ALARM} in account {member}, Region eu-central-1: {FUNCTION_ALARM_DESCRIPTION}",
        "Read them with aws sqs receive-message in that account and Region; delete each once handled.",
        "Reason: Threshold Crossed: 1 out of the last 1 datapoints [2.0 (02/10/19 16:59:00)] was greater than the"
        " threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
    ]


def test_the_alert_bus_refuses_an_account_outside_the_organization() -> None:
    """The negative control of the delivery test: the same forwarding from an account moto has in no organization
    never reaches the bus (moto_fixes fix 14 evaluates the bus policy's aws:PrincipalOrgID)."""
    moto_fixes.install_events()
    with mock_aws():
        config = seed_organization(None, yaml.safe_load(EXAMPLE_CONFIG.read_text()), EXAMPLE_CONFIG.parent)
        central = config["central_backup"]["account_id"]
        hub = session_in(None, central).client("events", region_name="eu-west-1")
        hub.create_event_bus(Name="org-backup-alerts")
        bus_arn = f"arn:aws:events:eu-west-1:{central}:event-bus/org-backup-alerts"
        hub.put_permission(
            EventBusName="org-backup-alerts",
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "Org",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "events:PutEvents",
                            "Resource": bus_arn,
                            "Condition": {"StringEquals": {"aws:PrincipalOrgID": config["organization"]["id"]}},
                        }
                    ],
                }
            ),
        )
        sqs = session_in(None, central).client("sqs", region_name="eu-west-1")
        queue_url = sqs.create_queue(QueueName="on-the-bus")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        hub.put_rule(Name="all", EventBusName="org-backup-alerts", EventPattern='{"source":["aws.backup"]}')
        hub.put_targets(Rule="all", EventBusName="org-backup-alerts", Targets=[{"Id": "1", "Arn": queue_arn}])
        for sender, expected in (("999999999999", 0), (config["target_ous"][0]["accounts"][0], 1)):
            events = session_in(None, sender).client("events", region_name="eu-west-1")
            events.put_rule(Name="fwd", EventPattern='{"source":["aws.backup"]}')
            events.put_targets(Rule="fwd", Targets=[{"Id": "1", "Arn": bus_arn, "RoleArn": "arn:aws:iam::1:role/x"}])
            events.put_events(Entries=[{"Source": "aws.backup", "DetailType": "Copy Job State Change", "Detail": "{}"}])
            received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            assert len(received) == expected, sender
            for message in received:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
