"""``python -m org_backup discover``: read the target OUs' accounts from AWS Organizations and write the snapshot
synth reads (``accounts_file``). Read-only; run with management-account or delegated-administrator credentials,
or with ``--assume-plan-role`` (the pipeline: the read-only plan role in the management account).

Every target OU is walked recursively and page by page. An account becomes a member when it is ACTIVE and not
excluded; everything left out is written to the snapshot with the reason, so a reviewer sees it. A nested OU that
is itself a target OU is left to its own entry, so each account belongs to its most specific target OU. The file
is written only when every target OU was read: a vanished OU or a denied call leaves the old snapshot in place.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from org_backup.config import accounts_lock
from org_backup.config.accounts_lock import AccountsLock, LockedAccount, LockedOu, SkippedAccount, SkippedOu
from org_backup.config.errors import InputError, Problem
from org_backup.config.loader import load_config
from org_backup.config.model import BackupConfig

EXIT_STALE = 1  # --check: the committed snapshot differs from the organization
EXIT_AWS_ERROR = 3
_NOT_FOUND = {"OrganizationalUnitNotFoundException", "ParentNotFoundException"}


class DiscoveryError(Exception):
    """AWS refused or failed a call; the message names the call and the fix."""


def discover(
    config: BackupConfig, organizations: Any, *, source: str = "backup.yaml", page_size: int | None = None
) -> AccountsLock:
    """Walk every target OU with the given Organizations client and return the snapshot (nothing is written).

    ``source`` names the config file in errors about it (a vanished OU, another organization)."""
    organization_id = _call(organizations.describe_organization)["Organization"]["Id"]
    if organization_id != config.organization.id:
        raise InputError(
            source,
            [
                Problem(
                    "organization.id",
                    f"{config.organization.id!r}, but these credentials belong to organization {organization_id!r}. "
                    "Fix: use credentials of the organization's management (or delegated administrator) account.",
                )
            ],
        )
    target_ids = {ou.id for ou in config.target_ous}
    excluded_accounts = {e.id: e.reason for e in config.discovery.exclude_accounts}
    excluded_ous = {e.id: e.reason for e in config.discovery.exclude_ous}
    management = config.organization.management_account_id
    pages = {"PaginationConfig": {"PageSize": page_size}} if page_size else {}

    missing: list[Problem] = []
    locked: list[LockedOu] = []
    skipped_accounts: list[SkippedAccount] = []
    skipped_ous: list[SkippedOu] = []
    for index, target in enumerate(config.target_ous):
        try:
            name = _call(organizations.describe_organizational_unit, OrganizationalUnitId=target.id)
        except _NotFound:
            missing.append(
                Problem(
                    f"target_ous[{index}].id",
                    f"{target.id!r} ({target.name}) was not found in organization {organization_id}: it was deleted, "
                    "or the id is wrong. Fix: correct the id or remove the OU from target_ous.",
                )
            )
            continue
        members: list[LockedAccount] = []
        for parent, account in _walk(organizations, target.id, target_ids, excluded_ous, skipped_ous, pages):
            entry = {"id": account["Id"], "name": account["Name"], "parent": parent}
            why = _why_skipped(account, management, excluded_accounts)
            if why:
                skipped_accounts.append(SkippedAccount(**entry, why=why))
            else:
                members.append(LockedAccount(**entry))
        locked.append(LockedOu(id=target.id, name=name["OrganizationalUnit"]["Name"], accounts=tuple(members)))
    if missing:
        raise InputError(source, missing)
    return AccountsLock(
        organization_id=organization_id,
        target_ous=tuple(locked),
        skipped_accounts=tuple(skipped_accounts),
        skipped_ous=tuple(skipped_ous),
    )


def _why_skipped(account: dict[str, Any], management: str, excluded: dict[str, str]) -> str | None:
    if account["Id"] == management:
        return "management account: backup policies and SCPs never govern it"
    if account["Status"] != "ACTIVE":
        return f"status {account['Status']}"
    if account["Id"] in excluded:
        return f"excluded: {excluded[account['Id']]}"
    return None


def _walk(
    organizations: Any,
    root: str,
    target_ids: set[str],
    excluded_ous: dict[str, str],
    skipped_ous: list[SkippedOu],
    pages: dict[str, Any],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (parent OU, account) for every account under ``root``, depth first, every page of every listing."""
    pending = [root]
    while pending:
        parent = pending.pop()
        for page in _pages(organizations, "list_accounts_for_parent", ParentId=parent, **pages):
            for account in page["Accounts"]:
                yield parent, account
        for page in _pages(organizations, "list_organizational_units_for_parent", ParentId=parent, **pages):
            for child in page["OrganizationalUnits"]:
                if child["Id"] in target_ids:
                    continue  # walked as its own target OU
                if child["Id"] in excluded_ous:
                    skipped_ous.append(
                        SkippedOu(id=child["Id"], name=child["Name"], why=f"excluded: {excluded_ous[child['Id']]}")
                    )
                    continue
                pending.append(child["Id"])


class _NotFound(Exception):
    pass


