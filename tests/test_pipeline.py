"""CI/CD: the pipeline stack (both source kinds), the deploy/plan roles StackSet, bootstrap stacks, buildspecs
that call only real Makefile targets, the plan-role switch and pull-request feedback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber

from org_backup.ops import pr_feedback
from tests.conftest import ROOT, Synthesized

MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
BUILDSPECS = sorted((ROOT / "buildspecs").glob("*.yml"))


@pytest.fixture(scope="module")
def example(synth: Any) -> Synthesized:
    return synth("example")


@pytest.fixture(scope="module")
def connection(synth: Any) -> Synthesized:
    return synth("connection_source")


def _one(out: Synthesized, stack: str, kind: str, **match: Any) -> dict[str, Any]:
    found = [r for r in out.resources(stack, kind).values() if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (kind, match, len(found))
    return found[0]


def _stages(pipeline: dict[str, Any]) -> list[str]:
    return [stage["name"] for stage in pipeline["stage"]]


def test_codecommit_pipeline_stages_and_encrypted_artifacts(example: Synthesized) -> None:
    pipeline = _one(example, "pipeline", "aws_codepipeline", name="org-backup")
    assert pipeline["pipeline_type"] == "V2"
    assert _stages(pipeline) == ["Source", "Validate", "Plan", "Approve", "Deploy"]
    assert pipeline["artifact_store"][0]["encryption_key"]["type"] == "KMS"
    plan = pipeline["stage"][2]["action"][0]
    assert plan["input_artifacts"] == ["source"] and plan["output_artifacts"] == ["plans"]
    assert len(example.resources("pipeline", "aws_codepipeline")) == 1  # PRs: CodeBuild, not a second pipeline


def test_codecommit_pull_requests_build_validate_and_plan_only(example: Synthesized) -> None:
    """Pull requests run on their own project and builder role, with the committed buildspec inline (the pull request
    cannot choose its own), and two approval rules, each with a pool: the approval function for the build, the
    configured reviewers for the review (CodeCommit User Guide: "only approvals from those users count")."""
    from org_backup.synth import fanout

    rule = _one(example, "pipeline", "aws_cloudwatch_event_rule", name="org-backup-pull-requests")
    pattern = json.loads(rule["event_pattern"])
    assert pattern["detail"]["event"] == ["pullRequestCreated", "pullRequestSourceBranchUpdated"]
    project = _one(example, "pipeline", "aws_codebuild_project", name="org-backup-pull-request")
    assert project["source"]["type"] == "CODECOMMIT"
    assert project["source"]["buildspec"].replace("$${", "${") == fanout.pull_request_buildspec()
    assert project["service_role"] == "${aws_iam_role.builder-pull-request.arn}"
    assert _one(example, "pipeline", "aws_iam_role", name="org-backup-pull-request")
    target = [
        t for t in example.resources("pipeline", "aws_cloudwatch_event_target").values() if "input_transformer" in t
    ]
    assert len(target) == 1
    assert "DESTINATION_COMMIT" in target[0]["input_transformer"]["input_template"]
    approvals = {
        a["name"]: json.loads(a["content"])["Statements"]
        for a in example.resources("pipeline", "aws_codecommit_approval_rule_template").values()
    }
    assert approvals == {
        "org-backup-validation": [
            {
                "Type": "Approvers",
                "NumberOfApprovalsNeeded": 1,
                "ApprovalPoolMembers": ["arn:aws:sts::333333333333:assumed-role/org-backup-pr-approval/*"],
            }
        ],
        "org-backup-review": [
            {
                "Type": "Approvers",
                "NumberOfApprovalsNeeded": 1,
                "ApprovalPoolMembers": ["arn:aws:sts::333333333333:assumed-role/OrgBackupReviewers/*"],
            }
        ],
    }


def _policy_of(out: Synthesized, role: str) -> list[dict[str, Any]]:
    policies = [
        p for p in out.resources("pipeline", "aws_iam_role_policy").values() if p["name"] == f"builder-{role}-policy"
    ]
    (policy,) = policies
    return json.loads(policy["policy"])["Statement"]


def test_only_the_deploy_builder_may_assume_deploy_roles_and_only_inside_the_organization(example: Synthesized) -> None:
    def assumes(role: str, effect: str = "Allow") -> list[dict[str, Any]]:
        return [s for s in _policy_of(example, role) if s["Action"] == "sts:AssumeRole" and s["Effect"] == effect]

    (deploy,) = assumes("deploy")
    assert deploy["Resource"] == "arn:aws:iam::*:role/OrgBackupDeployRole"
    assert deploy["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
    (plan,) = assumes("plan")
    assert plan["Resource"] == "arn:aws:iam::*:role/OrgBackupPlanRole"
    assert assumes("validate") == []
    # Policies delegated (the example): no builder may enter the management account, whatever a role there trusts.
    for builder in ("deploy", "plan", "pull-request"):
        (never,) = assumes(builder, "Deny")
        assert never["Resource"] == "arn:aws:iam::111111111111:role/*", builder
    state_writes = {a for s in _policy_of(example, "plan") for a in s["Action"] if s["Sid"] == "TerraformState"}
    assert state_writes == {"s3:GetObject", "s3:ListBucket"}


def test_builds_logs_topic_are_encrypted_and_kept(example: Synthesized) -> None:
    for project in example.resources("pipeline", "aws_codebuild_project").values():
        assert project["encryption_key"].startswith("${aws_kms_key.")
        assert project["environment"]["privileged_mode"] is False
        assert project["logs_config"]["cloudwatch_logs"]["status"] == "ENABLED"
    for group in example.resources("pipeline", "aws_cloudwatch_log_group").values():
        assert group["retention_in_days"] == 365 and group["kms_key_id"].startswith("${aws_kms_key.")
    topic = _one(example, "pipeline", "aws_sns_topic", name="org-backup-pipeline")
    assert topic["kms_master_key_id"].startswith("${aws_kms_key.")
    failed = _one(example, "pipeline", "aws_cloudwatch_event_rule", name="org-backup-pipeline-failed")
    assert json.loads(failed["event_pattern"])["detail"]["state"] == ["FAILED"]


def test_new_accounts_start_the_pipeline(example: Synthesized) -> None:
    rule = _one(example, "pipeline", "aws_cloudwatch_event_rule", name="org-backup-account-enrolment")
    assert json.loads(rule["event_pattern"])["detail"]["eventName"] == [
        "CreateAccountResult",
        "MoveAccount",
        "AcceptHandshake",
    ]
    bus = json.loads(_one(example, "pipeline", "aws_cloudwatch_event_bus_policy", event_bus_name="default")["policy"])
    assert bus["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    # Organizations' events reach the management account only: the forwarding rule is there, in bootstrap-management
    # when the policies are delegated (the example), else in the management stack.
    forward = _one(example, "bootstrap-management", "aws_cloudwatch_event_rule", name="org-backup-account-enrolment")
    assert forward["provider"] == "aws.us-east-1"
    (target,) = example.resources("bootstrap-management", "aws_cloudwatch_event_target").values()
    assert target["arn"] == "arn:aws:events:eu-west-1:333333333333:event-bus/default"
    assert "aws_cloudwatch_event_rule" not in example.stack("management").get("resource", {})


def test_connection_source_has_a_pull_request_pipeline_without_deploy(connection: Synthesized) -> None:
    main = _one(connection, "pipeline", "aws_codepipeline", name="org-backup")
    prs = _one(connection, "pipeline", "aws_codepipeline", name="org-backup-pull-requests")
    assert _stages(main) == ["Source", "Validate", "Plan", "Deploy"]  # manual_approval: false
    assert _stages(prs) == ["Source", "Check"]
    (check,) = prs["stage"][1]["action"]
    assert check["configuration"] == {"ProjectName": "${aws_codebuild_project.project-pull-request.name}"}
    # Its own role and artifact bucket: nothing of a pull request reaches the deploy branch's.
    assert prs["role_arn"] == "${aws_iam_role.pr-pipeline-role.arn}" != main["role_arn"]
    assert prs["artifact_store"][0]["location"] == "${aws_s3_bucket.pr-artifacts.bucket}"
    assert main["artifact_store"][0]["location"] == "${aws_s3_bucket.artifacts.bucket}"
    assert main["trigger"][0]["git_configuration"]["push"][0]["branches"]["includes"] == ["main"]
    assert prs["trigger"][0]["git_configuration"]["pull_request"][0]["events"] == ["OPEN", "UPDATED"]
    assert main["stage"][0]["action"][0]["configuration"]["FullRepositoryId"] == "example-org/org-backup"
    assert "aws_codecommit_repository" not in connection.stack("pipeline")["resource"]
    (sub,) = connection.resources("pipeline", "aws_sns_topic_subscription").values()
    assert sub["endpoint"] == "platform-oncall@example.com"


def test_stackset_puts_deploy_and_plan_roles_into_every_target_ou(example: Synthesized) -> None:
    """In bootstrap-management, applied by an administrator before the first plan: the pipeline's first run plans
    member stacks through the plan roles, so they must exist before it; and the pipeline never widens its own reach."""
    stack_set = _one(example, "bootstrap-management", "aws_cloudformation_stack_set", name="org-backup-deploy-roles")
    assert "aws_cloudformation_stack_set" not in example.stack("management")["resource"]
    assert stack_set["permission_model"] == "SERVICE_MANAGED"
    assert stack_set["auto_deployment"] == {"enabled": True, "retain_stacks_on_account_removal": False}
    template = json.loads(stack_set["template_body"])
    deploy = template["Resources"]["DeployRole"]["Properties"]
    plan = template["Resources"]["PlanRole"]["Properties"]
    assert deploy["RoleName"] == "OrgBackupDeployRole" and plan["RoleName"] == "OrgBackupPlanRole"
    # The example's pipeline.plan_readers (one role) may assume the plan role too, never the deploy role.
    reader = {
        "Sid": "PlanReader1",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::333333333333:role/PlatformReadOnly"}},
    }
    for role, builders, readers in ((deploy, ["deploy"], []), (plan, ["plan", "pull-request"], [reader])):
        assert (
            role["AssumeRolePolicyDocument"]["Statement"]
            == [
                {
                    "Sid": f"PipelineBuilderOnly{builder.title().replace('-', '')}",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::333333333333:role/org-backup-{builder}"}
                    },
                }
                for builder in builders
            ]
            + readers
        )
    actions = {
        a
        for s in _deploy_role_statements(template).values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not any(a.endswith(":*") or a == "*" for a in actions), "no wildcard actions in the deploy role"
    # Its permissions are managed policies under org-backup's path, each within IAM's 6,144 characters.
    assert deploy["ManagedPolicyArns"] == [{"Ref": f"DeployRolePolicy{n}"} for n in (1, 2, 3)]
    assert "Policies" not in deploy
    for index in (1, 2, 3):
        managed = template["Resources"][f"DeployRolePolicy{index}"]["Properties"]
        assert (managed["ManagedPolicyName"], managed["Path"]) == (f"OrgBackupDeployRole-{index}", "/org-backup/")
        assert len(json.dumps(managed["PolicyDocument"], separators=(",", ":"))) <= 6_144
    boundaries = {
        r["Properties"]["ManagedPolicyName"] for k, r in template["Resources"].items() if k.endswith("Boundary")
    }
    assert boundaries == {"OrgBackupFunctionBoundary"}
    instance = _one(example, "bootstrap-management", "aws_cloudformation_stack_set_instance")
    assert instance["deployment_targets"]["organizational_unit_ids"] == ["ou-ab12-prod0001", "ou-ab12-nonprod01"]


def test_bootstrap_stacks(example: Synthesized, policies_in_management: Synthesized, synth: Any) -> None:
    assert _one(example, "bootstrap-home", "aws_s3_bucket")["bucket"] == "org-backup-tfstate-333333333333-eu-west-1"
    home = example.stack("bootstrap-home")
    assert home["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}
    assert "assume_role" not in home["provider"]["aws"][0]  # applied with the account's own credentials
    assert home["provider"]["aws"][0]["allowed_account_ids"] == ["333333333333"]
    sse = _one(example, "bootstrap-home", "aws_s3_bucket_server_side_encryption_configuration")
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    pab = _one(example, "bootstrap-home", "aws_s3_bucket_public_access_block")
    assert all(
        pab[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    tls = json.loads(_one(example, "bootstrap-home", "aws_s3_bucket_policy")["policy"])
    assert tls["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Policies delegated (the example): no role the pipeline could assume in the management account, only the
    # enrolment forwarder, which EventBridge assumes; the delegation policy names the central account's roles.
    assert [r["name"] for r in example.resources("bootstrap-management", "aws_iam_role").values()] == [
        "org-backup-enrolment-forwarder"
    ]
    delegation = json.loads(_one(example, "bootstrap-management", "aws_organizations_resource_policy")["content"])
    assert {s["Principal"]["AWS"] for s in delegation["Statement"]} == {"arn:aws:iam::222222222222:root"}
    roles = {r["name"]: r for r in policies_in_management.resources("bootstrap-management", "aws_iam_role").values()}
    assert sorted(roles) == ["OrgBackupDeployRole", "OrgBackupPlanRole"]
    # Bootstrap runs before the pipeline stack creates the builder roles: the trust must not name them as principals
    # (IAM: "Invalid principal in policy"), only narrow the home account to them.
    # The plan role also trusts the example's one plan reader (pipeline.plan_readers), narrowed the same way.
    for name, principals in (
        ("OrgBackupDeployRole", ["role/org-backup-deploy"]),
        ("OrgBackupPlanRole", ["role/org-backup-plan", "role/org-backup-pull-request", "role/PlatformReadOnly"]),
    ):
        statements = json.loads(roles[name]["assume_role_policy"])["Statement"]
        assert [s["Principal"] for s in statements] == [{"AWS": "arn:aws:iam::333333333333:root"}] * len(principals)
        assert [s["Condition"] for s in statements] == [
            {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::333333333333:{principal}"}} for principal in principals
        ]
    assert "organizations:CreatePolicy" in json.dumps(_management_policy(policies_in_management))
    policies = {p["name"] for p in policies_in_management.resources("bootstrap-management", "aws_iam_policy").values()}
    assert policies == {"OrgBackupDeployRole-1", "OrgBackupFunctionBoundary"}
    assert "aws_organizations_resource_policy" not in policies_in_management.stack("bootstrap-management")["resource"]
    # The central account that is also a member gets its roles from the StackSet, so no bootstrap stack.
    assert "bootstrap-central" not in synth("central_is_member").stack_names


def test_plan_role_switch_makes_providers_assume_the_plan_role(synth: Any) -> None:
    stack = synth("minimal", role="plan").stack("member-100000000004")
    assert (
        stack["provider"]["aws"][0]["assume_role"][0]["role_arn"] == "arn:aws:iam::100000000004:role/OrgBackupPlanRole"
    )


@pytest.mark.parametrize("buildspec", BUILDSPECS, ids=[b.stem for b in BUILDSPECS])
def test_buildspecs_parse_and_call_only_existing_make_targets(buildspec: Path) -> None:
    spec = yaml.safe_load(buildspec.read_text())
    assert spec["version"] == 0.2
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    targets = [t for c in commands for t in re.findall(r"\bmake ([a-z][a-z-]*)", c)]
    assert targets, "a buildspec runs the Makefile targets a developer runs"
    assert [t for t in targets if t not in MAKE_TARGETS] == []
    for report in spec.get("reports", {}):
        assert report == "org-backup-checkov"


def test_every_project_buildspec_exists(example: Synthesized) -> None:
    """Each project names a committed buildspec, or (pull requests) carries it inline, as committed."""
    for project in example.resources("pipeline", "aws_codebuild_project").values():
        buildspec = project["source"]["buildspec"]
        if project["name"] == "org-backup-pull-request":
            assert buildspec.replace("$${", "${") == (ROOT / "buildspecs" / "pull-request.yml").read_text()
        else:
            assert (ROOT / buildspec).is_file()


def _deploy_actions(out: Synthesized) -> list[dict[str, Any]]:
    stage = _one(out, "pipeline", "aws_codepipeline", name="org-backup")["stage"][-1]
    assert stage["name"] == "Deploy"
    return stage["action"]


def test_deploy_deploys_what_plan_listed_phase_by_phase_as_one_build_each_by_default(example: Synthesized) -> None:
    """Three actions in order: the StackSet's deploy roles, then the accounts' stacks, then the backup policies."""
    actions = _deploy_actions(example)
    assert [(a["name"], a["run_order"]) for a in actions] == [
        ("DeployManagement", 1),
        ("DeployAccounts", 2),
        ("DeployBackupPolicies", 3),
    ]
    for phase, action in enumerate(actions, 1):
        assert action["input_artifacts"] == ["source", "plans"]
        assert action["configuration"] == {
            "ProjectName": "${aws_codebuild_project.project-deploy.name}",
            "PrimarySource": "source",
            "EnvironmentVariables": json.dumps([{"name": "ORG_BACKUP_DEPLOY_PHASE", "value": str(phase)}]),
        }
    project = _one(example, "pipeline", "aws_codebuild_project", name="org-backup-deploy")
    assert project["source"]["buildspec"] == "buildspecs/deploy.yml"
    assert project["concurrent_build_limit"] == 1
    assert "build_batch_config" not in project
    variables = {v["name"]: v["value"] for v in project["environment"]["environment_variable"]}
    assert (variables["ORG_BACKUP_SHARD"], variables["ORG_BACKUP_SHARDS"]) == ("1", "1")


def test_deploy_fans_out_as_a_batch_build_of_deploy_shards(connection: Synthesized) -> None:
    """Only the accounts' phase fans out: the other two deploy one stack each."""
    batch_enabled = [a["configuration"].get("BatchEnabled") for a in _deploy_actions(connection)]
    assert batch_enabled == [None, "true", None]
    project = _one(connection, "pipeline", "aws_codebuild_project", name="org-backup-deploy")
    assert project["concurrent_build_limit"] == 4  # a shard over the limit would fail, not wait
    batch = project["build_batch_config"]
    assert batch["restrictions"] == {"maximum_builds_allowed": 4, "compute_types_allowed": ["BUILD_GENERAL1_MEDIUM"]}
    assert batch["combine_artifacts"] is False
    assert "deploy-batch-role" in batch["service_role"]
    from org_backup.synth import fanout

    # Terraform's JSON escapes ${VAR} as $${VAR} and hands CodeBuild the shell's ${VAR} again.
    assert project["source"]["buildspec"].replace("$${", "${") == fanout.batch_buildspec(4)
    spec = yaml.safe_load(fanout.batch_buildspec(4))
    assert [b["env"]["variables"] for b in spec["batch"]["build-list"]] == [
        {"ORG_BACKUP_SHARD": str(i), "ORG_BACKUP_SHARDS": "4"} for i in range(1, 5)
    ]
    policy = _one(connection, "pipeline", "aws_iam_role_policy", name="deploy-batch-policy")
    (statement,) = json.loads(policy["policy"])["Statement"]
    assert statement["Action"] == ["codebuild:RetryBuild", "codebuild:StartBuild", "codebuild:StopBuild"]
    assert statement["Resource"] == "arn:aws:codebuild:us-west-2:300000000003:project/org-backup-deploy"
    pipeline_policy = json.loads(_one(connection, "pipeline", "aws_iam_role_policy", name="pipeline-policy")["policy"])
    (batch_grant,) = [s for s in pipeline_policy["Statement"] if s.get("Sid") == "DeployBatch"]
    assert batch_grant["Action"] == ["codebuild:BatchGetBuildBatches", "codebuild:StartBuildBatch"]


