"""doctor's per-Region checks: opt-in Regions enabled in every account that deploys there (AWS Account Management's
GetRegionOptStatus, which moto lacks: botocore's Stubber answers, and checks each request's parameters), and the
Region settings' types against AWS Backup's DescribeRegionSettings.

Statuses and rules from the GetRegionOptStatus reference
(https://docs.aws.amazon.com/accounts/latest/reference/API_GetRegionOptStatus.html): RegionOptStatus "ENABLED |
ENABLING | DISABLING | DISABLED | ENABLED_BY_DEFAULT"; "The management account can't specify its own AccountId. It
must call the operation in standalone context by not including the AccountId parameter."
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import yaml
from botocore.stub import Stubber

from org_backup.config.loader import config_from_dict
from org_backup.config.model import BackupConfig
from org_backup.ops.doctor import Clients
from org_backup.ops.doctor_regions import opt_in_region_checks, region_settings_checks
from tests.conftest import MINIMAL_CONFIG

MINIMAL: dict[str, Any] = yaml.safe_load((MINIMAL_CONFIG).read_text())
MANAGEMENT, CENTRAL, MEMBER = "100000000001", "100000000002", "100000000004"


def _config(**changes: Any) -> BackupConfig:
    raw = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = raw
        for part in parents:
            node = node[part]
        node[last] = value
    return config_from_dict(raw, source="test")


# Africa (Cape Town) is an opt-in Region ("Required" in the Opt-in column of AWS Backup's feature availability page);
# US East (N. Virginia) is not ("Not required").
OPT_IN = _config(
    target_regions=["us-east-1", "af-south-1"],
    region_settings={"enabled": False},
    pipeline__home_account_id=MANAGEMENT,
    pipeline__region="af-south-1",
    pipeline__source__reviewers=[f"arn:aws:sts::{MANAGEMENT}:assumed-role/Reviewers/*"],
)


class StubbedClients(Clients):
    """Every client of a service gets the Stubber set up for it; any call not queued fails the test."""

    def __init__(self) -> None:
        super().__init__(boto3.Session(aws_access_key_id="x", aws_secret_access_key="y"))
        self.stubbers: dict[tuple[str, str | None], Stubber] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        client = super().client(service, region)
        stubber = Stubber(client)
        self.stubbers[(service, region)] = stubber
        self.queue(service, region, stubber)
        stubber.activate()
        return client

    def queue(self, service: str, region: str | None, stubber: Stubber) -> None:
        raise NotImplementedError


@contextmanager
def _account_api(answers: list[tuple[dict[str, str], dict[str, Any] | str]]) -> Iterator[StubbedClients]:
    """``answers``: (expected request, response or error code), in call order."""

    class Clients_(StubbedClients):
        def queue(self, service: str, region: str | None, stubber: Stubber) -> None:
            assert service == "account", service
            for request, answer in answers:
                if isinstance(answer, str):
                    stubber.add_client_error(
                        "get_region_opt_status", service_error_code=answer, expected_params=request
                    )
                else:
                    stubber.add_response("get_region_opt_status", answer, expected_params=request)

    clients = Clients_()
    yield clients
    for stubber in clients.stubbers.values():
        stubber.assert_no_pending_responses()


def test_no_call_when_no_region_org_backup_deploys_to_needs_opt_in() -> None:
    with _account_api([]) as clients:
        assert opt_in_region_checks(_config(), clients) == []
    assert clients.stubbers == {}


def test_each_opt_in_region_enabled_everywhere_passes_and_the_management_account_omits_its_own_id() -> None:
    answers: list[tuple[dict[str, str], dict[str, Any] | str]] = [
        ({"AccountId": MEMBER, "RegionName": "af-south-1"}, {"RegionOptStatus": "ENABLED"}),
        ({"RegionName": "af-south-1"}, {"RegionOptStatus": "ENABLED"}),  # the home account is the management one
    ]
    with _account_api(answers) as clients:
        checks = opt_in_region_checks(OPT_IN, clients)
    # us-east-1 and the central account (whose only Region is us-east-1) are never asked.
    assert [c.render() for c in checks] == [
        "PASS  Region af-south-1: enabled in all 2 accounts that org-backup deploys to there"
    ]


def test_a_region_not_enabled_in_an_account_fails_with_the_command_that_enables_it() -> None:
    answers: list[tuple[dict[str, str], dict[str, Any] | str]] = [
        ({"AccountId": MEMBER, "RegionName": "af-south-1"}, {"RegionOptStatus": "DISABLED"}),
        ({"RegionName": "af-south-1"}, {"RegionOptStatus": "ENABLING"}),
    ]
    with _account_api(answers) as clients:
        checks = opt_in_region_checks(OPT_IN, clients)
    assert [c.render() for c in checks] == [
        f"FAIL  Region af-south-1 in {MEMBER}: DISABLED: org-backup deploys there, which needs the Region enabled in "
        "the account\n"
        f"      Fix: aws account enable-region --account-id {MEMBER} --region-name af-south-1 (with "
        "management-account credentials), then wait until it is ENABLED",
        f"FAIL  Region af-south-1 in {MANAGEMENT}: ENABLING: org-backup deploys there, which needs the Region enabled "
        "in the account\n"
        "      Fix: wait until `aws account get-region-opt-status --region-name af-south-1` says ENABLED",
    ]


def test_without_trusted_access_for_account_management_one_failure_says_how_to_enable_it() -> None:
    with _account_api([({"AccountId": MEMBER, "RegionName": "af-south-1"}, "AccessDeniedException")]) as clients:
        checks = opt_in_region_checks(OPT_IN, clients)
    assert len(checks) == 1 and not checks[0].ok
    assert checks[0].name == "opt-in Regions"
    assert checks[0].fix == (
        "aws organizations enable-aws-service-access --service-principal account.amazonaws.com (GetRegionOptStatus "
        "of another account needs trusted access for AWS Account Management), and let these credentials call "
        "account:GetRegionOptStatus"
    )


# --- Region settings types against DescribeRegionSettings ----------------------------------------------------------

# us-east-1 by hand: AWS Backup's eight every-Region types, the ten columns of "Supported services by AWS Region"
# (all marked for US East (N. Virginia)), and Redshift Serverless (the provider's 5.100.0 acceptance test); the
# full-management types hashicorp/aws 5.100.0 documents.
US_EAST_1 = [
    "Aurora", "CloudFormation", "DocumentDB", "DSQL", "DynamoDB", "EBS", "EC2", "EFS", "EKS", "FSx", "Neptune", "RDS",
    "Redshift", "Redshift Serverless", "S3", "SAP HANA on Amazon EC2", "Storage Gateway", "Timestream",
    "VirtualMachine",
]  # fmt: skip
MANAGED = ["CloudFormation", "DSQL", "DynamoDB", "EFS"]


@contextmanager
def _backup_api(answer: dict[str, Any] | str) -> Iterator[StubbedClients]:
    class Clients_(StubbedClients):
        def queue(self, service: str, region: str | None, stubber: Stubber) -> None:
            assert (service, region) == ("backup", "us-east-1")
            if isinstance(answer, str):
                stubber.add_client_error("describe_region_settings", service_error_code=answer)
            else:
                stubber.add_response("describe_region_settings", answer)

    clients = Clients_()
    yield clients
    for stubber in clients.stubbers.values():
        stubber.assert_no_pending_responses()


def _described(opt_in: list[str], managed: list[str]) -> dict[str, Any]:
    return {
        "ResourceTypeOptInPreference": dict.fromkeys(opt_in, False),
        "ResourceTypeManagementPreference": dict.fromkeys(managed, False),
    }


def test_region_settings_types_that_match_aws_pass() -> None:
    with _backup_api(_described(US_EAST_1, MANAGED)) as clients:
        checks = region_settings_checks(_config(), clients)
    assert [c.render() for c in checks] == [
        "PASS  Region settings types in us-east-1: the 19 types org-backup sets are the ones AWS Backup lists"
    ]


def test_region_settings_types_that_differ_from_aws_fail_with_aws_list_as_the_fix() -> None:
    """As if AWS lacked Redshift Serverless in us-east-1 and had added a type org-backup does not know."""
    aws = [t for t in US_EAST_1 if t != "Redshift Serverless"] + ["Glacier"]
    with _backup_api(_described(aws, MANAGED)) as clients:
        (check,) = region_settings_checks(_config(), clients)
    assert check.render() == (
        "FAIL  Region settings types in us-east-1: opt-in types AWS does not list (AWS refuses the update): Redshift "
        "Serverless; opt-in types AWS lists that org-backup leaves out (planned again on every run): Glacier\n"
        "      Fix: set region_settings.supported_types.us-east-1: [Aurora, CloudFormation, DSQL, DocumentDB, "
        'DynamoDB, EBS, EC2, EFS, EKS, FSx, Glacier, Neptune, RDS, Redshift, S3, "SAP HANA on Amazon EC2", '
        '"Storage Gateway", Timestream, VirtualMachine] in backup.yaml'
    )


def test_a_full_management_type_org_backup_does_not_know_says_org_backup_must_change() -> None:
    with _backup_api(_described(US_EAST_1, [*MANAGED, "S3"])) as clients:
        (check,) = region_settings_checks(_config(), clients)
    assert check.detail == "full-management types AWS lists that org-backup leaves out (planned again on every run): S3"
    assert check.fix.endswith(
        "; AWS's full-management types there (CloudFormation, DSQL, DynamoDB, EFS, S3) are not the ones org-backup "
        "derives (CloudFormation, DSQL, DynamoDB, EFS): FullManagementType in org_backup/config/region_settings.py "
        "must change first; until then turn region_settings.enabled off"
    )


def test_region_settings_unreadable_in_the_management_account_is_said_not_passed() -> None:
    with _backup_api("AccessDeniedException") as clients:
        (check,) = region_settings_checks(_config(), clients)
    assert check.skipped and check.render().startswith("SKIP  Region settings types in us-east-1: not checkable here")


def test_no_region_settings_check_when_org_backup_does_not_manage_them() -> None:
    with _backup_api("unused") as clients:
        assert region_settings_checks(_config(region_settings={"enabled": False}), clients) == []
    assert clients.stubbers == {}
