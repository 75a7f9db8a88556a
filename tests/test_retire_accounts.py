"""Retiring an account that left the target OUs (issue 29, ``retired_accounts``, org_backup/ops/retire_accounts.py).

The oracle for what a state holds is Terraform's state format as Terraform writes it (version 4: ``resources``, each
with ``mode``, ``type``, ``name``, ``provider`` and ``instances[].attributes``), hand-written below for a member
stack of two vaults and keys; for what retiring may touch, the issue: the state is released, nothing in the account
changes, and a retry after a failure at any step finishes the job. Against the test server, with the pipeline's
plan and deploy builders: ``make test-migration`` (tests/rehearsal/test_migration.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from org_backup import __main__ as main_module
from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from org_backup.config.model import BackupConfig
from org_backup.ops import retire_accounts
from org_backup.synth import incremental
from tests.conftest import FIXTURES

RAW: dict[str, Any] = yaml.safe_load((FIXTURES / "retired_region.yaml").read_text())
GONE = "100000000005"  # was a member account, deployed, then left the target OUs
STACK = f"member-{GONE}"
ARN = "arn:aws:{service}:{region}:" + GONE + ":{what}"


def _config(**changes: Any) -> BackupConfig:
    raw = copy.deepcopy(RAW)
    raw.update(changes)
    return config_from_dict(raw, source="backup.yaml")


def _state() -> bytes:
    """A member stack's state, two Regions, as Terraform 1.11 writes it (trimmed to the fields read)."""
    resources = []
    for region in ("us-east-1", "eu-west-1"):
        provider = f'provider["registry.terraform.io/hashicorp/aws"].{region}'
        vault = ARN.format(service="backup", region=region, what="backup-vault:org-backup-vault")
        key = ARN.format(service="kms", region=region, what=f"key/{region}-key-id")
        resources += [
            {"mode": "managed", "type": "aws_backup_vault", "name": f"vault_{region}", "provider": provider,
             "instances": [{"attributes": {"arn": vault, "id": "org-backup-vault"}}]},
            {"mode": "managed", "type": "aws_kms_key", "name": f"key_{region}", "provider": provider,
             "instances": [{"attributes": {"arn": key, "id": f"{region}-key-id"}}]},
            {"mode": "managed", "type": "aws_kms_alias", "name": f"alias_{region}", "provider": provider,
             "instances": [{"attributes": {"arn": "alias-arn", "id": "alias/org-backup"}}]},
            {"mode": "data", "type": "aws_caller_identity", "name": f"me_{region}", "provider": provider,
             "instances": [{"attributes": {"account_id": GONE}}]},
        ]  # fmt: skip
    resources.append(
        {"mode": "managed", "type": "aws_iam_role", "name": "backup_role", "provider": provider,
         "instances": [{"attributes": {"arn": f"arn:aws:iam::{GONE}:role/org-backup-role", "id": "r"}}]}
    )  # fmt: skip
    return json.dumps({"version": 4, "terraform_version": "1.11.4", "serial": 7, "resources": resources}).encode()


class MemoryStore:
    """The StateStore protocol in memory, able to fail once at a chosen step (an interrupted deploy)."""

    def __init__(
        self, state: bytes | None, *, locked: bool = False, fail_at: str = "", copy: bytes | None = None
    ) -> None:
        self.state, self.copy, self.is_locked, self.fail_at = state, copy, locked, fail_at
        self.garbles = False  # a copy that does not read back as written

    def _step(self, name: str) -> None:
        if self.fail_at == name:
            self.fail_at = ""
            raise RuntimeError(f"interrupted at {name}")

    def read(self, stack: str) -> bytes | None:
        return self.state

    def archived(self, stack: str) -> bytes | None:
        return self.copy

    def archive(self, stack: str, body: bytes) -> None:
        self._step("archive")
        self.copy = body[:-1] if self.garbles else body

    def delete(self, stack: str) -> None:
        self._step("delete")
        self.state = None

    def locked(self, stack: str) -> bool:
        return self.is_locked

    def describe(self, stack: str) -> str:
        return f"memory:{stack}"