def test_plan_fans_out_as_a_batch_of_plan_shards_then_one_merge_build(connection: Synthesized) -> None:
    """plan_shards: 3 (the fixture). The Plan stage: the plan project as a batch whose shards' artifacts CodePipeline
    combines (BatchEnabled and CombineArtifacts, CodeBuild User Guide "Batch build with combined artifacts"), then a
    merge build of the same project, run order 2, reading that combined artifact and writing "plans", which the
    Deploy stage reads as with one Plan build."""
    from org_backup.synth import fanout

    pipeline = _one(connection, "pipeline", "aws_codepipeline", name="org-backup")
    (plan_stage,) = [s for s in pipeline["stage"] if s["name"] == "Plan"]
    shards, merge = plan_stage["action"]
    project = "${aws_codebuild_project.project-plan.name}"
    assert (shards["name"], shards["run_order"], shards["input_artifacts"], shards["output_artifacts"]) == (
        "Plan",
        1,
        ["source"],
        ["plan_shards"],
    )
    assert shards["configuration"] == {"ProjectName": project, "BatchEnabled": "true", "CombineArtifacts": "true"}
    assert (merge["name"], merge["run_order"], merge["input_artifacts"], merge["output_artifacts"]) == (
        "MergePlans",
        2,
        ["source", "plan_shards"],
        ["plans"],
    )
    assert merge["configuration"] == {
        "ProjectName": project,
        "PrimarySource": "source",
        "EnvironmentVariables": json.dumps([{"name": "ORG_BACKUP_PLAN_MERGE", "value": "1"}]),
    }
    assert all(a["input_artifacts"] == ["source", "plans"] for a in _deploy_actions(connection))

    plan = _one(connection, "pipeline", "aws_codebuild_project", name="org-backup-plan")
    assert plan["source"]["buildspec"].replace("$${", "${") == fanout.plan_batch_buildspec(3)
    batch = plan["build_batch_config"]
    assert batch["combine_artifacts"] is True
    assert batch["restrictions"]["maximum_builds_allowed"] == 3
    assert "plan-batch-role" in batch["service_role"]
    variables = {v["name"]: v["value"] for v in plan["environment"]["environment_variable"]}
    assert variables["ORG_BACKUP_PLAN_SHARDS"] == "3"  # the merge build is no batch member
    policy = _one(connection, "pipeline", "aws_iam_role_policy", name="plan-batch-policy")
    (statement,) = json.loads(policy["policy"])["Statement"]
    assert statement["Action"] == ["codebuild:RetryBuild", "codebuild:StartBuild", "codebuild:StopBuild"]
    assert statement["Resource"] == "arn:aws:codebuild:us-west-2:300000000003:project/org-backup-plan"
    pipeline_policy = json.loads(_one(connection, "pipeline", "aws_iam_role_policy", name="pipeline-policy")["policy"])
    grants = {s["Sid"]: s["Resource"] for s in pipeline_policy["Statement"] if s.get("Sid", "").endswith("Batch")}
    assert grants == {
        "PlanBatch": "arn:aws:codebuild:us-west-2:300000000003:project/org-backup-plan",
        "DeployBatch": "arn:aws:codebuild:us-west-2:300000000003:project/org-backup-deploy",
    }


