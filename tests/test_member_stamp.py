"""Member stacks written from their shape (org_backup/synth/member_stamp.py) are the files CDKTF writes for them: an
organization with a central account that is also a member, an excluded account, three OUs with different plans and
several accounts per shape is synthesized both ways and every file compared; a shape that hides a per-account
difference, and a template whose account id is not only in strings, are refused."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from org_backup.config.loader import load_config
from org_backup.config.yaml_io import dump_yaml
from org_backup.synth import member_stamp
from org_backup.synth.inputs import Inputs
from tests.conftest import ROOT

CENTRAL = "222222222222"
PROD = ["700000000001", CENTRAL, "700000000002", "700000000003", "700000000004"]
NONPROD = ["700000000011", "700000000012", "700000000013"]
SANDBOX = ["700000000021", "700000000022", "700000000023", "700000000024"]
EXCLUDED = "700000000099"
PLANS = {
    "plans": {
        "Daily": {
            "policy_name": "org-daily",
            "target_ous": ["ou-ab12-prod0001", "ou-ab12-nonprod01"],
            "rules": {
                "Nightly": {
                    "schedule": "cron(0 3 ? * * *)",
                    "start_window_minutes": 60,
                    "complete_window_minutes": 600,
                    "lifecycle": {"delete_after_days": 35},
                    "copy_to_central": {"lifecycle": {"delete_after_days": 35}},
                }
            },
            "selections": {"Tagged": {"tag_key": "backup", "tag_values": ["daily"]}},
        },
        "Indexed": {
            "policy_name": "org-sandbox-indexed",
            "target_ous": ["ou-ab12-sandbox01"],
            "rules": {
                "Weekly": {
                    "schedule": "cron(0 4 ? * 1 *)",
                    "start_window_minutes": 60,
                    "complete_window_minutes": 600,
                    "lifecycle": {"delete_after_days": 14},
                    "index_actions": ["EBS"],
                }
            },
            "selections": {"Tagged": {"tag_key": "backup", "tag_values": ["weekly"]}},
        },
    }
}


def _organization(directory: Path) -> Path:
    raw = yaml.safe_load((ROOT / "backup.yaml").read_text())
    ous = [
        ("ou-ab12-prod0001", "workloads-prod", PROD),
        ("ou-ab12-nonprod01", "workloads-nonprod", NONPROD),
        ("ou-ab12-sandbox01", "sandbox", SANDBOX),
    ]
    raw["target_ous"] = [{"id": ou, "name": name} for ou, name, _ in ous]
    raw["accounts_file"] = "accounts.lock.yaml"
    raw["discovery"] = {"exclude_accounts": [{"id": EXCLUDED, "reason": "protected by its own backup plans"}]}
    raw["backup_plans_file"] = "plans.yaml"
    # The example's restore tests name resources of its own member accounts, not of this organization's (and an
    # account a config names gets a shape of its own): here they test any resource of their type.
    for selection in raw["restore_testing"]["selections"]:
        selection["protected_resource_arns"] = ["*"]
    lock = {
        "organization_id": raw["organization"]["id"],
        "target_ous": [
            {"id": ou, "name": name, "accounts": [{"id": a, "name": f"acct-{a}", "parent": ou} for a in accounts]}
            for ou, name, accounts in ous
        ],
        "skipped_accounts": [
            {"id": EXCLUDED, "name": "legacy", "parent": "ou-ab12-prod0001", "why": "excluded: its own plans"}
        ],
        "skipped_ous": [],
    }
    (directory / "accounts.lock.yaml").write_text(dump_yaml(lock, sort_keys=False))
    (directory / "plans.yaml").write_text(dump_yaml(PLANS, sort_keys=False))
    path = directory / "backup.yaml"
    path.write_text(dump_yaml(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def organization(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _organization(tmp_path_factory.mktemp("stamp-org"))


def _synth(config: Path, outdir: Path, *, stamping: bool) -> list[str]:
    from stacks.app import synthesize
    from stacks.common import SynthOptions

    return synthesize(inputs=Inputs.load(config), outdir=outdir, options=SynthOptions(), stamping=stamping)


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_the_shapes_group_accounts_by_ou_and_by_where_the_config_names_them(organization: Path) -> None:
    config = load_config(organization)
    assert [(s.ou_id, s.accounts) for s in member_stamp.shapes(config)] == [
        ("ou-ab12-prod0001", [PROD[0], *PROD[2:]]),
        ("ou-ab12-prod0001", [CENTRAL]),
        ("ou-ab12-nonprod01", NONPROD),
        ("ou-ab12-sandbox01", SANDBOX),
    ]
    assert member_stamp.relations(config, CENTRAL) == (
        "central_backup.account_id",
        "guardrails.administrators[1]",
        "monitoring_account_id",
        "organization.backup_delegated_admin_account_id",
    )
    assert EXCLUDED not in config.member_accounts


@pytest.mark.slow
def test_stamped_member_stacks_are_byte_identical_to_cdktfs(organization: Path, tmp_path: Path) -> None:
    stamped_names = _synth(organization, tmp_path / "stamped", stamping=True)
    plain_names = _synth(organization, tmp_path / "plain", stamping=False)
    assert stamped_names == plain_names
    assert {f"member-{a}" for a in PROD + NONPROD + SANDBOX} <= set(plain_names)
    stamped, plain = tmp_path / "stamped", tmp_path / "plain"
    files = _files(plain)
    assert _files(stamped) == files
    assert "stacks/member-700000000004/cdk.tf.json" in files  # written from its shape, not by CDKTF
    _, mismatch, errors = filecmp.cmpfiles(stamped, plain, files, shallow=False)
    assert (mismatch, errors) == ([], [])

    # The function zip of an account written from its shape is the first representative's file, not a copy.
    def inode(account: str) -> int:
        (path,) = (stamped / "stacks" / f"member-{account}").glob("assets/*/*/*.zip")
        return os.stat(path).st_ino

    assert inode(PROD[0]) == inode(PROD[3]) == inode(PROD[4]) != inode(PROD[2])


@pytest.mark.slow
def test_a_shape_that_hides_a_per_account_difference_is_refused(
    organization: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The central account's stack differs from other members' (its own vault is central, it forwards no job
    failures); grouped with them by a wrong shape key, the second representative's check catches it."""
    from stacks.app import SynthError

    real = member_stamp.shapes

    def merged(config: Any) -> list[member_stamp.Shape]:
        found = real(config)
        found[0].accounts = [CENTRAL, *found[0].accounts]
        return [s for s in found if s.accounts != [CENTRAL]]

    monkeypatch.setattr(member_stamp, "shapes", merged)
    outdir = tmp_path / "out"
    with pytest.raises(SynthError) as raised:
        _synth(organization, outdir, stamping=True)
    assert str(raised.value).startswith(
        f"member-{CENTRAL} and member-{PROD[0]} are of one shape (OU ou-ab12-prod0001, the same relations in the "
        "config) but differ in more than their account id, line "
    )
    assert not outdir.exists()  # nothing half-written


