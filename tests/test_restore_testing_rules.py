"""What restore testing may be configured to do, and what the deploy role may do for it, each expectation from the
AWS page cited beside it:

- "Restore testing": https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing.html
- "Restore testing inferred metadata":
  https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html
- RestoreTestingSelectionForCreate:
  https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RestoreTestingSelectionForCreate.html
- "Using roles for restore testing":
  https://docs.aws.amazon.com/aws-backup/latest/devguide/using-service-linked-roles-AWSServiceRoleForBackupRestoreTesting.html
- Service Authorization Reference, AWS Backup:
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbackup.html
- AWS RAM, "Example IAM policies": https://docs.aws.amazon.com/ram/latest/userguide/security-iam-policies-examples.html
- AWS RAM API reference, CreateResourceShare: https://docs.aws.amazon.com/ram/latest/APIReference/API_CreateResourceShare.html
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from org_backup.config.model import BackupConfig
from org_backup.iam import deploy_roles
from org_backup.iam.evaluator import Decision, Policy, Principal, Request, evaluate
from tests import synthesized_policies as policies
from tests.conftest import MINIMAL_CONFIG, Synthesized

BASE: dict[str, Any] = yaml.safe_load((MINIMAL_CONFIG).read_text())
CENTRAL, MEMBER = "100000000002", "100000000004"  # minimal.yaml's central and member accounts
VOLUME = f"arn:aws:ec2:us-east-1:{MEMBER}:volume/vol-0123456789abcdef0"
INSTANCE = f"arn:aws:ec2:us-east-1:{MEMBER}:instance/i-0123456789abcdef0"
DB = f"arn:aws:rds:us-east-1:{MEMBER}:db:orders"
CLUSTER = f"arn:aws:rds:us-east-1:{MEMBER}:cluster:orders"


def _config(testing: dict[str, Any], **top: Any) -> BackupConfig:
    raw = copy.deepcopy(BASE) | top | {"restore_testing": testing}
    return config_from_dict(raw, source="backup.yaml")


def _problems(testing: dict[str, Any], **top: Any) -> list[str]:
    with pytest.raises(InputError) as raised:
        _config(testing, **top)
    return [problem.render() for problem in raised.value.problems]


def _selection(**fields: Any) -> dict[str, Any]:
    return {"selections": [{"name": "s", "resource_type": "EBS", "protected_resource_arns": [VOLUME], **fields}]}


# --- validation_window_hours: "This is amount of hours (1 to 168) available to run a validation script on the data"
# (RestoreTestingSelectionForCreate, ValidationWindowHours). --------------------------------------------------------
@pytest.mark.parametrize("hours", [1, 168])
def test_the_validation_window_takes_1_to_168_hours(hours: int) -> None:
    (selection,) = _config(_selection(validation_window_hours=hours)).restore_testing.selections
    assert selection.validation_window_hours == hours


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        (0, "0 is below the minimum 1. Fix: use 1 or more."),
        (169, "169 is above the maximum 168. Fix: use 168 or less."),
    ],
)
def test_a_validation_window_outside_1_to_168_hours_is_refused(hours: int, problem: str) -> None:
    assert _problems(_selection(validation_window_hours=hours)) == [
        f"restore_testing.selections[0].validation_window_hours: {problem}"
    ]


# --- What a selection restores. "one eligible recovery point per protected resource in selection is restored" and
# "the tag conditions on that selection match the tags on the latest recovery point for the resource" ("Restore
# testing", "Recovery point determination"); AWS documents copied tags for cross-Region copies only ("Copy tags onto
# backups"), and the central vault's recovery points are cross-account copies. ----------------------------------------
def test_a_tag_selection_is_refused_with_the_reason_and_the_fix() -> None:
    (problem,) = _problems(_selection(tags={"backup": "daily"}))
    assert problem.startswith(
        "restore_testing.selections[0].tags: is no longer supported: AWS Backup matches restore-testing tags against "
        "the latest recovery point in the vault, and the central vault holds cross-account copies"
    )
    assert problem.endswith(
        "Fix: replace it with protected_resource_arns: the ARNs of the source resources to test (at most 30), or "
        "['*'] for every protected resource of the type."
    )


def test_a_selection_must_name_its_resources() -> None:
    assert _problems({"selections": [{"name": "s", "resource_type": "EBS"}]}) == [
        "restore_testing.selections[0].protected_resource_arns: is required but missing. Fix: add "
        "'protected_resource_arns' (see backup.yaml for an example)."
    ]


def test_thirty_arns_are_accepted_and_thirty_one_refused() -> None:
    """RestoreTestingSelectionForCreate: "you can include up to 30 specific protected resource ARNs"."""
    volumes = [f"arn:aws:ec2:us-east-1:{MEMBER}:volume/vol-{i:017x}" for i in range(31)]
    (selection,) = _config(_selection(protected_resource_arns=volumes[:30])).restore_testing.selections
    assert len(selection.protected_resource_arns) == 30
    (problem,) = _problems(_selection(protected_resource_arns=volumes))
    assert problem.startswith("restore_testing.selections[0].protected_resource_arns: [")
    assert problem.endswith("is too long: at most 30 allowed. Fix: shorten it.")


def test_the_wildcard_stands_alone_and_an_arn_must_be_of_the_selections_type() -> None:
    """The API reference: 'ProtectedResourceArns: ["arn:aws:...", "arn:aws:..."] or by a wildcard:
    ProtectedResourceArns: ["*"], but not both'. ARN shapes: resource_types.py (AWS Organizations, backup policy
    syntax, "Supported resource types"): an EBS volume is ec2:...:volume/..., an EC2 instance ec2:...:instance/..."""
    assert _config(_selection(protected_resource_arns=["*"])).restore_testing.selections[0].protected_resource_arns == (
        "*",
    )
    assert _problems(_selection(protected_resource_arns=["*", VOLUME, INSTANCE])) == [
        f"restore_testing.selections[0].protected_resource_arns: ['*', '{VOLUME}', '{INSTANCE}'] mixes '*' with "
        "ARNs; AWS Backup takes either ['*'] or specific ARNs, not both. Fix: keep ['*'] alone or list only ARNs.",
        f"restore_testing.selections[0].protected_resource_arns[2]: '{INSTANCE}' is not an ARN of resource type EBS "
        "(arn:*:ec2:*:*:volume/*). Fix: use the ARN the central vault lists as the protected resource, or test it in "
        "a selection of its own type.",
    ]


def test_an_arn_that_can_never_have_a_recovery_point_in_the_central_vault_is_refused() -> None:
    """A restore test picks recovery points of the central vaults in its Regions ("Restore testing": "the recovery
    points ... in the vaults you include"); those hold copies of the member accounts' backups of the same Region only
    (docs/configuration.md, Configuration: central_backup.regions). The minimal config tests in us-east-1, its one member is
    100000000004: an eu-west-1 volume, or one of an account org-backup does not back up, would be tested never."""
    elsewhere = VOLUME.replace("us-east-1", "eu-west-1")
    stranger = VOLUME.replace(MEMBER, "999999999999")
    assert sorted(_problems(_selection(protected_resource_arns=[elsewhere, stranger]))) == [
        f"restore_testing.selections[0].protected_resource_arns[0]: '{elsewhere}' is in Region eu-west-1, but restore "
        "tests run in us-east-1, whose central vaults hold copies of that Region's backups only. Fix: test a resource "
        "of those Regions, or add eu-west-1 to restore_testing.regions (a Region with a central vault).",
        f"restore_testing.selections[0].protected_resource_arns[1]: '{stranger}' is in account 999999999999, which is "
        "not a member account of target_ous: nothing org-backup manages backs it up, so no recovery point of it "
        "reaches the central vault. Fix: test a resource of a member account.",
    ]


# --- The network of a restore. "if the default is not present, for example the default VPC or subnet has been
# deleted and no metadata override has been input, the restore will not be successful" ("Restore testing inferred
# metadata"); the overridable keys are subnetId (EC2) and dbSubnetGroupName (RDS instances; RDS, Aurora, DocumentDB
# and Neptune clusters), and "key values are not case sensitive". ---------------------------------------------------
NO_DEFAULT_VPC = (
    'AWS Backup would restore this {kind} resource into the default VPC, and where the account has none "the '
    "restore will not be successful\" (AWS Backup, 'Restore testing inferred metadata'). Fix: add {key}: the {what} "
    f"of account {CENTRAL} to restore into."
)


@pytest.mark.parametrize(
    ("kind", "arn", "key", "what"),
    [
        ("EC2", INSTANCE, "subnetId", "subnet"),
        ("RDS", DB, "dbSubnetGroupName", "DB subnet group"),
        ("Aurora", CLUSTER, "dbSubnetGroupName", "DB subnet group"),
        ("DocumentDB", CLUSTER, "dbSubnetGroupName", "DB subnet group"),
        ("Neptune", CLUSTER, "dbSubnetGroupName", "DB subnet group"),
    ],
)
def test_restores_into_a_vpc_need_their_subnet_override(kind: str, arn: str, key: str, what: str) -> None:
    bare = _selection(resource_type=kind, protected_resource_arns=[arn])
    assert _problems(bare) == [
        f"restore_testing.selections[0].restore_metadata_overrides: has no {key}: "
        + NO_DEFAULT_VPC.format(kind=kind, key=key, what=what)
    ]
    overridden = _selection(resource_type=kind, protected_resource_arns=[arn], restore_metadata_overrides={key: "x"})
    assert _config(overridden).restore_testing.active
    upper = _selection(resource_type=kind, protected_resource_arns=[arn], restore_metadata_overrides={key.upper(): "x"})
    assert _config(upper).restore_testing.active  # "Key values are not case sensitive"


def test_types_restored_outside_a_vpc_need_no_override() -> None:
    """EBS volumes (an availability zone), S3 buckets and DynamoDB tables: the page lists no subnet key for them."""
    for kind, arn in (
        ("EBS", VOLUME),
        ("S3", "arn:aws:s3:::orders-bucket"),
        ("DynamoDB", f"arn:aws:dynamodb:us-east-1:{MEMBER}:table/orders"),
    ):
        assert _config(_selection(resource_type=kind, protected_resource_arns=[arn])).restore_testing.active


def test_a_subnet_id_cannot_serve_two_testing_regions() -> None:
    """A subnet is in one Availability Zone of one Region (Amazon VPC User Guide, "Subnets for your VPC": "Each subnet
    must reside entirely within one Availability Zone"); the selection is created in every testing Region."""
    regions = ["us-east-1", "eu-west-1"]
    ec2 = _selection(
        resource_type="EC2", protected_resource_arns=[INSTANCE], restore_metadata_overrides={"subnetId": "subnet-0a"}
    )
    central = {"account_id": CENTRAL, "regions": regions}
    assert _config(ec2, central_backup=central, target_regions=regions).restore_testing_regions == ("us-east-1",)
    problems = _problems({"regions": regions} | ec2, central_backup=central, target_regions=regions)
    assert problems == [
        "restore_testing.selections[0].restore_metadata_overrides: subnetId 'subnet-0a' names a subnet of one Region, "
        "but the selection runs in every testing Region (us-east-1, eu-west-1). Fix: test EC2 in one Region "
        "(restore_testing.regions)."
    ]


# --- The account. "you can't restore a backup from account A to account B, but you can copy a backup from account A
# to account B, and then restore it in account B" ("Creating backup copies across AWS accounts"); AWS recommends "to
# designate an account to be used for restore tests" ("Restore testing"). -------------------------------------------
def test_restore_testing_runs_in_the_central_account_and_refuses_another_with_the_reason() -> None:
    assert _config(_selection() | {"account_id": CENTRAL}).restore_testing_account_id == CENTRAL
    assert _config(_selection()).restore_testing_account_id == CENTRAL
    (problem,) = _problems(_selection() | {"account_id": MEMBER})
    assert problem == (
        f"restore_testing.account_id: '{MEMBER}' is not the central backup account ({CENTRAL}). AWS Backup restores "
        "a recovery point only in the account that holds it (\"you can't restore a backup from account A to account "
        'B, but you can copy a backup from account A to account B, and then restore it in account B": AWS Backup, '
        "'Creating backup copies across AWS accounts'), and org-backup copies backups into the central vault only, so "
        f"{MEMBER} would have nothing to test. Fix: remove the line to test in the central account."
    )


# --- The deploy role, as the StackSet gives it to every account of the example organization. ---------------------
EXAMPLE_CENTRAL, EXAMPLE_MEMBER = "222222222222", "444444444444"
SLR_PATH = "role/aws-service-role/restore-testing.backup.amazonaws.com/AWSServiceRoleForBackupRestoreTesting"


@pytest.fixture(scope="module")
def deploy_role(synth: Any) -> list[Policy]:
    example: Synthesized = synth("example")
    return policies.member_deploy_role(example)


def _as_deploy_role(identity: list[Policy], account: str, action: str, resource: str, **context: Any) -> Decision:
    principal = Principal(f"arn:aws:iam::{account}:role/OrgBackupDeployRole", session_name="cdktf")
    return evaluate(Request(principal, action, resource, context), identity_policies=identity)


def test_the_deploy_role_creates_the_restore_testing_service_linked_role_where_tests_run(
    deploy_role: list[Policy],
) -> None:
    """ "AWSServiceRoleForBackupRestoreTesting ... trusts ... restore-testing.backup.amazonaws.com", and "You must
    configure permissions to allow an IAM entity ... to create ... a service-linked role" ("Using roles for restore
    testing"); the role's path is aws-service-role/<service name>/ (IAM User Guide, "Service-linked role
    permissions")."""
    key = "iam:AWSServiceName"
    central_slr = f"arn:aws:iam::{EXAMPLE_CENTRAL}:{SLR_PATH}"
    allowed = _as_deploy_role(deploy_role, EXAMPLE_CENTRAL, "iam:CreateServiceLinkedRole", central_slr,
                              **{key: "restore-testing.backup.amazonaws.com"})  # fmt: skip
    assert allowed.allowed, allowed.reason
    assert not _as_deploy_role(deploy_role, EXAMPLE_CENTRAL, "iam:CreateServiceLinkedRole", central_slr,
                               **{key: "ec2.amazonaws.com"}).allowed  # fmt: skip
    member_slr = f"arn:aws:iam::{EXAMPLE_MEMBER}:{SLR_PATH}"  # a member account runs no restore test
    assert not _as_deploy_role(deploy_role, EXAMPLE_MEMBER, "iam:CreateServiceLinkedRole", member_slr,
                               **{key: "restore-testing.backup.amazonaws.com"}).allowed  # fmt: skip


def test_the_deploy_role_passes_the_backup_role_to_aws_backup_only(deploy_role: list[Policy]) -> None:
    """CreateRestoreTestingSelection: "iam:PassRole / Condition key: iam:PassedToService / Possible value(s):
    restore-testing.backup.amazonaws.com" (Service Authorization Reference, AWS Backup, API operations); AWS's own
    AWSServiceRolePolicyForBackupRestoreTesting passes the selection's role with iam:PassedToService
    backup.amazonaws.com, so both AWS Backup principals are allowed (which one the call sends is not settled here)."""
    backup_role = f"arn:aws:iam::{EXAMPLE_CENTRAL}:role/AWSBackupSolutionRole"
    key = "iam:PassedToService"
    for service in ("restore-testing.backup.amazonaws.com", "backup.amazonaws.com"):
        allowed = _as_deploy_role(deploy_role, EXAMPLE_CENTRAL, "iam:PassRole", backup_role, **{key: service})
        assert allowed.allowed, allowed.reason
    for service in ("ec2.amazonaws.com", "lambda.amazonaws.com"):
        assert not _as_deploy_role(deploy_role, EXAMPLE_CENTRAL, "iam:PassRole", backup_role,
                                   **{key: service}).allowed  # fmt: skip


def test_without_restore_testing_the_deploy_role_has_neither_statement() -> None:
    config = config_from_dict(copy.deepcopy(BASE), source="minimal.yaml")
    identity = [Policy("deploy", deploy_roles.accounts_policy(config))]
    slr = f"arn:aws:iam::{CENTRAL}:{SLR_PATH}"
    assert not _as_deploy_role(identity, CENTRAL, "iam:CreateServiceLinkedRole", slr,
                               **{"iam:AWSServiceName": "restore-testing.backup.amazonaws.com"}).allowed  # fmt: skip
    assert not _as_deploy_role(identity, CENTRAL, "iam:PassRole", f"arn:aws:iam::{CENTRAL}:role/AWSBackupSolutionRole",
                               **{"iam:PassedToService": "restore-testing.backup.amazonaws.com"}).allowed  # fmt: skip
    sids = {statement["Sid"] for statement in deploy_roles.accounts_policy(config)["Statement"]}
    assert not sids & set(deploy_roles.RESTORE_TESTING_STATEMENTS)


# --- AWS RAM: the deploy role shares only inside the organization. RAM's own example: Allow ram:CreateResourceShare
# with "Bool": {"ram:RequestedAllowsExternalPrincipals": "false"} "prevents principals from adding external AWS
# accounts to resource shares" (Example IAM policies, example 3); allowExternalPrincipals: "The default value is
# true" (CreateResourceShare). -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("allow_external", "allowed"),
    [
        (True, False),
        # Absent: RAM's default is true, and "If the key that you specify in a policy condition is not present in
        # the request context, the values do not match and the condition is false" (IAM User Guide,
        # reference_policies_elements_condition_operators.html), so the Allow does not apply either way.
        (None, False),
        (False, True),
    ],
)
def test_the_deploy_role_creates_only_organization_only_resource_shares(
    deploy_role: list[Policy], allow_external: bool | None, allowed: bool
) -> None:
    context = {} if allow_external is None else {"ram:RequestedAllowsExternalPrincipals": allow_external}
    for action, resource in (
        ("ram:CreateResourceShare", "*"),
        (
            "ram:UpdateResourceShare",
            f"arn:aws:ram:eu-west-1:{EXAMPLE_MEMBER}:resource-share/0123abcd-0123-abcd-0123-0123abcd0123",
        ),
    ):
        decision = _as_deploy_role(deploy_role, EXAMPLE_MEMBER, action, resource, **context)
        assert decision.allowed is allowed, (action, decision.reason)