def test_plan_batch_buildspec_shards_plan_every_changed_stack_once_and_merge_reads_their_artifact() -> None:
    from org_backup.synth import fanout, incremental

    spec = yaml.safe_load(fanout.plan_batch_buildspec(4))
    plain = yaml.safe_load((ROOT / "buildspecs" / "plan-shards.yml").read_text())
    assert {k: v for k, v in spec.items() if k != "batch"} == plain
    (command,) = plain["phases"]["build"]["commands"]
    # The merge reads the combined artifact by its input name (CodeBuild: CODEBUILD_SRC_DIR_<input artifact name>).
    assert 'make plan-merge SHARDS_DIR="${CODEBUILD_SRC_DIR_plan_shards}"' in command
    assert plain["artifacts"]["base-directory"] == "build/plan-artifact"
    variables = [b["env"]["variables"] for b in spec["batch"]["build-list"]]
    changed = ["management", "backup-policies", "central-backup", *(f"member-{i:012d}" for i in range(23))]
    planned = [
        s for v in variables
        for s in incremental.shard(changed, int(v["ORG_BACKUP_PLAN_SHARD"]), int(v["ORG_BACKUP_PLAN_SHARDS"]))
    ]  # fmt: skip
    assert sorted(planned) == sorted(changed)
    with pytest.raises(ValueError, match="at least 2 shards"):
        fanout.plan_batch_buildspec(1)


