"""``python -m org_backup bootstrap`` (``make bootstrap``): the first-time setup, in the one order that can succeed.

    1. prerequisites         management   doctor's organization checks (read-only)
    2. bootstrap-home        home         Terraform state bucket and its KMS key (local state)
    3. bootstrap-management  management   the StackSet that gives every target-OU account its deploy and plan
                                          roles; with the policies delegated, the delegation policy and the
                                          management account's settings (adopted from the management stack's
                                          state when an older deployment holds them), else the management
                                          account's own deploy and plan roles
    4. bootstrap-central     central      deploy and plan roles of the central account (when it is not a member)
    5. pipeline              home         builder roles, CodeBuild, CodePipeline, notifications (state in S3);
                                          not with pipeline.enabled: false (another CI system deploys)

Why this order: every principal a policy names must exist when the policy is written. The deploy and plan roles
trust the home account narrowed to the builder roles (``deploy_roles.trust``), which IAM accepts before the
pipeline creates those builders; the pipeline's state lives in the bucket of step 2. Member accounts get their
deploy and plan roles from step 3's StackSet, so the pipeline's first run can plan and deploy every stack
(docs/deploy.md, Deploy it).

With ``--auto-approve`` (automation), steps 2-4 run side by side after the prerequisites, and step 5 starts as soon
as step 2's bucket can hold state: steps 3 and 4 keep local state and name no principal that step 2 creates (their
policies name roles by ARN condition, never as principals that must exist); step 5 keeps its state in the bucket,
which can take it once it exists versioned, encrypted by default with the state key (reachable by its alias, the
backend's ``kms_key_id``), public access blocked and under its TLS-only policy. Only its lifecycle rule (old state
versions expire after 90 days) may still be settling: the AWS provider waits ~1 minute for it, and so does step 5
for its artifact bucket's, so the two waits overlap instead of adding up. Output lines carry the stack's name.
Without ``--auto-approve`` every apply asks for confirmation, one step at a time.

Each step runs with the credentials of its own account: an AWS profile per account kind, from
``--profile-<kind>`` or ``ORG_BACKUP_<KIND>_PROFILE``; static credentials in the environment are ignored for
them. Before a step runs, its credentials must belong to its account. Completed steps are recorded with the
stack's content hash in ``build/bootstrap.json``: running bootstrap again skips what is done and unchanged and
resumes after a failure; ``--again`` applies every step anyway.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from org_backup.config.model import BackupConfig, S3Backend
from org_backup.config.naming import BOOTSTRAP_PREFIX, MANAGEMENT_STACK, PIPELINE_STACK, Naming
from org_backup.config.paths import BUILD_DIR
from org_backup.ops import doctor
from org_backup.ops.provider_lock import place_lock_file
from org_backup.ops.terraform import TerraformEnv
from org_backup.synth import adoption, incremental

RECORD = BUILD_DIR / "bootstrap.json"
KINDS = ("management", "home", "central")
# Static credentials would win over AWS_PROFILE in the AWS SDK's credential chain: each step uses its profile only.
_STATIC_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
STATE_BUCKET_POLL_S = 2.0
PUBLIC_ACCESS_BLOCKS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class BootstrapError(Exception):
    pass


@dataclass(frozen=True)
class Step:
    name: str  # "prerequisites" or the stack it applies
    kind: str  # account kind: management, home or central
    account_id: str
    what: str

    @property
    def applies_a_stack(self) -> bool:
        return self.name != "prerequisites"


def steps(config: BackupConfig, stack_names: list[str]) -> list[Step]:
    management = config.organization.management_account_id
    home = config.pipeline.home_account_id
    found = [
        Step(
            "prerequisites",
            "management",
            management,
            "organization, policy types, trusted access, accounts in their OUs (read-only)",
        ),
        Step(f"{BOOTSTRAP_PREFIX}home", "home", home, "Terraform state bucket and its KMS key (local state)"),
        Step(
            f"{BOOTSTRAP_PREFIX}management",
            "management",
            management,
            "delegation policy, management settings, (StackSet) roles in every target-OU account"
            if config.policies_delegated
            else "deploy and plan roles, here and (StackSet) in every target-OU account",
        ),
    ]
    if f"{BOOTSTRAP_PREFIX}central" in stack_names:  # else the central account is a member: the StackSet's roles
        found.append(
            Step(f"{BOOTSTRAP_PREFIX}central", "central", config.central_backup.account_id, "deploy and plan roles")
        )
    if config.pipeline.enabled:  # else another CI system deploys (pipeline.deployers)
        found.append(
            Step(PIPELINE_STACK, "home", home, "builder roles, CodeBuild projects, CodePipeline (state in S3)")
        )
    return found


def profiles(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> dict[str, str]:
    """The AWS profile of each account kind: ``--profile-<kind>``, else ``ORG_BACKUP_<KIND>_PROFILE``."""
    found = {}
    for kind in KINDS:
        value = flags.get(kind) or environ.get(f"ORG_BACKUP_{kind.upper()}_PROFILE")
        if value:
            found[kind] = value
    return found


def _read_record(path: Path) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write_record(path: Path, record: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    staging.replace(path)  # never half-written


@dataclass
class Bootstrap:
    config: BackupConfig
    outdir: Path
    profiles: dict[str, str]
    auto_approve: bool = False
    again: bool = False
    record_path: Path = RECORD
    say: Callable[[str], None] = print
    # boto3 session for a profile (tests give moto's); kept separate so Terraform and the checks use the same one.
    session: Callable[[str], boto3.Session] = lambda profile: boto3.Session(profile_name=profile)

    def run(self) -> int:
        stack_names = sorted(p.name for p in (self.outdir / "stacks").iterdir()) if self.outdir.is_dir() else []
        if not stack_names:
            raise BootstrapError(f"{self.outdir}/stacks is empty. Fix: run `make synth` first.")
        plan = steps(self.config, stack_names)
        missing = sorted({s.kind for s in plan} - set(self.profiles))
        if missing:
            needed = ", ".join(
                f"{kind} ({next(s.account_id for s in plan if s.kind == kind)}): --profile-{kind} or "
                f"ORG_BACKUP_{kind.upper()}_PROFILE"
                for kind in missing
            )
            raise BootstrapError(f"no AWS profile for {needed}. Fix: name a profile with credentials of each account.")
        record = {} if self.again else _read_record(self.record_path)
        self.say(f"org-backup bootstrap: {len(plan)} steps (done steps are recorded in {self.record_path})")
        for number, step in enumerate(plan, 1):
            self.say(
                f"  {number}. {step.name:<21} {step.kind} {step.account_id} [{self.profiles[step.kind]}]: {step.what}"
            )
        numbered = list(enumerate(plan, 1))
        # The prerequisites first; then one step at a time, or (nothing asks) steps 2-5 side by side, step 5 once
        # step 2's bucket can hold its state.
        waves = [numbered[:1]] + ([numbered[1:]] if self.auto_approve else [[n] for n in numbered[1:]])
        for wave in waves:
            for number, step in wave:
                if step.name == PIPELINE_STACK and not isinstance(self.config.state_backend, S3Backend):
                    bucket = Naming(self.config).state_bucket()
                    self.say(
                        f"Stopped before step {number} ({step.name}): state_backend is local, but the pipeline's "
                        f"builds need the state in S3. Fix: set state_backend to type: s3, bucket: {bucket}, region: "
                        f"{self.config.pipeline_region} (made in step 2), run `make synth`, then `make bootstrap` "
                        "again: done steps are skipped."
                    )
                    return 1
                self._check_account(number, step)
            self._run_wave(wave, len(plan), record)
        if self.config.pipeline.enabled:
            self.say(
                "Bootstrap complete. Next: push this repository to the pipeline's source; its first run plans every "
                "stack, then deploys the management stack, then central-backup and every member-<id>, then the "
                "backup policies (docs/deploy.md, Deploy it)."
            )
        else:
            self.say(
                "Bootstrap complete. Next: your CI system runs `make plan` and then `make deploy` as one of "
                f"pipeline.deployers ({', '.join(self.config.pipeline.deployers)}); docs/deploy.md, Deploy from another CI "
                "system."
                + (
                    ""
                    if isinstance(self.config.state_backend, S3Backend)
                    else f" state_backend is local: set it to type: s3, bucket: {Naming(self.config).state_bucket()}, "
                    f"region: {self.config.pipeline_region} (made in step 2) so every CI run shares one state."
                )
            )
        return 0

    def _run_wave(self, wave: list[tuple[int, Step]], total: int, record: dict[str, dict[str, str]]) -> None:
        """Apply the wave's steps (side by side when there are several); record each one that succeeds, and once
        all have finished, raise for the first that failed."""
        to_apply = []
        for number, step in wave:
            if not step.applies_a_stack:
                self._prerequisites(number, step)
                continue
            content = incremental.stack_hash(self.outdir / "stacks" / step.name)
            done = record.get(step.name)
            if done and done["hash"] == content:
                self.say(f"[{number}/{total}] {step.name}: done at {done['at']}, unchanged; skipped")
                continue
            to_apply.append((number, step, content))
        lock = threading.Lock()
        home = f"{BOOTSTRAP_PREFIX}home"
        home_ended = threading.Event()
        home_applied: list[bool] = []

        def apply(number: int, step: Step, content: str) -> None:
            try:
                if step.name == PIPELINE_STACK and any(s.name == home for _, s, _ in to_apply):
                    self._wait_for_state_bucket(number, total, home_ended, home_applied)
                self._apply(number, total, step, prefixed=len(to_apply) > 1)
                with lock:
                    record[step.name] = {"hash": content, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                    _write_record(self.record_path, record)
                if step.name == home:
                    home_applied.append(True)
            finally:
                if step.name == home:
                    home_ended.set()

        with ThreadPoolExecutor(max_workers=max(1, len(to_apply))) as pool:
            futures = [pool.submit(apply, *item) for item in to_apply]
        for future in futures:
            future.result()  # the first failure, once every step of the wave has finished

    def _wait_for_state_bucket(
        self, number: int, total: int, home_ended: threading.Event, home_applied: list[bool]
    ) -> None:
        """Until step 2's bucket can hold state (``state_bucket_ready``) or step 2 has been applied. Step 2
        failing first stops this step: its state would have nowhere to go."""
        naming = Naming(self.config)
        bucket, region = naming.state_bucket(), self.config.pipeline_region
        session = self.session(self.profiles["home"])
        self.say(f"[{number}/{total}] {PIPELINE_STACK}: waiting for the state bucket {bucket} of step 2")
        while not state_bucket_ready(session, bucket, naming.state_key_alias_arn(region), region):
            if home_ended.wait(STATE_BUCKET_POLL_S):
                if home_applied:
                    return
                raise BootstrapError(
                    f"step {number} ({PIPELINE_STACK}): not applied: step 2 failed before the state bucket {bucket} "
                    "was ready for state (its output says why). Fix that, then run `make bootstrap` again."
                )

    def _check_account(self, number: int, step: Step) -> None:
        profile = self.profiles[step.kind]
        try:
            account = self.session(profile).client("sts").get_caller_identity()["Account"]
        except (ClientError, BotoCoreError) as exc:
            raise BootstrapError(
                f"step {number} ({step.name}): profile {profile!r} gives no usable credentials: {exc}. Fix: sign in "
                f"(e.g. aws sso login --profile {profile}) or name another profile for the {step.kind} account."
            ) from None
        if account != step.account_id:
            raise BootstrapError(
                f"step {number} ({step.name}): profile {profile!r} belongs to account {account}, not the {step.kind} "
                f"account {step.account_id}. Fix: use --profile-{step.kind} (or ORG_BACKUP_{step.kind.upper()}_"
                "PROFILE) with that account's credentials."
            )

    def _prerequisites(self, number: int, step: Step) -> None:
        checks = doctor.prerequisite_checks(
            self.config, doctor.Clients(self.session(self.profiles[step.kind]), self.config.pipeline_region)
        )
        for check in checks:
            self.say(f"      {check.render()}")
        failed = [c for c in checks if not c.ok]
        if failed:
            raise BootstrapError(
                f"step {number} ({step.name}): {len(failed)} of {len(checks)} checks failed; each FAIL above says "
                "its fix. Nothing was applied."
            )

    def _apply(self, number: int, total: int, step: Step, *, prefixed: bool = False) -> None:
        stack_dir = self.outdir / "stacks" / step.name
        env = TerraformEnv.prepare(AWS_PROFILE=self.profiles[step.kind])
        environ = {k: v for k, v in env.environ().items() if k not in _STATIC_CREDENTIALS}
        self.say(f"[{number}/{total}] {step.name}: terraform init and apply in {stack_dir}")
        # The stack's lock file is the committed one (make synth put it there): providers must match its hashes,
        # and init never rewrites it (org_backup/ops/provider_lock.py).
        place_lock_file(env.provider_lock, stack_dir)
        if step.name == f"{BOOTSTRAP_PREFIX}management" and self.config.policies_delegated:
            self._adopt(number, total, stack_dir)
        commands = [
            ["terraform", "init", "-input=false", "-no-color", "-lockfile=readonly"],
            ["terraform", "apply", "-input=false", "-no-color", *(["-auto-approve"] if self.auto_approve else [])],
        ]
        for command in commands:
            if prefixed:  # side by side: each line as it comes, with its stack's name
                process = subprocess.Popen(
                    command, cwd=stack_dir, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
                assert process.stdout is not None
                for line in process.stdout:
                    self.say(f"{step.name} | {line.rstrip()}")
                returncode = process.wait()
            else:
                # Output goes to the terminal as it comes: apply shows its plan and, without --auto-approve, asks.
                returncode = subprocess.run(command, cwd=stack_dir, env=environ, check=False).returncode
            if returncode != 0:
                raise BootstrapError(
                    f"step {number} ({step.name}): `{' '.join(command[:2])}` failed (exit {returncode}); "
                    "its output is above. Fix that, then run `make bootstrap` again: completed steps are skipped."
                )

    def _management_state(self) -> dict[str, Any]:
        """The management stack's Terraform state as the pipeline left it (empty when it never deployed)."""
        backend = self.config.state_backend
        if not isinstance(backend, S3Backend):
            local = self.outdir / "stacks" / MANAGEMENT_STACK / "terraform.tfstate"
            return json.loads(local.read_text(encoding="utf-8")) if local.is_file() else {}
        key = f"{backend.key_prefix}/{MANAGEMENT_STACK}.tfstate"
        s3 = self.session(self.profiles["home"]).client("s3", region_name=backend.region)
        try:
            body = s3.get_object(Bucket=backend.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
                return {}  # a first deployment: nothing to adopt
            raise BootstrapError(
                f"cannot read s3://{backend.bucket}/{key} with the home profile to adopt the management account's "
                f"settings from it: {exc}. Fix: use a home profile that may read the state bucket."
            ) from None
        loaded: dict[str, Any] = json.loads(body)
        return loaded

    def _adopt(self, number: int, total: int, stack_dir: Path) -> None:
        """Import blocks for the management settings an older deployment's management stack holds
        (org_backup/synth/adoption.py), so this apply takes them over instead of creating them again."""
        found = adoption.imports(self._management_state())
        configured = adoption.configured(stack_dir)
        for address in sorted(set(found) - configured):
            self.say(
                f"[{number}/{total}] {stack_dir.name}: {address} is in the management stack's state but no "
                "longer configured: not adopted; the management stack's next deploy forgets it and it stays in AWS "
                "as it is"
            )
        written = adoption.write_imports(stack_dir, {a: i for a, i in found.items() if a in configured})
        if written is not None:
            self.say(
                f"[{number}/{total}] {stack_dir.name}: adopting {', '.join(sorted(set(found) & configured))} "
                f"from the management stack's state ({written.name})"
            )


def state_bucket_ready(session: boto3.Session, bucket: str, key_alias_arn: str, region: str) -> bool:
    """Whether the state bucket can take the pipeline's state as bootstrap-home declares it: it exists, versioning
    is on, default encryption is SSE-KMS, every public access block setting is on, its policy is in place and the
    state key answers to its alias (the S3 backend's ``kms_key_id``). Its lifecycle rule is not waited for: it only
    expires state versions 90 days old. Any refusal or absence is "not yet"."""
    s3, kms = session.client("s3", region_name=region), session.client("kms", region_name=region)
    try:
        s3.head_bucket(Bucket=bucket)
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            return False
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        if not any(r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" for r in rules):
            return False
        blocks = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        if not all(blocks.get(k) for k in PUBLIC_ACCESS_BLOCKS):
            return False
        s3.get_bucket_policy(Bucket=bucket)
        kms.describe_key(KeyId=key_alias_arn)
    except (ClientError, BotoCoreError):
        return False
    return True


def main(
    config: BackupConfig, outdir: Path, flags: Mapping[str, str | None], *, auto_approve: bool, again: bool
) -> int:
    try:
        return Bootstrap(config, outdir, profiles(flags, os.environ), auto_approve=auto_approve, again=again).run()
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 1
