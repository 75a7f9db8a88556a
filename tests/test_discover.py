"""`python -m org_backup discover` against moto's AWS Organizations, and synth reading the snapshot it writes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from org_backup.config import accounts_lock
from org_backup.config.errors import InputError
from org_backup.config.loader import load_config
from org_backup.config.yaml_io import dump_yaml
from org_backup.ops import discover
from tests.conftest import MINIMAL_CONFIG
from tests.rehearsal.moto import session_in

MANAGEMENT = "123456789012"  # moto's default account: the one that creates the organization


@dataclass
class Org:
    client: Any
    root: str
    ous: dict[str, str]  # name -> id
    accounts: dict[str, str]  # name -> id
    tmp: Path

    def config(self, **overrides: Any) -> Path:
        raw: dict[str, Any] = {
            "organization": {
                "id": self.client.describe_organization()["Organization"]["Id"],
                "management_account_id": MANAGEMENT,
            },
            "central_backup": {"account_id": self.accounts["central"], "regions": ["us-east-1"]},
            "pipeline": {
                "home_account_id": self.accounts["home"],
                "source": {
                    "type": "codecommit",
                    "reviewers": [f"arn:aws:sts::{self.accounts['home']}:assumed-role/Reviewers/*"],
                },
            },
            "target_regions": ["us-east-1"],
            "target_ous": [
                {"id": self.ous["prod"], "name": "prod"},
                {"id": self.ous["nonprod"], "name": "nonprod"},
                {"id": self.ous["prod-eu-payments"], "name": "payments"},
            ],
            "accounts_file": "accounts.lock.yaml",
            "discovery": {
                "exclude_accounts": [{"id": self.accounts["prod-legacy"], "reason": "backed up by its own plans"}],
                "exclude_ous": [{"id": self.ous["prod-eu-sandbox"], "reason": "throw-away accounts"}],
            },
        }
        raw.update(overrides)
        raw = {key: value for key, value in raw.items() if value is not None}  # None: leave the key out
        path = self.tmp / "backup.yaml"
        path.write_text(dump_yaml(raw, sort_keys=False))
        return path

    def run(self, config: Path, *, check: bool = False) -> int:
        return discover.main(config, check=check, assume_plan_role=False, organizations=self.client)


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    """prod (45 accounts: three pages of moto's 20) > eu > {payments (a target OU itself), sandbox (excluded)};
    nonprod with a suspended account; the management account moved into prod; central and home at the root."""
    with mock_aws():
        client = session_in(None, MANAGEMENT).client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        ous: dict[str, str] = {}

        def ou(name: str, parent: str) -> str:
            ous[name] = client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]
            return ous[name]

        prod, nonprod = ou("prod", root), ou("nonprod", root)
        eu = ou("prod-eu", prod)
        ou("prod-eu-payments", eu)
        ou("prod-eu-sandbox", eu)
        accounts: dict[str, str] = {}

        def account(name: str, parent: str) -> str:
            created = client.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
            accounts[name] = created["AccountId"]
            if parent != root:
                client.move_account(AccountId=accounts[name], SourceParentId=root, DestinationParentId=parent)
            return accounts[name]

        account("central", root)
        account("home", root)
        for index in range(45):
            account(f"prod-{index:02d}", prod)
        account("prod-legacy", prod)
        account("prod-eu-app", eu)
        account("payments-app", ous["prod-eu-payments"])
        account("sandbox-1", ous["prod-eu-sandbox"])
        account("nonprod-app", nonprod)
        client.close_account(AccountId=account("nonprod-closed", nonprod))
        client.move_account(AccountId=MANAGEMENT, SourceParentId=root, DestinationParentId=prod)
        yield Org(client, root, ous, accounts, tmp_path)


def test_discover_walks_nested_ous_and_writes_a_sorted_snapshot(org: Org) -> None:
    config = org.config()
    assert org.run(config) == 0
    lock = accounts_lock.load(org.tmp / "accounts.lock.yaml")
    by_ou = {ou.id: {a.id: a for a in ou.accounts} for ou in lock.target_ous}
    prod = by_ou[org.ous["prod"]]
    assert len(prod) == 46  # 45 + prod-eu-app: every page, and the nested OU
    assert prod[org.accounts["prod-eu-app"]].parent == org.ous["prod-eu"]
    assert set(by_ou[org.ous["prod-eu-payments"]]) == {org.accounts["payments-app"]}  # its own target OU
    assert set(by_ou[org.ous["nonprod"]]) == {org.accounts["nonprod-app"]}
    skipped = {a.id: a.why for a in lock.skipped_accounts}
    assert skipped == {
        org.accounts["prod-legacy"]: "excluded: backed up by its own plans",
        org.accounts["nonprod-closed"]: "status SUSPENDED",
        MANAGEMENT: "management account: backup policies and SCPs never govern it",
    }
    assert [(o.id, o.why) for o in lock.skipped_ous] == [(org.ous["prod-eu-sandbox"], "excluded: throw-away accounts")]
    assert org.accounts["sandbox-1"] not in lock.member_ids

    text = (org.tmp / "accounts.lock.yaml").read_text()
    assert text.startswith(accounts_lock.HEADER)
    document = yaml.safe_load(text)
    assert [ou["id"] for ou in document["target_ous"]] == sorted(ou["id"] for ou in document["target_ous"])
    for ou in document["target_ous"]:
        ids = [a["id"] for a in ou["accounts"]]
        assert ids == sorted(ids) and all(isinstance(i, str) for i in ids)


def test_small_pages_and_a_second_run_give_the_same_bytes(org: Org) -> None:
    config_path = org.config()
    config = load_config(config_path, with_accounts_file=False)
    paged = discover.discover(config, org.client, page_size=3).render()
    assert org.run(config_path) == 0
    assert (org.tmp / "accounts.lock.yaml").read_text() == paged
    assert org.run(config_path, check=True) == 0


def test_synth_config_takes_accounts_from_the_snapshot(org: Org) -> None:
    config_path = org.config()
    assert org.run(config_path) == 0
    config = load_config(config_path)
    assert len(config.member_accounts) == 48
    assert org.accounts["prod-legacy"] not in config.member_accounts
    assert MANAGEMENT not in config.member_accounts


def test_an_account_joining_makes_the_snapshot_stale_and_shows_in_the_diff(
    org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    config = org.config()
    assert org.run(config) == 0
    created = org.client.create_account(Email="new@example.com", AccountName="new")["CreateAccountStatus"]["AccountId"]
    org.client.move_account(AccountId=created, SourceParentId=org.root, DestinationParentId=org.ous["nonprod"])
    before = (org.tmp / "accounts.lock.yaml").read_text()
    capsys.readouterr()
    assert org.run(config, check=True) == discover.EXIT_STALE
    assert (org.tmp / "accounts.lock.yaml").read_text() == before  # --check never writes
    assert f"  + {created} (new member stack member-{created})" in capsys.readouterr().out
    assert org.run(config) == 0
    assert created in accounts_lock.load(org.tmp / "accounts.lock.yaml").member_ids


def test_a_vanished_ou_is_a_clear_error_and_the_old_snapshot_stays(org: Org) -> None:
    config = org.config()
    assert org.run(config) == 0
    before = (org.tmp / "accounts.lock.yaml").read_text()
    gone = "ou-zzzz-00000000"
    raw = yaml.safe_load(config.read_text())
    raw["target_ous"].append({"id": gone, "name": "gone"})
    config.write_text(dump_yaml(raw, sort_keys=False))
    organization = raw["organization"]["id"]
    with pytest.raises(InputError) as raised:
        org.run(config)
    assert raised.value.problems[0].render() == (
        f"target_ous[3].id: '{gone}' (gone) was not found in organization {organization}: it was deleted, or the id "
        "is wrong. Fix: correct the id or remove the OU from target_ous."
    )
    assert (org.tmp / "accounts.lock.yaml").read_text() == before
    assert [p.name for p in org.tmp.iterdir() if p.name.startswith(".")] == []


def test_credentials_of_another_organization_are_refused(org: Org) -> None:
    config = org.config(organization={"id": "o-another0001", "management_account_id": MANAGEMENT})
    with pytest.raises(InputError, match="these credentials belong to organization"):
        org.run(config)
    assert not (org.tmp / "accounts.lock.yaml").exists()


def test_a_denied_call_names_the_permission_and_writes_nothing(
    org: Org, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def denied(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeOrganizationalUnit")

    monkeypatch.setattr(org.client, "describe_organizational_unit", denied)
    assert org.run(org.config()) == discover.EXIT_AWS_ERROR
    assert "organizations:DescribeOrganizationalUnit failed with AccessDeniedException" in capsys.readouterr().err
    assert not (org.tmp / "accounts.lock.yaml").exists()


def test_discover_needs_accounts_file(org: Org) -> None:
    config = org.config(
        accounts_file=None,
        discovery={},
        target_ous=[{"id": org.ous["prod"], "name": "p", "accounts": ["111111111112"]}],
    )
    with pytest.raises(InputError, match="accounts_file: is not set"):
        org.run(config)


# Synth-side checks of the snapshot: backup.yaml and accounts.lock.yaml must agree, or synth stops.


def _snapshot(tmp: Path, **changes: Any) -> Path:
    lock: dict[str, Any] = {
        "organization_id": "o-minimal0001",
        "target_ous": [
            {
                "id": "ou-mini-00000001",
                "name": "only",
                "accounts": [{"id": "100000000004", "name": "a", "parent": "ou-mini-00000001"}],
            }
        ],
        "skipped_accounts": [],
        "skipped_ous": [],
    }
    lock.update(changes)
    (tmp / "accounts.lock.yaml").write_text(dump_yaml(lock))
    raw = yaml.safe_load(MINIMAL_CONFIG.read_text())
    del raw["target_ous"][0]["accounts"]
    raw["accounts_file"] = "accounts.lock.yaml"
    (tmp / "backup.yaml").write_text(dump_yaml(raw))
    return tmp / "backup.yaml"


def test_a_matching_snapshot_supplies_the_accounts(tmp_path: Path) -> None:
    assert load_config(_snapshot(tmp_path)).member_accounts == ("100000000004",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"organization_id": "o-other00001"},
            "organization_id: 'o-other00001' is not backup.yaml's organization.id 'o-minimal0001'",
        ),
        ({"target_ous": []}, "target_ous: 'ou-mini-00000001' is a target OU in backup.yaml but not in the snapshot"),
        (
            {
                "target_ous": [
                    {
                        "id": "ou-mini-00000001",
                        "name": "only",
                        "accounts": [{"id": "100000000001", "name": "m", "parent": "ou-mini-00000001"}],
                    }
                ]
            },
            "target_ous[0].accounts[0]: '100000000001' is the management account",
        ),
        (
            {
                "target_ous": [
                    {
                        "id": "ou-mini-00000001",
                        "name": "only",
                        "accounts": [{"id": "4", "name": "a", "parent": "ou-mini-00000001"}],
                    }
                ]
            },
            "target_ous[0].accounts[0].id: '4' is not an AWS account id (exactly 12 digits)",
        ),
    ],
)
def test_a_snapshot_that_disagrees_with_backup_yaml_stops_synth(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as raised:
        load_config(_snapshot(tmp_path, **changes))
    assert raised.value.source == str(tmp_path / "accounts.lock.yaml")
    assert message in raised.value.render()
    assert "python -m org_backup discover" in raised.value.render()


def test_a_missing_snapshot_says_how_to_make_one(tmp_path: Path) -> None:
    config = _snapshot(tmp_path)
    (tmp_path / "accounts.lock.yaml").unlink()
    with pytest.raises(InputError) as raised:
        load_config(config)
    assert raised.value.render() == (
        f"{tmp_path / 'accounts.lock.yaml'} has 1 problem:\n  - does not exist. Fix: run `python -m org_backup discover` "
        "(management-account credentials) and commit the result."
    )


def test_inline_accounts_and_a_snapshot_together_are_refused(tmp_path: Path) -> None:
    config = _snapshot(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["target_ous"][0]["accounts"] = ["100000000004"]
    config.write_text(dump_yaml(raw))
    with pytest.raises(
        InputError, match=r"target_ous\[0\]\.accounts \(line (\d+)\): is set, but so is accounts_file"
    ) as raised:
        load_config(config)
    line = int(re.search(r"\(line (\d+)\)", raised.value.render())[1])
    assert config.read_text().splitlines()[line - 1].strip().removeprefix("- ") == "accounts:"  # the list's own key


def test_plan_stage_hands_its_snapshot_to_deploy(org: Org, tmp_path: Path) -> None:
    """Plan writes the snapshot into its artifact too; Deploy installs that one rather than asking AWS again."""
    config = org.config()
    artifact = tmp_path / "plans" / "accounts.lock.yaml"
    assert discover.main(config, also_write=artifact, organizations=org.client) == 0
    planned = artifact.read_text()
    assert (org.tmp / "accounts.lock.yaml").read_text() == planned
    (org.tmp / "accounts.lock.yaml").unlink()  # a fresh checkout at Deploy: the committed snapshot may be older
    assert discover.main(config, from_file=artifact) == 0
    assert (org.tmp / "accounts.lock.yaml").read_text() == planned


def test_deploy_refuses_a_planned_snapshot_that_no_longer_fits_backup_yaml(org: Org, tmp_path: Path) -> None:
    config = org.config()
    artifact = tmp_path / "accounts.lock.yaml"
    assert discover.main(config, also_write=artifact, organizations=org.client) == 0
    raw = yaml.safe_load(config.read_text())
    raw["target_ous"] = raw["target_ous"][:1]
    config.write_text(dump_yaml(raw, sort_keys=False))
    with pytest.raises(InputError, match=r"is no longer a target OU in backup\.yaml"):
        discover.main(config, from_file=artifact)


def test_if_configured_makes_a_config_without_accounts_file_a_no_op(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import EXAMPLE_CONFIG

    assert discover.main(EXAMPLE_CONFIG, if_configured=True) == 0
    assert "accounts_file is not set" in capsys.readouterr().out


def test_errors_name_the_config_file(org: Org) -> None:
    config = org.config(organization={"id": "o-another0001", "management_account_id": MANAGEMENT})
    with pytest.raises(InputError) as raised:
        org.run(config)
    assert raised.value.source == str(config)
