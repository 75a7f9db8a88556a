"""The configuration's security rules, cross-field: who may deploy (the pipeline or, switched off, another CI
system's roles), who may review a pull request, whom the guardrails exempt, and where an SCP can apply at all. Run
by ``config_rules`` with the other cross-field rules."""

from __future__ import annotations

import fnmatch

from org_backup.config.errors import Problem, shown
from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    BUILDER_ROLES,
    DEPLOY_BATCH_ROLE,
    EVENTS_ENROLMENT_ROLE,
    EVENTS_START_PIPELINE_ROLE,
    EVENTS_START_PR_BUILD_ROLE,
    PIPELINE_ROLE,
    PLAN_BATCH_ROLE,
    PR_APPROVAL_ROLE,
    PR_PIPELINE_ROLE,
)
from org_backup.config.pipeline import CodeCommitSource
from org_backup.config.validation import duplicates

# With the pipeline off only the deploy role's principals change; each of these configures the pipeline itself and
# is refused then instead of being ignored (_pipeline_switch_problems).
PIPELINE_ONLY_FIELDS = (
    "source",
    "manual_approval",
    "notification_emails",
    "deploy_parallelism",
    "deploy_shards",
    "plan_shards",
    "artifact_retention_days",
    "log_retention_days",
)

# The pipeline's own roles in the home account (naming.py): builders, the approval function, service roles.
PIPELINE_ROLES = (
    *BUILDER_ROLES.values(),
    PR_APPROVAL_ROLE,
    PIPELINE_ROLE,
    PR_PIPELINE_ROLE,
    DEPLOY_BATCH_ROLE,
    PLAN_BATCH_ROLE,
    EVENTS_START_PIPELINE_ROLE,
    EVENTS_START_PR_BUILD_ROLE,
    EVENTS_ENROLMENT_ROLE,
)


def pipeline_security_problems(config: BackupConfig) -> list[Problem]:
    """Reviewers are people of the home account, never the pipeline; guardrail exemptions name existing principals
    of the accounts they protect; SCPs are only attached where AWS applies them."""
    problems = _pipeline_switch_problems(config)
    home = config.pipeline.home_account_id
    management = config.organization.management_account_id
    source = config.pipeline.source
    if isinstance(source, CodeCommitSource):
        for index, reviewer in enumerate(source.reviewers):
            where = f"pipeline.source.reviewers[{index}]"
            account = reviewer.split(":")[4]
            if account != home:
                problems.append(
                    Problem(
                        where,
                        f"{reviewer!r} is in account {account}, not the home account {home} where the repository "
                        "and its pull requests are: CodeCommit counts approvals by the principal that gives them. "
                        "Fix: name the role reviewers assume in the home account.",
                    )
                )
            sessions = [f"arn:{config.partition}:sts::{home}:assumed-role/{r}/session" for r in PIPELINE_ROLES]
            matched = [arn.split("/")[1] for arn in sessions if fnmatch.fnmatchcase(arn, reviewer)]
            if matched:
                problems.append(
                    Problem(
                        where,
                        f"{reviewer!r} matches the pipeline's own role {matched[0]}, whose approval would let a "
                        "build review itself. Fix: name the role human reviewers assume.",
                    )
                )
        for index, reviewer in duplicates(source.reviewers):
            problems.append(
                Problem(f"pipeline.source.reviewers[{index}]", f"{reviewer!r} is listed twice. Fix: remove it.")
            )
        if source.required_reviews > len(source.reviewers) and not any(r.endswith("/*") for r in source.reviewers):
            problems.append(
                Problem(
                    "pipeline.source.required_reviews",
                    f"{source.required_reviews} approvals are required but the pool names only "
                    f"{len(source.reviewers)} principal(s), so no pull request could ever merge. Fix: lower it or "
                    "name more reviewers.",
                )
            )
    guardrails = config.guardrails
    central = config.central_backup.account_id
    central_needs_scp = (
        guardrails.deny_backup_tampering.enabled
        and guardrails.deny_backup_tampering.central_account
        and central not in config.member_accounts
    )
    if guardrails.pipeline_account.enabled and home == management:
        problems.append(
            Problem(
                "guardrails.pipeline_account.enabled",
                f"the home account {home} is the management account, where SCPs never apply. Fix: run the pipeline "
                "in a member account (AWS: use the management account only for tasks that need it), or turn it off.",
            )
        )
    if central_needs_scp and central == management:
        problems.append(
            Problem(
                "guardrails.deny_backup_tampering.central_account",
                f"the central account {central} is the management account, where SCPs never apply. Fix: move the "
                "central vault to a member account, or set central_account: false.",
            )
        )
    tampering = guardrails.deny_backup_tampering
    tampered_ous = set(config.ous_of(tampering.target_ous)) if tampering.enabled else set()
    home_under_tampering = any(home in ou.accounts for ou in config.target_ous if ou.id in tampered_ous) or (
        home == central and central_needs_scp
    )
    if home_under_tampering:
        problems.append(
            Problem(
                "pipeline.home_account_id",
                f"{home} is also governed by guardrails.deny_backup_tampering, which lets only the deploy role change "
                "org-backup's rules, functions and queues: the administrators who apply the pipeline stack there "
                "would be denied its approval function and rules. Fix: run the pipeline in an account of its own, "
                "outside the target OUs and apart from the central account (AWS recommends a dedicated tooling "
                "account).",
            )
        )
    needed = [
        name
        for name, on in (
            ("guardrails.pipeline_account", guardrails.pipeline_account.enabled),
            ("guardrails.deny_backup_tampering.central_account", central_needs_scp),
        )
        if on
    ]
    if needed and not guardrails.administrators:
        problems.append(
            Problem(
                "guardrails.administrators",
                f"is empty, but {' and '.join(needed)} exempt only these principals from what they deny, so nobody "
                "could run `make bootstrap` there again. Fix: list the role ARNs of the administrators who apply "
                'bootstrap, e.g. ["arn:aws:iam::<home account>:role/Admin"].',
            )
        )
    allowed_accounts = {home, central}
    held = [f"arn:{config.partition}:iam::{home}:role/{r}" for r in PIPELINE_ROLES] + [
        f"arn:{config.partition}:iam::{account}:role/{r}"
        for account in (home, central)
        for r in (config.names.deploy_role, config.names.plan_role)
    ]
    for index, principal in enumerate(guardrails.administrators):
        account = principal.split(":")[4]
        if account not in allowed_accounts:
            problems.append(
                Problem(
                    f"guardrails.administrators[{index}]",
                    f"{principal!r} is in account {account}; the exemptions apply in the home ({home}) and central "
                    f"({central}) accounts only, where `make bootstrap` runs. Fix: name a principal of one of those.",
                )
            )
        exempted = [arn.rsplit("/", 1)[-1] for arn in held if fnmatch.fnmatchcase(arn, principal)]
        if exempted:
            problems.append(
                Problem(
                    f"guardrails.administrators[{index}]",
                    f"{principal!r} matches {exempted[0]}, one of the roles the guardrails hold (the pipeline's, "
                    "the deploy and plan roles): it would exempt them from what they deny. Fix: name the "
                    "administrators' own role.",
                )
            )
    return problems


