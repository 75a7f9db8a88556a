"""Resources an interrupted apply created in AWS but never wrote to the state, taken over by the next deploy.

Why: Terraform writes the state of an apply to the backend at its end, and during a long apply at most every 20
seconds (hashicorp/terraform pull request 32680, "Periodically persist intermediate state snapshots": the first
snapshot no sooner than 20 seconds into the apply). A build killed in between (a CodeBuild timeout, a cancelled
build: SIGKILL, no clean-up) leaves objects in AWS that the state does not know. The next apply would create them
again: named ones fail ("AlreadyExistsException" from CreateBackupVault and CreateAlias, "EntityAlreadyExists" from
IAM CreateRole, "ResourceConflictException" from Lambda CreateFunction and AddPermission,
"ResourceAlreadyExistsException" from CloudWatch Logs CreateLogGroup: each API's reference, Errors), and a KMS key,
which has no name, would be created a second time beside the first.

When: only for a stack whose apply is known to have been interrupted. ``locks --clear-stale`` leaves a marker,
``<key_prefix>/<stack>.tfstate.interrupted``, when it removes a stale lock (org_backup/ops/state_locks.py), and so does
``python -m org_backup.ops.unrecorded mark STACK`` after a lock was removed by hand. A first deployment over resources
someone else created under the same names is never taken over: that still fails as Terraform reports it.

What: every resource of the stack's configuration that is not in its state is looked up in AWS, by the name the
configuration gives it, through the role and Region its provider uses (the deploy role). One found is adopted, with an
``import`` block (Terraform >= 1.5, https://developer.hashicorp.com/terraform/language/import) written beside the
stack (org_backup/synth/adoption.py ``write_imports``), only when it carries every tag the configuration gives it (the
provider's ``default_tags``: AWS's create calls take them, so an object this deployment created has them from its
first second). An alias is adopted with the key it points to, a Lambda permission with its function. A key is found
through the alias or vault that names it, else, when it was created but nothing names it yet, as the only enabled,
unaliased customer managed key with the configured description and tags. Import ids are the AWS provider's
(terraform-provider-aws 5.100 documentation, "Import" of each resource). Resources whose create call is idempotent
(a queue, topic, rule, target, alarm, role policy, vault policy, AWS's ``Put*`` calls) are left to the apply.
The marker is deleted once the stack deployed (``done``).

Not looked up: an S3 bucket (the provider tags it in a second call after CreateBucket, so a killed apply may leave it
untagged), a vault lock older than its ``changeable_for_days`` (immutable then: the apply fails), an air-gapped vault
and its AWS RAM share (share names are not unique), a restore testing plan, AWS Organizations policies. The tags show
that an object was made with this deployment's tags, not by this deployment: someone who can create a same-named,
same-tagged vault in a member account between the kill and the next deploy gets it adopted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from org_backup.ops import state_locks
from org_backup.synth import adoption

_REFERENCE = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}$")
Client = Callable[[str], Any]  # service name -> boto3 client in the provider's account and Region


@dataclass(frozen=True)
class Remote:
    """An object found in AWS: its import id, its tags (None for a type without tags) and the attribute values that
    other resources' references read (a vault's ``kms_key_arn``, an alias's ``target_key_id``)."""

    import_id: str
    tags: Mapping[str, str] | None
    attributes: Mapping[str, str] = field(default_factory=dict)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _missing(call: Callable[..., Any], *codes: str, **request: Any) -> Any:
    """The call's answer to ``request``, or None when AWS answers with one of ``codes`` (the object does not
    exist, or is not readable and so not this deployment's)."""
    try:
        return call(**request)
    except ClientError as exc:
        if _code(exc) in codes:
            return None
        raise


