"""Every name, ARN and "what goes where" decision, in one place.

Cross-account ARNs are computed from the config rather than passed between stacks as tokens: a cross-stack token
would make CDKTF couple the stacks' states, and every ARN here is deterministic anyway.
"""

from __future__ import annotations

from org_backup.config.model import BackupConfig, S3Backend
from org_backup.config.regions import dns_suffix

CENTRAL_STACK = "central-backup"
MANAGEMENT_STACK = "management"
BACKUP_POLICIES_STACK = "backup-policies"
PIPELINE_STACK = "pipeline"
BOOTSTRAP_PREFIX = "bootstrap-"

# The pipelines in the home account: the deploy branch's, and (with a connection source) the pull requests'.
PIPELINE = "org-backup"
PR_PIPELINE = "org-backup-pull-requests"
PIPELINE_TOPIC = "org-backup-pipeline"  # failures and approvals of both
# The pipeline's CodeBuild roles in the home account, one per builder kind. The deploy roles trust only "deploy",
# the plan roles "plan" and "pull-request"; "pull-request" runs unmerged code, so it has its own project, role and
# artifact bucket, and nothing the deploy branch's pipeline consumes.
BUILDER_ROLES = {
    "validate": "org-backup-validate",
    "plan": "org-backup-plan",
    "deploy": "org-backup-deploy",
    "pull-request": "org-backup-pull-request",
}
PROJECT_PREFIX = "org-backup-"  # CodeBuild projects: org-backup-<validate|plan|deploy|pull-request>
PULL_REQUEST_PROJECT = "org-backup-pull-request"
# The function that approves a CodeCommit pull request when its build passed: code of the pipeline stack, which
# an administrator applies, never code of the pull request (the build's own role has no approval rights).
PR_APPROVAL_FUNCTION = "org-backup-pr-approval"
PR_APPROVAL_ROLE = "org-backup-pr-approval"
PR_APPROVAL_RULE = "org-backup-pr-build-finished"
PR_APPROVAL_DLQ = "org-backup-pr-approval-dlq"
PR_APPROVAL_KEY_ALIAS = "alias/org-backup/pr-approval"
# The pipeline's own service roles (CodePipeline, the EventBridge rules that start it or the pull-request build,
# the Plan and Deploy stages' batches): with the builders, the only principals the pipeline-account guardrail lets start builds.
PIPELINE_ROLE = "org-backup-pipeline"
PR_PIPELINE_ROLE = "org-backup-pr-pipeline"
DEPLOY_BATCH_ROLE = "org-backup-deploy-batch"
PLAN_BATCH_ROLE = "org-backup-plan-batch"
EVENTS_START_PIPELINE_ROLE = "org-backup-events-start-pipeline"
EVENTS_START_PR_BUILD_ROLE = "org-backup-events-start-pr-build"
EVENTS_ENROLMENT_ROLE = "org-backup-events-enrolment"
# The permissions boundary every role the deploy roles write policies into must carry (a customer managed policy
# that the StackSet and bootstrap create, never the pipeline): whatever a deploy role writes into a function's or
# event forwarder's role, that role can do no more than the reads, tags and deliveries of
# policies/iam/boundary-functions.json. AWS Backup's own role needs none: the deploy roles write no policy into it
# and may attach only AWS Backup's managed policies (a boundary would have to allow exactly what those allow).
BOUNDARIES = {"functions": "OrgBackupFunctionBoundary"}
BOUNDARY_TEMPLATES = {"functions": "iam/boundary-functions.json"}
# The IAM path of every customer managed policy org-backup creates (the boundary, the deploy roles' permissions):
# one ARN pattern, arn:<partition>:iam::<account>:policy/org-backup/*, that the guardrails protect.
POLICY_PATH = "/org-backup/"
# AWS managed policies of AWS Backup's default service role, including S3's pair: the only policies a deploy role
# may attach to a role (to the backup role, its only permissions).
BACKUP_MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)
# "Additional IAM role permissions are required for Amazon EBS snapshot backup index creation" (AWS Organizations
# User Guide, backup policy syntax, index_actions): AWS's managed policy for them.
EBS_INDEXING_POLICY = "AWSBackupServiceRolePolicyForIndexing"
# The tag that marks AWS Organizations policies as org-backup's: the management deploy role may update, attach,
# detach and delete only policies that carry it (aws:ResourceTag), and create only policies that get it.
MANAGED_POLICY_TAG = ("org-backup", "managed")
DEPLOY_ROLES_STACKSET = "org-backup-deploy-roles"
# The role a service-managed StackSet runs as in each target account: "By default, StackSets with service-managed
# permissions creates an execution role named stacksets-exec-* in each target account" (CloudFormation User Guide,
# "Configure a custom execution role template for StackSets"). It is created by the service-linked role
# AWSServiceRoleForCloudFormationStackSetsOrgMember, which SCPs do not restrict.
STACKSET_EXECUTION_ROLE = "stacksets-exec-*"
AIR_GAPPED_SHARE = "org-backup-air-gapped-vault"  # the AWS RAM share of the air-gapped vault, per central Region
STATE_KEY_ALIAS = "alias/org-backup/terraform-state"  # the state bucket's key (bootstrap-home)
# Every CodeBuild build of the pipeline: CodeBuild stops a build at its timeout, so a state lock older than this was
# left by a build that is gone (org_backup/ops/state_locks.py).
BUILD_TIMEOUT_MINUTES = 120
ENROLMENT_RULE = "org-backup-account-enrolment"
ENROLMENT_FORWARDER_ROLE = "org-backup-enrolment-forwarder"
ORGANIZATIONS_EVENTS_REGION = "us-east-1"  # AWS Organizations delivers its CloudTrail events in us-east-1 only
ENROLMENT_EVENTS = ("CreateAccountResult", "MoveAccount", "AcceptHandshake")