def test_a_retired_account_that_is_still_a_member_is_refused_naming_the_field() -> None:
    member = RAW["target_ous"][0]["accounts"][0]
    with pytest.raises(InputError) as raised:
        _config(retired_accounts=[member])
    text = raised.value.render()
    assert "retired_accounts[0]" in text
    assert f"'{member}' is still a member account of a target OU" in text
    assert "Fix: remove it from retired_accounts, or move the account out of the target OUs" in text


def test_a_retired_account_listed_twice_is_refused() -> None:
    with pytest.raises(InputError) as raised:
        _config(retired_accounts=[GONE, GONE])
    assert f"retired_accounts[1]: '{GONE}' is listed twice" in raised.value.render()


def test_a_deployed_member_stack_whose_account_left_is_refused_until_confirmed() -> None:
    refusals, retiring = retire_accounts.check(_config(), [STACK], MemoryStore(_state()))
    assert retiring == {}
    assert len(refusals) == 1
    assert refusals[0].startswith(f"{STACK}: deployed, but account {GONE} is no longer in the target OUs")
    assert "Fix: list it in retired_accounts" in refusals[0]


def test_stacks_other_than_member_stacks_are_not_retired_here() -> None:
    """``management`` stops being synthesized when policies move to a delegated account (its own migration)."""
    assert retire_accounts.check(_config(), ["management"], MemoryStore(None)) == ([], {})


def test_once_confirmed_the_plan_names_every_vault_and_key_kept_and_counts_the_rest() -> None:
    refusals, retiring = retire_accounts.check(_config(retired_accounts=[GONE]), [STACK], MemoryStore(_state()))
    assert refusals == []
    assert retiring == {
        STACK: [
            f"aws_backup_vault arn:aws:backup:eu-west-1:{GONE}:backup-vault:org-backup-vault",
            f"aws_backup_vault arn:aws:backup:us-east-1:{GONE}:backup-vault:org-backup-vault",
            f"aws_kms_key arn:aws:kms:eu-west-1:{GONE}:key/eu-west-1-key-id",
            f"aws_kms_key arn:aws:kms:us-east-1:{GONE}:key/us-east-1-key-id",
            "and 1 aws_iam_role, 2 aws_kms_alias",  # data sources are not resources kept in AWS
        ]
    }
    summary = "\n".join(retire_accounts.summary(retiring))
    assert f"- `{STACK}`" in summary
    assert f"  - aws_kms_key arn:aws:kms:us-east-1:{GONE}:key/us-east-1-key-id" in summary


def _records(tmp_path: Path) -> incremental.LocalRecords:
    records = incremental.LocalRecords(tmp_path / "deployed")
    records.write({STACK: "a" * 64, "central-backup": "b" * 64})
    return records


def test_the_deploy_archives_the_state_then_deletes_it_then_forgets_the_record(tmp_path: Path) -> None:
    config, store, records = _config(retired_accounts=[GONE]), MemoryStore(_state()), _records(tmp_path)
    _, retiring = retire_accounts.check(config, [STACK], store)
    problems, notes = retire_accounts.apply(config, retiring, ["central-backup"], store, records)
    assert problems == []
    assert store.copy == _state()
    assert store.state is None
    assert records.read() == {"central-backup": "b" * 64}
    assert notes[0] == f"{STACK}: retired; its state is kept at memory:{STACK}; in AWS it keeps:"
    assert notes[1:] == [f"  {line}" for line in retiring[STACK]]
    # Nothing is gone any more: the next plan neither refuses nor retires it.
    gone = incremental.compare({"central-backup": "b" * 64}, records.read()).gone
    assert retire_accounts.check(config, gone, store) == ([], {})
    # The same approved list applied twice (a re-run of the Deploy stage): nothing more happens, and it says so.
    again = retire_accounts.apply(config, retiring, ["central-backup"], store, records)
    assert again == ([], [f"{STACK}: already released (its state, if it had one, is at memory:{STACK})"])
    assert store.copy == _state()