def test_one_plan_build_by_default(example: Synthesized) -> None:
    pipeline = _one(example, "pipeline", "aws_codepipeline", name="org-backup")
    (plan_stage,) = [s for s in pipeline["stage"] if s["name"] == "Plan"]
    (action,) = plan_stage["action"]
    assert action["configuration"] == {"ProjectName": "${aws_codebuild_project.project-plan.name}"}
    project = _one(example, "pipeline", "aws_codebuild_project", name="org-backup-plan")
    assert project["source"]["buildspec"] == "buildspecs/plan.yml" and "build_batch_config" not in project
    assert "plan-batch-policy" not in {p["name"] for p in example.resources("pipeline", "aws_iam_role_policy").values()}


@pytest.mark.parametrize("shards", [2, 5, 16])
def test_batch_buildspec_shards_cover_every_planned_stack_once(shards: int) -> None:
    from org_backup.synth import fanout, incremental

    spec = yaml.safe_load(fanout.batch_buildspec(shards))
    plain = yaml.safe_load((ROOT / "buildspecs" / "deploy.yml").read_text())
    assert {k: v for k, v in spec.items() if k != "batch"} == plain  # every shard runs the committed buildspec
    assert spec["batch"]["fast-fail"] is False  # never stop a shard's terraform apply half-way
    builds = spec["batch"]["build-list"]
    identifiers = [b["identifier"] for b in builds]
    assert len(set(identifiers)) == shards and all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in identifiers)
    planned = ["management", "central-backup", *(f"member-{i:012d}" for i in range(37))]
    deployed = [
        stack
        for b in builds
        for stack in incremental.shard(
            planned, int(b["env"]["variables"]["ORG_BACKUP_SHARD"]), int(b["env"]["variables"]["ORG_BACKUP_SHARDS"])
        )
    ]
    assert sorted(deployed) == sorted(planned)
    with pytest.raises(ValueError, match="at least 2 shards"):
        fanout.batch_buildspec(1)


