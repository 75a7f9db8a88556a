"""The test server's fault injection (tests/rehearsal/moto_faults.py) produces faults a real AWS SDK treats as AWS's
own: botocore (standard retry mode, as the AWS SDKs and Tools Reference Guide's "Retry behavior" describes it:
throttling error codes and 5xx are retried) retries each faulted call of four protocols and succeeds, the call
carried out once. The deploy through the Terraform AWS provider's retries is rehearsed in make test-migration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from tests.rehearsal.moto_faults import InjectFaults

pytestmark = pytest.mark.server  # a moto server, in this process


@pytest.fixture()
def server(capfd: pytest.CaptureFixture[str]) -> Iterator[tuple[str, InjectFaults]]:
    app = InjectFaults(DomainDispatcherApplication(create_backend_app))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", app
    finally:
        httpd.shutdown()


def _client(endpoint: str, service: str, attempts: int = 3) -> Any:
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="AKIAFAULTS",
        aws_secret_access_key="secret",
        config=config,
    )


def test_every_call_faulted_once_succeeds_through_the_sdks_retries(
    server: tuple[str, InjectFaults], capfd: pytest.CaptureFixture[str]
) -> None:
    endpoint, app = server
    app.every = 1  # every first attempt: throttling and server errors in turn
    kms, iam, s3 = _client(endpoint, "kms"), _client(endpoint, "iam"), _client(endpoint, "s3")
    backup = _client(endpoint, "backup")
    key = kms.create_key()["KeyMetadata"]["KeyId"]  # JSON: throttled
    iam.create_role(RoleName="faulted", AssumeRolePolicyDocument="{}")  # query: server error
    s3.create_bucket(Bucket="faulted", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})  # S3: throttled
    backup.create_backup_vault(BackupVaultName="faulted")  # REST-JSON: server error
    backup.list_backup_vaults()  # REST-JSON: throttled
    iam.list_roles()  # query: server error... and so on
    app.every = 0
    assert [k["KeyId"] for k in _client(endpoint, "kms").list_keys()["Keys"]] == [key]  # created once
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["faulted"]
    assert [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]] == ["faulted"]
    log = capfd.readouterr().err
    for kind in ("throttling (json)", "server error (query)", "throttling (s3)", "server error (rest-json)"):
        assert f"moto_faults: {kind}" in log, log


def test_the_query_protocols_throttling_is_retried(
    server: tuple[str, InjectFaults], capfd: pytest.CaptureFixture[str]
) -> None:
    endpoint, app = server
    app.every = 1
    _client(endpoint, "iam").list_roles()
    assert "moto_faults: throttling (query)" in capfd.readouterr().err


def test_without_retries_each_fault_reaches_the_caller_as_the_error_aws_would_send(
    server: tuple[str, InjectFaults],
) -> None:
    """With one attempt, botocore parses each protocol's fault into the code and status AWS documents for it: the
    JSON and query protocols' throttling and unavailable errors (AWS common errors: ThrottlingException 400,
    ServiceUnavailable 503), S3's "SlowDown", 503 (Amazon S3 API Reference, "Error responses"), and a REST-JSON
    service's TooManyRequestsException, 429 (Lambda's throttling answer: AWS Lambda API Reference, CreateFunction
    "Errors"; AWS Backup lists ThrottlingException, 400, among its "Common Errors": both codes are in the SDKs'
    throttling list). Faults alternate, throttling first."""
    endpoint, app = server
    app.every = 1
    calls = [
        (lambda: _client(endpoint, "kms", attempts=1).list_keys(), "ThrottlingException", 400),
        (lambda: _client(endpoint, "sts", attempts=1).get_caller_identity(), "ServiceUnavailable", 503),
        (lambda: _client(endpoint, "s3", attempts=1).list_buckets(), "SlowDown", 503),
        (lambda: _client(endpoint, "iam", attempts=1).list_roles(), "ServiceUnavailable", 503),
        (lambda: _client(endpoint, "backup", attempts=1).list_backup_vaults(), "TooManyRequestsException", 429),
    ]
    for call, code, status in calls:
        with pytest.raises(ClientError) as raised:
            call()
        answer = raised.value.response
        assert (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