@pytest.mark.parametrize("step", ["archive", "delete"])
def test_a_deploy_interrupted_at_any_step_is_finished_by_the_next(tmp_path: Path, step: str) -> None:
    config, store, records = _config(retired_accounts=[GONE]), MemoryStore(_state(), fail_at=step), _records(tmp_path)
    _, retiring = retire_accounts.check(config, [STACK], store)
    with pytest.raises(RuntimeError):
        retire_accounts.apply(config, retiring, [], store, records)
    assert STACK in records.read()  # still gone, so the next plan retires it again
    assert store.copy == _state() or store.state == _state()  # the state exists somewhere at every moment
    _, retiring = retire_accounts.check(config, incremental.compare({}, records.read()).gone, store)
    assert retire_accounts.apply(config, retiring, [], store, records)[0] == []
    assert (store.copy, store.state, STACK in records.read()) == (_state(), None, False)


def test_a_deploy_interrupted_before_forgetting_the_record_is_finished_by_the_next(tmp_path: Path) -> None:
    """The state is archived and deleted, then the run dies before the record goes: the account is still "gone",
    the next plan lists it again (nothing left to list as kept), and the next deploy forgets the record."""
    config, store, records = _config(retired_accounts=[GONE]), MemoryStore(_state()), _records(tmp_path)

    def dies(self: incremental.LocalRecords, stacks: Iterable[str]) -> None:
        raise RuntimeError("interrupted at forget")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(incremental.LocalRecords, "forget", dies)
        with pytest.raises(RuntimeError):
            retire_accounts.apply(config, {STACK: []}, [], store, records)
    assert (store.copy, store.state, STACK in records.read()) == (_state(), None, True)
    _, retiring = retire_accounts.check(config, incremental.compare({}, records.read()).gone, store)
    assert STACK in retiring
    problems, notes = retire_accounts.apply(config, retiring, [], store, records)
    assert problems == [] and notes == [f"{STACK}: already released (its state, if it had one, is at memory:{STACK})"]
    assert STACK not in records.read() and store.copy == _state()


def test_a_copy_that_does_not_read_back_keeps_the_state_and_the_record(tmp_path: Path) -> None:
    config, store, records = _config(retired_accounts=[GONE]), MemoryStore(_state()), _records(tmp_path)
    store.garbles = True
    problems, _ = retire_accounts.apply(config, {STACK: []}, [], store, records)
    assert problems == [f"{STACK}: the state's copy at memory:{STACK} does not read back; kept."]
    assert (store.state, STACK in records.read()) == (_state(), True)


def test_an_earlier_retirements_copy_is_never_overwritten(tmp_path: Path) -> None:
    """The account was retired once, came back, and is retired again: its first archive stays, and the fix says how
    to keep both. A copy equal to the state (a run interrupted after archiving) is not this case: it goes on."""
    earlier = b'{"version": 4, "serial": 1, "resources": []}'
    config, records = _config(retired_accounts=[GONE]), _records(tmp_path)
    store = MemoryStore(_state(), copy=earlier)
    problems, _ = retire_accounts.apply(config, {STACK: []}, [], store, records)
    assert problems == [
        f"{STACK}: an earlier retirement's state is at memory:{STACK}; this one would replace it. Fix: move that "
        "object aside (aws s3 mv it to a dated name), then run the Deploy stage again."
    ]
    assert (store.copy, store.state, STACK in records.read()) == (earlier, _state(), True)
    store.copy = None  # moved aside
    assert retire_accounts.apply(config, {STACK: []}, [], store, records)[0] == []
    assert (store.copy, store.state) == (_state(), None)