def test_pull_request_feedback_comments_and_never_approves() -> None:
    """The pull request's own build posts its plan; any approval call would fail the stub (no response queued)."""
    import boto3

    client = boto3.client("codecommit", region_name="eu-west-1")
    env = {
        "PULL_REQUEST_ID": "42", "REVISION_ID": "rev-1", "REPOSITORY_NAME": "org-backup",
        "SOURCE_COMMIT": "a" * 40, "DESTINATION_COMMIT": "b" * 40,
    }  # fmt: skip
    stub = Stubber(client)
    stub.add_response(
        "post_comment_for_pull_request",
        {},
        {
            "pullRequestId": "42",
            "repositoryName": "org-backup",
            "beforeCommitId": "b" * 40,
            "afterCommitId": "a" * 40,
            "content": pr_feedback.comment(True, "# plan"),
        },
    )
    with stub:
        pr_feedback.feedback(client, env, succeeded=True, summary="# plan")
        stub.assert_no_pending_responses()
    with pytest.raises(SystemExit, match="missing environment variables PULL_REQUEST_ID"):
        pr_feedback.feedback(
            client, {k: v for k, v in env.items() if k != "PULL_REQUEST_ID"}, succeeded=True, summary=""
        )


def test_plan_selection_reports_patterns_that_match_nothing(example: Synthesized) -> None:
    from org_backup.ops.terraform import TerraformError, select

    assert [d.name for d in select(example.outdir, ["member-*"])] == [
        "member-444444444444",
        "member-555555555555",
        "member-666666666666",
    ]
    with pytest.raises(TerraformError, match="no synthesized stack matches centrl"):
        select(example.outdir, ["management", "centrl"])


