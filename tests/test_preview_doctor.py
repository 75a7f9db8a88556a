"""The effective-policy preview (inheritance rules, CLI) and the doctor preflight against moto's Organizations."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws

from org_backup.config.loader import config_from_dict
from org_backup.config.model import BackupConfig
from org_backup.config.yaml_io import dump_yaml
from org_backup.ops.doctor import Clients, run_checks
from org_backup.plans.effective import effective_policy, preview
from org_backup.synth.inputs import Inputs
from tests.conftest import EXAMPLE_CONFIG, FIXTURES, MINIMAL_CONFIG, ROOT
from tests.rehearsal.moto import seed_organization, session_in

REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")


def _per_region(plan: str) -> list[str]:
    return sorted(f"{plan}-{region}" for region in REGIONS)


def test_every_member_account_gets_both_default_plans_per_region_with_its_own_role() -> None:
    """Each Region's plan copies to the central vault of that same Region (docs/backup-policies.md, Backup policies)."""
    inputs = Inputs.load(EXAMPLE_CONFIG)
    previews = {p.account_id: p for p in preview(inputs.config, inputs.backup_policies)}
    assert sorted(previews) == ["444444444444", "555555555555", "666666666666"]
    for account, item in previews.items():
        plans = item.effective["plans"]
        assert sorted(plans) == sorted(_per_region("OrgBackupPlanDaily") + _per_region("OrgBackupPlanMonthly"))
        for region in REGIONS:
            daily = plans[f"OrgBackupPlanDaily-{region}"]
            assert daily["regions"] == [region]
            rule = daily["rules"]["orgdailybackuprule"]
            assert rule["schedule_expression"] == "cron(0 5 ? * * *)"
            assert rule["lifecycle"] == {"delete_after_days": "35"}
            central = f"arn:aws:backup:{region}:222222222222:backup-vault:AWSBackupSolutionCentralVault"
            assert rule["copy_actions"] == {
                central: {"target_backup_vault_arn": central, "lifecycle": {"delete_after_days": "35"}}
            }
            selection = daily["selections"]["tags"]["orgdailybackupselection"]
            assert selection["iam_role_arn"] == f"arn:aws:iam::{account}:role/AWSBackupSolutionRole"
            assert plans[f"OrgBackupPlanMonthly-{region}"]["rules"]["orgmonthlybackuprule"]["lifecycle"] == {
                "delete_after_days": "366"
            }
        assert item.refused == ()


def test_a_plan_targeted_at_one_ou_reaches_only_its_accounts(tmp_path: Any) -> None:
    plans = yaml.safe_load((ROOT / "policies" / "backup_plans.yaml").read_text())
    plans["plans"]["OrgBackupPlanMonthly"]["target_ous"] = ["ou-ab12-prod0001"]
    (tmp_path / "plans.yaml").write_text(dump_yaml(plans))
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["backup_plans_file"] = "plans.yaml"
    (tmp_path / "backup.yaml").write_text(dump_yaml(config))
    inputs = Inputs.load(tmp_path / "backup.yaml")
    reach = {p.account_id: sorted(p.effective["plans"]) for p in preview(inputs.config, inputs.backup_policies)}
    both = sorted(_per_region("OrgBackupPlanDaily") + _per_region("OrgBackupPlanMonthly"))
    assert reach == {
        "444444444444": both,
        "555555555555": both,
        "666666666666": _per_region("OrgBackupPlanDaily"),
    }


def _example(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "aws_backup_policy_examples" / f"{name}.json").read_text())


def test_aws_example_two_parent_and_child_merge_into_two_plans() -> None:
    merge = effective_policy([[("parent", _example("example2_parent"))], [("child", _example("example2_child"))]])
    plans = merge.effective["plans"]
    # AWS's documented result: both plans, each with its own Regions, rules and selections.
    assert sorted(plans) == ["Monthly_Backup_Plan", "PII_Backup_Plan"]
    assert plans["PII_Backup_Plan"]["regions"] == ["us-east-1", "ap-northeast-3", "eu-north-1"]
    assert plans["Monthly_Backup_Plan"]["regions"] == ["us-east-1", "eu-central-1"]
    assert plans["Monthly_Backup_Plan"]["rules"]["monthly"]["lifecycle"]["delete_after_days"] == "365"
    assert plans["PII_Backup_Plan"]["selections"]["tags"]["datatype"]["tag_value"] == ["PII", "RED"]