def _call(method: Any, **kwargs: Any) -> Any:
    try:
        return method(**kwargs)
    except ClientError as exc:
        raise _translate(exc, method.__name__) from None
    except BotoCoreError as exc:
        raise DiscoveryError(f"{method.__name__} failed: {exc}") from None


def _pages(organizations: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    try:
        yield from organizations.get_paginator(operation).paginate(**kwargs)
    except ClientError as exc:
        raise _translate(exc, operation) from None
    except BotoCoreError as exc:
        raise DiscoveryError(f"{operation} failed: {exc}") from None


def _translate(exc: ClientError, operation: str) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _NOT_FOUND:
        return _NotFound(code)
    action = "organizations:" + (exc.operation_name or "".join(p.capitalize() for p in operation.split("_")))
    fix = {
        "AccessDeniedException": f"allow {action} to these credentials (the plan role has it), or use management-"
        "account credentials.",
        "AWSOrganizationsNotInUseException": "these credentials' account is not in an organization.",
        "TooManyRequestsException": "AWS Organizations throttled the walk; run discover again.",
    }.get(code, "see the AWS error above.")
    return DiscoveryError(
        f"{action} failed with {code}: {exc.response.get('Error', {}).get('Message', '')}. Fix: {fix}"
    )


def write_atomically(path: Path, text: str) -> None:
    """Write next to ``path`` and rename over it: a failed write never leaves half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def session(config: BackupConfig, *, assume_plan_role: bool) -> boto3.Session:
    """The caller's credentials, or the read-only plan role of the account that manages the policies (the
    pipeline's way): the policy administrator's, which the delegation policy lets read the organization
    (org_backup/iam/organization_access.py), or the management account's when the policies are not delegated."""
    if not assume_plan_role:
        return boto3.Session()
    from org_backup.config.naming import Naming

    role_arn = Naming(config).role_arn(config.policy_admin_account_id, config.names.plan_role)
    sts = boto3.client("sts", region_name=config.pipeline_region)
    try:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="org-backup-discover")["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise DiscoveryError(
            f"could not assume {role_arn}: {exc}. Fix: run as a principal its trust names: the pipeline's "
            "builder role, one of pipeline.deployers (pipeline.enabled: false) or of pipeline.plan_readers."
        ) from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def main(
    config_path: Path,
    *,
    check: bool = False,
    assume_plan_role: bool = False,
    if_configured: bool = False,
    also_write: Path | None = None,
    from_file: Path | None = None,
    organizations: Any | None = None,
) -> int:
    """Discover, print who joins or leaves, and write the snapshot (or, with ``check``, only compare).

    ``from_file`` installs a snapshot discovered earlier (the Plan stage's, in the Deploy stage) instead of asking
    AWS, after checking it against backup.yaml; ``also_write`` writes the same bytes to a second place (the Plan
    stage's artifact); ``if_configured`` makes a config without ``accounts_file`` a no-op instead of an error.
    """
    config = load_config(config_path, with_accounts_file=False)  # the snapshot is what gets rewritten
    if config.accounts_file is None:
        if if_configured:
            print("accounts_file is not set: member accounts come from backup.yaml; nothing to discover.")
            return 0
        raise InputError(
            str(config_path),
            [
                Problem(
                    "accounts_file",
                    "is not set, so there is nowhere to write discovered accounts. Fix: add `accounts_file: "
                    "accounts.lock.yaml` and remove target_ous[].accounts.",
                )
            ],
        )
    path = config.accounts_path(config_path.parent)
    if from_file is not None:
        lock = accounts_lock.load(from_file)
        problems = accounts_lock.consistency_problems(config, lock)
        if problems:
            raise InputError(str(from_file), problems)
    else:
        try:
            client = organizations or session(config, assume_plan_role=assume_plan_role).client(
                "organizations", region_name=_organizations_region(config)
            )
            lock = discover(config, client, source=str(config_path))
        except DiscoveryError as exc:
            print(f"discover: {exc}", file=sys.stderr)
            return EXIT_AWS_ERROR
    before = _previous(path)
    text = lock.render()
    print(
        f"{len(lock.member_ids)} member accounts in {len(lock.target_ous)} target OUs; {len(lock.skipped_accounts)} skipped."
    )
    print(accounts_lock.changes(before, lock).render())
    if also_write is not None:
        write_atomically(also_write, text)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        print(f"{path} is up to date.")
        return 0
    if check:
        print(f"{path} is stale. Fix: run `python -m org_backup discover` and commit the result.", file=sys.stderr)
        return EXIT_STALE
    write_atomically(path, text)
    print(f"Wrote {path}.")
    return 0


def _previous(path: Path) -> AccountsLock | None:
    """The snapshot being replaced, to say who joins or leaves; an unreadable one is replaced, and said so."""
    if not path.is_file():
        return None
    try:
        return accounts_lock.load(path)
    except InputError as exc:
        print(f"Note: the existing snapshot is unreadable and will be replaced:\n{exc.render()}", file=sys.stderr)
        return None


def _organizations_region(config: BackupConfig) -> str:
    """AWS Organizations is a global service with one endpoint per partition."""
    return {"aws-us-gov": "us-gov-west-1", "aws-cn": "cn-northwest-1"}.get(config.partition, "us-east-1")
