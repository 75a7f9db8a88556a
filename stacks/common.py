"""What every stack shares: synth options, providers per Region, the state backend."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cdktf import LocalBackend, S3Backend, TerraformResource, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderAssumeRole, AwsProviderDefaultTags
from constructs import Construct

from org_backup.config.model import BackupConfig
from org_backup.config.model import S3Backend as S3BackendConfig
from org_backup.config.naming import DEPLOY_SESSION_NAME, Naming


@dataclass(frozen=True)
class SynthOptions:
    """Synth switches.

    ``role`` picks the role providers assume: "deploy" (default) or "plan" (read-only, for the pipeline's Plan
    stage and pull requests). ``local_api`` is test-only: providers get the settings a local AWS API (moto server)
    needs, and ``prevent_destroy`` is lifted so the rehearsal can destroy what it applied. It never appears in
    real output. Credentials are not among those settings: the rehearsal runs every stack with the credentials of
    the principal that runs it for real (an account's administrator, or the pipeline's builder role).

    The local API's address is not synthesized: Terraform is run with ``AWS_ENDPOINT_URL`` set, which the AWS SDK
    the provider uses reads for every service (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
    A provider ``endpoints`` block would do the same at ~2.3 s of CPU per provider process (measured with
    hashicorp/aws 5.100.0: a one-resource validate takes 3.0 s of provider CPU with the block, 0.5 s without), and
    Terraform starts one provider process per Region per graph walk: that was most of the end-to-end run.
    Without the variable, a test-mode stack would reach real AWS: it has no prevent_destroy, so only test
    credentials may ever be given to it.
    """

    local_api: bool = False
    role: Literal["deploy", "plan"] = "deploy"

    @property
    def prevent_destroy(self) -> bool:
        return not self.local_api


def aws_providers(
    scope: Construct,
    *,
    config: BackupConfig,
    account_id: str,
    regions: tuple[str, ...],
    options: SynthOptions,
    assume_role: bool = True,
) -> dict[str, AwsProvider]:
    """One aliased provider per Region (alias = Region), each assuming the deploy (or plan) role in ``account_id``.

    ``assume_role=False`` is for the bootstrap stacks, applied with the account's own administrator credentials
    before any deploy role exists.
    """
    naming = Naming(config)
    role_name = config.names.plan_role if options.role == "plan" else config.names.deploy_role
    default_tags = [AwsProviderDefaultTags(tags=dict(config.tags))] if config.tags else None
    providers = {}
    # Against the local test server only (options.local_api): credentials from the environment, never from IMDS;
    # buckets by path, as moto serves them; max_retries not 1: moto's dev server sometimes drops a connection under
    # load (twice in a row was seen: a ListAliases during the re-plan), and not many more: each would stall on a 5xx.
    local = options.local_api
    for region in regions:
        providers[region] = AwsProvider(
            scope,
            f"aws-{region}",
            alias=region,
            region=region,
            allowed_account_ids=[account_id],
            assume_role=[
                AwsProviderAssumeRole(role_arn=naming.role_arn(account_id, role_name), session_name=DEPLOY_SESSION_NAME)
            ]
            if assume_role
            else None,
            default_tags=default_tags,
            skip_metadata_api_check="true" if local else None,
            s3_use_path_style=True if local else None,
            max_retries=3 if local else None,
        )
    return providers


def configure_backend(stack: TerraformStack, *, config: BackupConfig, stack_name: str) -> None:
    """S3 state with one key per stack and S3-native locking, or local state inside the stack's own directory."""
    backend = config.state_backend
    if isinstance(backend, S3BackendConfig):
        S3Backend(
            stack,
            bucket=backend.bucket,
            key=f"{backend.key_prefix}/{stack_name}.tfstate",
            region=backend.region,
            encrypt=True,
            # Without it the backend asks S3 for SSE-S3 on every write, overriding the bucket's KMS default.
            kms_key_id=Naming(config).state_key_alias_arn(backend.region),
        )
        # cdktf 0.21's S3Backend has no use_lockfile (Terraform >= 1.10 S3-native locking, no DynamoDB table).
        stack.add_override("terraform.backend.s3.use_lockfile", True)
    else:
        # A relative path resolves inside cdktf.out/stacks/<stack>/, where terraform runs; cdktf's default is an
        # absolute path of the machine that synthesized.
        LocalBackend(stack, path="terraform.tfstate")


def release_regions(stack: TerraformStack, regions: Iterable[str]) -> list[str]:
    """Turn every resource the stack built with the provider of one of ``regions`` into a Terraform ``removed``
    block with ``destroy = false`` (config ``retired_regions``): Terraform forgets them, AWS keeps them, and the
    addresses are exactly the ones CDKTF gave them while the Region was targeted, because the same constructs built
    them. The providers stay, for Terraform to read what the state still holds. Returns the released addresses.
    https://developer.hashicorp.com/terraform/language/resources/syntax#removing-resources (Terraform >= 1.7)"""
    aliases = set(regions)
    released = []
    for construct in stack.node.find_all():
        if not isinstance(construct, TerraformResource) or construct.provider is None:
            continue
        if construct.provider.alias in aliases:
            released.append(f"{construct.terraform_resource_type}.{construct.friendly_unique_id}")
            parent = construct.node.scope
            if parent is not None:  # a resource always has a scope; jsii types it optional
                parent.node.try_remove_child(construct.node.id)
    if released:
        stack.add_override("removed", [{"from": a, "lifecycle": {"destroy": False}} for a in sorted(released)])
    return sorted(released)
