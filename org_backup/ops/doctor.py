"""Preflight checks of the prerequisites org-backup does not manage itself: read-only boto3 calls made with
management-account (or delegated) credentials. Each check prints PASS or FAIL with the fix; any FAIL exits 1.

Terraform deliberately does not own these: enabling policy types and trusted access lives on
``aws_organizations_organization``, and managing that resource would take over the whole organization.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from org_backup.config.model import BackupConfig
from org_backup.config.naming import DEPLOY_ROLES_STACKSET, MANAGED_POLICY_TAG
from org_backup.config.pipeline import CodeCommitSource
from org_backup.ops.doctor_base import Check as Check
from org_backup.ops.doctor_base import Clients as Clients
from org_backup.ops.doctor_regions import opt_in_region_checks, region_settings_checks

BACKUP_PRINCIPAL = "backup.amazonaws.com"
# Service-managed StackSets (the deploy and plan roles in every target account) need this trusted access.
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
# What the deploy branch must have at a connection source for "only a reviewed merge deploys" to hold (docs/security.md,
# Pipeline security); the provider's own settings, which doctor cannot read.
BRANCH_PROTECTION = (
    "a pull request is required to change it",
    "at least one approving review is required, and stale approvals are dismissed on new commits",
    "force pushes and deletion are refused",
    "administrators cannot bypass these rules (except the break-glass ones)",
)


def credentials_problem(clients: Clients) -> str | None:
    """One call before any check: no credentials, no network and refused credentials are each one message with
    the fix, instead of one FAIL per check with a fix that does not apply."""
    try:
        clients.client("sts").get_caller_identity()
    except NoCredentialsError:
        return (
            "no AWS credentials found (environment, AWS_PROFILE, config files). Fix: sign in as the management "
            "account, e.g. `aws sso login --profile <management profile>` then `export AWS_PROFILE=<that profile>`."
        )
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
        return f"cannot reach AWS ({exc}). Fix: check the network, HTTPS_PROXY, or AWS_ENDPOINT_URL if one is set."
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return (
            f"the credentials were refused ({error.get('Code')}: {error.get('Message')}). Fix: refresh them "
            "(e.g. `aws sso login`) or use another profile of the management account."
        )
    return None


def _safe(name: str, fix: str, probe: Callable[[], Check]) -> Check:
    try:
        return probe()
    except (ClientError, BotoCoreError) as exc:
        return Check(name, False, f"could not be checked: {exc}", fix)


def run_checks(config: BackupConfig, clients: Clients, policies: Mapping[str, str] | None = None) -> list[Check]:
    """Every check: the prerequisites, then what the first deployment leaves behind. ``policies``: org-backup's
    AWS Organizations policies, {name: type}, whose management-account tag is checked when they already exist."""
    return (
        prerequisite_checks(config, clients)
        + _cross_account_check(config, clients)
        + _role_checks(config, clients)
        + _managed_tag_checks(clients, policies or {})
        + region_settings_checks(config, clients)
        + source_checks(config)
    )


def _managed_tag_checks(clients: Clients, policies: Mapping[str, str]) -> list[Check]:
    """org-backup's policies that exist already must carry the tag the management deploy role is limited to
    (aws:ResourceTag, deploy_roles.management_policy): policies of an older deployment were created without it."""
    org = clients.client("organizations")
    key, value = MANAGED_POLICY_TAG
    checks = []
    for kind in sorted(set(policies.values())):
        existing = {
            p["Name"]: p["Id"]
            for page in org.get_paginator("list_policies").paginate(Filter=kind)
            for p in page["Policies"]
            if policies.get(p["Name"]) == kind
        }
        for name, policy_id in sorted(existing.items()):
            fix = (
                f"once, as an administrator of the management account: aws organizations tag-resource --resource-id "
                f"{policy_id} --tags Key={key},Value={value} (the deploy role changes only policies with that tag)."
            )

            def tagged(name: str = name, policy_id: str = policy_id, fix: str = fix) -> Check:
                tags = {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=policy_id)["Tags"]}
                ok = tags.get(key) == value
                detail = f"{policy_id} is tagged {key}={value}" if ok else f"{policy_id} lacks the tag {key}={value}"
                return Check(f"policy {name}", ok, detail, fix)

            checks.append(_safe(f"policy {name}", fix, tagged))
    if policies:  # which policies are org-backup's is known only from the rendered ones
        checks.append(
            _safe("policies tagged as org-backup's", "run with management credentials", lambda: _foreign(org, policies))
        )
    return checks


def _foreign(org: Any, policies: Mapping[str, str]) -> Check:
    """Policies carrying org-backup's tag that are not org-backup's. The deploy role may tag a backup policy or SCP
    and then change policies with that tag: Organizations has no condition key that limits TagResource to the
    policy being created (Service Authorization Reference, AWS Organizations: TagResource takes aws:RequestTag and
    aws:TagKeys only), so a compromised deploy role could take over another team's policy this way. Detected here,
    since it cannot be prevented by the role's policy."""
    key, value = MANAGED_POLICY_TAG
    foreign = []
    for kind in ("BACKUP_POLICY", "SERVICE_CONTROL_POLICY"):
        for page in org.get_paginator("list_policies").paginate(Filter=kind):
            for policy in page["Policies"]:
                if policy.get("AwsManaged") or policies.get(policy["Name"]) == kind:
                    continue
                tags = {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=policy["Id"])["Tags"]}
                if tags.get(key) == value:
                    foreign.append(f"{policy['Name']} ({policy['Id']})")
    return Check(
        "policies tagged as org-backup's",
        not foreign,
        f"not org-backup's, yet tagged {key}={value}: {', '.join(foreign)}" if foreign else "only org-backup's own",
        f"find who tagged them (CloudTrail, organizations:TagResource) and remove the tag: aws organizations "
        f"untag-resource --resource-id <id> --tag-keys {key}; the deploy role may change any policy with that tag",
    )


