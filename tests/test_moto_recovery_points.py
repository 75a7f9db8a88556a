"""The test server's recovery points (tests/rehearsal/moto_fixes.py, fix 19), read through boto3 as AWS answers:
StartBackupJob stores one in the vault, ListRecoveryPointsByBackupVault lists it, DescribeBackupVault counts it, and
DeleteBackupVault refuses the vault while it holds one ("A vault can be deleted only if it is empty": AWS Backup
API, DeleteBackupVault). The migration tier relies on them to show that retiring keeps every recovery point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.rehearsal.moto import MotoServer

pytestmark = pytest.mark.server


@pytest.fixture
def backup(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    server = MotoServer(tmp_path / "moto.log")
    try:
        kw = {
            "endpoint_url": server.url,
            "region_name": "eu-west-1",
            "aws_access_key_id": "x",
            "aws_secret_access_key": "x",
        }
        yield boto3.client("backup", **kw), boto3.client("kms", **kw)
    finally:
        server.stop()


def test_a_recovery_point_is_stored_listed_counted_and_keeps_its_vault_from_deletion(backup: tuple[Any, Any]) -> None:
    client, kms = backup
    key = kms.create_key(Description="vault key")["KeyMetadata"]["Arn"]
    client.create_backup_vault(BackupVaultName="kept", EncryptionKeyArn=key)
    client.create_backup_vault(BackupVaultName="empty", EncryptionKeyArn=key)
    resource = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"
    started = client.start_backup_job(
        BackupVaultName="kept", ResourceArn=resource, IamRoleArn="arn:aws:iam::123456789012:role/AWSBackupSolutionRole"
    )

    (point,) = client.list_recovery_points_by_backup_vault(BackupVaultName="kept")["RecoveryPoints"]
    assert (point["RecoveryPointArn"], point["ResourceArn"], point["Status"]) == (
        started["RecoveryPointArn"], resource, "COMPLETED",
    )  # fmt: skip
    assert point["EncryptionKeyArn"] == key
    assert client.describe_backup_vault(BackupVaultName="kept")["NumberOfRecoveryPoints"] == 1
    with pytest.raises(ClientError) as refused:
        client.delete_backup_vault(BackupVaultName="kept")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert client.list_recovery_points_by_backup_vault(BackupVaultName="empty")["RecoveryPoints"] == []
    client.delete_backup_vault(BackupVaultName="empty")  # control: an empty vault is deleted
    names = [v["BackupVaultName"] for v in client.list_backup_vaults()["BackupVaultList"]]
    assert names == ["kept"]
