"""IAM's quotas on the roles org-backup renders, checked when the inputs load (``synth.inputs``), before synth: a
trust policy over the limit would otherwise fail only when CloudFormation or Terraform creates the role."""

from __future__ import annotations

from org_backup.config.errors import Problem
from org_backup.config.model import BackupConfig
from org_backup.config.templates import dumps
from org_backup.iam.deploy_roles import deploy_trust, plan_trust

MAX_TRUST_POLICY_CHARS = 2_048  # IAM User Guide, "IAM and AWS STS quotas": role trust policy length (default)


def trust_size_problems(config: BackupConfig) -> list[Problem]:
    problems = []
    for field, role, document in (
        ("pipeline.deployers", "deploy", deploy_trust(config)),
        ("pipeline.plan_readers", "plan", plan_trust(config)),
    ):
        size = len(dumps(document))
        if size > MAX_TRUST_POLICY_CHARS:
            problems.append(
                Problem(
                    field,
                    f"make the {role} role's trust policy {size:,} characters, over IAM's {MAX_TRUST_POLICY_CHARS:,} "
                    "for a role trust policy. Fix: name fewer roles, or roles with shorter paths.",
                )
            )
    return problems