def _tag_dict(tags: Iterable[Mapping[str, str]], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {t[key]: t[value] for t in tags}


def _vault(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    backup = aws("backup")
    # AWS Backup answers AccessDeniedException, not ResourceNotFoundException, for a vault that does not exist
    # (aws/aws-sdk-js issue 2625); the AWS provider's own lookup (findVault) takes both as "not found".
    found = _missing(
        backup.describe_backup_vault, "ResourceNotFoundException", "AccessDeniedException", BackupVaultName=c["name"]
    )
    if found is None:
        return None
    tags = backup.list_tags(ResourceArn=found["BackupVaultArn"]).get("Tags", {})
    return Remote(c["name"], tags, {"arn": found["BackupVaultArn"], "kms_key_arn": found.get("EncryptionKeyArn", "")})


def _framework(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    backup = aws("backup")
    found = _missing(backup.describe_framework, "ResourceNotFoundException", FrameworkName=c["name"])
    if found is None:
        return None
    return Remote(c["name"], backup.list_tags(ResourceArn=found["FrameworkArn"]).get("Tags", {}))


def _report_plan(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    backup = aws("backup")
    found = _missing(backup.describe_report_plan, "ResourceNotFoundException", ReportPlanName=c["name"])
    if found is None:
        return None
    arn = found["ReportPlan"]["ReportPlanArn"]
    return Remote(c["name"], backup.list_tags(ResourceArn=arn).get("Tags", {}))


def _role(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    found = _missing(aws("iam").get_role, "NoSuchEntity", RoleName=c["name"])
    return None if found is None else Remote(c["name"], _tag_dict(found["Role"].get("Tags", [])))


def _function(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    name = c["function_name"]
    found = _missing(aws("lambda").get_function, "ResourceNotFoundException", FunctionName=name)
    return None if found is None else Remote(name, found.get("Tags", {}))


def _permission(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    name, sid = c["function_name"], c["statement_id"]
    found = _missing(aws("lambda").get_policy, "ResourceNotFoundException", FunctionName=name)
    statements = json.loads(found["Policy"]).get("Statement", []) if found else []
    return Remote(f"{name}/{sid}", None) if any(s.get("Sid") == sid for s in statements) else None


def _log_group(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    logs = aws("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=c["name"]).get("logGroups", [])
    group = next((g for g in groups if g["logGroupName"] == c["name"]), None)
    if group is None:
        return None
    return Remote(c["name"], logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*")).get("tags", {}))


def _event_bus(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    events = aws("events")
    found = _missing(events.describe_event_bus, "ResourceNotFoundException", Name=c["name"])
    if found is None:
        return None
    return Remote(c["name"], _tag_dict(events.list_tags_for_resource(ResourceARN=found["Arn"]).get("Tags", [])))


def _alias(aws: Client, c: Mapping[str, Any]) -> Remote | None:
    for page in aws("kms").get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == c["name"]:
                return Remote(c["name"], None, {"target_key_id": alias.get("TargetKeyId", "")})
    return None


# The types whose create call fails, or duplicates, when the object exists; each with its lookup by name.
FINDERS: dict[str, Callable[[Client, Mapping[str, Any]], Remote | None]] = {
    "aws_backup_vault": _vault,
    "aws_backup_framework": _framework,
    "aws_backup_report_plan": _report_plan,
    "aws_iam_role": _role,
    "aws_lambda_function": _function,
    "aws_lambda_permission": _permission,
    "aws_cloudwatch_log_group": _log_group,
    "aws_cloudwatch_event_bus": _event_bus,
    "aws_kms_alias": _alias,
}
# A resource without tags is adopted only with the resource it belongs to, which this attribute names.
_OWNERS = {"aws_kms_alias": "target_key_id", "aws_lambda_permission": "function_name"}


@dataclass
class Adoption:
    imports: dict[str, str] = field(default_factory=dict)  # address -> import id
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _resolve(resources: Mapping[str, Mapping[str, Any]], value: Any) -> Any:
    """A configuration value with a reference to another resource's literal name (``${aws_iam_role.x.name}``)
    replaced by that literal; other references are left as they are."""
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    if match:
        kind, name, attribute = match.groups()
        literal = resources.get(kind, {}).get(name, {}).get(attribute)
        if isinstance(literal, str) and not literal.startswith("${"):
            return literal
    return value


def _address_in(value: Any, kind: str) -> str | None:
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    return f"{match[1]}.{match[2]}" if match and match[1] == kind else None


def plan(
    document: Mapping[str, Any], recorded: Mapping[str, Mapping[str, Any]], clients: Mapping[str, Client]
) -> Adoption:
    """What to adopt of a synthesized stack (``cdk.tf.json``) whose state holds ``recorded`` (address -> attributes
    of each managed resource); ``clients`` per provider (``aws.<alias>``)."""
    resources: Mapping[str, Mapping[str, Any]] = document.get("resource", {})
    default_tags: dict[str, dict[str, str]] = {}
    for provider in document.get("provider", {}).get("aws", []):
        default_tags[f"aws.{provider['alias']}"] = dict(provider.get("default_tags", [{}])[0].get("tags", {}))
    result, found = Adoption(), {}
    unrecorded = [
        (kind, name, config)
        for kind, by_name in resources.items()
        for name, config in by_name.items()
        if f"{kind}.{name}" not in recorded
    ]
    for kind, name, config in unrecorded:
        if kind not in FINDERS:
            continue
        resolved = {k: _resolve(resources, v) for k, v in config.items()}
        literal = all(not str(resolved.get(k, "")).startswith("${") for k in ("name", "function_name"))
        remote = FINDERS[kind](clients[config["provider"]], resolved) if literal else None
        if remote is not None:
            found[f"{kind}.{name}"] = (remote, config)
    keys = {f"aws_kms_key.{n}": c for k, n, c in unrecorded if k == "aws_kms_key"}
    key_ids = _keys(keys, found, recorded, clients, default_tags, result)
    # Tagged objects first: an untagged one (an alias, a permission) is adopted only with what it belongs to.
    for address, (remote, config) in sorted(found.items(), key=lambda item: (item[1][0].tags is None, item[0])):
        expected = {**default_tags.get(config["provider"], {}), **config.get("tags", {})}
        if remote.tags is None:
            owner_attribute = _OWNERS[address.split(".")[0]]
            owner = _owner(config.get(owner_attribute), remote, key_ids, result.imports, recorded)
            if owner is None:
                result.notes.append(f"{address}: exists ({remote.import_id}) but what it belongs to is not this "
                                    "deployment's; left to the apply")  # fmt: skip
                continue
        elif not expected.items() <= dict(remote.tags).items():
            result.problems.append(
                f"{address}: {remote.import_id} exists in AWS without this deployment's tags "
                f"({', '.join(f'{k}={v}' for k, v in sorted(expected.items()))}), so it is not this deployment's and "
                "the apply would fail creating it. Fix: rename or delete that object, or import it by hand if it is "
                "this deployment's."
            )
            continue
        result.imports[address] = remote.import_id
    result.imports.update({a: i for a, i in key_ids.items() if a in keys})
    return result


def _owner(
    reference: Any, remote: Remote, key_ids: Mapping[str, str], adopted: Mapping[str, str], recorded: Mapping[str, Any]
) -> str | None:
    """The address an untagged object belongs to, when that is this deployment's: its key (an alias pointing at
    the key the state or the adoption holds) or its function (recorded or adopted)."""
    if (address := _address_in(reference, "aws_kms_key")) is not None:
        key_id = key_ids.get(address) or recorded.get(address, {}).get("key_id")
        return address if key_id and remote.attributes.get("target_key_id") == key_id else None
    if (address := _address_in(reference, "aws_lambda_function")) is not None:
        return address if address in recorded or address in adopted else None
    return None


def _keys(
    keys: Mapping[str, Mapping[str, Any]],
    found: Mapping[str, tuple[Remote, Mapping[str, Any]]],
    recorded: Mapping[str, Mapping[str, Any]],
    clients: Mapping[str, Client],
    default_tags: Mapping[str, Mapping[str, str]],
    result: Adoption,
) -> dict[str, str]:
    """Key id of each unrecorded key found in AWS: named by a found vault (``kms_key_arn``) or alias
    (``target_key_id``), else the one unaliased key with its description and tags."""
    named: dict[str, str] = {}
    for remote, config in found.values():
        for attribute in ("kms_key_arn", "target_key_id"):
            address = _address_in(config.get(attribute), "aws_kms_key")
            if address in keys and remote.attributes.get(attribute):
                named.setdefault(str(address), remote.attributes[attribute].rsplit("/", 1)[-1])
    taken = {str(r.get("key_id")) for r in recorded.values() if r.get("key_id")} | set(named.values())
    for address, config in sorted(keys.items()):
        kms = clients[config["provider"]]("kms")
        expected = {**default_tags.get(config["provider"], {}), **config.get("tags", {})}
        if address in named:
            tags = _tag_dict(kms.list_resource_tags(KeyId=named[address]).get("Tags", []), "TagKey", "TagValue")
            if expected.items() <= tags.items():
                continue
            result.problems.append(f"{address}: key {named[address]} lacks this deployment's tags; not adopted")
            del named[address]
            continue
        candidates = [k for k in _orphan_keys(kms, config.get("description", ""), expected) if k not in taken]
        if len(candidates) == 1:
            named[address] = candidates[0]
            taken.add(candidates[0])
        elif candidates:
            result.problems.append(
                f"{address}: {len(candidates)} keys ({', '.join(sorted(candidates))}) match its description and tags "
                "and none is named by an alias or vault; which one the interrupted apply created is unknown. Fix: "
                "`terraform import` the right one, and schedule the deletion of the others once no vault uses them."
            )
    return named


def _orphan_keys(kms: Any, description: str, tags: Mapping[str, str]) -> list[str]:
    """Enabled customer managed keys with ``description`` and ``tags`` that no alias points to."""
    aliased = {a.get("TargetKeyId") for page in kms.get_paginator("list_aliases").paginate() for a in page["Aliases"]}
    found = []
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            if entry["KeyId"] in aliased:
                continue
            # A key whose policy does not let the deploy role read it is not one this deployment created (its keys'
            # policies all admit the deploy role: policies/kms/deploy-role-on-key.json).
            described = _missing(kms.describe_key, "AccessDeniedException", KeyId=entry["KeyId"])
            if described is None:
                continue
            metadata = described["KeyMetadata"]
            if (metadata.get("KeyManager"), metadata.get("KeyState"), metadata.get("Description")) != (
                "CUSTOMER", "Enabled", description,
            ):  # fmt: skip
                continue
            key_tags = _tag_dict(kms.list_resource_tags(KeyId=entry["KeyId"]).get("Tags", []), "TagKey", "TagValue")
            if tags.items() <= key_tags.items():
                found.append(entry["KeyId"])
    return found


def recorded_resources(state: bytes | None) -> dict[str, dict[str, Any]]:
    """Address -> attributes of each managed resource in a Terraform (v4) state; empty when there is none."""
    if not state:
        return {}
    return {
        f"{r['type']}.{r['name']}": dict(r["instances"][0]["attributes"])
        for r in json.loads(state).get("resources", [])
        if r.get("mode") == "managed" and r.get("instances")
    }


def provider_clients(document: Mapping[str, Any], session: Any) -> dict[str, Client]:
    """A client factory per provider of the stack: its Region, the role it assumes (the deploy role of the stack's
    account) and that role's session name, assumed once with ``session``'s credentials (the deploy builder's)."""
    assumed: dict[tuple[str, str], Any] = {}

    def factory(provider: Mapping[str, Any]) -> Client:
        def client(service: str) -> Any:
            role = provider.get("assume_role", [{}])[0]
            key = (str(role.get("role_arn", "")), str(provider["region"]))
            if key not in assumed:
                if not key[0]:
                    assumed[key] = session
                else:
                    credentials = session.client("sts", region_name=key[1]).assume_role(
                        RoleArn=key[0], RoleSessionName=role.get("session_name", "org-backup-cdktf")
                    )["Credentials"]
                    assumed[key] = type(session)(
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"],
                    )
            return assumed[key].client(service, region_name=key[1])

        return client

    return {f"aws.{p['alias']}": factory(p) for p in document.get("provider", {}).get("aws", []) if "alias" in p}


def _stacks(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """``python -m org_backup.ops.unrecorded``: 0 done, 1 an object in AWS stops the deploy, 3 AWS could not be read."""
    import boto3

    from org_backup.config.errors import InputError
    from org_backup.config.loader import load_config
    from org_backup.config.model import DEFAULT_CONFIG, S3Backend

    parser = argparse.ArgumentParser(prog="python -m org_backup.ops.unrecorded", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("BACKUP_CONFIG", DEFAULT_CONFIG)))
    parser.add_argument("--outdir", type=Path, default=Path("cdktf.out"))
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("adopt", "write import blocks for what an interrupted apply of the listed stacks left unrecorded"),
        ("done", "the listed stacks deployed: forget their interruption markers"),
        ("mark", "mark the listed stacks interrupted (after removing a lock by hand)"),
    ):
        command = commands.add_parser(name, help=text)
        group = command.add_mutually_exclusive_group(required=True)
        group.add_argument("--stacks-file", type=Path, help="one stack name per line")
        group.add_argument("--stack", action="append", help="a stack name (repeatable)")
    args = parser.parse_args(argv)
    try:
        backend = load_config(args.config, with_accounts_file=False).state_backend
        stacks = args.stack or _stacks(args.stacks_file)
    except (InputError, OSError) as exc:
        print(f"unrecorded: {exc}", file=sys.stderr)
        return 2
    if not isinstance(backend, S3Backend):
        return 0  # local state: Terraform's own lock file on this machine; no build is killed behind the user's back
    s3 = boto3.client("s3", region_name=backend.region)
    try:
        return _run(args.command, stacks, args.outdir, s3, backend.bucket, backend.key_prefix, boto3.Session())
    except (BotoCoreError, ClientError) as exc:
        print(f"unrecorded: {args.command}: cannot read or write AWS: {exc}", file=sys.stderr)
        return 3


def _run(command: str, stacks: list[str], outdir: Path, s3: Any, bucket: str, prefix: str, session: Any) -> int:
    problems = []
    for stack in stacks:
        marker = state_locks.marker_key(prefix, stack)
        stack_dir = outdir / "stacks" / stack
        if command == "mark":
            s3.put_object(Bucket=bucket, Key=marker, Body=b"marked by hand")
            print(f"unrecorded: {stack} marked interrupted; its next deploy adopts what the apply left unrecorded.")
            continue
        if command == "done":
            s3.delete_object(Bucket=bucket, Key=marker)
            (stack_dir / adoption.IMPORTS_FILE).unlink(missing_ok=True)
            continue
        if state_locks.read_object(s3, bucket, marker) is None:
            continue
        document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
        recorded = recorded_resources(state_locks.read_object(s3, bucket, f"{prefix}/{stack}.tfstate"))
        result = plan(document, recorded, provider_clients(document, session))
        for note in result.notes:
            print(f"unrecorded: {stack}: {note}")
        problems += [f"{stack}: {p}" for p in result.problems]
        adoption.write_imports(stack_dir, result.imports)
        adopted = ", ".join(f"{a} ({i})" for a, i in sorted(result.imports.items())) or "nothing"
        print(f"unrecorded: {stack} was interrupted mid-apply; adopting {adopted}.")
    for problem in problems:
        print(f"unrecorded: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
