"""Synth tests for the central-backup and member-<id> stacks on named fixture configs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import Synthesized

# cdktf and stacks are imported where used: importing them starts jsii (~3 s), and make test's rehearsal starts only
# once pytest has collected every test file (tests/conftest.py, EARLY_STARTS).
if TYPE_CHECKING:
    from cdktf import App

DEPLOY = "arn:aws:iam::{}:role/OrgBackupDeployRole"
DESTRUCTIVE = [
    "backup:DeleteBackupVault",
    "backup:DeleteBackupVaultAccessPolicy",
    "backup:DeleteRecoveryPoint",
    "backup:PutBackupVaultAccessPolicy",
    "backup:UpdateRecoveryPointLifecycle",
]


@pytest.fixture(scope="module")
def example(synth: Any) -> Synthesized:
    return synth("example")


def _statements(policy: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(policy)["Statement"]}


def _by_provider(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["provider"].removeprefix("aws."): r for r in resources.values()}


def _vault_keys(out: Synthesized, stack: str) -> dict[str, dict[str, Any]]:
    """The vault keys (a member stack also has the tag re-application function's key per Region)."""
    return {
        i: k for i, k in out.resources(stack, "aws_kms_key").items() if k["description"].startswith("Encrypts recovery")
    }


def _role(out: Synthesized, stack: str, name: str) -> dict[str, Any]:
    (role,) = [r for r in out.resources(stack, "aws_iam_role").values() if r["name"] == name]
    return role


def test_one_stack_per_account(example: Synthesized) -> None:
    assert example.stack_names == [
        "backup-policies",
        "bootstrap-central",
        "bootstrap-home",
        "bootstrap-management",
        "central-backup",
        "management",
        "member-444444444444",
        "member-555555555555",
        "member-666666666666",
        "pipeline",
    ]


@pytest.mark.parametrize("account", ["444444444444", "666666666666"])
def test_member_has_one_provider_per_region_assuming_the_deploy_role(example: Synthesized, account: str) -> None:
    providers = example.stack(f"member-{account}")["provider"]["aws"]
    assert [p["alias"] for p in providers] == ["eu-west-1", "eu-central-1", "us-east-1"]
    for provider in providers:
        assert provider["region"] == provider["alias"]
        assert provider["assume_role"] == [{"role_arn": DEPLOY.format(account), "session_name": "org-backup-cdktf"}]
        assert provider["allowed_account_ids"] == [account]
        assert provider["default_tags"] == [
            {"tags": {"owner": "platform-team", "cost-center": "4711", "managed-by": "org-backup"}}
        ]
        assert "endpoints" not in provider


def test_member_resource_counts(example: Synthesized) -> None:
    stack = example.stack("member-555555555555")
    counts = {kind: len(items) for kind, items in stack["resource"].items()}
    per_region = 3  # Regions
    assert counts == {
        # the vault, per Region, and the backup role with its 4 managed policies
        "aws_backup_vault": per_region,
        "aws_backup_vault_policy": per_region,
        "aws_backup_vault_lock_configuration": per_region,
        "aws_backup_region_settings": per_region,
        "aws_iam_role_policy_attachment": 4,
        # vault key + tag re-application key per Region; the backup, tag re-application and alert forwarder roles
        "aws_kms_key": 2 * per_region,
        "aws_kms_alias": 2 * per_region,
        "aws_iam_role": 3,
        # tag re-application, per Region
        "aws_cloudwatch_log_group": per_region,
        "aws_lambda_function": per_region,
        "aws_lambda_function_event_invoke_config": per_region,
        "aws_lambda_permission": per_region,
        # the code version each function is replaced with (stacks/event_function.py: no UpdateFunctionCode)
        "terraform_data": per_region,
        # job-failure alerts (test_alerts.py), per Region: two forwarding rules (failed jobs, the alert path's own
        # alarms) with their targets (beside tag re-application's rule and target), their DLQ and three alarms, and
        # the alarm on tag re-application's DLQ; the forwarder role (counted above) with its inline policy
        "aws_cloudwatch_event_rule": 3 * per_region,
        "aws_cloudwatch_event_target": 3 * per_region,
        "aws_cloudwatch_metric_alarm": 4 * per_region,
        "aws_sqs_queue": 2 * per_region,
        "aws_iam_role_policy": per_region + 1,
        # the AWS Backup Audit Manager framework per Region (test_audit.py)
        "aws_backup_framework": per_region,
    }


def test_member_vaults_use_their_own_regions_key_and_refuse_destroy(example: Synthesized) -> None:
    stack = "member-444444444444"
    keys = _vault_keys(example, stack)
    vaults = _by_provider(example.resources(stack, "aws_backup_vault"))
    assert sorted(vaults) == ["eu-central-1", "eu-west-1", "us-east-1"]
    for region, vault in vaults.items():
        key_id = vault["kms_key_arn"].removeprefix("${aws_kms_key.").removesuffix(".arn}")
        assert keys[key_id]["provider"] == f"aws.{region}"
        assert vault["name"] == "AWSBackupSolutionVault"
        assert vault["force_destroy"] is False
        assert vault["lifecycle"] == {"prevent_destroy": True}
    for key in keys.values():
        assert key["enable_key_rotation"] is True
        assert key["deletion_window_in_days"] == 30
        assert key["lifecycle"] == {"prevent_destroy": True}
    import cdktf

    assert cdktf.Testing.to_have_resource_with_properties(
        example.text(stack), "aws_kms_alias", {"name": "alias/AWSBackupSolutionKey", "provider": "aws.us-east-1"}
    )


def test_member_key_policy_lets_the_central_account_copy(example: Synthesized) -> None:
    for key in _vault_keys(example, "member-444444444444").values():
        statements = _statements(key["policy"])
        assert set(statements) == {
            "AccountAdministration",
            "CentralAccountUsesKeyForCopies",
            "CentralAccountGrantsOnlyForAwsResources",
            "DeployRoleManagesThisKey",
        }
        assert statements["AccountAdministration"]["Principal"] == {"AWS": "arn:aws:iam::444444444444:root"}
        use = statements["CentralAccountUsesKeyForCopies"]
        assert use["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
        assert "kms:CreateGrant" not in use["Action"]
        grants = statements["CentralAccountGrantsOnlyForAwsResources"]
        assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_member_vault_policy_denies_destruction_except_the_deploy_role(example: Synthesized) -> None:
    policies = example.resources("member-555555555555", "aws_backup_vault_policy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = _statements(policy["policy"])
        deny = statements["DenyBackupDestructionExceptDeployRole"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Resource"] == "*"
        assert deny["Action"] == DESTRUCTIVE
        assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [DEPLOY.format("555555555555")]}}
        copy_back = statements["AllowCopyBackFromCentralAccountForRecovery"]
        assert copy_back["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
        assert copy_back["Action"] == "backup:CopyIntoBackupVault"


def test_member_backup_role_trusts_aws_backup_with_managed_policies(example: Synthesized) -> None:
    stack = "member-666666666666"
    role = _role(example, stack, "AWSBackupSolutionRole")
    assert role["provider"] == "aws.eu-west-1"
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "backup.amazonaws.com"},
            "Sid": "AwsBackupAssumesRole",
        }
    ]
    arns = sorted(a["policy_arn"] for a in example.resources(stack, "aws_iam_role_policy_attachment").values())
    assert arns == [
        "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
        "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    ]


# Every Region-settings type AWS Backup supports in eu-west-1, eu-central-1 and us-east-1, by hand from AWS's "AWS
# Backup feature availability" page (https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-
# availability.html, "Supported services by AWS Region"): "AWS Backup is available for these resource types in all
# Regions ...: Aurora, AWS CloudFormation, DynamoDB, ..., Amazon EBS, Amazon EC2, Amazon EFS, Amazon Redshift, Amazon
# RDS", and these three rows carry a mark in every column (Aurora DSQL, Amazon FSx, SAP HANA on EC2 instances, Amazon
# S3, Storage Gateway, Amazon Timestream, VMware, Amazon EKS, Amazon Neptune, Amazon DocumentDB); plus "Redshift
# Serverless", which the provider's 5.100.0 acceptance test opts in with the others (testdata/RegionSettings/
# basic_v5.100.0/main_gen.tf, keys spelled as there).
ALL_TYPES = [
    "Aurora", "CloudFormation", "DocumentDB", "DSQL", "DynamoDB", "EBS", "EC2", "EFS", "EKS", "FSx", "Neptune", "RDS",
    "Redshift", "Redshift Serverless", "S3", "SAP HANA on Amazon EC2", "Storage Gateway", "Timestream",
    "VirtualMachine",
]  # fmt: skip


def test_member_region_settings_opt_in_every_type_and_fully_manage_dynamodb_and_efs(example: Synthesized) -> None:
    """AWS applies a Region's opt-in settings to tag-based selections (UpdateRegionSettings): a tagged resource of
    a type not opted in is never backed up. Every type AWS Backup supports in the Region, by default; none it lacks
    (AWS refuses those) and none left out (hashicorp/aws reads AWS's whole map back and would plan it again)."""
    for account in ("444444444444", "555555555555", "666666666666"):
        settings = _by_provider(example.resources(f"member-{account}", "aws_backup_region_settings"))
        assert sorted(settings) == ["eu-central-1", "eu-west-1", "us-east-1"]
        for region_settings in settings.values():
            assert region_settings["resource_type_opt_in_preference"] == dict.fromkeys(ALL_TYPES, True)
            assert region_settings["resource_type_management_preference"] == {
                "CloudFormation": False,
                "DSQL": False,
                "DynamoDB": True,
                "EFS": True,
            }
    assert "aws_backup_region_settings" not in example.stack("central-backup")["resource"]


def test_region_settings_follow_config_per_region_and_can_be_left_alone(synth: Any) -> None:
    """eu-west-1's types come from the fixture's region_settings.supported_types (DSQL and Redshift Serverless
    absent), eu-central-1's from AWS's page: each map names exactly its Region's types."""
    settings = _by_provider(synth("central_is_member").resources("member-200000000004", "aws_backup_region_settings"))
    assert sorted(settings) == ["eu-central-1", "eu-west-1"]
    opted_out = {"SAP HANA on Amazon EC2", "VirtualMachine"}
    in_eu_west_1 = [t for t in ALL_TYPES if t not in ("DSQL", "Redshift Serverless")]
    assert settings["eu-central-1"]["resource_type_opt_in_preference"] == {t: t not in opted_out for t in ALL_TYPES}
    assert settings["eu-west-1"]["resource_type_opt_in_preference"] == {t: t not in opted_out for t in in_eu_west_1}
    assert settings["eu-central-1"]["resource_type_management_preference"] == {
        "CloudFormation": False,
        "DSQL": False,
        "DynamoDB": True,
        "EFS": False,
    }
    assert settings["eu-west-1"]["resource_type_management_preference"] == {
        "CloudFormation": False,
        "DynamoDB": True,
        "EFS": False,
    }
    connection = synth("connection_source")
    assert all(
        "aws_backup_region_settings" not in connection.stack(name)["resource"]
        for name in connection.stack_names
        if name.startswith("member-")
    )


def test_member_vault_lock_is_governance(example: Synthesized) -> None:
    for lock in example.resources("member-444444444444", "aws_backup_vault_lock_configuration").values():
        assert lock["min_retention_days"] == 7
        assert lock["max_retention_days"] == 400
        assert "changeable_for_days" not in lock


def test_central_stack(example: Synthesized) -> None:
    """A central vault in every target Region (central_backup.regions defaults to them): each Region's member
    backups are copied to the central vault of that same Region."""
    stack = example.stack("central-backup")
    providers = stack["provider"]["aws"]
    assert sorted(p["alias"] for p in providers) == ["eu-central-1", "eu-west-1", "us-east-1"]
    assert {p["assume_role"][0]["role_arn"] for p in providers} == {DEPLOY.format("222222222222")}
    counts = {kind: len(items) for kind, items in stack["resource"].items()}
    assert counts == {
        "aws_kms_key": 3 + 1 + 1 + 1,  # + the alert topic's, restore validation function's and reports' keys
        "aws_kms_alias": 3 + 1 + 1 + 1,
        # the organization's report plans (the central account is the delegated administrator) and their bucket
        "aws_backup_report_plan": 5,
        "aws_s3_bucket": 1,
        "aws_s3_bucket_server_side_encryption_configuration": 1,
        "aws_s3_bucket_public_access_block": 1,
        "aws_s3_bucket_policy": 1,
        "aws_s3_bucket_versioning": 1,
        "aws_s3_bucket_lifecycle_configuration": 1,
        "aws_backup_vault": 3,
        "aws_backup_vault_policy": 3,
        "aws_backup_vault_lock_configuration": 3,
        "aws_iam_role_policy_attachment": 4,
        # the alert forwarding of the central account's own jobs (test_alerts.py): two rules with targets, a DLQ
        # and three alarms per Region, and the forwarder role; the backup role is the other
        "aws_iam_role": 2 + 1,  # + the restore validation function's
        "aws_iam_role_policy": 1 + 1,
        # + the alert hub's five rules (one per job kind, one each for forwarded and function alarms) + validation
        "aws_cloudwatch_event_rule": 2 * 3 + 5 + 1,
        "aws_cloudwatch_event_target": 2 * 3 + 5 + 1,
        # + the hub's: two per hub rule and its DLQ; + the validation function's DLQ alarm
        "aws_cloudwatch_metric_alarm": 3 * 3 + 2 * 5 + 1 + 1,
        "aws_sqs_queue": 3 + 1 + 1,  # + the hub's DLQ + the validation function's
        # restore testing in the first central Region (test_restore_validation.py)
        "aws_backup_restore_testing_plan": 1,
        "aws_backup_restore_testing_selection": 2,
        "aws_lambda_function": 1,
        "aws_lambda_function_event_invoke_config": 1,
        "aws_lambda_permission": 1,
        "terraform_data": 1,
        "aws_cloudwatch_log_group": 1,
        # the alert hub in the monitoring account (the central account by default), first Region
        "aws_cloudwatch_event_bus": 1,
        "aws_cloudwatch_event_bus_policy": 1,
        "aws_sns_topic": 1,
        "aws_sns_topic_policy": 1,
        "aws_sns_topic_subscription": 1,
    }
    vaults = _by_provider(example.resources("central-backup", "aws_backup_vault"))
    assert sorted(vaults) == ["eu-central-1", "eu-west-1", "us-east-1"]
    text = example.text("central-backup")
    import cdktf

    assert cdktf.Testing.to_have_resource_with_properties(
        text, "aws_backup_vault", {"name": "AWSBackupSolutionCentralVault", "force_destroy": False}
    )
    assert cdktf.Testing.to_have_resource_with_properties(
        text,
        "aws_backup_vault_lock_configuration",
        {"min_retention_days": 7, "max_retention_days": 400, "changeable_for_days": 3},
    )


def test_central_key_policy_is_scoped_to_the_organization_and_aws_backup(example: Synthesized) -> None:
    keys = _by_provider(_vault_keys(example, "central-backup"))
    for region, key in keys.items():
        use = _statements(key["policy"])["OrganizationCopiesThroughAwsBackup"]
        assert use["Principal"] == {"AWS": "*"}
        assert use["Condition"] == {
            "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5", "kms:ViaService": f"backup.{region}.amazonaws.com"}
        }
    for region, key in keys.items():
        copy_back = _statements(key["policy"])["OrganizationCopyBackThroughTheSnapshotServices"]
        assert copy_back["Principal"] == {"AWS": "*"} and "kms:CreateGrant" not in copy_back["Action"]
        # EBS/EC2 snapshots through EC2, RDS/Aurora through RDS, FSx backups through FSx: the kms:ViaService names of
        # KMS/conditions-kms.html ("service.region.amazonaws.com"), in the key's own Region only.
        assert copy_back["Condition"] == {
            "StringEquals": {
                "aws:PrincipalOrgID": "o-a1b2c3d4e5",
                "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in ("ec2", "fsx", "rds")],
            }
        }
    statements = _statements(keys["eu-west-1"]["policy"])
    grants = statements["OrganizationGrantsOnlyForAwsResources"]
    assert grants["Action"] == ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    assert grants["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"},
        "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
    }