def _statements_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def _deploy_role_statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every statement of the StackSet deploy role's managed policies, by Sid."""
    refs = template["Resources"]["DeployRole"]["Properties"]["ManagedPolicyArns"]
    return {
        sid: statement
        for ref in refs
        for sid, statement in _statements_of(template["Resources"][ref["Ref"]]["Properties"]["PolicyDocument"]).items()
    }


def _management_policy(out: Synthesized) -> dict[str, Any]:
    """The management deploy role's permissions, merged from its managed policies."""
    documents = [
        json.loads(p["policy"])
        for p in out.resources("bootstrap-management", "aws_iam_policy").values()
        if p["name"].startswith("OrgBackupDeployRole-")
    ]
    return {"Version": "2012-10-17", "Statement": [s for d in documents for s in d["Statement"]]}


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_deploy_role_has_no_key_administration_in_iam_only_in_the_policies_of_its_own_keys(
    example: Synthesized,
) -> None:
    """An IAM grant on key/* would reach every key whose policy delegates to IAM (the default); the deploy role gets
    key administration from the key policies of the keys org-backup creates, and IAM only what precedes a key."""
    stack_set = _one(example, "bootstrap-management", "aws_cloudformation_stack_set", name="org-backup-deploy-roles")
    statements = _deploy_role_statements(json.loads(stack_set["template_body"]))
    kms = {sid: _actions(st) for sid, st in statements.items() if any(a.startswith("kms:") for a in _actions(st))}
    assert kms == {
        # ListKeys: finding a key an interrupted apply created but never recorded (org_backup/ops/unrecorded.py); like
        # CreateKey and ListAliases it takes no resource (Service Authorization Reference, AWS KMS, Actions table).
        "CreateKeys": {"kms:CreateKey", "kms:ListAliases", "kms:ListKeys"},
        "TagKeysOnCreation": {"kms:TagResource"},
        "OwnKeyAliases": {"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"},
    }
    assert statements["TagKeysOnCreation"]["Condition"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": ["cost-center", "managed-by", "owner"]},
        "StringEquals": {
            "aws:RequestTag/cost-center": "4711",
            "aws:RequestTag/managed-by": "org-backup",
            "aws:RequestTag/owner": "platform-team",
        },
    }
    assert all(":key/" not in json.dumps(statements[sid]["Resource"]) for sid in kms)
    assert "iam:UpdateRoleDescription" in _actions(statements["ReadTagAndDeleteOwnRoles"])
    for stack in ("member-444444444444", "central-backup"):
        for key in example.resources(stack, "aws_kms_key").values():
            account = "444444444444" if stack.startswith("member") else "222222222222"
            grant = _statements_of(json.loads(key["policy"]))["DeployRoleManagesThisKey"]
            assert grant["Principal"] == {"AWS": f"arn:aws:iam::{account}:role/OrgBackupDeployRole"}
            # AWS Backup's permissions to create a vault with this key, plus what Terraform does with a key.
            assert {"kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant", "kms:Decrypt", "kms:GenerateDataKey"} <= (
                _actions(grant)
            )
            assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= _actions(grant)


