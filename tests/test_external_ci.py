"""``pipeline.enabled: false`` (issue 28, item 6): another CI system runs ``make plan`` and ``make deploy`` as the
roles of ``pipeline.deployers``. The config rules refuse every half-set switch; the synthesized organization has no
pipeline stack, and who may assume the deploy and plan roles is decided by ``org_backup.iam.evaluator`` (AWS's documented
evaluation of a role trust policy) over the synthesized JSON, each denial paired with the allowed request."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from org_backup.iam.evaluator import Policy, Principal, Request, evaluate
from tests import synthesized_policies as policies
from tests.conftest import FIXTURES, ROOT, Synthesized

EXTERNAL: dict[str, Any] = yaml.safe_load((FIXTURES / "external_ci.yaml").read_text())
HOME, MEMBER = "100000000003", "100000000004"
DEPLOYER = f"arn:aws:iam::{HOME}:role/github-actions/org-backup-deploy"
READER = f"arn:aws:iam::{HOME}:role/github-actions/org-backup-pull-request"
REVIEWERS = [f"arn:aws:sts::{HOME}:assumed-role/Reviewers/*"]


@pytest.fixture(scope="module")
def external(synth: Any) -> Synthesized:
    return synth("external_ci")


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InputError) as raised:
        config_from_dict(data, source="backup.yaml")
    return {p.field: p.message for p in raised.value.problems}


def test_the_fixture_is_valid_and_the_switch_is_off() -> None:
    config = config_from_dict(copy.deepcopy(EXTERNAL), source="external_ci.yaml")
    assert (config.pipeline.enabled, config.pipeline.source, config.pipeline.deployers) == (False, None, (DEPLOYER,))


def test_pipeline_settings_are_refused_while_the_pipeline_is_off() -> None:
    """Nothing is silently ignored: each field that configures the pipeline is named, with the fix."""
    data = copy.deepcopy(EXTERNAL)
    data["pipeline"].update(
        source={"type": "codecommit", "reviewers": REVIEWERS}, manual_approval=False, deploy_shards=2
    )
    data["guardrails"]["pipeline_account"] = {"enabled": True}
    found = _problems(data)
    assert sorted(found) == [
        "guardrails.pipeline_account.enabled",
        "pipeline.deploy_shards",
        "pipeline.manual_approval",
        "pipeline.source",
    ]
    assert found["pipeline.source"] == (
        "configures org-backup's CodePipeline, which pipeline.enabled: false leaves out. Fix: remove it (or set "
        "enabled: true)."
    )


def test_without_the_pipeline_someone_must_be_able_to_deploy_from_the_home_account() -> None:
    data = copy.deepcopy(EXTERNAL)
    data["pipeline"]["deployers"] = []
    assert _problems(data)["pipeline.deployers"].startswith("is empty, but with pipeline.enabled: false nobody else")
    # The state bucket's key policy delegates to IAM in the home account only (policies/kms/account-admin-key.json;
    # KMS Developer Guide, "Default key policy"): a deployer elsewhere could not write state.
    elsewhere = "arn:aws:iam::100000000009:role/ci"
    data["pipeline"]["deployers"] = [DEPLOYER, elsewhere, DEPLOYER]
    found = _problems(data)
    assert found["pipeline.deployers[1]"].startswith(f"{elsewhere!r} is in account 100000000009, but make deploy")
    assert found["pipeline.deployers[2]"] == f"{DEPLOYER!r} is listed twice. Fix: remove it."


def test_with_the_pipeline_on_it_needs_its_source_and_is_the_only_deployer() -> None:
    data = copy.deepcopy(EXTERNAL)
    del data["pipeline"]["enabled"]
    found = _problems(data)
    assert found["pipeline.source"].startswith("is required but missing. Fix: add 'source' with 'type: codecommit'")
    assert "with the pipeline on only its deploy builder may assume the deploy roles" in found["pipeline.deployers"]


def test_the_schema_requires_a_source_unless_the_pipeline_is_off() -> None:
    """backup.schema.json says what the rules say, so an editor flags a missing source too."""
    import jsonschema  # checkov's dependency, in Pipfile.lock

    validator = jsonschema.Draft202012Validator(json.loads((ROOT / "backup.schema.json").read_text()))
    assert list(validator.iter_errors(EXTERNAL)) == []
    on = copy.deepcopy(EXTERNAL)
    on["pipeline"].pop("enabled")
    assert [e.message for e in validator.iter_errors(on)] == ["'source' is a required property"]
    off = copy.deepcopy(EXTERNAL)
    off["pipeline"].pop("deployers")
    assert [e.message for e in validator.iter_errors(off)] == ["'deployers' is a required property"]


def test_no_pipeline_stack_and_no_enrolment_forwarding(external: Synthesized) -> None:
    """The state bucket stays (bootstrap-home): make plan and make deploy keep state in it from any CI system."""
    assert external.stack_names == [
        "backup-policies",
        "bootstrap-central",
        "bootstrap-home",
        "bootstrap-management",
        "central-backup",
        "management",
        f"member-{MEMBER}",
    ]
    # The rule forwarding new accounts to the home account starts org-backup's pipeline: none to start.
    assert "aws_cloudwatch_event_rule" not in external.stack("management")["resource"]
    assert "aws_iam_role" not in external.stack("management")["resource"]
    (bucket_policy,) = [
        json.loads(p["policy"]) for p in external.resources("bootstrap-home", "aws_s3_bucket_policy").values()
    ]
    (writers,) = [s for s in bucket_policy["Statement"] if s["Sid"] == "OnlyItsWritersWriteObjects"]
    assert writers["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [DEPLOYER, f"arn:aws:iam::{HOME}:role/Admin"]}}


def test_only_the_deployers_assume_the_deploy_role_and_readers_only_the_plan_role(external: Synthesized) -> None:
    """IAM User Guide, "Cross-account policy evaluation logic" and "Policy evaluation logic": a role trust policy must
    allow the principal; the same account's root narrowed by aws:PrincipalArn admits exactly that role. The member
    roles (StackSet) and the management account's (bootstrap-management) say the same."""
    management_trust = {
        r["name"]: Policy(r["name"], json.loads(r["assume_role_policy"]))
        for r in external.resources("bootstrap-management", "aws_iam_role").values()
    }
    any_role = [Policy("AssumeAnyRole", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})]  # fmt: skip
    builder = f"arn:aws:iam::{HOME}:role/org-backup-deploy"  # the pipeline's deploy builder, had it one
    expected = {"DeployRole": {DEPLOYER}, "PlanRole": {DEPLOYER, READER}}
    for kind, admitted in expected.items():
        for account, trust in (
            (MEMBER, policies.member_role_trust(external, kind)),
            ("100000000001", management_trust[f"OrgBackup{kind}"]),
        ):
            role_arn = f"arn:aws:iam::{account}:role/OrgBackup{kind}"
            for caller in (DEPLOYER, READER, builder):
                decision = evaluate(
                    Request(Principal(caller, session_name="ci"), "sts:AssumeRole", role_arn),
                    identity_policies=any_role,
                    resource_policy=trust,
                )
                assert decision.allowed == (caller in admitted), (kind, account, caller, decision.reason)


