"""A moto server on a free loopback port, and an organization in it shaped like the example config."""

from __future__ import annotations

import copy
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.session

PATCHED_SERVER = "tests.rehearsal.moto_server"  # moto_server plus documented fixes (see that module)
ROOT = Path(__file__).resolve().parents[2]
CA_BUNDLES: dict[str, str] = {}  # endpoint -> certificate of a TLS server started here


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server on a free 127.0.0.1 port, in its own process group so it can always be stopped whole.

    ``tls`` serves HTTPS with a self-signed certificate made for this run (``ca_bundle``: give it to clients as
    AWS_CA_BUNDLE or ``verify``): policies that deny requests without TLS (``aws:SecureTransport``, every
    org-backup bucket) then hold as in AWS, instead of denying every request to a plain-HTTP server.
    """

    def __init__(self, log: Path, *, tls: bool = False) -> None:
        port = _free_port()
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")  # so AWS managed policy ARNs can be attached
        command = [sys.executable, "-m", PATCHED_SERVER, "-H", "127.0.0.1", "-p", str(port)]
        self.ca_bundle: str | None = None
        context = None
        if tls:
            certificate, key = _self_signed_certificate(log.parent)
            command += ["-c", str(certificate), "-k", str(key)]
            self.ca_bundle = str(certificate)
            context = ssl.create_default_context(cafile=self.ca_bundle)
            CA_BUNDLES[f"https://127.0.0.1:{port}"] = self.ca_bundle
        with log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.ssl_context = context
        self.cpu_seconds: float | None = None  # the server's user + system CPU, read when it stops (Linux)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1, context=context):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not start; see {log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Idempotent: safe from a test's finally and again from pytest's clean-up after an interrupt."""
        if self.process.poll() is not None:
            return
        self.cpu_seconds = _cpu_seconds(self.process.pid)
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process (proc(5): fields 14 and 15 of /proc/<pid>/stat, in clock
    ticks), or None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key, written to ``directory``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moto rehearsal")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "moto-tls.crt", directory / "moto-tls.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificate_path, key_path


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Start moto's server on 127.0.0.1 and stop it by its process group, whatever happens."""
    server = MotoServer(log)
    try:
        yield server.url
    finally:
        server.stop()


def session(endpoint: str | None, **credentials: str) -> boto3.Session:
    """A boto3 session whose clients trust the server's certificate when it serves TLS."""
    core = botocore.session.Session()
    if endpoint in CA_BUNDLES:
        core.set_config_variable("ca_bundle", CA_BUNDLES[endpoint])
    return boto3.Session(botocore_session=core, **credentials)


def session_in(endpoint: str | None, account_id: str, role_name: str = "OrgBackupDeployRole") -> boto3.Session:
    """Credentials for ``account_id``: moto attributes an assumed role's calls to the role's account. Only while
    IAM is not enforced (moto then lets anyone assume any role, existing or not).

    ``endpoint`` None means in-process moto (``mock_aws``) rather than a moto server."""
    sts = session(endpoint, aws_access_key_id="test", aws_secret_access_key="test").client(
        "sts", endpoint_url=endpoint, region_name="us-east-1"
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName="seed")[
        "Credentials"
    ]
    return session(
        endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def seed_organization(endpoint: str | None, example: dict[str, Any], example_dir: Path) -> dict[str, Any]:
    """Create the example's organization in moto and return the example config with moto's ids.

    moto assigns organization, OU and account ids itself, so the structure (OUs, number of accounts, Regions,
    names, locks, guardrails) comes from the example and the ids from moto; every occurrence of an example id is
    replaced. The management account is the example's: it is the account that creates the organization. As the
    prerequisites org-backup documents (and ``doctor`` checks), both policy types are enabled on the root and
    trusted access for AWS Backup and for CloudFormation StackSets is on.
    """
    config = copy.deepcopy(example)
    ids: dict[str, str] = {}
    management = example["organization"]["management_account_id"]
    org = session_in(endpoint, management).client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    ids[example["organization"]["id"]] = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    for policy_type in ("SERVICE_CONTROL_POLICY", "BACKUP_POLICY"):
        org.enable_policy_type(RootId=root, PolicyType=policy_type)
    for principal in ("backup.amazonaws.com", "member.org.stacksets.cloudformation.amazonaws.com"):
        org.enable_aws_service_access(ServicePrincipal=principal)

    def new_account(name: str, parent: str) -> str:
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        account_id = status["AccountId"]
        if parent != root:
            org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=parent)
        return str(account_id)

    ids[example["central_backup"]["account_id"]] = new_account("central-backup", root)
    ids[example["pipeline"]["home_account_id"]] = new_account("pipeline-home", root)
    for ou in example["target_ous"]:
        ou_id = org.create_organizational_unit(ParentId=root, Name=ou["name"])["OrganizationalUnit"]["Id"]
        ids[ou["id"]] = ou_id
        for index, account in enumerate(ou["accounts"]):
            ids[account] = new_account(f"{ou['name']}-{index}", ou_id)
    if config.get("backup_plans_file"):
        config["backup_plans_file"] = str((example_dir / config["backup_plans_file"]).resolve())
    return _replace_ids(config, ids)


def warm_iam(endpoint: str, account_id: str) -> None:
    """Touch the account's IAM once, before Terraform does.

    With MOTO_IAM_LOAD_MANAGED_POLICIES, moto loads every AWS managed policy into an account on that account's first
    IAM call: ~1 s on an idle machine, many seconds under the suite's load. A CreateRole that raced that load was
    seen processed twice (the provider's retry answered 409 EntityAlreadyExists), failing an apply at random."""
    session_in(endpoint, account_id).client("iam", endpoint_url=endpoint, region_name="us-east-1").list_roles()


def _replace_ids(node: Any, ids: dict[str, str]) -> Any:
    """Every account id of the example by moto's: whole values, and the account field of ARNs (reviewers,
    guardrail administrators)."""
    if isinstance(node, dict):
        return {key: _replace_ids(value, ids) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_ids(value, ids) for value in node]
    if not isinstance(node, str):
        return node
    if node in ids:
        return ids[node]
    for old, new in ids.items():
        node = node.replace(f":{old}:", f":{new}:")
    return node