def source_checks(config: BackupConfig) -> list[Check]:
    """What the pipeline relies on at a connection source (GitHub, GitLab, Bitbucket) and no AWS credential can
    read: said, never counted as a pass."""
    source = config.pipeline.source
    if source is None or isinstance(source, CodeCommitSource):  # no pipeline, or a repository AWS can read
        return []
    where = f"{source.repository} branch {source.branch}"
    return [
        Check(f"branch protection of {where}", True, f"not checkable with AWS credentials: {setting}", skipped=True)
        for setting in BRANCH_PROTECTION
    ]


def prerequisite_checks(config: BackupConfig, clients: Clients) -> list[Check]:
    """What must hold before anything is deployed (``bootstrap`` runs these first): the organization, these
    credentials, policy types, trusted access, and every configured account where backup.yaml says it is."""
    org = clients.client("organizations")
    sts = clients.client("sts")
    checks: list[Check] = []

    def organization() -> Check:
        described = org.describe_organization()["Organization"]
        ok = described["FeatureSet"] == "ALL" and described["Id"] == config.organization.id
        detail = f"{described['Id']} with feature set {described['FeatureSet']}"
        return Check("organization", ok, detail, f"use organization {config.organization.id} with all features enabled")

    checks.append(_safe("organization", "run with management-account credentials", organization))

    def caller() -> Check:
        account = sts.get_caller_identity()["Account"]
        ok = account == config.organization.management_account_id
        return Check(
            "credentials",
            ok,
            f"running as account {account}",
            f"use credentials of the management account {config.organization.management_account_id}",
        )

    checks.append(_safe("credentials", "configure AWS credentials", caller))

    def policy_types() -> list[Check]:
        root = org.list_roots()["Roots"][0]
        enabled = {p["Type"] for p in root.get("PolicyTypes", []) if p["Status"] == "ENABLED"}
        needed = {"BACKUP_POLICY": True}
        guardrails = config.guardrails
        needed["SERVICE_CONTROL_POLICY"] = (
            guardrails.copy_restriction.mode != "off"
            or guardrails.deny_backup_tampering.enabled
            or guardrails.deny_leave_organization.enabled
        )
        out = []
        for policy_type, required in needed.items():
            if not required:
                out.append(Check(f"policy type {policy_type}", True, "not needed (no guardrail enabled)"))
                continue
            out.append(
                Check(
                    f"policy type {policy_type}",
                    policy_type in enabled,
                    f"{'enabled' if policy_type in enabled else 'not enabled'} on root {root['Id']}",
                    f"aws organizations enable-policy-type --root-id {root['Id']} --policy-type {policy_type}",
                )
            )
        return out

    try:
        checks += policy_types()
    except (ClientError, BotoCoreError) as exc:
        checks.append(Check("policy types", False, f"could not be checked: {exc}", "run with management credentials"))

    for label, principal in (("AWS Backup", BACKUP_PRINCIPAL), ("CloudFormation StackSets", STACKSETS_PRINCIPAL)):

        def trusted_access(label: str = label, principal: str = principal) -> Check:
            pages = org.get_paginator("list_aws_service_access_for_organization").paginate()
            principals = {p["ServicePrincipal"] for page in pages for p in page["EnabledServicePrincipals"]}
            return Check(
                f"trusted access for {label}",
                principal in principals,
                "enabled" if principal in principals else "not enabled",
                f"aws organizations enable-aws-service-access --service-principal {principal}",
            )

        checks.append(_safe(f"trusted access for {label}", "run with management credentials", trusted_access))

    expected = {account: ou.id for ou in config.target_ous for account in ou.accounts}
    others = {config.central_backup.account_id: None, config.pipeline.home_account_id: None}
    # One paginated listing per target OU (20 accounts a page) instead of two calls per account: 1,000 accounts
    # in ~50 calls. An account missing from its OU's listing is then looked up on its own, to say where it is.
    in_ou: dict[str, dict[str, str]] = {}
    for ou in config.target_ous:
        try:
            pages = org.get_paginator("list_accounts_for_parent").paginate(ParentId=ou.id)
            in_ou[ou.id] = {a["Id"]: a.get("State") or a.get("Status") for page in pages for a in page["Accounts"]}
        except (ClientError, BotoCoreError):
            in_ou[ou.id] = {}  # each of its accounts is looked up on its own below, and reports the error
    for account_id, ou_id in expected.items():
        state = in_ou.get(ou_id, {}).get(account_id)
        if state is not None:
            checks.append(
                Check(
                    f"account {account_id}",
                    state == "ACTIVE",
                    f"{state}, in {ou_id}",
                    "reactivate it or remove it from backup.yaml",
                )
            )
    elsewhere: dict[str, str | None] = {a: o for a, o in expected.items() if a not in in_ou.get(o, {})}
    for account_id, configured_ou in {**others, **elsewhere}.items():

        def account_check(account_id: str = account_id, ou_id: str | None = configured_ou) -> Check:
            account = org.describe_account(AccountId=account_id)["Account"]
            state = account.get("State") or account.get("Status")
            parent = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
            ok = state == "ACTIVE" and (ou_id is None or parent == ou_id)
            detail = f"{state}, in {parent}" + (f" (configured: {ou_id})" if ou_id and parent != ou_id else "")
            return Check(
                f"account {account_id}",
                ok,
                detail,
                "move the account into its configured OU, or correct target_ous"
                if state == "ACTIVE"
                else "reactivate it or remove it from backup.yaml",
            )

        checks.append(_safe(f"account {account_id}", "check the account id in backup.yaml", account_check))
    return checks + opt_in_region_checks(config, clients)


