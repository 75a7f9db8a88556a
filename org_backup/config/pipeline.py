"""The ``pipeline`` section: where the code comes from, who deploys, the Deploy stage's fan-out and its waves
(``rollout``, run by org_backup/ops/rollout.py), and the waves' rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import ConfigDict, Field

from org_backup.config.errors import Problem
from org_backup.config.formats import CodeCommitRepositoryName, ConnectionArn, RepositoryId, RoleArn
from org_backup.config.validation import AccountId, EmailAddress, Model, OuId, Region, ReviewerArn, with_pattern

if TYPE_CHECKING:
    from org_backup.config.model import BackupConfig

WaveName = Annotated[
    str,
    with_pattern(
        r"^[a-z0-9][a-z0-9-]{0,31}$",
        "a wave name",
        "1-32 lower-case letters, digits and hyphens, starting with a letter or digit",
        "name it like canary or ten-percent",
        "canary",
    ),
]


class Wave(Model):
    name: WaveName = Field(description="Shown in the Deploy stage's log and in what it reports when it stops.")
    accounts: tuple[AccountId, ...] = Field(default=(), description="These member accounts' stacks.")
    ous: tuple[OuId, ...] = Field(default=(), description="The member stacks of accounts in these target OUs.")
    count: int | None = Field(
        default=None, ge=1, description="The first N member stacks not in an earlier wave (sorted by account id)."
    )
    percent: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="This share of the run's member stacks, rounded up, from those not in an earlier wave.",
    )
    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        le=50,
        description="Stacks deployed at once in this wave (per deploy shard); default: pipeline.deploy_parallelism.",
    )
    failure_tolerance: int = Field(
        default=0,
        ge=0,
        description="Failed stacks the wave tolerates: one more stops the rollout (nothing more starts; later waves "
        "are left as last deployed and planned again next run), as StackSets' FailureToleranceCount.",
    )
    concurrency_mode: Literal["soft", "strict"] = Field(
        default="soft",
        description="As StackSets' ConcurrencyMode. soft: max_concurrent stacks at once whatever fails, so up to "
        "failure_tolerance + max_concurrent may fail before the wave stops; strict: at most failure_tolerance + 1 - "
        "failures so far at once, so at most failure_tolerance + 1 fail (and failure_tolerance 0 deploys one at a "
        "time).",
    )


def _default_waves() -> tuple[Wave, ...]:
    return (
        Wave(name="canary", count=1),  # one member account (central-backup beside it: another account)
        Wave(name="ten-percent", percent=10),
        Wave(name="rest", failure_tolerance=2),
    )


class Rollout(Model):
    waves: tuple[Wave, ...] = Field(
        default_factory=_default_waves,
        min_length=1,
        description="Ordered waves of the Deploy stage's member stacks (central-backup goes with the first). Each "
        "selects by accounts, ous, count or percent (one of them); the last selects none: the rest. Default: one "
        "canary account, then 10 %, then the rest (tolerating 2 failures).",
    )


# org-backup's own cap on Plan and Deploy fan-out (not an AWS quota): beyond it, API rate limits (STS, IAM, Organizations)
# rather than build count bound the wall time. docs/scale.md, "Scale" explains the model.
MAX_DEPLOY_SHARDS = 100
# A role trust policy holds 2,048 characters by default (IAM User Guide, "IAM and AWS STS quotas": role trust policy
# length); the plan role's two builder statements and four readers' fit with room for long role paths.
MAX_PLAN_READERS = 4
# The same bound for the deploy role's trust when another CI system deploys (pipeline.deployers).
MAX_DEPLOYERS = 4


class CodeCommitSource(Model):
    type: Literal["codecommit"] = "codecommit"
    repository: CodeCommitRepositoryName = Field(
        default="org-backup",
        description="CodeCommit repository created in the home account (pull requests run validate + plan).",
    )
    branch: str = Field(default="main", min_length=1, max_length=256, description="Branch that deploys.")
    reviewers: tuple[ReviewerArn, ...] = Field(
        min_length=1,
        description="The approval pool of the review rule: only approvals by these principals count toward the "
        "human review a pull request needs before it can merge (fully qualified ARNs; a role's sessions as "
        "arn:aws:sts::<home account>:assumed-role/<role>/*). The pipeline's builder roles and its approval function "
        "are refused here: a build passing is the other rule, never a review.",
    )
    required_reviews: int = Field(
        default=1, ge=1, le=10, description="Approvals from the reviewers a pull request needs before it can merge."
    )


class ConnectionSource(Model):
    type: Literal["connection"]
    connection_arn: ConnectionArn = Field(
        description="An AVAILABLE CodeStar/CodeConnections connection (GitHub, GitLab, Bitbucket) in the home account.",
    )
    repository: RepositoryId = Field(description="owner/name of the repository.")
    branch: str = Field(default="main", min_length=1, max_length=256, description="Branch that deploys.")


class Pipeline(Model):
    # JSON Schema for editors: source is required unless the pipeline is off (the same rule config_rules checks).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"enabled": {"const": False}}, "required": ["enabled"]},
            "then": {"required": ["deployers"]},
            "else": {"required": ["source"]},
        }
    )

    enabled: bool = Field(
        default=True,
        description="Build org-backup's CodePipeline (the pipeline stack). false: another CI system (GitHub Actions, "
        "GitLab CI, Atlantis, ...) runs make plan and make deploy as one of the roles in deployers; no pipeline "
        "stack, no home-account guardrail, no enrolment forwarding (docs/deploy.md, Deploy from another CI system).",
    )
    home_account_id: AccountId = Field(
        description="Account that holds Terraform state (bootstrap-home's state bucket) and runs the CI/CD pipeline."
    )
    region: Region | None = Field(
        default=None, description="Region of the pipeline and the state bucket; default: the first target Region."
    )
    source: Annotated[CodeCommitSource | ConnectionSource, Field(discriminator="type")] | None = Field(
        default=None,
        description="Where the code comes from, chosen explicitly: type codecommit (a repository in the home "
        "account; AWS no longer offers CodeCommit to new customers) or type connection (GitHub, GitLab or "
        "Bitbucket through an AWS CodeConnections connection). Required unless enabled is false.",
    )
    deployers: tuple[RoleArn, ...] = Field(
        default=(),
        max_length=MAX_DEPLOYERS,
        description="Only with enabled: false (then required): the roles of the CI system that runs make plan and "
        "make deploy, e.g. a GitHub Actions OIDC role. The deploy role in every account trusts exactly these (and "
        "the plan role them and plan_readers); with the pipeline on, only its deploy builder. Exact role ARNs.",
    )
    manual_approval: bool = Field(default=True, description="Require a manual approval between Plan and Deploy.")
    notification_emails: tuple[EmailAddress, ...] = Field(
        default=(), description="Subscribed to pipeline failure and approval notifications (SNS, KMS-encrypted)."
    )
    plan_readers: tuple[RoleArn, ...] = Field(
        default=(),
        max_length=MAX_PLAN_READERS,
        description="Roles of people who may assume the read-only plan role in every account, to run make plan, "
        "cdktf diff and readiness with their own credentials (the plan role otherwise trusts only the pipeline's "
        "plan and pull-request builders). Exact role ARNs.",
    )
    deploy_parallelism: int = Field(
        default=4,
        ge=1,
        le=50,
        description="Stacks deployed at once in a deploy build: cdktf deploy's parallelism in phases 1 and 3, each wave's default max_concurrent in phase 2.",
    )
    deploy_shards: int = Field(
        default=1,
        ge=1,
        le=MAX_DEPLOY_SHARDS,
        description="Parallel CodeBuild builds the Deploy stage fans out to (a batch build when above 1); each "
        "deploys 1/N of the changed stacks. Keep it within the account's CodeBuild concurrent-build quota.",
    )
    plan_shards: int = Field(
        default=1,
        ge=1,
        le=MAX_DEPLOY_SHARDS,
        description="Parallel CodeBuild builds the Plan stage fans out to (a batch build and a merge build when "
        "above 1); each plans 1/N of the changed stacks, and the merge checks and joins them into the one artifact "
        "that is approved and deployed. Keep it within the account's CodeBuild concurrent-build quota.",
    )
    artifact_retention_days: int = Field(default=90, ge=1, le=3650, description="Pipeline artifacts kept this long.")
    log_retention_days: int = Field(default=365, description="CodeBuild log retention (a CloudWatch Logs value).")
    rollout: Rollout = Field(default_factory=Rollout, description="The waves of the Deploy stage's member stacks.")


def rollout_problems(config: BackupConfig) -> list[Problem]:
    """Unique names; one selector per wave; the last wave, and only it, takes the rest (so every member stack is in
    a wave); accounts and OUs the rollout could deploy."""
    waves = config.pipeline.rollout.waves
    problems = []
    members = set(config.member_accounts)
    ous = {ou.id for ou in config.target_ous}
    seen: set[str] = set()
    for index, wave in enumerate(waves):
        where = f"pipeline.rollout.waves[{index}]"
        if wave.name in seen:
            problems.append(Problem(f"{where}.name", f"{wave.name!r} names two waves. Fix: give each its own name."))
        seen.add(wave.name)
        chosen = [key for key in ("accounts", "ous", "count", "percent") if getattr(wave, key) not in ((), None)]
        last = index == len(waves) - 1
        if len(chosen) > 1:
            problems.append(
                Problem(where, f"selects by {' and '.join(chosen)}. Fix: one of accounts, ous, count or percent.")
            )
        elif last and chosen:
            problems.append(
                Problem(
                    where,
                    f"is the last wave but selects by {chosen[0]}: stacks it does not select would never deploy. "
                    "Fix: add a last wave with only a name (and limits): the rest.",
                )
            )
        elif not last and not chosen:
            problems.append(
                Problem(where, "selects nothing, so it takes the rest, but it is not the last wave. Fix: move it last.")
            )
        problems += [
            Problem(
                f"{where}.accounts[{i}]",
                f"{a!r} is not a member account (target_ous[].accounts). Fix: remove it, or add it to its OU.",
            )
            for i, a in enumerate(wave.accounts)
            if a not in members
        ]
        problems += [
            Problem(f"{where}.ous[{i}]", f"{ou!r} is not one of target_ous. Fix: remove it, or target the OU.")
            for i, ou in enumerate(wave.ous)
            if ou not in ous
        ]  # fmt: skip
    return problems