def test_central_vault_policy_accepts_copies_only_from_the_organization(example: Synthesized) -> None:
    policies = _by_provider(example.resources("central-backup", "aws_backup_vault_policy"))
    assert len({p["policy"] for p in policies.values()}) == 1  # the same in every Region
    statements = _statements(policies["eu-west-1"]["policy"])
    allow = statements["AllowCopyIntoOnlyFromOrganization"]
    assert allow["Action"] == "backup:CopyIntoBackupVault"
    assert allow["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    deny = statements["DenyBackupDestructionExceptDeployRole"]
    assert deny["Action"] == DESTRUCTIVE
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [DEPLOY.format("222222222222")]
    allows = [s for s in statements.values() if s["Effect"] == "Allow"]
    assert allows == [allow], "the central vault must allow nothing but org-scoped copies"


def test_local_state_stays_inside_the_stack_directory(example: Synthesized) -> None:
    for name in example.stack_names:
        assert example.stack(name)["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}
        assert example.stack(name)["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"


def test_minimal_config_has_no_lock_no_tags_and_only_the_deploy_role_exempt(synth: Any) -> None:
    minimal = synth("minimal")
    assert minimal.stack_names == [
        "backup-policies",
        "bootstrap-central",
        "bootstrap-home",
        "bootstrap-management",
        "central-backup",
        "management",
        "member-100000000004",
        "pipeline",
    ]
    member = minimal.stack("member-100000000004")
    assert "aws_backup_vault_lock_configuration" not in member["resource"]
    assert "default_tags" not in member["provider"]["aws"][0]
    (policy,) = minimal.resources("member-100000000004", "aws_backup_vault_policy").values()
    deny = _statements(policy["policy"])["DenyBackupDestructionExceptDeployRole"]
    assert deny["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::100000000004:role/OrgBackupDeployRole"]}
    }
    (key,) = minimal.resources("central-backup", "aws_kms_key").values()
    use = _statements(key["policy"])["OrganizationCopiesThroughAwsBackup"]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "backup.us-east-1.amazonaws.com"


def test_central_account_that_is_also_a_member_gets_the_backup_role_once(synth: Any) -> None:
    out = synth("central_is_member")
    assert "bootstrap-central" not in out.stack_names  # the StackSet gives a member its roles
    assert "aws_iam_role" not in out.stack("central-backup")["resource"]
    assert _role(out, "member-200000000002", "AWSBackupSolutionRole")["name"] == "AWSBackupSolutionRole"
    central_vaults = _by_provider(out.resources("central-backup", "aws_backup_vault"))
    assert sorted(central_vaults) == ["eu-central-1", "eu-west-1"]
    member_vaults = out.resources("member-200000000002", "aws_backup_vault")
    assert {v["name"] for v in member_vaults.values()} == {"AWSBackupSolutionVault"}
    provider = out.stack("central-backup")["provider"]["aws"][0]
    assert provider["assume_role"][0]["role_arn"] == "arn:aws:iam::200000000002:role/PlatformDeploy"


def test_s3_backend_has_one_encrypted_locked_key_per_stack(synth: Any) -> None:
    out = synth("central_is_member")
    for name in out.stack_names:
        backend = out.stack(name)["terraform"]["backend"]
        if name.startswith("bootstrap-"):  # bootstrap creates the bucket: its own state stays local
            assert backend == {"local": {"path": "terraform.tfstate"}}
            continue
        assert backend == {
            "s3": {
                "bucket": "example-org-backup-tfstate",
                "key": f"org-backup/prod/{name}.tfstate",
                "region": "eu-central-1",
                "encrypt": True,
                # The state bucket's own key (bootstrap-home), not SSE-S3, which "encrypt" alone would request.
                "kms_key_id": "arn:aws:kms:eu-central-1:200000000003:alias/org-backup/terraform-state",
                "use_lockfile": True,
            }
        }


TEST_MODE_PROVIDER_SETTINGS = {"skip_metadata_api_check": "true", "s3_use_path_style": True, "max_retries": 3}


def _without_test_mode(node: Any) -> Any:
    """A stack without cdktf's "//" metadata, with a lifted prevent_destroy put back (the real output's value)."""
    if isinstance(node, dict):
        node = {k: _without_test_mode(v) for k, v in node.items() if k != "//"}
        if "lifecycle" in node and node["lifecycle"] == {"prevent_destroy": False}:
            node["lifecycle"] = {"prevent_destroy": True}
        return node
    if isinstance(node, list):
        return [_without_test_mode(v) for v in node]
    return node


def test_test_mode_differs_from_real_output_only_in_provider_test_settings_and_prevent_destroy(synth: Any) -> None:
    """What the rehearsal applies is the real output plus local-API settings (the address itself comes from
    AWS_ENDPOINT_URL at run time, credentials from the principal that runs each stack), with prevent_destroy
    lifted; real output has none of it."""
    real = synth("example")
    local = synth("example", local_api=True)
    assert local.stack_names == real.stack_names
    for name in real.stack_names:
        expected, test_mode = real.stack(name), local.stack(name)
        if name == "central-backup" or name.startswith("member-"):  # the stacks with vaults and vault keys
            assert '"prevent_destroy": true' in real.text(name)
        assert '"prevent_destroy": true' not in local.text(name)
        for provider, test_provider in zip(expected["provider"]["aws"], test_mode["provider"]["aws"], strict=True):
            assert not set(TEST_MODE_PROVIDER_SETTINGS) & set(provider)
            assert "endpoints" not in provider and "endpoints" not in test_provider
            assert {k: test_provider.pop(k) for k in TEST_MODE_PROVIDER_SETTINGS} == TEST_MODE_PROVIDER_SETTINGS
            assert not {"access_key", "secret_key", "token"} & set(test_provider)
        assert _without_test_mode(test_mode) == _without_test_mode(expected), name


def test_a_vault_without_customer_managed_key_fails_synth_and_writes_nothing(tmp_path: Path) -> None:
    from cdktf import App, TerraformStack
    from cdktf_cdktf_provider_aws.backup_vault import BackupVault
    from cdktf_cdktf_provider_aws.kms_key import KmsKey
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from stacks.app import SynthError, synth_atomically

    def build(staging: Path) -> App:
        app = App(outdir=str(staging))
        stack = TerraformStack(app, "bad")
        AwsProvider(stack, "aws", region="eu-west-1")
        BackupVault(stack, "vault", name="NoCmk")
        KmsKey(stack, "key", enable_key_rotation=False)
        KmsKey(stack, "key2")
        return app

    outdir = tmp_path / "cdktf.out"
    outdir.mkdir()
    (outdir / "keep.txt").write_text("last good synth")
    with pytest.raises(SynthError) as raised:
        synth_atomically(build, outdir)
    assert str(raised.value) == (
        "synth found violations of org-wide rules:\n"
        "  - bad/aws_backup_vault.vault: backup vault has no customer-managed KMS key (kms_key_arn).\n"
        "  - bad/aws_kms_key.key: KMS key does not enable automatic rotation (enable_key_rotation).\n"
        "  - bad/aws_kms_key.key2: KMS key does not enable automatic rotation (enable_key_rotation)."
    )
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"]
    assert [p.name for p in outdir.iterdir()] == ["keep.txt"]


def test_an_error_annotation_fails_synth_and_writes_nothing(tmp_path: Path) -> None:
    from cdktf import Annotations, App, TerraformStack

    from stacks.app import SynthError, synth_atomically

    def build(staging: Path) -> App:
        app = App(outdir=str(staging))
        Annotations.of(TerraformStack(app, "bad")).add_error("boom")
        return app

    outdir = tmp_path / "cdktf.out"
    with pytest.raises(SynthError) as raised:
        synth_atomically(build, outdir)
    assert str(raised.value) == "synth found errors:\n  - [bad] boom"
    assert list(tmp_path.iterdir()) == []


ERROR_ANNOTATION_PROBE = """
import sys
from pathlib import Path
from cdktf import Annotations, App, TerraformStack
from stacks.app import SynthError, synth_atomically

def build(staging):
    app = App(outdir=str(staging))
    Annotations.of(TerraformStack(app, "bad")).add_error("boom")
    return app

try:
    synth_atomically(build, Path(sys.argv[1]))
except SynthError as exc:
    print(exc)
"""


@pytest.mark.slow
def test_error_annotations_are_refused_when_the_cdktf_cli_asks_to_continue(tmp_path: Path) -> None:
    """The cdktf CLI runs every synth with CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS=true: cdktf then writes its
    output and returns instead of raising. node reads the variable when jsii starts it, hence a new interpreter."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS="true")
    result = subprocess.run(
        [sys.executable, "-c", ERROR_ANNOTATION_PROBE, str(tmp_path / "out" / "cdktf.out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert result.stdout == "synth found errors:\n  - [bad] boom\n"
    assert list((tmp_path / "out").iterdir()) == []


def test_synth_keeps_terraform_state_and_retires_stacks_that_disappear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Local state lives in the stack folders (bootstrap stacks always); a second synth must not delete it."""
    from cdktf import App, TerraformStack

    from stacks.app import synth_atomically

    def build(names: list[str]) -> Callable[[Path], App]:
        def make(staging: Path) -> App:
            app = App(outdir=str(staging))
            for name in names:
                TerraformStack(app, name)
            return app

        return make

    outdir = tmp_path / "cdktf.out"
    synth_atomically(build(["bootstrap-home", "bootstrap-central"]), outdir)
    for stack in ("bootstrap-home", "bootstrap-central"):
        (outdir / "stacks" / stack / "terraform.tfstate").write_text(f"state of {stack}")
        (outdir / "stacks" / stack / ".terraform").mkdir()
        (outdir / "stacks" / stack / ".terraform" / "providers").write_text("cached")
    synth_atomically(build(["bootstrap-home"]), outdir)
    home = outdir / "stacks" / "bootstrap-home"
    assert (home / "terraform.tfstate").read_text() == "state of bootstrap-home"
    assert (home / ".terraform" / "providers").read_text() == "cached"
    assert (home / "cdk.tf.json").is_file()
    retired = outdir / "retired-stacks" / "bootstrap-central"
    assert (retired / "terraform.tfstate").read_text() == "state of bootstrap-central"
    assert (retired / "cdk.tf.json").is_file()  # its last configuration, to destroy or migrate from
    assert not (outdir / "stacks" / "bootstrap-central").exists()
    assert "bootstrap-central is no longer synthesized but has Terraform state" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out"]  # no staging or previous folder left

    synth_atomically(build(["bootstrap-home", "bootstrap-central"]), outdir)  # it comes back: so does its state
    assert (outdir / "stacks" / "bootstrap-central" / "terraform.tfstate").read_text() == "state of bootstrap-central"
    assert not (outdir / "retired-stacks").exists() or not any((outdir / "retired-stacks").iterdir())


def test_global_settings_state_the_flags_org_backup_owns_and_leave_multi_party_approval_alone(synth: Any) -> None:
    """DescribeGlobalSettings returns three flags and the provider compares the whole map; multi-party approval is the
    organization's choice, so it is neither stated nor reported as a change (ignore_changes)."""
    # The example delegates its policies: the settings are bootstrap-management's (UpdateGlobalSettings "Returns an
    # error if the account is not an Organizations management account"); minimal has no delegated administrator, so
    # its policies and settings stay in the management stack.
    for scenario, stack, delegated in (("example", "bootstrap-management", "true"), ("minimal", "management", "false")):
        (settings,) = synth(scenario).resources(stack, "aws_backup_global_settings").values()
        assert settings["global_settings"] == {
            "isCrossAccountBackupEnabled": "true",
            "isDelegatedAdministratorEnabled": delegated,
        }
        assert settings["lifecycle"] == {"ignore_changes": ['global_settings["isMpaEnabled"]']}


def test_backup_policies_live_in_their_own_stack_and_scps_stay_in_management(example: Synthesized) -> None:
    policies = example.resources("backup-policies", "aws_organizations_policy")
    assert {p["type"] for p in policies.values()} == {"BACKUP_POLICY"}
    assert len(policies) == 2
    management = example.resources("management", "aws_organizations_policy")
    assert {p["type"] for p in management.values()} == {"SERVICE_CONTROL_POLICY"}
    attached = example.resources("backup-policies", "aws_organizations_policy_attachment")
    assert sorted(a["target_id"] for a in attached.values()) == sorted(["ou-ab12-prod0001", "ou-ab12-nonprod01"] * 2)
    # Deployed from the policy administrator's account (the example's backup delegated administrator, its central
    # account), through the organization's delegation policy.
    (provider,) = example.stack("backup-policies")["provider"]["aws"]
    assert provider["allowed_account_ids"] == ["222222222222"]
    assert provider["assume_role"][0]["role_arn"] == "arn:aws:iam::222222222222:role/OrgBackupDeployRole"
    assert {p["allowed_account_ids"][0] for p in example.stack("management")["provider"]["aws"]} == {"222222222222"}