def _home_account_roles(config: BackupConfig) -> list[Problem]:
    """make plan and make diff read Terraform state with the caller's own credentials, from the state bucket in the
    home account, whose key policy admits only that account's principals (policies/kms/account-admin-key.json; KMS
    Developer Guide, "Allowing users in other accounts to use a KMS key": the key policy must name the other account)."""
    home = config.pipeline.home_account_id
    return [
        Problem(
            f"pipeline.plan_readers[{index}]",
            f"{reader!r} is in account {reader.split(':')[4]}, but make plan and make diff read Terraform state with "
            f"the reader's own credentials from the state bucket in the home account {home}, whose key admits only "
            "that account's principals. Fix: name a role in the home account.",
        )
        for index, reader in enumerate(config.pipeline.plan_readers)
        if reader.split(":")[4] != home
    ]


def _pipeline_switch_problems(config: BackupConfig) -> list[Problem]:
    """With the pipeline on, it needs its source and is the only deployer; off, another CI system deploys as
    ``deployers`` and nothing that configures the pipeline is accepted (it would be silently ignored)."""
    pipeline = config.pipeline
    if pipeline.enabled:
        problems = []
        if pipeline.source is None:
            problems.append(
                Problem(
                    "pipeline.source", f"is required but missing. Fix: {BackupConfig.missing_fixes['pipeline.source']}"
                )
            )
        problems += _home_account_roles(config)
        if pipeline.deployers:
            problems.append(
                Problem(
                    "pipeline.deployers",
                    f"{shown(list(pipeline.deployers))} is set, but with the pipeline on only its deploy builder may "
                    "assume the deploy roles. Fix: remove deployers, or set pipeline.enabled: false to deploy from "
                    "another CI system.",
                )
            )
        return problems
    problems = [
        Problem(
            f"pipeline.{field}",
            "configures org-backup's CodePipeline, which pipeline.enabled: false leaves out. Fix: remove it (or set "
            "enabled: true).",
        )
        for field in PIPELINE_ONLY_FIELDS
        if field in pipeline.model_fields_set
    ]
    if not pipeline.deployers:
        problems.append(
            Problem(
                "pipeline.deployers",
                "is empty, but with pipeline.enabled: false nobody else could assume the deploy roles. Fix: list the "
                'role your CI system deploys with, e.g. ["arn:aws:iam::<home account>:role/github-actions-deploy"].',
            )
        )
    if config.guardrails.pipeline_account.enabled:
        problems.append(
            Problem(
                "guardrails.pipeline_account.enabled",
                "protects org-backup's CodePipeline, which pipeline.enabled: false leaves out. Fix: set it to false "
                "and protect your CI system's deploy role by its own means.",
            )
        )
    home = pipeline.home_account_id
    problems += _home_account_roles(config)
    for index, deployer in enumerate(pipeline.deployers):
        account = deployer.split(":")[4]
        if account != home:
            problems.append(
                Problem(
                    f"pipeline.deployers[{index}]",
                    f"{deployer!r} is in account {account}, but make deploy writes Terraform state with the "
                    f"deployer's own credentials to the state bucket in the home account {home}, whose key admits "
                    "only that account's principals. Fix: name a role in the home account (your CI system's OIDC "
                    "role there).",
                )
            )
    for index, deployer in duplicates(pipeline.deployers):
        problems.append(Problem(f"pipeline.deployers[{index}]", f"{deployer!r} is listed twice. Fix: remove it."))
    return problems
