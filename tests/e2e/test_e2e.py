"""End to end: synthesize the example organization against a local moto server, then for every stack
init -> plan -> apply -> re-plan (must show no changes) -> destroy, with the real Terraform and AWS provider."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from org_backup.terraform import BUILD_DIR, TerraformEnv, stack_dirs
from tests.conftest import EXAMPLE_CONFIG
from tests.e2e.lifecycle import StackRun, run_lifecycle, split_for_apply
from tests.e2e.moto import moto_server, seed_organization, session_in

pytestmark = pytest.mark.e2e


class E2E:
    def __init__(self, endpoint: str, config: dict[str, Any], runs: dict[str, StackRun], seconds: float) -> None:
        self.endpoint = endpoint
        self.config = config
        self.runs = runs
        self.seconds = seconds

    def kind(self, stack: str) -> str:
        return stack.split("-", 1)[0] if stack.startswith("member-") else stack


def _verify(endpoint: str, config: dict[str, Any]) -> Any:
    """After apply: each member vault exists in the member's own account and Region, under that account's key;
    the SCPs are attached to exactly the OUs the config names."""

    def verify(stack: str) -> dict[str, Any]:
        if stack == "management":
            org = session_in(endpoint, config["organization"]["management_account_id"]).client(
                "organizations", endpoint_url=endpoint, region_name="us-east-1"
            )
            return {
                ou["id"]: sorted(
                    p["Name"]
                    for p in org.list_policies_for_target(TargetId=ou["id"], Filter="SERVICE_CONTROL_POLICY")[
                        "Policies"
                    ]
                )
                for ou in config["target_ous"]
            }
        if not stack.startswith("member-"):
            return {}
        account = stack.removeprefix("member-")
        session = session_in(endpoint, account)
        found = {}
        for region in config["target_regions"]:
            backup = session.client("backup", endpoint_url=endpoint, region_name=region)
            vaults = {v["BackupVaultName"]: v for v in backup.list_backup_vaults()["BackupVaultList"]}
            vault = vaults.get(config["names"]["member_vault"])
            found[region] = vault and vault["EncryptionKeyArn"].split(":")[4] == account
        return found

    return verify


@pytest.fixture(scope="module")
def e2e(synth: Any, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    workdir = tmp_path_factory.mktemp("e2e")
    started = time.monotonic()
    with moto_server(workdir / "moto.log") as endpoint:
        config = seed_organization(endpoint, yaml.safe_load(EXAMPLE_CONFIG.read_text()), EXAMPLE_CONFIG.parent)
        config_path = workdir / "backup.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        out = synth(config_path, local_api_endpoint=endpoint)
        env = TerraformEnv.prepare()
        dirs = stack_dirs(out.outdir)
        for stack_dir in dirs:
            env.init(stack_dir, backend=True)  # local state inside the stack folder
        verify = _verify(endpoint, config)
        with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two terraform processes at a time
            runs = list(pool.map(lambda d: run_lifecycle(env, d, verify), dirs))
    result = E2E(endpoint, config, {r.name: r for r in runs}, time.monotonic() - started)
    _write_report(result)
    return result


def _write_report(result: E2E) -> None:
    """build/e2e-report.json: what was applied and planned only, per stack (quoted in closing notes)."""
    BUILD_DIR.mkdir(exist_ok=True)
    report = {
        "seconds": round(result.seconds, 1),
        "stacks": {
            name: {
                "planned": len(run.planned),
                "applied": len(run.applied),
                "planned_only": run.excluded,
                "seconds": round(run.seconds, 1),
            }
            for name, run in result.runs.items()
        },
    }
    (BUILD_DIR / "e2e-report.json").write_text(json.dumps(report, indent=2, sort_keys=True))


def test_every_stack_ran_without_error(e2e: E2E) -> None:
    members = [f"member-{a}" for ou in e2e.config["target_ous"] for a in ou["accounts"]]
    errors = {name: run.error for name, run in e2e.runs.items() if run.error}
    assert not errors, "\n\n".join(f"== {name}\n{error}" for name, error in errors.items())
    bootstrap = ["bootstrap-central", "bootstrap-home", "bootstrap-management"]
    assert sorted(e2e.runs) == sorted([*bootstrap, "central-backup", "management", *members, "pipeline"])


def test_plan_creates_every_synthesized_resource(e2e: E2E) -> None:
    for name, run in e2e.runs.items():
        assert run.planned, name
        assert sorted(run.planned) == sorted(run.applied + list(run.excluded)), name


def test_only_resources_moto_cannot_serve_are_left_out_of_apply(e2e: E2E) -> None:
    excluded_types = {address.split(".")[0] for run in e2e.runs.values() for address in run.excluded}
    assert excluded_types == {
        "aws_backup_vault_policy",
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
        "central-backup": 9,  # key, alias, vault, lock, role, 4 attachments (vault policy: planned only)
        # 3 Regions x (vault key, alias, vault, lock) + backup role + 4 attachments; tag re-application: its role
        # + 3 Regions x (key, alias, log group, queue, queue policy, role policy, function, invoke config, rule,
        # target, permission). The 3 vault policies: planned only.
        "member": 51,
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


def test_member_vaults_land_in_their_own_account_and_regions(e2e: E2E) -> None:
    for name, run in e2e.runs.items():
        if name.startswith("member-"):
            assert run.verified == {region: True for region in e2e.config["target_regions"]}, name


def test_replan_after_apply_shows_no_changes(e2e: E2E) -> None:
    drift = {name: run.replan_output for name, run in e2e.runs.items() if run.replan_exit_code != 0}
    assert not drift, "\n\n".join(f"== {name}\n{output}" for name, output in drift.items())


def test_destroy_leaves_no_state(e2e: E2E) -> None:
    assert {name: run.state_after_destroy for name, run in e2e.runs.items()} == {name: [] for name in e2e.runs}


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


def test_make_plan_runner_plans_selected_stacks_and_writes_a_summary(
    synth: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The runner behind `make plan`: init with the backend, plan without the lock, plans and summary.md."""
    from org_backup.terraform import plan_all
    from tests.conftest import fixture_config

    workdir = tmp_path_factory.mktemp("plan")
    with moto_server(workdir / "moto.log") as endpoint:
        out = synth(fixture_config("minimal"), local_api_endpoint=endpoint)
        codes = plan_all(out.outdir, workdir / "plans", ["bootstrap-management"])
    assert codes == {"bootstrap-management": 2}  # nothing applied yet: the plan has changes
    assert (workdir / "plans" / "bootstrap-management.tfplan").is_file()
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in (workdir / "plans" / "bootstrap-management.txt").read_text()
    assert (workdir / "plans" / "summary.md").read_text() == (
        "# org-backup plan: 1 of 1 stacks change\n\n- `bootstrap-management`: changes (see bootstrap-management.txt)\n"
    )
