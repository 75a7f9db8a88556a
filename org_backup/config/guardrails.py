"""The guardrails' part of the configuration (``guardrails`` in backup.yaml): which service control policies
org-backup attaches where, and whom they still let through. The models are fields of ``config.BackupConfig``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from org_backup.config.validation import Model, OuId, PrincipalArnPattern

OuSelection = Literal["all"] | tuple[OuId, ...]


class CopyRestriction(Model):
    """SCP that denies backup:CopyFromBackupVault to targets outside the organization or the central vault."""

    mode: Literal["off", "organization", "central_vault"] = Field(
        default="off",
        description="off; organization (backup:CopyTargetOrgPaths within the org); central_vault (backup:CopyTargets "
        "= the central vault ARNs only).",
    )
    target_ous: OuSelection = Field(default="all", description="'all' target OUs, or a list of their ids.")


class Guardrail(Model):
    enabled: bool = Field(default=False, description="Create the SCP and attach it to target_ous.")
    target_ous: OuSelection = Field(default="all", description="'all' target OUs, or a list of their ids.")


class TamperingGuardrail(Guardrail):
    central_account: bool = Field(
        default=True,
        description="Also attach the SCP to the central backup account itself (when no target OU it is attached to "
        "holds it): without it, the central account's administrators could schedule deletion of the central vault "
        "keys (a compliance vault lock protects recovery points, not keys).",
    )


class PipelineAccountGuardrail(Model):
    """The home account's guardrail: only the pipeline starts org-backup's builds, and the deploy branch changes
    only through a reviewed pull request."""

    enabled: bool = Field(
        default=False,
        description="Attach an SCP to the home account: only the pipeline's own roles may start or retry "
        "org-backup's CodeBuild builds, nobody may override a build's buildspec, only guardrails.administrators may "
        "change the projects, pipelines, builder roles or approval rules, and (CodeCommit) nobody else may push, "
        "commit or merge branches directly into the deploy branch or override approval rules.",
    )
    deploy_approvers: tuple[PrincipalArnPattern, ...] = Field(
        default=(),
        description="Besides guardrails.administrators, who may approve a deploy at the pipeline's Approve stage "
        "(codepipeline:PutApprovalResult), as aws:PrincipalArn values of the home account (a role's ARN for its "
        "sessions).",
    )


class Guardrails(Model):
    """Service control policies, all off by default. SCPs never apply to the management account."""

    copy_restriction: CopyRestriction = Field(default_factory=CopyRestriction)
    deny_backup_tampering: TamperingGuardrail = Field(
        default_factory=TamperingGuardrail,
        description="Deny deleting or weakening backups (recovery points, vaults, their keys and aliases, plans, "
        "policies) and silencing detection (alert rules, functions, frameworks, report plans) except for the "
        "deploy role.",
    )
    deny_leave_organization: Guardrail = Field(
        default_factory=Guardrail, description="Deny organizations:LeaveOrganization (would escape backup policies)."
    )
    pipeline_account: PipelineAccountGuardrail = Field(default_factory=PipelineAccountGuardrail)
    administrators: tuple[PrincipalArnPattern, ...] = Field(
        default=(),
        description="Principals (aws:PrincipalArn) the guardrails still let change what they protect outside the "
        "pipeline: those who run `make bootstrap` in the home account and, when it is not in a target OU, the "
        "central account (break glass). Required by pipeline_account and by deny_backup_tampering.central_account "
        "then. Keep it short: each one can change the pipeline or the roles the exemptions trust.",
    )
