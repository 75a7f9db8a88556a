"""Service control policies (guardrails) rendered from ``policies/scp/`` and the config; all off by default."""

from __future__ import annotations

from dataclasses import dataclass

from org_backup.config import BackupConfig
from org_backup.errors import InputError, Problem
from org_backup.naming import STACKSET_EXECUTION_ROLE, Naming
from org_backup.policy_docs import POLICIES_DIR, dumps, render_template

MAX_SCP_CHARS = 5_120  # AWS Organizations quotas: maximum size of a service control policy document.


@dataclass(frozen=True)
class RenderedScp:
    name: str
    description: str
    content: str
    target_ous: tuple[str, ...]


def render_scps(config: BackupConfig) -> list[RenderedScp]:
    """The enabled SCPs, each checked against the 5,120-character limit."""
    naming = Naming(config)
    guardrails = config.guardrails
    protected = [naming.any_account_role_arn(config.names.deploy_role)]
    scps: list[RenderedScp] = []
    copy = guardrails.copy_restriction
    if copy.mode == "organization":
        scps.append(
            RenderedScp(
                "org-backup-deny-copy-outside-organization",
                "Deny AWS Backup copies to vaults outside the organization (org-backup)",
                dumps(
                    render_template("scp/deny-copy-outside-organization.json", organization_id=config.organization.id)
                ),
                config.ous_of(copy.target_ous),
            )
        )
    elif copy.mode == "central_vault":
        # The air-gapped vaults too (central_backup.air_gapped): copies to them are copies to the central account.
        arns = [arn for region in config.central_regions for arn in naming.copy_target_arns(region)]
        scps.append(
            RenderedScp(
                "org-backup-deny-copy-outside-central-vault",
                "Deny AWS Backup copies to any vault but the central backup vault (org-backup)",
                dumps(render_template("scp/deny-copy-outside-central-vault.json", central_vault_arns=arns)),
                config.ous_of(copy.target_ous),
            )
        )
    if guardrails.deny_backup_tampering.enabled:
        names = config.names
        role = naming.any_account_role_arn
        scps.append(
            RenderedScp(
                "org-backup-deny-backup-tampering",
                "Deny deleting or weakening backups except for the deploy role (org-backup)",
                dumps(
                    render_template(
                        "scp/deny-backup-tampering.json",
                        protected_principals=protected,
                        backup_key_aliases=sorted({config.names.member_key_alias, config.names.central_key_alias}),
                        # Roles that a member administrator must neither create (squatting a name an exemption
                        # trusts), nor re-trust, nor re-permission: the StackSet's roles (its execution role manages
                        # them), that execution role itself (created by a service-linked role, which SCPs do not
                        # restrict), and the roles the deploy role manages.
                        pipeline_roles=[role(names.deploy_role), role(names.plan_role)],
                        stackset_execution_role=role(STACKSET_EXECUTION_ROLE),
                        workload_roles=[role(names.backup_role), role(names.tag_reapply_role)],
                        deploy_role=role(names.deploy_role),
                    )
                ),
                config.ous_of(guardrails.deny_backup_tampering.target_ous),
            )
        )
    if guardrails.deny_leave_organization.enabled:
        scps.append(
            RenderedScp(
                "org-backup-deny-leave-organization",
                "Deny leaving the organization, which would escape its backup policies (org-backup)",
                dumps(render_template("scp/deny-leave-organization.json")),
                config.ous_of(guardrails.deny_leave_organization.target_ous),
            )
        )
    too_big = [
        Problem(scp.name, f"is {len(scp.content)} characters; AWS Organizations allows {MAX_SCP_CHARS} for an SCP.")
        for scp in scps
        if len(scp.content) > MAX_SCP_CHARS
    ]
    if too_big:
        raise InputError(str(POLICIES_DIR / "scp"), too_big)
    return scps