@pytest.mark.slow
def test_representatives_with_different_asset_files_are_refused(
    organization: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stamping copies a representative's asset files to every account of its shape, so two representatives whose
    assets differ (e.g. a function zip built per account) must stop the synth rather than copy the wrong one."""
    from stacks.app import SynthError

    real = member_stamp._other_files
    calls: list[Path] = []

    def differing(stack_dir: Path) -> dict[str, bytes]:
        calls.append(stack_dir)
        files = real(stack_dir)
        return files if len(calls) % 2 else {**files, "assets/extra": b"per-account"}

    monkeypatch.setattr(member_stamp, "_other_files", differing)
    outdir = tmp_path / "out"
    with pytest.raises(SynthError, match="have different asset files, which stamping copies unchanged"):
        _synth(organization, outdir, stamping=True)
    assert not outdir.exists()  # nothing half-written


def test_an_account_id_outside_a_json_string_is_refused() -> None:
    with pytest.raises(member_stamp.StampError) as raised:
        member_stamp.Template.of('{"a": "700000000001", "b": 700000000001}', "700000000001", what="member-x")
    assert "also occurs outside a JSON string or inside a longer number" in str(raised.value)
    with pytest.raises(member_stamp.StampError):
        member_stamp.Template.of('{"a": "700000000001", "n": "17000000000012"}', "700000000001", what="member-x")
    text = '{"a": "arn:aws:iam::700000000001:root", "member-700000000001": ["700000000001"]}'
    template = member_stamp.Template.of(text, "700000000001", what="member-x")
    assert template.fill("123456789012") == text.replace("700000000001", "123456789012")


def test_main_refuses_an_unknown_stamping_switch(organization: Path) -> None:
    import subprocess
    import sys

    env = dict(os.environ, BACKUP_CONFIG=str(organization), ORG_BACKUP_MEMBER_STAMPING="no")
    result = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "ORG_BACKUP_MEMBER_STAMPING='no' is not 'off'. Fix: unset it or set it to off." in result.stderr
