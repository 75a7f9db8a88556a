"""End to end: synthesize the example organization against a local moto server, then for every stack
plan (with the runner behind `make plan`) -> apply the saved plan -> re-plan (must show no changes) -> destroy,
with the real Terraform and AWS provider. The run itself happens in the background (tests/e2e/harness.py)."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from org_backup import scan_set
from tests.conftest import STARTED
from tests.e2e.harness import E2E
from tests.e2e.lifecycle import split_for_apply

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest) -> E2E:
    result = request.config.stash[STARTED]["e2e"].result()
    if result.failure:
        pytest.fail(f"the end-to-end run broke before its stacks ran: {result.failure}")
    return result


def _members(e2e: E2E) -> list[str]:
    return [f"member-{a}" for ou in e2e.config["target_ous"] for a in ou["accounts"]]


def test_every_stack_ran_without_error(e2e: E2E) -> None:
    errors = {name: run.error for name, run in e2e.runs.items() if run.error}
    assert not errors, "\n\n".join(f"== {name}\n{error}" for name, error in errors.items())
    bootstrap = ["bootstrap-central", "bootstrap-home", "bootstrap-management"]
    ran_members = sorted(name for name in e2e.runs if name.startswith("member-"))
    assert len(ran_members) == 1  # the example's three members are one shape (next test)
    assert sorted(e2e.runs) == sorted([*bootstrap, "central-backup", "management", *ran_members, "pipeline"])


def test_members_not_run_are_byte_identical_but_for_their_account_id(e2e: E2E) -> None:
    """One member stack per shape runs: the others differ from it only in their own account id, which the
    lifecycle cannot treat differently (scan_set.shape: their cdk.tf.json are equal once it is a placeholder)."""
    ran = [name for name in e2e.runs if name.startswith("member-")]
    covered = sorted(ran + [other for name in ran for other in e2e.same_shape[name]])
    assert covered == sorted(_members(e2e))
    stacks = e2e.outdir / "stacks"
    for name in ran:
        assert e2e.same_shape[name], name
        for other in e2e.same_shape[name]:
            assert scan_set.shape(stacks / other) == scan_set.shape(stacks / name)
            assert (stacks / other / "cdk.tf.json").read_text() != (stacks / name / "cdk.tf.json").read_text()


def test_plan_creates_every_synthesized_resource(e2e: E2E) -> None:
    for name, run in e2e.runs.items():
        assert run.planned, name
        assert sorted(run.planned) == sorted(run.applied + list(run.excluded)), name


def test_make_plan_runner_saves_each_plan_with_its_text_and_summary(e2e: E2E) -> None:
    """The runner behind `make plan`: init with the backend, plan without the lock, plans and summary.md."""
    for name, run in e2e.runs.items():
        assert run.plan_codes == {name: 2}, name  # nothing applied yet: the plan has changes
        assert run.plan_dir is not None
        assert (run.plan_dir / f"{name}.tfplan").is_file()
        text = (run.plan_dir / f"{name}.txt").read_text()
        assert f"Plan: {len(run.planned)} to add, 0 to change, 0 to destroy." in text, name
        assert (run.plan_dir / "summary.md").read_text() == (
            f"# org-backup plan: 1 of 1 stacks change\n\n- `{name}`: changes (see {name}.txt)\n"
        )


def test_only_resources_moto_cannot_serve_are_left_out_of_apply(e2e: E2E) -> None:
    excluded_types = {address.split(".")[0] for run in e2e.runs.values() for address in run.excluded}
    assert excluded_types == {
        "aws_organizations_policy",  # the BACKUP_POLICY ones only: SCPs are applied
        "aws_organizations_policy_attachment",  # the attachments of those BACKUP_POLICY ones
        "aws_backup_global_settings",
        "aws_organizations_delegated_administrator",
        "aws_cloudformation_stack_set",
        "aws_cloudformation_stack_set_instance",  # references the stack set
        "aws_codecommit_repository",
        "aws_codecommit_approval_rule_template",
        "aws_codecommit_approval_rule_template_association",  # references the templates
        "aws_codepipeline",
        "aws_codebuild_project",  # the CODEPIPELINE-source ones: the pull-request project is applied
        "aws_codebuild_report_group",
        "aws_cloudwatch_event_target",  # the targets that start the (excluded) pipeline
    }
    expected_applied = {
        "bootstrap-home": 8,  # state bucket, versioning, encryption, public access block, TLS policy, lifecycle, key, alias
        "bootstrap-management": 4,  # deploy and plan roles with their policies
        "bootstrap-central": 4,
        "central-backup": 10,  # key, alias, vault, access policy, lock, role, 4 attachments
        # 3 Regions x (vault key, alias, vault, access policy, lock) + backup role + 4 attachments; tag
        # re-application: its role + 3 Regions x (key, alias, log group, queue, queue policy, role policy,
        # function, invoke config, rule, target, permission).
        "member": 54,
        # 3 SCPs + 5 SCP attachments + the enrolment rule, its target and forwarder role with its policy
        # (backup policies, global settings, delegated admin, the StackSet: planned only)
        "management": 12,
        "pipeline": 36,  # all but repository, approval rules, pipeline, 3 pipeline builds, report group, 2 targets
    }
    for name, run in e2e.runs.items():
        assert len(run.applied) == expected_applied[e2e.kind(name)], name


def test_scps_are_attached_to_the_configured_ous(e2e: E2E) -> None:
    prod, nonprod = (ou["id"] for ou in e2e.config["target_ous"])
    assert e2e.runs["management"].verified == {
        prod: [
            "FullAWSAccess",
            "org-backup-deny-backup-tampering",
            "org-backup-deny-copy-outside-organization",
            "org-backup-deny-leave-organization",
        ],
        nonprod: ["FullAWSAccess", "org-backup-deny-backup-tampering", "org-backup-deny-copy-outside-organization"],
    }


def test_member_vaults_land_in_their_own_account_and_regions_with_their_access_policy(e2e: E2E) -> None:
    for name, run in e2e.runs.items():
        if name.startswith("member-"):
            regions = e2e.config["target_regions"]
            assert run.verified == {r: True for r in regions} | {f"{r} access policy": True for r in regions}, name


def test_replan_after_apply_shows_no_changes(e2e: E2E) -> None:
    drift = {name: run.replan_output for name, run in e2e.runs.items() if run.replan_exit_code != 0}
    assert not drift, "\n\n".join(f"== {name}\n{output}" for name, output in drift.items())


def test_destroy_leaves_no_state(e2e: E2E) -> None:
    assert {name: run.state_after_destroy for name, run in e2e.runs.items()} == {name: [] for name in e2e.runs}


def test_progress_was_reported_per_stack_and_step(e2e: E2E) -> None:
    for name in e2e.runs:
        for step in ("plan (make plan runner) ...", "re-plan no changes", "destroy 0 left in state"):
            assert any(line.endswith(f"{name}: {step}") or f"{name}: {step} (" in line for line in e2e.log), (
                name,
                step,
            )


def test_exclusion_follows_references() -> None:
    stack = {
        "resource": {
            "aws_organizations_policy": {
                "backup": {"type": "BACKUP_POLICY", "content": "{}"},
                "scp": {"type": "SERVICE_CONTROL_POLICY", "content": "{}"},
            },
            "aws_organizations_policy_attachment": {
                "backup_ou": {"policy_id": "${aws_organizations_policy.backup.id}", "target_id": "ou-1"},
                "scp_ou": {"policy_id": "${aws_organizations_policy.scp.id}", "target_id": "ou-1"},
            },
        }
    }
    targets, excluded = split_for_apply(stack)
    assert targets == ["aws_organizations_policy.scp", "aws_organizations_policy_attachment.scp_ou"]
    assert excluded == {
        "aws_organizations_policy.backup": "moto 5.2.5 does not implement Organizations policies of type BACKUP_POLICY",
        "aws_organizations_policy_attachment.backup_ou": "references aws_organizations_policy.backup, which is excluded",
    }


def test_moto_server_is_stopped_after_the_run(e2e: E2E) -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{e2e.endpoint}/moto-api/", timeout=2)


def test_vault_access_policy_api_added_to_moto_behaves_as_documented(tmp_path: Any) -> None:
    """The patched server's Put/Get/DeleteBackupVaultAccessPolicy (tests/e2e/patched_moto_server.py, fix 4)."""
    import json

    import boto3
    from botocore.exceptions import ClientError

    from tests.e2e.moto import moto_server

    with moto_server(tmp_path / "moto.log") as endpoint:
        backup = boto3.client(
            "backup", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        arn = backup.create_backup_vault(BackupVaultName="vault")["BackupVaultArn"]
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            backup.get_backup_vault_access_policy(BackupVaultName="vault")
        policy = json.dumps({"Version": "2012-10-17", "Statement": []})
        backup.put_backup_vault_access_policy(BackupVaultName="vault", Policy=policy)
        got = backup.get_backup_vault_access_policy(BackupVaultName="vault")
        assert (got["BackupVaultName"], got["BackupVaultArn"], got["Policy"]) == ("vault", arn, policy)
        backup.delete_backup_vault_access_policy(BackupVaultName="vault")
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            backup.get_backup_vault_access_policy(BackupVaultName="vault")
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            backup.put_backup_vault_access_policy(BackupVaultName="missing", Policy=policy)