def test_append_and_remove_change_inherited_lists() -> None:
    parent = {"plans": {"P": {"regions": {"@@assign": ["us-east-1", "eu-west-1"]}}}}
    child = {"plans": {"P": {"regions": {"@@append": ["eu-central-1"]}}}}
    grandchild = {"plans": {"P": {"regions": {"@@remove": ["us-east-1"]}}}}
    merge = effective_policy([[("a", parent)], [("b", child)], [("c", grandchild)]])
    assert merge.effective["plans"]["P"]["regions"] == ["eu-west-1", "eu-central-1"]


def test_child_control_none_freezes_a_value_for_lower_levels() -> None:
    parent = {
        "plans": {
            "P": {
                "rules": {
                    "R": {
                        "lifecycle": {
                            "delete_after_days": {
                                "@@assign": "35",
                                "@@operators_allowed_for_child_policies": ["@@none"],
                            }
                        }
                    }
                }
            }
        }
    }
    child = {"plans": {"P": {"rules": {"R": {"lifecycle": {"delete_after_days": {"@@assign": "1"}}}}}}}
    merge = effective_policy([[("root-policy", parent)], [("ou-policy", child)]])
    assert merge.effective["plans"]["P"]["rules"]["r"]["lifecycle"]["delete_after_days"] == "35"
    assert merge.refused == [
        "ou-policy: @@assign on plans.P.rules.r.lifecycle.delete_after_days is not allowed by a parent policy"
    ]


def test_child_control_at_the_same_level_does_not_bind_siblings() -> None:
    first = {
        "plans": {"P": {"regions": {"@@assign": ["us-east-1"], "@@operators_allowed_for_child_policies": ["@@none"]}}}
    }
    second = {"plans": {"P": {"regions": {"@@append": ["eu-west-1"]}}}}
    merge = effective_policy([[("a", first), ("b", second)]])
    assert merge.effective["plans"]["P"]["regions"] == ["us-east-1", "eu-west-1"]
    assert merge.refused == []


def test_preview_cli_prints_every_account_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "org_backup", "--config", str(EXAMPLE_CONFIG), "preview", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert sorted(json.loads(result.stdout)) == ["444444444444", "555555555555", "666666666666"]


