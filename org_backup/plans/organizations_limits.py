"""AWS Organizations' limits across the policies org-backup renders: unique names of at most 128 characters, and how
many policies of each type it attaches to one root, OU or account.

AWS Organizations User Guide, "Managing AWS Organizations policies", policy types table, column "Maximum number you
can attach to a root, OU, or account": "SCP ... 5", "Backup policy ... 10"
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies.html); "Quotas and service limits
for AWS Organizations" (orgs_reference_limits.html) lists them as "Maximum number of policies attached".
Going over it fails the attachment: ConstraintViolationException, reason MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED,
"You attempted to exceed the number of policies of a certain type that can be attached to an entity at one time"
(AWS Organizations API Reference, Errors). The limit is per entity: a policy inherited from a parent is attached to
the parent, not to the child.

SCPs: "Every root, OU, and account must have at least one SCP attached. If you want to replace the default
FullAWSAccess policy ..." (API Reference, DetachPolicy). org-backup's SCPs only deny, so the allow that
FullAWSAccess gives stays attached beside them and takes one of the five.

Offline, only org-backup's own policies are known: a policy someone else attached to the same target takes room too,
and every message says it is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from org_backup.config.errors import InputError, Problem
from org_backup.config.model import BackupConfig
from org_backup.iam.guardrails import RenderedScp, render_scps
from org_backup.plans.model import MAX_POLICY_NAME, RenderedPolicy

MAX_BACKUP_POLICIES_ATTACHED = 10
MAX_SCPS_ATTACHED = 5
FULL_AWS_ACCESS = "FullAWSAccess"
ATTACHMENT_LIMIT = "attachment-limit"  # Problem.code


@dataclass(frozen=True)
class Attached:
    """The policies of one type org-backup attaches to one target (plus FullAWSAccess for SCPs)."""

    target: str
    names: tuple[str, ...]


def attached_per_target(
    policies: Iterable[RenderedPolicy | RenderedScp], *, default: tuple[str, ...] = ()
) -> list[Attached]:
    """Per target id (OU or account), in first-attached order: ``default`` then the names of the policies attached."""
    by_target: dict[str, list[str]] = {}
    for policy in policies:
        for target in policy.target_ous:
            by_target.setdefault(target, list(default)).append(policy.name)
    return [Attached(target, tuple(names)) for target, names in by_target.items()]


def attachment_problems(
    config: BackupConfig, backup_policies: Iterable[RenderedPolicy], scps: Iterable[RenderedScp]
) -> list[Problem]:
    """One problem per target that would get more backup policies or SCPs attached than AWS allows."""
    labels = {
        config.pipeline.home_account_id: f"account {config.pipeline.home_account_id} (pipeline home account)",
        config.central_backup.account_id: f"account {config.central_backup.account_id} (central backup account)",
        **{ou.id: f"OU {ou.id} ({ou.name})" for ou in config.target_ous},
    }
    backup_policies = list(backup_policies)
    problems = []
    for attached in attached_per_target(backup_policies):
        count = len(attached.names)
        if count <= MAX_BACKUP_POLICIES_ATTACHED:
            continue
        per_plan: dict[str, int] = {}
        for policy in backup_policies:
            if attached.target in policy.target_ous:
                per_plan[policy.plan] = per_plan.get(policy.plan, 0) + 1
        plans = ", ".join(f"{n} from plans.{plan}" for plan, n in per_plan.items())
        problems.append(
            Problem(
                labels.get(attached.target, f"account {attached.target}"),
                f"org-backup would attach {count} backup policies to it ({plans}); AWS Organizations allows "
                f"{MAX_BACKUP_POLICIES_ATTACHED} backup policies attached to one root, OU or account, and the deploy "
                "would fail (MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED). Backup policies attached to it outside "
                "org-backup are not counted here (offline) and take room too. Fix: target fewer plans at it "
                "(target_ous of the plans), give a plan split by size fewer regions, or make it smaller (fewer rules, "
                "tags, selections or copy actions) so it packs into fewer policies.",
                ATTACHMENT_LIMIT,
            )
        )
    for attached in attached_per_target(scps, default=(FULL_AWS_ACCESS,)):
        count = len(attached.names)
        if count <= MAX_SCPS_ATTACHED:
            continue
        problems.append(
            Problem(
                labels.get(attached.target, f"account {attached.target}"),
                f"{count} SCPs would be attached to it ({', '.join(attached.names)}): AWS attaches {FULL_AWS_ACCESS} "
                "by default and it stays, as org-backup's SCPs only deny; AWS Organizations allows "
                f"{MAX_SCPS_ATTACHED} SCPs attached to one root, OU or account, and the deploy would fail "
                "(MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED). SCPs attached to it outside org-backup are not counted "
                "here (offline) and take room too. Fix: turn off guardrails in backup.yaml, or leave this target out "
                f"of their target_ous, until at most {MAX_SCPS_ATTACHED} remain.",
                ATTACHMENT_LIMIT,
            )
        )
    return problems


def organizations_problems(config: BackupConfig, backup_policies: list[RenderedPolicy]) -> list[Problem]:
    """The rendered backup policies' names, and the attachments of those and of the SCPs per target."""
    try:
        scps = render_scps(config)
    except InputError:  # an SCP too large: render_scps reports it when synth renders them; nothing to count here
        scps = []
    return [*_name_problems(backup_policies), *attachment_problems(config, backup_policies, scps)]


def _name_problems(policies: list[RenderedPolicy]) -> list[Problem]:
    """A part of a split plan is named ``<policy_name>-<region>[-<rule>]``: still at most 128 characters (AWS
    Organizations API, CreatePolicy, Name; botocore shape PolicyName, max 128) and unique among the policies
    (CreatePolicy fails with DuplicatePolicyException, "A policy with the same name already exists"; Terraform
    addresses them by name too)."""
    problems = []
    first: dict[str, str] = {}
    for policy in policies:
        if len(policy.name) > MAX_POLICY_NAME:
            problems.append(
                Problem(
                    f"plans.{policy.plan}.policy_name",
                    f"renders as {policy.name!r} ({len(policy.name)} characters) for a part of the split plan; AWS "
                    f"Organizations allows {MAX_POLICY_NAME}. Fix: shorten policy_name.",
                )
            )
        if first.get(policy.name, policy.plan) != policy.plan:
            problems.append(
                Problem(
                    f"plans.{policy.plan}.policy_name",
                    f"renders as {policy.name!r}, which plans.{first[policy.name]} renders too; Organizations policy "
                    "names are unique. Fix: rename one.",
                )
            )
        first.setdefault(policy.name, policy.plan)
    return problems