def test_without_tags_keys_are_created_untagged_so_the_tagging_grant_is_left_out(synth: Any) -> None:
    stack_set = _one(
        synth("minimal"), "bootstrap-management", "aws_cloudformation_stack_set", name="org-backup-deploy-roles"
    )
    assert "TagKeysOnCreation" not in _deploy_role_statements(json.loads(stack_set["template_body"]))


def test_management_deploy_role_has_no_stack_set_access_and_manages_only_its_own_policies(
    policies_in_management: Synthesized,
) -> None:
    """The StackSet that puts deploy and plan roles into member accounts is bootstrap's (an administrator's), so the
    pipeline cannot widen its own reach: the deploy role has no CloudFormation action at all. Its actions without a
    resource type (Service Authorization Reference) sit in the one "*" statement (parliament,
    tests/test_policy_lint.py, reports any of them scoped)."""
    statements = _statements_of(_management_policy(policies_in_management))
    assert statements["WithoutResourceTypes"]["Resource"] == "*"
    assert not any(a.startswith("cloudformation:") for st in statements.values() for a in _actions(st))
    # Organizations writes reach only this organization's backup policies and SCPs (tests/test_threat_model.py
    # evaluates the tag conditions), and OUs and accounts as targets: never the root, where a deny-all SCP would bind
    # every account of the organization, not only the configured targets (docs/threat-model.md).
    assert statements["ChangeOnlyOrgBackupPolicies"]["Resource"] == [
        "arn:aws:organizations::111111111111:policy/o-a1b2c3d4e5/backup_policy/*",
        "arn:aws:organizations::111111111111:policy/o-a1b2c3d4e5/service_control_policy/*",
    ]
    assert statements["ChangeOnlyOrgBackupPolicies"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/org-backup": "managed"}
    }
    assert statements["AttachOnlyBackupPoliciesAndScpsToTargets"]["Resource"] == [
        "arn:aws:organizations::111111111111:ou/o-a1b2c3d4e5/*",
        "arn:aws:organizations::111111111111:account/o-a1b2c3d4e5/*",
    ]


