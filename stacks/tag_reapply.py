"""The tag re-application function of a member account: its role (global, once per account) and, per Region, the
function with everything ``EventFunction`` gives it, invoked by a rule on completed restore jobs."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.naming import TAG_REAPPLY_DLQ, TAG_REAPPLY_FUNCTION, TAG_REAPPLY_RULE, Naming
from org_backup.config.templates import render_template
from org_backup.synth.lambda_package import LambdaPackage
from stacks.event_function import EventFunction, FunctionRole, FunctionSpec

EVENT_PATTERN = {
    "source": ["aws.backup"],
    "detail-type": ["Restore Job State Change"],
    "detail": {"status": ["COMPLETED"]},  # restore jobs report "status", not "state"
}


class TagReapplyRole(FunctionRole):
    def __init__(
        self, scope: Construct, construct_id: str, *, provider: AwsProvider, config: BackupConfig, account_id: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            provider=provider,
            name=config.names.tag_reapply_role,
            description="Re-applies original tags to resources restored by AWS Backup (org-backup)",
            account_id=account_id,
            partition=Naming(config).partition,
        )


class TagReapplyFunction(EventFunction):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: AwsProvider,
        config: BackupConfig,
        account_id: str,
        region: str,
        role: FunctionRole,
        code_path: str,
        package: LambdaPackage,
    ) -> None:
        settings = config.tag_reapply
        spec = FunctionSpec(
            function_name=TAG_REAPPLY_FUNCTION,
            rule_name=TAG_REAPPLY_RULE,
            dlq_name=TAG_REAPPLY_DLQ,
            key_alias=config.names.operations_key_alias,
            description="Re-applies original tags to resources restored by AWS Backup (org-backup)",
            key_description="Encrypts the org-backup tag re-application logs, environment and dead-letter queue",
            rule_description="AWS Backup restore jobs that completed (org-backup tag re-application)",
            event_pattern=EVENT_PATTERN,
            permission_statement_id="AllowRestoreCompletedRule",
            log_retention_days=settings.log_retention_days,
            environment={"EXCLUDED_TAG_KEYS": ",".join(settings.excluded_tag_keys)},
            timeout=120,
            memory_size=256,
            reserved_concurrency=settings.reserved_concurrency,
        )

        def permissions(log_group_arn: str, dlq_arn: str) -> dict[str, object]:
            return render_template(
                "iam/tag-reapply-regional.json",
                partition=Naming(config).partition,
                region=region,
                account_id=account_id,
                log_group_arn=log_group_arn,
                dlq_arn=dlq_arn,
                operations_key_alias=config.names.operations_key_alias,
            )

        super().__init__(
            scope,
            construct_id,
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