def test_the_command_needs_its_stage(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m org_backup retire-accounts` names --plan or --deploy; never a silent run of neither."""
    with pytest.raises(SystemExit) as exited:
        main_module.main(["retire-accounts"])
    assert exited.value.code == 2
    assert "one of the arguments --plan --deploy is required" in capsys.readouterr().err


def test_a_locked_state_is_left_alone(tmp_path: Path) -> None:
    config, store, records = _config(retired_accounts=[GONE]), MemoryStore(_state(), locked=True), _records(tmp_path)
    problems, _ = retire_accounts.apply(config, {STACK: []}, [], store, records)
    assert problems == [f"{STACK}: its state is locked (a deploy is running). Fix: wait for it, run again."]
    assert (store.copy, store.state, STACK in records.read()) == (None, _state(), True)


def test_the_deploy_retires_nothing_the_configuration_no_longer_retires(tmp_path: Path) -> None:
    """The approved plan's list and the configuration disagree (say the account came back): nothing changes."""
    store, records = MemoryStore(_state()), _records(tmp_path)
    problems, _ = retire_accounts.apply(_config(), {STACK: []}, [], store, records)
    assert problems[0].startswith(f"{STACK}: the approved plan retires it, but the configuration no longer does")
    assert (store.copy, store.state, STACK in records.read()) == (None, _state(), True)


def test_the_s3_store_keeps_the_copy_beside_the_states_and_deletes_only_the_stacks_own() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for key in (f"org-backup/{STACK}.tfstate", "org-backup/central-backup.tfstate"):
            s3.put_object(Bucket="state", Key=key, Body=_state())
        records = incremental.S3Records(s3, "state", "org-backup/deployed")
        records.write({STACK: "a" * 64, "central-backup": "b" * 64})
        store = retire_accounts.S3StateStore(s3, "state", "org-backup")
        assert not store.locked(STACK)
        config = _config(retired_accounts=[GONE])
        _, retiring = retire_accounts.check(config, [STACK], store)
        assert retire_accounts.apply(config, retiring, ["central-backup"], store, records)[0] == []
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="state")["Contents"])
        assert keys == [
            "org-backup/central-backup.tfstate",
            "org-backup/deployed/central-backup.sha256",
            f"org-backup/retired/{STACK}.tfstate",
        ]
        body = s3.get_object(Bucket="state", Key=f"org-backup/retired/{STACK}.tfstate")["Body"].read()
        assert body == _state()
        # The lock object a running apply writes (Terraform's LockInfo JSON, as tests/test_state_locks.py reads it
        # from a real apply): the same reading as make deploy's lock check (org_backup/ops/state_locks.py).
        lock = {"ID": "3f1c0c0e-5b2a-4d7e-9c55-1d2f3a4b5c6d", "Operation": "OperationTypeApply", "Info": "",
                "Who": "root@codebuild", "Version": "1.11.4", "Created": "2026-12-04T10:00:00.123456789Z",
                "Path": f"state/org-backup/{STACK}.tfstate"}  # fmt: skip
        s3.put_object(Bucket="state", Key=f"org-backup/{STACK}.tfstate.tflock", Body=json.dumps(lock).encode())
        assert store.locked(STACK)


def test_with_local_state_the_folder_synth_kept_is_the_archive(tmp_path: Path) -> None:
    """Synth moves a no-longer-synthesized stack with local state to cdktf.out/retired-stacks/ (org_backup/synth/output.py)."""
    folder = tmp_path / "retired-stacks" / STACK
    folder.mkdir(parents=True)
    (folder / "terraform.tfstate").write_bytes(_state())
    store, records = retire_accounts.LocalStateStore(tmp_path), _records(tmp_path)
    config = _config(retired_accounts=[GONE])
    _, retiring = retire_accounts.check(config, [STACK], store)
    assert retiring[STACK][0] == f"aws_backup_vault arn:aws:backup:eu-west-1:{GONE}:backup-vault:org-backup-vault"
    assert retire_accounts.apply(config, retiring, [], store, records)[0] == []
    assert (folder / "terraform.tfstate").read_bytes() == _state()
    assert STACK not in records.read()
