"""The logically air-gapped vault (central_backup.air_gapped): synthesized beside the central vault in every central
Region with its AWS RAM share, copied to by plans within its retention bounds, allowed by the copy SCP; bad input
refused with a fix; the new rule keys of AWS's backup policy syntax checked in documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import load_config
from org_backup.config.yaml_io import dump_yaml
from org_backup.iam import deploy_roles
from org_backup.plans.backup_policy import validate_plans, validate_policy_document
from tests.conftest import FIXTURES, Synthesized

CONFIG_FILE = FIXTURES / "air_gapped.yaml"
PLANS = yaml.safe_load((FIXTURES / "air_gapped.plans.yaml").read_text())
CENTRAL = "300000000002"
REGIONS = ("eu-west-1", "eu-central-1")
RULE = "plans.Daily.rules.Nightly"


def lag_arn(region: str) -> str:
    return f"arn:aws:backup:{region}:{CENTRAL}:backup-vault:AWSBackupSolutionAirGappedVault"


def central_arn(region: str) -> str:
    return f"arn:aws:backup:{region}:{CENTRAL}:backup-vault:AWSBackupSolutionCentralVault"


@pytest.fixture(scope="module")
def out(synth: Any) -> Synthesized:
    return synth(CONFIG_FILE)  # type: ignore[no-any-return]


def _by_region(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["provider"].split(".")[-1]: r for r in resources.values()}


def test_an_air_gapped_vault_in_every_central_region_with_the_central_vaults_access_policy(out: Synthesized) -> None:
    vaults = _by_region(out.resources("central-backup", "aws_backup_logically_air_gapped_vault"))
    assert sorted(vaults) == sorted(REGIONS)
    for vault in vaults.values():
        assert (vault["name"], vault["min_retention_days"], vault["max_retention_days"]) == (
            "AWSBackupSolutionAirGappedVault",
            7,
            400,
        )
    policies = out.resources("central-backup", "aws_backup_vault_policy")
    by_vault: dict[str, list[str]] = {}
    for policy in policies.values():
        by_vault.setdefault(policy["backup_vault_name"], []).append(policy["policy"])
    air_gapped = [v for k, v in by_vault.items() if "logically_air_gapped_vault" in k]
    central = [v for k, v in by_vault.items() if "aws_backup_vault." in k]
    assert len(air_gapped) == len(central) == len(REGIONS)
    assert {p for ps in air_gapped for p in ps} == {p for ps in central for p in ps}  # the same policy
    statements = json.loads(air_gapped[0][0])["Statement"]
    assert {s["Sid"] for s in statements} == {
        "DenyBackupDestructionExceptDeployRole",
        "AllowCopyIntoOnlyFromOrganization",
    }


def test_each_vault_is_shared_through_ram_with_the_listed_accounts_and_no_one_outside(out: Synthesized) -> None:
    shares = out.resources("central-backup", "aws_ram_resource_share")
    assert len(shares) == len(REGIONS)
    assert all(s["allow_external_principals"] is False for s in shares.values())
    associations = out.resources("central-backup", "aws_ram_resource_association")
    assert sorted(a["resource_arn"].split(".")[0] for a in associations.values()) == [
        "${aws_backup_logically_air_gapped_vault",
    ] * len(REGIONS)
    principals = out.resources("central-backup", "aws_ram_principal_association")
    assert sorted((p["provider"], p["principal"]) for p in principals.values()) == sorted(
        (f"aws.{r}", "300000000009") for r in REGIONS
    )
    assert out.resources("management", "aws_ram_sharing_with_organization") != {}


def test_plans_copy_to_the_air_gapped_vault_of_each_region_and_the_scp_allows_it(out: Synthesized) -> None:
    (policy,) = out.resources("backup-policies", "aws_organizations_policy").values()
    plans = json.loads(policy["content"])["plans"]
    assert sorted(plans) == [f"Daily-{r}" for r in sorted(REGIONS)]
    for region in REGIONS:
        rule = plans[f"Daily-{region}"]["rules"]["Nightly"]
        copies = rule["copy_actions"]
        assert sorted(copies) == sorted([central_arn(region), lag_arn(region)])
        assert copies[lag_arn(region)]["lifecycle"] == {"delete_after_days": {"@@assign": "90"}}
        assert rule["index_actions"] == {"resource_types": {"@@assign": ["EBS", "S3"]}}
    scp = next(p for n, p in out.resources("management", "aws_organizations_policy").items() if "central-vault" in n)
    targets = json.loads(scp["content"])["Statement"][0]["Condition"]["ForAnyValue:ArnNotLike"]["backup:CopyTargets"]
    assert sorted(targets) == sorted([*map(central_arn, REGIONS), *map(lag_arn, REGIONS)])


def test_the_deploy_role_may_create_the_air_gapped_vault_only_where_one_is_configured() -> None:
    def vault_resources(config: Any) -> list[str]:
        (statement,) = [s for s in deploy_roles.accounts_policy(config)["Statement"] if s["Sid"] == "OwnBackupVaults"]
        assert "backup:CreateLogicallyAirGappedBackupVault" in statement["Action"]
        return list(statement["Resource"])

    with_vault = load_config(CONFIG_FILE)
    without = with_vault.model_copy(
        update={"central_backup": with_vault.central_backup.model_copy(update={"air_gapped": None})}
    )
    assert "arn:aws:backup:*:*:backup-vault:AWSBackupSolutionAirGappedVault" in vault_resources(with_vault)
    assert not any("AirGapped" in arn for arn in vault_resources(without))


def test_the_backup_role_gets_awss_indexing_policy_only_where_a_plan_indexes_ebs(out: Synthesized, synth: Any) -> None:
    def attached(result: Synthesized, stack: str) -> set[str]:
        return {a["policy_arn"] for a in result.resources(stack, "aws_iam_role_policy_attachment").values()}

    indexing = "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForIndexing"
    assert all(indexing in attached(out, f"member-{a}") for a in ("300000000004", "300000000005"))
    minimal = synth("minimal")
    assert not any(indexing in attached(minimal, s) for s in minimal.stack_names if s.startswith("member-"))


def test_a_type_indexed_twice_is_refused() -> None:
    plans = copy.deepcopy(PLANS)
    plans["plans"]["Daily"]["rules"]["Nightly"]["index_actions"] = ["EBS", "EBS"]
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=load_config(CONFIG_FILE), source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"{RULE}.index_actions: ['EBS', 'EBS'] names a type twice. Fix: list each once."
    ]


def _copy_days(days: int | None) -> dict[str, Any]:
    plans = copy.deepcopy(PLANS)
    lifecycle = plans["plans"]["Daily"]["rules"]["Nightly"]["copy_to_air_gapped"]["lifecycle"]
    if days is None:
        del lifecycle["delete_after_days"]
    else:
        lifecycle["delete_after_days"] = days
    return plans


@pytest.mark.parametrize(
    ("days", "kept"), [(3, "keeps copies 3 days"), (401, "keeps copies 401 days"), (None, "keeps copies forever")]
)
def test_a_copy_outside_the_vaults_retention_bounds_is_refused_with_a_fix(days: int | None, kept: str) -> None:
    with pytest.raises(InputError) as raised:
        validate_plans(_copy_days(days), config=load_config(CONFIG_FILE), source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"{RULE}.copy_to_air_gapped.lifecycle.delete_after_days: {kept}; the air-gapped vault accepts only copies "
        "kept 7-400 days (central_backup.air_gapped min_retention_days, max_retention_days), and AWS Backup refuses "
        "any other. Fix: set delete_after_days between 7 and 400, or change the vault's bounds."
    ]


def test_a_copy_without_an_air_gapped_vault_is_refused_with_a_fix() -> None:
    config = load_config(CONFIG_FILE)
    config = config.model_copy(update={"central_backup": config.central_backup.model_copy(update={"air_gapped": None})})
    with pytest.raises(InputError) as raised:
        validate_plans(copy.deepcopy(PLANS), config=config, source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        f"{RULE}.copy_to_air_gapped: copies to the logically air-gapped vault, but central_backup.air_gapped is not "
        "set, so there is none. Fix: set central_backup.air_gapped (min_retention_days, max_retention_days) in "
        "backup.yaml, or remove copy_to_air_gapped."
    ]


def _config_with(tmp_path: Path, **air_gapped: Any) -> Path:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    raw["central_backup"]["air_gapped"].update(air_gapped)
    raw["backup_plans_file"] = str(FIXTURES / "air_gapped.plans.yaml")
    path = tmp_path / "backup.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    return path


NO_RECOVERY_ACCOUNT = (
    "central_backup.air_gapped.share_with (line 9): names no account besides the central account, so no account "
    "could restore from the vault when the central account is lost. Fix: list a recovery account, or use 'members'."
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"max_retention_days": 5},
            ["central_backup.air_gapped.max_retention_days (line 8): 5 is below the minimum 7. Fix: use 7 or more."],
        ),
        (
            {"min_retention_days": 30, "max_retention_days": 20},
            [
                "central_backup.air_gapped.max_retention_days (line 8): 20 is below min_retention_days (30): no copy "
                "could enter the vault. Fix: raise it, or lower min_retention_days."
            ],
        ),
        (
            {"share_with": [CENTRAL]},
            [
                f"central_backup.air_gapped.share_with[0] (line 10): '{CENTRAL}' is the central account, which owns "
                "the vault; sharing is for the accounts that restore from it when the central account is lost. Fix: "
                "remove it.",
                NO_RECOVERY_ACCOUNT,
            ],
        ),
        ({"share_with": []}, [NO_RECOVERY_ACCOUNT]),
    ],
    ids=["max-below-aws-minimum", "max-below-min", "shared-with-itself", "shared-with-no-one"],
)
def test_bad_air_gapped_settings_are_refused_with_a_fix(
    tmp_path: Path, change: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(InputError) as raised:
        load_config(_config_with(tmp_path, **change))
    assert [p.render() for p in raised.value.problems] == expected


def test_members_share_by_default_and_the_central_account_never(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    del raw["central_backup"]["air_gapped"]["share_with"]
    raw["target_ous"][0]["accounts"].append(CENTRAL)  # the central account is also a member
    raw["backup_plans_file"] = str(FIXTURES / "air_gapped.plans.yaml")
    path = tmp_path / "backup.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    assert load_config(path).air_gapped_share_accounts == ("300000000004", "300000000005")


LAG_DOC = {
    "plans": {
        "P": {
            "regions": {"@@assign": ["eu-west-1"]},
            "rules": {
                "R": {
                    "schedule_expression": {"@@assign": "cron(0 5 ? * * *)"},
                    "target_backup_vault_name": {"@@assign": "Vault"},
                    "target_logically_air_gapped_backup_vault_arn": {
                        "@@assign": "arn:aws:backup:$region:$account:backup-vault:AirGappedVault"
                    },
                    "index_actions": {"resource_types": {"@@assign": ["EBS", "S3"]}},
                }
            },
            "selections": {
                "tags": {
                    "S": {
                        "iam_role_arn": {"@@assign": "arn:aws:iam::$account:role/Backup"},
                        "tag_key": {"@@assign": "backup"},
                        "tag_value": {"@@assign": ["daily"]},
                    }
                }
            },
        }
    }
}


def _lag_doc(**rule: Any) -> dict[str, Any]:
    document = copy.deepcopy(LAG_DOC)
    document["plans"]["P"]["rules"]["R"].update(rule)
    return document


def test_the_documented_air_gapped_primary_target_and_index_actions_pass() -> None:
    assert validate_policy_document(LAG_DOC) == []


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {
                "target_logically_air_gapped_backup_vault_arn": {
                    "@@assign": "arn:aws:backup:eu-west-1:111111111111:backup-vault:AirGappedVault"
                }
            },
            "plans.P.rules.R.target_logically_air_gapped_backup_vault_arn: 'arn:aws:backup:eu-west-1:111111111111:"
            "backup-vault:AirGappedVault' is not arn:<partition>:backup:$region:$account:backup-vault:<name>: AWS "
            "requires the $region and $account placeholders (the vault is in each account and Region the plan runs "
            "in).",
        ),
        (
            {"index_actions": {"resource_types": {"@@assign": ["EBS", "RDS"]}}},
            "plans.P.rules.R.index_actions.resource_types: ['EBS', 'RDS']: AWS Backup indexes EBS and S3 backups "
            "only. Fix: list one or both.",
        ),
        (
            {"index_actions": {"types": {"@@assign": ["EBS"]}}},
            'plans.P.rules.R.index_actions: must be {"resource_types": {"@@assign": [...]}} (AWS\'s backup policy '
            "syntax).",
        ),
    ],
    ids=["air-gapped-target-without-placeholders", "index-type-not-indexable", "index-actions-shape"],
)
def test_the_new_rule_keys_are_checked_with_awss_rules(rule: dict[str, Any], expected: str) -> None:
    assert [p.render() for p in validate_policy_document(_lag_doc(**rule))] == [expected]


def test_preview_shows_the_copy_to_the_air_gapped_vault_and_the_indexes(capsys: pytest.CaptureFixture[str]) -> None:
    from org_backup.__main__ import main

    assert main(["preview", "--config", str(CONFIG_FILE)]) == 0
    text = capsys.readouterr().out
    for region in REGIONS:
        assert f"copy to {lag_arn(region)}, keep 90 days" in text
    assert "keep 35 days, index EBS and S3, vault AWSBackupSolutionVault" in text