def _cross_account_check(config: BackupConfig, clients: Clients) -> list[Check]:
    setter = (
        "run `make bootstrap` (bootstrap-management sets it)"
        if config.policies_delegated
        else "deploy the management stack (it sets it)"
    )

    def cross_account() -> Check:
        settings = clients.client("backup").describe_global_settings().get("GlobalSettings", {})
        enabled = settings.get("isCrossAccountBackupEnabled") == "true"
        return Check(
            "cross-account backup",
            enabled,
            "enabled" if enabled else "not enabled",
            f"{setter}, or enable it in AWS Backup > Settings",
        )

    return [_safe("cross-account backup", "run with management credentials", cross_account)]


def _role_checks(config: BackupConfig, clients: Clients) -> list[Check]:
    """The deploy and plan roles exist everywhere the pipeline deploys.

    They trust only the pipeline's builders, so an administrator cannot assume them; instead the management
    account's own roles are read with IAM, and every target-OU account's through the StackSet instance that
    creates them. A central account outside the target OUs can only be checked from inside it.
    """
    names = config.names
    management = config.organization.management_account_id
    checks: list[Check] = []

    def management_roles() -> Check:
        iam = clients.client("iam")
        missing = []
        for role in (names.deploy_role, names.plan_role):
            try:
                iam.get_role(RoleName=role)
            except iam.exceptions.NoSuchEntityException:
                missing.append(role)
        if config.policies_delegated:
            # Delegated policy management: the pipeline must have no role to assume here (organization_access.py).
            present = [r for r in (names.deploy_role, names.plan_role) if r not in missing]
            detail = (
                f"left from before the delegation: {', '.join(present)}"
                if present
                else "none: the pipeline never enters this account"
            )
            return Check(
                f"no pipeline roles in {management}",
                not present,
                detail,
                "run `make bootstrap`: with the policies delegated, bootstrap-management deletes them",
            )
        detail = f"missing {', '.join(missing)}" if missing else f"{names.deploy_role} and {names.plan_role} exist"
        return Check(
            f"roles in {management}", not missing, detail, "apply bootstrap-management (docs/deploy.md, Deploy it)"
        )

    checks.append(_safe(f"roles in {management}", "run with management-account credentials", management_roles))

    try:
        cloudformation = clients.client("cloudformation", config.pipeline_region)  # bootstrap-management's Region
        pages = cloudformation.get_paginator("list_stack_instances").paginate(StackSetName=DEPLOY_ROLES_STACKSET)
        instances = {i["Account"]: i for page in pages for i in page["Summaries"]}
    except (ClientError, BotoCoreError) as exc:
        instances = {}
        checks.append(
            Check(
                f"stack set {DEPLOY_ROLES_STACKSET}",
                False,
                f"could not be read: {exc}",
                "apply bootstrap-management (make bootstrap); it creates the stack set that puts the roles into every account",
            )
        )
    for account_id in config.member_accounts:
        instance = instances.get(account_id)
        status = instance.get("StackInstanceStatus", {}).get("DetailedStatus", instance["Status"]) if instance else None
        checks.append(
            Check(
                f"roles in {account_id}",
                instance is not None and instance["Status"] == "CURRENT",
                f"stack set instance {instance['Status']} ({status})" if instance else "no stack set instance",
                "run `make bootstrap` (bootstrap-management owns the stack set), then check the stack set's operations "
                "in the CloudFormation console",
            )
        )
    central = config.central_backup.account_id
    if central not in config.member_accounts:
        checks.append(
            Check(
                f"roles in {central}",
                True,
                "not checkable from the management account (bootstrap-central creates them)",
                skipped=True,
            )
        )
    return checks


def main(config: BackupConfig, policies: Mapping[str, str] | None = None) -> int:
    clients = Clients()
    problem = credentials_problem(clients)
    if problem:
        print(f"doctor: {problem} Nothing was checked.")
        return 1
    checks = run_checks(config, clients, policies)
    for check in checks:
        print(check.render())
    failed = sum(not c.ok for c in checks)
    skipped = sum(c.skipped for c in checks)
    print(f"doctor: {len(checks) - failed - skipped} of {len(checks)} checks passed, {skipped} not checkable here")
    return 1 if failed else 0
