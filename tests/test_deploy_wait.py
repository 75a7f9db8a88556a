"""wait-roles: the plan and the deploy wait, bounded, until every target account's plan or deploy role can be
assumed (StackSet auto-deployment creates them asynchronously for an account that has just joined a target OU)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from org_backup.config.loader import load_config
from org_backup.ops.deploy_wait import RoleWait, account_of
from tests.conftest import EXAMPLE_CONFIG

CONFIG = load_config(EXAMPLE_CONFIG)
CREDENTIALS = {
    "Credentials": {
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE",
        "SecretAccessKey": "x" * 40,
        "SessionToken": "token",
        "Expiration": datetime(2030, 1, 1, tzinfo=UTC),
    }
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _sts() -> tuple[object, Stubber]:
    sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    return sts, Stubber(sts)


def _assume(stubber: Stubber, account: str, ok: bool, role: str = "OrgBackupDeployRole") -> None:
    arn = f"arn:aws:iam::{account}:role/{role}"
    params = {"RoleArn": arn, "RoleSessionName": "org-backup-cdktf", "DurationSeconds": 900}
    if ok:
        stubber.add_response("assume_role", CREDENTIALS, params)
    else:
        stubber.add_client_error("assume_role", "AccessDenied", "not authorized to perform sts:AssumeRole", 403)


def test_each_stack_maps_to_the_account_it_deploys_into() -> None:
    """The example configures no policy_admin_account_id: its backup delegated administrator, the central account
    222222222222, manages the policies (backup.yaml, organization)."""
    assert [
        account_of(s, CONFIG) for s in ("management", "backup-policies", "central-backup", "member-555555555555")
    ] == [
        "222222222222",
        "222222222222",
        "222222222222",
        "555555555555",
    ]
    in_management = CONFIG.model_copy(
        update={"organization": CONFIG.organization.model_copy(update={"policy_admin_account_id": "111111111111"})}
    )
    assert [account_of(s, in_management) for s in ("management", "backup-policies")] == ["111111111111"] * 2
    with pytest.raises(ValueError, match="pipeline is not a stack the pipeline deploys"):
        account_of("pipeline", CONFIG)


def test_a_role_that_appears_late_is_waited_for() -> None:
    sts, stubber = _sts()
    _assume(stubber, "444444444444", True)
    _assume(stubber, "555555555555", False)  # the StackSet instance is still being created
    _assume(stubber, "555555555555", True)
    clock, said = FakeClock(), []
    with stubber:
        missing = RoleWait(sts, CONFIG, timeout=60, poll=20, clock=clock, sleep=clock.sleep, say=said.append).wait(
            ["member-444444444444", "member-555555555555"]
        )
    assert missing == []
    assert clock.now == 20
    assert said == [
        "waiting for 1 deploy role(s) (StackSet auto-deployment): arn:aws:iam::555555555555:role/OrgBackupDeployRole"
    ]
    stubber.assert_no_pending_responses()


def test_a_role_that_never_appears_is_named_when_the_time_is_up() -> None:
    sts, stubber = _sts()
    for _ in range(3):
        _assume(stubber, "666666666666", False)
    clock, said = FakeClock(), []
    with stubber:
        missing = RoleWait(sts, CONFIG, timeout=40, poll=20, clock=clock, sleep=clock.sleep, say=said.append).wait(
            ["member-666666666666"]
        )
    assert missing == ["arn:aws:iam::666666666666:role/OrgBackupDeployRole"]
    assert said[-1] == (
        "  cannot assume arn:aws:iam::666666666666:role/OrgBackupDeployRole: not authorized to perform sts:AssumeRole"
    )


def test_the_plan_waits_for_the_plan_role() -> None:
    sts, stubber = _sts()
    _assume(stubber, "444444444444", False, role="OrgBackupPlanRole")
    _assume(stubber, "444444444444", True, role="OrgBackupPlanRole")
    clock, said = FakeClock(), []
    with stubber:
        missing = RoleWait(
            sts, CONFIG, role="plan", timeout=60, poll=20, clock=clock, sleep=clock.sleep, say=said.append
        ).wait(["member-444444444444"])
    assert missing == []
    assert said == [
        "waiting for 1 plan role(s) (StackSet auto-deployment): arn:aws:iam::444444444444:role/OrgBackupPlanRole"
    ]
    stubber.assert_no_pending_responses()