def enrolment_event_pattern(management_account_id: str) -> dict[str, object]:
    """Organizations events that can add an account to a target OU: created, moved, or invited and accepted."""
    return {
        "source": ["aws.organizations"],
        "account": [management_account_id],
        "detail": {"eventSource": ["organizations.amazonaws.com"], "eventName": list(ENROLMENT_EVENTS)},
    }


MEMBER_STACK_PREFIX = "member-"
DEPLOY_SESSION_NAME = "org-backup-cdktf"
# The audit frameworks (plans/audit.py). AWS Backup: a letter, then letters, digits and underscores.
FRAMEWORK_NAME = "org_backup"
# The synthesized backup-policies stack lists the plans file's retired_plans under this Terraform local (unused by
# Terraform itself): what the reviewed change says may go (ops/plan_guard.py reads it).
RETIRED_PLANS_LOCAL = "org_backup_retired_plans"

# The tag re-application function: the same names in every member account and Region.
TAG_REAPPLY_FUNCTION = "org-backup-tag-reapply"
TAG_REAPPLY_RULE = "org-backup-restore-completed"
TAG_REAPPLY_DLQ = "org-backup-tag-reapply-dlq"
TAG_REAPPLY_LOG_GROUP = f"/aws/lambda/{TAG_REAPPLY_FUNCTION}"

