"""The rehearsal of the first deployment (tests/rehearsal/harness.py runs it in the background from the start of
the session): what each step a user and the pipeline take must leave behind, and the checks the test server adds
to moto, each shown to refuse what AWS refuses."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import early_work
from tests.rehearsal.harness import Rehearsal, _set_auth
from tests.rehearsal.moto import CA_BUNDLES, MotoServer, session, session_in, warm_iam

pytestmark = pytest.mark.rehearsal


@pytest.fixture(scope="session")
def rehearsal(request: pytest.FixtureRequest) -> Rehearsal:
    result = early_work(request, "rehearsal").result()
    if result.failure:
        pytest.fail(f"the rehearsal stopped: {result.failure}")
    return result


def _output(rehearsal: Rehearsal, step: str) -> str:
    return rehearsal.steps[step].output


def test_every_step_succeeded_in_the_order_the_readme_gives(rehearsal: Rehearsal) -> None:
    failed = {
        name: s.output[-3000:]
        for name, s in rehearsal.steps.items()
        if s.returncode and name not in ("cli: cdktf diff", "readiness as the plan builder")  # these must fail
    }
    assert not failed, failed
    assert [name for name in rehearsal.steps if not name.startswith("cli:")] == [
        "bootstrap",
        "plan stage: discover",
        "plan stage: make plan",
        "deploy stage: make deploy",
        "readiness as the plan builder",
        "plan stage again: make plan",
        "bootstrap again",
    ]


def test_cdktf_list_lists_every_stack_offline(rehearsal: Rehearsal, synth: Any) -> None:
    listed = _output(rehearsal, "cli: cdktf list")
    expected = sorted(p.name for p in (Path(synth("example").outdir) / "stacks").iterdir())
    assert len(expected) == 10
    assert [name for name in expected if name not in listed.split()] == [], listed


def test_cdktf_diff_without_credentials_stops_at_credentials(rehearsal: Rehearsal) -> None:
    """Past synth (the app ran under the CLI) and past the provider installation (offline, from the mirror our CLI
    config names): the first thing missing is credentials."""
    step = rehearsal.steps["cli: cdktf diff"]
    assert step.returncode != 0
    assert "No valid credential sources found" in step.output, step.output[-3000:]
    assert "Terraform has been successfully initialized" in step.output, step.output[-3000:]
    for never in ("registry.terraform.io/hashicorp/aws: could not connect", "Failed to query", "error annotation"):
        assert never not in step.output


def test_bootstrap_prints_its_steps_with_the_profile_of_each_account(rehearsal: Rehearsal) -> None:
    output = _output(rehearsal, "bootstrap")
    accounts = {
        "management": rehearsal.config["organization"]["management_account_id"],
        "home": rehearsal.config["pipeline"]["home_account_id"],
        "central": rehearsal.config["central_backup"]["account_id"],
    }
    for stack, kind in (
        ("bootstrap-home", "home"),
        ("bootstrap-management", "management"),
        ("bootstrap-central", "central"),
        ("pipeline", "home"),
    ):
        assert any(stack in line and f"{kind} {accounts[kind]} [{kind}]" in line for line in output.splitlines()), stack
    assert "Bootstrap complete." in output


def test_the_first_plan_plans_every_deployable_stack(rehearsal: Rehearsal) -> None:
    assert rehearsal.planned["first"] == sorted(rehearsal.deployable())
    topology = (rehearsal.repo / "build" / "plans" / "topology.md").read_text()  # drawn into the PR comment
    assert topology.startswith("flowchart LR\n") and all(
        f"members_{ou['id']}".replace("-", "_") in topology for ou in rehearsal.config["target_ous"]
    )


def test_deploy_runs_three_phases_with_the_cdktf_cli(rehearsal: Rehearsal) -> None:
    output = _output(rehearsal, "deploy stage: make deploy")
    phases = [line for line in output.splitlines() if line.startswith("Phase ")]
    assert phases == [
        "Phase 1, shard 1/1: management ",
        "Phase 2, shard 1/1: central-backup " + " ".join(f"member-{a}" for a in sorted(rehearsal.members)) + " ",
        "Phase 3, shard 1/1: backup-policies ",
    ]
    assert "npx --no-install cdktf deploy" in output
    assert "--skip-synth" in output


def test_member_vaults_land_in_their_own_account_and_regions_with_their_access_policy(rehearsal: Rehearsal) -> None:
    for account in rehearsal.members:
        found = rehearsal.verified[account]
        assert sorted(found["regions"]) == sorted(rehearsal.config["target_regions"])
        for region in found["regions"].values():
            assert region["key_account"] == account
            # every type org_backup/config/region_support.py lists for eu-west-1 and eu-central-1 (region_settings defaults):
            # AWS's feature-availability page's 18 plus Redshift Serverless, hand-counted there
            assert len(region["opted_in"]) == 19, region
            assert region["fully_managed"] == ["DynamoDB", "EFS"], region
        assert all(r["policy_statements"] >= 1 for r in found["regions"].values())
        assert {"OrgBackupDeployRole", "OrgBackupPlanRole"} <= found["roles"]  # from the StackSet of bootstrap


def test_the_pipeline_never_had_a_role_to_assume_in_the_management_account(rehearsal: Rehearsal) -> None:
    """Policies delegated (the example's backup delegated administrator, its central account, manages them): the
    Plan and Deploy stages above succeeded, created and attached every backup policy and SCP, and the management
    account holds no org-backup deploy or plan role they could have assumed (the builders' policies also deny any
    role there: tests/test_pipeline.py)."""
    assert rehearsal.verified["management_roles"] == []
    management = rehearsal.config["organization"]["management_account_id"]
    central = rehearsal.config["central_backup"]["account_id"]
    assumed = {
        stack: {
            p["assume_role"][0]["role_arn"]
            for p in json.loads((rehearsal.repo / "cdktf.out" / "stacks" / stack / "cdk.tf.json").read_text())[
                "provider"
            ]["aws"]
        }
        for stack in rehearsal.deployable()
    }
    assert not [s for s, roles in assumed.items() if any(f"::{management}:" in r for r in roles)], assumed
    assert assumed["management"] == assumed["backup-policies"] == {f"arn:aws:iam::{central}:role/OrgBackupDeployRole"}


def test_a_plan_reader_assumes_the_plan_role_and_not_the_deploy_role(rehearsal: Rehearsal) -> None:
    """pipeline.plan_readers (issue 28): a person's role may read through the plan role, as `make plan`, `cdktf
    diff` and `readiness` need; the deploy role still trusts only the deploy builder."""
    assert rehearsal.negative["plan reader assumes OrgBackupPlanRole"] == "assumed"
    refused = rehearsal.negative["plan reader assumes OrgBackupDeployRole"]
    assert "AccessDenied" in refused and "sts:AssumeRole" in refused, refused


def test_the_delegation_refuses_a_policy_type_it_does_not_delegate(rehearsal: Rehearsal) -> None:
    """Organizations User Guide, "Delegated administrator for AWS Organizations": a member account manages policies
    only as the delegation policy allows; org-backup's allows BACKUP_POLICY and SERVICE_CONTROL_POLICY. The deploy
    role had organizations:* in its own policies for this control, so the refusal is the delegation policy's."""
    refused = rehearsal.negative["delegated CreatePolicy TAG_POLICY"]
    assert "AccessDeniedException" in refused and "organizations:CreatePolicy" in refused, refused
    allowed = rehearsal.negative["delegated CreatePolicy BACKUP_POLICY"]
    management = rehearsal.config["organization"]["management_account_id"]
    assert allowed.startswith(f"created arn:aws:organizations::{management}:policy/"), allowed


def test_backup_policies_and_guardrails_are_attached_to_every_target_ou(rehearsal: Rehearsal) -> None:
    for ou in rehearsal.config["target_ous"]:
        attached = rehearsal.verified["policies"][ou["id"]]
        assert attached["BACKUP_POLICY"], ou["id"]
        assert attached["SERVICE_CONTROL_POLICY"], ou["id"]


def test_readiness_reads_every_member_through_the_plan_role_and_names_the_unshared_key(rehearsal: Rehearsal) -> None:
    """`make readiness` as the plan builder, IAM enforced: every member account and Region read (none unreadable),
    the seeded table protected, the seeded volume's copies to the central account reported."""
    step = rehearsal.steps["readiness as the plan builder"]
    assert step.returncode != 0, step.output[-3000:]
    report = json.loads(step.output[step.output.index("{") : step.output.rindex("}") + 1])  # make adds its error line
    assert report["unreadable"] == [], report["unreadable"]
    seeded = rehearsal.seeded
    volume_arn = f"arn:aws:ec2:{seeded['region']}:{seeded['account']}:volume/{seeded['volume']}"
    assert [(f["resource"], f["problem"]) for f in report["findings"]] == [(volume_arn, "key-not-shared")]
    assert seeded["key"] in report["findings"][0]["detail"]
    assert report["checked"] == 2  # the volume and the table


def test_the_next_plan_finds_nothing_changed_and_terraform_no_drift(rehearsal: Rehearsal) -> None:
    assert rehearsal.planned["again"] == []
    assert rehearsal.drift == dict.fromkeys(rehearsal.drift, 0)
    assert sorted(rehearsal.drift) == sorted(
        [*rehearsal.deployable(), "bootstrap-home", "bootstrap-management", "bootstrap-central", "pipeline"]
    )


def test_bootstrap_again_skips_every_done_step(rehearsal: Rehearsal) -> None:
    output = _output(rehearsal, "bootstrap again")
    for stack in ("bootstrap-home", "bootstrap-management", "bootstrap-central", "pipeline"):
        assert f"{stack}: done at" in output and "unchanged; skipped" in output, stack
    assert "terraform init and apply" not in output


def test_destroy_leaves_no_state(rehearsal: Rehearsal) -> None:
    assert rehearsal.state_after_destroy == {stack: [] for stack in rehearsal.state_after_destroy}
    assert len(rehearsal.state_after_destroy) == len(rehearsal.deployable()) + 4


def _refused(rehearsal: Rehearsal, control: str, *fragments: str) -> None:
    outcome = rehearsal.negative[control]
    assert not outcome.startswith("exit 0"), outcome
    for fragment in fragments:
        assert fragment in outcome, (fragment, outcome)


def test_negative_control_a_missing_deploy_role_action_fails_naming_it(rehearsal: Rehearsal) -> None:
    _refused(rehearsal, "without kms:CreateKey", "AccessDeniedException", "is not authorized to perform: kms:CreateKey")


def test_negative_control_a_removed_pass_role_fails_naming_the_role(rehearsal: Rehearsal) -> None:
    """An alert rule's PutTargets hands the target's role to EventBridge (EventBridge user guide, eb-use-identity-based.html:
    "EventBridge requires this permission to pass an invocation role"; IAM/id_roles_use_passrole.html)."""
    member = rehearsal.members[0]
    _refused(
        rehearsal,
        "without iam:PassRole",
        f"is not authorized to perform: iam:PassRole on resource: arn:aws:iam::{member}:role/",
        "because no identity-based policy allows the iam:PassRole action",
    )


def test_negative_control_a_resource_arn_of_another_name_fails_naming_the_resource(rehearsal: Rehearsal) -> None:
    """IAM/reference_policies_elements_resource.html: the Allow names another vault, so it grants nothing here."""
    member = rehearsal.members[-1]
    _refused(
        rehearsal,
        "vault ARN narrowed to another name",
        "is not authorized to perform: backup:CreateBackupVault on resource: arn:aws:backup:",
        f":{member}:backup-vault:",
        "because no identity-based policy allows the backup:CreateBackupVault action",
    )


def test_negative_control_a_condition_that_never_holds_fails_naming_the_action(rehearsal: Rehearsal) -> None:
    _refused(
        rehearsal,
        "a condition that never holds",
        "is not authorized to perform: organizations:CreatePolicy",
        "because no identity-based policy allows the organizations:CreatePolicy action",
    )


def test_negative_control_a_key_policy_without_the_deploy_role_fails_reading_the_key(rehearsal: Rehearsal) -> None:
    """The deploy role's permissions on a key live in its key policy (policies/kms/deploy-role-on-key.json); the
    account's statement only delegates to IAM policies, which grant the role none (KMS/key-policy-default.html)."""
    outcome = rehearsal.negative["key policy without the deploy role"]
    key = outcome.split(" key ", 1)[1].split("\n", 1)[0]
    _refused(
        rehearsal, "key policy without the deploy role", f"on resource: {key}", "is not authorized to perform: kms:"
    )


def test_negative_control_an_scp_denying_a_deploy_action_fails_naming_the_scp(rehearsal: Rehearsal) -> None:
    """ORG/orgs_manage_policies_scps_evaluation.html: an explicit Deny in any SCP of the account's path wins."""
    from tests.rehearsal.controls import SCP_NAME

    _refused(
        rehearsal,
        "an SCP denying backup:CreateBackupVault",
        "is not authorized to perform: backup:CreateBackupVault",
        f"with an explicit deny in a service control policy (SCP {SCP_NAME}",
    )


def test_negative_control_a_trust_policy_naming_a_missing_role_is_refused(rehearsal: Rehearsal) -> None:
    outcome = rehearsal.negative["trust naming a missing role"]
    assert "Invalid principal in policy" in outcome, outcome
    assert "does-not-exist-yet" in outcome, outcome


def test_moto_server_is_stopped_after_the_run(rehearsal: Rehearsal) -> None:
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{rehearsal.endpoint}/moto-api/", timeout=2)


# --- The test server's additions to moto, each against AWS's documented answer (one server for all) ----------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    moto = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log", tls=True)
    try:
        # moto's default account (123456789012) makes an organization: the strict principal check knows accounts
        # by their organization, as AWS knows only accounts that exist.
        session(moto.url, aws_access_key_id="k", aws_secret_access_key="s").client(
            "organizations", endpoint_url=moto.url, region_name="us-east-1"
        ).create_organization(FeatureSet="ALL")
        yield moto.url
    finally:
        moto.stop()


def test_vault_access_policy_api_behaves_as_documented(server: str) -> None:
    backup = session(server, aws_access_key_id="k", aws_secret_access_key="s").client(
        "backup", endpoint_url=server, region_name="eu-west-1"
    )
    arn = backup.create_backup_vault(BackupVaultName="vault")["BackupVaultArn"]
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        backup.get_backup_vault_access_policy(BackupVaultName="vault")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "backup:DeleteBackupVault", "Resource": "*"}],
        }
    )
    backup.put_backup_vault_access_policy(BackupVaultName="vault", Policy=policy)
    got = backup.get_backup_vault_access_policy(BackupVaultName="vault")
    assert (got["BackupVaultName"], got["BackupVaultArn"], got["Policy"]) == ("vault", arn, policy)
    backup.delete_backup_vault_access_policy(BackupVaultName="vault")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        backup.get_backup_vault_access_policy(BackupVaultName="vault")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        backup.put_backup_vault_access_policy(BackupVaultName="missing", Policy=policy)


def _trust(principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
        }
    )


def test_policies_naming_a_principal_that_does_not_exist_are_refused(server: str) -> None:
    """IAM: "Invalid principal in policy" for a role that does not exist (moto accepted anything)."""
    iam = session(server, aws_access_key_id="k", aws_secret_access_key="s").client(
        "iam", endpoint_url=server, region_name="us-east-1"
    )
    account = "123456789012"  # moto's default account
    with pytest.raises(ClientError, match="Invalid principal in policy"):
        iam.create_role(RoleName="a", AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{account}:role/missing"))
    iam.create_role(RoleName="b", AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{account}:root"))
    iam.create_role(RoleName="c", AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{account}:role/b"))
    backup = session(server, aws_access_key_id="k", aws_secret_access_key="s").client(
        "backup", endpoint_url=server, region_name="eu-west-1"
    )
    backup.create_backup_vault(BackupVaultName="strict")
    vault_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:role/missing"},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ],
        }
    )
    with pytest.raises(ClientError, match="Invalid principal"):
        backup.put_backup_vault_access_policy(BackupVaultName="strict", Policy=vault_policy)


def test_enforced_iam_signs_bodyless_requests_and_checks_trust_and_tls(server: str) -> None:
    """With enforcement on: a REST GET is judged by the caller's policy, not refused for its signature (moto 5.2.5
    mis-signed them); AssumeRole follows the trust's aws:PrincipalArn condition; an https request passes a TLS-only
    bucket policy (moto 5.2.5 denied every request: the next test shows http is still denied)."""
    account = "123456789012"
    warm_iam(server, account)
    admin_iam = session_in(server, account, "seed").client("iam", endpoint_url=server, region_name="us-east-1")
    keys = {}
    for user, policy in (("reader", "ReadOnlyAccess"), ("nobody", None)):
        admin_iam.create_user(UserName=user)
        if policy:
            admin_iam.attach_user_policy(UserName=user, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        # Both may call AssumeRole (an account principal in a trust needs the caller's own Allow too): what tells
        # them apart below is the trust's condition.
        admin_iam.put_user_policy(
            UserName=user,
            PolicyName="assume",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                }
            ),
        )
        key = admin_iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{account}:user/reader"}},
            }
        ],
    }
    admin_iam.create_role(RoleName="only-reader", AssumeRolePolicyDocument=json.dumps(trust))
    admin_iam.attach_role_policy(RoleName="only-reader", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    s3 = session_in(server, account, "seed").client("s3", endpoint_url=server, region_name="us-east-1")
    s3.create_bucket(Bucket="tls-only")
    s3.put_bucket_policy(
        Bucket="tls-only",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )
    _set_auth(server, "0")
    try:
        reader = session(server, **keys["reader"])
        nobody = session(server, **keys["nobody"])
        backup_reader = reader.client("backup", endpoint_url=server, region_name="eu-west-1")
        assert backup_reader.list_backup_vaults()["BackupVaultList"] is not None  # a bodyless GET, signed right
        with pytest.raises(ClientError, match="AccessDenied"):
            nobody.client("backup", endpoint_url=server, region_name="eu-west-1").list_backup_vaults()
        role = f"arn:aws:iam::{account}:role/only-reader"
        assumed = reader.client("sts", endpoint_url=server, region_name="us-east-1").assume_role(
            RoleArn=role, RoleSessionName="reader"
        )
        assert assumed["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{account}:assumed-role/only-reader/")
        with pytest.raises(ClientError, match="AccessDenied"):
            nobody.client("sts", endpoint_url=server, region_name="us-east-1").assume_role(
                RoleArn=role, RoleSessionName="nobody"
            )
        reader_s3 = reader.client("s3", endpoint_url=server, region_name="us-east-1")
        assert reader_s3.list_objects_v2(Bucket="tls-only")["KeyCount"] == 0  # https: the Deny does not apply
    finally:
        _set_auth(server, "inf")


def test_a_tls_only_bucket_policy_denies_exactly_the_requests_without_tls() -> None:
    """The server serves only https, so the http side is the evaluation itself (org_backup.iam.evaluator, which the
    server uses for bucket policies: tests/rehearsal/moto_authz.py)."""
    from org_backup.iam.evaluator import conditions_hold

    tls_only = {"Bool": {"aws:SecureTransport": "false"}}
    assert conditions_hold(tls_only, {"aws:securetransport": "false"})
    assert not conditions_hold(tls_only, {"aws:securetransport": "true"})
    assert not conditions_hold(tls_only, {})  # a key the request does not carry: the condition does not hold
    # IAM/reference_policies_elements_condition_operators.html#Conditions_Numeric: 1 < 3600 holds
    assert conditions_hold({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {"aws:multifactorauthage": "1"})


def test_region_settings_api_behaves_as_documented(server: str) -> None:
    """DescribeRegionSettings / UpdateRegionSettings (GET/PUT /account-settings), added to moto (moto_fixes fix 7):
    an update sets the types it names, per account and Region."""
    backup = session(server, aws_access_key_id="k", aws_secret_access_key="s").client(
        "backup", endpoint_url=server, region_name="eu-central-1"
    )
    backup.update_region_settings(
        ResourceTypeOptInPreference={"EBS": True, "RDS": False}, ResourceTypeManagementPreference={"DynamoDB": True}
    )
    backup.update_region_settings(ResourceTypeOptInPreference={"RDS": True})
    got = backup.describe_region_settings()
    assert got["ResourceTypeOptInPreference"] == {"EBS": True, "RDS": True}
    assert got["ResourceTypeManagementPreference"] == {"DynamoDB": True}
    other_region = session(server, aws_access_key_id="k", aws_secret_access_key="s").client(
        "backup", endpoint_url=server, region_name="us-west-2"
    )
    assert other_region.describe_region_settings()["ResourceTypeOptInPreference"] == {}


def test_a_retried_call_moto_already_carried_out_gets_its_first_answer(server: str) -> None:
    """tests/rehearsal/moto_retries.py: an SDK's second attempt of one call (same amz-sdk-invocation-id) is answered
    as the first was; a new call with the same input meets the role the first made, as in AWS."""
    iam = session(server, aws_access_key_id="k", aws_secret_access_key="s").client(
        "iam", endpoint_url=server, region_name="us-east-1"
    )
    sent: list[Any] = []
    iam.meta.events.register("before-send.iam.CreateRole", lambda request, **_: sent.append(request))
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    first = iam.create_role(RoleName="retried", AssumeRolePolicyDocument=trust)["Role"]

    def resend(invocation: str) -> tuple[int, bytes]:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in sent[0].headers.items()}
        headers.update({"amz-sdk-invocation-id": invocation, "amz-sdk-request": "attempt=2; max=3"})
        body = sent[0].body if isinstance(sent[0].body, bytes) else sent[0].body.encode()
        again = urllib.request.Request(sent[0].url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(
                again, timeout=10, context=ssl.create_default_context(cafile=CA_BUNDLES[server])
            ) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()

    status, body = resend(sent[0].headers["amz-sdk-invocation-id"].decode())
    assert (status, first["RoleId"].encode() in body) == (200, True)
    status, body = resend("a-new-call")
    assert (status, b"EntityAlreadyExists" in body) == (409, True)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]].count("retried") == 1


def test_a_retry_after_a_server_error_is_carried_out_again() -> None:
    from tests.rehearsal.moto_retries import ReplayRetries

    answers = iter(["500 Internal Server Error", "200 OK"])
    calls = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["HTTP_AMZ_SDK_REQUEST"])
        start_response(next(answers), [])
        return [b"answer"]

    replaying = ReplayRetries(app)
    statuses = []
    for attempt in (1, 2, 3):
        environ = {"REQUEST_METHOD": "POST", "HTTP_AMZ_SDK_INVOCATION_ID": "one-call"}
        environ["HTTP_AMZ_SDK_REQUEST"] = f"attempt={attempt}; max=3"
        replaying(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert calls == ["attempt=1; max=3", "attempt=2; max=3"]  # the third attempt is the second's answer again
    assert statuses == ["500 Internal Server Error", "200 OK", "200 OK"]


def _user_with(server: str, account: str, name: str, statements: list[dict[str, Any]]) -> boto3.Session:
    iam = session_in(server, account, "seed").client("iam", endpoint_url=server, region_name="us-east-1")
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return session(server, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def test_the_server_decides_resources_conditions_passrole_tagging_and_key_policies_as_aws(server: str) -> None:
    """The four requests issue 25 found moto allowing, and a key policy that does not delegate to IAM: each refused
    with AWS's kind of message, each allowed when the missing piece is there."""
    account = "123456789012"
    warm_iam(server, account)
    seed = session_in(server, account, "seed")
    backup_seed = seed.client("backup", endpoint_url=server, region_name="eu-west-1")
    for vault in ("mine", "other"):
        backup_seed.create_backup_vault(BackupVaultName=vault)
    vault_arn = f"arn:aws:backup:eu-west-1:{account}:backup-vault:other"
    lonely_key = seed.client("kms", endpoint_url=server, region_name="eu-west-1").create_key(
        Policy=json.dumps(  # names only a role: no statement delegates to the account's IAM policies
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{account}:user/nobody"}},
                    }
                ],
            }
        )
    )["KeyMetadata"]["KeyId"]
    user = _user_with(
        server,
        account,
        "scoped",
        [
            {"Effect": "Allow", "Action": "backup:DescribeBackupVault", "Resource": vault_arn},
            {
                "Effect": "Allow",
                "Action": "backup:ListBackupVaults",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "us-west-2"}},
            },
            {"Effect": "Allow", "Action": ["kms:CreateKey", "kms:DescribeKey"], "Resource": "*"},
            {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"},
        ],
    )
    _set_auth(server, "0")
    try:
        backup = user.client("backup", endpoint_url=server, region_name="eu-west-1")
        # IAM/reference_policies_elements_resource.html: a statement applies only to the resources it names
        assert backup.describe_backup_vault(BackupVaultName="other")["BackupVaultArn"] == vault_arn
        with pytest.raises(ClientError, match=r"backup:DescribeBackupVault on resource: .*backup-vault:mine"):
            backup.describe_backup_vault(BackupVaultName="mine")
        # IAM/reference_policies_condition-keys.html#condition-keys-requestedregion: the Region the call goes to
        with pytest.raises(ClientError, match="no identity-based policy allows the backup:ListBackupVaults"):
            backup.list_backup_vaults()
        user.client("backup", endpoint_url=server, region_name="us-west-2").list_backup_vaults()
        kms = user.client("kms", endpoint_url=server, region_name="eu-west-1")
        # KMS API reference, CreateKey: "To use the Tags parameter, kms:TagResource (IAM policy)"
        with pytest.raises(ClientError, match="kms:TagResource"):
            kms.create_key(Tags=[{"TagKey": "owner", "TagValue": "me"}])
        key = kms.create_key()["KeyMetadata"]["KeyId"]  # moto's default key policy delegates to the account's IAM
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key
        # KMS/key-policy-default.html: without a key policy statement for the account, IAM policies are ineffective
        with pytest.raises(ClientError, match="no resource-based policy allows the kms:DescribeKey"):
            kms.describe_key(KeyId=lonely_key)
        # Lambda developer guide, permissions for CreateFunction: the execution role needs iam:PassRole
        with pytest.raises(ClientError, match="iam:PassRole on resource: arn:aws:iam::123456789012:role/fn"):
            user.client("lambda", endpoint_url=server, region_name="eu-west-1").create_function(
                FunctionName="fn",
                Role=f"arn:aws:iam::{account}:role/fn",
                Runtime="python3.12",
                Handler="handler.handler",
                Code={"ZipFile": b"PK"},
            )
    finally:
        _set_auth(server, "inf")