def test_config_option_is_accepted_after_the_command_too(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m org_backup preview --config x` as people type it; given after the command, it wins."""
    from org_backup.__main__ import main

    monkeypatch.delenv("BACKUP_CONFIG", raising=False)
    assert main(["preview", "--json", "--config", str(MINIMAL_CONFIG)]) == 0
    assert sorted(json.loads(capsys.readouterr().out)) == ["100000000004"]  # the accounts of minimal.yaml
    assert main(["--config", str(tmp_path / "missing.yaml"), "preview", "--config", str(MINIMAL_CONFIG)]) == 0
    assert "100000000004" in capsys.readouterr().out


def test_preview_cli_reports_a_bad_config_with_exit_2(tmp_path: Any) -> None:
    bad = tmp_path / "backup.yaml"
    bad.write_text("organization: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "org_backup", "--config", str(bad), "preview"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad} has ")


# --- doctor --------------------------------------------------------------------------------------------------------


# What DescribeRegionSettings lists in eu-west-1, eu-central-1 and us-east-1, by hand: AWS Backup's feature
# availability page ("Supported services by AWS Region": the types of every Region, and a mark in each of the ten
# columns for these three rows) plus Redshift Serverless (hashicorp/aws 5.100.0's acceptance test); the
# full-management types hashicorp/aws 5.100.0 documents.
REGION_SETTINGS = {
    "ResourceTypeOptInPreference": dict.fromkeys(
        ["Aurora", "CloudFormation", "DocumentDB", "DSQL", "DynamoDB", "EBS", "EC2", "EFS", "EKS", "FSx", "Neptune",
         "RDS", "Redshift", "Redshift Serverless", "S3", "SAP HANA on Amazon EC2", "Storage Gateway", "Timestream",
         "VirtualMachine"],
        False,
    ),
    "ResourceTypeManagementPreference": dict.fromkeys(["CloudFormation", "DSQL", "DynamoDB", "EFS"], False),
}  # fmt: skip


class StubbedClients(Clients):
    """moto has no backup:DescribeGlobalSettings nor DescribeRegionSettings; botocore's Stubber answers them."""

    def __init__(self, session: boto3.Session, cross_account: str = "true") -> None:
        super().__init__(session)
        self.cross_account = cross_account

    def client(self, service: str, region: str | None = None) -> Any:
        client = super().client(service, region)
        if service == "backup":
            stubber = Stubber(client)
            if region is None:
                stubber.add_response(
                    "describe_global_settings", {"GlobalSettings": {"isCrossAccountBackupEnabled": self.cross_account}}
                )
            else:
                stubber.add_response("describe_region_settings", REGION_SETTINGS)
            stubber.activate()
        return client


@pytest.fixture
def organization() -> Iterator[tuple[BackupConfig, boto3.Session]]:
    with mock_aws():
        raw = seed_organization(None, yaml.safe_load(EXAMPLE_CONFIG.read_text()), EXAMPLE_CONFIG.parent)
        config = config_from_dict(raw, source="seeded")
        management = session_in(None, config.organization.management_account_id)
        # What bootstrap-management creates: the StackSet of member roles, and no role of its own in the management
        # account, since the example's policies are managed from its central account (policies_delegated).
        assert config.policies_delegated
        cloudformation = management.client("cloudformation", region_name=config.pipeline_region)
        cloudformation.create_stack_set(
            StackSetName="org-backup-deploy-roles", TemplateBody='{"Resources": {}}', PermissionModel="SERVICE_MANAGED"
        )
        cloudformation.create_stack_instances(
            StackSetName="org-backup-deploy-roles",
            DeploymentTargets={"OrganizationalUnitIds": [ou.id for ou in config.target_ous]},
            Regions=[config.pipeline_region],
        )
        yield config, management


def _failed(checks: list[Any]) -> list[str]:
    return [c.render() for c in checks if not c.ok]


def test_doctor_passes_on_a_prepared_organization(organization: Any) -> None:
    config, session = organization
    checks = run_checks(config, StubbedClients(session))
    assert _failed(checks) == []
    names = [c.name for c in checks]
    assert names[:6] == [
        "organization",
        "credentials",
        "policy type BACKUP_POLICY",
        "policy type SERVICE_CONTROL_POLICY",
        "trusted access for AWS Backup",
        "trusted access for CloudFormation StackSets",
    ]
    assert names[11] == "cross-account backup"  # after the 5 accounts: deployment leaves it behind
    assert len([n for n in names if n.startswith("account ")]) == 5
    roles = {c.name: c for c in checks if c.name.startswith("roles in ")}
    assert sorted(roles) == sorted(f"roles in {a}" for a in (config.central_backup.account_id, *config.member_accounts))
    (none_here,) = [c for c in checks if c.name == f"no pipeline roles in {config.organization.management_account_id}"]
    assert none_here.ok and none_here.detail == "none: the pipeline never enters this account"
    central = roles[f"roles in {config.central_backup.account_id}"]
    assert central.skipped and central.render().startswith("SKIP")
    assert [c for c in roles.values() if c.skipped] == [central]
    assert [c.render() for c in checks if c.name.startswith("Region settings types")] == [
        f"PASS  Region settings types in {region}: the 19 types org-backup sets are the ones AWS Backup lists"
        for region in REGIONS
    ]


def test_doctor_lists_each_target_ou_once_instead_of_asking_for_every_account(organization: Any) -> None:
    """1,000 accounts were 2,000 calls; now one paginated listing per OU, and single lookups only for the accounts
    outside the target OUs (central, home) or missing from their OU."""
    config, session = organization
    calls: list[str] = []
    session.events.register("before-call.organizations.*", lambda model, **_: calls.append(model.name))
    run_checks(config, StubbedClients(session))
    assert calls.count("ListAccountsForParent") == len(config.target_ous)
    assert calls.count("DescribeAccount") == 2 and calls.count("ListParents") == 2  # central and home


def test_doctor_reports_each_missing_prerequisite_with_its_fix(organization: Any) -> None:
    config, session = organization
    org = session.client("organizations", region_name="us-east-1")
    root = org.list_roots()["Roots"][0]["Id"]
    org.disable_policy_type(RootId=root, PolicyType="BACKUP_POLICY")
    org.disable_aws_service_access(ServicePrincipal="backup.amazonaws.com")
    org.disable_aws_service_access(ServicePrincipal="member.org.stacksets.cloudformation.amazonaws.com")
    prod, nonprod = (ou.id for ou in config.target_ous)
    moved = config.target_ous[0].accounts[0]
    org.move_account(AccountId=moved, SourceParentId=prod, DestinationParentId=nonprod)
    # A deploy role left in the management account from before the policies were delegated.
    session.client("iam").create_role(RoleName=config.names.deploy_role, AssumeRolePolicyDocument="{}")

    failed = _failed(run_checks(config, StubbedClients(session, cross_account="false")))
    assert failed == [
        f"FAIL  policy type BACKUP_POLICY: not enabled on root {root}\n"
        f"      Fix: aws organizations enable-policy-type --root-id {root} --policy-type BACKUP_POLICY",
        "FAIL  trusted access for AWS Backup: not enabled\n"
        "      Fix: aws organizations enable-aws-service-access --service-principal backup.amazonaws.com",
        "FAIL  trusted access for CloudFormation StackSets: not enabled\n"
        "      Fix: aws organizations enable-aws-service-access --service-principal "
        "member.org.stacksets.cloudformation.amazonaws.com",
        f"FAIL  account {moved}: ACTIVE, in {nonprod} (configured: {prod})\n"
        "      Fix: move the account into its configured OU, or correct target_ous",
        "FAIL  cross-account backup: not enabled\n"
        "      Fix: run `make bootstrap` (bootstrap-management sets it), or enable it in AWS Backup > Settings",
        f"FAIL  no pipeline roles in {config.organization.management_account_id}: left from before the delegation: OrgBackupDeployRole\n"
        "      Fix: run `make bootstrap`: with the policies delegated, bootstrap-management deletes them",
    ]


def test_doctor_flags_credentials_of_another_account(organization: Any) -> None:
    config, _ = organization
    member = session_in(None, config.member_accounts[0])
    checks = {c.name: c for c in run_checks(config, StubbedClients(member))}
    assert not checks["credentials"].ok
    assert checks["credentials"].detail == f"running as account {config.member_accounts[0]}"


def test_doctor_flags_a_member_account_without_its_roles(organization: Any) -> None:
    config, session = organization
    account = config.member_accounts[0]
    session.client("cloudformation", region_name=config.pipeline_region).delete_stack_instances(
        StackSetName="org-backup-deploy-roles", Accounts=[account], Regions=[config.pipeline_region], RetainStacks=False
    )
    checks = {c.name: c for c in run_checks(config, StubbedClients(session))}
    assert checks[f"roles in {account}"].render() == (
        f"FAIL  roles in {account}: no stack set instance\n"
        "      Fix: run `make bootstrap` (bootstrap-management owns the stack set), then check the stack set's "
        "operations in the CloudFormation console"
    )


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {},
            "doctor: no AWS credentials found (environment, AWS_PROFILE, config files). Fix: sign in as the management",
        ),
        pytest.param(
            {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
            'doctor: cannot reach AWS (Could not connect to the endpoint URL: "http://127.0.0.1:9/"). Fix: check the',
            marks=pytest.mark.slow,  # botocore's retry backoff before giving up: seconds
        ),
    ],
    ids=["no-credentials", "no-network"],
)
def test_doctor_without_credentials_or_network_says_so_once(environment: dict[str, str], message: str) -> None:
    """One message with its fix, nothing else, exit 1 (it printed 33 FAIL lines with fixes that did not apply, and
    without a network took minutes). The timeout only guards against a hang."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        **environment,
    }
    done = subprocess.run(
        [sys.executable, "-m", "org_backup", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith(message), done.stdout
    assert done.stdout.rstrip().endswith("Nothing was checked."), done.stdout


def test_preview_groups_identical_accounts_and_shows_every_lifecycle_setting(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from org_backup.__main__ import main

    plans = yaml.safe_load((ROOT / "policies" / "backup_plans.yaml").read_text())
    rule = plans["plans"]["OrgBackupPlanMonthly"]["rules"]["OrgMonthlyBackupRule"]
    rule["copy_to_central"]["lifecycle"] = {"delete_after_days": 400, "move_to_cold_storage_after_days": 30}
    rule["lifecycle"]["opt_in_to_archive_for_supported_resources"] = True
    (tmp_path / "plans.yaml").write_text(dump_yaml(plans))
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["backup_plans_file"] = str(tmp_path / "plans.yaml")
    (tmp_path / "backup.yaml").write_text(dump_yaml(config))
    monkeypatch.delenv("BACKUP_CONFIG", raising=False)

    assert main(["preview", "--config", str(tmp_path / "backup.yaml")]) == 0
    text = capsys.readouterr().out
    assert "  2 accounts, the same policy each with its own id as <account>:\n    444444444444, 555555555555\n" in text
    assert "role arn:aws:iam::<account>:role/AWSBackupSolutionRole" in text
    assert "keep 366 days, archive for supported resources, vault AWSBackupSolutionVault" in text
    assert "AWSBackupSolutionCentralVault, keep 400 days, cold storage after 30\n" in text
    assert main(["preview", "--config", str(tmp_path / "backup.yaml"), "--account", "666666666666"]) == 0
    one = capsys.readouterr().out
    assert "  account 666666666666\n" in one and "444444444444" not in one
    assert main(["preview", "--config", str(tmp_path / "backup.yaml"), "--account", "999999999999"]) == 2
    assert capsys.readouterr().err == (
        f"preview: 999999999999 not a member account of {tmp_path / 'backup.yaml'}. Fix: name one of its member "
        "accounts: 444444444444, 555555555555, 666666666666.\n"
    )


_MERMAID_LINE = re.compile(
    r"^(flowchart LR"
    r"|  (?:  )?subgraph (?P<subgraph>\w+)\[\"[^\"]*\"\]"
    r"|  (?:  )?end"
    r"|  (?:  )?(?P<node>\w+)(?:\[\(\"[^\"]*\"\)\]|\[\"[^\"]*\"\])"
    r"|  (?P<hexagon>\w+)\{\{\"[^\"]*\"\}\}"
    r"|  (?P<source>\w+) (?:-- \"[^\"]*\" -->|-\. attached \.->) (?P<target>\w+))$"
)


def test_preview_mermaid_is_a_well_formed_flowchart_of_the_topology(capsys: pytest.CaptureFixture[str]) -> None:
    """A structural check (the Mermaid CLI needs a headless browser, which this machine cannot fetch): every line is
    one of the flowchart forms used, subgraphs are balanced, every edge joins declared ids, and the diagram holds
    each OU with its accounts, every central vault, one copy flow per OU and Region, and the SCP attachments."""
    from org_backup.__main__ import main

    assert main(["--config", str(EXAMPLE_CONFIG), "preview", "--format", "mermaid"]) == 0
    text = capsys.readouterr().out
    declared, depth = set(), 0
    for line in text.splitlines():
        match = _MERMAID_LINE.match(line)
        assert match, line
        depth += bool(match["subgraph"]) - (line.strip() == "end")
        assert depth >= 0, line
        declared |= {match[g] for g in ("subgraph", "node", "hexagon") if match[g]}
        if match["source"]:
            assert {match["source"], match["target"]} <= declared, line
    assert depth == 0
    assert (
        '"2 accounts: 444444444444, 555555555555<br/>AWSBackupSolutionVault in eu-west-1, eu-central-1, us-east-1"'
        in text
    )
    copies = [line for line in text.splitlines() if " --> cv_" in line]
    assert len(copies) == 2 * 3  # two OUs x three Regions, each labelled with both plans
    assert all('"OrgBackupPlanDaily, OrgBackupPlanMonthly"' in line for line in copies)
    # copy and tampering SCPs on both OUs, tampering on the central account too, leave-organization on one OU, and
    # the pipeline account's two guardrails (pipeline, deploy branch) on the home account
    assert text.count("-. attached .->") == 8
    assert "  scp_org_backup_protect_deploy_branch -. attached .-> account_333333333333\n" in text
    assert "  scp_org_backup_deny_backup_tampering -. attached .-> central\n" in text
    assert '  account_333333333333["pipeline account 333333333333"]\n' in text


@pytest.mark.parametrize(
    "command", [[], ["preview"], ["doctor"], ["readiness"], ["bootstrap"], ["discover"], ["changed"], ["wait-roles"]]
)
def test_help_is_plain_text(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from org_backup.__main__ import main

    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and text.startswith("usage: python -m org_backup")
    assert "``" not in text  # no reStructuredText left over from docstrings
    assert "--config" in text  # accepted before and after the command