# Job-failure alerts. Every member account (and the central account) forwards failed job events from its default bus
# in each Region to one bus in the monitoring account and Region, where one rule per job kind publishes to a topic.
ALERT_FORWARD_RULE = "org-backup-job-failures"
ALERT_FORWARDER_ROLE = "org-backup-alert-forwarder"
ALERT_FORWARD_DLQ = "org-backup-alert-forward-dlq"
ALERT_BUS = "org-backup-alerts"
ALERT_TOPIC = "org-backup-job-failures"
ALERT_DLQ = "org-backup-alerts-dlq"
ALERT_KEY_ALIAS = "alias/org-backup/alerts"
ALERT_RULE_PREFIX = "org-backup-failed-"  # + backup / copy / restore
# Alarms on the alert path itself (an alert that cannot be delivered must not be silent). In each account and Region
# that forwards: the forwarding rule's failed invocations and its dead-letter queue's depth; their state changes go
# to the alert bus by a second forwarding rule, where one more alert rule publishes them. In the monitoring account:
# the alert rules' failed invocations and the alert DLQ's depth, which publish to the topic directly (CloudWatch, not
# the rules whose failure they report).
ALERT_ALARM_PREFIX = "org-backup-alert-"
ALERT_FORWARDING_ALARM_PREFIX = f"{ALERT_ALARM_PREFIX}forwarding-"  # + failed-invocations / dead-letters
ALERT_HUB_ALARM_PREFIX = f"{ALERT_ALARM_PREFIX}hub-"  # + failed-<rule> / dead-letters
ALERT_ALARM_FORWARD_RULE = "org-backup-alert-alarms"
ALERT_ALARM_RULE = f"{ALERT_RULE_PREFIX}alert-forwarding"
# The event functions' dead-letter queues (tag re-application, restore validation): an alarm on each queue's depth,
# forwarded like the alert path's alarms and published by its own alert rule with its own message.
ALERT_FUNCTION_ALARM_PREFIX = f"{ALERT_ALARM_PREFIX}function-"  # + <function>-dead-letters
ALERT_FUNCTION_RULE = f"{ALERT_RULE_PREFIX}function"

# Restore testing in the central account: one plan per testing Region, and the function that validates each test.
RESTORE_TEST_PLAN = "org_backup_restore_tests"  # AWS Backup: letters, digits and underscores only
RESTORE_VALIDATION_FUNCTION = "org-backup-restore-validation"
RESTORE_VALIDATION_ROLE = "org-backup-restore-validation"
RESTORE_VALIDATION_RULE = "org-backup-restore-test-completed"
RESTORE_VALIDATION_DLQ = "org-backup-restore-validation-dlq"
RESTORE_VALIDATION_KEY_ALIAS = "alias/org-backup/restore-validation"
# AWS Backup, "Using roles for restore testing": the role AWS Backup creates "when you conduct restore testing".
RESTORE_TESTING_SERVICE_ROLE_PATH = (
    "aws-service-role/restore-testing.backup.amazonaws.com/AWSServiceRoleForBackupRestoreTesting"
)

# AWS Backup Audit Manager reports, in the delegated administrator account. The service-linked role delivers them.
REPORTS_KEY_ALIAS = "alias/org-backup/reports"
REPORTS_SERVICE_ROLE_PATH = "aws-service-role/reports.backup.amazonaws.com/AWSServiceRoleForBackupReports"
REPORT_PLAN_PREFIX = "org_backup_"  # + the template in lower case; AWS: letters, digits and underscores


def key_aliases(config: BackupConfig) -> tuple[str, ...]:
    """Every KMS alias org-backup creates: the deploy role may manage exactly these, the tampering SCP protects them."""
    names = config.names
    return tuple(
        sorted(
            {
                names.member_key_alias,
                names.central_key_alias,
                names.operations_key_alias,
                ALERT_KEY_ALIAS,
                RESTORE_VALIDATION_KEY_ALIAS,
                REPORTS_KEY_ALIAS,
            }
        )
    )


def reports_bucket(account_id: str, region: str) -> str:
    return f"org-backup-reports-{account_id}-{region}"


def member_stack(account_id: str) -> str:
    return f"{MEMBER_STACK_PREFIX}{account_id}"


# The pipeline deploys in three phases, each finished before the next starts:
# 1. management: the guardrail SCPs and cross-account backup, in place before the vaults they protect;
# 2. central-backup and member-*: vaults, keys and the backup role in every account;
# 3. backup-policies: AWS creates each account's backup plan when a policy is attached, and the plan's IAM role and
#    target vault must exist by then (AWS Backup: backup policies, "Prerequisites").
DEPLOY_PHASES = (1, 2, 3)


def deploy_phase(stack: str) -> int:
    if stack == MANAGEMENT_STACK:
        return 1
    if stack == CENTRAL_STACK or stack.startswith(MEMBER_STACK_PREFIX):
        return 2
    if stack == BACKUP_POLICIES_STACK:
        return 3
    raise ValueError(f"{stack} is not a stack the pipeline deploys")


