"""The rehearsal: the whole first deployment, offline, through the entry points a user and the pipeline use, as the
principals that run them, against a moto server that enforces IAM (tests/rehearsal/moto_iam.py, moto_authz.py).

1. A moto organization shaped like the example (one member account per OU, two of its three Regions), trusted
   access and policy types on; an administrator user in the management, home and central accounts, as AWS
   profiles.
2. IAM enforcement on. ``make bootstrap`` with one profile per account: prerequisites, state bucket, deploy and
   plan roles, pipeline (its state in the S3 bucket of step 2).
3. The pipeline's Plan stage: ``make plan`` with the plan builder's credentials (the role CodeBuild would run it
   as): every deployable stack is new, so every one is planned with the read-only plan roles.
4. The Deploy stage: ``make deploy`` with the deploy builder's credentials, phase 1, 2, 3 with the pinned cdktf CLI;
   phase 1's StackSet (moto deploys its template) gives the member accounts their deploy roles.
5. ``make readiness`` as the plan builder, over workloads seeded in a member account (one at risk).
6. Again: ``make plan`` finds nothing changed; ``terraform plan`` of every stack shows no changes; ``make bootstrap``
   skips every step.
7. Negative controls (tests/rehearsal/controls.py), then tear-down in reverse order (deploy builder, then
   administrators).

Everything runs in a scratch copy of the repository (build/rehearsal/repo) with this checkout's .venv and
node_modules linked in, so cdktf.out and build/ here are never touched. Every request is authorized as AWS documents
it (tests/rehearsal/moto_authz.py); what that still does not model is listed there and in docs/testing.md ("Rehearsal").
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from org_backup.config.model import Names
from org_backup.config.paths import BUILD_DIR, PROJECT_ROOT
from org_backup.config.yaml_io import dump_yaml
from org_backup.ops.terraform import TerraformEnv
from tests.conftest import EXAMPLE_CONFIG
from tests.rehearsal import controls
from tests.rehearsal.moto import CA_BUNDLES, MotoServer, seed_organization, session, session_in, warm_iam

ADMIN = "org-backup-admin"  # an administrator user in each account bootstrap touches, as the README assumes
DEPLOYABLE = ("management", "backup-policies", "central-backup")


@dataclass
class Step:
    name: str
    seconds: float
    returncode: int
    output: str


@dataclass
class Rehearsal:
    endpoint: str
    config: dict[str, Any]
    repo: Path
    steps: dict[str, Step] = field(default_factory=dict)
    planned: dict[str, list[str]] = field(default_factory=dict)  # step -> the stacks `make plan` found changed
    verified: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)  # stack -> terraform plan -detailed-exitcode after deploy
    state_after_destroy: dict[str, list[str]] = field(default_factory=dict)
    negative: dict[str, str] = field(default_factory=dict)
    seeded: dict[str, str] = field(default_factory=dict)  # what _seed_workloads made, for the readiness step
    failure: str | None = None
    seconds: float = 0.0
    server_cpu_seconds: float | None = None  # the moto server's CPU over the whole run: its share of the critical path
    log: list[str] = field(default_factory=list)

    @property
    def members(self) -> list[str]:
        return [a for ou in self.config["target_ous"] for a in ou["accounts"]]

    def deployable(self) -> list[str]:
        return [*DEPLOYABLE, *(f"member-{a}" for a in self.members)]


class ProgressLog:
    """Progress lines on the terminal (a copy of stderr taken before pytest captures it), kept for the report."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._last_write = 0.0

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        elapsed = int(now - self.started)
        line = f"[rehearsal {elapsed // 60}:{elapsed % 60:02d}] {message}"
        with self._lock:
            self.lines.append(line)
            lead = "" if now - self._last_write < 1 else "\n"  # pytest may have written test dots since
            self._last_write = now
            if self.fd is not None:
                try:
                    os.write(self.fd, f"{lead}{line}\n".encode())
                except OSError:  # the session ended under us (interrupted): the report still gets the line
                    self.fd = None


