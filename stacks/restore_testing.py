"""Restore tests in the central account: per testing Region a restore testing plan that restores the latest recovery
point of the central vault within the configured window, its selections, and the validation function that checks
each restored resource and reports the result (lambda_src/restore_validation).

AWS Backup runs the test with the backup role of the central account (its managed restore policies), and deletes
the restored resource once the selection's validation window ends (AWS Backup Developer Guide, "Restore testing").
Selections name protected resources by ARN, never by tag: AWS matches tag conditions against the latest recovery
point in the vault, and the tags of a cross-account copy are not documented (config_monitoring.RestoreTestSelection).
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.backup_restore_testing_plan import (
    BackupRestoreTestingPlan,
    BackupRestoreTestingPlanRecoveryPointSelection,
)
from cdktf_cdktf_provider_aws.backup_restore_testing_selection import BackupRestoreTestingSelection
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import (
    RESTORE_TEST_PLAN,
    RESTORE_VALIDATION_DLQ,
    RESTORE_VALIDATION_FUNCTION,
    RESTORE_VALIDATION_KEY_ALIAS,
    RESTORE_VALIDATION_ROLE,
    RESTORE_VALIDATION_RULE,
    Naming,
)
from org_backup.config.templates import render_template
from org_backup.synth.lambda_package import LambdaPackage
from stacks.event_function import EventFunction, FunctionRole, FunctionSpec


def validation_pattern(plan_arn_prefix: str) -> dict[str, object]:
    """Completed restore jobs of this Region's org-backup plan (the ARN ends in an id AWS assigns, hence a prefix)."""
    return {
        "source": ["aws.backup"],
        "detail-type": ["Restore Job State Change"],
        "detail": {"status": ["COMPLETED"], "restoreTestingPlanArn": [{"prefix": plan_arn_prefix}]},
    }


class RestoreValidationRole(FunctionRole):
    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, account_id: str, partition: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            provider=provider,
            name=RESTORE_VALIDATION_ROLE,
            description="Checks resources restored by org-backup's restore tests and reports the result",
            account_id=account_id,
            partition=partition,
        )


class RestoreTests(Construct):
    """The plan, its selections and the validation function, in one central Region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        region: str,
        role: FunctionRole,
        code_path: str,
        package: LambdaPackage,
    ) -> None:
        super().__init__(scope, construct_id)
        naming = Naming(config)
        account_id = config.restore_testing_account_id
        testing = config.restore_testing
        plan = BackupRestoreTestingPlan(
            self,
            "plan",
            provider=provider,
            name=RESTORE_TEST_PLAN,
            schedule_expression=testing.schedule,
            schedule_expression_timezone=testing.schedule_timezone,
            start_window_hours=testing.start_window_hours,
            recovery_point_selection=[
                BackupRestoreTestingPlanRecoveryPointSelection(
                    algorithm="LATEST_WITHIN_WINDOW",
                    include_vaults=[naming.central_vault_arn(region)],
                    recovery_point_types=["SNAPSHOT"],
                    selection_window_days=testing.recovery_point_days,
                )
            ],
        )
        plan_name = plan.name
        backup_role_arn = naming.role_arn(account_id, config.names.backup_role)
        for selection in testing.selections:
            BackupRestoreTestingSelection(
                self,
                f"selection-{selection.name}",
                provider=provider,
                name=selection.name,
                restore_testing_plan_name=plan_name,
                protected_resource_type=selection.resource_type,
                iam_role_arn=backup_role_arn,
                protected_resource_arns=list(selection.protected_resource_arns),
                validation_window_hours=selection.validation_window_hours,
                restore_metadata_overrides=dict(selection.restore_metadata_overrides) or None,
            )
        plan_prefix = naming.regional_arn("backup", region, account_id, f"restore-testing-plan:{RESTORE_TEST_PLAN}-")
        spec = FunctionSpec(
            function_name=RESTORE_VALIDATION_FUNCTION,
            rule_name=RESTORE_VALIDATION_RULE,
            dlq_name=RESTORE_VALIDATION_DLQ,
            key_alias=RESTORE_VALIDATION_KEY_ALIAS,
            description="Validates resources restored by org-backup's restore tests and reports the result",
            key_description="Encrypts the org-backup restore validation logs and dead-letter queue",
            rule_description="Restore jobs of org-backup's restore tests that completed (validation)",
            event_pattern=validation_pattern(plan_prefix),
            permission_statement_id="AllowRestoreTestCompletedRule",
            log_retention_days=config.tag_reapply.log_retention_days,
            environment={},
            # Status checks of a restored instance take minutes: the function asks again until shortly before this.
            timeout=600,
            memory_size=256,
        )

        def permissions(log_group_arn: str, dlq_arn: str) -> dict[str, object]:
            return render_template(
                "iam/restore-validation-regional.json",
                partition=naming.partition,
                region=region,
                account_id=account_id,
                log_group_arn=log_group_arn,
                dlq_arn=dlq_arn,
                key_alias=RESTORE_VALIDATION_KEY_ALIAS,
            )

        EventFunction(
            self,
            "validation",
            provider=provider,
            config=config,
            account_id=account_id,
            region=region,
            role=role,
            code_path=code_path,
            package=package,
            spec=spec,
            permissions=permissions,
        )