def test_a_connection_is_used_with_the_action_of_its_own_service_prefix(synth: Any) -> None:
    """AWS: "the service prefix needs to match that of the resource" (codeconnections since the 2024 rename)."""
    policy = json.loads(
        _one(synth("connection_source"), "pipeline", "aws_iam_role_policy", name="pipeline-policy")["policy"]
    )
    (source,) = [s for s in policy["Statement"] if s.get("Sid") == "Source"]
    assert source["Action"] == "codeconnections:UseConnection"
    assert source["Resource"].startswith("arn:aws:codeconnections:")


def test_the_pull_request_comment_draws_the_topology_when_it_fits() -> None:
    drawn = pr_feedback.comment(True, "# plan", "flowchart LR\n  a --> b\n")
    assert drawn.endswith("What the configuration deploys:\n\n```mermaid\nflowchart LR\n  a --> b\n```\n")
    too_long = pr_feedback.comment(True, "x" * (pr_feedback.MAX_COMMENT - 100), "flowchart LR\n" + "  a --> b\n" * 50)
    assert too_long.endswith("(topology diagram omitted: too long)") and len(too_long) <= pr_feedback.MAX_COMMENT


def test_make_pr_feedback_entry_point_posts_summary_and_topology(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m org_backup.ops.pr_feedback --succeeded 1 --summary ... --topology ...`, as `make pr-feedback` runs it
    in the pull-request build: the files it is given end up in the comment (CodeCommit stubbed)."""
    import boto3

    client = boto3.client("codecommit", region_name="eu-west-1")
    stub = Stubber(client)
    (tmp_path / "summary.md").write_text("# plan\n")
    (tmp_path / "topology.md").write_text("flowchart LR\n  a --> b\n")
    stub.add_response(
        "post_comment_for_pull_request",
        {},
        {
            "pullRequestId": "7", "repositoryName": "org-backup", "beforeCommitId": "b" * 40,
            "afterCommitId": "a" * 40,
            "content": "org-backup pull-request build (the pull request's own report; the approval comes from "
            "the pipeline's approval function): passed: tests, checkov and plan.\n\n# plan\n\n\n"
            "What the configuration deploys:\n\n```mermaid\nflowchart LR\n  a --> b\n```\n",
        },
    )  # fmt: skip
    for name, value in {
        "PULL_REQUEST_ID": "7", "REVISION_ID": "r", "REPOSITORY_NAME": "org-backup",
        "SOURCE_COMMIT": "a" * 40, "DESTINATION_COMMIT": "b" * 40,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "client", lambda service, **_: client)
    with stub:
        args = ["--succeeded", "1", "--summary", str(tmp_path / "summary.md")]
        assert pr_feedback.main([*args, "--topology", str(tmp_path / "topology.md")]) == 0
        stub.assert_no_pending_responses()


def test_the_stackset_template_creates_the_roles_their_policies_and_the_boundary() -> None:
    """CloudFormation (moto's, with the test server's fix 16: ManagedPolicyArns) applies the StackSet's template as
    it is: the deploy role with its managed policies under /org-backup/, the plan role, the function boundary."""
    import boto3
    from moto import mock_aws

    from org_backup.config.loader import load_config
    from org_backup.iam import deploy_roles
    from tests.conftest import EXAMPLE_CONFIG
    from tests.rehearsal import moto_fixes

    moto_fixes.install_cloudformation_roles()
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(
            StackName="org-backup-deploy-roles",
            TemplateBody=deploy_roles.stackset_template(load_config(EXAMPLE_CONFIG)),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        iam = boto3.client("iam", region_name="us-east-1")
        attached = iam.list_attached_role_policies(RoleName="OrgBackupDeployRole")["AttachedPolicies"]
        assert [p["PolicyArn"].split(":", 5)[5] for p in attached] == [
            "policy/org-backup/OrgBackupDeployRole-1",
            "policy/org-backup/OrgBackupDeployRole-2",
            "policy/org-backup/OrgBackupDeployRole-3",
        ]
        assert iam.list_role_policies(RoleName="OrgBackupPlanRole")["PolicyNames"] == ["org-backup-plan"]
        local = {p["PolicyName"]: p["Path"] for p in iam.list_policies(Scope="Local")["Policies"]}
        assert local["OrgBackupFunctionBoundary"] == "/org-backup/"
        cloudformation.delete_stack(StackName="org-backup-deploy-roles")  # as DeleteStackInstances does
        assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []
