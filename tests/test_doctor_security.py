"""doctor's security checks: org-backup's policies of an older deployment lack the tag the management deploy role
is now limited to (FAIL, with the one command that fixes it); a connection source's branch protection is said to be
not checkable (SKIP, never a pass). Against moto's Organizations, as the other doctor tests."""

from __future__ import annotations

import json
from typing import Any

from org_backup.config.loader import load_config
from org_backup.ops.doctor import run_checks, source_checks
from tests.conftest import FIXTURES, MINIMAL_CONFIG
from tests.test_preview_doctor import StubbedClients, organization  # noqa: F401  (the fixture)

SCP = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})


def test_an_org_backup_policy_without_the_managed_tag_fails_with_its_fix(organization: Any) -> None:  # noqa: F811
    config, session = organization
    org = session.client("organizations")
    old = org.create_policy(
        Name="org-backup-deny-leave-organization", Description="", Content=SCP, Type="SERVICE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    new = org.create_policy(
        Name="org-backup-deny-backup-tampering",
        Description="",
        Content=SCP,
        Type="SERVICE_CONTROL_POLICY",
        Tags=[{"Key": "org-backup", "Value": "managed"}],
    )["Policy"]["PolicySummary"]["Id"]
    org.create_policy(Name="someone-elses", Description="", Content=SCP, Type="SERVICE_CONTROL_POLICY")
    policies = {
        "org-backup-deny-leave-organization": "SERVICE_CONTROL_POLICY",
        "org-backup-deny-backup-tampering": "SERVICE_CONTROL_POLICY",
        "org-daily-backup-policy": "BACKUP_POLICY",  # not created yet: nothing to check
    }
    checks = {
        c.name: c for c in run_checks(config, StubbedClients(session), policies) if c.name.startswith("policy org")
    }
    assert sorted(checks) == ["policy org-backup-deny-backup-tampering", "policy org-backup-deny-leave-organization"]
    assert checks["policy org-backup-deny-backup-tampering"].render() == (
        f"PASS  policy org-backup-deny-backup-tampering: {new} is tagged org-backup=managed"
    )
    assert checks["policy org-backup-deny-leave-organization"].render() == (
        f"FAIL  policy org-backup-deny-leave-organization: {old} lacks the tag org-backup=managed\n"
        "      Fix: once, as an administrator of the management account: aws organizations tag-resource "
        f"--resource-id {old} --tags Key=org-backup,Value=managed (the deploy role changes only policies with that tag)."
    )


def test_another_teams_policy_tagged_as_org_backups_fails(organization: Any) -> None:  # noqa: F811
    """The deploy role may tag any backup policy or SCP, and change those tagged org-backup=managed: Organizations'
    TagResource takes only aws:RequestTag and aws:TagKeys (Service Authorization Reference), nothing that tells the
    policy being created from an existing one. A takeover that way shows here; untagged and AWS managed policies
    (FullAWSAccess) do not."""
    config, session = organization
    org = session.client("organizations")
    managed = [{"Key": "org-backup", "Value": "managed"}]
    org.create_policy(Name="org-backup-deny-leave-organization", Description="", Content=SCP,
                      Type="SERVICE_CONTROL_POLICY", Tags=managed)  # fmt: skip
    taken = org.create_policy(Name="security-team-guardrail", Description="", Content=SCP,
                              Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]  # fmt: skip
    org.create_policy(Name="someone-elses", Description="", Content=SCP, Type="SERVICE_CONTROL_POLICY")
    policies = {"org-backup-deny-leave-organization": "SERVICE_CONTROL_POLICY"}

    def check() -> Any:
        (found,) = [c for c in run_checks(config, StubbedClients(session), policies) if "tagged as" in c.name]
        return found

    assert check().render() == "PASS  policies tagged as org-backup's: only org-backup's own"
    org.tag_resource(ResourceId=taken, Tags=managed)
    assert check().render() == (
        f"FAIL  policies tagged as org-backup's: not org-backup's, yet tagged org-backup=managed: security-team-guardrail "
        f"({taken})\n      Fix: find who tagged them (CloudTrail, organizations:TagResource) and remove the tag: aws "
        "organizations untag-resource --resource-id <id> --tag-keys org-backup; the deploy role may change any policy "
        "with that tag"
    )


def test_branch_protection_of_a_connection_source_is_said_to_be_unverifiable() -> None:
    connection = load_config(FIXTURES / "connection_source.yaml")
    checks = source_checks(connection)
    assert [c.render() for c in checks] == [
        f"SKIP  branch protection of example-org/org-backup branch main: not checkable with AWS credentials: {s}"
        for s in (
            "a pull request is required to change it",
            "at least one approving review is required, and stale approvals are dismissed on new commits",
            "force pushes and deletion are refused",
            "administrators cannot bypass these rules (except the break-glass ones)",
        )
    ]
    assert all(c.skipped and c.ok for c in checks)  # counted as not checkable, never as passed or failed
    assert source_checks(load_config(MINIMAL_CONFIG)) == []  # CodeCommit: enforced by the SCP instead