def scratch_repository(target: Path) -> Path:
    """The repository's files as they are in the working tree (tracked and new, not ignored), mtimes kept so make
    sees the environment as installed; .venv and node_modules linked, not copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for linked in (".venv", "node_modules"):
        (target / linked).symlink_to(PROJECT_ROOT / linked)
    return target


def _rehearsal_example() -> dict[str, Any]:
    """The example, with one member account per OU and two of its three Regions: enough to show every kind of
    stack, per-Region resources and Region-local copies; each more account or Region is one more of the same shape
    (~15 s of CPU each in Terraform, its provider and moto)."""
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    for ou in example["target_ous"]:
        ou["accounts"] = ou["accounts"][:1]
    example["target_regions"] = example["target_regions"][:2]
    # moto 5.2.5 has neither the restore testing API (Create/Get/DeleteRestoreTestingPlan, ...) nor AWS Backup Audit
    # Manager frameworks (CreateFramework, ...): the restore testing plan, its selections, the validation function
    # and the frameworks are synthesized and pass terraform validate and checkov, but are not applied here. The
    # report plans and their bucket are (moto has Create/Describe/DeleteReportPlan).
    example.pop("restore_testing", None)
    example["audit"]["frameworks"]["enabled"] = False
    # The guardrails' administrators are the principals that run `make bootstrap` here: the administrator users.
    home, central = example["pipeline"]["home_account_id"], example["central_backup"]["account_id"]
    example["guardrails"]["administrators"] = [f"arn:aws:iam::{a}:user/{ADMIN}" for a in (home, central)]
    return example


def _set_auth(endpoint: str, value: str) -> None:
    """moto's runtime switch: "0" enforces IAM from now on, "inf" never does."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=value.encode(), headers={"Content-Type": "text/plain"}, method="POST"
    )
    context = ssl.create_default_context(cafile=CA_BUNDLES[endpoint]) if endpoint in CA_BUNDLES else None
    with urllib.request.urlopen(request, timeout=10, context=context):
        pass


class RehearsalJob:
    extra_members: tuple[str, ...] = ()  # member accounts added to the last target OU (a job that needs more)

    def __init__(self, workdir: Path, terminal_fd: int | None) -> None:
        self.workdir = workdir
        self.progress = ProgressLog(terminal_fd)
        self._server: MotoServer | None = None
        self._thread: threading.Thread | None = None
        self._result: Rehearsal | None = None

    # -- set-up (pytest's thread) -------------------------------------------------------------------------------
    def prepare(self) -> Rehearsal:
        """A scratch repository, a moto server (stopped again if seeding fails) holding the example's organization,
        whose state goes to the bucket bootstrap-home creates."""
        repo = scratch_repository(self.workdir / "repo")
        self._server = MotoServer(self.workdir / "moto.log", tls=True)
        try:
            example = _rehearsal_example()
            example["target_ous"][-1]["accounts"] += self.extra_members
            config = seed_organization(self._server.url, example, EXAMPLE_CONFIG.parent)
        except BaseException:
            self._server.stop()
            raise
        home, region = config["pipeline"]["home_account_id"], config["target_regions"][0]
        config["state_backend"] = {
            "type": "s3",
            "bucket": f"org-backup-tfstate-{home}-{region}",
            "region": region,
            "key_prefix": "org-backup",
        }
        # Phase 2 in one wave, its stacks deployed side by side as before waves existed: the rehearsal is the test
        # budget's critical path. The waves' stop and resume run against this server in test_migration.py (_waves),
        # the wave rules in tests/test_rollout.py.
        config["pipeline"]["rollout"] = {"waves": [{"name": "all"}]}
        return Rehearsal(endpoint=self._server.url, config=config, repo=repo)

    def start(self) -> None:
        self._result = self.prepare()
        (self.workdir / "backup.yaml").write_text(dump_yaml(self._result.config, sort_keys=False))
        self._thread = threading.Thread(target=self._run, args=(self._result,), name="rehearsal", daemon=True)
        self._thread.start()

    def result(self) -> Rehearsal:
        assert self._thread is not None and self._result is not None, "start() was not called"
        self._thread.join()
        return self._result

    def stop(self) -> None:
        """pytest's clean-up, also after an interrupt: the moto server never outlives the session."""
        if self._server is not None:
            self._server.stop()

    # -- the run (background thread: subprocesses and boto3 only) ---------------------------------------------
    def _run(self, result: Rehearsal) -> None:
        started = time.monotonic()
        try:
            self._rehearse(result)
        except Exception as exc:
            result.failure = f"{type(exc).__name__}: {exc}"
            self.progress(f"FAILED: {result.failure[:500]}")
        finally:
            assert self._server is not None
            self._server.stop()
            result.server_cpu_seconds = self._server.cpu_seconds
            result.seconds = time.monotonic() - started
            result.log = self.progress.lines
            self.progress(f"done in {result.seconds:.0f} s")
            _write_report(result)

    def enforce(self, result: Rehearsal) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """An administrator in each account bootstrap needs, then IAM enforcement on. Returns the accounts by kind,
        the administrators' AWS profiles and the environment every step runs with."""
        endpoint, config = result.endpoint, result.config
        accounts = {
            "management": config["organization"]["management_account_id"],
            "home": config["pipeline"]["home_account_id"],
            "central": config["central_backup"]["account_id"],
        }
        for account in sorted({*accounts.values(), *result.members}):
            warm_iam(endpoint, account)
        profiles = self._administrators(endpoint, accounts)
        _set_auth(endpoint, "0")
        self.progress("IAM enforcement on: every call from here on is checked against its caller's policies")
        return accounts, profiles, self._environment(endpoint, profiles)

    def _rehearse(self, result: Rehearsal) -> None:
        endpoint = result.endpoint
        accounts, profiles, base = self.enforce(result)

        cli = ThreadPoolExecutor(max_workers=1).submit(self._cli_by_hand, result)  # its own scratch repository
        self._make(result, "bootstrap", ["bootstrap", "BOOTSTRAP_FLAGS=--auto-approve"], base)
        cli.result()
        builders = self._builder_credentials(endpoint, accounts["home"])
        plan_env = {**base, **builders["plan"]}
        deploy_env = {**base, **builders["deploy"]}
        self._make(result, "plan stage: discover", ["discover", "DISCOVER_FLAGS=--if-configured"], plan_env)
        self._make(result, "plan stage: make plan", ["plan"], plan_env)
        result.planned["first"] = self._changed(result)
        self._make(
            result, "deploy stage: make deploy", ["deploy", "PLANNED=build/plans/changed-stacks.json"], deploy_env
        )
        result.verified = self._verify(result)
        self._delegation_control(result, deploy_env, accounts)
        self._plan_reader_control(result, accounts)
        result.seeded = self._seed_workloads(result)
        self._make(
            result, "readiness as the plan builder", ["readiness", "READINESS_FLAGS=--json"], plan_env, expect_ok=False
        )

        self._make(result, "plan stage again: make plan", ["plan"], plan_env)
        result.planned["again"] = self._changed(result)
        self._drift(result, plan_env, base, profiles)
        self._make(result, "bootstrap again", ["bootstrap", "BOOTSTRAP_FLAGS=--auto-approve"], base)

        self._destroy(result, deploy_env, base, accounts, profiles)

    def _administrators(self, endpoint: str, accounts: dict[str, str]) -> dict[str, str]:
        """An administrator user with access keys in each account bootstrap needs; AWS config and credentials
        files with one profile per account kind (as `make bootstrap` expects them)."""
        config_lines, credential_lines = [], []
        self.admin_keys: dict[str, tuple[str, str]] = {}
        for kind, account in accounts.items():
            iam = session_in(endpoint, account).client("iam", endpoint_url=endpoint, region_name="us-east-1")
            iam.create_user(UserName=ADMIN)
            iam.attach_user_policy(UserName=ADMIN, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
            self.admin_keys[kind] = (key["AccessKeyId"], key["SecretAccessKey"])
            config_lines += [f"[profile {kind}]", "region = us-east-1", ""]
            credential_lines += [
                f"[{kind}]",
                f"aws_access_key_id = {key['AccessKeyId']}",
                f"aws_secret_access_key = {key['SecretAccessKey']}",
                "",
            ]
        aws = self.workdir / "aws"
        aws.mkdir()
        (aws / "config").write_text("\n".join(config_lines))
        (aws / "credentials").write_text("\n".join(credential_lines))
        return {kind: kind for kind in accounts}

    def _environment(self, endpoint: str, profiles: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ORG_BACKUP_", "PYTEST_"))}
        env.update(
            BACKUP_CONFIG=str(self.workdir / "backup.yaml"),
            ORG_BACKUP_LOCAL_API="1",
            AWS_ENDPOINT_URL=endpoint,  # see stacks/common.py SynthOptions
            AWS_CONFIG_FILE=str(self.workdir / "aws" / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.workdir / "aws" / "credentials"),
            AWS_REGION="us-east-1",
            AWS_CA_BUNDLE=CA_BUNDLES[endpoint],  # the server's own certificate (MotoServer tls)
            **{f"ORG_BACKUP_{kind.upper()}_PROFILE": profile for kind, profile in profiles.items()},
        )
        return env

    def _builder_credentials(self, endpoint: str, home: str) -> dict[str, dict[str, str]]:
        """The credentials CodeBuild hands a build: the builder role's. Only CodeBuild may assume a builder role
        (its trust names codebuild.amazonaws.com), so the rehearsal takes them with enforcement paused."""
        _set_auth(endpoint, "inf")
        try:
            sts = session(endpoint, aws_access_key_id="x", aws_secret_access_key="x").client(
                "sts", endpoint_url=endpoint, region_name="us-east-1"
            )
            found = {}
            for kind in ("plan", "deploy"):
                credentials = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{home}:role/org-backup-{kind}",
                    RoleSessionName=f"codebuild-{kind}",
                    DurationSeconds=3600,
                )["Credentials"]
                found[kind] = {
                    "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                    "AWS_SESSION_TOKEN": credentials["SessionToken"],
                }
        finally:
            _set_auth(endpoint, "0")
        return found

    def _make(
        self, result: Rehearsal, name: str, args: list[str], env: dict[str, str], *, expect_ok: bool = True
    ) -> Step:
        return self._step(result, name, ["make", "--no-print-directory", *args], env, expect_ok=expect_ok)

    def _step(
        self,
        result: Rehearsal,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        expect_ok: bool = True,
        cwd: Path | None = None,
    ) -> Step:
        """One command as a user or the pipeline types it, in the scratch repository; its output kept in a log."""
        self.progress(f"{name} ...")
        started = time.monotonic()
        completed = subprocess.run(argv, cwd=cwd or result.repo, env=env, capture_output=True, text=True, check=False)
        step = Step(name, time.monotonic() - started, completed.returncode, completed.stdout + completed.stderr)
        result.steps[name] = step
        (self.workdir / f"{name.replace(' ', '-').replace(':', '')}.log").write_text(step.output)
        self.progress(
            f"{name} {'ok' if completed.returncode == 0 else f'FAILED (exit {completed.returncode})'} ({step.seconds:.0f} s)"
        )
        if expect_ok and completed.returncode != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed:\n{step.output[-6000:]}")
        return step

    @staticmethod
    def _changed(result: Rehearsal) -> list[str]:
        return sorted(json.loads((result.repo / "build" / "plans" / "changed-stacks.json").read_text()))

    def _cli_by_hand(self, result: Rehearsal) -> None:
        """The README's hand commands with the pinned cdktf CLI, as a newcomer types them: no AWS credentials, the
        example config (local state), our Terraform CLI config exported. `list` must list every stack; `diff` must
        get past synth and the (offline) provider installation and stop at credentials."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ORG_BACKUP_", "PYTEST_", "TF_"))}
        env.update(
            BACKUP_CONFIG=str(EXAMPLE_CONFIG),
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",  # no instance metadata here: fail at once instead of after its timeouts
            JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        )
        cli = "export TF_CLI_CONFIG_FILE=$(.venv/bin/python -m org_backup.ops.terraform cli-config) && npx cdktf"
        repo = scratch_repository(self.workdir / "cli-repo")
        # At a lower priority (nice(1)): these run beside bootstrap, the rehearsal's critical path, and are done long
        # before it is (its time is mostly the provider's waits, the cores idle).
        niced = ["nice", "-n", "10"]
        self._step(result, "cli: make cli", [*niced, "make", "--no-print-directory", "cli"], env, cwd=repo)
        self._step(result, "cli: cdktf list", [*niced, "bash", "-c", f"{cli} list"], env, cwd=repo)
        diff = [*niced, "bash", "-c", f"{cli} diff central-backup"]
        self._step(result, "cli: cdktf diff", diff, env, expect_ok=False, cwd=repo)

    def _terraform(
        self, result: Rehearsal, stack: str, env: dict[str, str], *args: str
    ) -> subprocess.CompletedProcess[str]:
        terraform = TerraformEnv.prepare(result.repo / "build")
        environ = {**terraform.environ(), **{k: v for k, v in env.items() if k.startswith(("AWS_", "TF_"))}}
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            if key not in env:
                environ.pop(key, None)
        completed = subprocess.run(
            ["terraform", *args], cwd=result.repo / "cdktf.out" / "stacks" / stack, env=environ,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        with (self.workdir / f"terraform-{stack}.log").open("a") as log:
            log.write(
                f"$ terraform {' '.join(args)}  (exit {completed.returncode})\n{completed.stdout}{completed.stderr}\n"
            )
        return completed

    def _verify(self, result: Rehearsal) -> dict[str, Any]:
        """What the deploy left in each account, read with enforcement paused (the test reads, it does not run)."""
        endpoint, config = result.endpoint, result.config
        _set_auth(endpoint, "inf")
        try:
            found: dict[str, Any] = {}
            for account in result.members:
                member = session_in(endpoint, account)
                regions = {}
                for region in config["target_regions"]:
                    backup = member.client("backup", endpoint_url=endpoint, region_name=region)
                    vault = backup.describe_backup_vault(BackupVaultName=config["names"]["member_vault"])
                    policy = backup.get_backup_vault_access_policy(BackupVaultName=config["names"]["member_vault"])
                    settings = backup.describe_region_settings()
                    regions[region] = {
                        "key_account": vault["EncryptionKeyArn"].split(":")[4],
                        "policy_statements": len(json.loads(policy["Policy"])["Statement"]),
                        "opted_in": sorted(k for k, v in settings["ResourceTypeOptInPreference"].items() if v),
                        "fully_managed": sorted(
                            k for k, v in settings["ResourceTypeManagementPreference"].items() if v
                        ),
                    }
                iam = member.client("iam", endpoint_url=endpoint, region_name="us-east-1")
                roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
                found[account] = {"regions": regions, "roles": roles}
            management = config["organization"]["management_account_id"]
            found["management_roles"] = sorted(
                r["RoleName"]
                for r in session_in(endpoint, management)
                .client("iam", endpoint_url=endpoint, region_name="us-east-1")
                .list_roles()["Roles"]
                if r["RoleName"] in (Names().deploy_role, Names().plan_role)
            )
            org = session_in(endpoint, management).client(
                "organizations", endpoint_url=endpoint, region_name="us-east-1"
            )
            found["policies"] = {
                ou["id"]: {
                    kind: sorted(
                        p["Name"] for p in org.list_policies_for_target(TargetId=ou["id"], Filter=kind)["Policies"]
                    )
                    for kind in ("BACKUP_POLICY", "SERVICE_CONTROL_POLICY")
                }
                for ou in config["target_ous"]
            }
            return found
        finally:
            _set_auth(endpoint, "0")

    def _plan_reader_control(self, result: Rehearsal, accounts: dict[str, str]) -> None:
        """A person of pipeline.plan_readers (the example's PlatformReadOnly role in the home account, created here as
        the home administrator would, trusted by that administrator) assumes a member account's plan role, as `make
        plan` with their own credentials does; the deploy role refuses them (IAM enforced throughout)."""
        endpoint, names = result.endpoint, Names()
        (reader,) = result.config["pipeline"]["plan_readers"]
        iam = _admin(self, "home", "iam", endpoint)
        admin = f"arn:aws:iam::{accounts['home']}:user/{ADMIN}"
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "sts:AssumeRole"}],
        }
        iam.create_role(RoleName=reader.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust))
        may_assume = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
        }
        iam.put_role_policy(
            RoleName=reader.rsplit("/", 1)[1], PolicyName="assume", PolicyDocument=json.dumps(may_assume)
        )
        key, secret = self.admin_keys["home"]
        as_admin = session(endpoint, aws_access_key_id=key, aws_secret_access_key=secret)
        found = as_admin.client("sts", endpoint_url=endpoint, region_name="us-east-1").assume_role(
            RoleArn=reader, RoleSessionName="person"
        )["Credentials"]
        person = _assumed(endpoint, found).client("sts", endpoint_url=endpoint, region_name="us-east-1")
        member = result.members[0]
        for role in (names.plan_role, names.deploy_role):
            try:
                person.assume_role(RoleArn=f"arn:aws:iam::{member}:role/{role}", RoleSessionName="person")
                result.negative[f"plan reader assumes {role}"] = "assumed"
            except ClientError as exc:
                result.negative[f"plan reader assumes {role}"] = str(exc)

    def _delegation_control(self, result: Rehearsal, deploy_env: dict[str, str], accounts: dict[str, str]) -> None:
        """The organization's delegation policy refuses a policy type it does not delegate. The policy
        administrator's deploy role (the example's central account) gets organizations:* in its own IAM policies for
        the moment, so only the delegation policy can refuse; reached as the pipeline reaches it, from the deploy
        builder. CreatePolicy of a TAG_POLICY must be refused; of a BACKUP_POLICY tagged as org-backup's, allowed
        (and deleted again): the positive control that shows the refusal is the policy type's."""
        endpoint, role = result.endpoint, Names().deploy_role
        _set_auth(endpoint, "inf")
        iam = _admin(self, "central", "iam", endpoint)
        everything = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "organizations:*", "Resource": "*"}],
        }
        iam.put_role_policy(RoleName=role, PolicyName="rehearsal-organizations", PolicyDocument=json.dumps(everything))
        _set_auth(endpoint, "0")
        try:
            builder = session(
                endpoint,
                aws_access_key_id=deploy_env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=deploy_env["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=deploy_env["AWS_SESSION_TOKEN"],
            )
            credentials = builder.client("sts", endpoint_url=endpoint, region_name="us-east-1").assume_role(
                RoleArn=f"arn:aws:iam::{accounts['central']}:role/{role}", RoleSessionName="rehearsal-delegation"
            )["Credentials"]
            org = _assumed(endpoint, credentials).client(
                "organizations", endpoint_url=endpoint, region_name="us-east-1"
            )
            for kind, content in (("TAG_POLICY", {"tags": {}}), ("BACKUP_POLICY", {"plans": {}})):
                try:
                    created = org.create_policy(
                        Name=f"rehearsal-{kind.lower()}", Description="rehearsal control", Type=kind,
                        Content=json.dumps(content), Tags=[{"Key": "org-backup", "Value": "managed"}],
                    )["Policy"]["PolicySummary"]  # fmt: skip
                    result.negative[f"delegated CreatePolicy {kind}"] = f"created {created['Arn']}"
                    org.delete_policy(PolicyId=created["Id"])
                except ClientError as exc:
                    result.negative[f"delegated CreatePolicy {kind}"] = str(exc)
        finally:
            _set_auth(endpoint, "inf")
            iam.delete_role_policy(RoleName=role, PolicyName="rehearsal-organizations")
            _set_auth(endpoint, "0")

    def _seed_workloads(self, result: Rehearsal) -> dict[str, str]:
        """In the first member account and Region, as its administrator would: a DynamoDB table and an EBS volume
        on a customer key that only its own account may use, both tagged for the daily plan. After the deploy, the
        table is protected (Region settings opt DynamoDB in, with advanced features); the volume's copies to the
        central account are not: `readiness` must say so, reading through the plan role with IAM enforced."""
        endpoint, config = result.endpoint, result.config
        account, region = result.members[0], config["target_regions"][0]
        _set_auth(endpoint, "inf")
        try:
            member = session_in(endpoint, account)
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            }
            key = member.client("kms", endpoint_url=endpoint, region_name=region).create_key(Policy=json.dumps(policy))[
                "KeyMetadata"
            ]["Arn"]
            daily = [{"Key": "backup", "Value": "daily"}]
            volume = member.client("ec2", endpoint_url=endpoint, region_name=region).create_volume(
                AvailabilityZone=f"{region}a",
                Size=8,
                Encrypted=True,
                KmsKeyId=key,
                TagSpecifications=[{"ResourceType": "volume", "Tags": daily}],
            )["VolumeId"]
            table = member.client("dynamodb", endpoint_url=endpoint, region_name=region).create_table(
                TableName="orders",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=daily,
            )["TableDescription"]["TableArn"]
        finally:
            _set_auth(endpoint, "0")
        return {"account": account, "region": region, "key": key, "volume": volume, "table": table}

    def _drift(
        self, result: Rehearsal, plan_env: dict[str, str], base: dict[str, str], profiles: dict[str, str]
    ) -> None:
        """terraform plan of every stack after the deploy: the deployable ones with the plan builder (through the
        plan roles), the bootstrap and pipeline stacks with their administrator. Exit 0 = no changes."""
        self.progress("re-plan of every stack ...")
        owners = {
            "bootstrap-home": "home",
            "bootstrap-management": "management",
            "bootstrap-central": "central",
            "pipeline": "home",
        }
        plans = {stack: (plan_env, "-lock=false") for stack in result.deployable()}
        plans |= {stack: ({**base, "AWS_PROFILE": profiles[kind]}, "-lock=true") for stack, kind in owners.items()}

        def plan(stack: str) -> int:
            env, lock = plans[stack]
            args = ("plan", "-input=false", "-no-color", lock, "-detailed-exitcode")
            return self._terraform(result, stack, env, *args).returncode

        result.drift.update(_in_parallel(plan, list(plans)))
        changed = sorted(s for s, code in result.drift.items() if code != 0)
        self.progress(f"re-plan of every stack: {'no changes' if not changed else 'CHANGES in ' + ', '.join(changed)}")

    def _destroy(
        self,
        result: Rehearsal,
        deploy_env: dict[str, str],
        base: dict[str, str],
        accounts: dict[str, str],
        profiles: dict[str, str],
    ) -> None:
        """Tear-down in reverse deploy order: backup policies, accounts' stacks, management (deploy builder), then
        what bootstrap made (administrators); the state bucket is emptied first, as docs/deploy.md's tear-down says."""
        self._key_policy_control(result, deploy_env, accounts)
        self.progress("tear-down ...")

        # -refresh=false: the re-plan of every stack has just read each resource; a destroy needs only the state.
        def destroy(env: dict[str, str]) -> Any:
            def run(stack: str) -> list[str]:
                done = self._terraform(
                    result, stack, env, "destroy", "-input=false", "-no-color", "-auto-approve", "-refresh=false"
                )
                if done.returncode != 0:
                    raise RuntimeError(f"destroy of {stack} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
                return self._state(result, stack, env)

            return run

        for group in (
            ["backup-policies"],
            [*(f"member-{a}" for a in result.members), "central-backup"],
            ["management"],
        ):
            result.state_after_destroy.update(_in_parallel(destroy(deploy_env), group))
        self._negative_controls(result, deploy_env, accounts)
        administrators = {"pipeline": "home", "bootstrap-central": "central", "bootstrap-management": "management"}
        result.state_after_destroy.update(
            _in_parallel(
                lambda stack: destroy({**base, "AWS_PROFILE": profiles[administrators[stack]]})(stack),
                list(administrators),
            )
        )
        _empty_bucket(_admin(self, "home", "s3", result.endpoint), result.config["state_backend"]["bucket"])
        home = destroy({**base, "AWS_PROFILE": profiles["home"]})
        result.state_after_destroy["bootstrap-home"] = home("bootstrap-home")
        self.progress("tear-down done")

    def _state(self, result: Rehearsal, stack: str, env: dict[str, str]) -> list[str]:
        listed = self._terraform(result, stack, env, "state", "list")
        return sorted(line for line in listed.stdout.splitlines() if line.strip())

    def _negative_controls(self, result: Rehearsal, deploy_env: dict[str, str], accounts: dict[str, str]) -> None:
        """tests/rehearsal/controls.py: with every org-backup stack of the deploy builder destroyed, one broken
        permission per kind AWS checks, each a targeted apply that must fail naming it, all at once; then a trust
        policy naming a role that does not exist."""
        self.progress("negative controls ...")
        endpoint, role = result.endpoint, result.config.get("names", {}).get("deploy_role", "OrgBackupDeployRole")
        first, second = result.members[0], result.members[-1]
        # One round, in parallel: each control is alone in its account, except the SCP, which denies a vault where
        # the other control (an event target) needs none, and the central account's two, which edit different statements
        # of its deploy role and apply different stacks.
        plan = {
            "without kms:CreateKey": (accounts["central"], "central-backup", "aws_kms_key", controls.without_create_key),
            # An alert rule's target hands its role to EventBridge: of the member stack's resources that pass a
            # role, the one with the shortest chain before the refused call (a function waits for its key and DLQ).
            "without iam:PassRole": (
                first, f"member-{first}", "aws_cloudwatch_event_target", controls.without_pass_role
            ),
            "vault ARN narrowed to another name": (
                second, f"member-{second}", "aws_backup_vault", controls.vaults_named_wrong
            ),
            # The policy administrator's (the example's central account) deploy role creates the SCPs: the same role as
            # the CreateKey control, whose edit is to other statements and whose apply is of another stack.
            "a condition that never holds": (
                accounts["central"], "management", "aws_organizations_policy", controls.create_policy_in_no_region
            ),
            "an SCP denying backup:CreateBackupVault": (first, f"member-{first}", "aws_backup_vault", None),
        }  # fmt: skip
        with ExitStack() as changes:
            _set_auth(endpoint, "inf")
            try:
                for account, _, _, change in plan.values():
                    changes.enter_context(
                        controls.role_policies_changed(endpoint, account, role, change)
                        if change
                        else controls.scp_denying(endpoint, accounts["management"], account, "backup:CreateBackupVault")
                    )
            finally:
                _set_auth(endpoint, "0")

            def run(name: str) -> str:
                _, stack, kind, _ = plan[name]
                return controls.targeted_apply(
                    self, result, stack, deploy_env, controls.first_resource(result, stack, kind)
                )

            try:
                result.negative.update(_in_parallel(run, list(plan), workers=len(plan)))
            finally:
                _set_auth(endpoint, "inf")  # the changes are undone by the test's hand, as they were made
        _set_auth(endpoint, "0")
        home_admin = _admin(self, "home", "iam", result.endpoint)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{accounts['home']}:role/does-not-exist-yet"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        try:
            home_admin.create_role(RoleName="trusts-a-missing-role", AssumeRolePolicyDocument=json.dumps(trust))
            result.negative["trust naming a missing role"] = "accepted"
        except home_admin.exceptions.MalformedPolicyDocumentException as exc:
            result.negative["trust naming a missing role"] = str(exc)
        self.progress("negative controls done")

    def _key_policy_control(self, result: Rehearsal, deploy_env: dict[str, str], accounts: dict[str, str]) -> None:
        """Before the tear-down: the central vault's key policy without the deploy role's statement; a plan of the
        central stack as the deploy builder must fail reading the key (its permissions on keys are in key policies)."""
        endpoint, names = result.endpoint, result.config.get("names", {})
        region = result.config["target_regions"][0]
        _set_auth(endpoint, "inf")
        try:
            backup = session_in(endpoint, accounts["central"], "rehearsal-control").client(
                "backup", endpoint_url=endpoint, region_name=region
            )
            vault = names.get("central_vault", Names().central_vault)
            key = backup.describe_backup_vault(BackupVaultName=vault)["EncryptionKeyArn"]
            role = f"arn:aws:iam::{accounts['central']}:role/{names.get('deploy_role', 'OrgBackupDeployRole')}"
            with controls.key_policy_without(endpoint, key, role):
                _set_auth(endpoint, "0")
                plan = self._terraform(
                    result, "central-backup", deploy_env, "plan", "-input=false", "-no-color", "-lock=false"
                )
                _set_auth(endpoint, "inf")
            result.negative["key policy without the deploy role"] = (
                f"exit {plan.returncode} key {key}\n{plan.stdout[-3000:]}{plan.stderr[-3000:]}"
            )
        finally:
            _set_auth(endpoint, "0")


def _assumed(endpoint: str, credentials: dict[str, Any]) -> Any:
    """A session with the Credentials an sts:AssumeRole answered."""
    return session(
        endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _admin(job: RehearsalJob, kind: str, service: str, endpoint: str) -> Any:
    key, secret = job.admin_keys[kind]
    admin = session(endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")
    return admin.client(service, endpoint_url=endpoint)


def _in_parallel(work: Any, stacks: list[str], workers: int = 3) -> dict[str, Any]:
    """``work(stack)`` for each stack, ``workers`` at a time (Terraform's time is mostly the provider's propagation
    waits, not CPU); the first exception is raised once all have finished."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {stack: pool.submit(work, stack) for stack in stacks}
    return {stack: future.result() for stack, future in futures.items()}


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def _write_report(result: Rehearsal) -> None:
    """build/rehearsal-report.json: each step's time and outcome (quoted in closing notes)."""
    BUILD_DIR.mkdir(exist_ok=True)
    report = {
        "seconds": round(result.seconds, 1),
        "server_cpu_seconds": None if result.server_cpu_seconds is None else round(result.server_cpu_seconds, 1),
        "failure": result.failure,
        "steps": {name: {"seconds": round(s.seconds, 1), "exit": s.returncode} for name, s in result.steps.items()},
        "drift": result.drift,
        "planned": result.planned,
        "progress": result.log,
    }
    (BUILD_DIR / "rehearsal-report.json").write_text(json.dumps(report, indent=2, sort_keys=True))


def start(session: pytest.Session) -> RehearsalJob:
    """The early start of the ``rehearsal`` fixture (tests/conftest.py EARLY_STARTS)."""
    from tests.conftest import terminal_fd

    workdir = BUILD_DIR / "rehearsal"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    job = RehearsalJob(workdir, terminal_fd(session))
    session.config.add_cleanup(job.stop)
    job.start()
    return job