class Naming:
    """Names and ARNs derived from one validated config."""

    def __init__(self, config: BackupConfig) -> None:
        self._config = config
        self.partition = config.partition

    def role_arn(self, account_id: str, role_name: str) -> str:
        return f"arn:{self.partition}:iam::{account_id}:role/{role_name}"

    def any_account_role_arn(self, role_name: str) -> str:
        """A role of this name in any account: for SCPs, which apply across the accounts of their OUs."""
        return f"arn:{self.partition}:iam::*:role/{role_name}"

    def account_root_arn(self, account_id: str) -> str:
        return f"arn:{self.partition}:iam::{account_id}:root"

    def protected_principals(self, account_id: str) -> list[str]:
        """Roles that may delete recovery points or change vault policies: the deploy role, which the anti-tampering
        SCP keeps anyone in the account from creating, re-trusting or re-permissioning."""
        return [self.role_arn(account_id, self._config.names.deploy_role)]

    def vault_arn(self, account_id: str, region: str, vault_name: str) -> str:
        return f"arn:{self.partition}:backup:{region}:{account_id}:backup-vault:{vault_name}"

    def central_vault_arn(self, region: str) -> str:
        """The central vault in ``region``: the copy target of member backups made in that same Region."""
        return self.vault_arn(self._config.central_backup.account_id, region, self._config.names.central_vault)

    def air_gapped_vault_arn(self, region: str) -> str:
        """The central account's logically air-gapped vault in ``region`` (``copy_to_air_gapped``)."""
        return self.vault_arn(self._config.central_backup.account_id, region, self._config.names.air_gapped_vault)

    def copy_target_arns(self, region: str) -> list[str]:
        """Every vault of the central account that member backups made in ``region`` may be copied to."""
        targets = [self.central_vault_arn(region)]
        if self._config.central_backup.air_gapped is not None:
            targets.append(self.air_gapped_vault_arn(region))
        return targets

    def alert_bus_arn(self) -> str:
        """The bus every account's failed job events are forwarded to (monitoring account and Region)."""
        config = self._config
        return self.regional_arn(
            "events", config.monitoring_region, config.monitoring_account_id, f"event-bus/{ALERT_BUS}"
        )

    def builder_role_arn(self, kind: str) -> str:
        return self.role_arn(self._config.pipeline.home_account_id, BUILDER_ROLES[kind])

    def boundary_arn(self, account_id: str, kind: str) -> str:
        """A workload permissions boundary of ``account_id`` (a customer managed policy, by name; "*" any account)."""
        return f"arn:{self.partition}:iam::{account_id}:policy{POLICY_PATH}{BOUNDARIES[kind]}"

    def managed_policy_arn(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def state_bucket(self) -> str:
        """The state bucket: the configured S3 backend's, or the name bootstrap uses before one is configured."""
        backend = self._config.state_backend
        if isinstance(backend, S3Backend):
            return backend.bucket
        return f"org-backup-tfstate-{self._config.pipeline.home_account_id}-{self._config.pipeline_region}"

    def state_key_alias_arn(self, region: str) -> str:
        """The state bucket's key, by alias (bootstrap-home creates both in the home account)."""
        return self.regional_arn("kms", region, self._config.pipeline.home_account_id, STATE_KEY_ALIAS)

    def regional_arn(self, service: str, region: str, account_id: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{region}:{account_id}:{resource}"

    def service_host(self, service: str, region: str) -> str:
        """A service principal's regional host, e.g. logs.eu-west-1.amazonaws.com."""
        return f"{service}.{region}.{dns_suffix(self.partition)}"

    def backup_service_host(self, region: str) -> str:
        """The AWS Backup endpoint host of a Region, as kms:ViaService expects it."""
        return f"backup.{region}.{dns_suffix(self.partition)}"


def iam_region(regions: tuple[str, ...]) -> str:
    """IAM is global: global resources are created once, through the provider of the first listed Region."""
    return regions[0]


def central_stack_owns_backup_role(config: BackupConfig) -> bool:
    """The central account may also be a member; then its member stack owns the (same-named) backup role."""
    return config.central_backup.account_id not in config.member_accounts
