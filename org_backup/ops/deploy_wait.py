"""``python -m org_backup wait-roles --role plan|deploy --stacks-file F``: before ``terraform plan`` (plan role)
and ``cdktf deploy`` (deploy role), wait until that role in every account the listed stacks deploy into can be
assumed.

A member account's roles come from bootstrap-management's StackSet. For an account that joins a target OU,
auto-deployment creates its stack instance asynchronously, while the enrolment event has already started the
pipeline. Rather than failing half-way through a plan or an apply, the stage waits here, bounded, and names the
account that never became reachable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    BACKUP_POLICIES_STACK,
    CENTRAL_STACK,
    DEPLOY_ROLES_STACKSET,
    DEPLOY_SESSION_NAME,
    MANAGEMENT_STACK,
    MEMBER_STACK_PREFIX,
    Naming,
)

DEFAULT_TIMEOUT_SECONDS = 900  # StackSet auto-deployment usually finishes within minutes
POLL_SECONDS = 20


def account_of(stack: str, config: BackupConfig) -> str:
    if stack in (MANAGEMENT_STACK, BACKUP_POLICIES_STACK):
        return config.policy_admin_account_id
    if stack == CENTRAL_STACK:
        return config.central_backup.account_id
    if stack.startswith(MEMBER_STACK_PREFIX):
        return stack.removeprefix(MEMBER_STACK_PREFIX)
    raise ValueError(f"{stack} is not a stack the pipeline deploys")


@dataclass
class RoleWait:
    sts: Any
    config: BackupConfig
    role: str = "deploy"  # "deploy" or "plan"
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    poll: float = POLL_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    say: Callable[[str], None] = print

    def wait(self, stacks: list[str]) -> list[str]:
        """The role ARNs that still cannot be assumed when the time is up (empty: all can)."""
        naming = Naming(self.config)
        role = self.config.names.deploy_role if self.role == "deploy" else self.config.names.plan_role
        waiting = sorted({naming.role_arn(account_of(s, self.config), role) for s in stacks})
        deadline = self.clock() + self.timeout
        while True:
            last_error: dict[str, str] = {}
            for arn in list(waiting):
                try:
                    self.sts.assume_role(RoleArn=arn, RoleSessionName=DEPLOY_SESSION_NAME, DurationSeconds=900)
                    waiting.remove(arn)
                except ClientError as exc:  # AccessDenied while the role does not exist yet
                    last_error[arn] = exc.response["Error"].get("Message", str(exc))
            if not waiting:
                return []
            if self.clock() >= deadline:
                for arn in waiting:
                    self.say(f"  cannot assume {arn}: {last_error[arn]}")
                return waiting
            self.say(f"waiting for {len(waiting)} {self.role} role(s) (StackSet auto-deployment): {', '.join(waiting)}")
            self.sleep(self.poll)


def main(config: BackupConfig, stacks: list[str], *, role: str, timeout: float) -> int:
    import boto3

    sts = boto3.client("sts", region_name=config.pipeline_region)
    missing = RoleWait(sts, config, role=role, timeout=timeout).wait(stacks)
    if missing:
        print(
            f"wait-roles: {len(missing)} {role} role(s) could not be assumed after {timeout:.0f} s; nothing "
            f"{'deployed' if role == 'deploy' else 'planned'}. Fix: check the StackSet {DEPLOY_ROLES_STACKSET}'s "
            "operations in the management account (CloudFormation console) and `python -m org_backup doctor` "
            "(an account outside the StackSet's OUs means bootstrap-management is out of date: `make bootstrap`), "
            "then run the pipeline again.",
            file=sys.stderr,
        )
        return 1
    return 0