def test_bootstrap_has_no_pipeline_step(external: Synthesized) -> None:
    """docs/deploy.md, "Deploy from another CI system": the state bucket's step stays, the pipeline's goes."""
    from org_backup.ops import bootstrap

    config = config_from_dict(copy.deepcopy(EXTERNAL), source="external_ci.yaml")
    steps = bootstrap.steps(config, external.stack_names)
    assert [s.name for s in steps] == [
        "prerequisites",
        "bootstrap-home",
        "bootstrap-management",
        "bootstrap-central",
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_plan_reader_outside_the_home_account_is_refused(enabled: bool) -> None:
    """make plan and make diff read state with the reader's credentials; the state key admits the home account only
    (KMS Developer Guide, "Allowing users in other accounts to use a KMS key"), with the pipeline on or off."""
    data = copy.deepcopy(EXTERNAL)
    if enabled:
        del data["pipeline"]["enabled"], data["pipeline"]["deployers"]
        data["pipeline"]["source"] = {"type": "codecommit", "reviewers": REVIEWERS}
    elsewhere = "arn:aws:iam::100000000009:role/Reader"
    data["pipeline"]["plan_readers"] = [READER, elsewhere]
    assert _problems(data) == {
        "pipeline.plan_readers[1]": f"{elsewhere!r} is in account 100000000009, but make plan and make diff read "
        "Terraform state with the reader's own credentials from the state bucket in the home account 100000000003, "
        "whose key admits only that account's principals. Fix: name a role in the home account."
    }
